using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.Clocks;
using HostTime = Sandbox.Abi.Host.Time;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Clock and sleep system calls.</summary>
public static partial class Linux
{
    private const long NanosPerSecond = 1_000_000_000;

    /// <summary>Maps a guest wall clock id to the host clock that answers it; -1 if it is
    /// not one (CPU-time clocks are the guest's own: see <see cref="ReadCpuClock"/>).</summary>
    private static int HostClock(int clock) => clock switch
    {
        CLOCK_REALTIME or CLOCK_MONOTONIC or CLOCK_MONOTONIC_RAW or CLOCK_REALTIME_COARSE
            or CLOCK_MONOTONIC_COARSE or CLOCK_BOOTTIME or CLOCK_TAI => clock,
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        _ => -1,
    };

    /// <summary>Reads a CPU-time clock (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, or
    /// one clock_getcpuclockid/pthread_getcpuclockid made): the guest's CPU time in ns, as
    /// Linux's posix_cpu_clock_get: a thread clock names a thread of the caller's process, a
    /// process clock any process by its pid; VIRT counts user time only. Returns 0, or
    /// -EINVAL when the clock or its target does not exist; which is the CPUCLOCK_* kind.</summary>
    private static long ReadCpuClock(Task t, int clock, bool sample, out long nanos, out int which)
    {
        nanos = 0;
        which = Clocks.CPUCLOCK_SCHED;
        if (clock == CLOCK_PROCESS_CPUTIME_ID) clock = Clocks.MakeProcessCpuClock(0, Clocks.CPUCLOCK_SCHED);
        else if (clock == CLOCK_THREAD_CPUTIME_ID) clock = Clocks.MakeThreadCpuClock(0, Clocks.CPUCLOCK_SCHED);
        if (clock >= 0 || (clock & Clocks.CPUCLOCK_CLOCK_MASK) >= Clocks.CPUCLOCK_MAX) return -(long)Errno.EINVAL;
        which = clock & Clocks.CPUCLOCK_CLOCK_MASK;
        int id = Clocks.CpuClockPid(clock);
        (long User, long System) cpu;
        if ((clock & Clocks.CPUCLOCK_PERTHREAD_MASK) != 0)
        {
            Task? thread = id == 0 ? t : t.Kernel.Tasks.GetValueOrDefault(id);
            if (thread == null || thread.Group != t.Group) return -(long)Errno.EINVAL;
            if (!sample) return 0;
            cpu = thread.CpuTime();
        }
        else
        {
            ThreadGroup? g = id == 0 ? t.Group : t.Kernel.FindGroup(id);
            if (g == null || (id != 0 && g.Pid != id)) return -(long)Errno.EINVAL;
            if (!sample) return 0;
            cpu = g.CpuTime();
        }
        nanos = which == Clocks.CPUCLOCK_VIRT ? cpu.User : cpu.User + cpu.System;
        return 0;
    }

    /// <summary>Implements Linux syscall clock_gettime(2).</summary>
    public static unsafe long ClockGettime(Task t, in SyscallArgs a)
    {
        int clock = (int)a.A0;
        Timespec ts;
        int host = HostClock(clock);
        if (host >= 0)
        {
            HostTime.ClockGetTime(host, &ts);
        }
        else
        {
            long r = ReadCpuClock(t, clock, sample: true, out long nanos, out _);
            if (r < 0) return r;
            ts = Ktime.ToTimespec(nanos);
        }
        return t.MemoryManager.CopyOut(a.A1, ts);
    }

    /// <summary>Implements Linux syscall clock_getres(2). CPU-time clocks: 1 ns for the
    /// scheduler's clock (CLOCK_*_CPUTIME_ID), a tick for the PROF and VIRT ones.</summary>
    public static unsafe long ClockGetres(Task t, in SyscallArgs a)
    {
        int clock = (int)a.A0;
        int host = HostClock(clock);
        if (host < 0)
        {
            long r = ReadCpuClock(t, clock, sample: false, out _, out int which);
            if (r < 0) return r;
            // The host's own process clock of the same kind has the same resolution.
            host = Clocks.MakeProcessCpuClock(0, which);
        }
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
