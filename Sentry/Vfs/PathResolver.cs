using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.Resolve;

namespace Sandbox.Sentry.Vfs;

/// <summary>Path walks: one component at a time from a starting place, through mounts,
/// "." and ".." (never above the task's root), and symlinks (ELOOP after 40), with
/// openat2's RESOLVE_* restrictions.</summary>
public static class PathResolver
{
    private ref struct Walk
    {
        public Task Task;
        public PathPos Root;
        public ulong Flags;
        public int Links;
    }

    /// <summary>Where a relative path starts for *at(dirfd, path) calls.</summary>
    public static long Start(Task t, int dirfd, string path, out PathPos start, bool relativeToDirfd = false)
    {
        start = t.Fs.Cwd;
        if (path.StartsWith('/') && !relativeToDirfd) { start = t.Fs.Root; return 0; }
        if (dirfd == OpenFlags.AT_FDCWD) return 0;
        if (t.Fds.Get(dirfd) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } p) return -(long)Errno.ENOTDIR;
        if (!p.Inode.IsDirectory && path.Length > 0) return -(long)Errno.ENOTDIR;
        start = p;
        return 0;
    }

    /// <summary>Resolves path to an existing place. followFinal: whether a symlink as the last
    /// component is followed (it always is when the path ends in '/').</summary>
    public static long Resolve(Task t, PathPos start, string path, bool followFinal, out PathPos result, ulong resolveFlags = 0)
    {
        result = start;
        if (path.Length == 0) return -(long)Errno.ENOENT;
        if (path.Length >= PathMax) return -(long)Errno.ENAMETOOLONG;
        var w = NewWalk(t, start, resolveFlags);
        return WalkPath(ref w, start, path, followFinal, out result);
    }

    /// <summary>Resolves all but the last component. name is the last component ("" for "/",
    /// or "." / ".." as written); trailingSlash tells whether the path ended in '/'.</summary>
    public static long ResolveParent(Task t, PathPos start, string path, out PathPos parent, out string name,
        out bool trailingSlash, ulong resolveFlags = 0)
    {
        parent = start;
        name = "";
        trailingSlash = false;
        if (path.Length == 0) return -(long)Errno.ENOENT;
        if (path.Length >= PathMax) return -(long)Errno.ENAMETOOLONG;
        string trimmed = path.TrimEnd('/');
        trailingSlash = trimmed.Length != path.Length;
        var w = NewWalk(t, start, resolveFlags);
        if (trimmed.Length == 0)
        {
            // "/" or "///": the root itself.
            if ((resolveFlags & RESOLVE_BENEATH) != 0) return -(long)Errno.EXDEV;
            parent = w.Root;
            return 0;
        }
        int slash = trimmed.LastIndexOf('/');
        name = trimmed[(slash + 1)..];
        if (name.Length > NameMax) return -(long)Errno.ENAMETOOLONG;
        if (slash < 0) return CheckSearchable(ref w, start);
        string dir = slash == 0 ? "/" : trimmed[..slash];
        long r = WalkPath(ref w, start, dir, followFinal: true, out parent);
        if (r < 0) return r;
        if (!parent.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        return CheckSearchable(ref w, parent);
    }

    private static long CheckSearchable(ref Walk w, PathPos dir)
    {
        if (!dir.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        return Permissions.Check(w.Task.Creds, dir.Inode, AccessMode.X_OK);
    }

    private static Walk NewWalk(Task t, PathPos start, ulong flags) => new()
    {
        Task = t,
        Flags = flags,
        Root = (flags & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) != 0 ? start : t.Fs.Root,
    };

    private static long WalkPath(ref Walk w, PathPos pos, string path, bool followFinal, out PathPos result)
    {
        result = pos;
        if (path.StartsWith('/'))
        {
            if ((w.Flags & RESOLVE_BENEATH) != 0) return -(long)Errno.EXDEV;
            pos = w.Root;
        }
        bool trailingSlash = path.EndsWith('/');
        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string comp = parts[i];
            bool last = i == parts.Length - 1;
            if (!pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
            long r = Permissions.Check(w.Task.Creds, pos.Inode, AccessMode.X_OK);
            if (r < 0) return r;
            if (comp == ".") continue;
            if (comp == "..")
            {
                r = Parent(ref w, ref pos);
                if (r < 0) return r;
                continue;
            }
            if (comp.Length > NameMax) return -(long)Errno.ENAMETOOLONG;
            r = pos.Dentry.Child(comp, out Dentry? child);
            if (r < 0) return r;
            PathPos next = MountNamespace.Cross(new PathPos(pos.Mount, child!));
            if (next.Mount != pos.Mount && (w.Flags & RESOLVE_NO_XDEV) != 0) return -(long)Errno.EXDEV;
            if (next.Inode.IsSymlink && (!last || followFinal || trailingSlash))
            {
                if ((w.Flags & RESOLVE_NO_SYMLINKS) != 0) return -(long)Errno.ELOOP;
                if (++w.Links > MaxSymlinkFollows) return -(long)Errno.ELOOP;
                if (next.Inode.FollowMagic(w.Task) is { } magic)
                {
                    if ((w.Flags & (RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT)) != 0) return -(long)Errno.ELOOP;
                    if ((w.Flags & RESOLVE_NO_XDEV) != 0 && magic.Mount != pos.Mount) return -(long)Errno.EXDEV;
                    pos = magic;
                    continue;
                }
                r = next.Inode.ReadLink(out string target);
                if (r < 0) return r;
                if (target.Length == 0) return -(long)Errno.ENOENT;
                // RESOLVE_NO_XDEV: an absolute symlink jumps to the root, a crossing unless it
                // stays on the same mount (an absolute path argument is allowed, as on Linux).
                if ((w.Flags & RESOLVE_NO_XDEV) != 0 && target.StartsWith('/') && pos.Mount != w.Root.Mount)
                    return -(long)Errno.EXDEV;
                r = WalkPath(ref w, pos, target, followFinal: true, out pos);
                if (r < 0) return r;
                continue;
            }
            pos = next;
        }
        if (trailingSlash && !pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        result = pos;
        return 0;
    }

    /// <summary>"..": stays at the walk's root; climbs out of mounts at their roots (not with
    /// RESOLVE_NO_XDEV: EXDEV).</summary>
    private static long Parent(ref Walk w, ref PathPos pos)
    {
        while (true)
        {
            if (pos.Mount == w.Root.Mount && pos.Dentry == w.Root.Dentry)
                return (w.Flags & RESOLVE_BENEATH) != 0 ? -(long)Errno.EXDEV : 0;
            if (pos.Dentry == pos.Mount.Root)
            {
                if (pos.Mount.Parent == null) return 0; // the namespace root
                if ((w.Flags & RESOLVE_NO_XDEV) != 0) return -(long)Errno.EXDEV;
                pos = new PathPos(pos.Mount.Parent, pos.Mount.MountPoint!);
                continue;
            }
            pos = MountNamespace.Cross(new PathPos(pos.Mount, pos.Dentry.Parent ?? pos.Dentry));
            return 0;
        }
    }
}
