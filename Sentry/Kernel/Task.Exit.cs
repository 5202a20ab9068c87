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
        ReleaseSharedState(last);
        if (last) NotePeakRss(MemoryManager.AddressSpace); // before the parent can reap
        if (last) ProcessExited(status);
        if (Group.VforkParentWaiting && last) Group.VforkDone.Set();
    }

    /// <summary>Drops this task's hold on its address space, descriptor table and stub thread.</summary>
    private void ReleaseSharedState(bool lastInGroup)
    {
        if (Fds.RemoveUser()) Fds.CloseAll();
        bool lastUser = MemoryManager.RemoveUser();
        if (lastUser)
        {
            MemoryManager.Dispose(); // kills the stub process
        }
        else
        {
            Context.Exit();
            // The stub's main thread cannot leave before the others: its tracer's exit would
            // kill the whole stub (PTRACE_O_EXITKILL). Park until the last user is gone.
            if (Context == MemoryManager.AddressSpace.MainContext) MemoryManager.WaitUntilUnused();
        }
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

    /// <summary>Walks the robust futex list: each held lock gets FUTEX_OWNER_DIED and a waiter woken.</summary>
    private void ReleaseRobustFutexes()
    {
        const uint FUTEX_OWNER_DIED = 0x40000000, FUTEX_WAITERS = 0x80000000, FUTEX_TID_MASK = 0x3fffffff;
        if (RobustListHead == 0) return;
        // struct robust_list_head { next; long futex_offset; list_op_pending; }
        if (MemoryManager.CopyIn(RobustListHead, out ulong next) < 0) return;
        if (MemoryManager.CopyIn(RobustListHead + 8, out long offset) < 0) return;
        for (int limit = 0; next != RobustListHead && next != 0 && limit < 2048; limit++)
        {
            ulong word = (ulong)((long)next + offset);
            if (MemoryManager.CopyIn(word, out uint value) == 0 && (value & FUTEX_TID_MASK) == (uint)Tid)
            {
                uint newValue = (value & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
                MemoryManager.CopyOut(word, newValue);
                if ((value & FUTEX_WAITERS) != 0) Kernel.Futexes.Wake(this, word, 1, uint.MaxValue);
            }
            if (MemoryManager.CopyIn(next, out next) < 0) break;
        }
    }
}
