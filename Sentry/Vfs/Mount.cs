namespace Sandbox.Sentry.Vfs;

/// <summary>A file system attached to the tree: its root dentry and where it is mounted. A
/// mount belongs to one mount namespace; a new namespace gets copies of its parent's mounts
/// (same file systems and dentries, new mount objects), so mounts and umounts in one are
/// invisible in the other.</summary>
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

    /// <summary>The mount id of files that have no place in any tree (pipes, sockets, event
    /// files, donated host files), as Linux's pipefs and sockfs have internal mounts of their
    /// own: fdinfo shows it, no mountinfo lists it.</summary>
    public static int InternalId { get; } = Interlocked.Increment(ref _nextId);
    public FileSystem FileSystem { get; }
    public Dentry Root { get; }
    public string Source { get; }
    public bool ReadOnly { get; set; }
    /// <summary>The mount and dentry this one covers; null for a namespace's root and for a
    /// mount that was unmounted (it lives on, disconnected, while files on it are open).</summary>
    public Mount? Parent { get; internal set; }
    public Dentry? MountPoint { get; internal set; }
    /// <summary>The namespace whose tree holds this mount; null before it is attached, after it
    /// is unmounted, and for internal mounts (memfd) that no tree holds.</summary>
    public MountNamespace? Namespace { get; internal set; }
    /// <summary>umount2(MNT_EXPIRE) marked it; the next such call unmounts it if still unused.</summary>
    internal bool ExpiryMark { get; set; }

    /// <summary>A new mount of the same file system subtree, attached nowhere.</summary>
    public Mount Copy() => new(FileSystem, Root, Source, ReadOnly);
}

/// <summary>A (mount, dentry) pair: one place in the tree, as a path walk reaches it.</summary>
public readonly record struct PathPos(Mount Mount, Dentry Dentry)
{
    public Inode Inode => Dentry.Inode;
}

/// <summary>The mount tree of a mount namespace. Mount propagation (shared subtrees) is not
/// implemented: every mount is private, which is what the sandbox's root is natively (runsc
/// starts the sandbox in a mount namespace of its own with a private root), so no mount or
/// umount in one namespace ever appears in another.</summary>
public sealed class MountNamespace
{
    private readonly Dictionary<(Mount, Dentry), Mount> _mounts = [];
    private readonly Lock _lock = new();
    private static long _created;

    /// <summary>Linux's inode number for the initial mount namespace; later ones get numbers
    /// from its dynamic range (PROC_DYNAMIC_FIRST up).</summary>
    private const ulong InitialInodeNumber = 0xEFFFFFF8, FirstDynamicInodeNumber = 0xF0000000;

    public MountNamespace(Mount root)
    {
        Root = root;
        root.Namespace = this;
    }

    public Mount Root { get; }

    /// <summary>Its inode number in nsfs: what /proc/[pid]/ns/mnt reads as ("mnt:[N]") and
    /// what stat gives as st_ino through it. The sandbox's first namespace has the number of
    /// Linux's initial one.</summary>
    public ulong InodeNumber { get; } = Interlocked.Increment(ref _created) is var n && n == 1
        ? InitialInodeNumber : FirstDynamicInodeNumber + (ulong)(n - 2);

    public PathPos RootPos => new(Root, Root.Root);

    /// <summary>Mounts fs on top of the given place (a place in this namespace).</summary>
    public void Attach(Mount mount, PathPos at)
    {
        lock (_lock)
        {
            mount.Parent = at.Mount;
            mount.MountPoint = at.Dentry;
            mount.Namespace = this;
            // Path walks end on the top of a stack, so "at" is never covered already.
            _mounts[(at.Mount, at.Dentry)] = mount;
        }
    }

    /// <summary>umount: detaches mount, which must be a non-root mount of this namespace.
    /// Without lazy, fails with EBUSY if mounts sit below it or busy(mount) says something
    /// (an open file, a task's root or cwd) still uses it. With lazy (MNT_DETACH), detaches
    /// it and every mount below it at once; each lives on, disconnected, for as long as
    /// something refers to it. Returns 0 or a negative errno.</summary>
    public long Detach(Mount mount, bool lazy, Func<Mount, bool> busy)
    {
        lock (_lock)
        {
            if (mount.Namespace != this || mount.Parent == null || mount.MountPoint == null)
                return -(long)Abi.Errno.EINVAL;
            if (!lazy)
            {
                if (_mounts.Values.Any(m => m.Parent == mount) || busy(mount)) return -(long)Abi.Errno.EBUSY;
                Disconnect(mount);
                return 0;
            }
            foreach (var m in Subtree(mount)) Disconnect(m);
            return 0;
        }
    }

    private void Disconnect(Mount m)
    {
        _mounts.Remove((m.Parent!, m.MountPoint!));
        m.Parent = null;
        m.MountPoint = null;
        m.Namespace = null;
    }

    /// <summary>mount and every mount below it (caller holds the lock).</summary>
    private List<Mount> Subtree(Mount mount)
    {
        var list = new List<Mount> { mount };
        for (int i = 0; i < list.Count; i++)
            foreach (var m in _mounts.Values)
                if (m.Parent == list[i]) list.Add(m);
        return list;
    }

    /// <summary>The mount covering this place, if any (following stacked mounts to the top),
    /// in the tree of the namespace the place's mount belongs to.</summary>
    public static PathPos Cross(PathPos pos) => pos.Mount.Namespace is { } ns ? ns.CrossHere(pos) : pos;

    private PathPos CrossHere(PathPos pos)
    {
        lock (_lock)
        {
            while (_mounts.TryGetValue((pos.Mount, pos.Dentry), out var m)) pos = new PathPos(m, m.Root);
            return pos;
        }
    }

    /// <summary>unshare/clone(CLONE_NEWNS): a new namespace with a copy of every mount of this
    /// one, in the same places. map tells which copy stands for which original, so that the
    /// caller can move a task's root and working directory into the new tree.</summary>
    public MountNamespace Copy(out IReadOnlyDictionary<Mount, Mount> map)
    {
        lock (_lock)
        {
            var copies = new Dictionary<Mount, Mount>();
            var ns = new MountNamespace(copies[Root] = Root.Copy());
            foreach (var m in _mounts.Values.OrderBy(Depth))
            {
                var copy = copies[m] = m.Copy();
                var parent = copies[m.Parent!];
                copy.Parent = parent;
                copy.MountPoint = m.MountPoint;
                copy.Namespace = ns;
                ns._mounts[(parent, m.MountPoint!)] = copy;
            }
            map = copies;
            return ns;
        }
    }

    /// <summary>A place's counterpart in a copy made by <see cref="Copy"/>; places on mounts
    /// the copy does not hold (unmounted ones) stay as they are.</summary>
    public static PathPos Translate(PathPos pos, IReadOnlyDictionary<Mount, Mount> map) =>
        map.TryGetValue(pos.Mount, out var m) ? pos with { Mount = m } : pos;

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
    public static string PathOf(PathPos pos, PathPos root) => PathOf(pos, root, out _);

    /// <summary>The path of a place as seen from root; reachable is false when the walk up
    /// never met root (a place outside a chroot, or on an unmounted mount): the path is then
    /// relative to the top it reached, as Linux's d_path shows it.</summary>
    public static string PathOf(PathPos pos, PathPos root, out bool reachable)
    {
        var parts = new List<string>();
        reachable = true;
        while (true)
        {
            if (pos.Mount == root.Mount && pos.Dentry == root.Dentry) break;
            if (pos.Dentry == pos.Mount.Root)
            {
                if (pos.Mount.Parent == null) { reachable = false; break; }
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
