using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Path-based file system calls: create, remove, rename, links, attributes, cwd.</summary>
public static partial class Linux
{
    /// <summary>Resolves (dirfd, path) to an existing place. With AT_EMPTY_PATH an empty path
    /// names dirfd itself.</summary>
    internal static long LookupAt(Task t, int dirfd, ulong pathAddr, bool follow, bool allowEmpty, out PathPos pos)
    {
        pos = default;
        long r = t.MemoryManager.ReadCString(pathAddr, Resolve.PathMax, out string path);
        if (r < 0) return r;
        if (path.Length == 0 && allowEmpty)
        {
            if (dirfd == AT_FDCWD) { pos = t.Fs.Cwd; return 0; }
            if (t.Fds.Get(dirfd) is not { } f) return -(long)Errno.EBADF;
            if (f.Path is not { } p) return -(long)Errno.EBADF;
            pos = p;
            return 0;
        }
        r = PathResolver.Start(t, dirfd, path, out PathPos start);
        return r < 0 ? r : PathResolver.Resolve(t, start, path, follow, out pos);
    }

    /// <summary>Resolves the parent of (dirfd, path) for a create or remove, checking that the
    /// caller may write the directory and that the mount is writable.</summary>
    private static long ParentForChange(Task t, int dirfd, ulong pathAddr, out PathPos parent, out string name, out bool trailingSlash)
    {
        parent = default;
        name = "";
        trailingSlash = false;
        long r = t.MemoryManager.ReadCString(pathAddr, Resolve.PathMax, out string path);
        if (r < 0) return r;
        r = PathResolver.Start(t, dirfd, path, out PathPos start);
        if (r < 0) return r;
        r = PathResolver.ResolveParent(t, start, path, out parent, out name, out trailingSlash);
        if (r < 0) return r;
        if (name.Length == 0) return -(long)Errno.EEXIST;
        return 0;
    }

    private static long CheckWritableDir(Task t, PathPos dir)
    {
        long r = Permissions.Check(t.Creds, dir.Inode, AccessMode.W_OK | AccessMode.X_OK);
        if (r < 0) return r;
        return dir.Mount.ReadOnly ? -(long)Errno.EROFS : 0;
    }

    /// <summary>Implements Linux syscall mkdir(2).</summary>
    public static long Mkdir(Task t, in SyscallArgs a) => MkdirAt(t, AT_FDCWD, a.A0, (uint)a.A1);

    /// <summary>Implements Linux syscall mkdirat(2).</summary>
    public static long Mkdirat(Task t, in SyscallArgs a) => MkdirAt(t, (int)a.A0, a.A1, (uint)a.A2);

    private static long MkdirAt(Task t, int dirfd, ulong pathAddr, uint mode)
    {
        long r = ParentForChange(t, dirfd, pathAddr, out PathPos parent, out string name, out _);
        if (r < 0) return r;
        if (name is "." or "..") return -(long)Errno.EEXIST;
        if (parent.Dentry.Child(name, out _) == 0) return -(long)Errno.EEXIST;
        r = CheckWritableDir(t, parent);
        if (r < 0) return r;
        r = parent.Inode.CreateChild(name, StatMode.S_IFDIR | (mode & 0x3ff & ~(uint)t.Umask), 0, t.Creds, out Inode? child);
        if (r < 0) return r;
        parent.Dentry.Add(name, child!);
        Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE | Fs.Inotify.IN_ISDIR, name);
        return 0;
    }

    /// <summary>Implements Linux syscall mknod(2).</summary>
    public static long Mknod(Task t, in SyscallArgs a) => MknodAt(t, AT_FDCWD, a.A0, (uint)a.A1, a.A2);

    /// <summary>Implements Linux syscall mknodat(2).</summary>
    public static long Mknodat(Task t, in SyscallArgs a) => MknodAt(t, (int)a.A0, a.A1, (uint)a.A2, a.A3);

    private static long MknodAt(Task t, int dirfd, ulong pathAddr, uint mode, ulong dev)
    {
        uint type = mode & StatMode.S_IFMT;
        if (type == 0) type = StatMode.S_IFREG;
        if (type == StatMode.S_IFDIR) return -(long)Errno.EPERM;
        if (type is not (StatMode.S_IFREG or StatMode.S_IFIFO or StatMode.S_IFCHR or StatMode.S_IFBLK or StatMode.S_IFSOCK))
            return -(long)Errno.EINVAL;
        if (type is StatMode.S_IFCHR or StatMode.S_IFBLK && t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        long r = ParentForChange(t, dirfd, pathAddr, out PathPos parent, out string name, out bool slash);
        if (r < 0) return r;
        if (name is "." or ".." || parent.Dentry.Child(name, out _) == 0) return -(long)Errno.EEXIST;
        if (slash) return -(long)Errno.ENOENT;
        r = CheckWritableDir(t, parent);
        if (r < 0) return r;
        r = parent.Inode.CreateChild(name, type | (mode & 0xfff & ~(uint)t.Umask), dev, t.Creds, out Inode? child);
        if (r < 0) return r;
        parent.Dentry.Add(name, child!);
        Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE, name);
        return 0;
    }

    /// <summary>Implements Linux syscall symlink(2).</summary>
    public static long Symlink(Task t, in SyscallArgs a) => SymlinkAt(t, a.A0, AT_FDCWD, a.A1);

    /// <summary>Implements Linux syscall symlinkat(2).</summary>
    public static long Symlinkat(Task t, in SyscallArgs a) => SymlinkAt(t, a.A0, (int)a.A1, a.A2);

    private static long SymlinkAt(Task t, ulong targetAddr, int dirfd, ulong pathAddr)
    {
        long r = t.MemoryManager.ReadCString(targetAddr, Resolve.PathMax, out string target);
        if (r < 0) return r;
        if (target.Length == 0) return -(long)Errno.ENOENT;
        r = ParentForChange(t, dirfd, pathAddr, out PathPos parent, out string name, out bool slash);
        if (r < 0) return r;
        if (name is "." or ".." || parent.Dentry.Child(name, out _) == 0) return -(long)Errno.EEXIST;
        if (slash) return -(long)Errno.ENOENT;
        r = CheckWritableDir(t, parent);
        if (r < 0) return r;
        r = parent.Inode.CreateSymlink(name, target, t.Creds, out Inode? child);
        if (r < 0) return r;
        parent.Dentry.Add(name, child!);
        Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE, name);
        return 0;
    }

    /// <summary>Implements Linux syscall link(2).</summary>
    public static long Link(Task t, in SyscallArgs a) => LinkAt(t, AT_FDCWD, a.A0, AT_FDCWD, a.A1, 0);

    /// <summary>Implements Linux syscall linkat(2).</summary>
    public static long Linkat(Task t, in SyscallArgs a) => LinkAt(t, (int)a.A0, a.A1, (int)a.A2, a.A3, (int)a.A4);

    private static long LinkAt(Task t, int olddirfd, ulong oldAddr, int newdirfd, ulong newAddr, int flags)
    {
        if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, olddirfd, oldAddr, (flags & AT_SYMLINK_FOLLOW) != 0, (flags & AT_EMPTY_PATH) != 0, out PathPos old);
        if (r < 0) return r;
        if (old.Inode.IsDirectory) return -(long)Errno.EPERM;
        r = ParentForChange(t, newdirfd, newAddr, out PathPos parent, out string name, out bool slash);
        if (r < 0) return r;
        if (name is "." or ".." || parent.Dentry.Child(name, out _) == 0) return -(long)Errno.EEXIST;
        if (slash) return -(long)Errno.ENOENT;
        if (parent.Mount != old.Mount) return -(long)Errno.EXDEV;
        r = CheckWritableDir(t, parent);
        if (r < 0) return r;
        // A file whose last name is gone stays unnamed, except an O_TMPFILE file's first link.
        bool firstLink = old.Inode.Nlink == 0;
        if (firstLink && !old.Inode.Linkable) return -(long)Errno.ENOENT;
        r = parent.Inode.LinkChild(name, old.Inode);
        if (r < 0) return r;
        if (firstLink) old.Inode.Linkable = false;
        parent.Dentry.Add(name, old.Inode);
        Fs.Inotify.Notify(old.Inode, Fs.Inotify.IN_ATTRIB);
        Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE, name);
        return 0;
    }

    /// <summary>Implements Linux syscall unlink(2).</summary>
    public static long Unlink(Task t, in SyscallArgs a) => RemoveAt(t, AT_FDCWD, a.A0, rmdir: false);

    /// <summary>Implements Linux syscall rmdir(2).</summary>
    public static long Rmdir(Task t, in SyscallArgs a) => RemoveAt(t, AT_FDCWD, a.A0, rmdir: true);

    /// <summary>Implements Linux syscall unlinkat(2).</summary>
    public static long Unlinkat(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A2;
        if ((flags & ~AT_REMOVEDIR) != 0) return -(long)Errno.EINVAL;
        return RemoveAt(t, (int)a.A0, a.A1, rmdir: (flags & AT_REMOVEDIR) != 0);
    }

    private static long RemoveAt(Task t, int dirfd, ulong pathAddr, bool rmdir)
    {
        long r = ParentForChange(t, dirfd, pathAddr, out PathPos parent, out string name, out bool slash);
        if (r == -(long)Errno.EEXIST && name.Length == 0) return rmdir ? -(long)Errno.EBUSY : -(long)Errno.EISDIR;
        if (r < 0) return r;
        if (rmdir && name == ".") return -(long)Errno.EINVAL;
        if (rmdir && name == "..") return -(long)Errno.ENOTEMPTY;
        if (!rmdir && name is "." or "..") return -(long)Errno.EISDIR;
        r = parent.Dentry.Child(name, out Dentry? victim);
        if (r < 0) return r;
        if (!rmdir && slash && !victim!.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        r = CheckWritableDir(t, parent);
        if (r < 0) return r;
        if (!Permissions.MayDeleteFromSticky(t.Creds, parent.Inode, victim!.Inode)) return -(long)Errno.EPERM;
        if (MountNamespace.Cross(new PathPos(parent.Mount, victim)).Mount != parent.Mount) return -(long)Errno.EBUSY;
        r = parent.Inode.RemoveChild(name, rmdir);
        if (r < 0) return r;
        parent.Dentry.Invalidate(name, deleted: true);
        if (Fs.Inotify.Active)
        {
            var victimInode = victim.Inode;
            Fs.Inotify.Notify(victimInode, rmdir || victimInode.Nlink == 0 ? Fs.Inotify.IN_DELETE_SELF : Fs.Inotify.IN_ATTRIB);
            Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_DELETE | (rmdir ? Fs.Inotify.IN_ISDIR : 0), name);
        }
        return 0;
    }

    /// <summary>Implements Linux syscall rename(2).</summary>
    public static long Rename(Task t, in SyscallArgs a) => RenameAt(t, AT_FDCWD, a.A0, AT_FDCWD, a.A1, 0);

    /// <summary>Implements Linux syscall renameat(2).</summary>
    public static long Renameat(Task t, in SyscallArgs a) => RenameAt(t, (int)a.A0, a.A1, (int)a.A2, a.A3, 0);

    /// <summary>Implements Linux syscall renameat2(2).</summary>
    public static long Renameat2(Task t, in SyscallArgs a) => RenameAt(t, (int)a.A0, a.A1, (int)a.A2, a.A3, (uint)a.A4);

    private static long RenameAt(Task t, int olddirfd, ulong oldAddr, int newdirfd, ulong newAddr, uint flags)
    {
        if ((flags & ~(RenameFlags.RENAME_NOREPLACE | RenameFlags.RENAME_EXCHANGE | RenameFlags.RENAME_WHITEOUT)) != 0)
            return -(long)Errno.EINVAL;
        if ((flags & RenameFlags.RENAME_EXCHANGE) != 0 && (flags & (RenameFlags.RENAME_NOREPLACE | RenameFlags.RENAME_WHITEOUT)) != 0)
            return -(long)Errno.EINVAL;
        if ((flags & RenameFlags.RENAME_WHITEOUT) != 0) return -(long)Errno.EINVAL;
        long r = ParentForChange(t, olddirfd, oldAddr, out PathPos oldParent, out string oldName, out bool oldSlash);
        if (r == -(long)Errno.EEXIST && oldName.Length == 0) return -(long)Errno.EBUSY;
        if (r < 0) return r;
        r = ParentForChange(t, newdirfd, newAddr, out PathPos newParent, out string newName, out bool newSlash);
        if (r == -(long)Errno.EEXIST && newName.Length == 0) return -(long)Errno.EBUSY;
        if (r < 0) return r;
        if (oldName is "." or ".." || newName is "." or "..") return -(long)Errno.EBUSY;
        r = oldParent.Dentry.Child(oldName, out Dentry? moving);
        if (r < 0) return r;
        if ((oldSlash || newSlash) && !moving!.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        if (oldParent.Mount != newParent.Mount) return -(long)Errno.EXDEV;
        r = CheckWritableDir(t, oldParent);
        if (r == 0) r = CheckWritableDir(t, newParent);
        if (r < 0) return r;
        if (!Permissions.MayDeleteFromSticky(t.Creds, oldParent.Inode, moving!.Inode)) return -(long)Errno.EPERM;
        // A directory cannot move into its own subtree.
        if (moving.Inode.IsDirectory)
            for (Dentry? d = newParent.Dentry; d != null; d = d.Parent)
                if (d == moving) return -(long)Errno.EINVAL;
        bool replaced = newParent.Dentry.Child(newName, out Dentry? victim) == 0;
        if (replaced && victim == moving) return 0;
        if (replaced && !Permissions.MayDeleteFromSticky(t.Creds, newParent.Inode, victim!.Inode)) return -(long)Errno.EPERM;
        r = oldParent.Inode.RenameChild(oldName, newParent.Inode, newName, flags);
        if (r < 0) return r;
        if ((flags & RenameFlags.RENAME_EXCHANGE) != 0)
        {
            oldParent.Dentry.Invalidate(oldName, deleted: false);
            newParent.Dentry.Invalidate(newName, deleted: false);
            moving.MoveTo(newParent.Dentry, newName);
            victim!.MoveTo(oldParent.Dentry, oldName);
            return 0;
        }
        if (replaced) newParent.Dentry.Invalidate(newName, deleted: true);
        moving.MoveTo(newParent.Dentry, newName);
        if (Fs.Inotify.Active)
        {
            uint cookie = Fs.Inotify.NewCookie(), dir = moving.Inode.IsDirectory ? Fs.Inotify.IN_ISDIR : 0;
            Fs.Inotify.Notify(oldParent.Inode, Fs.Inotify.IN_MOVED_FROM | dir, oldName, cookie);
            Fs.Inotify.Notify(newParent.Inode, Fs.Inotify.IN_MOVED_TO | dir, newName, cookie);
            Fs.Inotify.Notify(moving.Inode, Fs.Inotify.IN_MOVE_SELF);
        }
        return 0;
    }

    /// <summary>Implements Linux syscall readlink(2).</summary>
    public static long Readlink(Task t, in SyscallArgs a) => ReadlinkAt(t, AT_FDCWD, a.A0, a.A1, (int)a.A2);

    /// <summary>Implements Linux syscall readlinkat(2).</summary>
    public static long Readlinkat(Task t, in SyscallArgs a) => ReadlinkAt(t, (int)a.A0, a.A1, a.A2, (int)a.A3);

    private static long ReadlinkAt(Task t, int dirfd, ulong pathAddr, ulong buf, int size)
    {
        if (size <= 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, dirfd, pathAddr, follow: false, allowEmpty: true, out PathPos pos);
        if (r < 0) return r;
        if (!pos.Inode.IsSymlink) return -(long)Errno.EINVAL;
        r = pos.Inode.ReadLink(out string target);
        if (r < 0) return r;
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(target);
        int n = Math.Min(bytes.Length, size);
        r = t.MemoryManager.CopyOut(buf, bytes.AsSpan(0, n));
        return r < 0 ? r : n;
    }

    /// <summary>Implements Linux syscall chdir(2).</summary>
    public static long Chdir(Task t, in SyscallArgs a)
    {
        long r = LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out PathPos pos);
        if (r < 0) return r;
        if (!pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        r = Permissions.Check(t.Creds, pos.Inode, AccessMode.X_OK);
        if (r < 0) return r;
        t.Fs.Cwd = pos;
        return 0;
    }

    /// <summary>Implements Linux syscall fchdir(2).</summary>
    public static long Fchdir(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } pos || !pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        long r = Permissions.Check(t.Creds, pos.Inode, AccessMode.X_OK);
        if (r < 0) return r;
        t.Fs.Cwd = pos;
        return 0;
    }

    /// <summary>Implements Linux syscall chroot(2).</summary>
    public static long Chroot(Task t, in SyscallArgs a)
    {
        if (t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        long r = LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out PathPos pos);
        if (r < 0) return r;
        if (!pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        t.Fs.Root = pos;
        return 0;
    }

    /// <summary>Implements Linux syscall getcwd(2).</summary>
    public static long Getcwd(Task t, in SyscallArgs a)
    {
        var cwd = t.Fs.Cwd;
        if (cwd.Dentry.Deleted) return -(long)Errno.ENOENT;
        // A cwd the walk up never reaches the root from (outside a chroot, or on an unmounted
        // mount) reads as "(unreachable)/...", as on Linux.
        string where = MountNamespace.PathOf(cwd, t.Fs.Root, out bool reachable);
        byte[] path = System.Text.Encoding.UTF8.GetBytes((reachable ? "" : "(unreachable)") + where + "\0");
        if (a.A1 < (ulong)path.Length) return -(long)Errno.ERANGE;
        long r = t.MemoryManager.CopyOut(a.A0, path);
        return r < 0 ? r : path.Length;
    }

    /// <summary>Implements Linux syscall access(2).</summary>
    public static long Access(Task t, in SyscallArgs a) => AccessAt(t, AT_FDCWD, a.A0, (int)a.A1, 0);

    /// <summary>Implements Linux syscall faccessat(2).</summary>
    public static long Faccessat(Task t, in SyscallArgs a) => AccessAt(t, (int)a.A0, a.A1, (int)a.A2, 0);

    /// <summary>Implements Linux syscall faccessat2(2).</summary>
    public static long Faccessat2(Task t, in SyscallArgs a) => AccessAt(t, (int)a.A0, a.A1, (int)a.A2, (int)a.A3);

    private static long AccessAt(Task t, int dirfd, ulong pathAddr, int mode, int flags)
    {
        if ((mode & ~7) != 0) return -(long)Errno.EINVAL;
        if ((flags & ~(AccessMode.AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, dirfd, pathAddr, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, out PathPos pos);
        if (r < 0) return r;
        if ((mode & AccessMode.W_OK) != 0 && pos.Mount.ReadOnly && !pos.Inode.IsSymlink
            && (pos.Inode.IsRegular || pos.Inode.IsDirectory)) return -(long)Errno.EROFS;
        bool real = (flags & AccessMode.AT_EACCESS) == 0;
        return Permissions.Allowed(t.Creds, pos.Inode, mode, useRealIds: real) ? 0 : -(long)Errno.EACCES;
    }
}
