using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollFd
{
    public int Fd;
    public short Events, Revents;
}

/// <summary>poll(2), ppoll(2), select(2), pselect6(2).</summary>
public static partial class Linux
{
    private const int MaxPollFds = 1 << 20;

    /// <summary>Waits until one of the files is ready, the deadline passes or a signal
    /// arrives. ready() fills in results and returns how many are ready. As Linux's do_poll and
    /// do_select, a pending signal wins over a timeout, even a zero one, when nothing is ready.</summary>
    private static long PollLoop(Task t, List<(FileDescription File, uint Mask)> watched, Func<int> ready, long deadlineMs)
    {
        int n = ready();
        if (n > 0) return n;
        if (t.InterruptPending) return -(long)Errno.EINTR;
        if (deadlineMs == 0) return 0;
        var queues = new List<WaitQueue>();
        foreach (var (file, mask) in watched)
            if (file.EventQueue is { } q && !queues.Contains(q)) { q.Subscribe(t.Blocker, mask | AlwaysReported); queues.Add(q); }
        try
        {
            while (true)
            {
                t.Blocker.Reset();
                n = ready();
                if (n > 0) return n;
                long r = t.Sleep(deadlineMs);
                if (r == -(long)Errno.ETIMEDOUT) return 0;
                if (r < 0) return r;
            }
        }
        finally
        {
            foreach (var q in queues) q.Unsubscribe(t.Blocker);
        }
    }

    private static long DeadlineFromMs(long timeoutMs) =>
        timeoutMs < 0 ? long.MaxValue : timeoutMs == 0 ? 0 : Environment.TickCount64 + timeoutMs;

    /// <summary>The Environment.TickCount64 deadline of a timeout of ns nanoseconds, rounded
    /// up to whole milliseconds (0: do not wait).</summary>
    private static long DeadlineFromNanos(long ns)
    {
        if (ns <= 0) return 0;
        long ms = ns / Ktime.NanosPerMilli + (ns % Ktime.NanosPerMilli != 0 ? 1 : 0);
        return Ktime.Add(Environment.TickCount64, ms);
    }

    private static long DeadlineFromTimespec(Task t, ulong addr, out long deadline) =>
        TimeoutFromTimespec(t, addr, out deadline, out _);

    /// <summary>Reads a timespec timeout (none when addr is 0). endNs is the CLOCK_MONOTONIC
    /// time it ends at, or 0 when the time left is not written back (no or a zero timeout).</summary>
    private static long TimeoutFromTimespec(Task t, ulong addr, out long deadline, out long endNs)
    {
        deadline = long.MaxValue;
        endNs = 0;
        if (addr == 0) return 0;
        if (t.MemoryManager.CopyIn(addr, out Timespec ts) < 0) return -(long)Errno.EFAULT;
        if (!Ktime.Valid(ts)) return -(long)Errno.EINVAL;
        long ns = Ktime.FromTimespec(ts);
        deadline = DeadlineFromNanos(ns);
        if (ns != 0) endNs = Ktime.Add(Ktime.Monotonic(), ns);
        return 0;
    }

    /// <summary>Writes the time left back into the caller's timespec or timeval, as Linux's
    /// select, pselect6 and ppoll do (poll_select_finish): nothing for no or a zero timeout,
    /// 0 once it ran out. A write that faults is ignored; the call's result stands.</summary>
    private static void WriteTimeLeft(Task t, ulong addr, long endNs, bool timedOut, bool timeval)
    {
        if (addr == 0 || endNs == 0) return;
        long left = timedOut ? 0 : Math.Max(endNs - Ktime.Monotonic(), 0);
        if (timeval) t.MemoryManager.CopyOut(addr, Ktime.ToTimeval(left));
        else t.MemoryManager.CopyOut(addr, Ktime.ToTimespec(left));
    }

    /// <summary>Implements Linux syscall poll(2).</summary>
    public static long Poll(Task t, in SyscallArgs a) => DoPoll(t, a.A0, a.A1, DeadlineFromMs((int)a.A2));

    /// <summary>Implements Linux syscall ppoll(2). The time left goes back into the timespec.</summary>
    public static long Ppoll(Task t, in SyscallArgs a)
    {
        long r = TimeoutFromTimespec(t, a.A2, out long deadline, out long endNs);
        if (r < 0) return r;
        ulong fds = a.A0, count = a.A1;
        r = WithSignalMask(t, a.A3, a.A4, () => DoPoll(t, fds, count, deadline));
        WriteTimeLeft(t, a.A2, endNs, timedOut: r == 0, timeval: false);
        return r;
    }

    private static long DoPoll(Task t, ulong fdsAddr, ulong count, long deadline)
    {
        if (count > MaxPollFds || count > (ulong)t.Fds.Limit) return -(long)Errno.EINVAL;
        var fds = new PollFd[count];
        if (count > 0 && t.MemoryManager.CopyIn(fdsAddr, MemoryMarshal.AsBytes(fds.AsSpan())) < 0) return -(long)Errno.EFAULT;
        var watched = new List<(FileDescription, uint)>();
        var files = new FileDescription?[count];
        for (int i = 0; i < fds.Length; i++)
        {
            if (fds[i].Fd < 0) continue;
            files[i] = t.Fds.Get(fds[i].Fd);
            if (files[i] is { } f) watched.Add((f, (ushort)fds[i].Events));
        }
        int Ready()
        {
            int n = 0;
            for (int i = 0; i < fds.Length; i++)
            {
                if (fds[i].Fd < 0) { fds[i].Revents = 0; continue; }
                uint ev = files[i] is { } f ? f.Readiness((ushort)fds[i].Events | AlwaysReported) : POLLNVAL;
                fds[i].Revents = (short)ev;
                if (ev != 0) n++;
            }
            return n;
        }
        long r = PollLoop(t, watched, Ready, deadline);
        if (r < 0) return r;
        if (count > 0 && t.MemoryManager.CopyOut(fdsAddr, MemoryMarshal.AsBytes(fds.AsSpan())) < 0) return -(long)Errno.EFAULT;
        return r;
    }

    /// <summary>Implements Linux syscall select(2). A tv_usec of a second or more counts as
    /// whole seconds (only a negative time is EINVAL); the time left goes back into the timeval.</summary>
    public static long Select(Task t, in SyscallArgs a)
    {
        long deadline = long.MaxValue, endNs = 0;
        if (a.A4 != 0)
        {
            if (t.MemoryManager.CopyIn(a.A4, out Timeval tv) < 0) return -(long)Errno.EFAULT;
            var ts = new Timespec(tv.Sec + tv.Usec / 1_000_000, tv.Usec % 1_000_000 * Ktime.NanosPerMicro);
            if (!Ktime.Valid(ts)) return -(long)Errno.EINVAL;
            long ns = Ktime.FromTimespec(ts);
            deadline = DeadlineFromNanos(ns);
            if (ns != 0) endNs = Ktime.Add(Ktime.Monotonic(), ns);
        }
        long r = DoSelect(t, (int)a.A0, a.A1, a.A2, a.A3, deadline);
        WriteTimeLeft(t, a.A4, endNs, timedOut: r == 0, timeval: true);
        return r;
    }

    /// <summary>Implements Linux syscall pselect6(2). The raw call writes the time left back
    /// into the timespec (glibc's pselect hides that behind a copy).</summary>
    public static long Pselect6(Task t, in SyscallArgs a)
    {
        long r = TimeoutFromTimespec(t, a.A4, out long deadline, out long endNs);
        if (r < 0) return r;
        ulong maskAddr = 0, maskSize = 0;
        if (a.A5 != 0)
        {
            // struct { const sigset_t *ss; size_t ss_len; }
            Span<ulong> pair = stackalloc ulong[2];
            if (t.MemoryManager.CopyIn(a.A5, MemoryMarshal.AsBytes(pair)) < 0) return -(long)Errno.EFAULT;
            maskAddr = pair[0];
            maskSize = pair[1];
        }
        int nfds = (int)a.A0;
        ulong readAddr = a.A1, writeAddr = a.A2, exceptAddr = a.A3;
        r = WithSignalMask(t, maskAddr, maskSize, () => DoSelect(t, nfds, readAddr, writeAddr, exceptAddr, deadline));
        WriteTimeLeft(t, a.A4, endNs, timedOut: r == 0, timeval: false);
        return r;
    }

    private static long DoSelect(Task t, int nfds, ulong readAddr, ulong writeAddr, ulong exceptAddr, long deadline)
    {
        if (nfds < 0 || nfds > t.Fds.Limit) return -(long)Errno.EINVAL;
        int words = (nfds + 63) / 64;
        ulong[] inR = new ulong[words], inW = new ulong[words], inE = new ulong[words];
        if (readAddr != 0 && t.MemoryManager.CopyIn(readAddr, MemoryMarshal.AsBytes(inR.AsSpan())) < 0) return -(long)Errno.EFAULT;
        if (writeAddr != 0 && t.MemoryManager.CopyIn(writeAddr, MemoryMarshal.AsBytes(inW.AsSpan())) < 0) return -(long)Errno.EFAULT;
        if (exceptAddr != 0 && t.MemoryManager.CopyIn(exceptAddr, MemoryMarshal.AsBytes(inE.AsSpan())) < 0) return -(long)Errno.EFAULT;
        var watched = new List<(FileDescription, uint)>();
        var files = new FileDescription?[nfds];
        for (int fd = 0; fd < nfds; fd++)
        {
            ulong bit = 1UL << (fd % 64);
            if (((inR[fd / 64] | inW[fd / 64] | inE[fd / 64]) & bit) == 0) continue;
            files[fd] = t.Fds.Get(fd);
            if (files[fd] == null) return -(long)Errno.EBADF;
            watched.Add((files[fd]!, POLLIN | POLLOUT | POLLPRI));
        }
        ulong[] outR = new ulong[words], outW = new ulong[words], outE = new ulong[words];
        int Ready()
        {
            Array.Clear(outR); Array.Clear(outW); Array.Clear(outE);
            int n = 0;
            for (int fd = 0; fd < nfds; fd++)
            {
                if (files[fd] is not { } f) continue;
                ulong bit = 1UL << (fd % 64);
                uint ev = f.Readiness(POLLIN | POLLOUT | POLLPRI | AlwaysReported);
                if ((inR[fd / 64] & bit) != 0 && (ev & (POLLIN | POLLHUP | POLLERR)) != 0) { outR[fd / 64] |= bit; n++; }
                if ((inW[fd / 64] & bit) != 0 && (ev & (POLLOUT | POLLERR)) != 0) { outW[fd / 64] |= bit; n++; }
                if ((inE[fd / 64] & bit) != 0 && (ev & POLLPRI) != 0) { outE[fd / 64] |= bit; n++; }
            }
            return n;
        }
        long r = PollLoop(t, watched, Ready, deadline);
        if (r < 0) return r;
        if (readAddr != 0) t.MemoryManager.CopyOut(readAddr, MemoryMarshal.AsBytes(outR.AsSpan()));
        if (writeAddr != 0) t.MemoryManager.CopyOut(writeAddr, MemoryMarshal.AsBytes(outW.AsSpan()));
        if (exceptAddr != 0) t.MemoryManager.CopyOut(exceptAddr, MemoryMarshal.AsBytes(outE.AsSpan()));
        return r;
    }

    /// <summary>Runs a wait with a temporary signal mask (ppoll, pselect6, epoll_pwait,
    /// epoll_pwait2). A pending signal the temporary mask lets through interrupts the wait at
    /// once, and one arriving during it is sent here as to any unblocking thread. After EINTR
    /// the handler runs under the temporary mask and its frame restores the old one (Linux
    /// delivers before it restores); otherwise the old mask is back on return.</summary>
    private static long WithSignalMask(Task t, ulong maskAddr, ulong maskSize, Func<long> wait)
    {
        if (maskAddr == 0) return wait();
        if (maskSize != 8) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(maskAddr, out ulong mask) < 0) return -(long)Errno.EFAULT;
        ulong old = t.SignalMask;
        t.SetSignalMask(mask);
        long r = wait();
        t.RestoreMaskAfterSignal(old, interrupted: r == -(long)Errno.EINTR);
        return r;
    }
}
