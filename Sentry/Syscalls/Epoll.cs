using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Fs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>epoll(7) and eventfd(2).</summary>
public static partial class Linux
{
    private const int EpollMaxEvents = int.MaxValue / 12;

    /// <summary>Implements Linux syscall epoll_create(2).</summary>
    public static long EpollCreate(Task t, in SyscallArgs a) =>
        (int)a.A0 <= 0 ? -(long)Errno.EINVAL : NewEpoll(t, 0);

    /// <summary>Implements Linux syscall epoll_create1(2).</summary>
    public static long EpollCreate1(Task t, in SyscallArgs a) =>
        ((int)a.A0 & ~OpenFlags.O_CLOEXEC) != 0 ? -(long)Errno.EINVAL : NewEpoll(t, (int)a.A0);

    private static long NewEpoll(Task t, int flags)
    {
        var ep = new EpollFile(0);
        long fd = t.Fds.Allocate(ep, 0, (flags & OpenFlags.O_CLOEXEC) != 0);
        ep.DecRef();
        return fd;
    }

    /// <summary>Implements Linux syscall epoll_ctl(2).</summary>
    public static long EpollCtl(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f is not EpollFile ep) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A2) is not { } target) return -(long)Errno.EBADF;
        EpollEvent ev = default;
        if ((int)a.A1 != EpollFile.EPOLL_CTL_DEL && t.MemoryManager.CopyIn(a.A3, out ev) < 0) return -(long)Errno.EFAULT;
        return ep.Control((int)a.A1, (int)a.A2, target, ev);
    }

    /// <summary>Implements Linux syscall epoll_wait(2).</summary>
    public static long EpollWait(Task t, in SyscallArgs a) => DoEpollWait(t, a.A0, a.A1, (int)a.A2, DeadlineFromMs((int)a.A3));

    /// <summary>Implements Linux syscall epoll_pwait(2).</summary>
    public static long EpollPwait(Task t, in SyscallArgs a)
    {
        ulong epfd = a.A0, events = a.A1;
        int max = (int)a.A2;
        long deadline = DeadlineFromMs((int)a.A3);
        return WithSignalMask(t, a.A4, a.A5, () => DoEpollWait(t, epfd, events, max, deadline));
    }

    /// <summary>Implements Linux syscall epoll_pwait2(2) (timespec timeout).</summary>
    public static long EpollPwait2(Task t, in SyscallArgs a)
    {
        long r = DeadlineFromTimespec(t, a.A3, out long deadline);
        if (r < 0) return r;
        ulong epfd = a.A0, events = a.A1;
        int max = (int)a.A2;
        return WithSignalMask(t, a.A4, a.A5, () => DoEpollWait(t, epfd, events, max, deadline));
    }

    private static long DoEpollWait(Task t, ulong epfd, ulong eventsAddr, int max, long deadline)
    {
        if (max <= 0 || max > EpollMaxEvents) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)epfd) is not { } f) return -(long)Errno.EBADF;
        if (f is not EpollFile ep) return -(long)Errno.EINVAL;
        var output = new EpollEvent[Math.Min(max, 4096)];
        long n = ep.Wait(t, output, deadline);
        if (n <= 0) return n;
        return t.MemoryManager.CopyOut(eventsAddr, MemoryMarshal.AsBytes(output.AsSpan(0, (int)n))) < 0 ? -(long)Errno.EFAULT : n;
    }

    /// <summary>Implements Linux syscall eventfd(2).</summary>
    public static long Eventfd(Task t, in SyscallArgs a) => NewEventFd(t, (uint)a.A0, 0);

    /// <summary>Implements Linux syscall eventfd2(2).</summary>
    public static long Eventfd2(Task t, in SyscallArgs a) => NewEventFd(t, (uint)a.A0, (int)a.A1);

    private static long NewEventFd(Task t, uint initial, int flags)
    {
        const int EFD_SEMAPHORE = 1;
        if ((flags & ~(EFD_SEMAPHORE | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC)) != 0) return -(long)Errno.EINVAL;
        var ev = new EventFd(initial, (flags & EFD_SEMAPHORE) != 0, flags & OpenFlags.O_NONBLOCK);
        long fd = t.Fds.Allocate(ev, 0, (flags & OpenFlags.O_CLOEXEC) != 0);
        ev.DecRef();
        return fd;
    }
}
