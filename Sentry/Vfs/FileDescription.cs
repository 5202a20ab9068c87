using Sandbox.Abi;

namespace Sandbox.Sentry.Vfs;

/// <summary>Where a write goes relative to the end of the file.</summary>
public enum AppendMode
{
    /// <summary>As the description's O_APPEND flag says.</summary>
    AsOpened,
    /// <summary>At the end of the file (RWF_APPEND).</summary>
    Append,
    /// <summary>At the given or current offset even under O_APPEND (RWF_NOAPPEND).</summary>
    NoAppend,
}

/// <summary>An open file description: what a guest fd refers to. Several fds (dup) may share
/// one; it holds the status flags. Every operation returns a result or a negative errno.</summary>
public abstract class FileDescription
{
    private int _refs = 1;

    /// <summary>O_ACCMODE bits plus status flags (O_APPEND, O_NONBLOCK, ...).</summary>
    public int Flags { get; set; }

    /// <summary>What --strace and /proc show for it, e.g. "host:[1]".</summary>
    public abstract string Name { get; }

    /// <summary>Where it was opened, for files reached through the VFS; null for pipes,
    /// host stdio and other anonymous files.</summary>
    public PathPos? Path { get; init; }

    /// <summary>Lists directory entries into guest memory (getdents/getdents64).</summary>
    public virtual long Getdents(Kernel.Task task, ulong addr, int count, bool is64) => -(long)Errno.ENOTDIR;

    public virtual long Truncate(long size) => -(long)Errno.EINVAL;

    /// <summary>Which of the poll events in mask hold now. Regular files are always ready.</summary>
    public virtual uint Readiness(uint mask) => mask & (Kernel.Events.POLLIN | Kernel.Events.POLLOUT
        | Kernel.Events.POLLRDNORM | Kernel.Events.POLLWRNORM);

    /// <summary>Where pollers wait for this file's readiness to change; null if it never does.</summary>
    public virtual Kernel.WaitQueue? EventQueue => null;

    /// <summary>fsync: files that have no storage (pipes, sockets, terminals) say EINVAL.</summary>
    public virtual long Sync() => -(long)Errno.EINVAL;

    public virtual long Allocate(int mode, long offset, long length) => -(long)Errno.ENODEV;

    /// <summary>Whether pread/pwrite and friends work on it (Linux's FMODE_PREAD/FMODE_PWRITE).
    /// Streams -- pipes, terminals, sockets, event files -- say no: positional I/O on them is
    /// ESPIPE, reported before the access mode is looked at.</summary>
    public virtual bool Positional => true;

    /// <summary>The status flags F_GETFL reports (Linux's f_flags). x86-64's open(2) always adds
    /// O_LARGEFILE; files made without a path (pipe2, eventfd, ...) do not have it.</summary>
    public virtual int StatusFlags => Flags | (Path != null ? OpenFlags.O_LARGEFILE : 0);

    /// <summary>The status flags F_SETFL may change.</summary>
    public const int SettableStatusFlags = OpenFlags.O_APPEND | OpenFlags.O_NONBLOCK | OpenFlags.O_ASYNC
        | OpenFlags.O_DIRECT | OpenFlags.O_NOATIME;

    /// <summary>F_SETFL: changes the status flags in mask to those in flags.</summary>
    public virtual long SetStatusFlags(int flags, int mask)
    {
        Flags = (Flags & ~mask) | (flags & mask);
        return 0;
    }

    public bool Readable => (Flags & OpenFlags.O_ACCMODE) != OpenFlags.O_WRONLY;
    public bool Writable => (Flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY;

    /// <summary>Reads into guest memory [addr, addr+length).</summary>
    public virtual long Read(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EINVAL;

    /// <summary>Writes from guest memory. offset is -1 for the description's own position.</summary>
    public virtual long Write(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EINVAL;

    /// <summary>pwritev2: a write whose O_APPEND behaviour is chosen for this call (RWF_APPEND,
    /// RWF_NOAPPEND). Files without a position (pipes, devices) ignore it.</summary>
    public virtual long Write(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset, AppendMode append) =>
        Write(task, guestIovecs, offset);

    /// <summary>Whether preadv2/pwritev2 may pass RWF_NOWAIT (Linux's FMODE_NOWAIT); if not, they
    /// fail with EOPNOTSUPP. With it, the call fails with EAGAIN where it would block.</summary>
    public virtual bool NoWaitSupported => true;

    /// <summary>Reads into a Sentry buffer (sendfile, splice, copy_file_range); offset -1
    /// means the description's own position.</summary>
    public virtual long ReadKernel(Span<byte> dst, long offset) => -(long)Errno.EINVAL;

    /// <summary>Writes from a Sentry buffer; offset -1 means the description's own position.</summary>
    public virtual long WriteKernel(ReadOnlySpan<byte> src, long offset) => -(long)Errno.EINVAL;

    public virtual long Seek(long offset, int whence) => -(long)Errno.ESPIPE;

    public virtual long Stat(out Stat stat)
    {
        if (Path is { } p) return p.Inode.Stat(out stat);
        stat = default;
        return -(long)Errno.EBADF;
    }

    public virtual long Ioctl(Kernel.Task task, uint request, ulong arg) => -(long)Errno.ENOTTY;

    public void IncRef() => Interlocked.Increment(ref _refs);

    public void DecRef()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return;
        if (Fs.Inotify.Active && Path != null)
            Fs.Inotify.FileEvent(Path, Writable && (Flags & OpenFlags.O_PATH) == 0 ? Fs.Inotify.IN_CLOSE_WRITE : Fs.Inotify.IN_CLOSE_NOWRITE);
        ReleaseLocks();
        Release();
    }

    /// <summary>Called when the last reference goes away.</summary>
    protected virtual void Release() { }

    private void ReleaseLocks()
    {
        if (Path is not { } p) return;
        // OFD and flock locks belong to the description and go with it.
        p.Inode.RecordLocks.ReleaseAll(this);
        p.Inode.FlockLocks.ReleaseAll(this);
    }
}
