using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>How a task ended: an exit code or a terminating signal.</summary>
public readonly record struct ExitStatus(int Code, int Signal)
{
    /// <summary>What a shell reports: the code, or 128 + the signal.</summary>
    public int ShellStatus => Signal != 0 ? 128 + Signal : Code;
}

/// <summary>A guest thread. Runs on its own host thread (ptrace requires the tracer to be the
/// thread that attached) in a loop: switch into the guest, handle the syscall or fault, repeat.
/// Split by concern across Task.*.cs files.</summary>
public sealed partial class Task
{
    /// <summary>The task the calling host thread runs (each task has its own host thread).
    /// For file system code that has no Task parameter, e.g. /proc/self.</summary>
    [ThreadStatic] private static Task? _current;

    public static Task? Current => _current;

    public Kernel Kernel { get; }
    public int Tid { get; }
    /// <summary>Thread group id: the pid the guest sees.</summary>
    public int Pid { get; }
    public int ParentPid { get; }
    public MemoryManager MemoryManager { get; }
    public FdTable Fds { get; }
    public FsContext Fs { get; }
    public Credentials Creds { get; }
    public ResourceLimits Limits { get; }
    public IContext Context { get; }
    public string Name { get; set; }

    public UserRegs Regs;

    /// <summary>set_tid_address / CLONE_CHILD_CLEARTID address.</summary>
    public ulong ClearChildTid { get; set; }
    public ulong RobustListHead { get; set; }

    public ExitStatus? Exit { get; private set; }

    /// <summary>Process group and session ids; the sandbox's init leads both.</summary>
    public int ProcessGroup { get; set; }
    public int Session { get; set; }

    /// <summary>Who owns this process's POSIX record locks (shared by its threads).</summary>
    public object ProcessLockOwner => this;

    /// <summary>prctl(2) attributes.</summary>
    public int ParentDeathSignal { get; set; }
    public bool Dumpable { get; set; } = true;
    public bool NoNewPrivileges { get; set; }
    public bool ChildSubreaper { get; set; }

    /// <summary>File mode creation mask (umask(2)).</summary>
    public int Umask { get; set; } = 0x12; // 022

    public Task(Kernel kernel, MemoryManager mm, FdTable fds, FsContext fs, IContext context, Credentials creds, string name)
    {
        Fs = fs;
        Kernel = kernel;
        Tid = Pid = kernel.AllocatePid();
        ParentPid = 0;
        MemoryManager = mm;
        Fds = fds;
        Context = context;
        Creds = creds;
        Limits = new ResourceLimits();
        Name = name;
        Regs = context.InitialRegisters;
        ProcessGroup = Session = Pid;
    }

    /// <summary>Ends the whole thread group (single-threaded for now).</summary>
    public void ExitGroup(ExitStatus status) => Exit ??= status;

    /// <summary>Runs the guest until it exits; returns its status.</summary>
    public ExitStatus Run()
    {
        _current = this;
        while (Exit == null)
        {
            switch (Context.Switch(ref Regs, out SigInfo info))
            {
                case SwitchReason.Syscall:
                    HandleSyscall();
                    break;
                case SwitchReason.Fault:
                    HandleFault(info);
                    break;
                case SwitchReason.Signal:
                    // Asynchronous host signals to the stub are not the guest's business.
                    Kernel.Log.Info($"[{Tid}] host signal {Signals.Name(info.Signo)} to the stub ignored");
                    break;
                case SwitchReason.Died:
                    Kernel.Log.Warning($"[{Tid}] the guest's host process died");
                    ExitGroup(new ExitStatus(0, Signals.SIGKILL));
                    break;
            }
        }
        return Exit.Value;
    }

    /// <summary>A synchronous fault. Signal handlers come with signal delivery; until then the
    /// default action applies: the thread group dies with the signal.</summary>
    private void HandleFault(in SigInfo info)
    {
        Kernel.Log.Info($"[{Tid}] {Signals.Name(info.Signo)} code={info.Code} addr=0x{info.Addr:x} rip=0x{Regs.Rip:x}");
        ExitGroup(new ExitStatus(0, info.Signo));
    }
}

/// <summary>A task's user and group ids.</summary>
public sealed class Credentials
{
    public uint RealUid, EffectiveUid, SavedUid, RealGid, EffectiveGid, SavedGid;
    public uint[] Groups = [];

    public static Credentials For(uint uid, uint gid) => new()
    {
        RealUid = uid,
        EffectiveUid = uid,
        SavedUid = uid,
        RealGid = gid,
        EffectiveGid = gid,
        SavedGid = gid,
    };
}

/// <summary>getrlimit/setrlimit state, with Linux's defaults.</summary>
public sealed class ResourceLimits
{
    private readonly RLimit[] _limits = new RLimit[Rlimit.RLIM_NLIMITS];

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
