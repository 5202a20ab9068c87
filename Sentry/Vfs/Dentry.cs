namespace Sandbox.Sentry.Vfs;

/// <summary>A name in the dentry tree: caches the inode behind each looked-up name so path
/// walks do not ask the file system again. Only positive entries are cached.</summary>
public sealed class Dentry
{
    private readonly Dictionary<string, Dentry> _children = new(StringComparer.Ordinal);

    public Dentry(string name, Dentry? parent, Inode inode)
    {
        Name = name;
        Parent = parent;
        Inode = inode;
    }

    public string Name { get; private set; }
    /// <summary>Null only for a file system's root.</summary>
    public Dentry? Parent { get; private set; }
    public Inode Inode { get; }
    /// <summary>Set when the name was unlinked while something still refers to it.</summary>
    public bool Deleted { get; private set; }

    /// <summary>Marks a name that never was in its directory (an O_TMPFILE file) as deleted, as
    /// /proc/[pid]/fd shows it.</summary>
    public void MarkDeleted() => Deleted = true;

    /// <summary>Looks up a child, consulting the cache first.</summary>
    public long Child(string name, out Dentry? child)
    {
        lock (_children)
            _children.TryGetValue(name, out child);
        if (child != null)
        {
            if (child.Inode.Revalidate()) return 0;
            Invalidate(name, deleted: true);
            child = null;
        }
        long r = Inode.Lookup(name, out Inode? inode);
        if (r < 0) return r;
        child = Add(name, inode!);
        return 0;
    }

    /// <summary>Caches a child (after a lookup or a create) and returns its dentry.</summary>
    public Dentry Add(string name, Inode inode)
    {
        lock (_children)
        {
            if (_children.TryGetValue(name, out var existing) && existing.Inode == inode) return existing;
            var d = new Dentry(name, this, inode);
            _children[name] = d;
            return d;
        }
    }

    /// <summary>Forgets a child name (after unlink/rmdir or when a file system says it is stale).</summary>
    public void Invalidate(string name, bool deleted)
    {
        lock (_children)
        {
            if (_children.Remove(name, out var d) && deleted) d.Deleted = true;
        }
    }

    /// <summary>Re-parents this dentry after a rename.</summary>
    public void MoveTo(Dentry newParent, string newName)
    {
        Parent?.Invalidate(Name, deleted: false);
        Name = newName;
        Parent = newParent;
        lock (newParent._children) newParent._children[newName] = this;
    }
}

/// <summary>A file system attached to the tree: its root dentry and where it is mounted.</summary>
public sealed class Mount
{
    private static int _nextId = 1;

    public Mount(FileSystem fs, Dentry root, string source, bool readOnly)
    {
        FileSystem = fs;
        Root = root;
        Source = source;
        ReadOnly = readOnly;
    }

    public int Id { get; } = Interlocked.Increment(ref _nextId);
    public FileSystem FileSystem { get; }
    public Dentry Root { get; }
    public string Source { get; }
    public bool ReadOnly { get; set; }
    /// <summary>The mount and dentry this one covers; null for the namespace root.</summary>
    public Mount? Parent { get; internal set; }
    public Dentry? MountPoint { get; internal set; }
}

/// <summary>A (mount, dentry) pair: one place in the tree, as a path walk reaches it.</summary>
public readonly record struct PathPos(Mount Mount, Dentry Dentry)
{
    public Inode Inode => Dentry.Inode;
}

/// <summary>The mount tree of a mount namespace.</summary>
public sealed class MountNamespace
{
    private readonly Dictionary<(Mount, Dentry), Mount> _mounts = [];
    private readonly Lock _lock = new();

    public MountNamespace(Mount root)
    {
        Root = root;
    }

    public Mount Root { get; }

    public PathPos RootPos => new(Root, Root.Root);

    /// <summary>Mounts fs on top of the given place.</summary>
    public void Attach(Mount mount, PathPos at)
    {
        lock (_lock)
        {
            mount.Parent = at.Mount;
            mount.MountPoint = at.Dentry;
            // Stack on whatever is mounted there already.
            _mounts[(at.Mount, at.Dentry)] = mount;
        }
    }

    public bool Detach(Mount mount)
    {
        lock (_lock)
        {
            if (mount.Parent == null || mount.MountPoint == null) return false;
            if (_mounts.Values.Any(m => m.Parent == mount)) return false;
            return _mounts.Remove((mount.Parent, mount.MountPoint));
        }
    }

    /// <summary>The mount covering this place, if any (following stacked mounts to the top).</summary>
    public PathPos Cross(PathPos pos)
    {
        lock (_lock)
        {
            while (_mounts.TryGetValue((pos.Mount, pos.Dentry), out var m)) pos = new PathPos(m, m.Root);
            return pos;
        }
    }

    public IReadOnlyList<Mount> All()
    {
        lock (_lock)
        {
            var list = new List<Mount> { Root };
            // Parents before children: order by depth.
            list.AddRange(_mounts.Values.OrderBy(Depth));
            return list;
        }
    }

    private static int Depth(Mount m)
    {
        int d = 0;
        for (var p = m.Parent; p != null; p = p.Parent) d++;
        return d;
    }

    /// <summary>The absolute path of a place, as seen from root (for getcwd, /proc).</summary>
    public string PathOf(PathPos pos, PathPos root)
    {
        var parts = new List<string>();
        while (true)
        {
            if (pos.Mount == root.Mount && pos.Dentry == root.Dentry) break;
            if (pos.Dentry == pos.Mount.Root)
            {
                if (pos.Mount.Parent == null) break;
                pos = new PathPos(pos.Mount.Parent, pos.Mount.MountPoint!);
                continue;
            }
            parts.Add(pos.Dentry.Name);
            pos = new PathPos(pos.Mount, pos.Dentry.Parent!);
        }
        parts.Reverse();
        return "/" + string.Join('/', parts);
    }
}
