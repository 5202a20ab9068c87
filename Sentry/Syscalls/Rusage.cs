using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using HostTime = Sandbox.Abi.Host.Time;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>struct rusage (144 bytes): two timevals and fourteen counters.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Rusage
{
    public Timeval Utime, Stime;
    public fixed long Counters[14];
}

/// <summary>getrusage(2) and times(2) with real CPU accounting: user time is what the guest's
/// stub thread used on the host; system time is what the Sentry's thread for the task used.</summary>
public static partial class Linux
{
    private const long NanosPerTick = 10_000_000; // CLK_TCK = 100

    internal static unsafe (long User, long System) TaskCpu(Task t)
    {
        long user = t.Context?.GuestCpuNanos() ?? 0;
        long system = 0;
        if (t == Task.Current)
        {
            Timespec ts;
            HostTime.ClockGetTime(Clocks.CLOCK_THREAD_CPUTIME_ID, &ts);
            system = ts.Sec * NanosPerSecond + ts.Nsec;
        }
        return (user, system);
    }

    internal static (long User, long System) GroupCpu(ThreadGroup g)
    {
        long user = g.UserTicks * NanosPerTick, system = g.SystemTicks * NanosPerTick;
        foreach (var task in g.Tasks)
        {
            var (u, s) = TaskCpu(task);
            user += u;
            system += s;
        }
        return (user, system);
    }

    private static Timeval ToTimeval(long nanos) => new() { Sec = nanos / NanosPerSecond, Usec = nanos % NanosPerSecond / 1000 };

    private static long CopyOutRusage(Task t, ulong addr, ThreadGroup child)
    {
        var (u, s) = (child.UserTicks * NanosPerTick, child.SystemTicks * NanosPerTick);
        var ru = new Rusage { Utime = ToTimeval(u), Stime = ToTimeval(s) };
        return t.MemoryManager.CopyOut(addr, ru);
    }

    /// <summary>Implements Linux syscall getrusage(2).</summary>
    public static long Getrusage(Task t, in SyscallArgs a)
    {
        const int RUSAGE_SELF = 0, RUSAGE_CHILDREN = -1, RUSAGE_THREAD = 1;
        (long u, long s) = (int)a.A0 switch
        {
            RUSAGE_SELF => GroupCpu(t.Group),
            RUSAGE_THREAD => TaskCpu(t),
            RUSAGE_CHILDREN => (t.Group.ChildUserTicks * NanosPerTick, t.Group.ChildSystemTicks * NanosPerTick),
            _ => (-1L, -1L),
        };
        if (u < 0) return -(long)Errno.EINVAL;
        var ru = new Rusage { Utime = ToTimeval(u), Stime = ToTimeval(s) };
        return t.MemoryManager.CopyOut(a.A1, ru);
    }

    /// <summary>Implements Linux syscall times(2).</summary>
    public static long Times(Task t, in SyscallArgs a)
    {
        if (a.A0 != 0)
        {
            var (u, s) = GroupCpu(t.Group);
            Span<long> tms = [u / NanosPerTick, s / NanosPerTick, t.Group.ChildUserTicks, t.Group.ChildSystemTicks];
            if (t.MemoryManager.CopyOut(a.A0, MemoryMarshal.AsBytes(tms)) < 0) return -(long)Errno.EFAULT;
        }
        return (Environment.TickCount64 - t.Kernel.BootTicks) / 10;
    }
}
