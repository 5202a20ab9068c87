using Sandbox.Abi;

namespace Sandbox.Sentry.Kernel;

/// <summary>Blocking: a task waits on its <see cref="Blocker"/>, woken by the objects it
/// subscribed to, by a signal, or by a deadline.</summary>
public sealed partial class Task
{
    /// <summary>The wake-up primitive of this task's host thread.</summary>
    public Blocker Blocker { get; } = new();

    /// <summary>Set (and the blocker woken) when something needs the task's attention: a
    /// signal to handle, or the thread group exiting.</summary>
    private volatile bool _interruptRequested;

    /// <summary>True when a blocking call must give up: the caller returns EINTR (or
    /// restarts the call after the signal is handled).</summary>
    public bool InterruptPending => _interruptRequested;

    /// <summary>Wakes the task wherever it is: blocked in the Sentry, or running guest code.</summary>
    public void RequestInterrupt()
    {
        _interruptRequested = true;
        Blocker.Wake(0);
        Context?.Interrupt();
    }

    internal void ClearInterrupt() => _interruptRequested = false;

    /// <summary>Brings the task out of guest code, if it is running there, without disturbing a
    /// blocking call (no EINTR): it passes through the task loop before it runs the guest again.</summary>
    public void InterruptGuest() => Context?.Interrupt();

    /// <summary>Sleeps until woken (after the caller subscribed and re-checked its condition,
    /// with <see cref="Blocker.Reset"/> before the check): 0 when woken, -EINTR when
    /// interrupted, -ETIMEDOUT at the deadline.</summary>
    public long Sleep(long deadlineMs = long.MaxValue)
    {
        if (InterruptPending) return -(long)Errno.EINTR;
        if (!Blocker.Wait(deadlineMs)) return -(long)Errno.ETIMEDOUT;
        return InterruptPending ? -(long)Errno.EINTR : 0;
    }

    /// <summary>Subscribes the task's blocker to queue until the scope is disposed.</summary>
    public WaitScope BeginWait(WaitQueue queue, uint mask) => new(queue, Blocker, mask);

    /// <summary>Runs attempt until it returns something other than -EAGAIN, waiting on queue
    /// (for the events in mask) in between. Returns -EINTR when interrupted and -ETIMEDOUT
    /// at the deadline (Environment.TickCount64 milliseconds; long.MaxValue for none).</summary>
    public long BlockOn(WaitQueue? queue, uint mask, Func<long> attempt, long deadlineMs = long.MaxValue)
    {
        long r = attempt();
        if (r != -(long)Errno.EAGAIN) return r;
        queue?.Subscribe(Blocker, mask);
        try
        {
            while (true)
            {
                Blocker.Reset();
                r = attempt();
                if (r != -(long)Errno.EAGAIN) return r;
                if (InterruptPending) return -(long)Errno.EINTR;
                if (!Blocker.Wait(deadlineMs)) return -(long)Errno.ETIMEDOUT;
            }
        }
        finally
        {
            queue?.Unsubscribe(Blocker);
        }
    }
}

/// <summary>A subscription of a blocker to a wait queue, for a using block.</summary>
public readonly struct WaitScope : IDisposable
{
    private readonly WaitQueue _queue;
    private readonly Blocker _blocker;

    public WaitScope(WaitQueue queue, Blocker blocker, uint mask)
    {
        _queue = queue;
        _blocker = blocker;
        queue.Subscribe(blocker, mask);
    }

    public void Dispose() => _queue.Unsubscribe(_blocker);
}
