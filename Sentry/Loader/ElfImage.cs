using System.Buffers.Binary;

namespace Sandbox.Sentry.Loader;

/// <summary>A malformed, foreign or unsupported executable. The message is what the user sees.</summary>
public sealed class ElfFormatException(string message) : Exception(message);

/// <summary>One ELF64 program header.</summary>
public readonly record struct ProgramHeader(uint Type, uint Flags, ulong Offset, ulong Vaddr, ulong FileSize, ulong MemSize, ulong Align)
{
    public const uint PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3, PT_PHDR = 6, PT_TLS = 7, PT_GNU_STACK = 0x6474e551;
    public const uint PF_X = 1, PF_W = 2, PF_R = 4;
}

/// <summary>The parts of an ELF64 x86-64 executable the loader needs, validated.</summary>
public sealed class ElfImage
{
    public const ushort ET_EXEC = 2, ET_DYN = 3, EM_X86_64 = 62;
    private const int EhdrSize = 64, PhdrSize = 56, MaxPhdrs = 512;

    public ushort Type { get; private init; }
    public ulong Entry { get; private init; }
    public ulong PhdrOffset { get; private init; }
    public IReadOnlyList<ProgramHeader> ProgramHeaders { get; private init; } = [];
    public string? Interpreter { get; private init; }

    /// <summary>PT_GNU_STACK asks for an executable stack (PF_X). Without the header x86-64
    /// stacks are not executable either.</summary>
    public bool ExecutableStack { get; private init; }

    public bool IsPositionIndependent => Type == ET_DYN;

    /// <summary>Parses and validates; throws <see cref="ElfFormatException"/> for any bad input.</summary>
    public static ElfImage Parse(ReadOnlySpan<byte> file)
    {
        if (file.Length < 4 || file[0] != 0x7f || file[1] != 'E' || file[2] != 'L' || file[3] != 'F')
            throw new ElfFormatException(file.Length >= 2 && file[0] == '#' && file[1] == '!'
                ? "is a script; #! interpreters are not supported yet"
                : "not an ELF executable (bad magic)");
        if (file.Length < EhdrSize) throw new ElfFormatException("truncated ELF header");
        if (file[4] != 2) throw new ElfFormatException("not a 64-bit ELF file (only x86-64 is supported)");
        if (file[5] != 1) throw new ElfFormatException("not a little-endian ELF file");
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(file[16..]);
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(file[18..]);
        if (machine != EM_X86_64) throw new ElfFormatException($"ELF for another architecture (e_machine {machine}, want x86-64)");
        if (type != ET_EXEC && type != ET_DYN) throw new ElfFormatException($"ELF file is not an executable (e_type {type})");
        ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(file[24..]);
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(file[32..]);
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(file[54..]);
        ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(file[56..]);
        if (phentsize != PhdrSize) throw new ElfFormatException($"unexpected program header size {phentsize}");
        if (phnum == 0 || phnum > MaxPhdrs) throw new ElfFormatException($"bad program header count {phnum}");
        if (phoff > (ulong)file.Length || (ulong)file.Length - phoff < (ulong)phnum * PhdrSize)
            throw new ElfFormatException("program headers lie outside the file");

        var phdrs = new List<ProgramHeader>(phnum);
        string? interp = null;
        bool execStack = false;
        for (int i = 0; i < phnum; i++)
        {
            var p = file.Slice((int)phoff + i * PhdrSize, PhdrSize);
            var ph = new ProgramHeader(
                BinaryPrimitives.ReadUInt32LittleEndian(p), BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
                BinaryPrimitives.ReadUInt64LittleEndian(p[8..]), BinaryPrimitives.ReadUInt64LittleEndian(p[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(p[32..]), BinaryPrimitives.ReadUInt64LittleEndian(p[40..]),
                BinaryPrimitives.ReadUInt64LittleEndian(p[48..]));
            if (ph.Type == ProgramHeader.PT_LOAD)
            {
                if (ph.FileSize > ph.MemSize) throw new ElfFormatException("PT_LOAD segment with p_filesz > p_memsz");
                if (ph.Offset > (ulong)file.Length || (ulong)file.Length - ph.Offset < ph.FileSize)
                    throw new ElfFormatException("PT_LOAD segment lies outside the file");
                if (ph.Vaddr + ph.MemSize < ph.Vaddr || ph.Vaddr + ph.MemSize > 0x7f00_0000_0000)
                    throw new ElfFormatException("PT_LOAD segment outside the user address range");
                if ((ph.Vaddr & 0xfff) != (ph.Offset & 0xfff))
                    throw new ElfFormatException("PT_LOAD segment offset and address are not congruent modulo the page size");
            }
            else if (ph.Type == ProgramHeader.PT_INTERP)
            {
                if (ph.Offset > (ulong)file.Length || (ulong)file.Length - ph.Offset < ph.FileSize || ph.FileSize is 0 or > 4096)
                    throw new ElfFormatException("bad PT_INTERP segment");
                var raw = file.Slice((int)ph.Offset, (int)ph.FileSize);
                int nul = raw.IndexOf((byte)0);
                interp = System.Text.Encoding.UTF8.GetString(nul >= 0 ? raw[..nul] : raw);
            }
            else if (ph.Type == ProgramHeader.PT_GNU_STACK)
            {
                execStack = (ph.Flags & ProgramHeader.PF_X) != 0;
            }
            phdrs.Add(ph);
        }
        if (!phdrs.Exists(p => p.Type == ProgramHeader.PT_LOAD)) throw new ElfFormatException("ELF file has no loadable segment");
        return new ElfImage { Type = type, Entry = entry, PhdrOffset = phoff, ProgramHeaders = phdrs, Interpreter = interp, ExecutableStack = execStack };
    }
}
