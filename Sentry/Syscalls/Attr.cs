using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Changing attributes: mode, owner, times, size; and the sync family.</summary>
public static partial class Linux
{
    private static long SetAttrChecked(Task t, PathPos pos, in SetAttrRequest req)
    {
        if (pos.Mount.ReadOnly) return -(long)Errno.EROFS;
        long r = pos.Inode.SetAttr(req);
        if (r == 0) Fs.Inotify.FileEvent(pos, req.Size != null ? Fs.Inotify.IN_MODIFY : Fs.Inotify.IN_ATTRIB);
        return r;
    }

    private static long FdPath(Task t, ulong fd, out PathPos pos)
    {
        pos = default;
        if (t.Fds.Get((int)fd) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } p) return -(long)Errno.EBADF;
        pos = p;
        return 0;
    }

    /// <summary>Implements Linux syscall chmod(2).</summary>
    public static long Chmod(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, true, false, out PathPos pos);
        return r < 0 ? r : ChmodPos(t, pos, (uint)a.A1);
    }

    /// <summary>Implements Linux syscall fchmod(2).</summary>
    public static long Fchmod(Task t, in SyscallArgs a)
    {
        long r = FdPath(t, a.A0, out PathPos pos);
        return r < 0 ? r : ChmodPos(t, pos, (uint)a.A1);
    }

    /// <summary>Implements Linux syscall fchmodat(2).</summary>
    public static long Fchmodat(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, (int)a.A0, a.A1, true, false, out PathPos pos);
        return r < 0 ? r : ChmodPos(t, pos, (uint)a.A2);
    }

    private static long ChmodPos(Task t, PathPos pos, uint mode)
    {
        if (!Permissions.IsOwnerOrRoot(t.Creds, pos.Inode)) return -(long)Errno.EPERM;
        mode &= 0xfff;
        // Only group members (or root) may keep the set-group-ID bit.
        if (t.Creds.EffectiveUid != 0 && t.Creds.EffectiveGid != pos.Inode.Gid
            && Array.IndexOf(t.Creds.Groups, pos.Inode.Gid) < 0) mode &= ~0x400u;
        return SetAttrChecked(t, pos, new SetAttrRequest { Mode = mode });
    }

    /// <summary>Implements Linux syscall chown(2).</summary>
    public static long Chown(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, true, false, out PathPos pos);
        return r < 0 ? r : ChownPos(t, pos, (uint)a.A1, (uint)a.A2);
    }

    /// <summary>Implements Linux syscall lchown(2).</summary>
    public static long Lchown(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, false, false, out PathPos pos);
        return r < 0 ? r : ChownPos(t, pos, (uint)a.A1, (uint)a.A2);
    }

    /// <summary>Implements Linux syscall fchown(2).</summary>
    public static long Fchown(Task t, in SyscallArgs a)
    {
        long r = FdPath(t, a.A0, out PathPos pos);
        return r < 0 ? r : ChownPos(t, pos, (uint)a.A1, (uint)a.A2);
    }

    /// <summary>Implements Linux syscall fchownat(2).</summary>
    public static long Fchownat(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A4;
        if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, (int)a.A0, a.A1, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, out PathPos pos);
        return r < 0 ? r : ChownPos(t, pos, (uint)a.A2, (uint)a.A3);
    }

    private static long ChownPos(Task t, PathPos pos, uint uid, uint gid)
    {
        var c = t.Creds;
        var inode = pos.Inode;
        bool changeUid = uid != uint.MaxValue && uid != inode.Uid;
        bool changeGid = gid != uint.MaxValue && gid != inode.Gid;
        if (c.EffectiveUid != 0)
        {
            // Without CAP_CHOWN: only the owner may change the group, to one of its own groups.
            if (changeUid) return -(long)Errno.EPERM;
            if (changeGid && (c.EffectiveUid != inode.Uid || (gid != c.EffectiveGid && Array.IndexOf(c.Groups, gid) < 0)))
                return -(long)Errno.EPERM;
        }
        var req = new SetAttrRequest
        {
            Uid = uid == uint.MaxValue ? null : uid,
            Gid = gid == uint.MaxValue ? null : gid,
        };
        // A chown clears set-user-ID and set-group-ID on executables.
        if ((changeUid || changeGid) && !inode.IsDirectory && (inode.Mode & 0x49) != 0) req.Mode = inode.Mode & 0xfff & ~0xc00u;
        return SetAttrChecked(t, pos, req);
    }

    /// <summary>Implements Linux syscall utimensat(2).</summary>
    public static long Utimensat(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A3;
        if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -(long)Errno.EINVAL;
        PathPos pos;
        long r = a.A1 == 0
            ? FdOrCwd(t, (int)a.A0, out pos)
            : LookupAt(t, (int)a.A0, a.A1, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, out pos);
        if (r < 0) return r;
        Timespec? atime = null, mtime = null;
        bool explicitTimes = false;
        if (a.A2 == 0)
        {
            atime = mtime = Inode.Now();
        }
        else
        {
            Span<Timespec> ts = stackalloc Timespec[2];
            if (t.MemoryManager.CopyIn(a.A2, System.Runtime.InteropServices.MemoryMarshal.AsBytes(ts)) < 0) return -(long)Errno.EFAULT;
            for (int i = 0; i < 2; i++)
            {
                if (ts[i].Nsec == RenameFlags.UTIME_OMIT) continue;
                if (ts[i].Nsec != RenameFlags.UTIME_NOW && (ts[i].Nsec < 0 || ts[i].Nsec >= 1_000_000_000)) return -(long)Errno.EINVAL;
                Timespec v = ts[i].Nsec == RenameFlags.UTIME_NOW ? Inode.Now() : ts[i];
                explicitTimes |= ts[i].Nsec != RenameFlags.UTIME_NOW;
                if (i == 0) atime = v; else mtime = v;
            }
            if (atime == null && mtime == null) return 0;
        }
        return UpdateTimes(t, pos, atime, mtime, explicitTimes);
    }

    private static long FdOrCwd(Task t, int fd, out PathPos pos)
    {
        if (fd == AT_FDCWD) { pos = t.Fs.Cwd; return 0; }
        return FdPath(t, (ulong)fd, out pos);
    }

    private static long UpdateTimes(Task t, PathPos pos, Timespec? atime, Timespec? mtime, bool explicitTimes)
    {
        if (!Permissions.IsOwnerOrRoot(t.Creds, pos.Inode))
        {
            if (explicitTimes) return -(long)Errno.EPERM;
            if (!Permissions.Allowed(t.Creds, pos.Inode, AccessMode.W_OK)) return -(long)Errno.EACCES;
        }
        return SetAttrChecked(t, pos, new SetAttrRequest { Atime = atime, Mtime = mtime });
    }

    /// <summary>Implements Linux syscall utime(2).</summary>
    public static long Utime(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, true, false, out PathPos pos);
        if (r < 0) return r;
        if (a.A1 == 0) return UpdateTimes(t, pos, Inode.Now(), Inode.Now(), false);
        Span<long> times = stackalloc long[2]; // struct utimbuf { actime, modtime }
        if (t.MemoryManager.CopyIn(a.A1, System.Runtime.InteropServices.MemoryMarshal.AsBytes(times)) < 0) return -(long)Errno.EFAULT;
        return UpdateTimes(t, pos, new Timespec(times[0], 0), new Timespec(times[1], 0), true);
    }

    /// <summary>Implements Linux syscall utimes(2).</summary>
    public static long Utimes(Task t, in SyscallArgs a) => FutimesAt(t, AT_FDCWD, a.A0, a.A1);

    /// <summary>Implements Linux syscall futimesat(2).</summary>
    public static long Futimesat(Task t, in SyscallArgs a) => FutimesAt(t, (int)a.A0, a.A1, a.A2);

    private static long FutimesAt(Task t, int dirfd, ulong pathAddr, ulong timesAddr)
    {
        long r = LookupAt(t, dirfd, pathAddr, true, false, out PathPos pos);
        if (r < 0) return r;
        if (timesAddr == 0) return UpdateTimes(t, pos, Inode.Now(), Inode.Now(), false);
        Span<Timeval> tv = stackalloc Timeval[2];
        if (t.MemoryManager.CopyIn(timesAddr, System.Runtime.InteropServices.MemoryMarshal.AsBytes(tv)) < 0) return -(long)Errno.EFAULT;
        foreach (var v in tv) if (v.Usec < 0 || v.Usec >= 1_000_000) return -(long)Errno.EINVAL;
        return UpdateTimes(t, pos, new Timespec(tv[0].Sec, tv[0].Usec * 1000), new Timespec(tv[1].Sec, tv[1].Usec * 1000), true);
    }

    /// <summary>Implements Linux syscall truncate(2).</summary>
    public static long TruncatePath(Task t, in SyscallArgs a)
    {
        if ((long)a.A1 < 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, AT_FDCWD, a.A0, true, false, out PathPos pos);
        if (r < 0) return r;
        if (pos.Inode.IsDirectory) return -(long)Errno.EISDIR;
        if (!pos.Inode.IsRegular) return -(long)Errno.EINVAL;
        r = Permissions.Check(t.Creds, pos.Inode, AccessMode.W_OK);
        if (r < 0) return r;
        return SetAttrChecked(t, pos, new SetAttrRequest { Size = (long)a.A1 });
    }

    /// <summary>Implements Linux syscall ftruncate(2).</summary>
    public static long Ftruncate(Task t, in SyscallArgs a)
    {
        if ((long)a.A1 < 0) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A0) is not { } f || f is OPathFile) return -(long)Errno.EBADF;
        if (!f.Writable || f.Path is not { } pos || !pos.Inode.IsRegular) return -(long)Errno.EINVAL;
        long r = f.Truncate((long)a.A1);
        if (r == 0) Fs.Inotify.FileEvent(pos, Fs.Inotify.IN_MODIFY);
        return r;
    }

    /// <summary>Implements Linux syscall fallocate(2).</summary>
    public static long Fallocate(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (!f.Writable) return -(long)Errno.EBADF;
        if (f.Path is not { } pos) return -(long)Errno.ESPIPE;
        if (pos.Inode.IsDirectory) return -(long)Errno.EISDIR;
        if (!pos.Inode.IsRegular) return -(long)Errno.ENODEV;
        return f.Allocate((int)a.A1, (long)a.A2, (long)a.A3);
    }

    /// <summary>Implements Linux syscalls fsync(2) and fdatasync(2).</summary>
    public static long Fsync(Task t, in SyscallArgs a) => t.Fds.Get((int)a.A0) is { } f ? f.Sync() : -(long)Errno.EBADF;

    /// <summary>Implements Linux syscall sync(2): every file system here is synchronous or
    /// writes through to the Gofer already.</summary>
    public static long Sync(Task t, in SyscallArgs a) => 0;

    /// <summary>Implements Linux syscall syncfs(2).</summary>
    public static long Syncfs(Task t, in SyscallArgs a) => t.Fds.Get((int)a.A0) != null ? 0 : -(long)Errno.EBADF;

    /// <summary>Implements Linux syscall sync_file_range(2).</summary>
    public static long SyncFileRange(Task t, in SyscallArgs a)
    {
        if ((long)a.A1 < 0 || (long)a.A2 < 0 || (a.A3 & ~7UL) != 0) return -(long)Errno.EINVAL;
        return t.Fds.Get((int)a.A0) != null ? 0 : -(long)Errno.EBADF;
    }

    /// <summary>Implements Linux syscall fadvise64(2): advice is accepted, it changes nothing here.</summary>
    public static long Fadvise64(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f.Path == null) return -(long)Errno.ESPIPE;
        return a.A3 <= 5 && (long)a.A2 >= 0 ? 0 : -(long)Errno.EINVAL;
    }
}
