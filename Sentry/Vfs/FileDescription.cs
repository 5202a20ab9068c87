using Sandbox.Abi;

namespace Sandbox.Sentry.Vfs;

/// <summary>An open file description: what a guest fd refers to. Several fds (dup) may share
/// one; it holds the status flags. Every operation returns a result or a negative errno.</summary>
public abstract class FileDescription
{
    private int _refs = 1;

    /// <summary>O_ACCMODE bits plus status flags (O_APPEND, O_NONBLOCK, ...).</summary>
    public int Flags { get; set; }

    /// <summary>What --strace and /proc show for it, e.g. "host:[1]".</summary>
    public abstract string Name { get; }

    public bool Readable => (Flags & OpenFlags.O_ACCMODE) != OpenFlags.O_WRONLY;
    public bool Writable => (Flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY;

    /// <summary>Reads into guest memory [addr, addr+length).</summary>
    public virtual long Read(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EINVAL;

    /// <summary>Writes from guest memory. offset is -1 for the description's own position.</summary>
    public virtual long Write(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EINVAL;

    public virtual long Seek(long offset, int whence) => -(long)Errno.ESPIPE;

    public abstract long Stat(out Stat stat);

    public virtual long Ioctl(Kernel.Task task, uint request, ulong arg) => -(long)Errno.ENOTTY;

    public void IncRef() => Interlocked.Increment(ref _refs);

    public void DecRef()
    {
        if (Interlocked.Decrement(ref _refs) == 0) Release();
    }

    /// <summary>Called when the last reference goes away.</summary>
    protected virtual void Release() { }
}
