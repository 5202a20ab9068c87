using Sandbox.Abi;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Signal system calls. Dispositions and masks are recorded; delivery comes later.</summary>
public static partial class Linux
{
    /// <summary>The only sigset size Linux accepts on x86-64.</summary>
    private const ulong SigsetSize = 8;

    /// <summary>Implements Linux syscall rt_sigaction(2).</summary>
    public static long RtSigaction(Task t, in SyscallArgs a)
    {
        int sig = (int)a.A0;
        if (a.A3 != SigsetSize) return -(long)Errno.EINVAL;
        if (sig < 1 || sig > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        KernelSigaction newAction = default;
        if (a.A1 != 0)
        {
            if (sig is Signals.SIGKILL or Signals.SIGSTOP) return -(long)Errno.EINVAL;
            if (t.MemoryManager.CopyIn(a.A1, out newAction) < 0) return -(long)Errno.EFAULT;
            newAction.Mask &= ~Task.UnblockableSignals;
        }
        if (a.A2 != 0 && t.MemoryManager.CopyOut(a.A2, t.SignalActions[sig]) < 0) return -(long)Errno.EFAULT;
        if (a.A1 != 0) t.SignalActions[sig] = newAction;
        return 0;
    }

    /// <summary>Implements Linux syscall rt_sigprocmask(2).</summary>
    public static long RtSigprocmask(Task t, in SyscallArgs a)
    {
        if (a.A3 != SigsetSize) return -(long)Errno.EINVAL;
        ulong old = t.SignalMask;
        if (a.A1 != 0)
        {
            if (t.MemoryManager.CopyIn(a.A1, out ulong set) < 0) return -(long)Errno.EFAULT;
            ulong next = (int)a.A0 switch
            {
                Signals.SIG_BLOCK => old | set,
                Signals.SIG_UNBLOCK => old & ~set,
                Signals.SIG_SETMASK => set,
                _ => ulong.MaxValue,
            };
            if (next == ulong.MaxValue && (int)a.A0 is not Signals.SIG_BLOCK and not Signals.SIG_SETMASK)
                return -(long)Errno.EINVAL;
            t.SignalMask = next & ~Task.UnblockableSignals;
        }
        return a.A2 != 0 ? t.MemoryManager.CopyOut(a.A2, old) : 0;
    }
}
