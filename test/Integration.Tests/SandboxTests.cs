using System.Diagnostics;

namespace Sandbox.Integration.Tests;

/// <summary>Behaviour of the sandbox as a whole: stdio donation, terminals, the debug log,
/// and that no host process outlives a sandbox.</summary>
public class SandboxTests
{
    [Fact]
    public void Terminal_IoctlsAreAnsweredByTheRealTerminal()
    {
        // `script` gives the commands a pseudo-terminal with a known size.
        string runsc = string.Join(' ', Repo.RunscCommand);
        string inner = $"stty cols 100 rows 40; {runsc} do {Repo.Busybox} stty size; {runsc} do {Repo.Busybox} stty -g; " +
                       $"echo native; {Repo.Busybox} stty -g";
        var result = Runner.Run("script", ["-qec", inner, "/dev/null"]);

        Expect.ExitCode(result, 0, "script");
        var lines = Expect.Lines(result.Stdout).Select(l => l.TrimEnd('\r')).ToList();
        Assert.True(lines.Count >= 4, result.ToString());
        Assert.Equal("40 100", lines[0]);
        int native = lines.IndexOf("native");
        Assert.True(native == 2, result.ToString());
        Assert.Equal(lines[3], lines[1]); // the termios the guest read is the terminal's own
    }

    [Fact]
    public void Stdout_RegularFile_IsWrittenAtTheSharedOffset()
    {
        // The parent writes first; the sandbox's output must follow it, not overwrite it.
        string file = Path.Combine(Path.GetTempPath(), $"runsc-offset-{Guid.NewGuid():N}");
        try
        {
            string runsc = string.Join(' ', Repo.RunscCommand);
            var result = Runner.Run("/bin/sh", ["-c", $"{{ echo first; {runsc} do {Repo.Guest("hello")}; echo last; }} > {file}"]);
            Expect.ExitCode(result, 0, "sh");
            Assert.Equal("first\nhello, world\nlast\n", File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A read of runsc's stdin (a pipe nobody writes to) waits in the host; it must
    /// still end when another thread ends the process, and when a signal arrives, as on
    /// Linux. Run natively and sandboxed: the same output.</summary>
    [Fact]
    public void Stdin_BlockedHostRead_IsInterruptedBySignalsAndByExit()
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), $"{python} is missing: build.sh must `apt-get install -y python3`");
        const string exitWhileReading =
            "import threading,sys,os,time; threading.Thread(target=sys.stdin.read, daemon=True).start(); " +
            "time.sleep(0.2); print('exiting', flush=True); os._exit(4)";
        const string signalWhileReading =
            "import signal,sys; signal.signal(signal.SIGALRM, lambda *a: sys.exit(5)); " +
            "signal.setitimer(signal.ITIMER_REAL, 0.2); sys.stdin.read(); print('read returned')";
        // The writer stays silent for longer than the test may take; bash does not wait for it.
        string Script(string run) =>
            "exec 3< <(sleep 60 2>/dev/null); writer=$!; " +
            $"{run} {python} -c \"{exitWhileReading}\" <&3; echo rc=$?; " +
            $"{run} {python} -c \"{signalWhileReading}\" <&3; echo rc=$?; kill $writer";

        var native = Runner.Run("/bin/bash", ["-c", Script("")], timeout: TimeSpan.FromSeconds(30));
        var sandboxed = Runner.Run("/bin/bash", ["-c", Script(string.Join(' ', Repo.RunscCommand) + " do")],
            timeout: TimeSpan.FromSeconds(30));

        Assert.Equal("exiting\nrc=4\nrc=5\n", native.Stdout);
        Expect.ExitCode(sandboxed, 0, "bash");
        Assert.Equal(native.Stdout, sandboxed.Stdout);
    }

    [Fact]
    public void StdioSeek_PipeStdout_MatchesNative()
    {
        // stdout is the pipe Runner reads: pread/pwrite say ESPIPE, F_GETFL shows O_WRONLY only.
        var native = Runner.Native(Repo.Guest("stdio_seek"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("stdio_seek"));

        Expect.ExitCode(native, 0, "native");
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Contains("F_GETFL(1) = 01", Expect.Lines(native.Stderr));
        Expect.SameLines(Expect.Lines(native.Stderr), Expect.Lines(sandboxed.Stderr), native, sandboxed);
        Assert.Equal("data\n", sandboxed.Stdout);
    }

    [Fact]
    public void StdioSeek_RegularFileStdout_MatchesNative()
    {
        // stdout is a file the shell opened: it has positions, and O_LARGEFILE in F_GETFL.
        string file = Path.Combine(Path.GetTempPath(), $"runsc-seek-{Guid.NewGuid():N}");
        try
        {
            string runsc = string.Join(' ', Repo.RunscCommand);
            var native = Runner.Run("/bin/sh", ["-c", $"{Repo.Guest("stdio_seek")} > {file}"]);
            string nativeFile = File.ReadAllText(file);
            var sandboxed = Runner.Run("/bin/sh", ["-c", $"{runsc} do {Repo.Guest("stdio_seek")} > {file}"]);

            Expect.ExitCode(native, 0, "native");
            Expect.ExitCode(sandboxed, 0, "sandboxed");
            Expect.SameLines(Expect.Lines(native.Stderr), Expect.Lines(sandboxed.Stderr), native, sandboxed);
            Assert.Equal(nativeFile, File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void StdioSeek_TerminalStdout_MatchesNative()
    {
        // `script` makes stdout (and stderr) a pseudo-terminal: no positions, O_RDWR.
        string runsc = string.Join(' ', Repo.RunscCommand);
        string fixture = Repo.Guest("stdio_seek");
        var result = Runner.Run("script", ["-qec", $"{fixture}; echo ===; {runsc} do {fixture}", "/dev/null"]);

        Expect.ExitCode(result, 0, "script");
        var lines = Expect.Lines(result.Stdout.Replace("\r", "", StringComparison.Ordinal));
        int split = lines.IndexOf("===");
        Assert.True(split > 0, result.ToString());
        Assert.Contains("pwrite64(1, \"\", 0, 0) = -1 ESPIPE", lines[..split]);
        Assert.Equal(lines[..split], lines[(split + 1)..]);
    }

    [Fact]
    public void DebugLog_NamesEachUnimplementedSyscallOnce()
    {
        string log = Path.Combine(Path.GetTempPath(), $"runsc-debug-{Guid.NewGuid():N}.log");
        try
        {
            var result = Runner.Sandboxed(Repo.Guest("enosys"), runscFlags: [$"--debug-log={log}"]);
            Expect.ExitCode(result, 0, "sandboxed");
            var unimplemented = File.ReadAllLines(log).Where(l => l.Contains("unimplemented syscall")).ToList();
            Assert.Single(unimplemented, l => l.Contains("(1000)"));
            Assert.Single(unimplemented, l => l.Contains("(500)"));
            Assert.Equal(unimplemented.Count, unimplemented.Distinct().Count());
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public void Strace_NamesErrnos()
    {
        var result = Runner.Sandboxed(Repo.Guest("enosys"), runscFlags: ["--strace"]);
        Expect.ExitCode(result, 0, "sandboxed");
        Assert.Contains(Expect.Lines(result.Stderr), l => l.Contains("syscall_1000(") && l.Contains(") = -1 ENOSYS <"));
    }

    [Fact]
    public void KillingRunsc_KillsItsStubProcess()
    {
        string[] runsc = Repo.RunscCommand;
        var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string a in runsc[1..]) psi.ArgumentList.Add(a);
        foreach (string a in new[] { "do", Repo.Busybox, "sleep", "30" }) psi.ArgumentList.Add(a);
        using var process = Runner.StartWatched(psi, out var run);
        try
        {
            int stub = WaitFor(() => Stubs.Of(process.Id).FirstOrDefault(), TimeSpan.FromSeconds(20));
            Assert.True(stub > 0, "no stub process appeared under runsc");
            process.Kill();
            process.WaitForExit();
            Assert.True(WaitFor(() => Stubs.IsDead(stub) ? 1 : 0, TimeSpan.FromSeconds(10)) == 1,
                $"stub {stub} outlived its runsc");
            // Killed, runsc could not reap its children: they are the test host's (their
            // subreaper's) to reap. Nothing may be left alive.
            string? leak = run is null ? null : Leftovers.Check(run, killed: true);
            run = null;
            Assert.True(leak is null, leak);
        }
        finally
        {
            if (run is not null) Leftovers.End(run);
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void NormalExit_LeavesNoStubBehind()
    {
        var result = Runner.Sandboxed(Repo.Guest("hello"));
        Expect.ExitCode(result, 0, "sandboxed");
        Assert.Empty(Stubs.Orphaned());
    }

    private static int WaitFor(Func<int> probe, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            int v = probe();
            if (v != 0) return v;
            Thread.Sleep(50);
        }
        return 0;
    }
}
