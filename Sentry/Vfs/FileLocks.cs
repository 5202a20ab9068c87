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

    /// <summary>Sets (F_RDLCK/F_WRLCK) or clears (F_UNLCK) the owner's lock on [start, end).
    /// Returns -EAGAIN on conflict when not waiting; waits otherwise.</summary>
    public long Set(object owner, short type, long start, long end, int pid, bool wait)
    {
        lock (this)
        {
            if (type != F_UNLCK)
            {
                while (FindConflict(owner, type == F_WRLCK, start, end) != null)
                {
                    if (!wait) return -(long)Errno.EAGAIN;
                    Monitor.Wait(this);
                }
            }
            // Cut the owner's existing locks out of [start, end), keeping the parts outside.
            for (int i = _ranges.Count - 1; i >= 0; i--)
            {
                var r = _ranges[i];
                if (r.Owner != owner || r.End <= start || end <= r.Start) continue;
                _ranges.RemoveAt(i);
                if (r.Start < start) _ranges.Add(r with { End = start });
                if (end < r.End) _ranges.Add(r with { Start = end });
            }
            if (type != F_UNLCK) _ranges.Add(new Range(owner, type == F_WRLCK, start, end, pid));
            Monitor.PulseAll(this);
            return 0;
        }
    }

    public void ReleaseAll(object owner)
    {
        lock (this)
        {
            if (_ranges.RemoveAll(r => r.Owner == owner) > 0) Monitor.PulseAll(this);
        }
    }
}
