using System.Buffers.Binary;
using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using Sandbox.Sentry.Loader;

namespace Sandbox.Sentry.Tests;

public sealed class ElfImageTests
{
    // ---- real executables -----------------------------------------------------------------

    [Fact]
    public void Parse_StaticExecutable()
    {
        byte[] file = File.ReadAllBytes(Binaries.Hello);
        ElfImage elf = ElfImage.Parse(file);
        Assert.Equal(ElfImage.ET_EXEC, elf.Type);
        Assert.False(elf.IsPositionIndependent);
        Assert.Null(elf.Interpreter);
        Assert.Equal(BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(24)), elf.Entry);
        Assert.Equal(64UL, elf.PhdrOffset);
        AssertEntryIsInAnExecutableSegment(elf);
        AssertMatchesReadelf(Binaries.Hello, elf);
    }

    [Fact]
    public void Parse_StaticPie()
    {
        byte[] file = File.ReadAllBytes(Binaries.HelloPie);
        ElfImage elf = ElfImage.Parse(file);
        Assert.Equal(ElfImage.ET_DYN, elf.Type);
        Assert.True(elf.IsPositionIndependent);
        Assert.Null(elf.Interpreter);
        AssertEntryIsInAnExecutableSegment(elf);
        AssertMatchesReadelf(Binaries.HelloPie, elf);
    }

    [Fact]
    public void Parse_DynamicExecutable_ReportsItsInterpreter()
    {
        string? dynamic = new[] { "/bin/true", "/usr/bin/true", "/usr/bin/env" }.FirstOrDefault(File.Exists);
        Assert.True(dynamic != null, "no dynamically linked /bin/true or /usr/bin/env on this host");
        ElfImage elf = ElfImage.Parse(File.ReadAllBytes(dynamic));
        Assert.Equal("/lib64/ld-linux-x86-64.so.2", elf.Interpreter);
    }

    private static void AssertEntryIsInAnExecutableSegment(ElfImage elf)
    {
        Assert.Contains(elf.ProgramHeaders, p => p.Type == ProgramHeader.PT_LOAD && (p.Flags & ProgramHeader.PF_X) != 0
            && elf.Entry >= p.Vaddr && elf.Entry < p.Vaddr + p.MemSize);
    }

    /// <summary>Cross-checks the PT_LOAD headers with binutils' readelf when it is installed.</summary>
    private static void AssertMatchesReadelf(string path, ElfImage elf)
    {
        if (!File.Exists("/usr/bin/readelf")) return;
        var psi = new ProcessStartInfo("/usr/bin/readelf", $"-lW {path}") { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var loads = output.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 7 && f[0] == "LOAD")
            .Select(f => (Offset: Convert.ToUInt64(f[1], 16), Vaddr: Convert.ToUInt64(f[2], 16),
                FileSize: Convert.ToUInt64(f[4], 16), MemSize: Convert.ToUInt64(f[5], 16)))
            .ToList();
        Assert.NotEmpty(loads);
        Assert.Equal(loads, elf.ProgramHeaders.Where(h => h.Type == ProgramHeader.PT_LOAD)
            .Select(h => (h.Offset, h.Vaddr, h.FileSize, h.MemSize)));
    }

    // ---- rejections -----------------------------------------------------------------------

    private static string Rejected(ReadOnlySpan<byte> file)
    {
        byte[] copy = file.ToArray();
        return Assert.Throws<ElfFormatException>(() => ElfImage.Parse(copy)).Message;
    }

    [Fact]
    public void Rejects_NonElf()
    {
        Assert.Contains("ELF", Rejected("hello world, not a program"u8));
        Assert.Contains("ELF", Rejected([]));
        Assert.Contains("ELF", Rejected([0x7f, (byte)'E', (byte)'L']));
        Assert.Contains("ELF", Rejected(new byte[4096]));
    }

    [Fact]
    public void Rejects_Scripts_WithAClearMessage()
    {
        Assert.Contains("script", Rejected("#!/bin/sh\necho hi\n"u8));
    }

    [Fact]
    public void Rejects_TruncatedHeader()
    {
        byte[] elf = MinimalElf();
        foreach (int len in new[] { 4, 5, 16, 32, 63 })
            Assert.Contains("truncated", Rejected(elf.AsSpan(0, len)));
    }

    [Fact]
    public void Rejects_32BitElf()
    {
        byte[] elf = MinimalElf();
        elf[4] = 1; // ELFCLASS32
        Assert.Contains("64-bit", Rejected(elf));
    }

    [Fact]
    public void Rejects_BigEndian()
    {
        byte[] elf = MinimalElf();
        elf[5] = 2;
        Assert.Contains("little-endian", Rejected(elf));
    }

    [Fact]
    public void Rejects_WrongMachine()
    {
        byte[] elf = MinimalElf();
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(18), 183); // EM_AARCH64
        string message = Rejected(elf);
        Assert.Contains("architecture", message);
        Assert.Contains("183", message);
    }

    [Fact]
    public void Rejects_NonExecutableTypes()
    {
        foreach (ushort type in new ushort[] { 0, 1, 4 }) // ET_NONE, ET_REL, ET_CORE
        {
            byte[] elf = MinimalElf();
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(16), type);
            Assert.Contains("not an executable", Rejected(elf));
        }
    }

    [Fact]
    public void Rejects_BadProgramHeaderTable()
    {
        byte[] elf = MinimalElf();
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(54), 32);
        Assert.Contains("program header size", Rejected(elf));

        elf = MinimalElf();
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(56), 0);
        Assert.Contains("program header count", Rejected(elf));

        elf = MinimalElf();
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(56), 600);
        Assert.Contains("program header count", Rejected(elf));

        elf = MinimalElf();
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(32), (ulong)elf.Length);
        Assert.Contains("outside the file", Rejected(elf));

        elf = MinimalElf();
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(32), ulong.MaxValue - 8);
        Assert.Contains("outside the file", Rejected(elf));

        // The table itself cut short.
        elf = MinimalElf();
        Assert.Contains("outside the file", Rejected(elf.AsSpan(0, 64 + 30)));
    }

    [Fact]
    public void Rejects_PtLoadOutsideTheFile()
    {
        Assert.Contains("outside the file", Rejected(MinimalElf(Load(offset: 0x1000, filesz: 0x100))));
        Assert.Contains("outside the file", Rejected(MinimalElf(Load(offset: 0, filesz: 0x10000))));
        Assert.Contains("outside the file", Rejected(MinimalElf(Load(offset: ulong.MaxValue - 0xfff, vaddr: 0x400000 - 0x1000, filesz: 0x2000))));
    }

    [Fact]
    public void Rejects_BadPtLoadGeometry()
    {
        Assert.Contains("p_filesz > p_memsz", Rejected(MinimalElf(Load(filesz: 0x80, memsz: 0x40))));
        Assert.Contains("user address range", Rejected(MinimalElf(Load(vaddr: 0x7fff_ffff_f000, memsz: 0x2000))));
        Assert.Contains("user address range", Rejected(MinimalElf(Load(vaddr: ulong.MaxValue - 0xfff, memsz: 0x2000))));
        Assert.Contains("congruent", Rejected(MinimalElf(Load(vaddr: 0x400010))));
    }

    [Fact]
    public void Rejects_NoLoadableSegment()
    {
        var stack = new Phdr(ProgramHeader.PT_GNU_STACK, 6, 0, 0, 0, 0);
        Assert.Contains("no loadable segment", Rejected(MinimalElf(stack)));
    }

    [Fact]
    public void Rejects_BadInterp()
    {
        var interp = new Phdr(ProgramHeader.PT_INTERP, 4, 0x40000, 0, 0x20, 0x20);
        Assert.Contains("PT_INTERP", Rejected(MinimalElf(Load(), interp)));
        interp = interp with { Offset = 0, FileSize = 0 };
        Assert.Contains("PT_INTERP", Rejected(MinimalElf(Load(), interp)));
    }

    [Fact]
    public void Accepts_TheMinimalElf()
    {
        ElfImage elf = ElfImage.Parse(MinimalElf());
        Assert.Equal(0x400078UL, elf.Entry);
        var load = Assert.Single(elf.ProgramHeaders);
        Assert.Equal((ProgramHeader.PT_LOAD, 0x400000UL), (load.Type, load.Vaddr));
    }

    [Fact]
    public void PtGnuStack_WithPfX_AsksForAnExecutableStack()
    {
        var stack = new Phdr(ProgramHeader.PT_GNU_STACK, ProgramHeader.PF_R | ProgramHeader.PF_W, 0, 0, 0, 0);
        Assert.False(ElfImage.Parse(MinimalElf(Load(), stack)).ExecutableStack);
        Assert.True(ElfImage.Parse(MinimalElf(Load(), stack with { Flags = stack.Flags | ProgramHeader.PF_X })).ExecutableStack);
        Assert.False(ElfImage.Parse(MinimalElf()).ExecutableStack); // no PT_GNU_STACK: not executable on x86-64
    }

    // ---- fuzzing --------------------------------------------------------------------------

    private static void ParseOrReject(ReadOnlySpan<byte> file)
    {
        try
        {
            ElfImage.Parse(file);
        }
        catch (ElfFormatException)
        {
        }
    }

    [Fact]
    public void Fuzz_RandomBytes_OnlyEverThrowElfFormatException()
    {
        var property = Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), (byte[] bytes) => ParseOrReject(bytes));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), property);
    }

    [Fact]
    public void Fuzz_RandomBytesAfterAValidHeader_OnlyEverThrowElfFormatException()
    {
        byte[] header = MinimalElf()[..64];
        var property = Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), (byte[] tail) => ParseOrReject([.. header, .. tail]));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), property);
    }

    /// <summary>Random field values in an otherwise well-formed header and program header:
    /// the parser must validate every combination.</summary>
    [Fact]
    public void Fuzz_RandomHeaderFields_OnlyEverThrowElfFormatException()
    {
        var rng = new Random(12345);
        int[] u16Fields = [16, 18, 54, 56];
        int[] u64Fields = [24, 32, 64 + 8, 64 + 16, 64 + 32, 64 + 40, 64 + 48];
        ulong[] interesting = [0, 1, 0x38, 0x40, 0x78, 0xfff, 0x1000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
            0x1_0000_0000, 0x7f00_0000_0000, long.MaxValue, (ulong)long.MaxValue + 1, ulong.MaxValue - 0x1000, ulong.MaxValue];
        for (int i = 0; i < 20000; i++)
        {
            byte[] elf = MinimalElf(Load(), new Phdr(ProgramHeader.PT_INTERP, 4, 0x78, 0, 8, 8));
            int changes = 1 + rng.Next(3);
            for (int c = 0; c < changes; c++)
            {
                if (rng.Next(3) == 0)
                {
                    int at = u16Fields[rng.Next(u16Fields.Length)];
                    BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(at), (ushort)(rng.Next(2) == 0 ? rng.Next(65536) : (int)interesting[rng.Next(4)]));
                }
                else
                {
                    int at = u64Fields[rng.Next(u64Fields.Length)];
                    if (rng.Next(5) == 0) at += 56; // the PT_INTERP header
                    ulong v = rng.Next(2) == 0 ? interesting[rng.Next(interesting.Length)] : (ulong)rng.NextInt64();
                    BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(at), v);
                }
            }
            try
            {
                ParseOrReject(elf);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"iteration {i}: {e.GetType().Name} for {Convert.ToHexString(elf[..(64 + 112)])}", e);
            }
        }
    }

    /// <summary>Bit flips, byte overwrites and truncations of a real executable.</summary>
    [Fact]
    public void Fuzz_MutatedRealElf_OnlyEverThrowElfFormatException()
    {
        byte[] original = File.ReadAllBytes(Binaries.Hello);
        byte[] file = (byte[])original.Clone();
        var rng = new Random(4242);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 20000; i++)
        {
            // Most of the parser's input is the first few hundred bytes: mutate there mostly.
            int window = rng.Next(4) == 0 ? file.Length : 64 + 56 * 12;
            var touched = new List<int>();
            int mutations = 1 + rng.Next(4);
            for (int m = 0; m < mutations; m++)
            {
                int at = rng.Next(window);
                touched.Add(at);
                switch (rng.Next(3))
                {
                    case 0: file[at] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: file[at] = (byte)rng.Next(256); break;
                    default: file[at] = rng.Next(2) == 0 ? (byte)0 : (byte)0xff; break;
                }
            }
            int length = rng.Next(3) == 0 ? rng.Next(file.Length + 1) : file.Length;
            try
            {
                ParseOrReject(file.AsSpan(0, length));
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(
                    $"iteration {i}: {e.GetType().Name} with bytes changed at [{string.Join(", ", touched)}], length {length}", e);
            }
            foreach (int at in touched) file[at] = original[at];
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"parsing took {sw.Elapsed}");
    }

    [Fact]
    public void Fuzz_EveryTruncationOfTheHeaders_IsRejectedCleanly()
    {
        byte[] file = File.ReadAllBytes(Binaries.Hello);
        for (int len = 0; len < 64 + 56 * 10 + 1; len++)
            Assert.Throws<ElfFormatException>(() => ElfImage.Parse(file.AsSpan(0, len)));
    }

    // ---- a minimal ELF --------------------------------------------------------------------

    private readonly record struct Phdr(uint Type, uint Flags, ulong Offset, ulong Vaddr, ulong FileSize, ulong MemSize);

    private static Phdr Load(ulong offset = 0, ulong vaddr = 0x400000, ulong filesz = 0x80, ulong? memsz = null) =>
        new(ProgramHeader.PT_LOAD, ProgramHeader.PF_R | ProgramHeader.PF_X, offset, vaddr, filesz, memsz ?? Math.Max(filesz, 0x1000));

    /// <summary>ELF header + program headers + padding to 0x80 bytes (or more, to hold them).</summary>
    private static byte[] MinimalElf(params Phdr[] phdrs)
    {
        if (phdrs.Length == 0) phdrs = [Load()];
        var file = new byte[Math.Max(0x80, 64 + 56 * phdrs.Length)];
        var s = file.AsSpan();
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], ElfImage.ET_EXEC);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], ElfImage.EM_X86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], 0x400078);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)phdrs.Length);
        for (int i = 0; i < phdrs.Length; i++)
        {
            var p = s[(64 + 56 * i)..];
            BinaryPrimitives.WriteUInt32LittleEndian(p, phdrs[i].Type);
            BinaryPrimitives.WriteUInt32LittleEndian(p[4..], phdrs[i].Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], phdrs[i].Offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[16..], phdrs[i].Vaddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], phdrs[i].Vaddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], phdrs[i].FileSize);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], phdrs[i].MemSize);
            BinaryPrimitives.WriteUInt64LittleEndian(p[48..], 0x1000);
        }
        return file;
    }
}
