namespace Sandbox.Integration.Tests;

/// <summary>Paths of the repository and of the build outputs the tests run.</summary>
public static class Repo
{
    /// <summary>The repository root: the nearest ancestor of the test assembly holding build.sh.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The runsc to test and any arguments that go before `do`: out/runsc (built by
    /// ./build.sh) unless SANDBOX_RUNSC names another, e.g. to check the tests themselves
    /// against Debian's gVisor: SANDBOX_RUNSC="/usr/bin/runsc --platform=ptrace --network=none".</summary>
    public static string[] RunscCommand
    {
        get
        {
            string? custom = Environment.GetEnvironmentVariable("SANDBOX_RUNSC");
            if (string.IsNullOrWhiteSpace(custom))
            {
                return [Require(Path.Combine(Root, "out", "runsc"))];
            }
            string[] words = custom.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            words[0] = Require(words[0]);
            return words;
        }
    }

    /// <summary>A compiled guest fixture, out/guest/NAME (from test/guest/NAME.c).</summary>
    public static string Guest(string name) => Require(Path.Combine(Root, "out", "guest", name));

    /// <summary>Statically linked busybox from Debian's busybox-static (installed by build.sh).</summary>
    public static string Busybox => Require("/bin/busybox");

    private static string Require(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} not found: run ./build.sh first", path);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "build.sh")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no build.sh above {AppContext.BaseDirectory}");
    }
}
