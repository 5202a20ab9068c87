using System.Buffers.Binary;

namespace Sandbox.Platform.Ptrace;

/// <summary>Builds the stub process image: a one-page static ELF, generated here so that no C
/// toolchain is needed at run time. The stub asks to be traced, stops itself, and from then on
/// only executes what the tracer points it at: the guest's code (under PTRACE_SYSEMU) or the
/// <c>syscall; int3</c> gadget that the Sentry uses to inject mmap/munmap/mprotect.</summary>
public static class StubElf
{
    /// <summary>Where the stub's page lives: high in user space, but below where the host
    /// kernel can put the initial stack (top minus 16 GiB of randomisation), so the exec
    /// cannot collide with it. Everything else in the stub is unmapped at start.</summary>
    public const ulong Base = 0x7ff0_0000_0000;
    public const ulong Size = 0x1000;

    private const int HeaderSize = 64, PhdrSize = 56, PhdrCount = 2;
    private const int CodeOffset = HeaderSize + PhdrSize * PhdrCount;

    private static readonly byte[] Code =
    [
        // Die with the Sentry thread that spawned us, even before it traces us (PTRACE_O_EXITKILL
        // only holds once set), and do not start at all if that parent is already gone (we
        // would then be traced by whoever adopted us, stopped forever).
        0xB8, 0x9D, 0x00, 0x00, 0x00, // mov eax, 157 (prctl)
        0xBF, 0x01, 0x00, 0x00, 0x00, // mov edi, 1 (PR_SET_PDEATHSIG)
        0xBE, 0x09, 0x00, 0x00, 0x00, // mov esi, 9 (SIGKILL)
        0x0F, 0x05,                   // syscall
        0xB8, 0x6E, 0x00, 0x00, 0x00, // mov eax, 110 (getppid)
        0x0F, 0x05,                   // syscall
        0x3D, 0x00, 0x00, 0x00, 0x00, // cmp eax, imm32: the spawning process's pid, patched in
        0x0F, 0x85, 0x28, 0x00, 0x00, 0x00, // jne exit (+40: to the exit_group below)
        0xB8, 0x65, 0x00, 0x00, 0x00, // mov eax, 101 (ptrace)
        0x31, 0xFF,                   // xor edi, edi (PTRACE_TRACEME)
        0x31, 0xF6,                   // xor esi, esi
        0x31, 0xD2,                   // xor edx, edx
        0x4D, 0x31, 0xD2,             // xor r10, r10
        0x0F, 0x05,                   // syscall
        0xB8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39 (getpid)
        0x0F, 0x05,                   // syscall
        0x89, 0xC7,                   // mov edi, eax
        0xBE, 0x13, 0x00, 0x00, 0x00, // mov esi, 19 (SIGSTOP)
        0xB8, 0x3E, 0x00, 0x00, 0x00, // mov eax, 62 (kill)
        0x0F, 0x05,                   // syscall: the tracer takes over from this stop
        // gadget:
        0x0F, 0x05,                   // syscall (injected by the tracer)
        0xCC,                         // int3: hands control back to the tracer
        // Never reached under a tracer: exit_group(127).
        0xB8, 0xE7, 0x00, 0x00, 0x00, // mov eax, 231
        0xBF, 0x7F, 0x00, 0x00, 0x00, // mov edi, 127
        0x0F, 0x05,                   // syscall
        // clone gadget: the injected clone returns in both threads.
        0x0F, 0x05,                   // syscall
        0x48, 0x85, 0xC0,             // test rax, rax
        0x75, 0x09,                   // jnz parent
        // child: wait in pause() until its own tracer attaches and takes over.
        0xB8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
        0x0F, 0x05,                   // syscall
        0xEB, 0xF7,                   // jmp child
        // parent:
        0xCC,                         // int3
    ];

    private const int ParentPidOffsetInCode = 25;
    private const int GadgetOffsetInCode = 72;
    private const int CloneGadgetOffsetInCode = 87;

    /// <summary>Address of the <c>syscall; int3</c> pair.</summary>
    public const ulong SyscallGadget = Base + CodeOffset + GadgetOffsetInCode;

    /// <summary>Address of the clone gadget: <c>syscall</c>, then int3 in the parent and a
    /// pause() loop in the new thread.</summary>
    public const ulong CloneGadget = Base + CodeOffset + CloneGadgetOffsetInCode;

    /// <summary>The image, for stubs spawned by the process <paramref name="parentPid"/> (this
    /// one unless given).</summary>
    public static byte[] Build(int parentPid = 0)
    {
        if (parentPid == 0) parentPid = Environment.ProcessId;
        var image = new byte[CodeOffset + Code.Length];
        var s = image.AsSpan();
        // ELF header.
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; /* ELFCLASS64 */ s[5] = 1; /* little endian */ s[6] = 1; /* EV_CURRENT */
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);          // e_type = ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 0x3e);       // e_machine = EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);          // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], Base + CodeOffset); // e_entry
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], HeaderSize); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], HeaderSize); // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], PhdrSize);   // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], PhdrCount);  // e_phnum
        // PT_LOAD, R+X, the whole file at Base.
        var ph = s[HeaderSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 5);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], Base);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], Base);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)image.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 0x1000);
        // PT_GNU_STACK, RW: a non-executable stack (which the tracer unmaps anyway).
        ph = s[(HeaderSize + PhdrSize)..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 0x6474e551);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 6);
        Code.CopyTo(s[CodeOffset..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[(CodeOffset + ParentPidOffsetInCode)..], parentPid);
        return image;
    }
}
