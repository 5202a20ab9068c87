using System.Runtime.CompilerServices;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using P = Sandbox.Abi.Host.Ptrace;

namespace Sandbox.Platform.Ptrace;

/// <summary>One stub process: an address space whose mappings the Sentry installs by injecting
/// mmap/munmap/mprotect, and (for now) the single guest thread that runs in it. All calls must
/// come from the thread that created it: ptrace binds a tracee to that thread.</summary>
public sealed unsafe class PtraceStub : IAddressSpace, IContext
{
    /// <summary>The stub's fd for the MemoryFile.</summary>
    private const int StubMemoryFd = 3;
    private const ulong TopOfUserSpace = 0x7fff_ffff_f000;
    private const int SyscallStop = Signals.SIGTRAP | 0x80;

    private readonly PtracePlatform _platform;
    private readonly int _tracerTid;
    private UserRegs _initial;
    private bool _dead;
    private bool _reaped;

    public int Pid { get; }
    public IContext MainContext => this;
    public UserRegs InitialRegisters => _initial;

    internal PtraceStub(PtracePlatform platform)
    {
        _platform = platform;
        _tracerTid = Sched.GetTid();
        Pid = SpawnStub(platform);
        int status = Wait();
        if (!P.WIfStopped(status) || P.WStopSig(status) != Signals.SIGSTOP)
            throw new InvalidOperationException($"stub process did not stop as expected (status 0x{status:x})");
        Check(P.Call(P.PTRACE_SETOPTIONS, Pid, 0, P.PTRACE_O_TRACESYSGOOD | P.PTRACE_O_EXITKILL), "PTRACE_SETOPTIONS");
        UserRegs regs;
        Check(P.Call(P.PTRACE_GETREGS, Pid, 0, (nint)(&regs)), "PTRACE_GETREGS");
        _initial = regs with
        {
            Rax = 0,
            Rbx = 0,
            Rcx = 0,
            Rdx = 0,
            Rsi = 0,
            Rdi = 0,
            Rbp = 0,
            Rsp = 0,
            R8 = 0,
            R9 = 0,
            R10 = 0,
            R11 = 0,
            R12 = 0,
            R13 = 0,
            R14 = 0,
            R15 = 0,
            OrigRax = ulong.MaxValue,
            Rip = 0,
            FsBase = 0,
            GsBase = 0,
        };
        // Clear the address space down to the stub's own page: no stack, no vDSO.
        InjectChecked(SyscallNumber.munmap, 0, StubElf.Base);
        InjectChecked(SyscallNumber.munmap, StubElf.Base + StubElf.Size, TopOfUserSpace - StubElf.Base - StubElf.Size);
        // Keep only the MemoryFile: the guest never gets a host descriptor.
        InjectChecked(SyscallNumber.close_range, 0, StubMemoryFd - 1, 0);
        InjectChecked(SyscallNumber.close_range, StubMemoryFd + 1, uint.MaxValue, 0);
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

    /// <summary>Runs one host system call inside the stub: point it at the gadget with the call
    /// in its registers, let it run (PTRACE_CONT, not SYSEMU) until the int3, read rax. The
    /// guest's own registers are restored by the next <see cref="Switch"/>.</summary>
    public long Inject(SyscallNumber nr, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0)
    {
        AssertTracer();
        UserRegs regs = _initial;
        regs.Rax = (ulong)nr;
        regs.Rdi = a0; regs.Rsi = a1; regs.Rdx = a2; regs.R10 = a3; regs.R8 = a4; regs.R9 = a5;
        regs.Rip = StubElf.SyscallGadget;
        Check(P.Call(P.PTRACE_SETREGS, Pid, 0, (nint)(&regs)), "PTRACE_SETREGS");
        Check(P.Call(P.PTRACE_CONT, Pid, 0, 0), "PTRACE_CONT");
        int status = Wait();
        if (!P.WIfStopped(status) || P.WStopSig(status) != Signals.SIGTRAP)
        {
            _dead = _reaped = !P.WIfStopped(status);
            throw new InvalidOperationException($"stub did not return from injected {nr} (status 0x{status:x})");
        }
        Check(P.Call(P.PTRACE_GETREGS, Pid, 0, (nint)(&regs)), "PTRACE_GETREGS");
        return (long)regs.Rax;
    }

    public SwitchReason Switch(ref UserRegs regs, out SigInfo info)
    {
        info = default;
        if (_dead) return SwitchReason.Died;
        fixed (UserRegs* r = &regs)
        {
            if (P.Call(P.PTRACE_SETREGS, Pid, 0, (nint)r) < 0) return MarkDead(reaped: false);
            if (P.Call(P.PTRACE_SYSEMU, Pid, 0, 0) < 0) return MarkDead(reaped: false);
            int status = Wait();
            if (!P.WIfStopped(status)) return MarkDead(reaped: true);
            P.Call(P.PTRACE_GETREGS, Pid, 0, (nint)r);
            int sig = P.WStopSig(status);
            if (sig == SyscallStop) return SwitchReason.Syscall;
            fixed (SigInfo* si = &info)
                P.Call(P.PTRACE_GETSIGINFO, Pid, 0, (nint)si);
            bool synchronous = info.Code > 0 && sig is Signals.SIGSEGV or Signals.SIGBUS or Signals.SIGFPE
                or Signals.SIGILL or Signals.SIGTRAP;
            // A guest int3 arrives as SIGTRAP with si_code SI_KERNEL.
            return synchronous || (sig == Signals.SIGTRAP && info.Code == SigCodes.SI_KERNEL)
                ? SwitchReason.Fault : SwitchReason.Signal;
        }
    }

    private SwitchReason MarkDead(bool reaped)
    {
        _dead = true;
        // Once waitpid has reported the exit, the pid is free for reuse.
        _reaped |= reaped;
        return SwitchReason.Died;
    }

    private int Wait()
    {
        int status;
        while (true)
        {
            int r = P.WaitPid(Pid, &status, P.__WALL);
            if (r == Pid) return status;
            int errno = HostError.Last;
            if (r < 0 && errno != 4 /* EINTR */) throw new HostException("waitpid(stub)", errno);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AssertTracer()
    {
        if (Sched.GetTid() != _tracerTid)
            throw new InvalidOperationException("ptrace stub used from a thread other than its tracer");
    }

    private static void Check(long r, string call)
    {
        if (r < 0) throw new HostException(call, HostError.Last);
    }

    /// <summary>Kills the stub and reaps it, so no host process outlives the address space.</summary>
    public void Dispose()
    {
        // Once reaped, the pid may belong to someone else: never signal it again.
        if (Pid <= 0 || _reaped) return;
        Unistd.Kill(Pid, Signals.SIGKILL);
        int status;
        while (true)
        {
            int r = P.WaitPid(Pid, &status, P.__WALL);
            if (r < 0 && HostError.Last == 4) continue;
            // A pending ptrace stop may be reported before the exit; keep reaping.
            if (r == Pid && P.WIfStopped(status)) continue;
            break;
        }
        _dead = true;
        _reaped = true;
    }
}
