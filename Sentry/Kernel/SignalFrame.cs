using System.Buffers.Binary;
using Sandbox.Abi;

namespace Sandbox.Sentry.Kernel;

/// <summary>The x86-64 rt_sigframe a handler runs on, laid out as Linux does:
/// <c>pretcode | ucontext (flags, link, stack_t, sigcontext, sigmask) | siginfo</c>, with the
/// XSAVE area 64-byte aligned above it. rt_sigreturn reads the same layout back.</summary>
public static class SignalFrame
{
    public const int UcontextOffset = 8;
    public const int UcStackOffset = UcontextOffset + 16;
    public const int SigcontextOffset = UcontextOffset + 40;
    public const int SigmaskOffset = SigcontextOffset + 256;
    public const int SiginfoOffset = SigmaskOffset + 8;
    public const int FrameSize = SiginfoOffset + 128;
    /// <summary>The red zone below the stack pointer that a handler frame must not clobber.</summary>
    public const ulong RedZone = 128;

    public const ulong UC_FP_XSTATE = 1, UC_SIGCONTEXT_SS = 2, UC_STRICT_RESTORE_SS = 4;
    private const uint FP_XSTATE_MAGIC1 = 0x46505853, FP_XSTATE_MAGIC2 = 0x46505845;

    /// <summary>Where the frame and the FPU state go for a handler whose stack top is sp;
    /// fpImageSize is the size of <see cref="FpImage"/>'s bytes (the area and FP_XSTATE_MAGIC2).</summary>
    public static (ulong Frame, ulong FpState) Place(ulong sp, int fpImageSize)
    {
        ulong fp = (sp - (ulong)fpImageSize) & ~63UL;
        ulong frame = fp - FrameSize;
        frame = ((frame + 8) & ~15UL) - 8; // as if called: (frame + 8) is 16-byte aligned
        return (frame, fp);
    }

    /// <summary>The most stack a handler's frame takes (what AT_MINSIGSTKSZ reports): the frame,
    /// the FPU state of the size the CPU's XSAVE area has with the enabled features, and the
    /// worst-case alignment of both, rounded up to 16 bytes as Linux does.</summary>
    public static int MinStackSize { get; } = MaxFrameBytes(XsaveSize());

    /// <summary>The most stack <see cref="Place"/> uses for an XSAVE area of xsaveSize bytes.</summary>
    public static int MaxFrameBytes(int xsaveSize) => (FrameSize + 15 + xsaveSize + 4 + 63 + 15) & ~15;

    /// <summary>CPUID leaf 0xD: the XSAVE area's size for the features XCR0 enables (the legacy
    /// FXSAVE area and its header without XSAVE).</summary>
    private static int XsaveSize()
    {
        int size = System.Runtime.Intrinsics.X86.X86Base.IsSupported ? System.Runtime.Intrinsics.X86.X86Base.CpuId(0xD, 0).Ebx : 0;
        return Math.Max(size, 512 + 64);
    }

    /// <summary>Builds the frame bytes for a handler (FPU state is written separately at fpAddr).</summary>
    public static byte[] Build(in UserRegs r, ulong restorer, in SigInfo info, ulong blockedMask, ulong fpAddr,
        ulong altStackSp, int altStackFlags, ulong altStackSize)
    {
        var f = new byte[FrameSize];
        var s = f.AsSpan();
        W(s, 0, restorer);
        W(s, UcontextOffset, UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
        W(s, UcStackOffset, altStackSp);
        BinaryPrimitives.WriteInt32LittleEndian(s[(UcStackOffset + 8)..], altStackFlags);
        W(s, UcStackOffset + 16, altStackSize);
        var c = s[SigcontextOffset..];
        ulong[] gp = [r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15, r.Rdi, r.Rsi, r.Rbp, r.Rbx, r.Rdx, r.Rax, r.Rcx, r.Rsp, r.Rip, r.Eflags];
        for (int i = 0; i < gp.Length; i++) W(c, i * 8, gp[i]);
        BinaryPrimitives.WriteUInt16LittleEndian(c[144..], (ushort)r.Cs);
        BinaryPrimitives.WriteUInt16LittleEndian(c[146..], (ushort)r.Gs);
        BinaryPrimitives.WriteUInt16LittleEndian(c[148..], (ushort)r.Fs);
        BinaryPrimitives.WriteUInt16LittleEndian(c[150..], (ushort)r.Ss);
        // err, trapno, oldmask, cr2 (the fault address for SIGSEGV/SIGBUS)
        W(c, 152, 0);
        W(c, 160, info.Signo is Signals.SIGSEGV or Signals.SIGBUS ? 14UL : 0);
        W(c, 168, blockedMask);
        W(c, 176, info.Signo is Signals.SIGSEGV or Signals.SIGBUS ? info.Addr : 0);
        W(c, 184, fpAddr);
        W(s, SigmaskOffset, blockedMask);
        unsafe
        {
            SigInfo copy = info;
            new ReadOnlySpan<byte>(&copy, 128).CopyTo(s[SiginfoOffset..]);
        }
        return f;
    }

    /// <summary>Marks an XSAVE image as a signal frame's (the sw_reserved bytes glibc and the
    /// kernel check) and returns the bytes to store: the area plus FP_XSTATE_MAGIC2.</summary>
    public static byte[] FpImage(ReadOnlySpan<byte> xsave)
    {
        var img = new byte[xsave.Length + 4];
        xsave.CopyTo(img);
        var sw = img.AsSpan(464); // struct _fpx_sw_bytes inside the FXSAVE area's padding
        BinaryPrimitives.WriteUInt32LittleEndian(sw, FP_XSTATE_MAGIC1);
        BinaryPrimitives.WriteUInt32LittleEndian(sw[4..], (uint)img.Length);          // extended_size
        BinaryPrimitives.WriteUInt64LittleEndian(sw[8..], xsave.Length >= 520 ? BinaryPrimitives.ReadUInt64LittleEndian(xsave[512..]) : 3); // xfeatures
        BinaryPrimitives.WriteUInt32LittleEndian(sw[16..], (uint)xsave.Length);       // xstate_size
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(xsave.Length), FP_XSTATE_MAGIC2);
        return img;
    }

    /// <summary>Reads the registers and mask back from a frame for rt_sigreturn. Segment and
    /// flag bits the guest may not change are taken from current.</summary>
    public static (UserRegs Regs, ulong Mask, ulong FpAddr, ulong AltSp, int AltFlags, ulong AltSize) Parse(ReadOnlySpan<byte> f, in UserRegs current)
    {
        var c = f[SigcontextOffset..(SigcontextOffset + 256)].ToArray();
        ulong R(int i) => BinaryPrimitives.ReadUInt64LittleEndian(c.AsSpan(i * 8));
        var regs = current;
        regs.R8 = R(0); regs.R9 = R(1); regs.R10 = R(2); regs.R11 = R(3); regs.R12 = R(4); regs.R13 = R(5);
        regs.R14 = R(6); regs.R15 = R(7); regs.Rdi = R(8); regs.Rsi = R(9); regs.Rbp = R(10); regs.Rbx = R(11);
        regs.Rdx = R(12); regs.Rax = R(13); regs.Rcx = R(14); regs.Rsp = R(15); regs.Rip = R(16);
        // Only the user-changeable flags (CF PF AF ZF SF TF DF OF, AC, RF...) come from the frame.
        const ulong FixMask = 0x40DD5;
        regs.Eflags = (current.Eflags & ~FixMask) | (R(17) & FixMask);
        regs.OrigRax = ulong.MaxValue; // no syscall restart after a sigreturn
        ulong mask = BinaryPrimitives.ReadUInt64LittleEndian(f[SigmaskOffset..]);
        ulong fp = R(23);
        ulong altSp = BinaryPrimitives.ReadUInt64LittleEndian(f[UcStackOffset..]);
        int altFlags = BinaryPrimitives.ReadInt32LittleEndian(f[(UcStackOffset + 8)..]);
        ulong altSize = BinaryPrimitives.ReadUInt64LittleEndian(f[(UcStackOffset + 16)..]);
        return (regs, mask, fp, altSp, altFlags, altSize);
    }

    private static void W(Span<byte> s, int offset, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[offset..], v);
}
