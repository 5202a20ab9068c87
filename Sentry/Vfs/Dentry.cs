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
