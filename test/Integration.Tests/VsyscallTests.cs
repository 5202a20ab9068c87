namespace Sandbox.Integration.Tests;

/// <summary>Design decision 1 for guest calls that do not use the `syscall` instruction: calls
/// into the vsyscall page are served by the Sentry (the host kernel would otherwise emulate them
/// itself, unseen), and int 0x80 (the i386 ABI, not offered) fails with ENOSYS instead of
/// running as the x86-64 call of the same number (i386 getpid = 20 = x86-64 writev).</summary>
public class VsyscallTests
{
    private const string Int80 = "int 0x80 getpid: ";

    private static bool HostHasVsyscallPage =>
        File.ReadLines("/proc/self/maps").Any(l => l.EndsWith("[vsyscall]", StringComparison.Ordinal));

    /// <summary>The fixture's lines that must be the same natively and sandboxed.</summary>
    private static List<string> Common(string stdout) => [.. Expect.Lines(stdout).Where(l => !l.StartsWith(Int80))];

    [Fact]
    public void VsyscallCalls_AreServedByTheSentry_AndInt80IsEnosys()
    {
        var native = Runner.Native(Repo.Guest("vsyscall"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("vsyscall"), runscFlags: ["--strace"]);

        Expect.ExitCode(native, 0, "native");
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        // The vsyscall calls return what Linux's do (time agrees with CLOCK_REALTIME, getcpu
        // with the getcpu syscall), and the page is listed in /proc/self/maps as natively.
        Expect.SameLines(Common(native.Stdout), Common(sandboxed.Stdout), native, sandboxed);
        Assert.Contains("vsyscall ok", sandboxed.Stdout);

        // Natively int 0x80 runs i386 getpid (or faults without IA32 emulation); sandboxed it
        // is refused, and never reaches the x86-64 table as writev.
        Assert.Matches($"(?m)^{Int80}(the pid|a fault \\(no i386 emulation\\))$", native.Stdout);
        Assert.Contains($"{Int80}ENOSYS\n", sandboxed.Stdout);
        var strace = Expect.Lines(sandboxed.Stderr);
        Assert.Contains(strace, l => l.Contains("] int 0x80 (i386 ABI)(0x14, ") && l.Contains(" = -1 ENOSYS"));
        Assert.DoesNotContain(strace, l => l.Contains("] writev("));

        if (HostHasVsyscallPage)
        {
            Assert.Contains("vsyscall page: present\n", sandboxed.Stdout);
            // The fixture makes no gettimeofday or time call of its own (it reads the clock with
            // clock_gettime): these lines are the vsyscall calls, answered by the Sentry.
            Assert.Contains(strace, l => l.Contains("] gettimeofday(0x") && l.Contains(" = 0"));
            Assert.Contains(strace, l => l.Contains("] gettimeofday(0x0, 0x0) = 0"));
            Assert.Contains(strace, l => l.Contains("] time(0x0) = "));
            Assert.True(strace.Count(l => l.Contains("] getcpu(")) >= 2, "the vsyscall getcpu did not reach the Sentry");
        }
        else
        {
            Assert.Contains("vsyscall page: skipped", sandboxed.Stdout);
        }
    }

    [Fact]
    public void Int80_IsLoggedOnceAsUnimplemented()
    {
        string log = Path.Combine(Path.GetTempPath(), $"runsc-vsyscall-{Guid.NewGuid():N}.log");
        try
        {
            // The fixture makes two int 0x80 calls.
            var sandboxed = Runner.Sandboxed(Repo.Guest("vsyscall"), runscFlags: [$"--debug-log={log}"]);
            Expect.ExitCode(sandboxed, 0, "sandboxed");
            var logged = File.ReadLines(log).Where(l => l.Contains("int 0x80 (i386 ABI)")).ToList();
            string line = Assert.Single(logged);
            Assert.Contains("unimplemented syscall int 0x80 (i386 ABI) (eax 20) returns ENOSYS", line);
        }
        finally
        {
            File.Delete(log);
        }
    }
}
