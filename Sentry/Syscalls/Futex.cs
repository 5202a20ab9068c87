using Sandbox.Abi;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>futex(2).</summary>
public static partial class Linux
{
    private const int FUTEX_WAIT = 0, FUTEX_WAKE = 1, FUTEX_FD = 2, FUTEX_REQUEUE = 3, FUTEX_CMP_REQUEUE = 4, FUTEX_WAKE_OP = 5;
    private const int FUTEX_LOCK_PI = 6, FUTEX_UNLOCK_PI = 7, FUTEX_TRYLOCK_PI = 8, FUTEX_WAIT_BITSET = 9, FUTEX_WAKE_BITSET = 10;
    private const int FUTEX_PRIVATE_FLAG = 128, FUTEX_CLOCK_REALTIME = 256;

    /// <summary>Implements Linux syscall futex(2).</summary>
    public static long Futex(Task t, in SyscallArgs a)
    {
        int op = (int)a.A1;
        int cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        bool realtime = (op & FUTEX_CLOCK_REALTIME) != 0;
        var futexes = t.Kernel.Futexes;
        switch (cmd)
        {
            case FUTEX_WAIT or FUTEX_WAIT_BITSET:
                {
                    if (realtime && cmd == FUTEX_WAIT) return -(long)Errno.ENOSYS;
                    long deadline = long.MaxValue;
                    if (a.A3 != 0)
                    {
                        if (t.MemoryManager.CopyIn(a.A3, out Timespec ts) < 0) return -(long)Errno.EFAULT;
                        if (ts.Sec < 0 || ts.Nsec is < 0 or >= 1_000_000_000) return -(long)Errno.EINVAL;
                        deadline = cmd == FUTEX_WAIT ? RelativeDeadline(ts) : AbsoluteDeadline(ts, realtime);
                    }
                    uint bitset = cmd == FUTEX_WAIT ? uint.MaxValue : (uint)a.A5;
                    return futexes.Wait(t, a.A0, (uint)a.A2, bitset, deadline);
                }
            case FUTEX_WAKE or FUTEX_WAKE_BITSET:
                return futexes.Wake(t, a.A0, (int)Math.Min(a.A2, int.MaxValue), cmd == FUTEX_WAKE ? uint.MaxValue : (uint)a.A5);
            case FUTEX_REQUEUE:
                return futexes.Requeue(t, a.A0, a.A4, (int)a.A2, (int)a.A3, null);
            case FUTEX_CMP_REQUEUE:
                return futexes.Requeue(t, a.A0, a.A4, (int)a.A2, (int)a.A3, (uint)a.A5);
            case FUTEX_WAKE_OP:
                return futexes.WakeOp(t, a.A0, a.A4, (int)a.A2, (int)a.A3, (uint)a.A5);
            case FUTEX_LOCK_PI or FUTEX_UNLOCK_PI or FUTEX_TRYLOCK_PI:
                return -(long)Errno.ENOSYS; // priority-inheritance futexes are not offered
            default:
                return -(long)Errno.ENOSYS;
        }
    }

    /// <summary>A relative timeout as an Environment.TickCount64 deadline (ms, rounded up).</summary>
    private static long RelativeDeadline(Timespec ts) =>
        Environment.TickCount64 + ts.Sec * 1000 + (ts.Nsec + 999_999) / 1_000_000;

    /// <summary>An absolute CLOCK_MONOTONIC (or CLOCK_REALTIME) time as a TickCount64 deadline.</summary>
    private static unsafe long AbsoluteDeadline(Timespec ts, bool realtime)
    {
        Timespec now;
        Abi.Host.Time.ClockGetTime(realtime ? Clocks.CLOCK_REALTIME : Clocks.CLOCK_MONOTONIC, &now);
        long deltaNs = (ts.Sec - now.Sec) * 1_000_000_000 + (ts.Nsec - now.Nsec);
        return Environment.TickCount64 + Math.Max(0, (deltaNs + 999_999) / 1_000_000);
    }
}
