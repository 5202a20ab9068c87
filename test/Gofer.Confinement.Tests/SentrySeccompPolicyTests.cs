using Sandbox.Abi;
using Sandbox.Runsc;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>The Sentry's seccomp program (SentrySeccompPolicy) as data, run through the BPF
/// interpreter: well formed, the Sentry's own work allowed, everything that would undo its
/// confinement refused. (That it is in force in a running Sentry is shown by
/// SentryProcessTests in the integration tests.)</summary>
public class SentrySeccompPolicyTests
{
    private static readonly SockFilter[] Program = SeccompFilter.Compile(SentrySeccompPolicy.Create());
    private const uint Allow = SECCOMP_RET_ALLOW, Eperm = SECCOMP_RET_ERRNO | 1;

    private static uint Decide(SyscallNumber nr, params ulong[] args) => BpfInterpreter.Run(Program, (int)nr, args);

    [Fact]
    public void ProgramIsWellFormed()
    {
        Assert.Empty(SeccompFilter.Verify(Program));
        Assert.Equal(Eperm, Program[^1].K); // the default for unknown syscalls
    }

    [Theory]
    [InlineData(SyscallNumber.ptrace)]
    [InlineData(SyscallNumber.wait4)]
    [InlineData(SyscallNumber.futex)]
    [InlineData(SyscallNumber.read)]
    [InlineData(SyscallNumber.write)]
    [InlineData(SyscallNumber.pwrite64)]
    [InlineData(SyscallNumber.mmap)]
    [InlineData(SyscallNumber.fallocate)]
    [InlineData(SyscallNumber.sendmsg)]
    [InlineData(SyscallNumber.recvmsg)]
    [InlineData(SyscallNumber.tgkill)]
    [InlineData(SyscallNumber.kill)]
    [InlineData(SyscallNumber.clock_gettime)]
    [InlineData(SyscallNumber.rt_sigreturn)]
    [InlineData(SyscallNumber.exit_group)]
    public void TheSentrysOwnWorkIsAllowed(SyscallNumber nr) => Assert.Equal(Allow, Decide(nr));

    [Theory]
    [InlineData(SyscallNumber.open)]
    [InlineData(SyscallNumber.openat)]
    [InlineData(SyscallNumber.openat2)]
    [InlineData(SyscallNumber.open_by_handle_at)]
    [InlineData(SyscallNumber.execve)]
    [InlineData(SyscallNumber.execveat)]
    [InlineData(SyscallNumber.fork)]
    [InlineData(SyscallNumber.chroot)]
    [InlineData(SyscallNumber.mount)]
    [InlineData(SyscallNumber.pivot_root)]
    [InlineData(SyscallNumber.setns)]
    [InlineData(SyscallNumber.unshare)]
    [InlineData(SyscallNumber.setuid)]
    [InlineData(SyscallNumber.setresuid)]
    [InlineData(SyscallNumber.setgroups)]
    [InlineData(SyscallNumber.capset)]
    [InlineData(SyscallNumber.socket)]
    [InlineData(SyscallNumber.connect)]
    [InlineData(SyscallNumber.bpf)]
    [InlineData(SyscallNumber.perf_event_open)]
    [InlineData(SyscallNumber.io_uring_setup)]
    [InlineData(SyscallNumber.keyctl)]
    [InlineData(SyscallNumber.init_module)]
    public void WhatWouldUndoTheConfinementIsDeniedByName(SyscallNumber nr)
    {
        Assert.Contains(SentrySeccompPolicy.Create().Rules, r => r.Syscall == nr && r.Kind == SeccompRuleKind.Deny);
        Assert.Equal(Eperm, Decide(nr));
    }

    [Fact]
    public void UnlistedCallsFailWithEperm()
    {
        var listed = SentrySeccompPolicy.Create().Rules.Select(r => (int)r.Syscall).ToHashSet();
        int unlisted = Enumerable.Range(0, SyscallNumbers.Count).First(n => !listed.Contains(n) && Enum.IsDefined(typeof(SyscallNumber), n));
        Assert.Equal(Eperm, BpfInterpreter.Run(Program, unlisted));
        Assert.Equal(Eperm, BpfInterpreter.Run(Program, 1000));
    }

    [Fact]
    public void CloneMakesThreadsButNotProcesses()
    {
        const ulong pthreadFlags = 0x3d0f00;
        Assert.Equal(Allow, Decide(SyscallNumber.clone, pthreadFlags));
        Assert.Equal(Eperm, Decide(SyscallNumber.clone, 17)); // fork: stubs are forked by the template, not the Sentry
        Assert.Equal(Eperm, Decide(SyscallNumber.clone, pthreadFlags | 0x10000000)); // a thread in a new user namespace
        Assert.Equal(SECCOMP_RET_ERRNO | 38u, Decide(SyscallNumber.clone3, 0));
    }

    [Fact]
    public void ArgumentChecksLookOnlyAtWhatTheyMayAllow()
    {
        Assert.Equal(Allow, Decide(SyscallNumber.ioctl, 0, 0x5401)); // TCGETS on the guest's terminal
        Assert.Equal(Allow, Decide(SyscallNumber.ioctl, 0, 0x5402)); // TCSETS
        Assert.Equal(Eperm, Decide(SyscallNumber.ioctl, 0, 0x5412)); // TIOCSTI: typing into the host's terminal
        Assert.Equal(Allow, Decide(SyscallNumber.prctl, 15)); // PR_SET_NAME
        Assert.Equal(Eperm, Decide(SyscallNumber.prctl, 4)); // PR_SET_DUMPABLE
        Assert.Equal(Eperm, Decide(SyscallNumber.prctl, 22)); // PR_SET_SECCOMP
        Assert.Equal(Eperm, Decide(SyscallNumber.sched_setscheduler, 0)); // the runtime's thread priorities: done without
    }
}
