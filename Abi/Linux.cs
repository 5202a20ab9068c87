namespace Sandbox.Abi;

#pragma warning disable CA1707 // names follow Linux

/// <summary>The x86-64 vsyscall page (arch/x86/include/uapi/asm/vsyscall.h): fixed entry points
/// for gettimeofday, time and getcpu that old static binaries call.</summary>
public static class Vsyscall
{
    public const ulong VSYSCALL_ADDR = 0xffff_ffff_ff60_0000, Size = 0x1000;
    public const ulong Gettimeofday = VSYSCALL_ADDR, Time = VSYSCALL_ADDR + 0x400, Getcpu = VSYSCALL_ADDR + 0x800;
}

/// <summary>Memory protection and mapping flags (include/uapi/asm-generic/mman*.h).</summary>
public static class Mm
{
    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    public const int PROT_GROWSDOWN = 0x01000000, PROT_GROWSUP = 0x02000000;
    public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_SHARED_VALIDATE = 0x03, MAP_TYPE = 0x0f;
    public const int MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_32BIT = 0x40;
    public const int MAP_GROWSDOWN = 0x0100, MAP_DENYWRITE = 0x0800, MAP_EXECUTABLE = 0x1000, MAP_LOCKED = 0x2000;
    public const int MAP_NORESERVE = 0x4000, MAP_POPULATE = 0x8000, MAP_NONBLOCK = 0x10000, MAP_STACK = 0x20000;
    public const int MAP_HUGETLB = 0x40000, MAP_SYNC = 0x80000, MAP_FIXED_NOREPLACE = 0x100000, MAP_UNINITIALIZED = 0x4000000;
    public const int MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2, MREMAP_DONTUNMAP = 4;
    public const int MADV_NORMAL = 0, MADV_RANDOM = 1, MADV_SEQUENTIAL = 2, MADV_WILLNEED = 3, MADV_DONTNEED = 4;
    public const int MADV_FREE = 8, MADV_REMOVE = 9, MADV_DONTFORK = 10, MADV_DOFORK = 11, MADV_MERGEABLE = 12;
    public const int MADV_UNMERGEABLE = 13, MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16, MADV_DODUMP = 17;
    public const int MADV_WIPEONFORK = 18, MADV_KEEPONFORK = 19, MADV_COLD = 20, MADV_PAGEOUT = 21;
    public const int MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;
    public const int FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2;
    public const ulong PageSize = 4096;
}

/// <summary>File and descriptor flags (include/uapi/asm-generic/fcntl.h).</summary>
public static class OpenFlags
{
    public const int O_ACCMODE = 3, O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2;
    public const int O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400;
    public const int O_NONBLOCK = 0x800, O_DSYNC = 0x1000, O_ASYNC = 0x2000, O_DIRECT = 0x4000, O_LARGEFILE = 0x8000;
    public const int O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_NOATIME = 0x40000, O_CLOEXEC = 0x80000;
    public const int O_SYNC = 0x101000, O_PATH = 0x200000, O_TMPFILE = 0x410000;
    public const int FD_CLOEXEC = 1;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400;
    public const int AT_NO_AUTOMOUNT = 0x800, AT_EMPTY_PATH = 0x1000;
}

/// <summary>fcntl(2) commands.</summary>
public static class Fcntl
{
    public const int F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4;
    public const int F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7, F_SETOWN = 8, F_GETOWN = 9;
    public const int F_SETSIG = 10, F_GETSIG = 11, F_DUPFD_CLOEXEC = 1030, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032;
    public const int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;

    /// <summary>File seals (F_ADD_SEALS / F_GET_SEALS).</summary>
    public const int F_SEAL_SEAL = 0x1, F_SEAL_SHRINK = 0x2, F_SEAL_GROW = 0x4, F_SEAL_WRITE = 0x8;
    public const int F_SEAL_FUTURE_WRITE = 0x10, F_SEAL_EXEC = 0x20;
}

/// <summary>memfd_create(2) flags.</summary>
public static class Memfd
{
    public const uint MFD_CLOEXEC = 0x1, MFD_ALLOW_SEALING = 0x2, MFD_HUGETLB = 0x4, MFD_NOEXEC_SEAL = 0x8, MFD_EXEC = 0x10;
}

/// <summary>Per-call flags of preadv2(2) / pwritev2(2).</summary>
public static class Rwf
{
    public const int RWF_HIPRI = 0x1, RWF_DSYNC = 0x2, RWF_SYNC = 0x4, RWF_NOWAIT = 0x8, RWF_APPEND = 0x10;
    public const int RWF_NOAPPEND = 0x20, RWF_ATOMIC = 0x40, RWF_DONTCACHE = 0x80, RWF_NOSIGNAL = 0x100;
}

/// <summary>ioctl(2) requests used on terminals and files.</summary>
public static class Ioctl
{
    public const uint TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403, TCSETSF = 0x5404;
    public const uint TIOCGPGRP = 0x540F, TIOCSPGRP = 0x5410, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;
    public const uint FIONREAD = 0x541B, FIONBIO = 0x5421, FIONCLEX = 0x5450, FIOCLEX = 0x5451, FIOASYNC = 0x5452;
}

/// <summary>File type bits of st_mode.</summary>
public static class StatMode
{
    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFIFO = 0x1000;
}

/// <summary>Auxiliary vector keys (include/uapi/linux/auxvec.h).</summary>
public static class Auxv
{
    public const ulong AT_NULL = 0, AT_IGNORE = 1, AT_EXECFD = 2, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5;
    public const ulong AT_PAGESZ = 6, AT_BASE = 7, AT_FLAGS = 8, AT_ENTRY = 9, AT_NOTELF = 10, AT_UID = 11;
    public const ulong AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17;
    public const ulong AT_SECURE = 23, AT_BASE_PLATFORM = 24, AT_RANDOM = 25, AT_HWCAP2 = 26, AT_EXECFN = 31;
    public const ulong AT_SYSINFO_EHDR = 33, AT_MINSIGSTKSZ = 51;
}

/// <summary>Signal numbers (x86-64).</summary>
public static class Signals
{
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6, SIGBUS = 7, SIGFPE = 8;
    public const int SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13, SIGALRM = 14, SIGTERM = 15;
    public const int SIGSTKFLT = 16, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
    public const int SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25, SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28, SIGIO = 29;
    public const int SIGPWR = 30, SIGSYS = 31, SIGRTMIN = 32, SIGRTMAX = 64;
    public const int SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;

    private static readonly string[] Names =
    [
        "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];

    public static string Name(int sig) => sig >= 0 && sig < Names.Length ? Names[sig] : $"SIGRT{sig - SIGRTMIN}";
}

/// <summary>Clock ids for clock_gettime(2).</summary>
public static class Clocks
{
    public const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_PROCESS_CPUTIME_ID = 2, CLOCK_THREAD_CPUTIME_ID = 3;
    public const int CLOCK_MONOTONIC_RAW = 4, CLOCK_REALTIME_COARSE = 5, CLOCK_MONOTONIC_COARSE = 6, CLOCK_BOOTTIME = 7;
    public const int CLOCK_REALTIME_ALARM = 8, CLOCK_BOOTTIME_ALARM = 9, CLOCK_TAI = 11;
    public const int TIMER_ABSTIME = 1;

    /// <summary>CPU-time clock ids of a given process or thread (clock_getcpuclockid,
    /// pthread_getcpuclockid): ((~pid) &lt;&lt; 3) | CPUCLOCK_PERTHREAD_MASK? | CPUCLOCK_PROF/VIRT/SCHED.</summary>
    public const int CPUCLOCK_PROF = 0, CPUCLOCK_VIRT = 1, CPUCLOCK_SCHED = 2, CPUCLOCK_MAX = 3;
    public const int CPUCLOCK_CLOCK_MASK = 3, CPUCLOCK_PERTHREAD_MASK = 4;

    public static int MakeProcessCpuClock(int pid, int clock) => (int)(~(uint)pid << 3) | clock;

    public static int MakeThreadCpuClock(int tid, int clock) => MakeProcessCpuClock(tid, clock | CPUCLOCK_PERTHREAD_MASK);

    /// <summary>The pid or tid a CPU-time clock id names (0: the caller).</summary>
    public static int CpuClockPid(int clock) => ~(clock >> 3);
}

/// <summary>arch_prctl(2) codes.</summary>
public static class ArchPrctl
{
    public const int ARCH_SET_GS = 0x1001, ARCH_SET_FS = 0x1002, ARCH_GET_FS = 0x1003, ARCH_GET_GS = 0x1004;
    public const int ARCH_GET_CPUID = 0x1011, ARCH_SET_CPUID = 0x1012;
}

/// <summary>Resource limit numbers for getrlimit/prlimit64.</summary>
public static class Rlimit
{
    public const int RLIMIT_CPU = 0, RLIMIT_FSIZE = 1, RLIMIT_DATA = 2, RLIMIT_STACK = 3, RLIMIT_CORE = 4, RLIMIT_RSS = 5;
    public const int RLIMIT_NPROC = 6, RLIMIT_NOFILE = 7, RLIMIT_MEMLOCK = 8, RLIMIT_AS = 9, RLIMIT_LOCKS = 10;
    public const int RLIMIT_SIGPENDING = 11, RLIMIT_MSGQUEUE = 12, RLIMIT_NICE = 13, RLIMIT_RTPRIO = 14, RLIMIT_RTTIME = 15;
    public const int RLIM_NLIMITS = 16;
    public const ulong RLIM_INFINITY = ulong.MaxValue;
}

/// <summary>siginfo si_code values for synchronous faults.</summary>
public static class SigCodes
{
    public const int SI_USER = 0, SI_KERNEL = 0x80, SI_QUEUE = -1, SI_TKILL = -6;
    public const int SEGV_MAPERR = 1, SEGV_ACCERR = 2;
    public const int BUS_ADRALN = 1, BUS_ADRERR = 2;
    public const int FPE_INTDIV = 1, FPE_INTOVF = 2;
    public const int ILL_ILLOPC = 1;
    public const int TRAP_BRKPT = 1;
    public const int SYS_SECCOMP = 1;
}

/// <summary>getrandom(2) flags.</summary>
public static class GetRandomFlags
{
    public const int GRND_NONBLOCK = 1, GRND_RANDOM = 2, GRND_INSECURE = 4;
}

/// <summary>prctl(2) options.</summary>
public static class Prctl
{
    public const int PR_SET_PDEATHSIG = 1, PR_GET_PDEATHSIG = 2, PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4;
    public const int PR_GET_KEEPCAPS = 7, PR_SET_KEEPCAPS = 8, PR_SET_NAME = 15, PR_GET_NAME = 16;
    public const int PR_GET_SECCOMP = 21, PR_CAPBSET_READ = 23, PR_SET_CHILD_SUBREAPER = 36, PR_GET_CHILD_SUBREAPER = 37;
    public const int PR_SET_NO_NEW_PRIVS = 38, PR_GET_NO_NEW_PRIVS = 39, PR_SET_VMA = 0x53564d41;
    /// <summary>TASK_COMM_LEN: names are at most 15 bytes plus NUL.</summary>
    public const int TaskCommLength = 16;
}

/// <summary>Directory entry types (d_type) for getdents64.</summary>
public static class DirentType
{
    public const byte DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;

    public static byte FromMode(uint mode) => (byte)((mode & StatMode.S_IFMT) >> 12);
}

/// <summary>openat2(2) resolve flags and other path-walk constants.</summary>
public static class Resolve
{
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10, RESOLVE_CACHED = 0x20;
    public const int MaxSymlinkFollows = 40;
    public const int PathMax = 4096, NameMax = 255;
}

/// <summary>Access mode bits for access(2) and permission checks.</summary>
public static class AccessMode
{
    public const int F_OK = 0, X_OK = 1, W_OK = 2, R_OK = 4;
    public const int AT_EACCESS = 0x200;
}

/// <summary>statx(2) mask bits.</summary>
public static class Statx
{
    public const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_NLINK = 0x4, STATX_UID = 0x8, STATX_GID = 0x10;
    public const uint STATX_ATIME = 0x20, STATX_MTIME = 0x40, STATX_CTIME = 0x80, STATX_INO = 0x100, STATX_SIZE = 0x200;
    public const uint STATX_BLOCKS = 0x400, STATX_BASIC_STATS = 0x7ff, STATX_BTIME = 0x800, STATX_MNT_ID = 0x1000;
    public const uint STATX__RESERVED = 0x80000000;
    public const int AT_STATX_SYNC_TYPE = 0x6000;
}

/// <summary>renameat2(2) flags, unlinkat flags and utimensat special values.</summary>
public static class RenameFlags
{
    public const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2, RENAME_WHITEOUT = 4;
    public const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
}
