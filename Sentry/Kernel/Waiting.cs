namespace Sandbox.Sentry.Kernel;

/// <summary>Readiness events, as poll(2) and epoll(7) name them.</summary>
public static class Events
{
    public const uint POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public const uint POLLRDNORM = 0x40, POLLRDBAND = 0x80, POLLWRNORM = 0x100, POLLWRBAND = 0x200, POLLRDHUP = 0x2000;
    /// <summary>Always reported, whether asked for or not.</summary>
    public const uint AlwaysReported = POLLERR | POLLHUP | POLLNVAL;
}

/// <summary>Something a blocked task can be woken by: a task's own blocker, or an epoll
/// instance watching a file.</summary>
public interface IWakeable
{
    void Wake(uint events);
}

/// <summary>The waiters interested in one object's events. Objects notify after a change
/// (data arrived, space freed, peer closed); each waiter whose mask matches is woken.</summary>
public sealed class WaitQueue
{
    private readonly List<(IWakeable Waiter, uint Mask)> _waiters = [];

    public void Subscribe(IWakeable waiter, uint mask)
    {
        lock (_waiters) _waiters.Add((waiter, mask));
    }

    public void Unsubscribe(IWakeable waiter)
    {
        lock (_waiters) _waiters.RemoveAll(w => w.Waiter == waiter);
    }

    public void Notify(uint events)
    {
        (IWakeable, uint)[] snapshot;
        lock (_waiters)
        {
            if (_waiters.Count == 0) return;
            snapshot = [.. _waiters];
        }
        foreach (var (waiter, mask) in snapshot)
            if ((mask & (events | Events.AlwaysReported)) != 0) waiter.Wake(events);
    }
}

/// <summary>A task's blocking primitive: waits until woken by a subscribed queue, a signal
/// for the task, or a deadline. One per task; only its own thread waits on it.</summary>
public sealed class Blocker : IWakeable
{
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);

    public void Wake(uint events)
    {
        if (_signal.CurrentCount == 0) _signal.Release();
    }

    /// <summary>Waits for a wake-up; false when the deadline (monotonic ticks of
    /// Environment.TickCount64, or long.MaxValue for none) passed first.</summary>
    public bool Wait(long deadlineMs)
    {
        if (deadlineMs == long.MaxValue)
        {
            _signal.Wait();
            return true;
        }
        // A wait is at most int.MaxValue ms at a time (about 25 days); a longer timeout
        // (select with a huge timeval, say) takes several.
        for (long left = deadlineMs - Environment.TickCount64; left > 0; left = deadlineMs - Environment.TickCount64)
            if (_signal.Wait((int)Math.Min(left, int.MaxValue))) return true;
        return false;
    }

    /// <summary>Forgets stale wake-ups before a new wait.</summary>
    public void Reset()
    {
        while (_signal.CurrentCount > 0 && _signal.Wait(0)) { }
    }
}
