using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>seccomp(2) and classic BPF as the kernel takes them (include/uapi/linux/filter.h,
/// bpf_common.h, seccomp.h, audit.h).</summary>
public static unsafe partial class Seccomp
{
    /// <summary>struct sock_filter: one classic BPF instruction (8 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct SockFilter(ushort Code, byte Jt, byte Jf, uint K);

    /// <summary>struct sock_fprog.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockFprog
    {
        public ushort Len;
        public SockFilter* Filter;
    }

    // Instruction classes, sizes, modes, operations and sources (bpf_common.h).
    public const ushort BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03, BPF_ALU = 0x04;
    public const ushort BPF_JMP = 0x05, BPF_RET = 0x06, BPF_MISC = 0x07;
    public const ushort BPF_W = 0x00, BPF_H = 0x08, BPF_B = 0x10;
    public const ushort BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_IND = 0x40, BPF_MEM = 0x60, BPF_LEN = 0x80, BPF_MSH = 0xa0;
    public const ushort BPF_ADD = 0x00, BPF_SUB = 0x10, BPF_MUL = 0x20, BPF_DIV = 0x30, BPF_OR = 0x40, BPF_AND = 0x50;
    public const ushort BPF_LSH = 0x60, BPF_RSH = 0x70, BPF_NEG = 0x80, BPF_MOD = 0x90, BPF_XOR = 0xa0;
    public const ushort BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_JSET = 0x40;
    public const ushort BPF_K = 0x00, BPF_X = 0x08, BPF_A = 0x10;
    public const int BPF_MAXINSNS = 4096;

    /// <summary>Offsets in struct seccomp_data.</summary>
    public const uint SECCOMP_DATA_NR = 0, SECCOMP_DATA_ARCH = 4, SECCOMP_DATA_IP = 8, SECCOMP_DATA_ARGS = 16;
    public const int SECCOMP_DATA_SIZE = 64;

    public const uint SECCOMP_RET_KILL_PROCESS = 0x80000000, SECCOMP_RET_KILL_THREAD = 0, SECCOMP_RET_TRAP = 0x00030000;
    public const uint SECCOMP_RET_ERRNO = 0x00050000, SECCOMP_RET_USER_NOTIF = 0x7fc00000, SECCOMP_RET_TRACE = 0x7ff00000;
    public const uint SECCOMP_RET_LOG = 0x7ffc0000, SECCOMP_RET_ALLOW = 0x7fff0000;
    public const uint SECCOMP_RET_ACTION_FULL = 0xffff0000, SECCOMP_RET_DATA = 0x0000ffff;

    public const uint SECCOMP_SET_MODE_STRICT = 0, SECCOMP_SET_MODE_FILTER = 1;
    public const uint SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2;
    public const int PR_GET_SECCOMP = 21, PR_SET_NO_NEW_PRIVS = 38, PR_GET_NO_NEW_PRIVS = 39;

    public const uint AUDIT_ARCH_X86_64 = 0xc000003e;
    /// <summary>Syscall numbers with this bit set are the x32 ABI, which shares AUDIT_ARCH_X86_64.</summary>
    public const uint X32_SYSCALL_BIT = 0x40000000;

    private const long SYS_seccomp = 317;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a0, nint a1, nint a2, nint a3, nint a4, nint a5);

    /// <summary>A raw system call, for probing what a filter allows. Returns the result or -1
    /// with the errno in <see cref="HostError.Last"/>.</summary>
    public static long RawSyscall(long number, nint a0 = 0, nint a1 = 0, nint a2 = 0, nint a3 = 0, nint a4 = 0, nint a5 = 0) =>
        Syscall(number, a0, a1, a2, a3, a4, a5);

    /// <summary>prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never grant privileges again, and
    /// an unprivileged thread may install filters.</summary>
    public static void SetNoNewPrivs() =>
        HostError.Check(Prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");

    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). With SECCOMP_FILTER_FLAG_TSYNC
    /// the kernel returns the id of a thread it could not synchronise (positive) instead of 0.</summary>
    public static long SetModeFilter(uint flags, ReadOnlySpan<SockFilter> program)
    {
        fixed (SockFilter* p = program)
        {
            return SetModeFilter(flags, p, program.Length);
        }
    }

    /// <summary>The same for an array (no ReadOnlySpan&lt;SockFilter&gt; conversion to JIT-compile
    /// on a process's start-up path).</summary>
    public static long SetModeFilter(uint flags, SockFilter[] program)
    {
        fixed (SockFilter* p = program)
        {
            return SetModeFilter(flags, p, program.Length);
        }
    }

    private static long SetModeFilter(uint flags, SockFilter* program, int length)
    {
        var prog = new SockFprog { Len = checked((ushort)length), Filter = program };
        return Syscall(SYS_seccomp, (nint)SECCOMP_SET_MODE_FILTER, (nint)flags, (nint)(&prog), 0, 0, 0);
    }

    /// <summary>The calling thread's seccomp mode (0 none, 1 strict, 2 filter).</summary>
    public static int GetMode() => Prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
}
