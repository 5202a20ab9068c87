using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

/// <summary>procfs: one directory per task, /proc/self, system-wide files and /proc/sys.
/// Contents are generated when a file is opened, from the opener's point of view.</summary>
public sealed class ProcFileSystem : SyntheticFileSystem
{
    public const long ProcSuperMagic = 0x9fa0;

    /// <summary>The file system types /proc/filesystems lists: the ones the Sentry implements.</summary>
    public static readonly string[] FileSystemTypes = ["nodev\tsysfs", "nodev\ttmpfs", "nodev\tproc", "nodev\tdevtmpfs", "nodev\tpipefs"];

    public ProcFileSystem(Kernel.Kernel kernel) : base("proc", ProcSuperMagic)
    {
        Kernel = kernel;
        CpuInfo = SystemFiles.ReadHostCpuInfo();
        SetRoot(new ProcRootDirectory(this));
    }

    public Kernel.Kernel Kernel { get; }

    /// <summary>/proc/sys/kernel/random/boot_id: fixed for the sandbox's lifetime.</summary>
    public string BootId { get; } = Guid.NewGuid().ToString("D");

    /// <summary>The host's /proc/cpuinfo, read once when the sandbox boots.</summary>
    public byte[] CpuInfo { get; }

    /// <summary>The live task with this tid: from the kernel's registry, or the calling task
    /// itself (which is alive by definition, registered or not).</summary>
    public Task? FindTask(int tid)
    {
        if (Kernel.Tasks.TryGetValue(tid, out var t) && t.Exit == null) return t;
        var current = Task.Current;
        return current != null && current.Tid == tid && current.Kernel == Kernel && current.Exit == null ? current : null;
    }

    /// <summary>Every live task, ordered by tid.</summary>
    public List<Task> LiveTasks()
    {
        var all = new SortedDictionary<int, Task>();
        foreach (var (tid, t) in Kernel.Tasks)
            if (t.Exit == null) all[tid] = t;
        if (Task.Current is { } current && current.Kernel == Kernel && current.Exit == null) all[current.Tid] = current;
        return [.. all.Values];
    }

    /// <summary>The live threads of process pid, ordered by tid.</summary>
    public List<Task> ThreadsOf(int pid) => LiveTasks().FindAll(t => t.Pid == pid);

    /// <summary>Whether reader may look at target's private parts (fd, cwd, exe, environ):
    /// Linux's ptrace access check, simplified to "same process, root, or same uid and dumpable".</summary>
    public static bool MayAccess(Task? reader, Task target)
    {
        if (reader == null || reader.Pid == target.Pid) return true;
        if (reader.Creds.EffectiveUid == 0) return true;
        return target.Dumpable && reader.Creds.EffectiveUid == target.Creds.RealUid
            && reader.Creds.EffectiveGid == target.Creds.RealGid;
    }

    internal static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);
}

/// <summary>/proc itself: the fixed entries, then one directory per live process.</summary>
internal sealed class ProcRootDirectory : StaticDirectory
{
    private readonly ProcFileSystem _proc;
    private readonly Dictionary<int, TaskDirectory> _taskDirs = [];

    public ProcRootDirectory(ProcFileSystem proc) : base(proc)
    {
        _proc = proc;
        Add("self", new SyntheticSymlink(proc, () => Task.Current?.Pid.ToString()));
        Add("thread-self", new SyntheticSymlink(proc, () => Task.Current is { } t ? $"{t.Pid}/task/{t.Tid}" : null));
        Link("mounts", "self/mounts");
        SystemFiles.Populate(proc, this);
    }

    private TaskDirectory DirectoryFor(int pid)
    {
        lock (_taskDirs)
        {
            if (!_taskDirs.TryGetValue(pid, out var dir))
                _taskDirs[pid] = dir = new TaskDirectory(_proc, pid, isThread: false);
            return dir;
        }
    }

    public override long Lookup(string name, out Inode? child)
    {
        long r = base.Lookup(name, out child);
        if (r == 0) return 0;
        // Only thread group leaders are listed, but Linux also resolves /proc/<tid>.
        if (!ProcNames.TryParseNumber(name, out int pid) || _proc.FindTask(pid) == null) return -(long)Errno.ENOENT;
        child = DirectoryFor(pid);
        return 0;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        base.ReadDir(entries);
        foreach (var t in _proc.LiveTasks())
            if (t.Tid == t.Pid)
                entries.Add(new DirEntry(t.Pid.ToString(), DirectoryFor(t.Pid).Ino, DirentType.DT_DIR));
        return 0;
    }
}

/// <summary>Name parsing shared by the numeric directories (/proc/[pid], fd/[n]).</summary>
internal static class ProcNames
{
    /// <summary>A canonical non-negative decimal: no sign, no leading zeros (as Linux's name_to_int).</summary>
    public static bool TryParseNumber(string name, out int value)
    {
        value = 0;
        if (name.Length == 0 || name.Length > 10 || (name.Length > 1 && name[0] == '0')) return false;
        foreach (char c in name)
            if (c is < '0' or > '9') return false;
        return int.TryParse(name, System.Globalization.NumberStyles.None, null, out value);
    }
}
