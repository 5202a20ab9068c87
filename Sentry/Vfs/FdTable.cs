using Sandbox.Abi;

namespace Sandbox.Sentry.Vfs;

/// <summary>A task's file descriptor table: fd → (description, FD_CLOEXEC).</summary>
public sealed class FdTable
{
    private readonly record struct Entry(FileDescription File, bool CloseOnExec);

    private readonly Lock _lock = new();
    private Entry?[] _entries = new Entry?[64];

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
        old!.Value.File.DecRef();
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
