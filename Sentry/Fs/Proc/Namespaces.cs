using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

/// <summary>One namespace as /proc/[pid]/ns and setns(2) see it: its kind ("mnt", "uts", ...),
/// the CLONE_NEW* flag that names that kind, its nsfs inode number, and for a mount namespace
/// the namespace itself. The sandbox has one namespace of every other kind.</summary>
public sealed record NamespaceId(string Kind, ulong CloneFlag, ulong InodeNumber, MountNamespace? Mounts = null)
{
    /// <summary>What the /proc/[pid]/ns link reads as, e.g. "mnt:[4026531832]".</summary>
    public string Text => $"{Kind}:[{InodeNumber}]";

    // Linux's fixed inode numbers for its initial namespaces (include/linux/proc_ns.h): the
    // sandbox's single namespaces of these kinds are, as far as the guest can tell, the initial ones.
    public static readonly NamespaceId Cgroup = new("cgroup", Kernel.Task.CLONE_NEWCGROUP, 0xEFFFFFFB);
    public static readonly NamespaceId Ipc = new("ipc", Kernel.Task.CLONE_NEWIPC, 0xEFFFFFFF);
    public static readonly NamespaceId Net = new("net", Kernel.Task.CLONE_NEWNET, 0xEFFFFFF9);
    public static readonly NamespaceId Pid = new("pid", Kernel.Task.CLONE_NEWPID, 0xEFFFFFFC);
    public static readonly NamespaceId Time = new("time", Kernel.Task.CLONE_NEWTIME, 0xEFFFFFFA);
    public static readonly NamespaceId User = new("user", Kernel.Task.CLONE_NEWUSER, 0xEFFFFFFD);
    public static readonly NamespaceId Uts = new("uts", Kernel.Task.CLONE_NEWUTS, 0xEFFFFFFE);

    public static NamespaceId Mount(MountNamespace ns) => new("mnt", Kernel.Task.CLONE_NEWNS, ns.InodeNumber, ns);

    /// <summary>The entries of /proc/[pid]/ns in Linux's order, each with the namespace it
    /// names for a task.</summary>
    internal static readonly (string Name, Func<Task, NamespaceId> Of)[] Entries =
    [
        ("net", _ => Net), ("uts", _ => Uts), ("ipc", _ => Ipc), ("pid", _ => Pid), ("pid_for_children", _ => Pid),
        ("user", _ => User), ("mnt", t => Mount(t.Mounts)), ("cgroup", _ => Cgroup), ("time", _ => Time),
        ("time_for_children", _ => Time),
    ];
}

/// <summary>nsfs: the internal file system whose files stand for namespaces. Opening a
/// /proc/[pid]/ns link reaches one of its files; no mount table lists it.</summary>
public static class Nsfs
{
    public const long NsfsMagic = 0x6e736673;

    private static readonly SyntheticFileSystem Fs = CreateFs();
    private static readonly Mount InternalMount = new(Fs, new Dentry("/", null, Fs.Root), "nsfs", readOnly: true);

    private static SyntheticFileSystem CreateFs()
    {
        var fs = new SyntheticFileSystem("nsfs", NsfsMagic);
        fs.SetRoot(new StaticDirectory(fs));
        return fs;
    }

    /// <summary>The place a namespace link leads to: a file of nsfs named like the link's text.</summary>
    public static PathPos PlaceOf(NamespaceId ns) =>
        new(InternalMount, new Dentry(ns.Text, InternalMount.Root, new NamespaceInode(Fs, ns)));
}

/// <summary>A namespace file: a regular file, r--r--r-- and owned by root as on Linux, whose
/// inode number is the namespace's. Opened, it gives a descriptor for setns(2).</summary>
public sealed class NamespaceInode(FileSystem fs, NamespaceId ns) : Inode(fs, S_IFREG | 0x124, 0, 0, ns.InodeNumber)
{
    public NamespaceId Namespace { get; } = ns;

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = new NamespaceFile(path, flags, Namespace);
        return 0;
    }
}

/// <summary>An open namespace file. It can be neither read nor written (EINVAL) nor seeked
/// (ESPIPE), as Linux's nsfs files.</summary>
public sealed class NamespaceFile : FileDescription
{
    public NamespaceFile(PathPos path, int flags, NamespaceId ns)
    {
        Path = path;
        Flags = flags;
        Namespace = ns;
    }

    public NamespaceId Namespace { get; }

    public override string Name => Namespace.Text;
}

/// <summary>/proc/[pid]/ns: one magic link per kind of namespace.</summary>
internal sealed class NamespaceDirectory : SyntheticDirectory
{
    private readonly Dictionary<string, NamespaceLink> _links = new(StringComparer.Ordinal);
    private readonly ProcFileSystem _proc;
    private readonly int _tid;

    public NamespaceDirectory(ProcFileSystem proc, int tid) : base(proc, 0x149 /* 0511 */)
    {
        _proc = proc;
        _tid = tid;
        foreach (var (name, of) in NamespaceId.Entries)
            _links[name] = new NamespaceLink(proc, tid, of);
    }

    private NamespaceLink Owned(NamespaceLink link)
    {
        // The links belong to the task's owner, as this directory does.
        link.Uid = Uid;
        link.Gid = Gid;
        return link;
    }

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        if (_proc.FindTask(_tid) == null) return -(long)Errno.ENOENT;
        child = _links.TryGetValue(name, out var link) ? Owned(link) : null;
        return child != null ? 0 : -(long)Errno.ENOENT;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (_proc.FindTask(_tid) == null) return -(long)Errno.ENOENT;
        foreach (var (name, _) in NamespaceId.Entries)
            entries.Add(new DirEntry(name, Owned(_links[name]).Ino, DirentType.DT_LNK));
        return 0;
    }
}

/// <summary>/proc/[pid]/ns/KIND: reads as "KIND:[inode]"; following it reaches the namespace's
/// nsfs file. Looking needs the same access to the task as its fd directory (EACCES).</summary>
internal sealed class NamespaceLink(ProcFileSystem proc, int tid, Func<Task, NamespaceId> of) : Inode(proc, S_IFLNK | 0x1ff, 0, 0)
{
    public override long BlocksUsed => 0;

    private long Target(out NamespaceId? ns)
    {
        ns = null;
        if (proc.FindTask(tid) is not { } task) return -(long)Errno.ENOENT;
        if (!ProcFileSystem.MayAccess(Task.Current, task)) return -(long)Errno.EACCES;
        ns = of(task);
        return 0;
    }

    public override long Stat(out Stat st)
    {
        if (proc.FindTask(tid) == null)
        {
            st = default;
            return -(long)Errno.ENOENT;
        }
        return base.Stat(out st);
    }

    public override long ReadLink(out string target)
    {
        long r = Target(out var ns);
        target = ns?.Text ?? "";
        return r;
    }

    public override PathPos? FollowMagic(Task task) => Target(out var ns) == 0 ? Nsfs.PlaceOf(ns!) : null;

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        return -(long)Errno.ELOOP;
    }
}
