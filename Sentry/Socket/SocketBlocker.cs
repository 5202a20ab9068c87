using Sandbox.Abi;
using Sandbox.Sentry.Kernel;

namespace Sandbox.Sentry.Socket;

/// <summary>The waiting half of a blocking socket call. The call tries under its lock; when it
/// must wait, <see cref="Wait"/> subscribes the task to the queues (the first time, returning
/// at once so the call re-checks after subscribing) or sleeps. A mutable struct: keep it in a
/// local and end with <see cref="Dispose"/> in a finally.</summary>
public struct SocketBlocker
{
    private readonly Task? _task;
    private readonly long? _timeoutUs;
    private readonly long _deadline;
    private readonly WaitQueue _queue;
    private readonly uint _mask;
    private WaitQueue? _second;
    private uint _secondMask;
    private bool _subscribed;

    /// <summary>timeoutUs is SO_RCVTIMEO/SO_SNDTIMEO (null for none).</summary>
    public SocketBlocker(Task? task, long? timeoutUs, WaitQueue queue, uint mask)
    {
        _task = task;
        _timeoutUs = timeoutUs;
        _deadline = SocketFile.DeadlineFor(timeoutUs);
        _queue = queue;
        _mask = mask;
    }

    /// <summary>Also waits on another object's queue (the peer a datagram goes to, or a
    /// listener's backlog); it may change between attempts.</summary>
    public void AlsoOn(WaitQueue queue, uint mask)
    {
        if (_second == queue) return;
        if (_subscribed && _task != null)
        {
            _second?.Unsubscribe(_task.Blocker);
            queue.Subscribe(_task.Blocker, mask);
        }
        _second = queue;
        _secondMask = mask;
    }

    /// <summary>Call before each attempt: forgets wake-ups the previous attempt has seen.</summary>
    public readonly void BeforeAttempt()
    {
        if (_subscribed) _task!.Blocker.Reset();
    }

    /// <summary>After an attempt that must wait: 0 to try again, -EAGAIN for a non-blocking
    /// call or when the timeout passed, -EINTR for a signal (not restarted when a timeout
    /// was set, as Linux's sock_intr_errno).</summary>
    public long Wait(bool nonBlocking)
    {
        if (nonBlocking || _task == null || _deadline == 0) return -(long)Errno.EAGAIN;
        if (!_subscribed)
        {
            _queue.Subscribe(_task.Blocker, _mask);
            _second?.Subscribe(_task.Blocker, _secondMask);
            _subscribed = true;
            return 0;
        }
        long r = _task.Sleep(_deadline);
        if (r == -(long)Errno.ETIMEDOUT) return -(long)Errno.EAGAIN;
        if (r < 0 && _timeoutUs != null) _task.NoRestart = true;
        return r;
    }

    public void Dispose()
    {
        if (!_subscribed) return;
        _queue.Unsubscribe(_task!.Blocker);
        _second?.Unsubscribe(_task.Blocker);
        _subscribed = false;
    }
}
