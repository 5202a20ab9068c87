using Sandbox.Abi;

namespace Sandbox.Sentry.Vfs;

/// <summary>Advisory byte-range locks on one inode (fcntl F_SETLK and OFD locks; flock uses a
/// separate instance with whole-file ranges). An owner is the process for classic POSIX
/// locks and the open file description for OFD and flock locks; an owner never conflicts
/// with itself, and setting a lock replaces the owner's locks on that range.</summary>
public sealed class FileLocks
{
    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;

    /// <summary>[Start, End) with End == long.MaxValue meaning "to end of file, forever".</summary>
    public sealed record Range(object Owner, bool Write, long Start, long End, int Pid);

    private readonly List<Range> _ranges = [];

    /// <summary>The first lock of another owner that conflicts, or null.</summary>
    public Range? FindConflict(object owner, bool write, long start, long end)
    {
        lock (this)
            return _ranges.Find(r => r.Owner != owner && (write || r.Write) && r.Start < end && start < r.End);
    }

    /// <summary>Woken whenever locks go away, for waiters on a conflict.</summary>
    private readonly Kernel.WaitQueue _released = new();

    /// <summary>Sets (F_RDLCK/F_WRLCK) or clears (F_UNLCK) the owner's lock on [start, end).
    /// On conflict: -EAGAIN without a waiter; otherwise the waiter sleeps until the conflict
    /// is gone, or -EINTR when a signal (or its process's death) interrupts it, as Linux's
    /// F_SETLKW and flock do.</summary>
    public long Set(object owner, short type, long start, long end, int pid, Kernel.Task? waiter)
    {
        long r = TrySet(owner, type, start, end, pid);
        if (r != -(long)Errno.EAGAIN || waiter == null) return r;
        return waiter.BlockOn(_released, Kernel.Events.POLLIN, () => TrySet(owner, type, start, end, pid));
    }

    private long TrySet(object owner, short type, long start, long end, int pid)
    {
        bool released = false;
        lock (this)
        {
            if (type != F_UNLCK && FindConflict(owner, type == F_WRLCK, start, end) != null) return -(long)Errno.EAGAIN;
            // Cut the owner's existing locks out of [start, end), keeping the parts outside.
            for (int i = _ranges.Count - 1; i >= 0; i--)
            {
                var r = _ranges[i];
                if (r.Owner != owner || r.End <= start || end <= r.Start) continue;
                _ranges.RemoveAt(i);
                released = true;
                if (r.Start < start) _ranges.Add(r with { End = start });
                if (end < r.End) _ranges.Add(r with { Start = end });
            }
            if (type != F_UNLCK) _ranges.Add(new Range(owner, type == F_WRLCK, start, end, pid));
        }
        // Replacing a write lock by a read lock releases something too.
        if (released) _released.Notify(Kernel.Events.POLLIN);
        return 0;
    }

    public void ReleaseAll(object owner)
    {
        bool released;
        lock (this) released = _ranges.RemoveAll(r => r.Owner == owner) > 0;
        if (released) _released.Notify(Kernel.Events.POLLIN);
    }
}
