using Sandbox.Abi;
using Sandbox.Abi.Host;

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

    /// <summary>Wakes the task wherever it is: blocked in the Sentry, or running guest code.
    /// The task's own thread is in the Sentry, and checks the flag before it next switches
    /// into the guest: it needs no platform interrupt.</summary>
    public void RequestInterrupt()
    {
        _interruptRequested = true;
        Blocker.Wake(0);
        // A task interrupting itself is not in the guest (and checks the flag before going back).
        if (_current != this) Context?.Interrupt();
        WakeHostWait();
    }

    internal void ClearInterrupt() => _interruptRequested = false;

    /// <summary>Set while a preadv2/pwritev2 with RWF_NOWAIT runs: where the call would sleep,
    /// it returns EAGAIN instead (or what it transferred so far).</summary>
    public bool NoWait { get; set; }

    /// <summary>Brings the task out of guest code, if it is running there, without disturbing a
    /// blocking call (no EINTR): it passes through the task loop before it runs the guest again.</summary>
    public void InterruptGuest() => Context?.Interrupt();

    /// <summary>Sleeps until woken (after the caller subscribed and re-checked its condition,
    /// with <see cref="Blocker.Reset"/> before the check): 0 when woken, -EINTR when
    /// interrupted, -ETIMEDOUT at the deadline.</summary>
    public long Sleep(long deadlineMs = long.MaxValue)
    {
        if (NoWait) return -(long)Errno.EAGAIN;
        if (InterruptPending) return -(long)Errno.EINTR;
        if (!Blocker.Wait(deadlineMs)) return -(long)Errno.ETIMEDOUT;
        return InterruptPending ? -(long)Errno.EINTR : 0;
    }

    /// <summary>An eventfd that <see cref="RequestInterrupt"/> signals, made the first time the
    /// task waits on a host descriptor (<see cref="WaitForHost"/>); -1 until then.</summary>
    private int _hostWakeFd = -1;
    private readonly Lock _hostWakeLock = new();

    private unsafe void WakeHostWait()
    {
        // The flag is set before we look for the descriptor; WaitForHost publishes the
        // descriptor before it checks the flag: one of the two sees the other.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _hostWakeFd) < 0) return;
        lock (_hostWakeLock)
        {
            if (_hostWakeFd < 0) return;
            ulong one = 1;
            Unistd.Write(_hostWakeFd, (byte*)&one, sizeof(ulong));
        }
    }

    /// <summary>Waits until a host descriptor that can block (a terminal, pipe or socket runsc
    /// was given) is ready for events (HostPoll.POLLIN/POLLOUT), in host poll together with
    /// an eventfd that <see cref="RequestInterrupt"/> signals, so that a signal or the
    /// process's death ends the wait as it ends any other. 0 when the descriptor is ready (or
    /// in error: the transfer then reports it), -EINTR when interrupted, -EAGAIN when it is
    /// not ready and nonBlocking.</summary>
    public unsafe long WaitForHost(int hostFd, short events, bool nonBlocking)
    {
        HostPoll.PollFd* fds = stackalloc HostPoll.PollFd[2];
        fds[0] = new HostPoll.PollFd { Fd = hostFd, Events = events };
        int wakeFd = nonBlocking ? -1 : HostWakeFd();
        fds[1] = new HostPoll.PollFd { Fd = wakeFd, Events = HostPoll.POLLIN };
        while (true)
        {
            if (!nonBlocking && InterruptPending) return -(long)Errno.EINTR;
            // Without a wake-up descriptor (none could be made) this blocks as the transfer would.
            int r = HostPoll.Poll(fds, wakeFd < 0 ? 1u : 2u, nonBlocking ? 0 : -1);
            if (r < 0)
            {
                int errno = HostError.Last;
                if (errno == (int)Errno.EINTR) continue;
                return -errno;
            }
            if (fds[0].Revents != 0) return 0;
            if (nonBlocking) return -(long)Errno.EAGAIN;
            ulong count;
            Unistd.Read(wakeFd, (byte*)&count, sizeof(ulong)); // non-blocking: drains the wake-ups
        }
    }

    private int HostWakeFd()
    {
        if (Volatile.Read(ref _hostWakeFd) < 0)
        {
            lock (_hostWakeLock)
            {
                if (_hostWakeFd < 0) _hostWakeFd = HostPoll.Eventfd(0, HostPoll.EFD_CLOEXEC | HostPoll.EFD_NONBLOCK);
            }
            Interlocked.MemoryBarrier();
        }
        return _hostWakeFd;
    }

    /// <summary>Closes the host wake-up descriptor when the task has ended.</summary>
    private void CloseHostWakeFd()
    {
        lock (_hostWakeLock)
        {
            if (_hostWakeFd >= 0) Unistd.Close(_hostWakeFd);
            _hostWakeFd = -1;
        }
    }

    /// <summary>Subscribes the task's blocker to queue until the scope is disposed.</summary>
    public WaitScope BeginWait(WaitQueue queue, uint mask) => new(queue, Blocker, mask);

    /// <summary>Runs attempt until it returns something other than -EAGAIN, waiting on queue
    /// (for the events in mask) in between. Returns -EINTR when interrupted and -ETIMEDOUT
    /// at the deadline (Environment.TickCount64 milliseconds; long.MaxValue for none).</summary>
    public long BlockOn(WaitQueue? queue, uint mask, Func<long> attempt, long deadlineMs = long.MaxValue)
    {
        long r = attempt();
        if (r != -(long)Errno.EAGAIN || NoWait) return r;
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
