using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>clone, fork and vfork: a new task on a new host thread. Threads (CLONE_VM) run in
/// a new thread of the same stub process; new processes get a stub process of their own and
/// a copy-on-write copy of the address space (see MemoryManager.ForkCopy).</summary>
public sealed partial class Task
{
    public const ulong CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800;
    public const ulong CLONE_PIDFD = 0x1000, CLONE_PTRACE = 0x2000, CLONE_VFORK = 0x4000, CLONE_PARENT = 0x8000;
    public const ulong CLONE_THREAD = 0x10000, CLONE_NEWNS = 0x20000, CLONE_SYSVSEM = 0x40000, CLONE_SETTLS = 0x80000;
    public const ulong CLONE_PARENT_SETTID = 0x100000, CLONE_CHILD_CLEARTID = 0x200000, CLONE_DETACHED = 0x400000;
    public const ulong CLONE_UNTRACED = 0x800000, CLONE_CHILD_SETTID = 0x1000000, CLONE_NEWCGROUP = 0x2000000;
    public const ulong CLONE_NEWUTS = 0x4000000, CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000;
    public const ulong CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000, CLONE_IO = 0x80000000;
    public const ulong CLONE_CLEAR_SIGHAND = 0x100000000, CLONE_INTO_CGROUP = 0x200000000, CLONE_NEWTIME = 0x80;

    /// <summary>Implements the common part of clone/clone3/fork/vfork. Returns the child's tid.</summary>
    public long Clone(ulong flags, ulong stack, ulong parentTid, ulong childTid, ulong tls, int exitSignal)
    {
        if ((flags & CLONE_THREAD) != 0 && (flags & CLONE_SIGHAND) == 0) return -(long)Errno.EINVAL;
        if ((flags & CLONE_SIGHAND) != 0 && (flags & CLONE_VM) == 0) return -(long)Errno.EINVAL;
        if ((flags & CLONE_FS) != 0 && (flags & CLONE_NEWNS) != 0) return -(long)Errno.EINVAL;
        if ((flags & CLONE_CLEAR_SIGHAND) != 0 && (flags & CLONE_SIGHAND) != 0) return -(long)Errno.EINVAL;
        if ((flags & (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNS)) != 0
            && !Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_ADMIN)) return -(long)Errno.EPERM;
        if (exitSignal is < 0 or > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        // A dying process makes no new tasks (Linux's copy_process gives up on a fatal signal):
        // a thread would only die at once, and a child process would outlive it.
        if (ExitRequested) return -(long)Errno.EINTR;
        bool thread = (flags & CLONE_THREAD) != 0;
        if (AtProcessLimit()) return -(long)Errno.EAGAIN;

        int tid = Kernel.AllocatePid();
        ThreadGroup group;
        if (thread)
        {
            group = Group;
        }
        else
        {
            var handlers = (flags & CLONE_SIGHAND) != 0 ? Group.Handlers : Group.Handlers.Clone();
            if ((flags & CLONE_CLEAR_SIGHAND) != 0) handlers = new SignalHandlers();
            var limits = new ResourceLimits(Group.Limits);
            var parent = (flags & CLONE_PARENT) != 0 && Group.Parent != null ? Group.Parent : Group;
            group = new ThreadGroup(Kernel, tid, parent, handlers, limits)
            {
                ExitSignal = exitSignal,
                ParentThread = parent == Group ? this : Group.ParentThread,
            };
        }

        MemoryManager mm;
        if ((flags & CLONE_VM) != 0) { MemoryManager.AddUser(); mm = MemoryManager; }
        else mm = MemoryManager.ForkCopy();
        FdTable fds;
        if ((flags & CLONE_FILES) != 0) { Fds.AddUser(); fds = Fds; }
        else fds = Fds.Fork();
        var fs = (flags & CLONE_FS) != 0 ? Fs : Fs.Clone();
        var mounts = Mounts;
        if ((flags & CLONE_NEWNS) != 0)
        {
            // The child starts in a copy of our mount tree, at the copies of our root and cwd.
            mounts = Mounts.Copy(out var map);
            fs = Fs.Translate(map);
        }
        var creds = Creds.Clone();

        var child = new Task(this, tid, group, mm, fds, fs, mounts, creds)
        {
            ParentDeathSignal = 0,
            NoNewPrivileges = NoNewPrivileges,
        };
        child.Regs.Rax = 0;
        if (stack != 0) child.Regs.Rsp = stack;
        if ((flags & CLONE_SETTLS) != 0) child.Regs.FsBase = tls;
        if ((flags & CLONE_VM) == 0 || (flags & CLONE_VFORK) != 0)
        {
            child.AltStackSp = AltStackSp;
            child.AltStackSize = AltStackSize;
            child.AltStackFlags = AltStackFlags;
        }
        if ((flags & CLONE_CHILD_CLEARTID) != 0) child.ClearChildTid = childTid;
        if ((flags & CLONE_PARENT_SETTID) != 0) MemoryManager.CopyOut(parentTid, tid);
        // The child's copy of memory exists already (fork) or is ours (threads): write now.
        if ((flags & CLONE_CHILD_SETTID) != 0) mm.CopyOut(childTid, tid);

        // FPU state is inherited too.
        var fp = new byte[4096];
        int fpSize = Context.GetFpState(fp);
        IPendingThread? pending = (flags & CLONE_VM) != 0 ? MemoryManager.AddressSpace.NewThread() : null;
        if (!thread && (flags & CLONE_VFORK) != 0)
        {
            group.VforkParentWaiting = true;
            group.VforkParent = this;
        }

        // A new process's CPU time starts at 0: it gets its own RLIMIT_CPU watch.
        if (!thread) ProcessTimers.WatchCpuLimit(group);

        byte[] childFp = fp.AsSpan(0, fpSize).ToArray();
        HostThreads.Start($"task-{tid}", () => child.Start(pending, childFp));

        if ((flags & CLONE_VFORK) != 0)
        {
            // The parent sleeps until the child execs or exits. Signals wait (they are not
            // handled meanwhile), but its own death does not: the wait is killable, as on Linux.
            while (true)
            {
                Blocker.Reset();
                if (group.VforkDone.IsSet || ExitRequested) break;
                Blocker.Wait(long.MaxValue);
            }
            group.VforkParent = null;
        }
        return tid;
    }

    /// <summary>The child's host thread: take over (or create) the platform context, then run.</summary>
    private void Start(IPendingThread? pending, byte[] fpState)
    {
        StartCpuAccounting();
        try
        {
            if (pending != null)
            {
                Context = pending.Attach();
            }
            else
            {
                var addressSpace = Kernel.Platform.NewAddressSpace();
                MemoryManager.Install(addressSpace);
                Context = addressSpace.MainContext;
            }
            var initial = Context.InitialRegisters;
            Regs.Cs = initial.Cs;
            Regs.Ss = initial.Ss;
            Context.SetFpState(fpState);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Kernel.Log.Warning($"[{Tid}] could not start: {e.Message}");
            Group.BeginExit(new ExitStatus(0, Signals.SIGKILL));
            Exit = new ExitStatus(0, Signals.SIGKILL);
            // Let go of what clone shared or copied, or the address space's main task would
            // wait for this one forever.
            if (Fds.RemoveUser()) Fds.CloseAll();
            if (MemoryManager.RemoveUser()) MemoryManager.Dispose();
            if (Group.Remove(this)) { Group.BecomeZombieAfterFailedStart(); }
            return;
        }
        Run();
    }

    /// <summary>RLIMIT_NPROC, as Linux counts it: every task of the caller's real uid, threads
    /// included, and zombies until they are reaped; root and holders of CAP_SYS_RESOURCE or
    /// CAP_SYS_ADMIN are exempt.</summary>
    private bool AtProcessLimit()
    {
        ulong limit = Limits.Get(Rlimit.RLIMIT_NPROC).Cur;
        if (limit == Rlimit.RLIM_INFINITY || Creds.RealUid == 0
            || Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_RESOURCE)
            || Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_ADMIN)) return false;
        if (limit == 0) return true;
        uint uid = Creds.RealUid;
        ulong count = 0;
        foreach (var t in Kernel.Tasks.Values)
            if (t.Creds.RealUid == uid && ++count >= limit) return true;
        return false;
    }
}
