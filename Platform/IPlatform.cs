using Sandbox.Abi;

namespace Sandbox.Platform;

/// <summary>How guest code runs. A platform makes address spaces (where guest pages are
/// installed) and contexts (a guest thread's CPU state running in one of them).</summary>
public interface IPlatform : IDisposable
{
    string Name { get; }

    /// <summary>The one memfd that backs all guest memory.</summary>
    MemoryFile MemoryFile { get; }

    /// <summary>Guest addresses are below this (the platform keeps what is above for itself).</summary>
    ulong MaxUserAddress { get; }

    /// <summary>How guests may access the x86-64 vsyscall page at 0xffffffffff600000, as
    /// PROT_* bits (PROT_EXEC for Linux's default vsyscall=xonly), or 0 if they have none.
    /// Calls into it reach the Sentry as <see cref="SwitchReason.Syscall"/>.</summary>
    int VsyscallProt { get; }

    /// <summary>Creates an empty address space. On ptrace the calling thread becomes the
    /// tracer: it must be the thread that later calls <see cref="IContext.Switch"/>.</summary>
    IAddressSpace NewAddressSpace();
}

/// <summary>A guest address space: the Sentry decides every mapping and installs MemoryFile
/// ranges here; the platform never maps anything on its own.</summary>
public interface IAddressSpace : IDisposable
{
    /// <summary>Maps MemoryFile[fileOffset, fileOffset+length) at addr, replacing what was there.</summary>
    void Map(ulong addr, ulong length, long fileOffset, int prot);

    void Unmap(ulong addr, ulong length);

    void Protect(ulong addr, ulong length, int prot);

    /// <summary>Whether the calling host thread may change this address space now (on ptrace:
    /// it traces one of its threads). The Sentry grows a stack or fills in file pages on a
    /// guest's access only from the guest's own threads.</summary>
    bool CanChangeFromThisThread { get; }

    /// <summary>The context of the address space's first thread.</summary>
    IContext MainContext { get; }

    /// <summary>Starts a new thread in this address space for a guest clone(CLONE_VM). Called on
    /// the parent's host thread; the child's host thread then calls
    /// <see cref="IPendingThread.Attach"/> to get its context.</summary>
    IPendingThread NewThread();

    /// <summary>The most memory the address space has had resident on the host, in KiB
    /// (the guest's ru_maxrss). Still known after the address space is disposed.</summary>
    long PeakResidentKb => 0;
}

/// <summary>A thread created for a guest clone, waiting for its own host thread.</summary>
public interface IPendingThread
{
    /// <summary>Takes the thread over from the calling host thread, which becomes its tracer.</summary>
    IContext Attach();
}

/// <summary>Why <see cref="IContext.Switch"/> returned.</summary>
public enum SwitchReason
{
    /// <summary>The guest executed a system call; regs hold its number (OrigRax) and arguments,
    /// and rip the address it returns to. For a call into the vsyscall page (gettimeofday,
    /// time, getcpu) the return is already done: rip is the caller's return address and rsp
    /// popped; the result goes into rax as for any call.</summary>
    Syscall,
    /// <summary>The guest made a system call through the i386 ABI (int 0x80, sysenter), which
    /// the Sentry does not offer; OrigRax holds eax, rip the address after the instruction.</summary>
    I386Syscall,
    /// <summary>A synchronous fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP); info says which.</summary>
    Fault,
    /// <summary>An asynchronous host signal reached the guest's host process.</summary>
    Signal,
    /// <summary>The host process running the guest is gone (killed from outside).</summary>
    Died,
    /// <summary><see cref="IContext.Interrupt"/> was called: the Sentry has something for the task.</summary>
    Interrupted,
}

/// <summary>One guest thread's execution state on the platform.</summary>
public interface IContext
{
    /// <summary>Runs the guest with <paramref name="regs"/> until the next syscall, fault or
    /// signal, and stores the guest's registers back into <paramref name="regs"/>.</summary>
    SwitchReason Switch(ref UserRegs regs, out SigInfo info);

    /// <summary>Initial register values (segment selectors, flags) for a new guest thread.</summary>
    UserRegs InitialRegisters { get; }

    /// <summary>Makes a running (or the next) <see cref="Switch"/> return
    /// <see cref="SwitchReason.Interrupted"/>. Callable from any thread.</summary>
    void Interrupt();

    /// <summary>Reads the thread's FPU/SSE/AVX state (XSAVE layout) into buffer; returns its size.</summary>
    int GetFpState(Span<byte> buffer);

    /// <summary>Restores FPU state previously read with <see cref="GetFpState"/>.</summary>
    void SetFpState(ReadOnlySpan<byte> state);

    /// <summary>Ends this thread (the others in the address space go on).</summary>
    void Exit();

    /// <summary>CPU time the guest thread itself has used on the host, in nanoseconds.</summary>
    long GuestCpuNanos();
}
