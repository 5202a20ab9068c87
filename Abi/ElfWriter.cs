using System.Buffers.Binary;

namespace Sandbox.Abi;

/// <summary>Writes the ELF64 header and program headers of the small static x86-64 images
/// the project generates itself (the ptrace stub, the Gofer's confinement launcher).</summary>
public static class ElfWriter
{
    public const int HeaderSize = 64, ProgramHeaderSize = 56;
    public const uint PT_LOAD = 1, PT_GNU_STACK = 0x6474e551;
    public const uint PF_X = 1, PF_W = 2, PF_R = 4;

    /// <summary>The ELF header of an ET_EXEC for x86-64 whose programHeaders program headers
    /// follow it directly.</summary>
    public static void WriteHeader(Span<byte> s, ulong entry, int programHeaders)
    {
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; /* ELFCLASS64 */ s[5] = 1; /* little endian */ s[6] = 1; /* EV_CURRENT */
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);                 // e_type = ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 0x3e);              // e_machine = EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);                 // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], entry);             // e_entry
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], HeaderSize);        // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], HeaderSize);        // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], ProgramHeaderSize); // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)programHeaders); // e_phnum
    }

    /// <summary>Program header number index (mapped at its file offset as its virtual and
    /// physical address).</summary>
    public static void WriteProgramHeader(Span<byte> image, int index, uint type, uint flags, ulong offset, ulong address,
        ulong fileSize, ulong memorySize, ulong align)
    {
        Span<byte> ph = image[(HeaderSize + index * ProgramHeaderSize)..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, type);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], address);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], address);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], fileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], memorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], align);
    }
}
