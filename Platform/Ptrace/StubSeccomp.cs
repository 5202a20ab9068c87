using Sandbox.Abi;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Platform.Ptrace;

/// <summary>The seccomp filter every stub process installs on itself (see <see cref="StubElf"/>),
/// so that calls into the vsyscall page reach the Sentry.
///
/// Linux emulates a call to 0xffffffffff600000 (gettimeofday), ...400 (time) or ...800 (getcpu)
/// in its page-fault handler: no syscall entry happens, so PTRACE_SYSEMU never stops for it and
/// the host kernel would answer the guest itself. The emulation does consult seccomp, with
/// the instruction pointer set to the vsyscall address; this filter returns SECCOMP_RET_TRAP
/// there, so the kernel skips the call, emulates the <c>ret</c> and raises SIGSYS
/// (si_code SYS_SECCOMP, si_syscall = the call, si_call_addr = the vsyscall address), which the
/// tracer turns into a syscall for the Sentry (<see cref="PtraceThread.Switch"/>).
///
/// Everything else is allowed: the guest's own system calls are stopped by PTRACE_SYSEMU
/// before seccomp runs, and the only calls that do run are the stub's start-up and the
/// Sentry's injected mmap/munmap/mprotect/clone/exit, all made with the 64-bit
/// <c>syscall</c> instruction from the stub's page. A foreign architecture (i386 through
/// int 0x80) can therefore only be something that went wrong: it kills the stub.</summary>
public static class StubSeccomp
{
    private const ulong VsyscallStart = Vsyscall.VSYSCALL_ADDR, VsyscallSize = Vsyscall.Size;

    /// <summary>Whether addr lies in the vsyscall page.</summary>
    public static bool InVsyscallPage(ulong addr) => addr - VsyscallStart < VsyscallSize;

    /// <summary>The filter, as the kernel takes it (classic BPF over struct seccomp_data).</summary>
    public static ReadOnlySpan<SockFilter> Program => Filter;

    private const uint IpLow = SECCOMP_DATA_IP, IpHigh = SECCOMP_DATA_IP + 4;

    private static readonly SockFilter[] Filter =
    [
        /* 0 */ new(BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_DATA_ARCH),
        /* 1 */ new(BPF_JMP | BPF_JEQ | BPF_K, 0, 7, AUDIT_ARCH_X86_64),      // else 9: kill
        /* 2 */ new(BPF_LD | BPF_W | BPF_ABS, 0, 0, IpHigh),
        /* 3 */ new(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, (uint)(VsyscallStart >> 32)), // else 7: allow
        /* 4 */ new(BPF_LD | BPF_W | BPF_ABS, 0, 0, IpLow),
        /* 5 */ new(BPF_ALU | BPF_AND | BPF_K, 0, 0, unchecked((uint)~(VsyscallSize - 1))),
        /* 6 */ new(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, unchecked((uint)VsyscallStart)), // 8: trap, else 7: allow
        /* 7 */ new(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW),
        /* 8 */ new(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_TRAP),
        /* 9 */ new(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ];

    /// <summary>The vsyscall entries Linux emulates, by the syscall it reports in si_syscall.</summary>
    public static bool IsVsyscall(int syscall) =>
        (SyscallNumber)syscall is SyscallNumber.gettimeofday or SyscallNumber.time or SyscallNumber.getcpu;
}
