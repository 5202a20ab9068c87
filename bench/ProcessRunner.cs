using System.Diagnostics;

namespace Sandbox.Bench;

/// <summary>The outcome of one child process run to completion (or killed at its deadline).</summary>
public sealed record RunResult(int ExitCode, string Stdout, string Stderr, TimeSpan Wall, bool TimedOut, string? StartError)
{
    public bool Ok => StartError is null && !TimedOut && ExitCode == 0;

    /// <summary>One line saying why the run failed, for the report.</summary>
    public string Describe()
    {
        if (StartError is not null)
        {
            return "cannot start: " + StartError;
        }
        if (TimedOut)
        {
            return $"timed out after {Wall.TotalSeconds:F0} s";
        }
        string detail = FirstLine(Stderr) ?? FirstLine(Stdout) ?? "no output";
        return $"exit code {ExitCode}: {detail}";
    }

    private static string? FirstLine(string text)
    {
        foreach (string line in text.Split('\n'))
        {
            string trimmed = line.Trim();
            if (trimmed.Length > 0)
            {
                return trimmed.Length > 160 ? trimmed[..160] + "…" : trimmed;
            }
        }
        return null;
    }
}

/// <summary>Starts child processes with captured stdout/stderr and a deadline.</summary>
public static class ProcessRunner
{
    public static RunResult Run(IReadOnlyList<string> argv, TimeSpan timeout, string workingDirectory)
    {
        var psi = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Give the child an empty stdin instead of the harness's terminal.
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        for (int i = 1; i < argv.Count; i++)
        {
            psi.ArgumentList.Add(argv[i]);
        }

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new RunResult(-1, "", "", stopwatch.Elapsed, false, e.Message);
        }
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();

        bool exited = process.WaitForExit(timeout);
        if (!exited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited between the timeout and the kill.
            }
            process.WaitForExit();
        }
        else
        {
            // Drain the pipes (WaitForExit(TimeSpan) does not wait for EOF on them).
            process.WaitForExit();
        }
        TimeSpan wall = stopwatch.Elapsed;

        // A killed sandbox may leave grandchildren holding the pipes open; don't wait forever.
        string output = stdout.Wait(TimeSpan.FromSeconds(5)) ? stdout.Result : "";
        string errors = stderr.Wait(TimeSpan.FromSeconds(5)) ? stderr.Result : "";
        return new RunResult(exited ? process.ExitCode : -1, output, errors, wall, !exited, null);
    }

    /// <summary>The full path of an executable found on PATH, or null.</summary>
    public static string? FindOnPath(string name, string? excludeDirectory = null)
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (string dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (excludeDirectory is not null &&
                Path.GetFullPath(dir).TrimEnd('/') == Path.GetFullPath(excludeDirectory).TrimEnd('/'))
            {
                continue;
            }
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
