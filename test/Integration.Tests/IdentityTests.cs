namespace Sandbox.Integration.Tests;

/// <summary>Credentials, capabilities, process groups and sessions, scheduling attributes,
/// membarrier, close_range, personality and resource limits: the identity and forkbomb
/// fixtures run as root natively and in the sandbox and must print the same.</summary>
public class IdentityTests
{
    [Theory]
    [InlineData("identity")] // set*id rules, groups, capget/capset, setsid/setpgid, nice, sched_*, RLIMIT_NOFILE
    [InlineData("forkbomb")] // RLIMIT_NPROC after a drop to uid 65534 stops a fork bomb with EAGAIN
    public void Fixture_BehavesAsOnLinux(string name)
    {
        var native = Runner.Native(Repo.Guest(name));
        var sandboxed = Runner.Sandboxed(Repo.Guest(name));

        Expect.ExitCode(native, 0, $"native {name} (the fixtures need root)");
        Expect.ExitCode(sandboxed, 0, $"sandboxed {name}");
        Expect.SameStdout(native, sandboxed);
        Assert.EndsWith($"{name} ok\n", sandboxed.Stdout);
    }

    [Fact]
    public void Identity_DropsPrivilegesForGood()
    {
        var sandboxed = Runner.Sandboxed(Repo.Guest("identity"));

        Expect.ExitCode(sandboxed, 0, "sandboxed identity");
        Assert.Contains("check setuid(0) after the drop fails with EPERM: ok\n", sandboxed.Stdout);
        Assert.Contains("check capget after the drop shows no caps: ok\n", sandboxed.Stdout);
        Assert.Contains("check open beyond the limit fails with EMFILE: ok\n", sandboxed.Stdout);
    }
}
