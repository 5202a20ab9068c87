using System.Runtime.InteropServices;

namespace Sandbox.Abi;

#pragma warning disable CA1707 // names follow Linux

/// <summary>struct user_regs_struct (x86-64), as PTRACE_GETREGS/SETREGS exchange it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UserRegs
{
    public ulong R15, R14, R13, R12, Rbp, Rbx, R11, R10, R9, R8, Rax, Rcx, Rdx, Rsi, Rdi, OrigRax;
    public ulong Rip, Cs, Eflags, Rsp, Ss, FsBase, GsBase, Ds, Es, Fs, Gs;
}

/// <summary>struct stat as x86-64 fstat(2) returns it (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Stat
{
    public ulong Dev, Ino, Nlink;
    public uint Mode, Uid, Gid, Pad0;
    public ulong Rdev;
    public long Size, Blksize, Blocks;
    public long AtimeSec, AtimeNsec, MtimeSec, MtimeNsec, CtimeSec, CtimeNsec;
    public long Reserved0, Reserved1, Reserved2;
}

[StructLayout(LayoutKind.Sequential)]
public struct Timespec
{
    public long Sec, Nsec;
    public Timespec(long sec, long nsec) { Sec = sec; Nsec = nsec; }
}

[StructLayout(LayoutKind.Sequential)]
public struct Timeval
{
    public long Sec, Usec;
}

/// <summary>struct rusage (144 bytes) of getrusage(2) and wait4(2); ru_maxrss is in KiB.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Rusage
{
    public Timeval Utime, Stime;
    public long Maxrss, Ixrss, Idrss, Isrss, Minflt, Majflt, Nswap, Inblock, Oublock, Msgsnd, Msgrcv, Nsignals, Nvcsw, Nivcsw;
}

[StructLayout(LayoutKind.Sequential)]
public struct Iovec
{
    public ulong Base, Len;
}

/// <summary>struct winsize for TIOCGWINSZ.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Winsize
{
    public ushort Row, Col, Xpixel, Ypixel;
}

/// <summary>The kernel's struct termios (TCGETS), 36 bytes: not glibc's larger one.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KernelTermios
{
    public uint Iflag, Oflag, Cflag, Lflag;
    public byte Line;
    public fixed byte Cc[19];
}

/// <summary>struct sysinfo (x86-64, 112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct SysInfo
{
    public long Uptime;
    public fixed ulong Loads[3];
    public ulong TotalRam, FreeRam, SharedRam, BufferRam, TotalSwap, FreeSwap;
    public ushort Procs, Pad;
    public uint Pad2;
    public ulong TotalHigh, FreeHigh;
    public uint MemUnit;
    public fixed byte Reserved[4];
}

[StructLayout(LayoutKind.Sequential)]
public struct RLimit
{
    public ulong Cur, Max;
}

/// <summary>The kernel's struct sigaction for rt_sigaction(2) on x86-64.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KernelSigaction
{
    public ulong Handler, Flags, Restorer, Mask;
}

/// <summary>siginfo_t (128 bytes); the union members this code uses are overlaid.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
public struct SigInfo
{
    [FieldOffset(0)] public int Signo;
    [FieldOffset(4)] public int Errno;
    [FieldOffset(8)] public int Code;
    /// <summary>si_addr for faults.</summary>
    [FieldOffset(16)] public ulong Addr;
    /// <summary>si_pid / si_uid for kill, sigqueue and SIGCHLD.</summary>
    [FieldOffset(16)] public int Pid;
    [FieldOffset(20)] public int Uid;
    /// <summary>si_status for SIGCHLD; si_value for sigqueue and timers.</summary>
    [FieldOffset(24)] public int Status;
    [FieldOffset(24)] public ulong Value;
    /// <summary>si_timerid / si_overrun for POSIX timers.</summary>
    [FieldOffset(16)] public int TimerId;
    [FieldOffset(20)] public int Overrun;
    /// <summary>si_call_addr / si_syscall / si_arch for SIGSYS from seccomp (SYS_SECCOMP).</summary>
    [FieldOffset(16)] public ulong CallAddr;
    [FieldOffset(24)] public int Syscall;
    [FieldOffset(28)] public uint Arch;
}

/// <summary>struct new_utsname: six fields of 65 bytes.</summary>
public static class Utsname
{
    public const int FieldLength = 65, Size = 6 * FieldLength;
}

[StructLayout(LayoutKind.Sequential)]
public struct StatxTimestamp
{
    public long Sec;
    public uint Nsec;
    public int Reserved;
}

/// <summary>struct statx (256 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
public struct StatxBuf
{
    public uint Mask, Blksize;
    public ulong Attributes;
    public uint Nlink, Uid, Gid;
    public ushort Mode, Pad1;
    public ulong Ino, Size, Blocks, AttributesMask;
    public StatxTimestamp Atime, Btime, Ctime, Mtime;
    public uint RdevMajor, RdevMinor, DevMajor, DevMinor;
    public ulong MntId;
}

/// <summary>struct statfs (x86-64, 120 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct StatFs
{
    public long Type, Bsize, Blocks, Bfree, Bavail, Files, Ffree;
    public fixed int Fsid[2];
    public long Namelen, Frsize, Flags;
    public fixed long Spare[4];
}

/// <summary>struct open_how for openat2(2).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct OpenHow
{
    public ulong Flags, Mode, Resolve;
}
