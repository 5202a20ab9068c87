namespace Sandbox.Integration.Tests;

/// <summary>Timers and sleeps: alarm, setitimer/getitimer, POSIX timers, timerfd, and
/// interruptible nanosleep/clock_nanosleep, checked by test/guest/timers.c the same way
/// natively and in the sandbox (its timing checks have wide tolerances).</summary>
public class TimerTests
{
    [Fact]
    public void Timers_BehaveLikeNative()
    {
        var native = Runner.Native(Repo.Guest("timers"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("timers"));

        Expect.ExitCode(native, 0, "native timers");
        Expect.ExitCode(sandboxed, 0, "sandboxed timers");
        Expect.SameStdout(native, sandboxed);
        Assert.EndsWith("timers ok\n", sandboxed.Stdout);
    }
}
