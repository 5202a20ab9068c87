using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

#pragma warning disable CA1707 // names follow Linux

/// <summary>Host calls on paths relative to directory fds, as the Gofer's 9P server uses them:
/// every path given here is a single component (or empty with AT_EMPTY_PATH), never a path
/// the server walks in one call. Paths are NUL-terminated UTF-8 bytes.</summary>
public static unsafe partial class Files
{
    public const int AT_STATX_SYNC_AS_STAT = 0;
    public const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_NLINK = 0x4, STATX_UID = 0x8, STATX_GID = 0x10;
    public const uint STATX_ATIME = 0x20, STATX_MTIME = 0x40, STATX_CTIME = 0x80, STATX_INO = 0x100;
    public const uint STATX_SIZE = 0x200, STATX_BLOCKS = 0x400, STATX_BASIC_STATS = 0x7ff, STATX_BTIME = 0x800;
    public const int SEEK_SET = 0, SEEK_CUR = 1;
    public const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    public const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    public const int XATTR_SIZE_MAX = 65536, XATTR_LIST_MAX = 65536;
    public const int F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38;
    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    public const byte DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;
    public const int NAME_MAX = 255, PATH_MAX = 4096;
    /// <summary>x86-64 number of fchmodat2(2) (Linux 6.6+), which honours AT_EMPTY_PATH on O_PATH fds.</summary>
    public const long SYS_fchmodat2 = 452;

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    public static partial int StatxAt(int dirfd, byte* path, int flags, uint mask, StatxBuf* buf);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    public static partial nint Getdents64(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    public static partial nint ReadlinkAt(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    public static partial int MkdirAt(int dirfd, byte* path, uint mode);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true)]
    public static partial int SymlinkAt(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true)]
    public static partial int MknodAt(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true)]
    public static partial int LinkAt(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport("libc", EntryPoint = "renameat", SetLastError = true)]
    public static partial int RenameAt(int olddirfd, byte* oldpath, int newdirfd, byte* newpath);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    public static partial int UnlinkAt(int dirfd, byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "fchmodat", SetLastError = true)]
    public static partial int FchmodAt(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true)]
    public static partial int FchownAt(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true)]
    public static partial int UtimensAt(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(int fd, StatFs* buf);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int Fdatasync(int fd);

    [LibraryImport("libc", EntryPoint = "fgetxattr", SetLastError = true)]
    public static partial nint Fgetxattr(int fd, byte* name, byte* value, nuint size);

    [LibraryImport("libc", EntryPoint = "flistxattr", SetLastError = true)]
    public static partial nint Flistxattr(int fd, byte* list, nuint size);

    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true)]
    public static partial int Fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "fremovexattr", SetLastError = true)]
    public static partial int Fremovexattr(int fd, byte* name);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlLock(int fd, int cmd, Flock* lk);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    /// <summary>fchmodat2(dirfd, path, mode, flags) through syscall(2): glibc 2.36 has no wrapper.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall4(long number, long a1, long a2, long a3, long a4);

    public static int Fchmodat2(int dirfd, byte* path, uint mode, int flags) =>
        (int)Syscall4(SYS_fchmodat2, dirfd, (long)path, mode, flags);

    /// <summary>struct flock (x86-64, 32 bytes) for fcntl record locks.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type, Whence;
        public long Start, Len;
        public int Pid;
    }

    /// <summary>glibc's gnu_dev_makedev.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        (((ulong)major & 0xfffff000) << 32) | (((ulong)major & 0xfff) << 8) |
        (((ulong)minor & 0xffffff00) << 12) | ((ulong)minor & 0xff);
}
