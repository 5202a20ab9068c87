using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Fs;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.Clocks;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>struct itimerval (setitimer/getitimer).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Itimerval
{
    public Timeval Interval, Value;
}

/// <summary>struct itimerspec (timer_settime, timerfd_settime).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Itimerspec
{
    public Timespec Interval, Value;
}

/// <summary>struct sigevent (64 bytes): sigev_value, sigev_signo, sigev_notify, and the union
/// whose first int is sigev_notify_thread_id.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct Sigevent
{
    public ulong Value;
    public int Signo, Notify, ThreadId;
}

/// <summary>Timers: alarm and interval timers, POSIX timers, timerfd, and the interruptible
/// sleeps of nanosleep and clock_nanosleep.</summary>
public static partial class Linux
{
    private const int TFD_TIMER_ABSTIME = 1, TFD_TIMER_CANCEL_ON_SET = 2;

    /// <summary>Implements Linux syscall alarm(2).</summary>
    public static long Alarm(Task t, in SyscallArgs a)
    {
        long seconds = (uint)a.A0;
        var timer = ProcessTimers.Of(t).Itimer(ProcessTimers.ITIMER_REAL);
        var (old, _) = timer.Set(seconds != 0, seconds * Ktime.NanosPerSecond, 0, absolute: false);
        // As alarm_setitimer: round to the nearest second, but never report 0 for an armed alarm.
        var left = Ktime.ToTimeval(old);
        if ((left.Sec == 0 && left.Usec != 0) || left.Usec >= 500_000) left.Sec++;
        return left.Sec;
    }

    /// <summary>Implements Linux syscall setitimer(2).</summary>
    public static long Setitimer(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0;
        if (which is < ProcessTimers.ITIMER_REAL or > ProcessTimers.ITIMER_PROF) return -(long)Errno.EINVAL;
        // A NULL new value disarms, as Linux still accepts.
        Itimerval value = default;
        if (a.A1 != 0 && t.MemoryManager.CopyIn(a.A1, out value) < 0) return -(long)Errno.EFAULT;
        if (!Ktime.Valid(value.Value) || !Ktime.Valid(value.Interval)) return -(long)Errno.EINVAL;
        long first = Ktime.FromTimeval(value.Value), interval = Ktime.FromTimeval(value.Interval);
        var timer = ProcessTimers.Of(t).Itimer(which);
        var old = timer.Set(first != 0, first, interval, absolute: false);
        return a.A2 != 0 ? t.MemoryManager.CopyOut(a.A2, ToItimerval(old)) : 0;
    }

    /// <summary>Implements Linux syscall getitimer(2).</summary>
    public static long Getitimer(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0;
        if (which is < ProcessTimers.ITIMER_REAL or > ProcessTimers.ITIMER_PROF) return -(long)Errno.EINVAL;
        return t.MemoryManager.CopyOut(a.A1, ToItimerval(ProcessTimers.Of(t).Itimer(which).Get()));
    }

    /// <summary>An armed interval timer never shows less than 1 µs left (itimer_get_remtime).</summary>
    private static Itimerval ToItimerval((long Value, long Interval) v) => new()
    {
        Value = Ktime.ToTimeval(v.Value > 0 ? Math.Max(v.Value, Ktime.NanosPerMicro) : 0),
        Interval = Ktime.ToTimeval(v.Interval),
    };

    private static Itimerspec ToItimerspec((long Value, long Interval) v) =>
        new() { Value = Ktime.ToTimespec(v.Value), Interval = Ktime.ToTimespec(v.Interval) };

    /// <summary>The clock absolute wall-time settings of a timer on clock are read from.</summary>
    private static int WallClock(int clock) => clock switch
    {
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        _ => clock,
    };

    /// <summary>Resolves a timer_create clock: wall clocks need nothing; CPU clocks (the
    /// process's or a thread's, by id or encoded as clock_getcpuclockid makes them) get a
    /// sampler and the condition under which they still exist.</summary>
    private static long TimerClock(Task t, int clock, out Func<long>? cpu, out Func<bool>? alive)
    {
        cpu = null;
        alive = null;
        switch (clock)
        {
            case CLOCK_REALTIME or CLOCK_MONOTONIC or CLOCK_BOOTTIME or CLOCK_TAI or CLOCK_REALTIME_ALARM or CLOCK_BOOTTIME_ALARM:
                return 0;
            case CLOCK_MONOTONIC_RAW or CLOCK_REALTIME_COARSE or CLOCK_MONOTONIC_COARSE:
                return -(long)Errno.EOPNOTSUPP;
            case CLOCK_PROCESS_CPUTIME_ID:
                {
                    var g = t.Group;
                    cpu = () => ProcessTimers.CpuNanos(g);
                    return 0;
                }
            case CLOCK_THREAD_CPUTIME_ID:
                {
                    var self = t;
                    cpu = () => ProcessTimers.CpuNanos(self);
                    alive = () => self.Exit == null;
                    return 0;
                }
        }
        // ((~pid) << 3) | CPUCLOCK_PERTHREAD (4) | CPUCLOCK_PROF/VIRT/SCHED (0..2); pid 0 is the caller.
        if (clock >= 0 || (clock & 3) == 3) return -(long)Errno.EINVAL;
        int id = ~(clock >> 3);
        if ((clock & 4) != 0)
        {
            Task? target = id == 0 ? t : t.Kernel.Tasks.GetValueOrDefault(id);
            if (target == null || target.Group != t.Group || target.Exit != null) return -(long)Errno.EINVAL;
            cpu = () => ProcessTimers.CpuNanos(target);
            alive = () => target.Exit == null;
            return 0;
        }
        // Timers on another process's CPU clock are not supported.
        if (id != 0 && id != t.Pid) return -(long)Errno.EINVAL;
        var group = t.Group;
        cpu = () => ProcessTimers.CpuNanos(group);
        return 0;
    }

    /// <summary>Implements Linux syscall timer_create(2).</summary>
    public static long TimerCreate(Task t, in SyscallArgs a)
    {
        int clock = (int)a.A0;
        long r = TimerClock(t, clock, out var cpu, out var alive);
        if (r < 0) return r;
        var ev = new Sigevent { Notify = PosixTimer.SIGEV_SIGNAL, Signo = Signals.SIGALRM };
        bool defaultValue = a.A1 == 0;
        if (!defaultValue && t.MemoryManager.CopyIn(a.A1, out ev) < 0) return -(long)Errno.EFAULT;
        Task? thread = null;
        switch (ev.Notify)
        {
            case PosixTimer.SIGEV_NONE:
                break;
            case PosixTimer.SIGEV_SIGNAL or PosixTimer.SIGEV_THREAD or PosixTimer.SIGEV_THREAD_ID:
                if (ev.Notify == PosixTimer.SIGEV_THREAD_ID)
                {
                    thread = t.Kernel.Tasks.GetValueOrDefault(ev.ThreadId);
                    if (thread == null || thread.Group != t.Group || thread.Exit != null) return -(long)Errno.EINVAL;
                }
                if (ev.Signo is <= 0 or > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
                break;
            default:
                return -(long)Errno.EINVAL;
        }
        var timers = ProcessTimers.Of(t);
        var timer = timers.Create(t, WallClock(clock), cpu, alive, ev.Notify, ev.Signo, ev.Value, defaultValue, thread);
        if (timer == null) return -(long)Errno.EAGAIN;
        if (t.MemoryManager.CopyOut(a.A2, timer.Id) < 0)
        {
            timers.Delete(timer.Id);
            return -(long)Errno.EFAULT;
        }
        return 0;
    }

    /// <summary>Implements Linux syscall timer_settime(2).</summary>
    public static long TimerSettime(Task t, in SyscallArgs a)
    {
        if (a.A2 == 0) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(a.A2, out Itimerspec value) < 0) return -(long)Errno.EFAULT;
        if (!Ktime.Valid(value.Value) || !Ktime.Valid(value.Interval)) return -(long)Errno.EINVAL;
        if (ProcessTimers.Of(t).Find((int)a.A0) is not { } timer) return -(long)Errno.EINVAL;
        bool absolute = ((int)a.A1 & TIMER_ABSTIME) != 0;
        long first = Ktime.FromTimespec(value.Value), interval = Ktime.FromTimespec(value.Interval);
        long when = absolute && first != 0 && !timer.Timer.IsCpuClock ? Ktime.ToMonotonic(timer.ClockId, first) : first;
        var old = timer.Timer.Set(first != 0, when, interval, absolute);
        return a.A3 != 0 ? t.MemoryManager.CopyOut(a.A3, ToItimerspec(old)) : 0;
    }

    /// <summary>Implements Linux syscall timer_gettime(2).</summary>
    public static long TimerGettime(Task t, in SyscallArgs a)
    {
        if (ProcessTimers.Of(t).Find((int)a.A0) is not { } timer) return -(long)Errno.EINVAL;
        return t.MemoryManager.CopyOut(a.A1, ToItimerspec(timer.Timer.Get()));
    }

    /// <summary>Implements Linux syscall timer_getoverrun(2).</summary>
    public static long TimerGetoverrun(Task t, in SyscallArgs a) =>
        ProcessTimers.Of(t).Find((int)a.A0) is { } timer ? timer.Overrun() : -(long)Errno.EINVAL;

    /// <summary>Implements Linux syscall timer_delete(2).</summary>
    public static long TimerDelete(Task t, in SyscallArgs a) =>
        ProcessTimers.Of(t).Delete((int)a.A0) ? 0 : -(long)Errno.EINVAL;

    /// <summary>Implements Linux syscall timerfd_create(2).</summary>
    public static long TimerfdCreate(Task t, in SyscallArgs a)
    {
        int clock = (int)a.A0, flags = (int)a.A1;
        if ((flags & ~(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK)) != 0) return -(long)Errno.EINVAL;
        if (clock is not (CLOCK_REALTIME or CLOCK_MONOTONIC or CLOCK_BOOTTIME or CLOCK_REALTIME_ALARM or CLOCK_BOOTTIME_ALARM))
            return -(long)Errno.EINVAL;
        var file = new TimerFd(WallClock(clock), flags & OpenFlags.O_NONBLOCK);
        long fd = t.Fds.Allocate(file, 0, (flags & OpenFlags.O_CLOEXEC) != 0);
        file.DecRef();
        return fd;
    }

    /// <summary>Implements Linux syscall timerfd_settime(2).</summary>
    public static long TimerfdSettime(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A1;
        if (t.MemoryManager.CopyIn(a.A2, out Itimerspec value) < 0) return -(long)Errno.EFAULT;
        if ((flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) != 0) return -(long)Errno.EINVAL;
        if (!Ktime.Valid(value.Value) || !Ktime.Valid(value.Interval)) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f is not TimerFd tfd) return -(long)Errno.EINVAL;
        var old = tfd.SetTime(Ktime.FromTimespec(value.Value), Ktime.FromTimespec(value.Interval), (flags & TFD_TIMER_ABSTIME) != 0);
        return a.A3 != 0 ? t.MemoryManager.CopyOut(a.A3, ToItimerspec(old)) : 0;
    }

    /// <summary>Implements Linux syscall timerfd_gettime(2).</summary>
    public static long TimerfdGettime(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f is not TimerFd tfd) return -(long)Errno.EINVAL;
        return t.MemoryManager.CopyOut(a.A1, ToItimerspec(tfd.GetTime()));
    }

    /// <summary>The longest single wait of a sleep (the blocker takes int milliseconds).</summary>
    private const long MaxSleepChunkMs = 3_600_000;

    /// <summary>nanosleep and clock_nanosleep: sleeps on the task's blocker until clock reaches
    /// the requested time (relative, or absolute on clock), so that a signal interrupts it:
    /// then -EINTR, with the time left written to remainAddr for a relative sleep.</summary>
    internal static long SleepInterruptibly(Task t, int clock, bool absolute, ulong requestAddr, ulong remainAddr)
    {
        if (t.MemoryManager.CopyIn(requestAddr, out Timespec request) < 0) return -(long)Errno.EFAULT;
        if (!Ktime.Valid(request)) return -(long)Errno.EINVAL;
        long ns = Ktime.FromTimespec(request);
        long deadline = absolute ? Ktime.ToMonotonic(WallClock(clock), ns) : Ktime.Add(Ktime.Monotonic(), ns);
        while (true)
        {
            t.Blocker.Reset();
            long left = deadline - Ktime.Monotonic();
            if (left <= 0) return 0;
            long ms = Math.Min((left + Ktime.NanosPerMilli - 1) / Ktime.NanosPerMilli, MaxSleepChunkMs);
            if (t.Sleep(Environment.TickCount64 + ms) != -(long)Errno.EINTR) continue;
            if (!absolute && remainAddr != 0)
            {
                left = Math.Max(deadline - Ktime.Monotonic(), 0);
                if (t.MemoryManager.CopyOut(remainAddr, Ktime.ToTimespec(left)) < 0) return -(long)Errno.EFAULT;
            }
            return -(long)Errno.EINTR;
        }
    }
}
