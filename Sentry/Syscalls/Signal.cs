using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Signal system calls.</summary>
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
        var actions = t.SignalActions;
        lock (t.Group.Handlers)
        {
            if (a.A2 != 0 && t.MemoryManager.CopyOut(a.A2, actions[sig]) < 0) return -(long)Errno.EFAULT;
            if (a.A1 != 0)
            {
                actions[sig] = newAction;
                // Setting SIG_IGN (or SIG_DFL for a default-ignored signal) discards pending ones.
                if (newAction.Handler == SignalHandlers.SigIgn
                    || (newAction.Handler == SignalHandlers.SigDfl && sig is Signals.SIGCHLD or Signals.SIGURG or Signals.SIGWINCH))
                {
                    t.Group.Pending.Discard(Task.SignalBit(sig));
                    foreach (var other in t.Group.Tasks) other.Pending.Discard(Task.SignalBit(sig));
                }
            }
        }
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
            ulong next;
            switch ((int)a.A0)
            {
                case Signals.SIG_BLOCK: next = old | set; break;
                case Signals.SIG_UNBLOCK: next = old & ~set; break;
                case Signals.SIG_SETMASK: next = set; break;
                default: return -(long)Errno.EINVAL;
            }
            t.SetSignalMask(next);
        }
        return a.A2 != 0 ? t.MemoryManager.CopyOut(a.A2, old) : 0;
    }

    /// <summary>Implements Linux syscall rt_sigpending(2).</summary>
    public static long RtSigpending(Task t, in SyscallArgs a) =>
        a.A1 > SigsetSize ? -(long)Errno.EINVAL : t.MemoryManager.CopyOut(a.A0, t.PendingMask & t.SignalMask);

    /// <summary>Implements Linux syscall rt_sigreturn(2).</summary>
    public static long RtSigreturn(Task t, in SyscallArgs a) => t.SigReturn();

    /// <summary>Implements Linux syscall rt_sigsuspend(2): waits with a temporary mask until a
    /// handler runs (at once if one is pending that the mask lets through); the old mask comes
    /// back after it. A signal with no handler (a stop, say) makes it start over.</summary>
    public static long RtSigsuspend(Task t, in SyscallArgs a)
    {
        if (a.A1 != SigsetSize) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(a.A0, out ulong mask) < 0) return -(long)Errno.EFAULT;
        ulong old = t.SignalMask;
        t.SetSignalMask(mask);
        long r = Pause(t);
        t.RestoreMaskAfterSignal(old, interrupted: true);
        return r;
    }

    /// <summary>Implements Linux syscall pause(2).</summary>
    public static long PauseCall(Task t, in SyscallArgs a) => Pause(t);

    private static long Pause(Task t)
    {
        while (true)
        {
            t.Blocker.Reset();
            if ((t.PendingMask & ~t.SignalMask) != 0 || t.InterruptPending) return -(long)Errno.EINTR;
            long r = t.Sleep();
            if (r < 0) return -(long)Errno.EINTR;
        }
    }

    /// <summary>Implements Linux syscall rt_sigtimedwait(2).</summary>
    public static long RtSigtimedwait(Task t, in SyscallArgs a)
    {
        if (a.A3 != SigsetSize) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(a.A0, out ulong set) < 0) return -(long)Errno.EFAULT;
        set &= ~Task.UnblockableSignals;
        long r = DeadlineFromTimespec(t, a.A2, out long deadline);
        if (r < 0) return r;
        while (true)
        {
            t.Blocker.Reset();
            if (t.Pending.TryDequeue(~set, out SigInfo info) || t.Group.Pending.TryDequeue(~set, out info))
            {
                if (a.A1 != 0 && t.MemoryManager.CopyOut(a.A1, info) < 0) return -(long)Errno.EFAULT;
                return info.Signo;
            }
            if (deadline == 0) return -(long)Errno.EAGAIN;
            // Waiting: the signals in set are not "blocked" for the wake-up check.
            ulong saved = t.SignalMask;
            t.RealBlocked = saved;
            t.SignalMask &= ~set;
            // One of set pending: take it. Any other signal that arrives interrupts the wait.
            r = (t.PendingMask & set) != 0 ? 0 : t.Sleep(deadline);
            t.SignalMask = saved;
            t.RealBlocked = 0;
            if (r == -(long)Errno.ETIMEDOUT) return -(long)Errno.EAGAIN;
            if (r < 0 && (t.PendingMask & set) == 0) return -(long)Errno.EINTR;
        }
    }

    /// <summary>Implements Linux syscall sigaltstack(2).</summary>
    public static long Sigaltstack(Task t, in SyscallArgs a)
    {
        const ulong MinSigStkSz = 2048;
        bool onStack = t.AltStackFlags != Task.SS_DISABLE && t.Regs.Rsp - t.AltStackSp <= t.AltStackSize;
        if (a.A1 != 0)
        {
            Span<byte> old = stackalloc byte[24];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(old, t.AltStackSp);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(old[8..],
                t.AltStackFlags == Task.SS_DISABLE ? Task.SS_DISABLE : onStack ? Task.SS_ONSTACK : 0);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(old[16..], t.AltStackSize);
            if (t.MemoryManager.CopyOut(a.A1, old) < 0) return -(long)Errno.EFAULT;
        }
        if (a.A0 != 0)
        {
            Span<byte> ss = stackalloc byte[24];
            if (t.MemoryManager.CopyIn(a.A0, ss) < 0) return -(long)Errno.EFAULT;
            ulong sp = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(ss);
            int flags = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(ss[8..]);
            ulong size = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(ss[16..]);
            if (onStack) return -(long)Errno.EPERM;
            int mode = flags & ~Task.SS_AUTODISARM;
            if (mode is not 0 and not Task.SS_DISABLE and not Task.SS_ONSTACK) return -(long)Errno.EINVAL;
            if (mode == Task.SS_DISABLE)
            {
                t.AltStackFlags = Task.SS_DISABLE;
                t.AltStackSp = t.AltStackSize = 0;
            }
            else
            {
                if (size < MinSigStkSz) return -(long)Errno.ENOMEM;
                t.AltStackSp = sp;
                t.AltStackSize = size;
                t.AltStackFlags = 0;
            }
        }
        return 0;
    }

    private static bool MaySignal(Task sender, ThreadGroup target, int sig)
    {
        var c = sender.Creds;
        if (c.EffectiveUid == 0) return true;
        var tc = target.Leader?.Creds;
        if (tc == null) return true;
        if (sig == Signals.SIGCONT && target.Session == sender.Session) return true;
        return c.EffectiveUid == tc.RealUid || c.EffectiveUid == tc.SavedUid || c.RealUid == tc.RealUid || c.RealUid == tc.SavedUid;
    }

    private static SigInfo UserSignal(Task t, int sig, int code = SigCodes.SI_USER) =>
        new() { Signo = sig, Code = code, Pid = t.Pid, Uid = (int)t.Creds.RealUid };

    /// <summary>Implements Linux syscall kill(2).</summary>
    public static long Kill(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0, sig = (int)a.A1;
        if (sig < 0 || sig > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        IEnumerable<ThreadGroup> targets;
        if (pid > 0)
        {
            var g = t.Kernel.FindGroup(pid);
            if (g == null || g.Reaped) return -(long)Errno.ESRCH;
            targets = [g];
        }
        else
        {
            int pgrp = pid == 0 ? t.ProcessGroup : -pid;
            var groups = t.Kernel.Tasks.Values.Select(x => x.Group).Distinct().Where(g => !g.Reaped);
            targets = pid == -1
                ? groups.Where(g => g.Pid != 1 && g != t.Group).ToList()
                : groups.Where(g => g.ProcessGroup == pgrp).ToList();
        }
        bool any = false, permitted = false;
        foreach (var g in targets)
        {
            any = true;
            if (!MaySignal(t, g, sig)) continue;
            permitted = true;
            if (sig != 0) Task.SendToGroup(g, UserSignal(t, sig));
        }
        if (!any) return -(long)Errno.ESRCH;
        return permitted ? 0 : -(long)Errno.EPERM;
    }

    /// <summary>Implements Linux syscall tkill(2).</summary>
    public static long Tkill(Task t, in SyscallArgs a) => ThreadKill(t, 0, (int)a.A0, (int)a.A1, null);

    /// <summary>Implements Linux syscall tgkill(2).</summary>
    public static long Tgkill(Task t, in SyscallArgs a) => ThreadKill(t, (int)a.A0, (int)a.A1, (int)a.A2, null);

    private static long ThreadKill(Task t, int tgid, int tid, int sig, SigInfo? info)
    {
        if (tid <= 0 || (tgid <= 0 && tgid != 0) || sig < 0 || sig > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        if (!t.Kernel.Tasks.TryGetValue(tid, out var target) || target.Exit != null) return -(long)Errno.ESRCH;
        if (tgid != 0 && target.Pid != tgid) return -(long)Errno.ESRCH;
        if (!MaySignal(t, target.Group, sig)) return -(long)Errno.EPERM;
        if (sig != 0) Task.SendToThread(target, info ?? UserSignal(t, sig, SigCodes.SI_TKILL));
        return 0;
    }

    /// <summary>Implements Linux syscall rt_sigqueueinfo(2).</summary>
    public static long RtSigqueueinfo(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0, sig = (int)a.A1;
        if (t.MemoryManager.CopyIn(a.A2, out SigInfo info) < 0) return -(long)Errno.EFAULT;
        // Only the kernel may forge positive codes (or SI_TKILL) for another process.
        if ((info.Code >= 0 || info.Code == SigCodes.SI_TKILL) && pid != t.Pid) return -(long)Errno.EPERM;
        if (sig <= 0 || sig > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        var g = t.Kernel.FindGroup(pid);
        if (g == null || g.Reaped) return -(long)Errno.ESRCH;
        if (!MaySignal(t, g, sig)) return -(long)Errno.EPERM;
        info.Signo = sig;
        Task.SendToGroup(g, info);
        return 0;
    }

    /// <summary>Implements Linux syscall rt_tgsigqueueinfo(2).</summary>
    public static long RtTgsigqueueinfo(Task t, in SyscallArgs a)
    {
        int tgid = (int)a.A0, tid = (int)a.A1, sig = (int)a.A2;
        if (t.MemoryManager.CopyIn(a.A3, out SigInfo info) < 0) return -(long)Errno.EFAULT;
        if ((info.Code >= 0 || info.Code == SigCodes.SI_TKILL) && tgid != t.Pid) return -(long)Errno.EPERM;
        info.Signo = sig;
        return ThreadKill(t, tgid, tid, sig, info);
    }
}
