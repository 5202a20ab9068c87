using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Memory;

namespace Sandbox.Sentry.Loader;

/// <summary>A file the loader reads: its bytes, its resolved path and inode (for /proc/self/maps).</summary>
public sealed record LoadedFile(byte[] Data, string Path, ulong Inode);

/// <summary>What the new image needs at its start: entry point and initial stack pointer.</summary>
public readonly record struct LoadResult(ulong Entry, ulong StackPointer);

/// <summary>Credentials the auxiliary vector reports.</summary>
public readonly record struct AuxCredentials(uint Uid, uint Euid, uint Gid, uint Egid);

/// <summary>Loads static ELF64 executables (ET_EXEC and static-PIE ET_DYN) into a fresh
/// MemoryManager and builds the initial stack (argv, envp, auxv) the way Linux does.</summary>
public static class ElfLoader
{
    /// <summary>Where position-independent executables are placed (Linux's ELF_ET_DYN_BASE).</summary>
    public const ulong PieBase = 0x5555_5555_4000;
    public const ulong StackSize = 8 << 20;
    private const ulong StackGuardGap = 256UL << 20;

    /// <summary>Loads the executable (and, for a dynamic one, its interpreter, read through
    /// readInterpreter) and builds the initial stack.</summary>
    public static LoadResult Load(MemoryManager mm, ReadOnlySpan<byte> file, ElfImage elf,
        IReadOnlyList<string> argv, IReadOnlyList<string> envp, string execFn, AuxCredentials creds,
        Func<string, LoadedFile?>? readInterpreter = null, LoadedFile? image = null, Vdso? vdso = null)
    {
        ulong bias = elf.IsPositionIndependent ? PieBase - MinLoadAddress(elf) : 0;
        var (imageEnd, phdrAddr) = MapSegments(mm, file, elf, bias, image?.Path ?? execFn, image?.Inode ?? 0);
        mm.SetBrkStart(imageEnd);

        // The stack sits at the top of the guest range; mmap allocates below a guard gap.
        ulong stackTop = mm.MaxAddress - Mm.PageSize;
        ulong stackBottom = stackTop - StackSize;
        var stack = mm.MapFixed(stackBottom, StackSize, Mm.PROT_READ | Mm.PROT_WRITE, "[stack]");
        stack.GrowsDown = true;
        mm.MmapBase = stackBottom - StackGuardGap;

        // A dynamic executable starts in its interpreter (ld.so), placed like an mmap.
        ulong entry = elf.Entry + bias, interpBase = 0;
        if (elf.Interpreter != null)
        {
            var loaded = readInterpreter?.Invoke(elf.Interpreter)
                ?? throw new ElfFormatException($"cannot read the interpreter {elf.Interpreter}");
            byte[] interpFile = loaded.Data;
            var interp = ElfImage.Parse(interpFile);
            if (interp.Interpreter != null || !interp.IsPositionIndependent)
                throw new ElfFormatException($"bad interpreter {elf.Interpreter}");
            ulong span = MemoryFile_AlignUp(MaxLoadEnd(interp) - MinLoadAddress(interp));
            long where = mm.Mmap(0, span, Mm.PROT_NONE, Mm.MAP_PRIVATE | Mm.MAP_ANONYMOUS);
            if (where < 0) throw new ElfFormatException("no room for the interpreter");
            mm.Munmap((ulong)where, span);
            interpBase = (ulong)where - MinLoadAddress(interp);
            MapSegments(mm, interpFile, interp, interpBase, loaded.Path, loaded.Inode);
            entry = interp.Entry + interpBase;
        }

        // The vDSO: its data page and its image, shared read-only by every process.
        ulong vdsoBase = 0;
        if (vdso != null)
        {
            long where = mm.MapPages(2 * Mm.PageSize, Mm.PROT_READ, vdso, "[vvar]");
            if (where > 0)
            {
                vdsoBase = (ulong)where + Mm.PageSize;
                mm.Mprotect(vdsoBase, Mm.PageSize, Mm.PROT_READ | Mm.PROT_EXEC);
                if (mm.Find(vdsoBase) is { } v) { v.Name = "[vdso]"; v.Shared = false; }
                if (mm.Find((ulong)where) is { } vv) vv.Shared = false; // shown as private, as Linux does
            }
        }

        var aux = new List<(ulong, ulong)>
        {
            (Auxv.AT_PHDR, phdrAddr), (Auxv.AT_PHENT, 56), (Auxv.AT_PHNUM, (ulong)elf.ProgramHeaders.Count),
            (Auxv.AT_PAGESZ, Mm.PageSize), (Auxv.AT_BASE, interpBase), (Auxv.AT_FLAGS, 0), (Auxv.AT_ENTRY, elf.Entry + bias),
            (Auxv.AT_UID, creds.Uid), (Auxv.AT_EUID, creds.Euid), (Auxv.AT_GID, creds.Gid), (Auxv.AT_EGID, creds.Egid),
            (Auxv.AT_SECURE, 0), (Auxv.AT_HWCAP, HwCap()), (Auxv.AT_HWCAP2, 0), (Auxv.AT_CLKTCK, 100),
            (Auxv.AT_MINSIGSTKSZ, 2048),
        };
        if (vdsoBase != 0) aux.Add((Auxv.AT_SYSINFO_EHDR, vdsoBase));
        ulong sp = BuildStack(mm, stackTop, argv, envp, execFn, aux);
        return new LoadResult(entry, sp);
    }

    /// <summary>Maps an image's PT_LOAD segments at bias; returns the end of the image and the
    /// address of its program headers.</summary>
    private static (ulong End, ulong Phdr) MapSegments(MemoryManager mm, ReadOnlySpan<byte> file, ElfImage elf, ulong bias, string name, ulong inode)
    {
        ulong imageEnd = 0, phdrAddr = 0;
        foreach (var ph in elf.ProgramHeaders)
        {
            if (ph.Type != ProgramHeader.PT_LOAD || ph.MemSize == 0) continue;
            ulong start = (ph.Vaddr + bias) & ~(Mm.PageSize - 1);
            ulong end = MemoryFile_AlignUp(ph.Vaddr + bias + ph.MemSize);
            if (start < MemoryManager.MinAddress || end > mm.MaxAddress)
                throw new ElfFormatException("PT_LOAD segment outside the sandbox's user address range");
            int prot = ((ph.Flags & ProgramHeader.PF_R) != 0 ? Mm.PROT_READ : 0)
                     | ((ph.Flags & ProgramHeader.PF_W) != 0 ? Mm.PROT_WRITE : 0)
                     | ((ph.Flags & ProgramHeader.PF_X) != 0 ? Mm.PROT_EXEC : 0);
            // Segments may share a page with the previous one: map only what is not mapped yet.
            // The file-backed pages carry the file's name; the zero-fill beyond (bss) is anonymous.
            ulong mapStart = Math.Max(start, imageEnd);
            ulong fileEnd = Math.Min(end, MemoryFile_AlignUp(ph.Vaddr + bias + ph.FileSize));
            if (fileEnd > mapStart)
                mm.MapFixed(mapStart, fileEnd - mapStart, prot, name, (long)((ph.Offset & ~(Mm.PageSize - 1)) + (mapStart - start)), inode);
            ulong anonStart = Math.Max(mapStart, fileEnd);
            if (end > anonStart) mm.MapFixed(anonStart, end - anonStart, prot, null);
            if (start < mapStart && mm.Find(start) is { } shared && (shared.Prot | prot) != shared.Prot)
                mm.Mprotect(start, Math.Min(end, mapStart) - start, shared.Prot | prot);
            WriteKernel(mm, ph.Vaddr + bias, file.Slice((int)ph.Offset, (int)ph.FileSize));
            imageEnd = Math.Max(imageEnd, end);
            if (elf.PhdrOffset >= ph.Offset && elf.PhdrOffset < ph.Offset + ph.FileSize)
                phdrAddr = ph.Vaddr + bias + (elf.PhdrOffset - ph.Offset);
        }
        foreach (var ph in elf.ProgramHeaders)
            if (ph.Type == ProgramHeader.PT_PHDR) phdrAddr = ph.Vaddr + bias;
        return (imageEnd, phdrAddr);
    }

    private static ulong MaxLoadEnd(ElfImage elf)
    {
        ulong max = 0;
        foreach (var ph in elf.ProgramHeaders)
            if (ph.Type == ProgramHeader.PT_LOAD) max = Math.Max(max, ph.Vaddr + ph.MemSize);
        return max;
    }

    private static ulong MemoryFile_AlignUp(ulong v) => (v + Mm.PageSize - 1) & ~(Mm.PageSize - 1);

    private static ulong MinLoadAddress(ElfImage elf)
    {
        ulong min = ulong.MaxValue;
        foreach (var ph in elf.ProgramHeaders)
            if (ph.Type == ProgramHeader.PT_LOAD) min = Math.Min(min, ph.Vaddr & ~(Mm.PageSize - 1));
        return min;
    }

    /// <summary>CPUID leaf 1 EDX, which is what Linux reports as AT_HWCAP on x86.</summary>
    private static ulong HwCap() => X86Base.IsSupported ? (uint)X86Base.CpuId(1, 0).Edx : 0;

    /// <summary>Writes as the kernel: ignores the guest protection of the target pages.</summary>
    private static unsafe void WriteKernel(MemoryManager mm, ulong addr, ReadOnlySpan<byte> data)
    {
        int done = 0;
        while (done < data.Length)
        {
            if (!mm.TryTranslateKernel(addr + (ulong)done, (ulong)(data.Length - done), out byte* p, out ulong n))
                throw new InvalidOperationException($"loader wrote outside its own mapping at 0x{addr + (ulong)done:x}");
            data.Slice(done, (int)n).CopyTo(new Span<byte>(p, (int)n));
            done += (int)n;
        }
    }

    /// <summary>Lays out the initial stack like Linux: strings at the top (execfn, then argv and
    /// envp strings, platform, AT_RANDOM bytes), then auxv, envp, argv pointers and argc, with
    /// the stack pointer 16-byte aligned at argc.</summary>
    private static ulong BuildStack(MemoryManager mm, ulong top, IReadOnlyList<string> argv, IReadOnlyList<string> envp,
        string execFn, List<(ulong Key, ulong Value)> aux)
    {
        ulong sp = top;
        ulong PushBytes(ReadOnlySpan<byte> bytes)
        {
            sp -= (ulong)bytes.Length;
            WriteKernel(mm, sp, bytes);
            return sp;
        }
        ulong PushString(string s) => PushBytes(Encoding.UTF8.GetBytes(s + "\0"));

        PushBytes(new byte[8]); // end marker, as Linux leaves a NULL word at the very top
        ulong execFnAddr = PushString(execFn);
        var envAddrs = new ulong[envp.Count];
        mm.EnvEnd = sp;
        for (int i = envp.Count - 1; i >= 0; i--) envAddrs[i] = PushString(envp[i]);
        mm.EnvStart = sp;
        var argAddrs = new ulong[argv.Count];
        mm.ArgEnd = sp;
        for (int i = argv.Count - 1; i >= 0; i--) argAddrs[i] = PushString(argv[i]);
        mm.ArgStart = sp;
        mm.ExecutablePath = execFn;
        ulong platformAddr = PushString("x86_64");
        sp &= ~15UL;
        ulong randomAddr = PushBytes(RandomNumberGenerator.GetBytes(16));

        aux.Add((Auxv.AT_RANDOM, randomAddr));
        aux.Add((Auxv.AT_EXECFN, execFnAddr));
        aux.Add((Auxv.AT_PLATFORM, platformAddr));
        aux.Add((Auxv.AT_NULL, 0));

        int words = 1 + argv.Count + 1 + envp.Count + 1 + 2 * aux.Count;
        sp &= ~15UL;
        if (words % 2 == 1) sp -= 8;
        sp -= (ulong)words * 8;

        var table = new ulong[words];
        int w = 0;
        table[w++] = (ulong)argv.Count;
        foreach (ulong a in argAddrs) table[w++] = a;
        table[w++] = 0;
        foreach (ulong e in envAddrs) table[w++] = e;
        table[w++] = 0;
        foreach (var (k, v) in aux) { table[w++] = k; table[w++] = v; }
        WriteKernel(mm, sp, System.Runtime.InteropServices.MemoryMarshal.AsBytes(table.AsSpan()));
        return sp;
    }
}
