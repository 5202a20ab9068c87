using Sandbox.Abi;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Fs.Overlay;

/// <summary>A writable tree over a read-only one, like Linux's overlayfs: a tmpfs upper layer
/// over a lower layer (the Gofer's root). Reads go to the lower layer until something
/// changes; the first change copies the object (and its parent directories) up. Removing a
/// lower name leaves a whiteout, and a directory created over one is opaque. Writes never
/// reach the lower layer. Renaming a directory that exists in the lower layer gives EXDEV,
/// as overlayfs does without redirect_dir (mv falls back to copying).</summary>
public sealed class OverlayFileSystem : FileSystem
{
    private static readonly Credentials KernelCredentials = Credentials.For(0, 0);

    public OverlayFileSystem(TmpfsFileSystem upper, Inode lowerRoot)
    {
        Upper = upper;
        LowerRoot = lowerRoot;
        RootInode = new OverlayInode(this, null, "/", upper.Root, lowerRoot);
    }

    public TmpfsFileSystem Upper { get; }
    public Inode LowerRoot { get; }
    private OverlayInode RootInode { get; }
    public override Inode Root => RootInode;
    public override string Type => "overlay";
    public override long Magic => 0x794c7630;

    public override long StatFs(out StatFs st) => LowerRoot.FileSystem.StatFs(out st) is var r and < 0 ? r : FixType(ref st);

    private long FixType(ref StatFs st)
    {
        st.Type = Magic;
        return 0;
    }

    internal static Credentials Kernel => KernelCredentials;
}

/// <summary>One overlay object: its upper and/or lower inode.</summary>
public sealed class OverlayInode : Inode
{
    private readonly OverlayFileSystem _fs;
    private readonly Dictionary<string, OverlayInode> _children = new(StringComparer.Ordinal);
    private readonly HashSet<string> _whiteouts = new(StringComparer.Ordinal);
    private bool _opaque;

    internal OverlayInode(OverlayFileSystem fs, OverlayInode? parent, string name, Inode? upper, Inode? lower)
        : base(fs, (upper ?? lower)!.Mode, (upper ?? lower)!.Uid, (upper ?? lower)!.Gid, (upper ?? lower)!.Ino)
    {
        _fs = fs;
        Parent = parent;
        Name = name;
        Upper = upper;
        Lower = lower;
    }

    public OverlayInode? Parent { get; private set; }
    public string Name { get; private set; }
    public Inode? Upper { get; private set; }
    public Inode? Lower { get; }

    private Inode Backing => Upper ?? Lower!;

    public override uint Mode { get => Backing.Mode; set { CopyUp(); Upper!.Mode = value; } }
    public override uint Uid { get => Backing.Uid; set { CopyUp(); Upper!.Uid = value; } }
    public override uint Gid { get => Backing.Gid; set { CopyUp(); Upper!.Gid = value; } }
    /// <summary>Merged directories report 1 (unknown), as overlayfs does.</summary>
    public override uint Nlink { get => IsDirectory && Upper != null && Lower != null ? 1 : Backing.Nlink; set { } }
    public override long Size => Backing.Size;
    /// <summary>Sockets are bound on the upper layer's inode, where bind created the name.</summary>
    public override Socket.Unix.UnixSocket? BoundSocket { get => Backing.BoundSocket; set => Backing.BoundSocket = value; }

    public override long Stat(out Stat st)
    {
        long r = Backing.Stat(out st);
        st.Dev = FileSystem.DeviceId;
        st.Nlink = Nlink;
        return r;
    }

    public override long SetAttr(in SetAttrRequest req)
    {
        long r = CopyUp();
        return r < 0 ? r : Upper!.SetAttr(req);
    }

    public override long Truncate(long size)
    {
        long r = CopyUp();
        return r < 0 ? r : Upper!.Truncate(size);
    }

    public override long ReadLink(out string target) => Backing.ReadLink(out target);

    public override long ReadData(long offset, Span<byte> dst) => Backing.ReadData(offset, dst);

    /// <summary>Shared mappings of a copied-up file use the upper layer's pages. (A writable
    /// shared mapping copies the file up first; a read-only one of a lower file is a copy.)</summary>
    public override IMappablePages? SharedPages => IsRegular && Upper != null ? Upper.SharedPages : null;

    /// <summary>Until copied up, the content is the lower file's.</summary>
    public override bool ContentIsStable => Upper == null && Lower is { ContentIsStable: true };

    /// <summary>Mappings made before a copy-up keep reading the lower file, as on Linux.</summary>
    public override Inode StableContent => Lower?.StableContent ?? this;

    public override long WriteData(long offset, ReadOnlySpan<byte> src)
    {
        long r = CopyUp();
        return r < 0 ? r : Upper!.WriteData(offset, src);
    }

    public override long GetXattr(string name, out byte[]? value) => Backing.GetXattr(name, out value);

    public override long ListXattr(List<string> names) => Backing.ListXattr(names);

    public override long SetXattr(string name, ReadOnlySpan<byte> value, int flags)
    {
        long r = CopyUp();
        return r < 0 ? r : Upper!.SetXattr(name, value, flags);
    }

    public override long RemoveXattr(string name)
    {
        long r = CopyUp();
        return r < 0 ? r : Upper!.RemoveXattr(name);
    }

    /// <summary>An object only in the lower layer is as valid as the lower object; when that is
    /// gone or replaced, the cached overlay node goes too.</summary>
    public override bool Revalidate()
    {
        if (Upper != null || Lower == null || Lower.Revalidate()) return true;
        Parent?.Forget(Name);
        return false;
    }

    // ---- directories ----------------------------------------------------------------------

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        lock (_children)
        {
            if (_children.TryGetValue(name, out var cached)) { child = cached; return 0; }
            Inode? upper = null, lower = null;
            if (Upper != null && Upper.Lookup(name, out var u) == 0) upper = u;
            bool hidden = _opaque || _whiteouts.Contains(name);
            if (Lower != null && !hidden && Lower.Lookup(name, out var l) == 0)
            {
                // A lower object shows through unless the upper one replaces it; directories merge.
                if (upper == null || (upper.IsDirectory && l!.IsDirectory)) lower = l;
            }
            if (upper == null && lower == null) return -(long)Errno.ENOENT;
            var node = new OverlayInode(_fs, this, name, upper, lower);
            _children[name] = node;
            child = node;
            return 0;
        }
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var upperEntries = new List<DirEntry>();
        if (Upper != null)
        {
            long r = Upper.ReadDir(upperEntries);
            if (r < 0) return r;
            foreach (var e in upperEntries) { seen.Add(e.Name); entries.Add(e); }
        }
        if (Lower != null && !_opaque)
        {
            var lowerEntries = new List<DirEntry>();
            long r = Lower.ReadDir(lowerEntries);
            if (r < 0) return r;
            lock (_children)
                foreach (var e in lowerEntries)
                    if (!seen.Contains(e.Name) && !_whiteouts.Contains(e.Name) && e.Name is not "." and not "..") entries.Add(e);
        }
        return 0;
    }

    private void Forget(string name)
    {
        lock (_children) _children.Remove(name);
    }

    public override long CreateChild(string name, uint mode, ulong rdev, Credentials creds, out Inode? child)
    {
        child = null;
        long r = CopyUp();
        if (r < 0) return r;
        r = Upper!.CreateChild(name, mode, rdev, creds, out Inode? upper);
        if (r < 0) return r;
        child = Adopt(name, upper!, createdDirectory: (mode & S_IFMT) == S_IFDIR);
        return 0;
    }

    public override long CreateSymlink(string name, string target, Credentials creds, out Inode? child)
    {
        child = null;
        long r = CopyUp();
        if (r < 0) return r;
        r = Upper!.CreateSymlink(name, target, creds, out Inode? upper);
        if (r < 0) return r;
        child = Adopt(name, upper!, createdDirectory: false);
        return 0;
    }

    /// <summary>Records a new upper object; a name that hid a lower object stays hidden.</summary>
    private OverlayInode Adopt(string name, Inode upper, bool createdDirectory)
    {
        lock (_children)
        {
            bool wasWhiteout = _whiteouts.Remove(name);
            var node = new OverlayInode(_fs, this, name, upper, null);
            // A directory made where a lower one was removed must not show the old contents.
            if (createdDirectory && (wasWhiteout || _opaque || Lower != null)) node._opaque = true;
            _children[name] = node;
            return node;
        }
    }

    /// <summary>O_TMPFILE: the file lives in the upper layer, wrapped like any overlay object so
    /// that linkat can give it a name here.</summary>
    public override long CreateTmpfile(uint mode, Credentials creds, out Inode? file)
    {
        file = null;
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        long r = CopyUp();
        if (r < 0) return r;
        r = Upper!.CreateTmpfile(mode, creds, out Inode? upper);
        if (r < 0) return r;
        file = new OverlayInode(_fs, this, "", upper, null);
        return 0;
    }

    public override long LinkChild(string name, Inode target)
    {
        if (target is not OverlayInode t || t._fs != _fs) return -(long)Errno.EXDEV;
        long r = CopyUp();
        if (r == 0) r = t.CopyUp();
        if (r < 0) return r;
        r = Upper!.LinkChild(name, t.Upper!);
        if (r < 0) return r;
        lock (_children)
        {
            _whiteouts.Remove(name);
            _children.Remove(name);
        }
        return 0;
    }

    public override long RemoveChild(string name, bool rmdir)
    {
        long r = Lookup(name, out Inode? found);
        if (r < 0) return r;
        var victim = (OverlayInode)found!;
        if (rmdir)
        {
            if (!victim.IsDirectory) return -(long)Errno.ENOTDIR;
            var list = new List<DirEntry>();
            r = victim.ReadDir(list);
            if (r < 0) return r;
            if (list.Count > 0) return -(long)Errno.ENOTEMPTY;
        }
        else if (victim.IsDirectory) return -(long)Errno.EISDIR;
        r = CopyUp();
        if (r < 0) return r;
        if (victim.Upper != null)
        {
            r = Upper!.RemoveChild(name, rmdir);
            if (r < 0) return r;
        }
        // A name that also exists below (even if this object was made over a whiteout) must stay
        // hidden once removed.
        bool lowerHasIt = Lower != null && !_opaque && Lower.Lookup(name, out _) == 0;
        lock (_children)
        {
            _children.Remove(name);
            if (victim.Lower != null || lowerHasIt) _whiteouts.Add(name);
        }
        TouchModified();
        return 0;
    }

    public override long RenameChild(string oldName, Inode newParentInode, string newName, uint flags)
    {
        if (newParentInode is not OverlayInode newParent || newParent._fs != _fs) return -(long)Errno.EXDEV;
        long r = Lookup(oldName, out Inode? found);
        if (r < 0) return r;
        var moving = (OverlayInode)found!;
        if (moving.IsDirectory && moving.Lower != null) return -(long)Errno.EXDEV;
        bool exists = newParent.Lookup(newName, out Inode? replacedInode) == 0;
        var replaced = (OverlayInode?)replacedInode;
        if ((flags & RenameFlags.RENAME_EXCHANGE) != 0 && (!exists || replaced!.Lower != null || replaced.IsDirectory && replaced.Lower != null))
            return exists ? -(long)Errno.EXDEV : -(long)Errno.ENOENT;
        if ((flags & RenameFlags.RENAME_NOREPLACE) != 0 && exists) return -(long)Errno.EEXIST;
        if (exists && replaced!.IsDirectory && (flags & RenameFlags.RENAME_EXCHANGE) == 0)
        {
            if (!moving.IsDirectory) return -(long)Errno.EISDIR;
            var list = new List<DirEntry>();
            if (replaced.ReadDir(list) == 0 && list.Count > 0) return -(long)Errno.ENOTEMPTY;
        }
        r = CopyUp();
        if (r == 0) r = newParent.CopyUp();
        if (r == 0) r = moving.CopyUp();
        if (r < 0) return r;
        if (exists && replaced!.Upper == null && (flags & RenameFlags.RENAME_EXCHANGE) == 0)
        {
            // The target exists only below: it simply becomes hidden by the moved object.
        }
        else if (exists && replaced!.IsDirectory && (flags & RenameFlags.RENAME_EXCHANGE) == 0)
        {
            r = newParent.Upper!.RemoveChild(newName, rmdir: true);
            if (r < 0) return r;
        }
        r = Upper!.RenameChild(oldName, newParent.Upper!, newName, flags & RenameFlags.RENAME_EXCHANGE);
        if (r < 0) return r;
        lock (_children)
        {
            _children.Remove(oldName);
            if (moving.Lower != null) _whiteouts.Add(oldName);
        }
        lock (newParent._children)
        {
            newParent._children.Remove(newName);
            newParent._whiteouts.Remove(newName);
        }
        moving.Parent = newParent;
        moving.Name = newName;
        return 0;
    }

    // ---- copy-up and open -----------------------------------------------------------------

    /// <summary>Gives this object an upper copy (and its ancestors), so it can change.</summary>
    public long CopyUp()
    {
        if (Upper != null) return 0;
        lock (this)
        {
            if (Upper != null) return 0;
            long r = Parent!.CopyUp();
            if (r < 0) return r;
            var lower = Lower!;
            var creds = OverlayFileSystem.Kernel;
            Inode? upper;
            switch (lower.Type)
            {
                case S_IFDIR:
                    r = Parent.Upper!.CreateChild(Name, lower.Mode, 0, creds, out upper);
                    break;
                case S_IFLNK:
                    r = lower.ReadLink(out string target);
                    upper = null;
                    if (r == 0) r = Parent.Upper!.CreateSymlink(Name, target, creds, out upper);
                    break;
                case S_IFREG:
                    r = Parent.Upper!.CreateChild(Name, lower.Mode, 0, creds, out upper);
                    if (r == 0) r = CopyData(lower, (TmpfsFile)upper!);
                    break;
                default:
                    r = Parent.Upper!.CreateChild(Name, lower.Mode, lower.Rdev, creds, out upper);
                    break;
            }
            if (r < 0) return r;
            lower.Stat(out Stat st);
            upper!.SetAttr(new SetAttrRequest
            {
                Mode = lower.IsSymlink ? null : lower.Mode & 0xfff,
                Uid = lower.Uid,
                Gid = lower.Gid,
                Atime = new Timespec(st.AtimeSec, st.AtimeNsec),
                Mtime = new Timespec(st.MtimeSec, st.MtimeNsec),
            });
            Upper = upper;
            return 0;
        }
    }

    private static long CopyData(Inode lower, TmpfsFile upper)
    {
        var buffer = new byte[1 << 20];
        long offset = 0;
        while (true)
        {
            long n = lower.ReadData(offset, buffer);
            if (n < 0) return n;
            if (n == 0) return 0;
            upper.WriteKernel(offset, buffer.AsSpan(0, (int)n));
            offset += n;
        }
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        bool write = (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) != 0;
        if (IsDirectory) return Backing.IsDirectory ? OpenDirectory(path, flags, out file) : -(long)Errno.ENOTDIR;
        if (write && (IsRegular || IsSymlink))
        {
            long r = CopyUp();
            if (r < 0) return r;
        }
        return Backing.Open(task, path, flags, out file);
    }

    private static long OpenDirectory(PathPos path, int flags, out FileDescription? file)
    {
        file = new DirectoryFile(path, flags);
        return 0;
    }
}
