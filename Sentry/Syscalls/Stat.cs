using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>stat(2), statx(2) and statfs(2).</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall stat(2).</summary>
    public static long StatPath(Task t, in SyscallArgs a) => StatAt(t, AT_FDCWD, a.A0, a.A1, 0);

    /// <summary>Implements Linux syscall lstat(2).</summary>
    public static long Lstat(Task t, in SyscallArgs a) => StatAt(t, AT_FDCWD, a.A0, a.A1, AT_SYMLINK_NOFOLLOW);

    /// <summary>Implements Linux syscall newfstatat(2).</summary>
    public static long Newfstatat(Task t, in SyscallArgs a) => StatAt(t, (int)a.A0, a.A1, a.A2, (int)a.A3);

    private static long StatAt(Task t, int dirfd, ulong pathAddr, ulong statAddr, int flags)
    {
        if ((flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)) != 0) return -(long)Errno.EINVAL;
        long r = StatOf(t, dirfd, pathAddr, flags, out Stat st);
        return r < 0 ? r : t.MemoryManager.CopyOut(statAddr, st);
    }

    /// <summary>Stats (dirfd, path), or the fd itself for AT_EMPTY_PATH (which also covers
    /// pipes and host files that have no place in the tree).</summary>
    private static long StatOf(Task t, int dirfd, ulong pathAddr, int flags, out Stat st)
    {
        st = default;
        long r = t.MemoryManager.ReadCString(pathAddr, Resolve.PathMax, out string path);
        if (r < 0) return r;
        if (path.Length == 0)
        {
            if ((flags & AT_EMPTY_PATH) == 0) return -(long)Errno.ENOENT;
            if (dirfd == AT_FDCWD) return t.Fs.Cwd.Inode.Stat(out st);
            if (t.Fds.Get(dirfd) is not { } f) return -(long)Errno.EBADF;
            return f.Stat(out st);
        }
        r = PathResolver.Start(t, dirfd, path, out PathPos start);
        if (r < 0) return r;
        r = PathResolver.Resolve(t, start, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, out PathPos pos);
        return r < 0 ? r : pos.Inode.Stat(out st);
    }

    /// <summary>Implements Linux syscall statx(2).</summary>
    public static long StatxCall(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A2;
        uint mask = (uint)a.A3;
        if ((flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | Statx.AT_STATX_SYNC_TYPE)) != 0)
            return -(long)Errno.EINVAL;
        if ((flags & Statx.AT_STATX_SYNC_TYPE) == Statx.AT_STATX_SYNC_TYPE) return -(long)Errno.EINVAL;
        if ((mask & Statx.STATX__RESERVED) != 0) return -(long)Errno.EINVAL;
        long r = StatOf(t, (int)a.A0, a.A1, flags, out Stat st);
        if (r < 0) return r;
        var (rmaj, rmin) = DeviceRegistry.Split(st.Rdev);
        var (dmaj, dmin) = DeviceRegistry.Split(st.Dev);
        var x = new StatxBuf
        {
            Mask = Statx.STATX_BASIC_STATS,
            Blksize = (uint)st.Blksize,
            Nlink = (uint)st.Nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Mode = (ushort)st.Mode,
            Ino = st.Ino,
            Size = (ulong)st.Size,
            Blocks = (ulong)st.Blocks,
            Atime = new StatxTimestamp { Sec = st.AtimeSec, Nsec = (uint)st.AtimeNsec },
            Mtime = new StatxTimestamp { Sec = st.MtimeSec, Nsec = (uint)st.MtimeNsec },
            Ctime = new StatxTimestamp { Sec = st.CtimeSec, Nsec = (uint)st.CtimeNsec },
            RdevMajor = rmaj,
            RdevMinor = rmin,
            DevMajor = dmaj,
            DevMinor = dmin,
        };
        return t.MemoryManager.CopyOut(a.A4, x);
    }

    /// <summary>Implements Linux syscall statfs(2).</summary>
    public static long Statfs(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out PathPos pos);
        if (r < 0) return r;
        return StatFsOf(t, pos, a.A1);
    }

    /// <summary>Implements Linux syscall fstatfs(2).</summary>
    public static long Fstatfs(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } pos)
        {
            // Pipes and host files: report what Linux reports for pipefs.
            var pipefs = new StatFs { Type = 0x50495045, Bsize = 4096, Frsize = 4096, Namelen = 255 };
            return t.MemoryManager.CopyOut(a.A1, pipefs);
        }
        return StatFsOf(t, pos, a.A1);
    }

    private static long StatFsOf(Task t, PathPos pos, ulong addr)
    {
        long r = pos.Inode.FileSystem.StatFs(out StatFs st);
        if (r < 0) return r;
        const long ST_RDONLY = 1;
        if (pos.Mount.ReadOnly) st.Flags |= ST_RDONLY;
        return t.MemoryManager.CopyOut(addr, st);
    }

    /// <summary>Implements Linux syscall getdents64(2).</summary>
    public static long Getdents64(Task t, in SyscallArgs a) =>
        t.Fds.Get((int)a.A0) is { } f ? f.Getdents(t, a.A1, (int)Math.Min(a.A2, int.MaxValue), is64: true) : -(long)Errno.EBADF;

    /// <summary>Implements Linux syscall getdents(2).</summary>
    public static long Getdents(Task t, in SyscallArgs a) =>
        t.Fds.Get((int)a.A0) is { } f ? f.Getdents(t, a.A1, (int)Math.Min(a.A2, int.MaxValue), is64: false) : -(long)Errno.EBADF;
}
