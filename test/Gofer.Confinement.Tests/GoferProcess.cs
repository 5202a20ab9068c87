using System.Diagnostics;
using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>What a finished runsc printed and how it ended.</summary>
public sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs `out/runsc gofer ...`, optionally serving on one end of a socketpair.</summary>
public static class GoferProcess
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs runsc with args to completion.</summary>
    public static RunResult Run(params string[] args) => RunWithEnvironment(null, args);

    /// <summary>Runs runsc with args and extra environment variables to completion.</summary>
    public static RunResult RunWithEnvironment(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        using Process p = Start(args, env);
        return Finish(p);
    }

    /// <summary>Starts runsc with args; the caller reads its output with <see cref="Finish"/>.</summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(Repo.Runsc)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in env ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start runsc");
        p.StandardInput.Close();
        return p;
    }

    public static RunResult Finish(Process p)
    {
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"runsc did not finish within {Timeout.TotalSeconds} s");
        }
        Task.WaitAll(stdout, stderr);
        return new RunResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A socketpair: our end close-on-exec, the gofer's end inheritable.</summary>
    public static unsafe (int Ours, int Gofers) SocketPair()
    {
        int* sv = stackalloc int[2];
        HostError.Check(Sockets.SocketPair(Sockets.AF_UNIX, Sockets.SOCK_STREAM, 0, sv), "socketpair");
        HostError.Check(Unistd.Fcntl(sv[0], Fcntl.F_SETFD, OpenFlags.FD_CLOEXEC), "fcntl");
        return (sv[0], sv[1]);
    }

    /// <summary>A fresh directory under /tmp, removed by the caller.</summary>
    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"gofer-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
