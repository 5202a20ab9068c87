using Sandbox.Abi;
using static Sandbox.Abi.Clocks;
using HostTime = Sandbox.Abi.Host.Time;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Clock and sleep system calls.</summary>
public static partial class Linux
{
    private const long NanosPerSecond = 1_000_000_000;

    /// <summary>Maps a guest clock id to the host clock that answers it; -1 if invalid.
    /// CPU-time clocks use the Sentry thread that runs the task (it accounts the guest's
    /// syscall work; the guest's own user time is in the stub and not yet added).</summary>
    private static int HostClock(int clock) => clock switch
    {
        CLOCK_REALTIME or CLOCK_MONOTONIC or CLOCK_MONOTONIC_RAW or CLOCK_REALTIME_COARSE
            or CLOCK_MONOTONIC_COARSE or CLOCK_BOOTTIME or CLOCK_TAI => clock,
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        CLOCK_PROCESS_CPUTIME_ID or CLOCK_THREAD_CPUTIME_ID => CLOCK_THREAD_CPUTIME_ID,
        _ => -1,
    };

    /// <summary>Implements Linux syscall clock_gettime(2).</summary>
    public static unsafe long ClockGettime(Task t, in SyscallArgs a)
    {
        int host = HostClock((int)a.A0);
        if (host < 0) return -(long)Errno.EINVAL;
        Timespec ts;
        HostTime.ClockGetTime(host, &ts);
        return t.MemoryManager.CopyOut(a.A1, ts);
    }

    /// <summary>Implements Linux syscall clock_getres(2).</summary>
    public static unsafe long ClockGetres(Task t, in SyscallArgs a)
    {
        int host = HostClock((int)a.A0);
        if (host < 0) return -(long)Errno.EINVAL;
        if (a.A1 == 0) return 0;
        Timespec ts;
        HostTime.ClockGetRes(host, &ts);
        return t.MemoryManager.CopyOut(a.A1, ts);
    }

    /// <summary>Implements Linux syscall gettimeofday(2).</summary>
    public static unsafe long Gettimeofday(Task t, in SyscallArgs a)
    {
        if (a.A0 != 0)
        {
            Timespec ts;
            HostTime.ClockGetTime(CLOCK_REALTIME, &ts);
            long r = t.MemoryManager.CopyOut(a.A0, new Timeval { Sec = ts.Sec, Usec = ts.Nsec / 1000 });
            if (r < 0) return r;
        }
        // The sandbox's time zone is UTC: struct timezone {0, 0}.
        return a.A1 != 0 ? t.MemoryManager.CopyOut(a.A1, 0UL) : 0;
    }

    /// <summary>Implements Linux syscall time(2).</summary>
    public static unsafe long Time(Task t, in SyscallArgs a)
    {
        Timespec ts;
        HostTime.ClockGetTime(CLOCK_REALTIME, &ts);
        if (a.A0 != 0 && t.MemoryManager.CopyOut(a.A0, ts.Sec) < 0) return -(long)Errno.EFAULT;
        return ts.Sec;
    }

    /// <summary>Implements Linux syscall nanosleep(2).</summary>
    public static long Nanosleep(Task t, in SyscallArgs a) => SleepInterruptibly(t, CLOCK_MONOTONIC, absolute: false, a.A0, a.A1);

    /// <summary>Implements Linux syscall clock_nanosleep(2). Returns the error number itself
    /// (positive in the C library, negative here like every syscall).</summary>
    public static long ClockNanosleep(Task t, in SyscallArgs a)
    {
        int clock = (int)a.A0;
        if (clock is CLOCK_THREAD_CPUTIME_ID) return -(long)Errno.EINVAL;
        if (clock is CLOCK_PROCESS_CPUTIME_ID) return -(long)Errno.EOPNOTSUPP;
        int host = HostClock(clock);
        if (host < 0 || clock is CLOCK_MONOTONIC_RAW or CLOCK_REALTIME_COARSE or CLOCK_MONOTONIC_COARSE)
            return -(long)Errno.EINVAL;
        return SleepInterruptibly(t, host, ((int)a.A1 & TIMER_ABSTIME) != 0, a.A2, a.A3);
    }
}
