using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Thread and process system calls.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall arch_prctl(2).</summary>
    public static long ArchPrctl(Task t, in SyscallArgs a)
    {
        switch ((int)a.A0)
        {
            case Abi.ArchPrctl.ARCH_SET_FS:
                if (a.A1 >= t.MemoryManager.MaxAddress) return -(long)Errno.EPERM;
                t.Regs.FsBase = a.A1;
                return 0;
            case Abi.ArchPrctl.ARCH_SET_GS:
                if (a.A1 >= t.MemoryManager.MaxAddress) return -(long)Errno.EPERM;
                t.Regs.GsBase = a.A1;
                return 0;
            case Abi.ArchPrctl.ARCH_GET_FS:
                return t.MemoryManager.CopyOut(a.A1, t.Regs.FsBase);
            case Abi.ArchPrctl.ARCH_GET_GS:
                return t.MemoryManager.CopyOut(a.A1, t.Regs.GsBase);
            case Abi.ArchPrctl.ARCH_GET_CPUID:
                return 1; // cpuid is not faulting
            case Abi.ArchPrctl.ARCH_SET_CPUID:
                return -(long)Errno.ENODEV;
            default:
                return -(long)Errno.EINVAL;
        }
    }

    /// <summary>Implements Linux syscall set_tid_address(2).</summary>
    public static long SetTidAddress(Task t, in SyscallArgs a)
    {
        t.ClearChildTid = a.A0;
        return t.Tid;
    }

    /// <summary>sizeof(struct robust_list_head) on x86-64.</summary>
    private const ulong RobustListHeadSize = 24;

    /// <summary>Implements Linux syscall set_robust_list(2).</summary>
    public static long SetRobustList(Task t, in SyscallArgs a)
    {
        if (a.A1 != RobustListHeadSize) return -(long)Errno.EINVAL;
        t.RobustListHead = a.A0;
        return 0;
    }

    /// <summary>Implements Linux syscall get_robust_list(2) for the calling thread.</summary>
    public static long GetRobustList(Task t, in SyscallArgs a)
    {
        if ((int)a.A0 != 0 && (int)a.A0 != t.Tid) return -(long)Errno.ESRCH;
        long r = t.MemoryManager.CopyOut(a.A1, t.RobustListHead);
        return r < 0 ? r : t.MemoryManager.CopyOut(a.A2, RobustListHeadSize);
    }

    /// <summary>Implements Linux syscall rseq(2): not offered; glibc falls back cleanly.</summary>
    public static long Rseq(Task t, in SyscallArgs a) => -(long)Errno.ENOSYS;

    /// <summary>Implements Linux syscall getpid(2).</summary>
    public static long Getpid(Task t, in SyscallArgs a) => t.Pid;

    /// <summary>Implements Linux syscall gettid(2).</summary>
    public static long Gettid(Task t, in SyscallArgs a) => t.Tid;

    /// <summary>Implements Linux syscall getppid(2): 0 for the sandbox's init, as in a pid namespace.</summary>
    public static long Getppid(Task t, in SyscallArgs a) => t.ParentPid;

    /// <summary>Implements Linux syscall exit(2): ends the calling thread.</summary>
    public static long Exit(Task t, in SyscallArgs a)
    {
        t.ExitThread((int)(a.A0 & 0xff));
        return 0;
    }

    /// <summary>Implements Linux syscall exit_group(2).</summary>
    public static long ExitGroup(Task t, in SyscallArgs a)
    {
        t.ExitGroup(new ExitStatus((int)(a.A0 & 0xff), 0));
        return 0;
    }

    /// <summary>Implements Linux syscall sched_yield(2).</summary>
    public static long SchedYield(Task t, in SyscallArgs a)
    {
        Thread.Yield();
        return 0;
    }
}
