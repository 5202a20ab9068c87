using System.Diagnostics;

namespace Sandbox.Sentry.Tests;

/// <summary>Real executables for the loader tests: out/guest/hello and hello-pie (built by
/// ./build.sh) or, when those are missing, the same compiled here with gcc.</summary>
public static class Binaries
{
    private static readonly Lazy<string> HelloPath = new(() => Find("hello", "-static"));
    private static readonly Lazy<string> HelloPiePath = new(() => Find("hello-pie", "-static-pie -fPIE"));

    public static string Hello => HelloPath.Value;
    public static string HelloPie => HelloPiePath.Value;

    public static string RepoRoot { get; } = FindRoot();

    private static string Find(string name, string gccFlags)
    {
        string built = Path.Combine(RepoRoot, "out", "guest", name);
        if (File.Exists(built)) return built;

        string dir = Path.Combine(Path.GetTempPath(), $"sentry-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        string src = Path.Combine(dir, "hello.c");
        File.WriteAllText(src, "#include <unistd.h>\nint main(void) { return write(1, \"hello\\n\", 6) == 6 ? 0 : 1; }\n");
        string bin = Path.Combine(dir, name);
        var psi = new ProcessStartInfo("gcc", $"{gccFlags} -O2 -o {bin} {src}") { RedirectStandardError = true };
        using var gcc = Process.Start(psi) ?? throw new InvalidOperationException("cannot start gcc");
        string err = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        if (gcc.ExitCode != 0) throw new InvalidOperationException($"{built} is missing (run ./build.sh) and gcc failed: {err}");
        return bin;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "build.sh"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no build.sh above {AppContext.BaseDirectory}");
    }
}
