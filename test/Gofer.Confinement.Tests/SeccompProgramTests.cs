using Sandbox.Abi;
using Sandbox.Gofer.Confinement;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>The gofer's seccomp program as data: well formed, and deciding what the policy says.</summary>
public class SeccompProgramTests
{
    private const int Pid = 4242;
    private static readonly SockFilter[] Program = SeccompFilter.Compile(GoferSeccompPolicy.Create(Pid));
    private const uint Allow = SECCOMP_RET_ALLOW, Eperm = SECCOMP_RET_ERRNO | 1, Kill = SECCOMP_RET_KILL_PROCESS;

    private static uint Decide(SyscallNumber nr, params ulong[] args) => BpfInterpreter.Run(Program, (int)nr, args);

    [Fact]
    public void ProgramIsWellFormed()
    {
        Assert.Empty(SeccompFilter.Verify(Program));
        Assert.InRange(Program.Length, 10, BPF_MAXINSNS);
        Assert.Equal((ushort)(BPF_RET | BPF_K), Program[^1].Code);
        Assert.Equal(Eperm, Program[^1].K); // the default for unknown syscalls
        for (int pc = 0; pc < Program.Length; pc++)
        {
            SockFilter i = Program[pc];
            if ((i.Code & 0x07) == BPF_JMP)
            {
                Assert.True(pc + 1 + i.Jt < Program.Length && pc + 1 + i.Jf < Program.Length, $"jump at {pc} leaves the program");
            }
        }
    }

    [Fact]
    public void ArchitectureIsCheckedFirstAndForeignAbisAreKilled()
    {
        Assert.Equal(new SockFilter(BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_DATA_ARCH), Program[0]);
        Assert.Equal(AUDIT_ARCH_X86_64, Program[1].K);
        const uint AUDIT_ARCH_I386 = 0x40000003;
        Assert.Equal(Kill, BpfInterpreter.Run(Program, (int)SyscallNumber.read, arch: AUDIT_ARCH_I386));
        Assert.Equal(Kill, BpfInterpreter.Run(Program, (int)(X32_SYSCALL_BIT | 0), arch: AUDIT_ARCH_X86_64));
        Assert.Equal(Allow, BpfInterpreter.Run(Program, (int)SyscallNumber.read));
    }

    [Theory]
    [InlineData(SyscallNumber.read)]
    [InlineData(SyscallNumber.openat)]
    [InlineData(SyscallNumber.recvmsg)]
    [InlineData(SyscallNumber.sendmsg)]
    [InlineData(SyscallNumber.futex)]
    [InlineData(SyscallNumber.mmap)]
    [InlineData(SyscallNumber.getdents64)]
    [InlineData(SyscallNumber.fchownat)]
    [InlineData(SyscallNumber.renameat2)]
    [InlineData(SyscallNumber.rt_sigreturn)]
    [InlineData(SyscallNumber.exit_group)]
    public void ServingAndRuntimeCallsAreAllowed(SyscallNumber nr) => Assert.Equal(Allow, Decide(nr));

    [Fact]
    public void EveryDangerousCallIsDeniedByName()
    {
        SyscallNumber[] required =
        [
            SyscallNumber.ptrace, SyscallNumber.mount, SyscallNumber.umount2, SyscallNumber.pivot_root, SyscallNumber.chroot,
            SyscallNumber.setns, SyscallNumber.unshare, SyscallNumber.init_module, SyscallNumber.kexec_load, SyscallNumber.bpf,
            SyscallNumber.perf_event_open, SyscallNumber.process_vm_readv, SyscallNumber.process_vm_writev, SyscallNumber.keyctl,
            SyscallNumber.add_key, SyscallNumber.execve, SyscallNumber.execveat, SyscallNumber.open_by_handle_at,
        ];
        SeccompPolicy policy = GoferSeccompPolicy.Create(Pid);
        foreach (SyscallNumber nr in required)
        {
            SeccompRule? rule = policy.Rules.SingleOrDefault(r => r.Syscall == nr);
            Assert.True(rule is { Kind: SeccompRuleKind.Deny }, $"{nr} is not denied by name");
            Assert.Equal(Eperm, Decide(nr));
        }
    }

    [Fact]
    public void UnlistedCallsFailWithEperm()
    {
        SeccompPolicy policy = GoferSeccompPolicy.Create(Pid);
        var listed = policy.Rules.Select(r => (int)r.Syscall).ToHashSet();
        int unlisted = Enumerable.Range(0, SyscallNumbers.Count).First(n => !listed.Contains(n) && Enum.IsDefined(typeof(SyscallNumber), n));
        Assert.Equal(Eperm, BpfInterpreter.Run(Program, unlisted));
        Assert.Equal(Eperm, BpfInterpreter.Run(Program, 1000)); // not a syscall at all
    }

    [Fact]
    public void CloneMakesThreadsButNotProcesses()
    {
        const ulong pthreadFlags = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
        Assert.Equal(Allow, Decide(SyscallNumber.clone, pthreadFlags));
        Assert.Equal(Eperm, Decide(SyscallNumber.clone, 17)); // fork: SIGCHLD
        Assert.Equal(Eperm, Decide(SyscallNumber.clone, pthreadFlags | 0x20000)); // a thread in a new mount namespace
        Assert.Equal(Eperm, Decide(SyscallNumber.clone, pthreadFlags & ~0x10000UL)); // CLONE_VM without CLONE_THREAD
        // clone3 keeps its flags in memory the filter cannot read: refused with ENOSYS so
        // that glibc falls back to the checked clone.
        Assert.Equal(SECCOMP_RET_ERRNO | 38u, Decide(SyscallNumber.clone3, 0));
    }

    [Fact]
    public void ArgumentChecksLookOnlyAtWhatTheyMayAllow()
    {
        Assert.Equal(Allow, Decide(SyscallNumber.tgkill, Pid, Pid + 1, 32));
        Assert.Equal(Eperm, Decide(SyscallNumber.tgkill, 1, 1, 9));
        Assert.Equal(Allow, Decide(SyscallNumber.prctl, 15)); // PR_SET_NAME
        Assert.Equal(Eperm, Decide(SyscallNumber.prctl, 4)); // PR_SET_DUMPABLE
        Assert.Equal(Eperm, Decide(SyscallNumber.prctl, 22)); // PR_SET_SECCOMP
        Assert.Equal(Allow, Decide(SyscallNumber.ioctl, 2, 0x5401)); // TCGETS
        Assert.Equal(Eperm, Decide(SyscallNumber.ioctl, 2, 0x5412)); // TIOCSTI
        Assert.Equal(Allow, Decide(SyscallNumber.sched_setaffinity, 0));
        Assert.Equal(Eperm, Decide(SyscallNumber.sched_setaffinity, 1));
    }

    [Fact]
    public void DumpReadsLikeSeccompTools()
    {
        string[] lines = [.. SeccompFilter.Dump(Program)];
        Assert.Equal(Program.Length, lines.Length);
        Assert.Equal("0000: A = arch", lines[0]);
        Assert.Equal("0001: if (A != 0xc000003e) goto 0004", lines[1]);
        Assert.Equal("0002: A = sys_number", lines[2]);
        Assert.Equal("0004: return KILL_PROCESS", lines[4]);
        Assert.Contains(lines, l => l.Contains("if (A != ptrace) goto", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("A = args[0]", StringComparison.Ordinal));
        Assert.Equal($"{Program.Length - 1:D4}: return ERRNO(EPERM)", lines[^1]);
        for (int i = 0; i < lines.Length; i++) Assert.StartsWith($"{i:D4}: ", lines[i]);
    }

    [Fact]
    public void VerifyRejectsBrokenPrograms()
    {
        Assert.NotEmpty(SeccompFilter.Verify([]));
        SockFilter[] noReturn = [.. Program[..^1], new SockFilter(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0)];
        Assert.Contains(SeccompFilter.Verify(noReturn), p => p.Contains("last instruction", StringComparison.Ordinal));
        SockFilter[] farJump = [.. Program];
        farJump[5] = farJump[5] with { Jf = 255 };
        farJump = farJump[..100];
        farJump[^1] = new SockFilter(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
        Assert.Contains(SeccompFilter.Verify(farJump), p => p.Contains("past the end", StringComparison.Ordinal));
        SockFilter[] noArch = [.. Program[2..]];
        Assert.Contains(SeccompFilter.Verify(noArch), p => p.Contains("architecture", StringComparison.Ordinal));
        SockFilter[] badLoad = [.. Program];
        badLoad[2] = badLoad[2] with { K = 64 };
        Assert.Contains(SeccompFilter.Verify(badLoad), p => p.Contains("outside seccomp_data", StringComparison.Ordinal));
    }

    [Fact]
    public void PoliciesNamingACallTwiceAreRejected()
    {
        var policy = new SeccompPolicy(
            [new SeccompRule(SyscallNumber.read, SeccompRuleKind.Allow, "x"), new SeccompRule(SyscallNumber.read, SeccompRuleKind.Deny, "y")],
            Errno.EPERM);
        Assert.Throws<ArgumentException>(() => SeccompFilter.Compile(policy));
    }

    [Fact]
    public void CapabilitiesKeptAreOnlyTheFileOnes()
    {
        Assert.Equal(0x1fUL, GoferCapabilities.KeptMask); // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID
        Assert.Equal(GoferCapabilities.KeptMask, GoferCapabilities.Kept.Aggregate(0UL, (m, c) => m | (1UL << c)));
    }

    [Theory]
    [InlineData("/a:/b", "/a", "/b", false)]
    [InlineData("/a:/b:ro", "/a", "/b", true)]
    [InlineData("rel:/b:rw", "rel", "/b", false)]
    public void BindSpecsParse(string spec, string source, string destination, bool readOnly) =>
        Assert.Equal(new BindMount(source, destination, readOnly), BindMount.Parse(spec));

    [Theory]
    [InlineData("/a")]
    [InlineData("/a:b")]
    [InlineData("/a:/b:rx")]
    [InlineData(":/b")]
    public void BadBindSpecsAreRefused(string spec) => Assert.Throws<FormatException>(() => BindMount.Parse(spec));
}
