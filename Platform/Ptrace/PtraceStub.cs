using System.Runtime.CompilerServices;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using P = Sandbox.Abi.Host.Ptrace;

namespace Sandbox.Platform.Ptrace;

/// <summary>One stub process: an address space whose mappings the Sentry installs by injecting
/// mmap/munmap/mprotect, with one stub thread per guest thread. Each stub thread is traced by
/// the host thread that runs its guest task (ptrace binds a tracee to one tracer thread), so an
/// injection always goes through the calling host thread's own stub thread.</summary>
public sealed unsafe class PtraceStub : IAddressSpace
{
    /// <summary>The stub's fd for the MemoryFile.</summary>
    internal const int StubMemoryFd = 3;
    private const ulong TopOfUserSpace = 0x7fff_ffff_f000;
    private const ulong StubThreadCloneFlags = 0x50F00; // VM|FS|FILES|SIGHAND|THREAD|SYSVSEM

    private readonly Dictionary<int, PtraceThread> _byTracer = [];
    /// <summary>Stub threads (the main one included) whose exit nobody has reaped yet.</summary>
    private readonly HashSet<int> _unreaped = [];
    private volatile bool _reaped;

    public int Pid { get; }
    public IContext MainContext { get; }

    /// <summary>A page of the stub's own, read-write, just above its code: where injected calls
    /// that return a structure (getrusage) write it, for the tracer to read with PEEKDATA. The
    /// guest can write it too (it is in its address space, above MaxUserAddress), so what is
    /// read there is only ever a figure about that same guest.</summary>
    internal const ulong ScratchAddress = StubElf.Base + StubElf.Size;
    private const ulong ScratchSize = 0x1000;

    /// <summary>Takes over a stub: with spawnedPid 0, starts the stub image (the template; see
    /// <see cref="StubFactory"/>) and clears its address space; otherwise attaches to
    /// spawnedPid, a fork of the template waiting in the clone gadget.</summary>
    internal PtraceStub(PtracePlatform platform, int spawnedPid)
    {
        if (spawnedPid == 0)
        {
            Pid = SpawnStub(platform);
        }
        else
        {
            Pid = spawnedPid;
            FollowTracerCpu(Pid);
        }
        _unreaped.Add(Pid);
        PtraceThread main;
        try
        {
            main = new PtraceThread(this, Pid, expectSelfStop: spawnedPid == 0);
        }
        catch
        {
            // Never attached: it must not be left waiting.
            Unistd.Kill(Pid, Signals.SIGKILL);
            Reap(Pid);
            throw;
        }
        lock (_byTracer) _byTracer[main.TracerTid] = main;
        MainContext = main;
        if (spawnedPid != 0) return; // a fork of the template is already what follows
        // Clear the address space down to the stub's own page and its scratch page: no stack, no vDSO.
        InjectChecked(SyscallNumber.munmap, 0, StubElf.Base);
        InjectChecked(SyscallNumber.munmap, ScratchAddress, TopOfUserSpace - ScratchAddress);
        InjectChecked(SyscallNumber.mmap, ScratchAddress, ScratchSize, (ulong)(Mm.PROT_READ | Mm.PROT_WRITE),
            (ulong)(Mm.MAP_PRIVATE | Mm.MAP_ANONYMOUS | Mm.MAP_FIXED), ulong.MaxValue, 0);
        // Keep only the MemoryFile: the guest never gets a host descriptor.
        InjectChecked(SyscallNumber.close_range, 0, StubMemoryFd - 1, 0);
        InjectChecked(SyscallNumber.close_range, StubMemoryFd + 1, uint.MaxValue, 0);
    }

    /// <summary>Gives the stub the calling (tracer) thread's CPU mask: tracer and tracee on one
    /// CPU (a cross-CPU wake-up costs ~7x more here). A spawned stub inherits it; a fork of the
    /// template has the template's.</summary>
    private static void FollowTracerCpu(int pid)
    {
        ulong mask;
        if (Sched.GetAffinity(0, sizeof(ulong), &mask) == 0 && mask != 0) Sched.SetAffinity(pid, sizeof(ulong), &mask);
    }

    /// <summary>Forks this stub (the template) with the given clone flags; the child waits in
    /// the clone gadget's pause() loop for its tracer. Returns its pid.</summary>
    internal int ForkProcess(ulong cloneFlags)
    {
        long pid = Current.Inject(SyscallNumber.clone, StubElf.CloneGadget, cloneFlags);
        if (pid <= 0) throw new InvalidOperationException($"injected clone (fork) failed in the stub template: errno {-pid}");
        return (int)pid;
    }

    private static int SpawnStub(PtracePlatform platform)
    {
        byte* attr = stackalloc byte[Spawn.AttrSize];
        byte* actions = stackalloc byte[Spawn.FileActionsSize];
        byte* sigset = stackalloc byte[Spawn.SigsetSize];
        Spawn.AttrInit(attr);
        Spawn.FileActionsInit(actions);
        try
        {
            // Default dispositions and an empty mask, whatever the runtime's thread had.
            Spawn.SigEmptySet(sigset);
            Spawn.AttrSetSigmask(attr, sigset);
            Spawn.SigFillSet(sigset);
            Spawn.SigDelSet(sigset, Signals.SIGKILL);
            Spawn.SigDelSet(sigset, Signals.SIGSTOP);
            Spawn.AttrSetSigdefault(attr, sigset);
            // Its own process group, so terminal signals reach runsc, not the stub.
            const short POSIX_SPAWN_SETPGROUP = 0x02;
            Spawn.AttrSetFlags(attr, (short)(Spawn.POSIX_SPAWN_SETSIGDEF | Spawn.POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP));
            Spawn.FileActionsAddDup2(actions, platform.MemoryFile.Fd, StubMemoryFd);

            byte[] path = PtracePlatform.CString(platform.StubPath);
            byte[] arg0 = PtracePlatform.CString("runsc-stub");
            int pid;
            fixed (byte* pPath = path, pArg0 = arg0)
            {
                byte** argv = stackalloc byte*[2] { pArg0, null };
                byte** envp = stackalloc byte*[1] { null };
                int rc = Spawn.PosixSpawn(&pid, pPath, actions, attr, argv, envp);
                if (rc != 0) throw new HostException("posix_spawn(stub)", rc);
            }
            return pid;
        }
        finally
        {
            Spawn.FileActionsDestroy(actions);
            Spawn.AttrDestroy(attr);
        }
    }

    /// <summary>The stub thread traced by the calling host thread.</summary>
    private PtraceThread Current
    {
        get
        {
            lock (_byTracer)
                return _byTracer.TryGetValue(Sched.GetTid(), out var t)
                    ? t
                    : throw new InvalidOperationException("ptrace stub used from a thread that traces none of its threads");
        }
    }

    public bool CanChangeFromThisThread
    {
        get
        {
            lock (_byTracer) return _byTracer.ContainsKey(Sched.GetTid());
        }
    }

    public void Map(ulong addr, ulong length, long fileOffset, int prot) =>
        InjectChecked(SyscallNumber.mmap, addr, length, (ulong)prot,
            (ulong)(Mm.MAP_SHARED | Mm.MAP_FIXED), StubMemoryFd, (ulong)fileOffset);

    public void Unmap(ulong addr, ulong length) => InjectChecked(SyscallNumber.munmap, addr, length);

    public void Protect(ulong addr, ulong length, int prot) =>
        InjectChecked(SyscallNumber.mprotect, addr, length, (ulong)prot);

    private void InjectChecked(SyscallNumber nr, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0)
    {
        long r = Inject(nr, a0, a1, a2, a3, a4, a5);
        if (r < 0 && r > -4096)
            throw new InvalidOperationException($"injected {nr} failed in the stub: errno {-r}");
    }

    /// <summary>Runs one host system call inside the stub, on the calling host thread's own
    /// stub thread.</summary>
    public long Inject(SyscallNumber nr, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0) =>
        Current.Inject(nr, StubElf.SyscallGadget, a0, a1, a2, a3, a4, a5);

    /// <summary>Whether the stub has only ever had its main thread: its process CPU clock is
    /// then that thread's.</summary>
    internal bool SingleThreaded => Volatile.Read(ref _threadsStarted) == 0;

    private int _threadsStarted;

    public IPendingThread NewThread()
    {
        Interlocked.Increment(ref _threadsStarted);
        long tid = Current.Inject(SyscallNumber.clone, StubElf.CloneGadget, StubThreadCloneFlags);
        if (tid <= 0) throw new InvalidOperationException($"injected clone failed in the stub: errno {-tid}");
        lock (_byTracer) _unreaped.Add((int)tid);
        return new PendingStubThread(this, (int)tid);
    }

    private sealed class PendingStubThread(PtraceStub stub, int tid) : IPendingThread
    {
        public IContext Attach()
        {
            var thread = new PtraceThread(stub, tid, expectSelfStop: false);
            lock (stub._byTracer) stub._byTracer[thread.TracerTid] = thread;
            return thread;
        }
    }

    internal void Forget(PtraceThread thread)
    {
        lock (_byTracer) _byTracer.Remove(thread.TracerTid);
    }

    /// <summary>waitpid has reported the exit of stub thread tid (or said it is gone). Once
    /// the main thread's exit is reported, the pid is free for reuse.</summary>
    internal void MarkReaped(int tid)
    {
        lock (_byTracer)
        {
            _unreaped.Remove(tid);
            if (tid == Pid) _reaped = true;
        }
    }

    /// <summary>The stub's peak RSS (ru_maxrss, KiB). While it lives, asked of the stub itself
    /// (an injected getrusage) when the calling thread traces one of its threads; at the end,
    /// from wait4 when it is reaped. (Forked from the small template, a stub's figure is its
    /// own: none of the Sentry's memory counts.)</summary>
    public long PeakResidentKb
    {
        get
        {
            if (Pid <= 0 || _reaped) return Volatile.Read(ref _peakKb);
            PtraceThread? own;
            lock (_byTracer) _byTracer.TryGetValue(Sched.GetTid(), out own);
            if (own != null && own.TryInject(SyscallNumber.getrusage, StubElf.SyscallGadget, 0 /* RUSAGE_SELF */, ScratchAddress) == 0
                && own.TryPeek(ScratchAddress + RusageMaxrssOffset, out long kb) && kb > 0)
            {
                NotePeak(kb);
            }
            return Volatile.Read(ref _peakKb);
        }
    }

    /// <summary>Offset of ru_maxrss in struct rusage (after two struct timevals).</summary>
    private const ulong RusageMaxrssOffset = 32;

    private long _peakKb;

    private void NotePeak(long kb)
    {
        long seen;
        while (kb > (seen = Volatile.Read(ref _peakKb)) && Interlocked.CompareExchange(ref _peakKb, kb, seen) != seen)
        {
        }
    }

    /// <summary>Kills the stub and reaps it, so no host process outlives the address space.
    /// Its final peak RSS comes with the reaping (wait4), for ru_maxrss.
    /// Normally every other thread has exited already (the Sentry disposes an address space
    /// when its last task has left); any left over, e.g. after the stub was killed from
    /// outside, is reaped first: Linux reports a thread group leader's exit only once every
    /// thread of its group has been reaped, and a traced thread is reaped only by a wait.</summary>
    public void Dispose()
    {
        int[] others;
        lock (_byTracer)
        {
            // Once reaped, the pid may belong to someone else: never signal it again.
            if (Pid <= 0 || _reaped) return;
            others = [.. _unreaped.Where(t => t != Pid)];
        }
        Unistd.Kill(Pid, Signals.SIGKILL);
        foreach (int tid in others) Reap(tid);
        Reap(Pid);
    }

    /// <summary>Waits for a killed stub thread's exit (any thread of this process may wait
    /// for tracees of its other threads); a stop reported first is skipped.</summary>
    internal void Reap(int tid)
    {
        int status;
        Rusage usage;
        while (true)
        {
            int r = P.Wait4(tid, &status, P.__WALL, &usage);
            if (r < 0 && HostError.Last == 4) continue;
            if (r == tid && P.WIfStopped(status)) continue;
            // The process's peak RSS comes with its leader's exit.
            if (r == tid && tid == Pid) NotePeak(usage.Maxrss);
            break; // exited, or ECHILD: gone already
        }
        MarkReaped(tid);
    }
}
