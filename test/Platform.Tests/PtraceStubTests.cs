using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform.Ptrace;

namespace Sandbox.Platform.Tests;

/// <summary>Runs real stub processes (the tests run as root, where ptrace works). ptrace binds a
/// tracee to the thread that created it, so every test runs on a dedicated thread.</summary>
public sealed class PtraceStubTests
{
    private const ulong Page = Mm.PageSize;
    private const ulong CodeAddr = 0x40_0000, DataAddr = 0x60_0000, HoleAddr = 0x80_0000;

    [Fact]
    public void GuestSyscalls_AreInterceptedNotExecuted()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovEax(39).Syscall()              // getpid
                .MovEax(60).MovEdi(7).Syscall()    // exit(7)
                .Ud2());
            var regs = g.RegsAt(code);

            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(39UL, regs.OrigRax);
            Assert.Equal(code + 7, regs.Rip); // just after the syscall instruction

            regs.Rax = 4242;
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(60UL, regs.OrigRax);
            Assert.Equal(7UL, regs.Rdi);
            // exit(7) did not reach the host: the stub is still there.
            Assert.True(ProcessExists(g.Stub.Pid), "the guest's exit reached the host kernel");

            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGILL, info.Signo);
            Assert.Equal(code + 19, regs.Rip); // at the ud2
        });
    }

    [Fact]
    public void SyscallResult_IsWhatTheTracerPutInRax()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovEax(39).Syscall()
                .MovRdiRax()
                .MovEax(60).Syscall());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            regs.Rax = 0x1234_5678_9abc_def0;
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(60UL, regs.OrigRax);
            Assert.Equal(0x1234_5678_9abc_def0UL, regs.Rdi);
        });
    }

    [Fact]
    public void SyscallArguments_ArriveInRegs()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovRax(1).MovRdi(11).MovRsi(22).MovRdx(33).MovR10(44).MovR8(55).MovR9(66).Syscall().Ud2());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(1UL, regs.OrigRax);
            Assert.Equal((11UL, 22UL, 33UL, 44UL, 55UL, 66UL), (regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9));
        });
    }

    [Fact]
    public void GuestReads_SeeWhatTheSentryWroteInTheMemoryFile()
    {
        OnTracerThread(g =>
        {
            long data = g.MapData(DataAddr, Mm.PROT_READ);
            g.Platform.MemoryFile.Slice(data, 1)[0] = 0x77;
            ulong code = g.MapCode(CodeAddr, new Asm().MovRbx(DataAddr).MovzxEdiByteRbx().MovEax(60).Syscall());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(0x77UL, regs.Rdi);
        });
    }

    [Fact]
    public void WriteToUnmappedAddress_IsASegvAtThatAddress()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().MovRax(HoleAddr + 0x123).MovByteRaxImm(1).Ud2());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGSEGV, info.Signo);
            Assert.Equal(SigCodes.SEGV_MAPERR, info.Code);
            Assert.Equal(HoleAddr + 0x123, info.Addr);
            Assert.Equal(code + 10, regs.Rip); // the faulting store, not past it
        });
    }

    [Fact]
    public void WriteToReadOnlyPage_IsASegvAccErr()
    {
        OnTracerThread(g =>
        {
            long data = g.MapData(DataAddr, Mm.PROT_READ | Mm.PROT_WRITE);
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovRbx(DataAddr + 8).MovByteRbxImm(0x5A)
                .MovEax(39).Syscall()
                .MovByteRbxImm(0x5B)
                .Ud2());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            // The guest's store landed in the MemoryFile: the Sentry sees it without copying.
            Assert.Equal(0x5A, g.Platform.MemoryFile.Slice(data + 8, 1)[0]);

            g.Stub.Protect(DataAddr, Page, Mm.PROT_READ);
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGSEGV, info.Signo);
            Assert.Equal(SigCodes.SEGV_ACCERR, info.Code);
            Assert.Equal(DataAddr + 8, info.Addr);
            Assert.Equal(0x5A, g.Platform.MemoryFile.Slice(data + 8, 1)[0]);

            // Writable again: the same store now succeeds and the guest runs on to the ud2.
            g.Stub.Protect(DataAddr, Page, Mm.PROT_READ | Mm.PROT_WRITE);
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out info));
            Assert.Equal(Signals.SIGILL, info.Signo);
            Assert.Equal(0x5B, g.Platform.MemoryFile.Slice(data + 8, 1)[0]);
        });
    }

    [Fact]
    public void ExecutingUnmappedCode_IsASegv()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().MovEax(39).Syscall().Ud2());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));

            g.Stub.Unmap(CodeAddr, Page);
            regs.Rip = code;
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGSEGV, info.Signo);
            Assert.Equal(SigCodes.SEGV_MAPERR, info.Code);
            Assert.Equal(code, info.Addr);
        });
    }

    [Fact]
    public void ExecutingNonExecutablePage_IsASegv()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().MovEax(39).Syscall());
            g.Stub.Protect(CodeAddr, Page, Mm.PROT_READ);
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGSEGV, info.Signo);
            Assert.Equal(SigCodes.SEGV_ACCERR, info.Code);
            Assert.Equal(code, info.Addr);
        });
    }

    [Fact]
    public void Int3_IsAFault()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().Int3());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.Fault, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal(Signals.SIGTRAP, info.Signo);
        });
    }

    [Fact]
    public void HostSignal_IsReportedAsSignal()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().JmpSelf());
            var regs = g.RegsAt(code);
            int pid = g.Stub.Pid;
            var killer = new Thread(() =>
            {
                Thread.Sleep(50);
                Unistd.Kill(pid, Signals.SIGUSR1);
            });
            killer.Start();
            SwitchReason reason = g.Stub.MainContext.Switch(ref regs, out SigInfo info);
            killer.Join();
            Assert.Equal(SwitchReason.Signal, reason);
            Assert.Equal(Signals.SIGUSR1, info.Signo);
            Assert.Equal(code, regs.Rip);
        });
    }

    [Fact]
    public void HostSigsys_IsAnOrdinarySignal_NotAVsyscall()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().JmpSelf());
            var regs = g.RegsAt(code);
            int pid = g.Stub.Pid;
            var killer = new Thread(() =>
            {
                Thread.Sleep(50);
                HostSignal.Tgkill(pid, pid, Signals.SIGSYS);
            });
            killer.Start();
            SwitchReason reason = g.Stub.MainContext.Switch(ref regs, out SigInfo info);
            killer.Join();
            Assert.Equal(SwitchReason.Signal, reason);
            Assert.Equal(Signals.SIGSYS, info.Signo);
            Assert.Equal(SigCodes.SI_TKILL, info.Code);
            Assert.Equal(code, regs.Rip);
        });
    }

    [Theory]
    [InlineData(Vsyscall.Gettimeofday, SyscallNumber.gettimeofday)]
    [InlineData(Vsyscall.Time, SyscallNumber.time)]
    [InlineData(Vsyscall.Getcpu, SyscallNumber.getcpu)]
    public void VsyscallCall_IsASyscallForTheTracer_WithTheReturnDone(ulong entry, SyscallNumber nr)
    {
        if (!HostHasVsyscallPage()) return; // vsyscall=none: calling the page is a plain SIGSEGV
        OnTracerThread(g =>
        {
            long data = g.MapData(DataAddr, Mm.PROT_READ | Mm.PROT_WRITE);
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovRdi(DataAddr).MovRsi(DataAddr + 16).MovRax(entry).CallRax()
                .MovRdiRax().MovEax(60).Syscall());
            ulong sp = DataAddr + Page - 64;
            var regs = g.RegsAt(code) with { Rsp = sp };

            // No host call ran: the tracer gets the call, as if the guest had made it itself.
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out SigInfo info));
            Assert.Equal((ulong)nr, regs.OrigRax);
            Assert.Equal((DataAddr, DataAddr + 16), (regs.Rdi, regs.Rsi));
            // The kernel emulated the `ret`: back after the call, the return address popped.
            Assert.Equal(code + 32, regs.Rip); // three 10-byte movs, then the 2-byte call
            Assert.Equal(sp, regs.Rsp);
            Assert.Equal(0, info.Signo); // the SIGSYS is not passed on
            // The host wrote nothing (no time, no CPU number) where the arguments point.
            Assert.All(g.Platform.MemoryFile.Slice(data, 24).ToArray(), b => Assert.Equal(0, b));

            // The tracer's result is what the call returns; the guest runs on (no SIGSYS).
            regs.Rax = 0x5151;
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(60UL, regs.OrigRax);
            Assert.Equal(0x5151UL, regs.Rdi);
        });
    }

    [Fact]
    public void Int80_IsAnI386Syscall()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm()
                .MovEax(20).Int80()                 // i386 getpid
                .MovRcx(0x1234).MovEax(39).Syscall() // x86-64 getpid, whatever rcx held before
                .Ud2());
            var regs = g.RegsAt(code);
            Assert.Equal(SwitchReason.I386Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(20UL, regs.OrigRax);
            Assert.Equal(code + 7, regs.Rip);

            regs.Rax = unchecked((ulong)-(long)Errno.ENOSYS);
            Assert.Equal(SwitchReason.Syscall, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(39UL, regs.OrigRax);
        });
    }

    [Fact]
    public void Stub_RunsUnderItsSeccompFilter_WithNoNewPrivileges()
    {
        OnTracerThread(g =>
        {
            string status = File.ReadAllText($"/proc/{g.Stub.Pid}/status");
            Assert.Contains("\nNoNewPrivs:\t1\n", status);
            Assert.Contains("\nSeccomp:\t2\n", status);
            Assert.Contains("\nSeccomp_filters:\t1\n", status);
            // Injected calls are still allowed through it.
            Assert.Equal(g.Stub.Pid, g.Stub.Inject(SyscallNumber.getpid));
        });
    }

    [Fact]
    public void StubKilledFromOutside_IsDied()
    {
        OnTracerThread(g =>
        {
            ulong code = g.MapCode(CodeAddr, new Asm().MovEax(39).Syscall());
            var regs = g.RegsAt(code);
            Assert.Equal(0, Unistd.Kill(g.Stub.Pid, Signals.SIGKILL));
            Assert.Equal(SwitchReason.Died, g.Stub.MainContext.Switch(ref regs, out _));
            Assert.Equal(SwitchReason.Died, g.Stub.MainContext.Switch(ref regs, out _));
        });
    }

    [Fact]
    public void Inject_RunsAHostSyscallInTheStub()
    {
        OnTracerThread(g =>
        {
            Assert.Equal(g.Stub.Pid, g.Stub.Inject(SyscallNumber.getpid));
            // Errors come back as -errno.
            Assert.Equal(-(long)Errno.EBADF, g.Stub.Inject(SyscallNumber.close, 999));
        });
    }

    [Fact]
    public void NewStub_HoldsOnlyItsOwnPagesAndTheMemoryFile()
    {
        OnTracerThread(g =>
        {
            int pid = g.Stub.Pid;
            string[] maps = File.ReadAllLines($"/proc/{pid}/maps").Where(l => !l.EndsWith("[vsyscall]")).ToArray();
            // Its code, read-execute, and its scratch page (for injected getrusage), read-write, anonymous.
            Assert.Equal(2, maps.Length);
            Assert.StartsWith($"{StubElf.Base:x}-{StubElf.Base + StubElf.Size:x} r-xp ", maps[0]);
            Assert.StartsWith($"{StubElf.Base + StubElf.Size:x}-{StubElf.Base + 2 * StubElf.Size:x} rw-p 00000000 00:00 0 ", maps[1]);

            string[] fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(Path.GetFileName).ToArray()!;
            Assert.Equal(["3"], fds);
            Assert.Contains("runsc-memory", new FileInfo($"/proc/{pid}/fd/3").LinkTarget);

            // The stub is traced by this very thread (TracerPid is the tracer's thread id).
            string status = File.ReadAllText($"/proc/{pid}/status");
            Assert.Contains($"TracerPid:\t{Sched.GetTid()}\n", status);
        });
    }

    [Fact]
    public void Map_InstallsTheMemoryFileAtTheAddress()
    {
        OnTracerThread(g =>
        {
            long off = g.MapData(DataAddr, Mm.PROT_READ);
            string line = File.ReadAllLines($"/proc/{g.Stub.Pid}/maps").Single(l => l.StartsWith($"{DataAddr:x8}-"));
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal($"{DataAddr:x8}-{DataAddr + Page:x8}", f[0]);
            Assert.Equal("r--s", f[1]);
            Assert.Equal(off, Convert.ToInt64(f[2], 16));

            g.Stub.Unmap(DataAddr, Page);
            Assert.DoesNotContain(File.ReadAllLines($"/proc/{g.Stub.Pid}/maps"), l => l.StartsWith($"{DataAddr:x8}-"));
        });
    }

    [Fact]
    public void Dispose_KillsAndReapsTheStub()
    {
        int pid = 0;
        OnTracerThread(g =>
        {
            pid = g.Stub.Pid;
            Assert.True(ProcessExists(pid));
            g.Stub.Dispose();
            Assert.False(ProcessExists(pid), $"stub {pid} outlived Dispose");
            Assert.False(Directory.Exists($"/proc/{pid}"), $"/proc/{pid} still exists (zombie not reaped?)");
            var regs = g.RegsAt(CodeAddr);
            Assert.Equal(SwitchReason.Died, g.Stub.MainContext.Switch(ref regs, out _));
        });
        Assert.NotEqual(0, pid);
    }

    [Fact]
    public void UseFromAnotherThread_IsRefused()
    {
        OnTracerThread(g =>
        {
            Exception? error = null;
            var other = new Thread(() =>
            {
                try { g.Stub.Inject(SyscallNumber.getpid); }
                catch (Exception x) { error = x; }
            });
            other.Start();
            other.Join();
            Assert.IsType<InvalidOperationException>(error);
            // The stub is still usable from its tracer.
            Assert.Equal(g.Stub.Pid, g.Stub.Inject(SyscallNumber.getpid));
        });
    }

    // ---- helpers ------------------------------------------------------------------------

    private static bool HostHasVsyscallPage() =>
        File.ReadLines("/proc/self/maps").Any(l => l.EndsWith("[vsyscall]", StringComparison.Ordinal));

    private static bool ProcessExists(int pid)
    {
        if (Unistd.Kill(pid, 0) == 0) return true;
        Assert.Equal(3 /* ESRCH */, HostError.Last);
        return false;
    }

    /// <summary>Runs body on a fresh thread (the tracer) with a platform and one stub.</summary>
    private static void OnTracerThread(Action<Guest> body)
    {
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var guest = new Guest();
                body(guest);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "tracer thread hung");
        failure?.Throw();
    }

    private sealed class Guest : IDisposable
    {
        public PtracePlatform Platform { get; } = new();
        public PtraceStub Stub { get; }

        public Guest()
        {
            Stub = Assert.IsType<PtraceStub>(Platform.NewAddressSpace());
        }

        /// <summary>Puts code in a fresh MemoryFile page and maps it read+exec at addr.</summary>
        public ulong MapCode(ulong addr, Asm code)
        {
            long off = Platform.MemoryFile.Allocate((long)Page);
            code.Bytes.CopyTo(Platform.MemoryFile.Slice(off, code.Bytes.Length));
            Stub.Map(addr, Page, off, Mm.PROT_READ | Mm.PROT_EXEC);
            return addr;
        }

        /// <summary>Maps a fresh zeroed page; returns its MemoryFile offset.</summary>
        public long MapData(ulong addr, int prot)
        {
            long off = Platform.MemoryFile.Allocate((long)Page);
            Stub.Map(addr, Page, off, prot);
            return off;
        }

        public UserRegs RegsAt(ulong rip) => Stub.MainContext.InitialRegisters with { Rip = rip };

        public void Dispose()
        {
            Stub.Dispose();
            Platform.Dispose();
        }
    }

    /// <summary>Just enough x86-64 encoding for the tests.</summary>
    private sealed class Asm
    {
        private readonly List<byte> _b = [];
        public byte[] Bytes => [.. _b];

        private Asm Emit(params byte[] bytes) { _b.AddRange(bytes); return this; }
        private Asm Imm32(uint v) { Span<byte> s = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(s, v); return Emit(s.ToArray()); }
        private Asm Imm64(ulong v) { Span<byte> s = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(s, v); return Emit(s.ToArray()); }

        public Asm MovEax(uint v) => Emit(0xB8).Imm32(v);
        public Asm MovEdi(uint v) => Emit(0xBF).Imm32(v);
        public Asm MovRax(ulong v) => Emit(0x48, 0xB8).Imm64(v);
        public Asm MovRbx(ulong v) => Emit(0x48, 0xBB).Imm64(v);
        public Asm MovRdx(ulong v) => Emit(0x48, 0xBA).Imm64(v);
        public Asm MovRsi(ulong v) => Emit(0x48, 0xBE).Imm64(v);
        public Asm MovRdi(ulong v) => Emit(0x48, 0xBF).Imm64(v);
        public Asm MovR8(ulong v) => Emit(0x49, 0xB8).Imm64(v);
        public Asm MovR9(ulong v) => Emit(0x49, 0xB9).Imm64(v);
        public Asm MovR10(ulong v) => Emit(0x49, 0xBA).Imm64(v);
        public Asm MovRdiRax() => Emit(0x48, 0x89, 0xC7);
        public Asm MovByteRaxImm(byte v) => Emit(0xC6, 0x00, v);
        public Asm MovByteRbxImm(byte v) => Emit(0xC6, 0x03, v);
        public Asm MovzxEdiByteRbx() => Emit(0x0F, 0xB6, 0x3B);
        public Asm MovRcx(ulong v) => Emit(0x48, 0xB9).Imm64(v);
        public Asm CallRax() => Emit(0xFF, 0xD0);
        public Asm Int80() => Emit(0xCD, 0x80);
        public Asm Syscall() => Emit(0x0F, 0x05);
        public Asm Ud2() => Emit(0x0F, 0x0B);
        public Asm Int3() => Emit(0xCC);
        public Asm JmpSelf() => Emit(0xEB, 0xFE);
    }
}
