using Sandbox.Abi;

namespace Sandbox.Sentry.Kernel;

/// <summary>A process: the threads sharing a pid, its place in the process tree, its signal
/// handlers and shared pending signals, limits, and how it ended.</summary>
public sealed partial class ThreadGroup
{
    private readonly List<Task> _tasks = [];

    public ThreadGroup(Kernel kernel, int pid, ThreadGroup? parent, SignalHandlers handlers, ResourceLimits limits)
    {
        Kernel = kernel;
        Pid = pid;
        Parent = parent;
        Handlers = handlers;
        Limits = limits;
        if (parent != null)
        {
            ProcessGroup = parent.ProcessGroup;
            Session = parent.Session;
            lock (parent.Children) parent.Children.Add(this);
        }
        else
        {
            ProcessGroup = Session = pid;
        }
    }

    public Kernel Kernel { get; }
    public int Pid { get; }
    public ThreadGroup? Parent { get; set; }

    /// <summary>The thread of <see cref="Parent"/> this process counts as its parent (Linux's
    /// real_parent is a thread: the one that forked it). When that thread ends, the process
    /// passes to another thread or to its new reaper, and gets its parent-death signal.</summary>
    public Task? ParentThread { get; set; }
    public List<ThreadGroup> Children { get; } = [];
    public int ProcessGroup { get; set; }
    public int Session { get; set; }
    public SignalHandlers Handlers { get; set; }
    public ResourceLimits Limits { get; }

    /// <summary>Signals sent to the process (any thread may take them).</summary>
    public SignalQueue Pending { get; } = new();

    /// <summary>The signal the parent gets when this process ends (clone's exit signal).</summary>
    public int ExitSignal { get; set; } = Signals.SIGCHLD;

    /// <summary>Set once the group is exiting (exit_group, a fatal signal, exec's kill of
    /// other threads): every thread leaves at its next chance.</summary>
    public ExitStatus? ExitStatus { get; private set; }

    /// <summary>All threads gone; waiting for the parent to reap it.</summary>
    public bool Zombie { get; private set; }
    public bool Reaped { get; set; }

    /// <summary>Job control: stopped by SIGSTOP/SIGTSTP/...; the parent may see it once in wait.</summary>
    public bool Stopped { get; set; }
    public int StopSignal { get; set; }
    public bool StopReportPending { get; set; }
    public bool ContinueReportPending { get; set; }

    /// <summary>The parent waits here for children's state changes (wait4/waitid).</summary>
    public WaitQueue ChildEvents { get; } = new();

    /// <summary>Woken when the group stops or continues (threads park while stopped).</summary>
    public WaitQueue StopEvents { get; } = new();

    /// <summary>A vfork parent sleeps until this child execs or exits.</summary>
    public ManualResetEventSlim VforkDone { get; } = new(false);
    public bool VforkParentWaiting { get; set; }

    /// <summary>The task sleeping in vfork for this child, woken by <see cref="SignalVforkDone"/>.</summary>
    internal Task? VforkParent { get; set; }

    /// <summary>The vfork child has exec'd or exited: its parent goes on.</summary>
    internal void SignalVforkDone()
    {
        VforkDone.Set();
        VforkParent?.Blocker.Wake(0);
    }

    /// <summary>The thread whose execve is ending the others (at most one at a time).</summary>
    internal Task? Execer { get; set; }

    /// <summary>prctl attributes of the process.</summary>
    public bool ChildSubreaper { get; set; }
    public bool Dumpable { get; set; } = true;

    public Task? Leader
    {
        get { lock (_tasks) return _tasks.Find(t => t.Tid == Pid) ?? (_tasks.Count > 0 ? _tasks[0] : null); }
    }

    public IReadOnlyList<Task> Tasks
    {
        get { lock (_tasks) return [.. _tasks]; }
    }

    public void Add(Task t)
    {
        lock (_tasks) _tasks.Add(t);
    }

    /// <summary>Removes an exited thread, adding its CPU time to the group's; true when it
    /// was the last one.</summary>
    public bool Remove(Task t)
    {
        var (user, system) = t.CpuTime();
        lock (_tasks)
        {
            if (_tasks.Remove(t))
            {
                UserNanos += user;
                SystemNanos += system;
            }
            return _tasks.Count == 0;
        }
    }

    /// <summary>Starts the group's exit: the first status wins; every thread is interrupted.</summary>
    public void BeginExit(ExitStatus status)
    {
        lock (this)
        {
            if (ExitStatus != null) return;
            ExitStatus = status;
        }
        foreach (var t in Tasks) t.RequestInterrupt();
        StopEvents.Notify(Events.POLLIN);
    }

    /// <summary>The last thread left: the process becomes a zombie its parent can reap.</summary>
    internal void BecomeZombie()
    {
        lock (this) Zombie = true;
    }

    /// <summary>A child whose host side could not be created is reported as killed.</summary>
    internal void BecomeZombieAfterFailedStart()
    {
        BecomeZombie();
        Task.NotifyParent(this, Task.CLD_KILLED, Signals.SIGKILL);
        SignalVforkDone();
    }
}

/// <summary>Signal dispositions, shared by threads (and by processes cloned with CLONE_SIGHAND).</summary>
public sealed class SignalHandlers
{
    public KernelSigaction[] Actions { get; } = new KernelSigaction[Signals.SIGRTMAX + 1];

    public SignalHandlers Clone()
    {
        var c = new SignalHandlers();
        lock (this) Array.Copy(Actions, c.Actions, Actions.Length);
        return c;
    }

    /// <summary>exec: handled signals go back to the default; ignored ones stay ignored.</summary>
    public void ResetForExec()
    {
        lock (this)
            for (int i = 1; i < Actions.Length; i++)
                if (Actions[i].Handler != SigIgn) Actions[i] = default;
    }

    public const ulong SigDfl = 0, SigIgn = 1;
}

/// <summary>Pending signals: standard signals coalesce, real-time ones queue.</summary>
public sealed class SignalQueue
{
    private readonly List<SigInfo> _queue = [];

    public ulong Mask
    {
        get
        {
            lock (_queue)
            {
                ulong m = 0;
                foreach (var s in _queue) m |= Task.SignalBit(s.Signo);
                return m;
            }
        }
    }

    /// <summary>Queues info; a standard signal already pending is not queued twice.</summary>
    public bool Enqueue(in SigInfo info)
    {
        lock (_queue)
        {
            if (info.Signo < Signals.SIGRTMIN)
                foreach (var s in _queue)
                    if (s.Signo == info.Signo) return false;
            _queue.Add(info);
            return true;
        }
    }

    /// <summary>The signals faults raise; Linux takes them before any other pending one.</summary>
    private static readonly ulong SynchronousSignals = Task.SignalBit(Signals.SIGSEGV) | Task.SignalBit(Signals.SIGBUS)
        | Task.SignalBit(Signals.SIGILL) | Task.SignalBit(Signals.SIGTRAP) | Task.SignalBit(Signals.SIGFPE) | Task.SignalBit(Signals.SIGSYS);

    /// <summary>Takes the next pending signal not in blocked, in Linux's order (next_signal):
    /// a synchronous one (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS) first, else the
    /// lowest-numbered; queued instances of one real-time signal in the order they came.</summary>
    public bool TryDequeue(ulong blocked, out SigInfo info)
    {
        lock (_queue)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i < _queue.Count; i++)
            {
                int sig = _queue[i].Signo;
                ulong bit = Task.SignalBit(sig);
                if ((blocked & bit) != 0) continue;
                int rank = (SynchronousSignals & bit) != 0 ? sig : sig + 64;
                if (rank < bestRank) { best = i; bestRank = rank; }
            }
            if (best < 0) { info = default; return false; }
            info = _queue[best];
            _queue.RemoveAt(best);
            return true;
        }
    }

    /// <summary>Takes a specific pending signal (sigtimedwait).</summary>
    public bool TryDequeue(int sig, out SigInfo info)
    {
        lock (_queue)
        {
            int i = _queue.FindIndex(s => s.Signo == sig);
            if (i < 0) { info = default; return false; }
            info = _queue[i];
            _queue.RemoveAt(i);
            return true;
        }
    }

    /// <summary>Replaces the first queued signal that match selects with change(it); false
    /// when none is queued. A POSIX timer counts its overruns on its pending signal this way.</summary>
    public bool TryUpdate(Func<SigInfo, bool> match, Func<SigInfo, SigInfo> change)
    {
        lock (_queue)
        {
            int i = _queue.FindIndex(s => match(s));
            if (i < 0) return false;
            _queue[i] = change(_queue[i]);
            return true;
        }
    }

    /// <summary>Drops every pending instance of the signals in mask (SIGCONT drops stops, ...).</summary>
    public void Discard(ulong mask)
    {
        lock (_queue) _queue.RemoveAll(s => (mask & Task.SignalBit(s.Signo)) != 0);
    }
}
