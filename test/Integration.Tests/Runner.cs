using System.Diagnostics;
using System.Text;

namespace Sandbox.Integration.Tests;

/// <summary>What a finished program printed and how it ended.</summary>
/// <param name="ExitCode">The exit status, or 128 + signal number if a signal killed it.</param>
public sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The end of runsc's debug log for sandboxed runs (faults, exits, warnings), so
    /// that a failure that does not recur still leaves its evidence in the test output.</summary>
    public string? DebugLog { get; init; }

    /// <summary>Exit code and (truncated) output, for assertion messages.</summary>
    public override string ToString() =>
        $"exit code {ExitCode}\n--- stdout ---\n{Truncate(Stdout)}\n--- stderr ---\n{Truncate(Stderr)}" +
        (DebugLog is null ? "" : $"\n--- runsc debug log (end) ---\n{DebugLog}");

    private static string Truncate(string s) => s.Length <= 4000 ? s : s[..4000] + "\n[... truncated]";
}

/// <summary>Runs programs natively or inside the sandbox (`out/runsc do`).</summary>
public static class Runner
{
    /// <summary>Any single run longer than this (or the timeout a test asks for) is killed
    /// and the test fails.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs PROGRAM ARGS directly on the host.</summary>
    public static RunResult Native(string program, IEnumerable<string>? args = null,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null) =>
        Run(program, args ?? [], env, timeout);

    /// <summary>Runs `out/runsc do [RUNSCFLAGS] PROGRAM ARGS` (see <see cref="Repo.RunscCommand"/>).</summary>
    public static RunResult Sandboxed(string program, IEnumerable<string>? args = null,
        IReadOnlyDictionary<string, string>? env = null, IEnumerable<string>? runscFlags = null, TimeSpan? timeout = null)
    {
        string[] runsc = Repo.RunscCommand;
        string[] flags = [.. runscFlags ?? []];
        // Keep a debug log unless the test looks at --strace/--debug-log output itself.
        string? log = flags.Any(f => f.StartsWith("--strace") || f.StartsWith("--debug-log"))
            || !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("SANDBOX_RUNSC"))
            ? null
            : Path.Combine(Path.GetTempPath(), $"runsc-test-{Guid.NewGuid():N}.log");
        if (log != null) flags = [.. flags, $"--debug-log={log}"];
        var result = Run(runsc[0], [.. runsc[1..], "do", .. flags, program, .. args ?? []], env, timeout);
        if (log == null) return result;
        try
        {
            if (!File.Exists(log)) return result;
            var lines = File.ReadAllLines(log);
            return result with { DebugLog = string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 40))) };
        }
        finally
        {
            File.Delete(log);
        }
    }

    /// <summary>Runs a process with an empty stdin, captures stdout and stderr, and enforces
    /// <paramref name="timeout"/> (default <see cref="Timeout"/>): on expiry the process tree
    /// is killed and an exception thrown.</summary>
    public static RunResult Run(string program, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? Timeout;
        var psi = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = Repo.Root,
        };
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        string commandLine = string.Join(' ', [program, .. psi.ArgumentList]);
        var clock = Stopwatch.StartNew();
        using var process = StartWatched(psi, out Leftovers.Run? run);
        try
        {
            var result = WaitForResult(process, commandLine, clock, limit);
            // Every run of runsc must leave nothing behind: no stub, gofer or runsc, alive or zombie.
            string? leak = run is null ? null : Leftovers.Check(run);
            run = null;
            Assert.True(leak is null, $"{leak}\nthe run: {result}");
            return result;
        }
        finally
        {
            if (run is not null) Leftovers.End(run);
        }
    }

    /// <summary>Starts a process; one that runs our runsc (directly or through sh or script)
    /// is watched (<paramref name="run"/>) so that <see cref="Leftovers.Check"/> can tell
    /// what it left behind.</summary>
    public static Process StartWatched(ProcessStartInfo psi, out Leftovers.Run? run)
    {
        string commandLine = string.Join(' ', [psi.FileName, .. psi.ArgumentList]);
        bool watch = Leftovers.RunsRunsc(commandLine);
        long start = watch ? Leftovers.Now() : 0;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {commandLine}");
        run = watch ? Leftovers.Begin(process.Id, start, commandLine) : null;
        return process;
    }

    private static RunResult WaitForResult(Process process, string commandLine, Stopwatch clock, TimeSpan limit)
    {
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();

        if (!process.WaitForExit(limit))
        {
            KillTree(process);
            throw new TimeoutException($"{commandLine} did not finish within {limit.TotalSeconds} s; killed.\n" +
                $"--- stdout ---\n{Partial(stdout)}\n--- stderr ---\n{Partial(stderr)}");
        }
        // The pipes close when every process holding them exits; a leftover child (e.g. a
        // sandbox helper that outlived runsc) would keep them open.
        TimeSpan left = limit - clock.Elapsed;
        if (!Task.WaitAll([stdout, stderr], left > TimeSpan.Zero ? left : TimeSpan.FromSeconds(1)))
        {
            throw new TimeoutException($"{commandLine} exited ({process.ExitCode}) but its stdout/stderr " +
                "stayed open: some child process still holds them.");
        }
        return new RunResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(5));
        }
        catch (InvalidOperationException)
        {
            // It exited in the meantime.
        }
    }

    private static string Partial(Task<string> output) =>
        output.Wait(TimeSpan.FromSeconds(2)) ? output.Result : "(still open)";
}
