namespace Sandbox.Integration.Tests;

/// <summary>The vDSO: its clocks agree with the kernel's, and calls through it do not trap.</summary>
public class VdsoTests
{
    [Fact]
    public void Vdso_ClocksAgreeWithTheSyscalls_LikeNative()
    {
        var native = Runner.Native(Repo.Guest("vdso"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("vdso"));

        Expect.ExitCode(native, 0, "native");
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Expect.SameStdout(native, sandboxed);
    }

    [Fact]
    public void Vdso_ClockGettime_DoesNotTrap()
    {
        // The fixture calls clock_gettime(CLOCK_MONOTONIC) over a thousand times; with the
        // vDSO, --strace sees only the explicit syscall() it makes for comparison.
        var sandboxed = Runner.Sandboxed(Repo.Guest("vdso"), runscFlags: ["--strace"]);

        Expect.ExitCode(sandboxed, 0, "sandboxed");
        int traced = Expect.Lines(sandboxed.Stderr).Count(l => l.Contains("] clock_gettime(1,"));
        Assert.True(traced <= 2, $"{traced} clock_gettime(CLOCK_MONOTONIC) calls reached the Sentry");
    }
}
