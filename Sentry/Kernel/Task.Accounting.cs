using Sandbox.Abi;
using Sandbox.Platform;
using HostSched = Sandbox.Abi.Host.Sched;
using HostTime = Sandbox.Abi.Host.Time;

namespace Sandbox.Sentry.Kernel;

/// <summary>CPU accounting of one thread, as getrusage, times, the CPU-time clocks and timers,
/// and RLIMIT_CPU see it. User time is what the guest thread ran on the host (its stub
/// thread's scheduler run time, banked across execve's change of address space); system time
/// is what the Sentry's host thread spent on the task (its syscalls, faults and signal
/// delivery). Both are sampled on demand and once at exit, never on the syscall path.</summary>
public sealed partial class Task
{
    /// <summary>The host thread running the task (0 until it starts) and its CPU clock then.</summary>
    private int _hostTid;
    private long _hostCpuAtStart;

    /// <summary>Guest time of the address spaces this thread left by execve.</summary>
    private long _guestCpuBanked;

    /// <summary>Set at exit: the final figures, kept after the host threads have moved on.</summary>
    private volatile bool _cpuFrozen;
    private long _frozenUser, _frozenSystem;

    /// <summary>Starts charging the calling host thread's CPU time to this task.</summary>
    private void StartCpuAccounting()
    {
        if (_hostTid != 0) return;
        _hostCpuAtStart = Ktime.Now(Clocks.CLOCK_THREAD_CPUTIME_ID);
        Volatile.Write(ref _hostTid, HostSched.GetTid());
    }

    /// <summary>The thread's user and system time so far, in nanoseconds; any thread may ask.</summary>
    public (long User, long System) CpuTime()
    {
        if (_cpuFrozen) return (_frozenUser, _frozenSystem);
        long user = Volatile.Read(ref _guestCpuBanked) + (Context?.GuestCpuNanos() ?? 0);
        long system = SentryCpuNanos();
        // Frozen meanwhile: the host thread may already run another task.
        return _cpuFrozen ? (_frozenUser, _frozenSystem) : (user, system);
    }

    private unsafe long SentryCpuNanos()
    {
        int tid = Volatile.Read(ref _hostTid);
        if (tid == 0) return 0;
        // Another thread of the Sentry reads this one's clock through its tid (Linux allows
        // thread CPU clocks within the calling process).
        int clock = Current == this ? Clocks.CLOCK_THREAD_CPUTIME_ID : Clocks.MakeThreadCpuClock(tid, Clocks.CPUCLOCK_SCHED);
        Timespec ts;
        if (HostTime.ClockGetTime(clock, &ts) != 0) return 0;
        return Math.Max(ts.Sec * Ktime.NanosPerSecond + ts.Nsec - _hostCpuAtStart, 0);
    }

    /// <summary>Takes the final figures, on the task's own thread, while its stub thread still
    /// exists; the thread group adds them to its totals when the thread leaves it.</summary>
    private void FreezeCpu()
    {
        if (_cpuFrozen) return;
        (_frozenUser, _frozenSystem) = CpuTime();
        _cpuFrozen = true;
    }

    /// <summary>execve leaves old for a new address space: keep what the guest ran in it.</summary>
    private void BankGuestCpu(long oldContextNanos) => Interlocked.Add(ref _guestCpuBanked, oldContextNanos);

    /// <summary>Notes the peak RSS of an address space the process leaves (execve) or ends with.</summary>
    private void NotePeakRss(IAddressSpace? space)
    {
        if (space != null) Group.NoteMaxRss(space.PeakResidentKb);
    }
}
