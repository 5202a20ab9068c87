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
