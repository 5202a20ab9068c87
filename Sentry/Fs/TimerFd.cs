using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Fs;

/// <summary>A timerfd: a timer whose expirations accumulate in a counter that read(2) takes
/// (8 bytes, blocking at zero unless O_NONBLOCK) and that poll/epoll report as POLLIN.</summary>
public sealed class TimerFd : FileDescription
{
    private readonly object _gate = new();
    private readonly IntervalTimer _timer;
    private ulong _ticks;

    public TimerFd(int clockId, int flags)
    {
        ClockId = clockId;
        Flags = OpenFlags.O_RDWR | flags;
        _timer = new IntervalTimer(Expired);
    }

    /// <summary>The clock the timer was created on (absolute settings are on it).</summary>
    public int ClockId { get; }

    public override string Name => "anon_inode:[timerfd]";

    /// <summary>An anonymous file has no positions: pread/pwrite say ESPIPE.</summary>
    public override bool Positional => false;
    public WaitQueue Queue { get; } = new();
    public override WaitQueue? EventQueue => Queue;
    private bool NonBlocking => (Flags & OpenFlags.O_NONBLOCK) != 0;

    private void Expired(long count)
    {
        lock (_gate) _ticks = ulong.MaxValue - _ticks > (ulong)count ? _ticks + (ulong)count : ulong.MaxValue;
        Queue.Notify(POLLIN);
    }

    /// <summary>timerfd_settime: value 0 disarms; absolute values are on <see cref="ClockId"/>.
    /// The expiration count starts over. Returns the old setting (time left, interval).</summary>
    public (long Value, long Interval) SetTime(long value, long interval, bool absolute)
    {
        long when = absolute && value != 0 ? Ktime.ToMonotonic(ClockId, value) : value;
        return _timer.Set(value != 0, when, interval, absolute, () => { lock (_gate) _ticks = 0; });
    }

    /// <summary>timerfd_gettime: time left and interval.</summary>
    public (long Value, long Interval) GetTime() => _timer.Get();

    public override uint Readiness(uint mask)
    {
        lock (_gate) return _ticks > 0 ? mask & (POLLIN | POLLRDNORM) : 0;
    }

    private long TryTake(out ulong value)
    {
        lock (_gate)
        {
            value = _ticks;
            if (value == 0) return -(long)Errno.EAGAIN;
            _ticks = 0;
            return 8;
        }
    }

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        var dst = new IoBuffers(task.MemoryManager, iovecs);
        if (dst.Length < 8) return -(long)Errno.EINVAL;
        ulong value = 0;
        long r = NonBlocking ? TryTake(out value) : task.BlockOn(Queue, POLLIN, () => TryTake(out value));
        if (r < 0) return r;
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return dst.CopyOut(0, bytes) == 8 ? 8 : -(long)Errno.EFAULT;
    }

    public override long Stat(out Stat stat)
    {
        stat = new Stat { Mode = 0x180, Nlink = 1, Blksize = 4096 };
        return 0;
    }

    protected override void Release() => _timer.Cancel();
}
