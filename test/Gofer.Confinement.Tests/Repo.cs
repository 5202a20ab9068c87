namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>Paths of the repository and of the runsc the tests run.</summary>
public static class Repo
{
    /// <summary>The repository root: the nearest ancestor of the test assembly holding build.sh.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>out/runsc, built by ./build.sh.</summary>
    public static string Runsc
    {
        get
        {
            string path = Path.Combine(Root, "out", "runsc");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} not found: run ./build.sh first", path);
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "build.sh"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"no build.sh above {AppContext.BaseDirectory}");
    }
}
