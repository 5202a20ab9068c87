using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>open(2) and its relatives.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall open(2).</summary>
    public static long Open(Task t, in SyscallArgs a) => OpenAt(t, AT_FDCWD, a.A0, (int)a.A1, (uint)a.A2, 0);

    /// <summary>Implements Linux syscall openat(2).</summary>
    public static long Openat(Task t, in SyscallArgs a) => OpenAt(t, (int)a.A0, a.A1, (int)a.A2, (uint)a.A3, 0);

    /// <summary>Implements Linux syscall creat(2).</summary>
    public static long Creat(Task t, in SyscallArgs a) => OpenAt(t, AT_FDCWD, a.A0, O_CREAT | O_WRONLY | O_TRUNC, (uint)a.A1, 0);

    /// <summary>Implements Linux syscall openat2(2).</summary>
    public static long Openat2(Task t, in SyscallArgs a)
    {
        const ulong OpenHowSize = 24;
        if (a.A3 < OpenHowSize) return -(long)Errno.EINVAL;
        if (a.A3 > 4096) return -(long)Errno.E2BIG;
        if (t.MemoryManager.CopyIn(a.A2, out OpenHow how) < 0) return -(long)Errno.EFAULT;
        // Unknown trailing bytes of a larger struct must be zero.
        if (a.A3 > OpenHowSize)
        {
            Span<byte> rest = stackalloc byte[(int)(a.A3 - OpenHowSize)];
            if (t.MemoryManager.CopyIn(a.A2 + OpenHowSize, rest) < 0) return -(long)Errno.EFAULT;
            if (rest.ContainsAnyExcept((byte)0)) return -(long)Errno.E2BIG;
        }
        const ulong KnownResolve = Resolve.RESOLVE_NO_XDEV | Resolve.RESOLVE_NO_MAGICLINKS | Resolve.RESOLVE_NO_SYMLINKS
            | Resolve.RESOLVE_BENEATH | Resolve.RESOLVE_IN_ROOT | Resolve.RESOLVE_CACHED;
        if ((how.Resolve & ~KnownResolve) != 0 || how.Flags > int.MaxValue) return -(long)Errno.EINVAL;
        if ((how.Resolve & Resolve.RESOLVE_BENEATH) != 0 && (how.Resolve & Resolve.RESOLVE_IN_ROOT) != 0) return -(long)Errno.EINVAL;
        int flags = (int)how.Flags;
        if (how.Mode > 0xfff || ((flags & (O_CREAT | O_TMPFILE)) == 0 && how.Mode != 0)) return -(long)Errno.EINVAL;
        if ((how.Resolve & Resolve.RESOLVE_CACHED) != 0) return -(long)Errno.EAGAIN;
        return OpenAt(t, (int)a.A0, a.A1, flags, (uint)how.Mode, how.Resolve);
    }

    private const int KnownOpenFlags = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK
        | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC
        | O_PATH | O_TMPFILE;

    internal static long OpenAt(Task t, int dirfd, ulong pathAddr, int flags, uint mode, ulong resolve)
    {
        long r = t.MemoryManager.ReadCString(pathAddr, Resolve.PathMax, out string path);
        if (r < 0) return r;
        if (resolve != 0 && (flags & ~KnownOpenFlags) != 0) return -(long)Errno.EINVAL;
        if ((flags & O_PATH) != 0) flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        r = OpenPath(t, dirfd, path, flags, mode, resolve, out FileDescription? file);
        if (r < 0) return r;
        long fd = t.Fds.Allocate(file!, 0, (flags & O_CLOEXEC) != 0);
        file!.DecRef();
        return fd;
    }

    /// <summary>The VFS side of open: resolve (creating if asked), check, open the inode.</summary>
    /// <summary>A symlink's target as a path usable from anywhere: absolute as is, relative to
    /// the link's directory otherwise.</summary>
    private static string JoinLinkTarget(Task t, PathPos linkDir, string target) =>
        target.StartsWith('/') ? target : MountNamespace.PathOf(linkDir, t.Fs.Root).TrimEnd('/') + "/" + target;

    internal static long OpenPath(Task t, int dirfd, string path, int flags, uint mode, ulong resolve, out FileDescription? file, int depth = 0)
    {
        file = null;
        // RESOLVE_BENEATH / RESOLVE_IN_ROOT walks are anchored at dirfd even for "/..." paths.
        bool anchored = (resolve & (Resolve.RESOLVE_BENEATH | Resolve.RESOLVE_IN_ROOT)) != 0;
        long r = PathResolver.Start(t, dirfd, path, out PathPos start, anchored);
        if (r < 0) return r;
        int access = flags & O_ACCMODE;
        bool wantsWrite = access is O_WRONLY or O_RDWR || (flags & O_TRUNC) != 0;
        bool created = false;
        PathPos pos;

        // O_TMPFILE is __O_TMPFILE | O_DIRECTORY; the first alone is invalid.
        if ((flags & O_TMPFILE & ~O_DIRECTORY) != 0)
            return (flags & O_TMPFILE) == O_TMPFILE ? OpenTmpfile(t, start, path, flags, mode, resolve, out file) : -(long)Errno.EINVAL;

        if ((flags & O_CREAT) != 0)
        {
            r = PathResolver.ResolveParent(t, start, path, out PathPos parent, out string name, out bool trailingSlash, resolve);
            if (r < 0) return r;
            if (name is "" or "." or ".." || trailingSlash) return -(long)Errno.EISDIR;
            r = parent.Dentry.Child(name, out Dentry? existing);
            if (r == 0 && existing!.Inode.IsSymlink && (flags & (O_EXCL | O_NOFOLLOW)) == 0 && existing.Inode.FollowMagic(t) == null
                && PathResolver.Resolve(t, parent, name, followFinal: true, out _, resolve) == -(long)Errno.ENOENT
                && existing.Inode.ReadLink(out string linkTarget) == 0 && linkTarget.Length > 0 && depth < Resolve.MaxSymlinkFollows)
            {
                // A dangling symlink: O_CREAT creates the file it points to.
                return OpenPath(t, dirfd, JoinLinkTarget(t, parent, linkTarget), flags, mode, resolve, out file, depth + 1);
            }
            if (r == 0)
            {
                if ((flags & O_EXCL) != 0) return -(long)Errno.EEXIST;
                r = PathResolver.Resolve(t, start, path, (flags & O_NOFOLLOW) == 0, out pos, resolve);
                if (r < 0) return r;
            }
            else if (r == -(long)Errno.ENOENT)
            {
                r = Permissions.Check(t.Creds, parent.Inode, AccessMode.W_OK | AccessMode.X_OK);
                if (r < 0) return r;
                if (parent.Mount.ReadOnly) return -(long)Errno.EROFS;
                r = parent.Inode.CreateChild(name, StatMode.S_IFREG | (mode & 0xfff & ~(uint)t.Umask), 0, t.Creds, out Inode? inode);
                if (r < 0) return r;
                pos = new PathPos(parent.Mount, parent.Dentry.Add(name, inode!));
                created = true;
                Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE, name);
            }
            else return r;
        }
        else
        {
            r = PathResolver.Resolve(t, start, path, (flags & O_NOFOLLOW) == 0, out pos, resolve);
            if (r < 0) return r;
        }

        Inode target = pos.Inode;
        if (target.IsSymlink && (flags & O_PATH) == 0) return -(long)Errno.ELOOP;
        if ((flags & O_DIRECTORY) != 0 && !target.IsDirectory) return -(long)Errno.ENOTDIR;
        if ((flags & O_PATH) != 0)
        {
            file = new OPathFile(pos, flags);
            return 0;
        }
        if (target.IsDirectory && (wantsWrite || (flags & O_CREAT) != 0)) return -(long)Errno.EISDIR;
        if (!created)
        {
            int need = (access is O_RDONLY or O_RDWR ? AccessMode.R_OK : 0) | (wantsWrite ? AccessMode.W_OK : 0);
            r = Permissions.Check(t.Creds, target, need);
            if (r < 0) return r;
        }
        if (wantsWrite && pos.Mount.ReadOnly && (target.IsRegular || target.IsDirectory)) return -(long)Errno.EROFS;
        r = target.Open(t, pos, flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC), out file);
        if (r < 0) return r;
        Fs.Inotify.FileEvent(pos, Fs.Inotify.IN_OPEN);
        if ((flags & O_TRUNC) != 0 && target.IsRegular && !created)
        {
            r = file!.Truncate(0);
            if (r < 0) { file.DecRef(); file = null; return r; }
        }
        return 0;
    }

    /// <summary>O_TMPFILE: an unnamed regular file in the directory's file system (tmpfs, or the
    /// overlay's upper layer). Unless O_EXCL was given, linkat can name it later.</summary>
    private static long OpenTmpfile(Task t, PathPos start, string path, int flags, uint mode, ulong resolve, out FileDescription? file)
    {
        file = null;
        if ((flags & O_ACCMODE) == O_RDONLY || (flags & O_CREAT) != 0) return -(long)Errno.EINVAL;
        long r = PathResolver.Resolve(t, start, path, followFinal: true, out PathPos dir, resolve);
        if (r < 0) return r;
        if (!dir.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        r = Permissions.Check(t.Creds, dir.Inode, AccessMode.W_OK | AccessMode.X_OK);
        if (r < 0) return r;
        if (dir.Mount.ReadOnly) return -(long)Errno.EROFS;
        r = dir.Inode.CreateTmpfile(StatMode.S_IFREG | (mode & 0xfff & ~(uint)t.Umask), t.Creds, out Inode? inode);
        if (r < 0) return r;
        inode!.Linkable = (flags & O_EXCL) == 0;
        var dentry = new Dentry($"#{inode.Ino}", dir.Dentry, inode);
        dentry.MarkDeleted();
        return inode.Open(t, new PathPos(dir.Mount, dentry), flags & ~(O_TMPFILE | O_EXCL | O_CLOEXEC), out file);
    }
}

/// <summary>An O_PATH descriptor: names a place for *at() calls and fstat; no I/O.</summary>
public sealed class OPathFile : FileDescription
{
    public OPathFile(PathPos path, int flags)
    {
        Path = path;
        Flags = flags;
    }

    public override string Name => Path!.Value.Dentry.Name;

    public override long Read(Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EBADF;

    public override long Write(Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EBADF;

    public override long Ioctl(Task task, uint request, ulong arg) => -(long)Errno.EBADF;

    public override long Getdents(Task task, ulong addr, int count, bool is64) => -(long)Errno.EBADF;
}
