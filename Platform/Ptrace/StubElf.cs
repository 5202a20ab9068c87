using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sandbox.Abi;

namespace Sandbox.Platform.Ptrace;

/// <summary>Builds the stub process image: a one-page static ELF, generated here so that no C
/// toolchain is needed at run time. The stub installs its seccomp filter, asks to be traced,
/// stops itself, and from then on only executes what the tracer points it at: the guest's code
/// (under PTRACE_SYSEMU) or the <c>syscall; int3</c> gadget that the Sentry uses to inject
/// mmap/munmap/mprotect.</summary>
public static class StubElf
{
    /// <summary>Where the stub's page lives: high in user space, but below where the host
    /// kernel can put the initial stack (top minus 16 GiB of randomisation), so the exec
    /// cannot collide with it. Everything else in the stub is unmapped at start.</summary>
    public const ulong Base = 0x7ff0_0000_0000;
    public const ulong Size = 0x1000;

    private const int HeaderSize = 64, PhdrSize = 56, PhdrCount = 2;
    private const int CodeOffset = HeaderSize + PhdrSize * PhdrCount;

    /// <summary>Exit codes of a stub that gives up before its tracer takes over.</summary>
    public const int ExitParentGone = 127, ExitNoSeccomp = 126;

    private readonly record struct CodeLayout(int ParentPid, int ChildParentPid, int Gadget, int CloneGadget, int Filter, int Fprog);

    private static readonly (byte[] Code, CodeLayout Layout) Assembled = Assemble();
    private static byte[] Code => Assembled.Code;
    private static CodeLayout Layout => Assembled.Layout;

    /// <summary>Address of the <c>syscall; int3</c> pair.</summary>
    public static readonly ulong SyscallGadget = Base + CodeOffset + (ulong)Layout.Gadget;

    /// <summary>Address of the clone gadget: <c>syscall</c>, then int3 in the parent and a
    /// pause() loop in the new thread.</summary>
    public static readonly ulong CloneGadget = Base + CodeOffset + (ulong)Layout.CloneGadget;

    /// <summary>Addresses of the seccomp program (<see cref="StubSeccomp.Program"/>) and of the
    /// struct sock_fprog naming it, both inside the image.</summary>
    public static readonly ulong SeccompFilterAddress = Base + CodeOffset + (ulong)Layout.Filter;
    public static readonly ulong SeccompFprogAddress = Base + CodeOffset + (ulong)Layout.Fprog;

    private static (byte[] Code, CodeLayout Layout) Assemble()
    {
        var a = new Asm();
        Asm.Label parentGone = new(), noSeccomp = new(), exit = new(), fprog = new();

        // Die with the Sentry thread that spawned us, even before it traces us (PTRACE_O_EXITKILL
        // only holds once set), and do not start at all if that parent is already gone (we
        // would then be traced by whoever adopted us, stopped forever).
        a.MovEax(157).MovEdi(1).MovEsi(9).Syscall();      // prctl(PR_SET_PDEATHSIG, SIGKILL)
        a.MovEax(110).Syscall();                           // getppid()
        int parentPid = a.CmpEax(0);                       // the spawning process's pid, patched in
        a.Jne(parentGone);

        // The seccomp filter that sends vsyscall-page calls to the tracer (StubSeccomp). The stub
        // installs it itself, from this code, rather than the tracer injecting prctl+seccomp:
        // it is in force before the stub can ever run guest code, costs the tracer no extra
        // round trips per address space, and every thread the Sentry later clones in the stub
        // inherits it. No new privileges first: the kernel requires it of an unprivileged
        // caller, and the stub never executes anything that could gain any.
        a.MovEax(157).MovEdi(38).MovEsi(1).XorEdx().XorR10().XorR8().Syscall(); // prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        a.TestEax().Jne(noSeccomp);
        a.MovEax(317).MovEdi(1).XorEsi().LeaRdx(fprog).Syscall(); // seccomp(SECCOMP_SET_MODE_FILTER, 0, &fprog)
        a.TestEax().Jne(noSeccomp);

        a.MovEax(101).XorEdi().XorEsi().XorEdx().XorR10().Syscall(); // ptrace(PTRACE_TRACEME, 0, 0, 0)
        a.MovEax(39).Syscall();                            // getpid()
        a.MovEdiEax().MovEsi(19).MovEax(62).Syscall();     // kill(pid, SIGSTOP): the tracer takes over from this stop

        int gadget = a.Position;
        a.Syscall();                                       // syscall (injected by the tracer)
        a.Int3();                                          // int3: hands control back to the tracer

        // Never reached under a tracer: exit_group(127); or an exit before the tracer took over.
        a.Mark(parentGone).MovEdi((uint)ExitParentGone).Jmp(exit);
        a.Mark(noSeccomp).MovEdi((uint)ExitNoSeccomp);
        a.Mark(exit).MovEax(231).Syscall();                // exit_group(edi)

        // clone gadget: the injected clone returns in both threads.
        int cloneGadget = a.Position;
        Asm.Label child = new(), parent = new();
        a.Syscall().TestRax().Jne(parent);
        // child: wait in pause() until its own tracer attaches and takes over. A new process (a
        // fork of the template, see StubFactory) inherits no death signal: it asks for one, as
        // the stub did at start, and gives up if the Sentry is already gone, so that a fork
        // never attached (its Sentry died first) does not wait forever.
        Asm.Label pause = new();
        a.Mark(child).MovEax(157).MovEdi(1).MovEsi(9).Syscall(); // prctl(PR_SET_PDEATHSIG, SIGKILL)
        a.MovEax(110).Syscall();                                 // getppid()
        int childParentPid = a.CmpEax(0);                        // patched like parentPid
        a.Jne(parentGone);
        a.Mark(pause).MovEax(34).Syscall().Jmp(pause);           // pause()
        a.Mark(parent).Int3();

        // Data: the filter, then struct sock_fprog { unsigned short len; struct sock_filter *filter; }.
        a.Align(8);
        int filter = a.Position;
        a.Data(MemoryMarshal.AsBytes(StubSeccomp.Program));
        a.Align(8);
        a.Mark(fprog);
        int fprogAt = a.Position;
        Span<byte> fp = stackalloc byte[16];
        fp.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(fp, (ushort)StubSeccomp.Program.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(fp[8..], Base + CodeOffset + (ulong)filter);
        a.Data(fp);

        return (a.Finish(), new CodeLayout(parentPid, childParentPid, gadget, cloneGadget, filter, fprogAt));
    }

    /// <summary>The image, for stubs spawned by the process <paramref name="parentPid"/> (this
    /// one unless given).</summary>
    public static byte[] Build(int parentPid = 0)
    {
        if (parentPid == 0) parentPid = Environment.ProcessId;
        var image = new byte[CodeOffset + Code.Length];
        if (image.Length > (int)Size) throw new InvalidOperationException("the stub image outgrew its page");
        var s = image.AsSpan();
        ElfWriter.WriteHeader(s, Base + CodeOffset, PhdrCount);
        // PT_LOAD, R+X, the whole file at Base.
        ElfWriter.WriteProgramHeader(s, 0, ElfWriter.PT_LOAD, ElfWriter.PF_R | ElfWriter.PF_X, 0, Base, (ulong)image.Length, Size, 0x1000);
        // PT_GNU_STACK, RW: a non-executable stack (which the tracer unmaps anyway).
        ElfWriter.WriteProgramHeader(s, 1, ElfWriter.PT_GNU_STACK, ElfWriter.PF_R | ElfWriter.PF_W, 0, 0, 0, 0, 0);
        Code.CopyTo(s[CodeOffset..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[(CodeOffset + Layout.ParentPid)..], parentPid);
        BinaryPrimitives.WriteInt32LittleEndian(s[(CodeOffset + Layout.ChildParentPid)..], parentPid);
        return image;
    }

    /// <summary>Just the x86-64 the stub needs. Jumps and the rip-relative lea take labels and
    /// are resolved (as rel32) by <see cref="Finish"/>.</summary>
    private sealed class Asm
    {
        public sealed class Label
        {
            public int Position = -1;
        }

        private readonly List<byte> _b = [];
        private readonly List<(int At, Label Target)> _rel32 = [];

        public int Position => _b.Count;

        public Asm Mark(Label l)
        {
            if (l.Position >= 0) throw new InvalidOperationException("label marked twice");
            l.Position = _b.Count;
            return this;
        }

        private Asm Emit(params ReadOnlySpan<byte> bytes)
        {
            foreach (byte b in bytes) _b.Add(b);
            return this;
        }

        private Asm Imm32(uint v)
        {
            Span<byte> s = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(s, v);
            return Emit(s);
        }

        private Asm Rel32(Label target)
        {
            _rel32.Add((_b.Count, target));
            return Imm32(0);
        }

        public Asm MovEax(uint v) => Emit(0xB8).Imm32(v);
        public Asm MovEdi(uint v) => Emit(0xBF).Imm32(v);
        public Asm MovEsi(uint v) => Emit(0xBE).Imm32(v);
        public Asm MovEdiEax() => Emit(0x89, 0xC7);
        public Asm XorEdi() => Emit(0x31, 0xFF);
        public Asm XorEsi() => Emit(0x31, 0xF6);
        public Asm XorEdx() => Emit(0x31, 0xD2);
        public Asm XorR10() => Emit(0x4D, 0x31, 0xD2);
        public Asm XorR8() => Emit(0x4D, 0x31, 0xC0);
        public Asm TestEax() => Emit(0x85, 0xC0);
        public Asm TestRax() => Emit(0x48, 0x85, 0xC0);
        public Asm Syscall() => Emit(0x0F, 0x05);
        public Asm Int3() => Emit(0xCC);
        public Asm Jne(Label target) => Emit(0x0F, 0x85).Rel32(target);
        public Asm Jmp(Label target) => Emit(0xE9).Rel32(target);
        /// <summary>lea rdx, [rip + target].</summary>
        public Asm LeaRdx(Label target) => Emit(0x48, 0x8D, 0x15).Rel32(target);

        /// <summary>cmp eax, imm32; returns where the immediate is, for patching.</summary>
        public int CmpEax(uint v)
        {
            Emit(0x3D);
            int at = _b.Count;
            Imm32(v);
            return at;
        }

        public Asm Data(ReadOnlySpan<byte> bytes) => Emit(bytes);

        /// <summary>Pads with int3 to a multiple of n.</summary>
        public Asm Align(int n)
        {
            while (_b.Count % n != 0) _b.Add(0xCC);
            return this;
        }

        public byte[] Finish()
        {
            byte[] code = [.. _b];
            foreach (var (at, target) in _rel32)
            {
                if (target.Position < 0) throw new InvalidOperationException("jump to a label never marked");
                // rel32 counts from the end of the instruction, which every use here ends with.
                BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(at), target.Position - (at + 4));
            }
            return code;
        }
    }
}
