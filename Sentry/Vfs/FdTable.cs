using Sandbox.Abi;

namespace Sandbox.Sentry.Vfs;

/// <summary>A task's file descriptor table: fd → (description, FD_CLOEXEC).</summary>
public sealed class FdTable
{
    private readonly record struct Entry(FileDescription File, bool CloseOnExec);

    private readonly Lock _lock = new();
    private Entry?[] _entries = new Entry?[64];

    private int _users = 1;

    /// <summary>Another task shares this table (CLONE_FILES).</summary>
    public void AddUser() => Interlocked.Increment(ref _users);

    /// <summary>A task stopped using it; true for the last one.</summary>
    public bool RemoveUser() => Interlocked.Decrement(ref _users) == 0;

    /// <summary>A copy for fork: same descriptions, same close-on-exec flags.</summary>
    public FdTable Fork()
    {
        var copy = new FdTable { Limit = Limit };
        lock (_lock)
        {
            copy._entries = new Entry?[_entries.Length];
            for (int i = 0; i < _entries.Length; i++)
            {
                if (_entries[i] is not { } e) continue;
                e.File.IncRef();
                copy._entries[i] = e;
            }
        }
        return copy;
    }

    /// <summary>execve: closes every close-on-exec descriptor.</summary>
    public void CloseOnExec()
    {
        var closing = new List<FileDescription>();
        lock (_lock)
        {
            for (int i = 0; i < _entries.Length; i++)
            {
                if (_entries[i] is not { CloseOnExec: true } e) continue;
                closing.Add(e.File);
                _entries[i] = null;
            }
        }
        foreach (var f in closing) f.DecRef();
    }

    /// <summary>close_range(2).</summary>
    public void CloseRange(int first, int last, bool cloexecOnly)
    {
        var closing = new List<FileDescription>();
        lock (_lock)
        {
            for (int i = Math.Max(first, 0); i < _entries.Length && i <= last; i++)
            {
                if (_entries[i] is not { } e) continue;
                if (cloexecOnly) { _entries[i] = e with { CloseOnExec = true }; continue; }
                closing.Add(e.File);
                _entries[i] = null;
            }
        }
        foreach (var f in closing) f.DecRef();
    }

    /// <summary>Open descriptors, for /proc/[pid]/fd.</summary>
    public IReadOnlyList<(int Fd, FileDescription File)> Snapshot()
    {
        var list = new List<(int, FileDescription)>();
        lock (_lock)
            for (int i = 0; i < _entries.Length; i++)
                if (_entries[i] is { } e) list.Add((i, e.File));
        return list;
    }

    /// <summary>RLIMIT_NOFILE: new fds must be below it.</summary>
    public int Limit { get; set; } = 1024;

    public FileDescription? Get(int fd)
    {
        lock (_lock)
            return fd >= 0 && fd < _entries.Length && _entries[fd] is { } e ? e.File : null;
    }

    public bool TryGetCloseOnExec(int fd, out bool cloexec)
    {
        lock (_lock)
        {
            cloexec = false;
            if (fd < 0 || fd >= _entries.Length || _entries[fd] is not { } e) return false;
            cloexec = e.CloseOnExec;
            return true;
        }
    }

    public bool SetCloseOnExec(int fd, bool cloexec)
    {
        lock (_lock)
        {
            if (fd < 0 || fd >= _entries.Length || _entries[fd] is not { } e) return false;
            _entries[fd] = e with { CloseOnExec = cloexec };
            return true;
        }
    }

    /// <summary>Installs file at the lowest free fd ≥ minFd, taking a new reference. Returns the
    /// fd or -EMFILE / -EINVAL.</summary>
    public long Allocate(FileDescription file, int minFd, bool cloexec)
    {
        lock (_lock)
        {
            if (minFd < 0 || minFd >= Limit) return -(long)Errno.EINVAL;
            for (int fd = minFd; fd < Limit; fd++)
            {
                if (fd >= _entries.Length) Array.Resize(ref _entries, Math.Min(Limit, _entries.Length * 2));
                if (_entries[fd] == null)
                {
                    file.IncRef();
                    _entries[fd] = new Entry(file, cloexec);
                    return fd;
                }
            }
            return -(long)Errno.EMFILE;
        }
    }

    /// <summary>Installs file at exactly fd, closing what was there (dup2 semantics).</summary>
    public long Replace(int fd, FileDescription file, bool cloexec)
    {
        Entry? old;
        lock (_lock)
        {
            if (fd < 0 || fd >= Limit) return -(long)Errno.EBADF;
            if (fd >= _entries.Length) Array.Resize(ref _entries, Math.Min(Limit, Math.Max(fd + 1, _entries.Length * 2)));
            old = _entries[fd];
            file.IncRef();
            _entries[fd] = new Entry(file, cloexec);
        }
        old?.File.DecRef();
        return fd;
    }

    public long Close(int fd)
    {
        Entry? old;
        lock (_lock)
        {
            if (fd < 0 || fd >= _entries.Length || _entries[fd] == null) return -(long)Errno.EBADF;
            old = _entries[fd];
            _entries[fd] = null;
        }
        if (old is { } closed) closed.File.DecRef(); // not old!.Value: Nullable<T>.Value of a struct of ours is JIT-compiled
        return 0;
    }

    public void CloseAll()
    {
        Entry?[] all;
        lock (_lock)
        {
            all = _entries;
            _entries = new Entry?[64];
        }
        foreach (var e in all) e?.File.DecRef();
    }
}
