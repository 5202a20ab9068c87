using System.Runtime.CompilerServices;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>How a task ended: an exit code or a terminating signal.</summary>
public readonly record struct ExitStatus(int Code, int Signal, bool Core = false)
{
    /// <summary>What a shell reports: the code, or 128 + the signal.</summary>
    public int ShellStatus => Signal != 0 ? 128 + Signal : Code;

    /// <summary>The status wait4 reports: code << 8, or the signal with the core-dump flag
    /// (which the sandbox, writing no core files, never sets).</summary>
    public int WaitStatus => Signal != 0 ? Signal | (Core ? 0x80 : 0) : (Code & 0xff) << 8;
}

/// <summary>A guest thread. Runs on its own host thread (ptrace requires the tracer to be the
/// thread that attached) in a loop: deliver pending signals, switch into the guest, handle the
/// syscall or fault, repeat. Split by concern across Task.*.cs files.</summary>
public sealed partial class Task
{
    /// <summary>The task the calling host thread runs (each task has its own host thread).
    /// For file system code that has no Task parameter, e.g. /proc/self.</summary>
    [ThreadStatic] private static Task? _current;

    public static Task? Current => _current;

    public Kernel Kernel { get; }
    /// <summary>Fixed for the task's life, except that a thread whose execve ends the others
    /// takes the process's pid as its tid (<see cref="BecomeLeader"/>).</summary>
    public int Tid { get; private set; }
    public ThreadGroup Group { get; private set; }
    /// <summary>Thread group id: the pid the guest sees.</summary>
    public int Pid => Group.Pid;
    public int ParentPid => Group.Parent?.Pid ?? 0;
    public MemoryManager MemoryManager
    {
        get => _memoryManager;
        private set
        {
            _memoryManager = value;
            // Another thread that takes pages from it (a file that shrank) gets us out of the guest.
            value.InterruptUsers ??= Kernel.InterruptTasksUsing;
        }
    }

    private MemoryManager _memoryManager = null!;
    public FdTable Fds { get; private set; }
    public FsContext Fs { get; private set; }
    /// <summary>The mount namespace the task's paths resolve in (clone shares it unless
    /// CLONE_NEWNS; unshare(CLONE_NEWNS) replaces it with a copy).</summary>
    public MountNamespace Mounts { get; private set; }
    /// <summary>Replaced as a whole (copy, change, commit) by the set*id calls, as Linux's
    /// commit_creds does, so readers on other threads always see one consistent set.</summary>
    public Credentials Creds { get; internal set; }
    public ResourceLimits Limits => Group.Limits;
    public IContext Context { get; private set; }
    public string Name { get; set; }

    public UserRegs Regs;

    /// <summary>set_tid_address / CLONE_CHILD_CLEARTID address.</summary>
    public ulong ClearChildTid { get; set; }
    public ulong RobustListHead { get; set; }

    /// <summary>Set when this thread has finished (its status is its group's).</summary>
    public ExitStatus? Exit { get; private set; }

    /// <summary>Process group and session ids (the group's).</summary>
    public int ProcessGroup { get => Group.ProcessGroup; set => Group.ProcessGroup = value; }
    public int Session { get => Group.Session; set => Group.Session = value; }

    /// <summary>Who owns this process's POSIX record locks (shared by its threads).</summary>
    public object ProcessLockOwner => Group;

    /// <summary>prctl(2) attributes.</summary>
    public int ParentDeathSignal { get; set; }
    public bool Dumpable { get => Group.Dumpable; set => Group.Dumpable = value; }
    public bool NoNewPrivileges { get; set; }
    public bool ChildSubreaper { get => Group.ChildSubreaper; set => Group.ChildSubreaper = value; }

    /// <summary>Scheduling attributes and personality (per thread, as on Linux).</summary>
    public SchedAttributes Sched { get; private set; } = new();

    /// <summary>File mode creation mask (umask(2)); shared with CLONE_FS.</summary>
    public int Umask { get => Fs.Umask; set => Fs.Umask = value; }

    /// <summary>Creates the sandbox's first task (pid 1).</summary>
    public Task(Kernel kernel, MemoryManager mm, FdTable fds, FsContext fs, MountNamespace mounts, IContext context,
        Credentials creds, string name)
    {
        Kernel = kernel;
        Tid = kernel.AllocatePid();
        Group = new ThreadGroup(kernel, Tid, null, new SignalHandlers(), new ResourceLimits());
        MemoryManager = mm;
        Fds = fds;
        Fs = fs;
        Mounts = mounts;
        Context = context;
        Creds = creds;
        Name = name;
        Regs = context.InitialRegisters;
        Group.Add(this);
        kernel.Tasks[Tid] = this;
    }

    /// <summary>A task made by clone; its host thread finishes the set-up in <see cref="Start"/>.</summary>
    private Task(Task parent, int tid, ThreadGroup group, MemoryManager mm, FdTable fds, FsContext fs, MountNamespace mounts,
        Credentials creds)
    {
        Kernel = parent.Kernel;
        Tid = tid;
        Group = group;
        MemoryManager = mm;
        Fds = fds;
        Fs = fs;
        Mounts = mounts;
        Creds = creds;
        Name = parent.Name;
        Context = null!;
        Regs = parent.Regs;
        SignalMask = parent.SignalMask;
        Sched = parent.Sched.ForChild();
        if (mm != parent.MemoryManager && MembarrierRegistrations.TryGetValue(parent.MemoryManager, out var registered))
            MembarrierRegistrations.AddOrUpdate(mm, new StrongBox<int>(registered.Value));
        group.Add(this);
        Kernel.Tasks[tid] = this;
    }

    /// <summary>membarrier(2) registrations of each address space (Linux keeps them in the mm):
    /// fork copies them, a new image after execve starts without.</summary>
    internal static ConditionalWeakTable<MemoryManager, StrongBox<int>> MembarrierRegistrations { get; } = new();

    /// <summary>close_range(CLOSE_RANGE_UNSHARE), unshare(CLONE_FILES): this task gets a
    /// private copy of its descriptor table.</summary>
    public void UnshareFds()
    {
        var copy = Fds.Fork();
        if (Fds.RemoveUser()) Fds.CloseAll();
        Fds = copy;
    }

    /// <summary>unshare(CLONE_FS): this task gets a private copy of its root, working
    /// directory and umask.</summary>
    public void UnshareFs() => Fs = Fs.Clone();

    /// <summary>unshare(CLONE_NEWNS): this task moves to a new mount namespace holding a copy
    /// of its current one; its root and working directory (unshared first, as CLONE_NEWNS
    /// implies CLONE_FS) move to the copies of their mounts.</summary>
    public void UnshareMounts()
    {
        Mounts = Mounts.Copy(out var map);
        Fs = Fs.Translate(map);
    }

    /// <summary>setns(2) into a mount namespace: this task's paths resolve in ns from now on,
    /// and its root and working directory both become the top of ns's root, as on Linux.
    /// The caller checks that no other task shares the FsContext.</summary>
    public void EnterMounts(MountNamespace ns)
    {
        var root = MountNamespace.Cross(ns.RootPos);
        Mounts = ns;
        Fs.Root = root;
        Fs.Cwd = root;
    }

    /// <summary>Ends the whole thread group with status.</summary>
    public void ExitGroup(ExitStatus status) => Group.BeginExit(status);

    /// <summary>Runs the guest until this thread exits; returns the group's status.</summary>
    public ExitStatus Run()
    {
        _current = this;
        StartCpuAccounting();
        Kernel.TaskStarted();
        try
        {
            while (Exit == null)
            {
                if (ExitRequested) { FinishExit(); break; }
                if (!DeliverSignals()) continue;
                if (Exit != null) break;
                MemoryManager.ApplyPendingPlatformWork();
                switch (Context.Switch(ref Regs, out SigInfo info))
                {
                    case SwitchReason.Syscall:
                        HandleSyscall();
                        break;
                    case SwitchReason.I386Syscall:
                        HandleI386Syscall();
                        break;
                    case SwitchReason.Fault:
                        HandleFault(info);
                        break;
                    case SwitchReason.Signal:
                        // Asynchronous host signals to the stub are not the guest's business.
                        Kernel.Log.Info($"[{Tid}] host signal {Signals.Name(info.Signo)} to the stub ignored");
                        break;
                    case SwitchReason.Interrupted:
                        break;
                    case SwitchReason.Died:
                        Kernel.Log.Warning($"[{Tid}] the guest's host process died");
                        ExitGroup(new ExitStatus(0, Signals.SIGKILL));
                        break;
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Kernel.Log.Warning($"[{Tid}] the task failed inside the Sentry: {e}");
            ExitGroup(new ExitStatus(0, Signals.SIGKILL));
            FinishExit();
        }
        finally
        {
            CloseHostWakeFd();
            Kernel.TaskFinished();
        }
        return Group.ExitStatus ?? new ExitStatus(0, 0);
    }

    /// <summary>A synchronous fault becomes a signal for this thread; if it is blocked or
    /// ignored it cannot be handled, and the default action (death) applies, as on Linux. A fault
    /// the memory manager resolves (a stack growing, file pages filled in) runs the access
    /// again; one on a shared mapping past the end of its file is SIGBUS.</summary>
    private void HandleFault(in SigInfo info)
    {
        if (info.Signo == Signals.SIGSEGV)
        {
            switch (MemoryManager.HandleFault(info.Addr))
            {
                case FaultResult.Retry:
                    return;
                case FaultResult.Bus:
                    Kernel.Log.Info($"[{Tid}] SIGBUS addr=0x{info.Addr:x} (past the end of a shared mapping's file) rip=0x{Regs.Rip:x}");
                    ForceSignal(new SigInfo { Signo = Signals.SIGBUS, Code = SigCodes.BUS_ADRERR, Addr = info.Addr });
                    return;
            }
        }
        Kernel.Log.Info($"[{Tid}] {Signals.Name(info.Signo)} code={info.Code} addr=0x{info.Addr:x} rip=0x{Regs.Rip:x}");
        ForceSignal(info);
    }
}

/// <summary>A task's user and group ids, and its capability sets (bit n = capability n).</summary>
public sealed class Credentials
{
    /// <summary>CAP_LAST_CAP (CAP_CHECKPOINT_RESTORE) and the set of every capability.</summary>
    public const int CapLastCap = 40;
    public const ulong AllCapabilities = (1UL << (CapLastCap + 1)) - 1;

    public uint RealUid, EffectiveUid, SavedUid, RealGid, EffectiveGid, SavedGid;
    /// <summary>setfsuid/setfsgid ids; they follow the effective ids on every other set*id call.</summary>
    public uint FsUid, FsGid;
    public uint[] Groups = [];
    public ulong CapPermitted, CapEffective, CapInheritable, CapAmbient, CapBounding = AllCapabilities;
    /// <summary>PR_SET_KEEPCAPS: keep permitted capabilities when no uid stays 0.</summary>
    public bool KeepCaps;

    public bool HasCapability(int cap) => cap is >= 0 and <= CapLastCap && (CapEffective & (1UL << cap)) != 0;

    public Credentials Clone() => new()
    {
        RealUid = RealUid,
        EffectiveUid = EffectiveUid,
        SavedUid = SavedUid,
        RealGid = RealGid,
        EffectiveGid = EffectiveGid,
        SavedGid = SavedGid,
        FsUid = FsUid,
        FsGid = FsGid,
        Groups = [.. Groups],
        CapPermitted = CapPermitted,
        CapEffective = CapEffective,
        CapInheritable = CapInheritable,
        CapAmbient = CapAmbient,
        CapBounding = CapBounding,
        KeepCaps = KeepCaps,
    };

    /// <summary>execve's transformation for an image without set-id bits or file capabilities
    /// (cap_bprm_creds_from_file): the saved and file system ids take the effective ones,
    /// PR_SET_KEEPCAPS is cleared, a process with real or effective uid 0 gets its bounding and
    /// inheritable sets as permitted (and as effective when the euid is 0), any other keeps only
    /// its ambient capabilities.</summary>
    public Credentials ForExec()
    {
        var c = Clone();
        c.SavedUid = c.FsUid = c.EffectiveUid;
        c.SavedGid = c.FsGid = c.EffectiveGid;
        c.KeepCaps = false;
        bool root = RealUid == 0 || EffectiveUid == 0;
        c.CapPermitted = (root ? CapBounding | CapInheritable : 0) | CapAmbient;
        c.CapEffective = EffectiveUid == 0 ? c.CapPermitted : CapAmbient;
        return c;
    }

    /// <summary>Root gets every capability, as a process of uid 0 does after execve.</summary>
    public static Credentials For(uint uid, uint gid) => new()
    {
        RealUid = uid,
        EffectiveUid = uid,
        SavedUid = uid,
        RealGid = gid,
        EffectiveGid = gid,
        SavedGid = gid,
        FsUid = uid,
        FsGid = gid,
        CapPermitted = uid == 0 ? AllCapabilities : 0,
        CapEffective = uid == 0 ? AllCapabilities : 0,
    };
}

/// <summary>A task's scheduling attributes (per thread, as on Linux) and its personality(2).
/// Fork and clone copy them; SCHED_RESET_ON_FORK gives the child default ones.</summary>
public sealed class SchedAttributes
{
    public const int SCHED_OTHER = 0, SCHED_FIFO = 1, SCHED_RR = 2;

    /// <summary>Nice value, -20..19.</summary>
    public int Nice;
    /// <summary>SCHED_* policy and its static priority (1..99 for FIFO/RR, else 0).</summary>
    public int Policy, Priority;
    public bool ResetOnFork;
    public uint Personality;
    /// <summary>sched_setaffinity's mask, as given (bits beyond the sandbox's CPUs are ignored
    /// when read); all CPUs at first. Recorded only: the Sentry places threads itself.</summary>
    public ulong Affinity = ulong.MaxValue;
    /// <summary>ioprio_set's value (class in bits 13-15, hints and level below); 0, the
    /// class "none" that follows the nice value, at first. Children inherit it.</summary>
    public int IoPriority;

    public SchedAttributes ForChild()
    {
        var c = (SchedAttributes)MemberwiseClone();
        if (c.ResetOnFork)
        {
            if (c.Policy is SCHED_FIFO or SCHED_RR) { c.Policy = SCHED_OTHER; c.Priority = 0; c.Nice = 0; }
            else if (c.Nice < 0) c.Nice = 0;
            c.ResetOnFork = false;
        }
        return c;
    }
}

/// <summary>getrlimit/setrlimit state, with Linux's defaults.</summary>
public sealed class ResourceLimits
{
    private readonly RLimit[] _limits = new RLimit[Rlimit.RLIM_NLIMITS];

    /// <summary>A child's copy (fork inherits limits).</summary>
    public ResourceLimits(ResourceLimits parent)
    {
        Array.Copy(parent._limits, _limits, _limits.Length);
    }

    public ResourceLimits()
    {
        for (int i = 0; i < _limits.Length; i++) _limits[i] = new RLimit { Cur = Rlimit.RLIM_INFINITY, Max = Rlimit.RLIM_INFINITY };
        _limits[Rlimit.RLIMIT_STACK] = new RLimit { Cur = 8 << 20, Max = Rlimit.RLIM_INFINITY };
        _limits[Rlimit.RLIMIT_CORE] = new RLimit { Cur = 0, Max = Rlimit.RLIM_INFINITY };
        _limits[Rlimit.RLIMIT_NOFILE] = new RLimit { Cur = 1024, Max = 524288 };
        _limits[Rlimit.RLIMIT_NPROC] = new RLimit { Cur = 63704, Max = 63704 };
        _limits[Rlimit.RLIMIT_MEMLOCK] = new RLimit { Cur = 8 << 20, Max = 8 << 20 };
        _limits[Rlimit.RLIMIT_SIGPENDING] = new RLimit { Cur = 63704, Max = 63704 };
        _limits[Rlimit.RLIMIT_MSGQUEUE] = new RLimit { Cur = 819200, Max = 819200 };
        _limits[Rlimit.RLIMIT_NICE] = new RLimit { Cur = 0, Max = 0 };
        _limits[Rlimit.RLIMIT_RTPRIO] = new RLimit { Cur = 0, Max = 0 };
    }

    public RLimit Get(int resource) => _limits[resource];

    public void Set(int resource, RLimit value) => _limits[resource] = value;
}
