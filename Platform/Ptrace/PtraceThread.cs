using Sandbox.Abi;
using Sandbox.Abi.Host;
using P = Sandbox.Abi.Host.Ptrace;

namespace Sandbox.Platform.Ptrace;

/// <summary>One stub thread and its tracer (the host thread that created this object): runs
/// the guest with PTRACE_SYSEMU and injects host syscalls for the Sentry.</summary>
internal sealed unsafe class PtraceThread : IContext
{
    private const int SyscallStop = Signals.SIGTRAP | 0x80;
    private const int NT_X86_XSTATE = 0x202;

    private readonly PtraceStub _stub;
    private readonly UserRegs _initial;
    private volatile bool _dead;
    private bool _pendingInterrupt;

    public int Tid { get; }
    public int TracerTid { get; }
    public UserRegs InitialRegisters => _initial;

    /// <summary>Takes over a stub thread. The main thread stopped itself (TRACEME + SIGSTOP);
    /// a new thread waits in pause() and is attached here.</summary>
    public PtraceThread(PtraceStub stub, int tid, bool expectSelfStop)
    {
        _stub = stub;
        Tid = tid;
        TracerTid = Sched.GetTid();
        if (!expectSelfStop) Check(P.Call(P.PTRACE_ATTACH, tid, 0, 0), "PTRACE_ATTACH");
        int status = Wait();
        if (P.WIfExited(status) && P.WExitStatus(status) == StubElf.ExitNoSeccomp)
            throw new InvalidOperationException($"stub {tid} could not install its seccomp filter (the host kernel needs " +
                "CONFIG_SECCOMP_FILTER): without it, calls into the vsyscall page would run in the host kernel");
        if (!P.WIfStopped(status) || P.WStopSig(status) != Signals.SIGSTOP)
            throw new InvalidOperationException($"stub thread {tid} did not stop as expected (status 0x{status:x})");
        Check(P.Call(P.PTRACE_SETOPTIONS, tid, 0, P.PTRACE_O_TRACESYSGOOD | P.PTRACE_O_EXITKILL), "PTRACE_SETOPTIONS");
        UserRegs regs;
        Check(P.Call(P.PTRACE_GETREGS, tid, 0, (nint)(&regs)), "PTRACE_GETREGS");
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
    }

    /// <summary>Runs one host system call in this stub thread: point it at a gadget with the
    /// call in its registers, let it run (PTRACE_CONT, not SYSEMU) until the int3, read rax.
    /// The guest's own registers are restored by the next <see cref="Switch"/>.</summary>
    public long Inject(SyscallNumber nr, ulong gadget, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0)
    {
        if (Sched.GetTid() != TracerTid)
            throw new InvalidOperationException("ptrace stub thread used from a thread other than its tracer");
        UserRegs regs = _initial;
        regs.Rax = (ulong)nr;
        regs.Rdi = a0; regs.Rsi = a1; regs.Rdx = a2; regs.R10 = a3; regs.R8 = a4; regs.R9 = a5;
        regs.Rip = gadget;
        Check(P.Call(P.PTRACE_SETREGS, Tid, 0, (nint)(&regs)), "PTRACE_SETREGS");
        Check(P.Call(P.PTRACE_CONT, Tid, 0, 0), "PTRACE_CONT");
        while (true)
        {
            int status = Wait();
            if (P.WIfStopped(status) && P.WStopSig(status) == Signals.SIGSTOP)
            {
                // An Interrupt() raced with the injection: let the call finish, keep the
                // interrupt for the next Switch.
                _pendingInterrupt = true;
                Check(P.Call(P.PTRACE_CONT, Tid, 0, 0), "PTRACE_CONT");
                continue;
            }
            if (!P.WIfStopped(status) || P.WStopSig(status) != Signals.SIGTRAP)
            {
                _dead = true;
                if (!P.WIfStopped(status)) _stub.MarkReaped(Tid);
                throw new InvalidOperationException($"stub did not return from injected {nr} (status 0x{status:x})");
            }
            break;
        }
        Check(P.Call(P.PTRACE_GETREGS, Tid, 0, (nint)(&regs)), "PTRACE_GETREGS");
        return (long)regs.Rax;
    }

    /// <summary><see cref="Inject"/> for optional figures: the result, or -1 when the stub
    /// thread could not run the call (gone, killed from outside).</summary>
    public long TryInject(SyscallNumber nr, ulong gadget, ulong a0 = 0, ulong a1 = 0)
    {
        if (_dead) return -1;
        try
        {
            return Inject(nr, gadget, a0, a1);
        }
        catch (InvalidOperationException)
        {
            return -1;
        }
    }

    /// <summary>Reads one word of the stub's memory (its scratch page).</summary>
    public bool TryPeek(ulong address, out long value)
    {
        value = 0;
        if (_dead) return false;
        // glibc's ptrace() returns the word itself for PEEKDATA; -1 is an error only with errno set.
        long word = P.Call(P.PTRACE_PEEKDATA, Tid, (nint)address, 0);
        if (word == -1 && HostError.Last != 0) return false;
        value = word;
        return true;
    }

    public SwitchReason Switch(ref UserRegs regs, out SigInfo info)
    {
        info = default;
        if (_dead) return SwitchReason.Died;
        if (_pendingInterrupt)
        {
            _pendingInterrupt = false;
            return SwitchReason.Interrupted;
        }
        fixed (UserRegs* r = &regs)
        {
            if (P.Call(P.PTRACE_SETREGS, Tid, 0, (nint)r) < 0) return MarkDead(reaped: false);
            ulong resumed = Rdtsc.Now();
            if (P.Call(P.PTRACE_SYSEMU, Tid, 0, 0) < 0) return MarkDead(reaped: false);
            int status = Wait();
            _guestTicks += Rdtsc.Now() - resumed;
            if (!P.WIfStopped(status)) return MarkDead(reaped: true);
            P.Call(P.PTRACE_GETREGS, Tid, 0, (nint)r);
            int sig = P.WStopSig(status);
            if (sig == SyscallStop)
            {
                // The `syscall` instruction leaves rcx = the return address and r11 = rflags, and
                // the kernel saves them as such; int 0x80 and sysenter (the i386 ABI) do not.
                // Comparing registers already fetched costs nothing on this hot path. A guest
                // that forges both before an int 0x80 only gets its call read as an x86-64 one.
                return r->Rcx == r->Rip && r->R11 == r->Eflags ? SwitchReason.Syscall : SwitchReason.I386Syscall;
            }
            if (sig == Signals.SIGSTOP) return SwitchReason.Interrupted;
            fixed (SigInfo* si = &info)
                P.Call(P.PTRACE_GETSIGINFO, Tid, 0, (nint)si);
            if (sig == Signals.SIGSYS && IsVsyscall(info))
            {
                // A call into the vsyscall page, trapped by the stub's seccomp filter
                // (StubSeccomp): the kernel skipped it and already emulated the `ret` (rip = the
                // return address, rsp + 8; rax = the syscall number, orig_rax = -1). Resuming
                // with no signal drops the SIGSYS; the Sentry runs the call and sets rax.
                r->OrigRax = (ulong)info.Syscall;
                info = default;
                return SwitchReason.Syscall;
            }
            bool synchronous = info.Code > 0 && sig is Signals.SIGSEGV or Signals.SIGBUS or Signals.SIGFPE
                or Signals.SIGILL or Signals.SIGTRAP;
            // A guest int3 arrives as SIGTRAP with si_code SI_KERNEL.
            return synchronous || (sig == Signals.SIGTRAP && info.Code == SigCodes.SI_KERNEL)
                ? SwitchReason.Fault : SwitchReason.Signal;
        }
    }

    /// <summary>Only the kernel can queue a SIGSYS with si_code SYS_SECCOMP (rt_sigqueueinfo
    /// refuses non-negative codes from other processes), and the stub's filter traps only
    /// calls from the vsyscall page; any other SIGSYS is an ordinary signal.</summary>
    private static bool IsVsyscall(in SigInfo info) =>
        info.Code == SigCodes.SYS_SECCOMP && StubSeccomp.InVsyscallPage(info.CallAddr) && StubSeccomp.IsVsyscall(info.Syscall);

    private SwitchReason MarkDead(bool reaped)
    {
        _dead = true;
        if (reaped) _stub.MarkReaped(Tid);
        return SwitchReason.Died;
    }

    /// <summary>A SIGSTOP makes the thread stop at its next chance; Switch reports it as
    /// Interrupted and resumes without it.</summary>
    public void Interrupt()
    {
        if (!_dead) HostSignal.Tgkill(_stub.Pid, Tid, Signals.SIGSTOP);
    }

    public int GetFpState(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var iov = new Iovec { Base = (ulong)p, Len = (ulong)buffer.Length };
            Check(P.Call(P.PTRACE_GETREGSET, Tid, NT_X86_XSTATE, (nint)(&iov)), "PTRACE_GETREGSET");
            return (int)iov.Len;
        }
    }

    public void SetFpState(ReadOnlySpan<byte> state)
    {
        fixed (byte* p = state)
        {
            var iov = new Iovec { Base = (ulong)p, Len = (ulong)state.Length };
            Check(P.Call(P.PTRACE_SETREGSET, Tid, NT_X86_XSTATE, (nint)(&iov)), "PTRACE_SETREGSET");
        }
    }

    public long GuestCpuNanos()
    {
        if (_dead) return _lastCpu;
        // Read on demand (getrusage, CPU clocks and timers, the thread's exit), never on the
        // syscall path. Linux gives the CPU clock of another process, but not that of a thread
        // of another process (EINVAL): for a stub that never had a second thread, the process
        // clock is this thread's, exactly. Otherwise the time this thread was let run, measured
        // by its tracer (resume to stop, tracer and tracee sharing one CPU): the guest's time
        // plus the kernel's side of each stop. (/proc/PID/task/TID/schedstat would be exact,
        // but the Sentry sees no /proc once confined.)
        long ns;
        if (Tid == _stub.Pid && _stub.SingleThreaded)
        {
            Timespec ts;
            ns = Time.ClockGetTime(Clocks.MakeProcessCpuClock(_stub.Pid, Clocks.CPUCLOCK_SCHED), &ts) == 0
                ? ts.Sec * 1_000_000_000L + ts.Nsec : -1;
        }
        else
        {
            ns = TscNanos(_guestTicks);
        }
        // Gone (killed from outside): keep the last value.
        if (ns >= 0 && !_dead) _lastCpu = Math.Max(_lastCpu, ns);
        return _lastCpu;
    }

    private long _lastCpu;
    private ulong _guestTicks;

    // The TSC's rate, measured against CLOCK_MONOTONIC from the first use of this class on.
    private static readonly ulong CalibrationTsc = Rdtsc.Now();
    private static readonly long CalibrationTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    private static long TscNanos(ulong ticks)
    {
        ulong tsc = Rdtsc.Now() - CalibrationTsc;
        double seconds = (System.Diagnostics.Stopwatch.GetTimestamp() - CalibrationTimestamp) / (double)System.Diagnostics.Stopwatch.Frequency;
        return tsc == 0 || seconds <= 0 ? 0 : (long)(ticks * (seconds * 1e9 / tsc));
    }

    /// <summary>Makes the stub thread exit (a guest thread ended; its process goes on).</summary>
    public void Exit()
    {
        if (_dead) return;
        _stub.Forget(this);
        if (Tid == _stub.Pid) return; // the main thread stays until the stub is disposed
        UserRegs regs = _initial;
        regs.Rax = (ulong)SyscallNumber.exit;
        regs.Rip = StubElf.SyscallGadget;
        // If the thread is not in a ptrace stop (killed from outside), these fail and the
        // wait below just reaps it.
        P.Call(P.PTRACE_SETREGS, Tid, 0, (nint)(&regs));
        P.Call(P.PTRACE_CONT, Tid, 0, 0);
        int status;
        while (true)
        {
            int r = P.WaitPid(Tid, &status, P.__WALL);
            if (r < 0 && HostError.Last == 4) continue;
            // A stop on the way (an Interrupt's SIGSTOP) is resumed without its signal.
            if (r == Tid && P.WIfStopped(status)) { P.Call(P.PTRACE_CONT, Tid, 0, 0); continue; }
            break;
        }
        _dead = true;
        _stub.MarkReaped(Tid);
    }

    private int Wait()
    {
        int status;
        while (true)
        {
            int r = P.WaitPid(Tid, &status, P.__WALL);
            if (r == Tid) return status;
            int errno = HostError.Last;
            // ECHILD: someone else reaped it (the stub was disposed under us): it has exited.
            if (r < 0 && errno == 10 /* ECHILD */) return 0;
            if (r < 0 && errno != 4 /* EINTR */) throw new HostException("waitpid(stub)", errno);
        }
    }

    private static void Check(long r, string call)
    {
        if (r < 0) throw new HostException(call, HostError.Last);
    }
}
