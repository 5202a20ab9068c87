using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Fs.Tmpfs;

/// <summary>A memory file system. Regular files keep their pages in the MemoryFile (so they
/// can be mapped into guests later); a size limit gives ENOSPC.</summary>
public sealed class TmpfsFileSystem : FileSystem
{
    private long _bytesUsed;

    public TmpfsFileSystem(MemoryFile memory, uint rootMode = S_IFDIR | 0x3ff /* 01777 */, uint uid = 0, uint gid = 0,
        long sizeLimit = 16L << 30)
    {
        Memory = memory;
        SizeLimit = sizeLimit;
        Root = new TmpfsDirectory(this, rootMode, uid, gid);
    }

    public MemoryFile Memory { get; }
    public long SizeLimit { get; }
    public override string Type => "tmpfs";
    public override long Magic => 0x01021994;
    public override Inode Root { get; }

    internal bool Reserve(long bytes)
    {
        if (Interlocked.Add(ref _bytesUsed, bytes) <= SizeLimit) return true;
        Interlocked.Add(ref _bytesUsed, -bytes);
        return false;
    }

    internal void Unreserve(long bytes) => Interlocked.Add(ref _bytesUsed, -bytes);

    public override long StatFs(out StatFs st)
    {
        long blocks = SizeLimit / 4096, used = Interlocked.Read(ref _bytesUsed) / 4096;
        st = new StatFs
        {
            Type = Magic,
            Bsize = 4096,
            Frsize = 4096,
            Namelen = 255,
            Blocks = blocks,
            Bfree = blocks - used,
            Bavail = blocks - used,
            Files = 1 << 20,
            Ffree = (1 << 20) - 1,
        };
        return 0;
    }

    /// <summary>Makes an inode of the given type (the mode's S_IFMT) for a create.</summary>
    internal Inode NewNode(uint mode, ulong rdev, Credentials creds) => (mode & S_IFMT) switch
    {
        S_IFDIR => new TmpfsDirectory(this, mode, creds.EffectiveUid, creds.EffectiveGid),
        S_IFREG => new TmpfsFile(this, mode, creds.EffectiveUid, creds.EffectiveGid),
        _ => new TmpfsSpecial(this, mode, creds.EffectiveUid, creds.EffectiveGid, rdev),
    };
}

/// <summary>Extended attributes in the user. and trusted. namespaces, shared by tmpfs inodes.</summary>
internal sealed class XattrStore
{
    public const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    private readonly Dictionary<string, byte[]> _values = new(StringComparer.Ordinal);

    public static bool Supported(string name) => name.StartsWith("user.", StringComparison.Ordinal) || name.StartsWith("trusted.", StringComparison.Ordinal);

    public long Get(string name, out byte[]? value)
    {
        lock (_values)
        {
            if (!Supported(name)) { value = null; return -(long)Errno.EOPNOTSUPP; }
            return _values.TryGetValue(name, out value) ? 0 : -(long)Errno.ENODATA;
        }
    }

    public long Set(string name, ReadOnlySpan<byte> value, int flags)
    {
        if (!Supported(name)) return -(long)Errno.EOPNOTSUPP;
        if (value.Length > 65536) return -(long)Errno.E2BIG;
        lock (_values)
        {
            bool exists = _values.ContainsKey(name);
            if ((flags & XATTR_CREATE) != 0 && exists) return -(long)Errno.EEXIST;
            if ((flags & XATTR_REPLACE) != 0 && !exists) return -(long)Errno.ENODATA;
            _values[name] = value.ToArray();
            return 0;
        }
    }

    public long List(List<string> names)
    {
        lock (_values) names.AddRange(_values.Keys);
        return 0;
    }

    public long Remove(string name)
    {
        if (!Supported(name)) return -(long)Errno.EOPNOTSUPP;
        lock (_values) return _values.Remove(name) ? 0 : -(long)Errno.ENODATA;
    }
}

/// <summary>Behaviour shared by every tmpfs inode: xattrs.</summary>
public abstract class TmpfsInode(TmpfsFileSystem fs, uint mode, uint uid, uint gid) : Inode(fs, mode, uid, gid)
{
    private readonly XattrStore _xattrs = new();

    public TmpfsFileSystem Tmpfs => (TmpfsFileSystem)FileSystem;

    public override long GetXattr(string name, out byte[]? value) => _xattrs.Get(name, out value);

    public override long SetXattr(string name, ReadOnlySpan<byte> value, int flags)
    {
        long r = _xattrs.Set(name, value, flags);
        if (r == 0) TouchChanged();
        return r;
    }

    public override long ListXattr(List<string> names) => _xattrs.List(names);

    public override long RemoveXattr(string name) => _xattrs.Remove(name);
}

/// <summary>A tmpfs directory: a name → inode map.</summary>
public sealed class TmpfsDirectory : TmpfsInode
{
    private readonly SortedDictionary<string, Inode> _children = new(StringComparer.Ordinal);

    public TmpfsDirectory(TmpfsFileSystem fs, uint mode, uint uid, uint gid) : base(fs, (mode & 0xfff) | S_IFDIR, uid, gid) { }

    public int Count
    {
        get { lock (_children) return _children.Count; }
    }

    /// <summary>Removed from its parent: nothing can be created in it any more (IS_DEADDIR).</summary>
    public bool Dead { get; private set; }

    public override long Size => 4096;

    public override long Lookup(string name, out Inode? child)
    {
        lock (_children) return _children.TryGetValue(name, out child) ? 0 : -(long)Errno.ENOENT;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (Dead) return -(long)Errno.ENOENT;
        lock (_children)
            foreach (var (name, inode) in _children)
                entries.Add(new DirEntry(name, inode.Ino, DirentType.FromMode(inode.Mode)));
        return 0;
    }

    /// <summary>Adds an existing inode under name (create, link, rename).</summary>
    internal long Insert(string name, Inode inode)
    {
        lock (_children)
        {
            if (Dead) return -(long)Errno.ENOENT;
            if (_children.ContainsKey(name)) return -(long)Errno.EEXIST;
            _children[name] = inode;
            if (inode.IsDirectory) Nlink++;
        }
        TouchModified();
        return 0;
    }

    public override long CreateChild(string name, uint mode, ulong rdev, Credentials creds, out Inode? child)
    {
        child = Tmpfs.NewNode(mode, rdev, creds);
        if ((Mode & 0x400 /* S_ISGID */) != 0)
        {
            child.Gid = Gid;
            if (child.IsDirectory) child.Mode |= 0x400;
        }
        long r = Insert(name, child);
        if (r < 0) child = null;
        return r;
    }

    public override long CreateSymlink(string name, string target, Credentials creds, out Inode? child)
    {
        child = new TmpfsSymlink(Tmpfs, target, creds.EffectiveUid, creds.EffectiveGid);
        long r = Insert(name, child);
        if (r < 0) child = null;
        return r;
    }

    public override long CreateTmpfile(uint mode, Credentials creds, out Inode? file)
    {
        file = null;
        if (Dead) return -(long)Errno.ENOENT;
        var tmp = new TmpfsFile(Tmpfs, mode, creds.EffectiveUid, creds.EffectiveGid) { Nlink = 0 };
        if ((Mode & 0x400 /* S_ISGID */) != 0) tmp.Gid = Gid;
        file = tmp;
        return 0;
    }

    public override long LinkChild(string name, Inode target)
    {
        if (target.FileSystem != FileSystem) return -(long)Errno.EXDEV;
        if (target.IsDirectory) return -(long)Errno.EPERM;
        long r = Insert(name, target);
        if (r == 0)
        {
            target.Nlink++;
            target.TouchChanged();
        }
        return r;
    }

    public override long RemoveChild(string name, bool rmdir)
    {
        lock (_children)
        {
            if (!_children.TryGetValue(name, out var victim)) return -(long)Errno.ENOENT;
            if (rmdir)
            {
                if (!victim.IsDirectory) return -(long)Errno.ENOTDIR;
                if (victim is TmpfsDirectory d && d.Count > 0) return -(long)Errno.ENOTEMPTY;
                Nlink--;
                victim.Nlink = 0;
                if (victim is TmpfsDirectory dead) dead.Dead = true;
            }
            else
            {
                if (victim.IsDirectory) return -(long)Errno.EISDIR;
                victim.Nlink--;
                victim.TouchChanged();
                if (victim.Nlink == 0 && victim is TmpfsFile f) f.Unlinked();
            }
            _children.Remove(name);
        }
        TouchModified();
        return 0;
    }

    public override long RenameChild(string oldName, Inode newParentInode, string newName, uint flags)
    {
        if (newParentInode is not TmpfsDirectory newParent || newParent.FileSystem != FileSystem) return -(long)Errno.EXDEV;
        // One lock order for both directories: the file system root's monitor serialises renames.
        lock (FileSystem)
        {
            if (Lookup(oldName, out Inode? moving) < 0) return -(long)Errno.ENOENT;
            bool exists = newParent.Lookup(newName, out Inode? replaced) == 0;
            if ((flags & RenameFlags.RENAME_NOREPLACE) != 0 && exists) return -(long)Errno.EEXIST;
            if ((flags & RenameFlags.RENAME_EXCHANGE) != 0)
            {
                if (!exists) return -(long)Errno.ENOENT;
                lock (_children) _children[oldName] = replaced!;
                lock (newParent._children) newParent._children[newName] = moving!;
                if (moving!.IsDirectory != replaced!.IsDirectory)
                {
                    int delta = moving.IsDirectory ? 1 : -1;
                    Nlink = (uint)(Nlink - delta);
                    newParent.Nlink = (uint)(newParent.Nlink + delta);
                }
                TouchModified();
                newParent.TouchModified();
                return 0;
            }
            if (moving == replaced) return 0;
            if (exists)
            {
                if (moving!.IsDirectory && !replaced!.IsDirectory) return -(long)Errno.ENOTDIR;
                if (!moving.IsDirectory && replaced!.IsDirectory) return -(long)Errno.EISDIR;
                long r = newParent.RemoveChild(newName, rmdir: replaced!.IsDirectory);
                if (r < 0) return r;
            }
            lock (_children)
            {
                _children.Remove(oldName);
                if (moving!.IsDirectory) Nlink--;
            }
            TouchModified();
            long ins = newParent.Insert(newName, moving);
            moving.TouchChanged();
            return ins;
        }
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = new DirectoryFile(path, flags);
        return 0;
    }
}

/// <summary>A tmpfs symlink.</summary>
public sealed class TmpfsSymlink(TmpfsFileSystem fs, string target, uint uid, uint gid)
    : TmpfsInode(fs, S_IFLNK | 0x1ff, uid, gid)
{
    public string Target { get; } = target;

    public override long Size => System.Text.Encoding.UTF8.GetByteCount(Target);

    public override long ReadLink(out string target)
    {
        target = Target;
        return 0;
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        return -(long)Errno.ELOOP;
    }
}

/// <summary>FIFOs, device nodes and sockets made by mknod. A FIFO's pipe lives with the inode.</summary>
public sealed class TmpfsSpecial : TmpfsInode
{
    private Pipe? _fifo;

    public TmpfsSpecial(TmpfsFileSystem fs, uint mode, uint uid, uint gid, ulong rdev) : base(fs, mode, uid, gid)
    {
        Rdev = rdev;
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        switch (Type)
        {
            case S_IFIFO:
                lock (this) _fifo ??= new Pipe();
                return _fifo.OpenNamed(task, path, flags, out file);
            case S_IFCHR:
                return DeviceRegistry.Open(task, path, Rdev, flags, out file);
            default:
                return -(long)Errno.ENXIO;
        }
    }
}
