using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

/// <summary>/proc/[pid] and /proc/[pid]/task/[tid]. The directory names a pid, not a Task
/// object: every operation looks the task up again, so a cached dentry never shows a task
/// that has gone (ENOENT) and a reused pid shows the new task.</summary>
internal sealed class TaskDirectory : SyntheticDirectory
{
    private readonly ProcFileSystem _proc;
    private readonly int _tid;
    private readonly List<(string Name, Inode Inode)> _ordered = [];
    private readonly Dictionary<string, Inode> _byName = new(StringComparer.Ordinal);

    public TaskDirectory(ProcFileSystem proc, int tid, bool isThread) : base(proc, 0x16d /* 0555 */)
    {
        _proc = proc;
        _tid = tid;
        if (!isThread) Add(new TaskListDirectory(proc, tid), "task");
        Add(new FdDirectory(proc, tid, info: false), "fd");
        Add(new FdDirectory(proc, tid, info: true), "fdinfo");
        Add(new NamespaceDirectory(proc, tid), "ns");
        AddFile("environ", TaskFiles.Environ, 0x100 /* 0400 */, private_: true);
        AddFile("status", TaskFiles.Status);
        AddFile("limits", TaskFiles.Limits);
        AddFile("cgroup", (_, _) => ProcFileSystem.Bytes("0::/\n"));
        AddFile("comm", TaskFiles.Comm, 0x1a4 /* 0644 */, write: TaskFiles.WriteComm);
        AddFile("cmdline", TaskFiles.Cmdline);
        AddFile("stat", TaskFiles.Stat);
        AddFile("statm", TaskFiles.Statm);
        AddFile("maps", TaskFiles.Maps);
        Add(new TaskLink(proc, tid, TaskLink.Kind.Cwd), "cwd");
        Add(new TaskLink(proc, tid, TaskLink.Kind.Root), "root");
        Add(new TaskLink(proc, tid, TaskLink.Kind.Exe), "exe");
        AddFile("mounts", TaskFiles.Mounts);
        AddFile("mountinfo", TaskFiles.MountInfo);
        Refresh(proc.FindTask(tid));
    }

    private void Add(Inode inode, string name)
    {
        _ordered.Add((name, inode));
        _byName[name] = inode;
        if (inode.IsDirectory) Nlink++;
    }

    /// <summary>A file generated from (reader, target); private files need ptrace-like access.</summary>
    private void AddFile(string name, Func<Task, Task, byte[]?> generate, uint perm = 0x124 /* 0444 */,
        bool private_ = false, Func<Task, Task, ReadOnlySpan<byte>, long>? write = null)
    {
        int tid = _tid;
        var proc = _proc;
        byte[]? Generate(Task reader) => proc.FindTask(tid) is { } target ? generate(reader, target) : null;
        long MayOpen(Task opener) =>
            proc.FindTask(tid) is not { } target ? -(long)Errno.ENOENT
            : private_ && !ProcFileSystem.MayAccess(opener, target) ? -(long)Errno.EACCES : 0;
        ProcWriter? writer = write == null ? null : (Task w, ReadOnlySpan<byte> data) =>
            proc.FindTask(tid) is { } target ? write(w, target, data) : -(long)Errno.ESRCH;
        Add(new GeneratedFile(proc, perm, Generate, writer, exists: () => proc.FindTask(tid) != null, mayOpen: MayOpen), name);
    }

    /// <summary>Files and directories are owned by the task's effective ids, as on Linux.</summary>
    private void Refresh(Task? task)
    {
        if (task == null) return;
        uint uid = task.Dumpable ? task.Creds.EffectiveUid : 0, gid = task.Dumpable ? task.Creds.EffectiveGid : 0;
        Uid = uid;
        Gid = gid;
        foreach (var (_, inode) in _ordered)
        {
            inode.Uid = uid;
            inode.Gid = gid;
        }
    }

    public override long Stat(out Stat st)
    {
        var task = _proc.FindTask(_tid);
        if (task == null)
        {
            st = default;
            return -(long)Errno.ENOENT;
        }
        Refresh(task);
        return base.Stat(out st);
    }

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        var task = _proc.FindTask(_tid);
        if (task == null) return -(long)Errno.ENOENT;
        Refresh(task);
        return _byName.TryGetValue(name, out child) ? 0 : -(long)Errno.ENOENT;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (_proc.FindTask(_tid) == null) return -(long)Errno.ENOENT;
        foreach (var (name, inode) in _ordered)
            entries.Add(new DirEntry(name, inode.Ino, DirentType.FromMode(inode.Mode)));
        return 0;
    }
}

/// <summary>/proc/[pid]/task: one directory per thread of the process (the live tasks whose
/// thread group id is pid).</summary>
internal sealed class TaskListDirectory(ProcFileSystem proc, int pid) : SyntheticDirectory(proc, 0x16d)
{
    private readonly Dictionary<int, TaskDirectory> _threads = [];

    private TaskDirectory Thread(int tid)
    {
        lock (_threads)
        {
            if (!_threads.TryGetValue(tid, out var dir)) _threads[tid] = dir = new TaskDirectory(proc, tid, isThread: true);
            return dir;
        }
    }

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        if (!ProcNames.TryParseNumber(name, out int tid) || proc.FindTask(tid) is not { } t || t.Pid != pid)
            return -(long)Errno.ENOENT;
        child = Thread(tid);
        return 0;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (proc.FindTask(pid) == null) return -(long)Errno.ENOENT;
        foreach (var t in proc.ThreadsOf(pid))
            entries.Add(new DirEntry(t.Tid.ToString(), Thread(t.Tid).Ino, DirentType.DT_DIR));
        return 0;
    }
}

/// <summary>/proc/[pid]/fd (one magic link per open fd) and /proc/[pid]/fdinfo (one file per fd).</summary>
internal sealed class FdDirectory : SyntheticDirectory
{
    private readonly ProcFileSystem _proc;
    private readonly int _tid;
    private readonly bool _info;
    private readonly Dictionary<int, Inode> _entries = [];

    public FdDirectory(ProcFileSystem proc, int tid, bool info) : base(proc, info ? 0x16du /* 0555 */ : 0x140u /* 0500 */)
    {
        _proc = proc;
        _tid = tid;
        _info = info;
    }

    /// <summary>The inode for fd n (one per number: the dentry cache keeps it; it is dynamic).</summary>
    private Inode Entry(int fd)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(fd, out var inode))
            {
                inode = _info ? FdInfoFile(fd) : new FdLink(_proc, _tid, fd);
                inode.Uid = Uid;
                inode.Gid = Gid;
                _entries[fd] = inode;
            }
            return inode;
        }
    }

    private GeneratedFile FdInfoFile(int fd)
    {
        var proc = _proc;
        int tid = _tid;
        return new GeneratedFile(proc, 0x124, _ => proc.FindTask(tid) is { } target ? TaskFiles.FdInfo(target, fd) : null,
            uid: Uid, gid: Gid, exists: () => proc.FindTask(tid)?.Fds.Get(fd) != null,
            mayOpen: opener => proc.FindTask(tid) is { } target && !ProcFileSystem.MayAccess(opener, target) ? -(long)Errno.EACCES : 0);
    }

    /// <summary>Open fds of the task, ascending.</summary>
    internal static IEnumerable<int> OpenFds(Task task)
    {
        int limit = task.Fds.Limit;
        for (int fd = 0; fd < limit; fd++)
            if (task.Fds.Get(fd) != null) yield return fd;
    }

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        if (_proc.FindTask(_tid) is not { } task) return -(long)Errno.ENOENT;
        if (!ProcFileSystem.MayAccess(Task.Current, task)) return -(long)Errno.EACCES;
        if (!ProcNames.TryParseNumber(name, out int fd) || task.Fds.Get(fd) == null) return -(long)Errno.ENOENT;
        child = Entry(fd);
        return 0;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        if (_proc.FindTask(_tid) is not { } task) return -(long)Errno.ENOENT;
        if (!ProcFileSystem.MayAccess(Task.Current, task)) return -(long)Errno.EACCES;
        foreach (int fd in OpenFds(task))
            entries.Add(new DirEntry(fd.ToString(), Entry(fd).Ino, _info ? DirentType.DT_REG : DirentType.DT_LNK));
        return 0;
    }
}

/// <summary>/proc/[pid]/fd/N: reads as the file's path (or "pipe:[ino]", a host file's name);
/// following it reaches the same file even if its name has changed. Files with no place in
/// the tree (pipes, donated host stdio) are reached through a stand-in inode whose open
/// gives back the very same description.</summary>
internal sealed class FdLink(ProcFileSystem proc, int tid, int fd) : Inode(proc, S_IFLNK | 0x1c0 /* 0700 */, 0, 0)
{
    public override long Size => 64;

    public override long BlocksUsed => 0;

    private long Target(out Task? task, out FileDescription? file)
    {
        file = null;
        task = proc.FindTask(tid);
        if (task == null) return -(long)Errno.ENOENT;
        if (!ProcFileSystem.MayAccess(Task.Current, task)) return -(long)Errno.EACCES;
        file = task.Fds.Get(fd);
        return file == null ? -(long)Errno.ENOENT : 0;
    }

    public override long Stat(out Stat st)
    {
        // A closed fd's name may linger in the dentry cache: it is gone all the same.
        if (proc.FindTask(tid)?.Fds.Get(fd) is not { } file)
        {
            st = default;
            return -(long)Errno.ENOENT;
        }
        Mode = S_IFLNK | (file.Readable ? 0x140u : 0) | (file.Writable ? 0x80u : 0) | 0x40u; // r-x / -wx / rwx for the owner
        return base.Stat(out st);
    }

    public override long ReadLink(out string target)
    {
        target = "";
        long r = Target(out var task, out var file);
        if (r < 0) return r;
        target = DescribeFile(Task.Current ?? task!, file!);
        return 0;
    }

    /// <summary>What a /proc fd link reads as: the path seen from the reader's root.</summary>
    internal static string DescribeFile(Task reader, FileDescription file)
    {
        // Namespace files read as "mnt:[N]", as Linux's nsfs names them.
        if (file.Path is not { } p || file is NamespaceFile) return file.Name;
        string path = MountNamespace.PathOf(p, reader.Fs.Root);
        return p.Dentry.Deleted ? path + " (deleted)" : path;
    }

    public override PathPos? FollowMagic(Task task)
    {
        if (Target(out _, out var file) < 0) return null; // ReadLink then reports the error
        if (file!.Path is { } p) return p;
        var root = task.Fs.Root;
        return new PathPos(root.Mount, new Dentry(fd.ToString(), root.Dentry, new ReopenInode(proc, file, task)));
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        return -(long)Errno.ELOOP;
    }
}

/// <summary>Stands for an anonymous file reached through /proc/[pid]/fd/N: stat describes the
/// file, opening shares its description (Linux would open a new description of the same
/// pipe or terminal; sharing is the nearest we have for files without an inode).</summary>
internal sealed class ReopenInode : Inode
{
    private readonly FileDescription _file;

    public ReopenInode(FileSystem fs, FileDescription file, Task opener) : base(fs, 0, opener.Creds.EffectiveUid, opener.Creds.EffectiveGid)
    {
        _file = file;
        uint type = file.Stat(out Stat st) == 0 ? st.Mode & S_IFMT : S_IFIFO;
        Mode = (type == 0 ? S_IFIFO : type) | 0x1b6; // 0666: access is checked against the description below
        Nlink = 1;
    }

    public override long Stat(out Stat st) => _file.Stat(out st);

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        int access = flags & OpenFlags.O_ACCMODE;
        if ((access is OpenFlags.O_RDONLY or OpenFlags.O_RDWR && !_file.Readable)
            || (access is OpenFlags.O_WRONLY or OpenFlags.O_RDWR && !_file.Writable))
            return -(long)Errno.EACCES;
        _file.IncRef();
        file = _file;
        return 0;
    }
}

/// <summary>/proc/[pid]/cwd, root and exe: magic links to the task's places.</summary>
internal sealed class TaskLink(ProcFileSystem proc, int tid, TaskLink.Kind kind) : Inode(proc, S_IFLNK | 0x1ff, 0, 0)
{
    public enum Kind { Cwd, Root, Exe }

    /// <summary>Guards against an executable path that leads back through /proc/self/exe.</summary>
    [ThreadStatic] private static int _depth;

    private long Target(out Task? task)
    {
        task = proc.FindTask(tid);
        if (task == null) return -(long)Errno.ENOENT;
        return ProcFileSystem.MayAccess(Task.Current, task) ? 0 : -(long)Errno.EACCES;
    }

    public override long ReadLink(out string target)
    {
        target = "";
        long r = Target(out var task);
        if (r < 0) return r;
        var reader = Task.Current ?? task!;
        switch (kind)
        {
            case Kind.Exe:
                if (task!.MemoryManager.ExecutablePath is not { Length: > 0 } exe) return -(long)Errno.ENOENT;
                target = exe;
                return 0;
            case Kind.Cwd:
                var cwd = task!.Fs.Cwd;
                target = MountNamespace.PathOf(cwd, reader.Fs.Root) + (cwd.Dentry.Deleted ? " (deleted)" : "");
                return 0;
            default:
                target = MountNamespace.PathOf(task!.Fs.Root, reader.Fs.Root);
                return 0;
        }
    }

    public override PathPos? FollowMagic(Task caller)
    {
        if (Target(out var task) < 0) return null; // ReadLink then reports the error
        switch (kind)
        {
            case Kind.Cwd: return task!.Fs.Cwd;
            case Kind.Root: return task!.Fs.Root;
        }
        // The executable is known by path only: resolve it (from the task's root) so that
        // openat2's RESOLVE_NO_MAGICLINKS sees a magic link; failing that, ReadLink's text is walked.
        if (task!.MemoryManager.ExecutablePath is not { Length: > 0 } exe || _depth > 0) return null;
        _depth++;
        try
        {
            return PathResolver.Resolve(caller, task.Fs.Root, exe, followFinal: true, out PathPos pos) == 0 ? pos : null;
        }
        finally
        {
            _depth--;
        }
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        return -(long)Errno.ELOOP;
    }
}
