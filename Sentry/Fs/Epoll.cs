using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Fs;

/// <summary>struct epoll_event (packed on x86-64: 12 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct EpollEvent
{
    public uint Events;
    public ulong Data;
}

/// <summary>An epoll instance: an interest list of (file, fd) with event masks. Level-
/// triggered entries are reported while ready; edge-triggered ones once per change (a wake-up
/// from the file); EPOLLONESHOT entries are disabled after one report until EPOLL_CTL_MOD.</summary>
public sealed class EpollFile : FileDescription
{
    public const uint EPOLLET = 1u << 31, EPOLLONESHOT = 1u << 30, EPOLLWAKEUP = 1u << 29, EPOLLEXCLUSIVE = 1u << 28;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;

    private sealed class Entry(EpollFile owner, FileDescription file, int fd) : IWakeable
    {
        public readonly FileDescription File = file;
        public readonly int Fd = fd;
        public uint Events;
        public ulong Data;
        public volatile bool Changed = true;
        public bool Disabled;

        public void Wake(uint events)
        {
            Changed = true;
            owner.Queue.Notify(POLLIN);
        }
    }

    private readonly Dictionary<(FileDescription, int), Entry> _entries = [];

    public EpollFile(int flags)
    {
        Flags = OpenFlags.O_RDWR | flags;
    }

    public override string Name => "anon_inode:[eventpoll]";

    /// <summary>An anonymous file has no positions: pread/pwrite say ESPIPE.</summary>
    public override bool Positional => false;
    public WaitQueue Queue { get; } = new();
    public override WaitQueue? EventQueue => Queue;

    public override uint Readiness(uint mask)
    {
        Span<EpollEvent> one = stackalloc EpollEvent[1];
        return Collect(one, consume: false) > 0 ? mask & (POLLIN | POLLRDNORM) : 0;
    }

    public long Control(int op, int fd, FileDescription file, in EpollEvent ev)
    {
        if (file == this) return -(long)Errno.EINVAL;
        if (file.EventQueue is not { } queue) return -(long)Errno.EPERM;
        lock (_entries)
        {
            var key = (file, fd);
            switch (op)
            {
                case EPOLL_CTL_ADD:
                    {
                        if (_entries.ContainsKey(key)) return -(long)Errno.EEXIST;
                        var e = new Entry(this, file, fd) { Events = ev.Events, Data = ev.Data };
                        _entries[key] = e;
                        queue.Subscribe(e, ev.Events | AlwaysReported);
                        break;
                    }
                case EPOLL_CTL_MOD:
                    {
                        if (!_entries.TryGetValue(key, out var e)) return -(long)Errno.ENOENT;
                        if ((ev.Events & EPOLLEXCLUSIVE) != 0) return -(long)Errno.EINVAL;
                        queue.Unsubscribe(e);
                        e.Events = ev.Events;
                        e.Data = ev.Data;
                        e.Disabled = false;
                        e.Changed = true;
                        queue.Subscribe(e, ev.Events | AlwaysReported);
                        break;
                    }
                case EPOLL_CTL_DEL:
                    {
                        if (!_entries.Remove(key, out var e)) return -(long)Errno.ENOENT;
                        queue.Unsubscribe(e);
                        return 0;
                    }
                default:
                    return -(long)Errno.EINVAL;
            }
        }
        Queue.Notify(POLLIN);
        return 0;
    }

    /// <summary>Fills output with ready entries; with consume, applies ET/ONESHOT bookkeeping.</summary>
    private int Collect(Span<EpollEvent> output, bool consume)
    {
        int n = 0;
        lock (_entries)
        {
            foreach (var e in _entries.Values)
            {
                if (n == output.Length) break;
                if (e.Disabled) continue;
                bool edge = (e.Events & EPOLLET) != 0;
                if (edge && !e.Changed) continue;
                uint ready = e.File.Readiness(e.Events | AlwaysReported) & (e.Events | AlwaysReported);
                if (consume && edge) e.Changed = false;
                if (ready == 0) continue;
                output[n++] = new EpollEvent { Events = ready, Data = e.Data };
                if (consume && (e.Events & EPOLLONESHOT) != 0) e.Disabled = true;
            }
        }
        return n;
    }

    /// <summary>Waits for ready entries (epoll_wait): the count, 0 on timeout, or -EINTR.</summary>
    public long Wait(Kernel.Task task, EpollEvent[] output, long deadlineMs)
    {
        int n = Collect(output, consume: true);
        if (n > 0 || deadlineMs == 0) return n;
        using var wait = task.BeginWait(Queue, POLLIN);
        while (true)
        {
            task.Blocker.Reset();
            n = Collect(output, consume: true);
            if (n > 0) return n;
            long r = task.Sleep(deadlineMs);
            if (r == -(long)Errno.ETIMEDOUT) return 0;
            if (r < 0) return r;
        }
    }

    /// <summary>Drops entries for a file whose last descriptor closed (Linux removes them).</summary>
    protected override void Release()
    {
        lock (_entries)
        {
            foreach (var e in _entries.Values) e.File.EventQueue?.Unsubscribe(e);
            _entries.Clear();
        }
    }

    public override long Stat(out Stat stat)
    {
        stat = new Stat { Mode = 0x180, Nlink = 1, Blksize = 4096 };
        return 0;
    }
}
