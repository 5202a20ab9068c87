using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>getrusage(2) and times(2) with real CPU accounting: user time is what the guest's
/// stub threads ran on the host, system time what the Sentry's threads spent serving them
/// (<see cref="Task.CpuTime"/>); children's figures are added when they are reaped
/// (<see cref="ThreadGroup.AddReapedChild"/>). ru_maxrss is the peak RSS of the guest's
/// address spaces on the host.</summary>
public static partial class Linux
{
    private const long NanosPerTick = 10_000_000; // CLK_TCK = 100

    private static Timeval ToTimeval(long nanos) => new() { Sec = nanos / NanosPerSecond, Usec = nanos % NanosPerSecond / 1000 };

    /// <summary>The peak RSS of the caller's current address space, in KiB.</summary>
    private static long CurrentPeakRss(Task t) => t.MemoryManager.AddressSpace?.PeakResidentKb ?? 0;

    /// <summary>What wait4/waitid report for a child: its own usage and its reaped children's
    /// (Linux's RUSAGE_BOTH).</summary>
    private static long CopyOutRusage(Task t, ulong addr, ThreadGroup child)
    {
        var (u, s) = child.CpuTime();
        var ru = new Rusage
        {
            Utime = ToTimeval(u + child.ChildUserNanos),
            Stime = ToTimeval(s + child.ChildSystemNanos),
            Maxrss = Math.Max(child.MaxRssKb, child.ChildMaxRssKb),
        };
        return t.MemoryManager.CopyOut(addr, ru);
    }

    /// <summary>Implements Linux syscall getrusage(2).</summary>
    public static long Getrusage(Task t, in SyscallArgs a)
    {
        const int RUSAGE_SELF = 0, RUSAGE_CHILDREN = -1, RUSAGE_THREAD = 1;
        var g = t.Group;
        (long u, long s, long maxRss) = (int)a.A0 switch
        {
            RUSAGE_SELF => Usage(g.CpuTime(), Math.Max(g.MaxRssKb, CurrentPeakRss(t))),
            RUSAGE_THREAD => Usage(t.CpuTime(), CurrentPeakRss(t)),
            RUSAGE_CHILDREN => (g.ChildUserNanos, g.ChildSystemNanos, g.ChildMaxRssKb),
            _ => (-1L, -1L, -1L),
        };
        if (u < 0) return -(long)Errno.EINVAL;
        var ru = new Rusage { Utime = ToTimeval(u), Stime = ToTimeval(s), Maxrss = maxRss };
        return t.MemoryManager.CopyOut(a.A1, ru);

        static (long, long, long) Usage((long User, long System) cpu, long maxRss) => (cpu.User, cpu.System, maxRss);
    }

    /// <summary>Implements Linux syscall times(2).</summary>
    public static long Times(Task t, in SyscallArgs a)
    {
        if (a.A0 != 0)
        {
            var g = t.Group;
            var (u, s) = g.CpuTime();
            Span<long> tms = [u / NanosPerTick, s / NanosPerTick, g.ChildUserNanos / NanosPerTick, g.ChildSystemNanos / NanosPerTick];
            if (t.MemoryManager.CopyOut(a.A0, MemoryMarshal.AsBytes(tms)) < 0) return -(long)Errno.EFAULT;
        }
        return (Environment.TickCount64 - t.Kernel.BootTicks) / 10;
    }
}
