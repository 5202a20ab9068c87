using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Abi;

namespace Sandbox.Gofer.Confinement;

/// <summary>Compiles a <see cref="ConfinementPlan"/> into a small static x86-64 ELF program that
/// makes the plan's system calls, in order, and ends in its execve: generated here, so no C
/// toolchain is needed, like the ptrace stub (Platform/Ptrace/StubElf.cs).
///
/// Why: the gofer must confine itself on one thread and then execve, so that every thread of
/// the serving process starts inside the confinement (see <see cref="GoferSandbox"/>). Done by
/// a .NET process, that costs a whole runtime start-up before the real one. runsc computes
/// the plan instead (it sees the same host), spawns this program, and the program's execve
/// starts the .NET gofer already confined: one runtime start-up, and no managed code ever runs
/// unconfined in the gofer's process. The steps are the ones a stand-alone `runsc gofer` runs
/// in-process (<see cref="ConfinementPlan.Execute"/>), so both paths confine identically.
///
/// The program is straight-line code: for each step it loads the arguments (immediates,
/// addresses in its data segment, or results of earlier steps kept in data slots), makes the
/// call, stores the result if a later step uses it, and on a result in [-4095, -1] (other than
/// an errno the step ignores) writes "runsc gofer: WHAT: STRERROR" to stderr and exits 1, as
/// the .NET gofer reports the same failure. Code is read+execute, data read+write, no stack
/// use.</summary>
public static class ConfinementLauncher
{
    /// <summary>Where the program is loaded (the usual non-PIE base).</summary>
    public const ulong Base = 0x400000;

    /// <summary>Exit status of a launcher whose step failed (the message is on stderr).</summary>
    public const int ExitFailed = 1;

    private const int HeaderSize = 64, PhdrSize = 56, PhdrCount = 3, PageSize = 0x1000;
    private const int CodeOffset = HeaderSize + PhdrSize * PhdrCount;
    private const int MaxErrno = 133;

    /// <summary>The ELF image running plan.</summary>
    public static byte[] Build(ConfinementPlan plan)
    {
        // (No tuples or other value types in generic collections: this runs on the critical
        // path of `runsc do`, where their instantiations would first be JIT-compiled.)
        // Data: the plan's, then one message per step, then the errno texts as (address, length) pairs.
        var data = new ByteBuilder();
        data.Append(plan.DataImage(), 1);
        var pointers = new ByteBuilder(); // pairs of int32, as in the plan
        Span<byte> pair = stackalloc byte[8];
        for (int i = 0; i < plan.PointerCount; i++)
        {
            plan.Pointer(i, out int at, out int target);
            AddPointer(pointers, pair, at, target);
        }
        var ops = plan.Ops;
        var messages = new Text[ops.Count];
        var messageAt = new Dictionary<string, Text>(StringComparer.Ordinal);
        for (int i = 0; i < ops.Count; i++)
        {
            string text = $"runsc gofer: {ops[i].What}: ";
            if (!messageAt.TryGetValue(text, out Text? m))
            {
                m = Text.Append(data, text);
                messageAt[text] = m;
            }
            messages[i] = m;
        }
        int errnoTable = data.Append(new byte[16 * (MaxErrno + 1)], 8);
        for (int e = 0; e <= MaxErrno; e++)
        {
            Text t = Text.Append(data, (e == 0 ? "unknown error" : Marshal.GetPInvokeErrorMessage(e)) + "\n");
            AddPointer(pointers, pair, errnoTable + 16 * e, t.At);
            BinaryPrimitives.WriteInt64LittleEndian(data.Span[(errnoTable + 16 * e + 8)..], t.Length);
        }
        Text noExec = Text.Append(data, "runsc gofer: the confinement plan does not end with execve\n");

        var a = new Asm();
        var failures = new Asm.Label[ops.Count];
        Reg[] argRegs = [Reg.Rdi, Reg.Rsi, Reg.Rdx, Reg.R10, Reg.R8, Reg.R9];
        for (int i = 0; i < ops.Count; i++)
        {
            PlanOp op = ops[i];
            switch (op.Kind)
            {
                case PlanOpKind.PidString:
                    {
                        // rdi = end of the buffer (its last byte stays NUL); digits are written backwards.
                        var digit = new Asm.Label();
                        a.MovImm(Reg.Rax, (ulong)SyscallNumber.getpid).Syscall();
                        a.MovData(Reg.Rdi, op.Data + 23);
                        a.Mark(digit);
                        a.XorEdxEdx().MovImm(Reg.Rcx, 10).DivRcx().AddDl((byte)'0').DecRdi().StoreDlAtRdi();
                        a.TestRaxRax().Jne(digit);
                        a.MovData(Reg.Rcx, op.Into).Store(Reg.Rcx, Reg.Rdi);
                        break;
                    }
                case PlanOpKind.KeepCapabilities:
                    a.MovData(Reg.Rcx, op.Data);
                    for (int word = 0; word < 2; word++)
                    {
                        byte at = (byte)(12 * word);
                        a.LoadEaxRcx((byte)(at + 4)).AndEax((uint)(op.Mask >> (32 * word)));
                        a.StoreEaxRcx(at).StoreEaxRcx((byte)(at + 4)).StoreZeroRcx((byte)(at + 8));
                    }
                    break;
                default:
                    {
                        for (int r = 0; r < op.Args.Length; r++)
                        {
                            PlanArg arg = op.Args[r];
                            switch (arg.Kind)
                            {
                                case PlanArgKind.Address: a.MovData(argRegs[r], (int)arg.Value); break;
                                case PlanArgKind.Slot: a.MovData(argRegs[r], (int)arg.Value).Load(argRegs[r], argRegs[r]); break;
                                default: a.MovImm(argRegs[r], (ulong)arg.Value); break;
                            }
                        }
                        a.MovImm(Reg.Rax, (ulong)op.Number).Syscall();
                        var ok = new Asm.Label();
                        if (op.IgnoredErrno != 0) a.CmpRax(-op.IgnoredErrno).Je(ok);
                        failures[i] = new Asm.Label();
                        a.CmpRax(-4095).Jae(failures[i]);
                        if (op.Into >= 0) a.MovData(Reg.Rcx, op.Into).Store(Reg.Rcx, Reg.Rax);
                        a.Mark(ok);
                        break;
                    }
            }
        }
        // Past the last step (execve does not return when it succeeds).
        a.MovImm(Reg.Rax, (ulong)SyscallNumber.write).MovImm(Reg.Rdi, 2).MovData(Reg.Rsi, noExec.At).MovImm(Reg.Rdx, (ulong)noExec.Length).Syscall();
        var exit = new Asm.Label();
        a.Jmp(exit);

        // Failures: rsi, rdx = the step's message; rax = -errno.
        var report = new Asm.Label();
        for (int i = 0; i < ops.Count; i++)
        {
            if (failures[i] is null) continue;
            a.Mark(failures[i]).MovData(Reg.Rsi, messages[i].At).MovImm(Reg.Rdx, (ulong)messages[i].Length).Jmp(report);
        }
        var known = new Asm.Label();
        a.Mark(report).MovRbxRax();
        a.MovImm(Reg.Rax, (ulong)SyscallNumber.write).MovImm(Reg.Rdi, 2).Syscall();
        a.NegRbx().CmpRbx(MaxErrno + 1).Jb(known).XorEbxEbx();
        a.Mark(known).ShlRbx4().MovData(Reg.Rcx, errnoTable).AddRcxRbx().Load(Reg.Rsi, Reg.Rcx).LoadRdxRcx8();
        a.MovImm(Reg.Rax, (ulong)SyscallNumber.write).MovImm(Reg.Rdi, 2).Syscall();
        a.Mark(exit).MovImm(Reg.Rax, (ulong)SyscallNumber.exit_group).MovImm(Reg.Rdi, ExitFailed).Syscall();

        byte[] code = a.Finish();
        int dataOffset = Align(CodeOffset + code.Length, PageSize);
        ulong dataAddress = Base + (ulong)dataOffset;
        a.PatchDataAddresses(code, dataAddress);
        byte[] dataBytes = data.Span.ToArray();
        for (int i = 0; i < pointers.Count; i += 8)
        {
            int at = BinaryPrimitives.ReadInt32LittleEndian(pointers.Span[i..]);
            int target = BinaryPrimitives.ReadInt32LittleEndian(pointers.Span[(i + 4)..]);
            BinaryPrimitives.WriteUInt64LittleEndian(dataBytes.AsSpan(at), dataAddress + (ulong)target);
        }

        var image = new byte[dataOffset + dataBytes.Length];
        var s = image.AsSpan();
        ElfWriter.WriteHeader(s, Base + CodeOffset, PhdrCount);
        ElfWriter.WriteProgramHeader(s, 0, ElfWriter.PT_LOAD, ElfWriter.PF_R | ElfWriter.PF_X, 0, Base,
            (ulong)(CodeOffset + code.Length), (ulong)(CodeOffset + code.Length), PageSize);
        ElfWriter.WriteProgramHeader(s, 1, ElfWriter.PT_LOAD, ElfWriter.PF_R | ElfWriter.PF_W, (ulong)dataOffset, dataAddress,
            (ulong)dataBytes.Length, (ulong)dataBytes.Length, PageSize);
        ElfWriter.WriteProgramHeader(s, 2, ElfWriter.PT_GNU_STACK, ElfWriter.PF_R | ElfWriter.PF_W, 0, 0, 0, 0, 0x10);
        code.AsSpan().CopyTo(s[CodeOffset..]);
        dataBytes.AsSpan().CopyTo(s[dataOffset..]);
        return image;
    }

    private static void AddPointer(ByteBuilder pointers, Span<byte> pair, int at, int target)
    {
        BinaryPrimitives.WriteInt32LittleEndian(pair, at);
        BinaryPrimitives.WriteInt32LittleEndian(pair[4..], target);
        pointers.Append(pair, 1);
    }

    /// <summary>A string in the data: where, and how many bytes (no NUL).</summary>
    private sealed class Text(int at, int length)
    {
        public int At { get; } = at;
        public int Length { get; } = length;

        public static Text Append(ByteBuilder data, string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            return new Text(data.Append(bytes, 1), bytes.Length);
        }
    }

    private static int Align(int n, int a) => (n + a - 1) / a * a;

    private enum Reg
    {
        Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7,
        R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
    }

    /// <summary>Just the x86-64 the launcher needs. Jumps take labels, resolved as rel32 by
    /// <see cref="Finish"/>; data addresses are emitted as imm64 offsets and made absolute by
    /// <see cref="PatchDataAddresses"/> once the data's address is known.</summary>
    private sealed class Asm
    {
        public sealed class Label
        {
            public int Position = -1;
        }

        private readonly ByteBuilder _b = new();
        private readonly List<Fixup> _rel32 = [];
        private readonly List<Fixup> _dataImm64 = [];

        /// <summary>Where a rel32 (to a label) or an imm64 data address (no label) is to be patched.</summary>
        private sealed class Fixup(int at, Label? target)
        {
            public int At { get; } = at;
            public Label? Target { get; } = target;
        }

        public Asm Mark(Label l)
        {
            if (l.Position >= 0) throw new InvalidOperationException("label marked twice");
            l.Position = _b.Count;
            return this;
        }

        private Asm Emit(byte b0)
        {
            _b.Add(b0);
            return this;
        }

        private Asm Emit(byte b0, byte b1) => Emit(b0).Emit(b1);
        private Asm Emit(byte b0, byte b1, byte b2) => Emit(b0).Emit(b1).Emit(b2);
        private Asm Emit(byte b0, byte b1, byte b2, byte b3) => Emit(b0).Emit(b1).Emit(b2).Emit(b3);

        private Asm Imm32(uint v)
        {
            Span<byte> s = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(s, v);
            _b.Append(s, 1);
            return this;
        }

        private Asm Imm64(ulong v)
        {
            Span<byte> s = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(s, v);
            _b.Append(s, 1);
            return this;
        }

        private Asm Rel32(Label target)
        {
            _rel32.Add(new Fixup(_b.Count, target));
            return Imm32(0);
        }

        private static byte Rex(bool w, Reg reg, Reg rm) =>
            (byte)(0x40 | (w ? 8 : 0) | ((int)reg >= 8 ? 4 : 0) | ((int)rm >= 8 ? 1 : 0));

        /// <summary>mov r32, imm32 (zero-extends) or mov r64, imm64.</summary>
        public Asm MovImm(Reg r, ulong v)
        {
            if (v <= uint.MaxValue)
            {
                if ((int)r >= 8) Emit(0x41);
                return Emit((byte)(0xB8 + ((int)r & 7))).Imm32((uint)v);
            }
            return Emit(Rex(true, Reg.Rax, r), (byte)(0xB8 + ((int)r & 7))).Imm64(v);
        }

        /// <summary>mov r64, imm64 holding the address of a data offset (patched later).</summary>
        public Asm MovData(Reg r, int offset)
        {
            Emit(Rex(true, Reg.Rax, r), (byte)(0xB8 + ((int)r & 7)));
            _dataImm64.Add(new Fixup(_b.Count, null));
            return Imm64((ulong)offset);
        }

        /// <summary>mov dst, [src].</summary>
        public Asm Load(Reg dst, Reg src)
        {
            CheckPlainBase(src);
            return Emit(Rex(true, dst, src), 0x8B, (byte)((((int)dst & 7) << 3) | ((int)src & 7)));
        }

        /// <summary>mov [dst], src.</summary>
        public Asm Store(Reg dst, Reg src)
        {
            CheckPlainBase(dst);
            return Emit(Rex(true, src, dst), 0x89, (byte)((((int)src & 7) << 3) | ((int)dst & 7)));
        }

        /// <summary>rsp/r12 need a SIB byte and rbp/r13 mean rip-relative without a displacement.</summary>
        private static void CheckPlainBase(Reg r)
        {
            if (((int)r & 7) is 4 or 5) throw new ArgumentException($"{r} cannot be a plain base register");
        }

        public Asm Syscall() => Emit(0x0F, 0x05);
        public Asm CmpRax(int v) => Emit(0x48, 0x3D).Imm32((uint)v);
        public Asm CmpRbx(int v) => Emit(0x48, 0x81, 0xFB).Imm32((uint)v);
        public Asm TestRaxRax() => Emit(0x48, 0x85, 0xC0);
        public Asm XorEdxEdx() => Emit(0x31, 0xD2);
        public Asm XorEbxEbx() => Emit(0x31, 0xDB);
        public Asm DivRcx() => Emit(0x48, 0xF7, 0xF1);
        public Asm AddDl(byte v) => Emit(0x80, 0xC2, v);
        public Asm DecRdi() => Emit(0x48, 0xFF, 0xCF);
        public Asm StoreDlAtRdi() => Emit(0x88, 0x17);
        public Asm MovRbxRax() => Emit(0x48, 0x89, 0xC3);
        public Asm NegRbx() => Emit(0x48, 0xF7, 0xDB);
        public Asm ShlRbx4() => Emit(0x48, 0xC1, 0xE3, 0x04);
        public Asm AddRcxRbx() => Emit(0x48, 0x01, 0xD9);
        /// <summary>mov rdx, [rcx + 8].</summary>
        public Asm LoadRdxRcx8() => Emit(0x48, 0x8B, 0x51, 0x08);
        /// <summary>mov eax, [rcx + d].</summary>
        public Asm LoadEaxRcx(byte d) => Emit(0x8B, 0x41, d);
        /// <summary>mov [rcx + d], eax.</summary>
        public Asm StoreEaxRcx(byte d) => Emit(0x89, 0x41, d);
        /// <summary>mov dword [rcx + d], 0.</summary>
        public Asm StoreZeroRcx(byte d) => Emit(0xC7, 0x41, d).Imm32(0);
        public Asm AndEax(uint v) => Emit(0x25).Imm32(v);
        public Asm Je(Label target) => Emit(0x0F, 0x84).Rel32(target);
        public Asm Jne(Label target) => Emit(0x0F, 0x85).Rel32(target);
        public Asm Jb(Label target) => Emit(0x0F, 0x82).Rel32(target);
        public Asm Jae(Label target) => Emit(0x0F, 0x83).Rel32(target);
        public Asm Jmp(Label target) => Emit(0xE9).Rel32(target);

        public byte[] Finish()
        {
            byte[] code = _b.Span.ToArray();
            foreach (Fixup f in _rel32)
            {
                if (f.Target!.Position < 0) throw new InvalidOperationException("jump to a label never marked");
                // rel32 counts from the end of the instruction, which every use here ends with.
                BinaryPrimitives.WriteInt32LittleEndian(code.AsSpan(f.At), f.Target.Position - (f.At + 4));
            }
            return code;
        }

        public void PatchDataAddresses(byte[] code, ulong dataAddress)
        {
            foreach (Fixup f in _dataImm64)
            {
                ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(code.AsSpan(f.At));
                BinaryPrimitives.WriteUInt64LittleEndian(code.AsSpan(f.At), dataAddress + offset);
            }
        }
    }
}
