using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Host mount namespaces and the mount tree: unshare, mount, pivot_root, the new
/// mount API (open_tree, move_mount, fsopen/fsconfig/fsmount, mount_setattr) and the *at
/// calls used to lay out a fresh tree. The calls glibc 2.36 added wrappers for go through
/// syscall(2) so that older hosts work too.</summary>
public static unsafe partial class Namespaces
{
    /// <summary>struct mount_attr for mount_setattr(2) (include/uapi/linux/mount.h), 32 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UsernsFd;
    }

    /// <summary>struct open_how for openat2(2) (include/uapi/linux/openat2.h), 24 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    public const int CLONE_FS = 0x200, CLONE_THREAD = 0x10000, CLONE_NEWNS = 0x20000, CLONE_NEWUSER = 0x10000000;
    public const int CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32;
    public const ulong MS_BIND = 4096, MS_MOVE = 8192, MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19;
    public const int MNT_DETACH = 2;

    public const uint OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0x80000;
    public const uint AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000;
    public const uint MOVE_MOUNT_F_EMPTY_PATH = 0x4, MOVE_MOUNT_T_EMPTY_PATH = 0x40;
    public const uint FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1;
    public const uint FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;
    public const ulong MOUNT_ATTR_RDONLY = 1, MOUNT_ATTR_NOSUID = 2, MOUNT_ATTR_NODEV = 4, MOUNT_ATTR_NOEXEC = 8;
    public const ulong RESOLVE_NO_XDEV = 1, RESOLVE_NO_MAGICLINKS = 2, RESOLVE_NO_SYMLINKS = 4;
    public const ulong RESOLVE_BENEATH = 8, RESOLVE_IN_ROOT = 0x10;
    public const long TMPFS_MAGIC = 0x01021994;

    private const long SYS_pivot_root = 155, SYS_open_tree = 428, SYS_move_mount = 429, SYS_fsopen = 430;
    private const long SYS_fsconfig = 431, SYS_fsmount = 432, SYS_openat2 = 437, SYS_mount_setattr = 442;

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    public static partial int Unshare(int flags);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string? source, string target, string? fstype, ulong flags, nint data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chdir(string path);

    [LibraryImport("libc", EntryPoint = "fchdir", SetLastError = true)]
    public static partial int Fchdir(int fd);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdirat(int dirfd, string path, uint mode);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Symlinkat(string target, int newdirfd, string linkpath);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Readlink(string path, byte* buf, nuint size);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(int fd, long* buf);

    /// <summary>f_type of the filesystem holding fd (fstatfs(2); struct statfs is 120 bytes, f_type first).</summary>
    public static long FilesystemType(int fd)
    {
        long* buf = stackalloc long[16];
        return Fstatfs(fd, buf) < 0 ? -1 : buf[0];
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a0, nint a1, nint a2, nint a3, nint a4);

    /// <summary>pivot_root(2).</summary>
    public static int PivotRoot(string newRoot, string putOld)
    {
        fixed (byte* n = Utf8(newRoot), o = Utf8(putOld))
        {
            return (int)Syscall(SYS_pivot_root, (nint)n, (nint)o, 0, 0, 0);
        }
    }

    /// <summary>open_tree(2): with OPEN_TREE_CLONE, a detached copy of the mount (tree) at path.</summary>
    public static int OpenTree(int dirfd, string path, uint flags)
    {
        fixed (byte* p = Utf8(path))
        {
            return (int)Syscall(SYS_open_tree, dirfd, (nint)p, (nint)flags, 0, 0);
        }
    }

    /// <summary>move_mount(2).</summary>
    public static int MoveMount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags)
    {
        fixed (byte* f = Utf8(fromPath), t = Utf8(toPath))
        {
            return (int)Syscall(SYS_move_mount, fromDirfd, (nint)f, toDirfd, (nint)t, (nint)flags);
        }
    }

    /// <summary>fsopen(2): a filesystem context for a new superblock of type fsName.</summary>
    public static int FsOpen(string fsName, uint flags)
    {
        fixed (byte* n = Utf8(fsName))
        {
            return (int)Syscall(SYS_fsopen, (nint)n, (nint)flags, 0, 0, 0);
        }
    }

    /// <summary>fsconfig(2) with a string value (or a command when key and value are null).</summary>
    public static int FsConfig(int fsfd, uint cmd, string? key, string? value)
    {
        fixed (byte* k = key is null ? null : Utf8(key), v = value is null ? null : Utf8(value))
        {
            return (int)Syscall(SYS_fsconfig, fsfd, (nint)cmd, (nint)k, (nint)v, 0);
        }
    }

    /// <summary>fsmount(2): a detached mount of the superblock made by FSCONFIG_CMD_CREATE.</summary>
    public static int FsMount(int fsfd, uint flags, ulong attrFlags) =>
        (int)Syscall(SYS_fsmount, fsfd, (nint)flags, (nint)attrFlags, 0, 0);

    /// <summary>mount_setattr(2): change the attributes of a mount (AT_RECURSIVE: of a whole tree).</summary>
    public static int MountSetattr(int dirfd, string path, uint flags, ulong attrSet, ulong attrClr)
    {
        var attr = new MountAttr { AttrSet = attrSet, AttrClr = attrClr };
        fixed (byte* p = Utf8(path))
        {
            return (int)Syscall(SYS_mount_setattr, dirfd, (nint)p, (nint)flags, (nint)(&attr), sizeof(MountAttr));
        }
    }

    /// <summary>openat2(2).</summary>
    public static int Openat2(int dirfd, string path, ulong flags, ulong mode, ulong resolve)
    {
        var how = new OpenHow { Flags = flags, Mode = mode, Resolve = resolve };
        fixed (byte* p = Utf8(path))
        {
            return (int)Syscall(SYS_openat2, dirfd, (nint)p, (nint)(&how), sizeof(OpenHow), 0);
        }
    }

    /// <summary>readlink(2) as a string (null on failure, errno in <see cref="HostError.Last"/>).</summary>
    public static string? ReadlinkString(string path)
    {
        byte* buf = stackalloc byte[4096];
        nint n = Readlink(path, buf, 4096);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buf, (int)n);
    }

    private static byte[] Utf8(string s)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
