using Sandbox.Abi;
using static Sandbox.Abi.Signals;

namespace Sandbox.Sentry.Kernel;

/// <summary>Signals: masks, pending queues, sending, default actions, handler frames, sigreturn.</summary>
public sealed partial class Task
{
    public const ulong SA_NOCLDSTOP = 1, SA_NOCLDWAIT = 2, SA_SIGINFO = 4, SA_RESTORER = 0x04000000;
    public const ulong SA_ONSTACK = 0x08000000, SA_RESTART = 0x10000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000;
    public const int SS_ONSTACK = 1, SS_DISABLE = 2, SS_AUTODISARM = unchecked((int)0x80000000);
    public const int CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3, CLD_STOPPED = 5, CLD_CONTINUED = 6;

    /// <summary>Blocked signals; bit (sig-1). SIGKILL and SIGSTOP can never be blocked.</summary>
    public ulong SignalMask { get; set; }

    /// <summary>Signals sent to this thread only (tkill, faults).</summary>
    public SignalQueue Pending { get; } = new();

    /// <summary>sigaltstack state.</summary>
    public ulong AltStackSp, AltStackSize;
    public int AltStackFlags = SS_DISABLE;

    /// <summary>The handlers this thread uses (its group's).</summary>
    public KernelSigaction[] SignalActions => Group.Handlers.Actions;

    /// <summary>Puts back the mask a ppoll/pselect/sigsuspend replaced. When the wait was
    /// interrupted by a signal the old mask is restored only after the handler runs, so the
    /// signal the temporary mask let through is delivered first.</summary>
    public void RestoreMaskAfterSignal(ulong old, bool interrupted)
    {
        if (interrupted) SavedMaskForHandler = old;
        else SignalMask = old;
    }

    /// <summary>A mask to restore once the pending handler frame has been set up.</summary>
    public ulong? SavedMaskForHandler { get; set; }

    /// <summary>Replaces the blocked set (sigprocmask, sigreturn, the temporary masks of
    /// ppoll/pselect6/epoll_pwait/rt_sigsuspend). A pending signal the new mask lets through
    /// interrupts what the task does next and is delivered before it returns to the guest, as
    /// Linux's recalc_sigpending arranges.</summary>
    /// <summary>While rt_sigtimedwait waits: the mask it temporarily lifted the waited-for
    /// signals from (Linux's real_blocked); 0 otherwise.</summary>
    public ulong RealBlocked { get; set; }

    public void SetSignalMask(ulong mask)
    {
        SignalMask = mask & ~UnblockableSignals;
        if ((PendingMask & ~SignalMask) != 0) RequestInterrupt();
    }

    public static ulong SignalBit(int sig) => 1UL << (sig - 1);

    public static readonly ulong UnblockableSignals = SignalBit(SIGKILL) | SignalBit(SIGSTOP);

    private static readonly ulong StopSignals = SignalBit(SIGSTOP) | SignalBit(SIGTSTP) | SignalBit(SIGTTIN) | SignalBit(SIGTTOU);
    /// <summary>Signals whose default action would dump core (the sandbox never writes one, so
    /// no wait status shows WCOREDUMP); Linux does not end the group early for them.</summary>
    private static readonly ulong CoreSignals = SignalBit(SIGQUIT) | SignalBit(SIGILL) | SignalBit(SIGTRAP) | SignalBit(SIGABRT)
        | SignalBit(SIGBUS) | SignalBit(SIGFPE) | SignalBit(SIGSEGV) | SignalBit(SIGXCPU) | SignalBit(SIGXFSZ) | SignalBit(SIGSYS);
    private static readonly ulong IgnoredByDefault = SignalBit(SIGCHLD) | SignalBit(SIGURG) | SignalBit(SIGWINCH) | SignalBit(SIGCONT);

    /// <summary>Whether sig would be thrown away on arrival (ignored, not blocked).</summary>
    private static bool Ignored(ThreadGroup g, int sig)
    {
        ulong h = g.Handlers.Actions[sig].Handler;
        if (h == SignalHandlers.SigIgn) return sig != SIGKILL && sig != SIGSTOP;
        return h == SignalHandlers.SigDfl && (IgnoredByDefault & SignalBit(sig)) != 0 && sig != SIGCONT;
    }

    /// <summary>Sends a signal to a process (kill): SIGKILL ends it at once, SIGCONT resumes
    /// it, stop signals cancel a pending SIGCONT; otherwise it is queued for any thread that
    /// does not block it.</summary>
    public static void SendToGroup(ThreadGroup g, SigInfo info)
    {
        int sig = info.Signo;
        if (g.ExitStatus != null || g.Zombie) return;
        if (sig == SIGKILL)
        {
            g.BeginExit(new ExitStatus(0, SIGKILL));
            return;
        }
        if (!Prepare(g, sig)) return;
        if (!g.Pending.Enqueue(info)) return;
        // Wake a thread that can take it: one that does not block it, else any.
        var tasks = g.Tasks;
        var target = tasks.FirstOrDefault(t => (t.SignalMask & SignalBit(sig)) == 0 && t.Exit == null);
        if (target == null) return;
        if (KillsAtOnce(g, sig, target)) return;
        target.RequestInterrupt();
    }

    /// <summary>Linux's complete_signal: a signal some thread takes whose default action
    /// kills without a core dump ends the whole group when it is sent, not when a thread
    /// gets round to it, so that, e.g., kill(getpid(), SIGTERM) followed by _exit(1) always
    /// dies of SIGTERM. True when the group's exit has begun.</summary>
    private static bool KillsAtOnce(ThreadGroup g, int sig, Task target)
    {
        ulong bit = SignalBit(sig);
        if (g.Handlers.Actions[sig].Handler != SignalHandlers.SigDfl || ((IgnoredByDefault | StopSignals | CoreSignals) & bit) != 0)
            return false;
        // A thread in sigtimedwait has the signals it waits for unblocked only for the wait:
        // they are for it to take, not to kill the process.
        if ((target.RealBlocked & bit) != 0) return false;
        g.Kernel.Log.Info($"[{g.Pid}] killed by {Name(sig)}");
        g.BeginExit(new ExitStatus(0, sig));
        return true;
    }

    /// <summary>Sends a signal to one thread (tkill/tgkill, faults, timers with a thread id).</summary>
    public static void SendToThread(Task t, SigInfo info)
    {
        var g = t.Group;
        if (g.ExitStatus != null || t.Exit != null) return;
        if (info.Signo == SIGKILL)
        {
            g.BeginExit(new ExitStatus(0, SIGKILL));
            return;
        }
        if (!Prepare(g, info.Signo)) return;
        if (t.Pending.Enqueue(info) && (t.SignalMask & SignalBit(info.Signo)) == 0 && !KillsAtOnce(g, info.Signo, t))
            t.RequestInterrupt();
    }

    /// <summary>Arrival-time effects: SIGCONT continues, stops cancel SIGCONT; false when the
    /// signal is ignored and must not be queued.</summary>
    private static bool Prepare(ThreadGroup g, int sig)
    {
        if (sig == SIGCONT)
        {
            g.Pending.Discard(StopSignals);
            foreach (var t in g.Tasks) t.Pending.Discard(StopSignals);
            if (g.Stopped)
            {
                g.Stopped = false;
                g.ContinueReportPending = true;
                g.StopReportPending = false;
                g.StopEvents.Notify(Events.POLLIN);
                NotifyParent(g, CLD_CONTINUED, SIGCONT);
            }
        }
        else if ((StopSignals & SignalBit(sig)) != 0)
        {
            g.Pending.Discard(SignalBit(SIGCONT));
            foreach (var t in g.Tasks) t.Pending.Discard(SignalBit(SIGCONT));
        }
        return !Ignored(g, sig);
    }

    /// <summary>A synchronous fault for this thread. If the signal is blocked or ignored it
    /// cannot be handled: its default action applies (as Linux's force_sig).</summary>
    public void ForceSignal(SigInfo info)
    {
        int sig = info.Signo;
        var act = SignalActions[sig];
        if ((SignalMask & SignalBit(sig)) != 0 || act.Handler == SignalHandlers.SigIgn)
        {
            SignalMask &= ~SignalBit(sig);
            SignalActions[sig] = default;
        }
        Pending.Enqueue(info);
        RequestInterrupt();
    }

    /// <summary>Tells the parent about a state change: SIGCHLD (or the exit signal) and a wake-up
    /// for wait4/waitid.</summary>
    internal static void NotifyParent(ThreadGroup child, int code, int status)
    {
        var parent = child.Parent;
        if (parent == null) return;
        int sig = code is CLD_EXITED or CLD_KILLED or CLD_DUMPED ? child.ExitSignal : SIGCHLD;
        bool noStopReports = (parent.Handlers.Actions[SIGCHLD].Flags & SA_NOCLDSTOP) != 0;
        if (sig > 0 && !(sig == SIGCHLD && code is CLD_STOPPED or CLD_CONTINUED && noStopReports))
            SendToGroup(parent, new SigInfo { Signo = sig, Code = code, Pid = child.Pid, Status = status });
        parent.ChildEvents.Notify(Events.POLLIN);
    }

    /// <summary>This thread has ended: the processes it forked pass to another thread of its
    /// process, or (when it was the last) to the reaper they were just given, and each of
    /// their threads that set PR_SET_PDEATHSIG has that signal sent to its process, from us
    /// (forget_original_parent). It is the parent thread's end that counts, not the process's.</summary>
    private void SendParentDeathSignals()
    {
        List<Task>? orphans = null;
        foreach (var u in Kernel.Tasks.Values)
            if (u.Group.ParentThread == this && u.Exit == null) (orphans ??= []).Add(u);
        if (orphans == null) return;
        var heir = Group.Tasks.FirstOrDefault(t => t.Exit == null);
        foreach (var u in orphans)
        {
            var child = u.Group;
            if (child.ParentThread == this) child.ParentThread = heir ?? child.Parent?.Leader;
            if (u.ParentDeathSignal > 0)
                SendToGroup(child, new SigInfo { Signo = u.ParentDeathSignal, Code = SigCodes.SI_USER, Pid = Pid, Uid = (int)Creds.RealUid });
        }
    }

    /// <summary>The syscall the guest was in when a signal interrupted it (for restarts).</summary>
    private long _interruptedSyscall = -1;
    private bool _restartWithSaRestart;

    /// <summary>Handles what is pending before the next switch into the guest. Returns false
    /// when the loop must re-check (the task stopped, or the group is exiting).</summary>
    /// <remarks>As Linux does on its way back to user space, every signal the mask lets
    /// through is taken now, not one per return: each handler frame goes on top of the
    /// previous one (and blocks what its handler blocks), so the last frame set up runs first.
    /// Signals come in Linux's order (<see cref="SignalQueue.TryDequeue(ulong, out SigInfo)"/>):
    /// this thread's before the process's. A default action that kills or stops ends the
    /// round.</remarks>
    private bool DeliverSignals()
    {
        if (Group.Stopped)
        {
            WaitWhileStopped();
            return false;
        }
        if (!InterruptPending && _interruptedSyscall < 0 && SavedMaskForHandler == null) return true;
        ClearInterrupt();
        bool handlerFrameSetUp = false;
        while (true)
        {
            if (!Pending.TryDequeue(SignalMask, out SigInfo info) && !Group.Pending.TryDequeue(SignalMask, out info))
            {
                if (handlerFrameSetUp) return true;
                // Interrupted without a signal to handle: a blocking call just starts over.
                RestartInterruptedSyscall(handlerRuns: false, saRestart: false);
                if (SavedMaskForHandler is { } saved) { SignalMask = saved; SavedMaskForHandler = null; }
                return true;
            }
            int sig = info.Signo;
            var act = SignalActions[sig];
            if (act.Handler == SignalHandlers.SigIgn) continue;
            if (act.Handler == SignalHandlers.SigDfl)
            {
                ulong bit = SignalBit(sig);
                if ((IgnoredByDefault & bit) != 0) continue;
                if ((StopSignals & bit) != 0)
                {
                    StopGroup(sig);
                    // Come back here once continued: more may be pending.
                    RequestInterrupt();
                    return false;
                }
                Kernel.Log.Info($"[{Tid}] killed by {Name(sig)}");
                // The sandbox never writes core files, so no status says one was dumped
                // (Linux sets WCOREDUMP only after a dump).
                ExitGroup(new ExitStatus(0, sig));
                return false;
            }
            // Only the first frame concerns the interrupted call: later ones find it settled.
            RestartInterruptedSyscall(handlerRuns: true, saRestart: (act.Flags & SA_RESTART) != 0);
            if (!SetUpHandlerFrame(info, act)) return false;
            handlerFrameSetUp = true;
        }
    }

    /// <summary>Rewinds the guest to re-execute the interrupted syscall when Linux would:
    /// always if no handler runs, with a handler only for SA_RESTART-able calls.</summary>
    private void RestartInterruptedSyscall(bool handlerRuns, bool saRestart)
    {
        if (_interruptedSyscall < 0) return;
        bool restart = !handlerRuns || (saRestart && _restartWithSaRestart);
        if (restart)
        {
            Regs.Rax = (ulong)_interruptedSyscall;
            Regs.Rip -= 2; // the syscall instruction
        }
        _interruptedSyscall = -1;
    }

    private void StopGroup(int sig)
    {
        var g = Group;
        if (!g.Stopped)
        {
            g.Stopped = true;
            g.StopSignal = sig;
            g.StopReportPending = true;
            g.ContinueReportPending = false;
            NotifyParent(g, CLD_STOPPED, sig);
            foreach (var t in g.Tasks) if (t != this) t.RequestInterrupt();
        }
    }

    private void WaitWhileStopped()
    {
        using var wait = BeginWait(Group.StopEvents, Events.POLLIN);
        while (Group.Stopped && !ExitRequested)
        {
            Blocker.Reset();
            if (!Group.Stopped || ExitRequested) break;
            Blocker.Wait(long.MaxValue);
        }
    }

    /// <summary>Builds the rt_sigframe (with FPU state) on the handler's stack and points the
    /// registers at the handler. A frame that cannot be written, or that does not fit on the
    /// alternate stack it goes on, gets a SIGSEGV instead (false: the round of deliveries ends
    /// and the next one takes it).</summary>
    private bool SetUpHandlerFrame(in SigInfo info, KernelSigaction act)
    {
        int sig = info.Signo;
        ulong oldMask = SavedMaskForHandler ?? SignalMask;
        SavedMaskForHandler = null;
        bool onAlt = AltStackFlags != SS_DISABLE && Regs.Rsp - AltStackSp <= AltStackSize;
        ulong sp = Regs.Rsp - SignalFrame.RedZone;
        bool switchToAlt = (act.Flags & SA_ONSTACK) != 0 && AltStackFlags != SS_DISABLE && !onAlt;
        if (switchToAlt) sp = AltStackSp + AltStackSize;

        Span<byte> xsave = stackalloc byte[4096];
        int fpSize = Context.GetFpState(xsave);
        byte[] fpImage = SignalFrame.FpImage(xsave[..fpSize]);
        var (frame, fpAddr) = SignalFrame.Place(sp, fpImage.Length);
        byte[] bytes = SignalFrame.Build(Regs, act.Restorer, info, oldMask, fpAddr, AltStackSp,
            AltStackFlags == SS_DISABLE ? SS_DISABLE : onAlt ? SS_ONSTACK : 0, AltStackSize);
        // On the alternate stack the whole frame must fit in it, or the handler cannot run.
        bool altOverflow = (onAlt || switchToAlt) && frame - AltStackSp > AltStackSize;
        if (altOverflow || MemoryManager.CopyOut(fpAddr, fpImage) < 0 || MemoryManager.CopyOut(frame, bytes) < 0)
        {
            // As Linux's force_sigsegv: the task gets a SIGSEGV instead, which kills it if the
            // frame was for SIGSEGV itself (its handler is reset), and may be handled otherwise.
            Kernel.Log.Info($"[{Tid}] cannot write the frame for {Name(sig)} at 0x{frame:x}: SIGSEGV");
            if (sig == SIGSEGV) SignalActions[SIGSEGV] = default;
            ForceSignal(new SigInfo { Signo = SIGSEGV, Code = SigCodes.SI_KERNEL });
            return false;
        }
        SignalMask = (SignalMask | act.Mask | ((act.Flags & SA_NODEFER) != 0 ? 0 : SignalBit(sig))) & ~UnblockableSignals;
        if ((act.Flags & SA_RESETHAND) != 0) SignalActions[sig] = default;
        Regs.Rip = act.Handler;
        Regs.Rsp = frame;
        Regs.Rdi = (ulong)sig;
        Regs.Rsi = frame + SignalFrame.SiginfoOffset;
        Regs.Rdx = frame + SignalFrame.UcontextOffset;
        Regs.Rax = 0;
        Regs.Eflags &= ~0x500UL; // clear DF and TF, as the kernel does for handlers
        Regs.OrigRax = ulong.MaxValue;
        return true;
    }

    /// <summary>rt_sigreturn: restores what the frame at rsp-8 saved.</summary>
    internal long SigReturn()
    {
        ulong frame = Regs.Rsp - 8;
        var bytes = new byte[SignalFrame.FrameSize];
        if (MemoryManager.CopyIn(frame, bytes) < 0)
        {
            ForceSignal(new SigInfo { Signo = SIGSEGV, Code = SigCodes.SI_KERNEL });
            return 0;
        }
        var (regs, mask, fpAddr, altSp, altFlags, altSize) = SignalFrame.Parse(bytes, Regs);
        if (fpAddr != 0)
        {
            Span<byte> xsave = stackalloc byte[4096];
            int size = Context.GetFpState(xsave);
            if (MemoryManager.CopyIn(fpAddr, xsave[..size]) == 0) Context.SetFpState(xsave[..size]);
        }
        Regs = regs;
        if (altFlags != SS_ONSTACK && (altFlags & ~SS_AUTODISARM) is 0 or SS_DISABLE)
        {
            AltStackSp = altSp;
            AltStackSize = altSize;
            AltStackFlags = (altFlags & SS_DISABLE) != 0 ? SS_DISABLE : 0;
        }
        // Something may have become deliverable under the restored mask.
        SetSignalMask(mask);
        return (long)Regs.Rax;
    }

    /// <summary>Pending signals (thread and process) for sigpending.</summary>
    public ulong PendingMask => Pending.Mask | Group.Pending.Mask;
}
