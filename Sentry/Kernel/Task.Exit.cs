using Sandbox.Abi;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>Thread and process exit, zombies, re-parenting, and reaping.</summary>
public sealed partial class Task
{
    private bool _exitThisThread;
    private int _threadExitCode;

    /// <summary>exit(2): ends this thread; the last thread's exit ends the process.</summary>
    public void ExitThread(int code)
    {
        if (Group.Tasks.Count(t => t.Exit == null) <= 1)
        {
            ExitGroup(new ExitStatus(code, 0));
            return;
        }
        _threadExitCode = code;
        _exitThisThread = true;
    }

    /// <summary>Asks another thread of the group to end (execve kills its siblings).</summary>
    internal void KillThread()
    {
        _exitThisThread = true;
        RequestInterrupt();
    }

    internal bool ExitRequested => _exitThisThread || Group.ExitStatus != null;

    /// <summary>Runs on the task's own thread when it leaves: clear_child_tid, robust futexes,
    /// shared-state release, and for the last thread the zombie hand-over to the parent.</summary>
    private void FinishExit()
    {
        if (Exit != null) return;
        var status = Group.ExitStatus ?? new ExitStatus(_threadExitCode, 0);
        if (ClearChildTid != 0)
        {
            MemoryManager.CopyOut(ClearChildTid, 0);
            Kernel.Futexes.Wake(this, ClearChildTid, 1, uint.MaxValue);
        }
        ReleaseRobustFutexes();
        FreezeCpu();
        Exit = status;
        bool last = Group.Remove(this);
        if (Tid != Group.Pid) Kernel.Tasks.TryRemove(Tid, out _);
        bool holdsMainThread = false;
        try
        {
            if (Fds.RemoveUser()) Fds.CloseAll();
            holdsMainThread = LeaveAddressSpace();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The parent must hear of the exit all the same.
            Kernel.Log.Warning($"[{Tid}] releasing the task's resources failed: {e}");
        }
        if (last) NotePeakRss(MemoryManager.AddressSpace); // before the parent can reap
        if (last) ProcessExited(status);
        SendParentDeathSignals();
        if (Group.VforkParentWaiting && last) Group.SignalVforkDone();
        // The process is reported first: its parent must not wait for other users of the
        // address space (a CLONE_VM child of another process, say).
        if (holdsMainThread) MemoryManager.ReleaseAsMainUser();
    }

    /// <summary>Ends this task's platform thread and drops its hold on the address space, in
    /// that order: whoever drops the last hold disposes the address space (on ptrace: kills
    /// and reaps the stub process), which can only be reaped once every thread of it has
    /// been. The task on the address space's main thread keeps its hold (true is returned)
    /// and lets go in <see cref="MemoryManager.ReleaseAsMainUser"/> once it is the only user.</summary>
    private bool LeaveAddressSpace()
    {
        bool main = Context == MemoryManager.AddressSpace.MainContext;
        Context.Exit();
        if (main) return true;
        if (MemoryManager.RemoveUser()) MemoryManager.Dispose();
        return false;
    }

    /// <summary>The last thread is gone: the process becomes a zombie, its children go to
    /// init (or a subreaper), and the parent hears of it — unless it reaps automatically.</summary>
    private void ProcessExited(ExitStatus status)
    {
        var g = Group;
        var init = Kernel.Init;
        lock (g.Children)
        {
            foreach (var child in g.Children)
            {
                var reaper = FindReaper(g) ?? init;
                if (reaper == null || reaper == g) continue;
                child.Parent = reaper;
                lock (reaper.Children) reaper.Children.Add(child);
                if (child.Zombie) NotifyParent(child, CLD_EXITED, 0);
            }
            g.Children.Clear();
        }
        g.BecomeZombie();
        var parent = g.Parent;
        int code = status.Signal == 0 ? CLD_EXITED : status.Core ? CLD_DUMPED : CLD_KILLED;
        int si = status.Signal == 0 ? status.Code : status.Signal;
        // A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) never sees zombies.
        if (parent != null && (parent.Handlers.Actions[Signals.SIGCHLD].Handler == SignalHandlers.SigIgn
            || (parent.Handlers.Actions[Signals.SIGCHLD].Flags & SA_NOCLDWAIT) != 0) && g.ExitSignal == Signals.SIGCHLD)
        {
            Reap(g);
            parent.ChildEvents.Notify(Events.POLLIN);
        }
        else
        {
            NotifyParent(g, code, si);
        }
        if (g == init)
        {
            // When pid 1 ends, the sandbox ends: everyone else is killed.
            foreach (var t in Kernel.Tasks.Values)
                if (t.Group != g) t.Group.BeginExit(new ExitStatus(0, Signals.SIGKILL));
            Kernel.InitExited.Set();
        }
    }

    private static ThreadGroup? FindReaper(ThreadGroup exiting)
    {
        for (var p = exiting.Parent; p != null; p = p.Parent)
            if (p.ChildSubreaper && !p.Zombie) return p;
        return null;
    }

    /// <summary>Removes a zombie from the tree (wait4 took its status).</summary>
    internal static void Reap(ThreadGroup child)
    {
        child.Reaped = true;
        if (child.Parent is { } parent) lock (parent.Children) parent.Children.Remove(child);
        child.Kernel.Tasks.TryRemove(child.Pid, out _);
    }

    /// <summary>Walks the robust futex list (exit_robust_list): each lock this thread holds
    /// gets FUTEX_OWNER_DIED and a waiter woken; then the lock in list_op_pending, the one the
    /// thread was taking or releasing, unless the walk met it on the list.</summary>
    private void ReleaseRobustFutexes()
    {
        const int RobustListLimit = 2048;
        if (RobustListHead == 0) return;
        // struct robust_list_head { next; long futex_offset; list_op_pending; }; bit 0 of an
        // entry pointer marks a PI futex.
        if (MemoryManager.CopyIn(RobustListHead, out ulong entry) < 0) return;
        if (MemoryManager.CopyIn(RobustListHead + 8, out long offset) < 0) return;
        if (MemoryManager.CopyIn(RobustListHead + 16, out ulong pending) < 0) return;
        bool pendingPi = (pending & 1) != 0, pi = (entry & 1) != 0;
        pending &= ~1UL;
        entry &= ~1UL;
        for (int limit = RobustListLimit; entry != RobustListHead && entry != 0;)
        {
            bool fetched = MemoryManager.CopyIn(entry, out ulong next) == 0;
            if (entry != pending && !HandleFutexDeath((ulong)((long)entry + offset), pi, pendingOp: false)) return;
            if (!fetched) return;
            pi = (next & 1) != 0;
            entry = next & ~1UL;
            if (--limit == 0) break;
        }
        if (pending != 0) HandleFutexDeath((ulong)((long)pending + offset), pendingPi, pendingOp: true);
    }

    /// <summary>One robust futex of a dying thread (handle_futex_death): if the thread owns it,
    /// the owner becomes FUTEX_OWNER_DIED (waiters bit kept) and a waiter is woken. A pending
    /// non-PI lock with no owner was being released: its value stays, a waiter is woken. False
    /// when the word cannot be read.</summary>
    private unsafe bool HandleFutexDeath(ulong addr, bool pi, bool pendingOp)
    {
        const uint FUTEX_OWNER_DIED = 0x40000000, FUTEX_WAITERS = 0x80000000, FUTEX_TID_MASK = 0x3fffffff;
        if (addr % 4 != 0) return false;
        if (MemoryManager.CopyIn(addr, out uint value) < 0) return false;
        uint owner = value & FUTEX_TID_MASK;
        if (pendingOp && !pi && owner == 0)
        {
            Kernel.Futexes.Wake(this, addr, 1, uint.MaxValue);
            return true;
        }
        if (owner != (uint)Tid) return true;
        if (!MemoryManager.TryTranslate(addr, 4, write: true, out byte* p, out _)) return true;
        ref uint word = ref *(uint*)p;
        uint old;
        do
        {
            old = Volatile.Read(ref word);
            if ((old & FUTEX_TID_MASK) != (uint)Tid) return true;
        } while (Interlocked.CompareExchange(ref word, (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED, old) != old);
        if (!pi && (old & FUTEX_WAITERS) != 0) Kernel.Futexes.Wake(this, addr, 1, uint.MaxValue);
        return true;
    }
}
