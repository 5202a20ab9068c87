using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Memory;

namespace Sandbox.Sentry.Loader;

/// <summary>A file the loader reads: its bytes (an array of its own, or the file cache's pages,
/// which read-only segments then map instead of copying), its resolved path, inode number and
/// device (for /proc/self/maps). Dispose gives the cache reference back.</summary>
public sealed class LoadedFile : IDisposable
{
    private readonly byte[]? _data;
    private readonly FileCache? _cache;

    public LoadedFile(byte[] data, string path, ulong inode, ulong device)
    {
        _data = data;
        Path = path;
        Inode = inode;
        Device = device;
    }

    /// <summary>Takes over the caller's reference on <paramref name="cached"/>.</summary>
    public LoadedFile(FileCache cache, FileCache.Entry cached, string path, ulong inode, ulong device)
    {
        _cache = cache;
        Cached = cached;
        Path = path;
        Inode = inode;
        Device = device;
    }

    public string Path { get; }
    public ulong Inode { get; }
    public ulong Device { get; }
    public FileCache.Entry? Cached { get; private set; }

    /// <summary>The file's bytes; for a cached file only the headers are read to begin with
    /// (<see cref="FillHeaders"/>), other parts once <see cref="Require"/>d.</summary>
    public ReadOnlySpan<byte> Data => Cached != null ? _cache!.Bytes(Cached) : _data;

    /// <summary>Makes [offset, +length) of a cached file readable in <see cref="Data"/>.</summary>
    internal bool Require(long offset, long length) => Cached?.FillRange(offset, length) ?? true;

    /// <summary>Reads what the loader parses of a cached file before anything else: its first
    /// page and, for an ELF file, its program headers and interpreter name wherever they are.
    /// False if the file cannot be read.</summary>
    internal bool FillHeaders()
    {
        if (Cached is not { } entry) return true;
        if (!entry.FillRange(0, Math.Min(entry.Size, (long)Mm.PageSize))) return false;
        ReadOnlySpan<byte> d = Data;
        if (d.Length < 64 || d[0] != 0x7f || d[1] != 'E' || d[2] != 'L' || d[3] != 'F') return true;
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(d[32..]);
        ulong tableSize = (ulong)BinaryPrimitives.ReadUInt16LittleEndian(d[56..]) * 56;
        // Out-of-range headers are left for the parser to refuse.
        if (phoff > (ulong)d.Length || tableSize > (ulong)d.Length - phoff) return true;
        if (!entry.FillRange((long)phoff, (long)tableSize)) return false;
        for (ulong at = phoff; at < phoff + tableSize; at += 56)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(d[(int)at..]) != ProgramHeader.PT_INTERP) continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(d[(int)(at + 8)..]);
            ulong size = Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(d[(int)(at + 32)..]), 4096);
            if (offset <= (ulong)d.Length && size <= (ulong)d.Length - offset && !entry.FillRange((long)offset, (long)size)) return false;
        }
        return true;
    }

    /// <summary>Maps [fileOffset, +length) of the cached pages at addr (MAP_FIXED); false when
    /// the file is not cached (the caller copies instead).</summary>
    internal bool TryMapFromCache(MemoryManager mm, ulong addr, ulong length, int prot, long fileOffset, string name)
    {
        if (Cached is not { } entry || fileOffset + (long)length > entry.Pages.Length) return false;
        Interlocked.Increment(ref entry.Pages.Refs); // the mapping's own
        long r = mm.MapFromCache(addr, length, prot, Mm.MAP_PRIVATE | Mm.MAP_FIXED, entry, _cache!, fileOffset, name, Inode, Device);
        if (r < 0) throw new ElfFormatException($"cannot map a segment at 0x{addr:x}: {(Errno)(-r)}");
        return true;
    }

    public void Dispose()
    {
        if (Cached is { } entry) _cache!.Release(entry);
        Cached = null;
    }
}

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

    /// <summary>The stack's size at exec when RLIMIT_STACK allows it; it grows on faults below,
    /// up to the limit.</summary>
    public const ulong InitialStackSize = 8 << 20;

    /// <summary>The least room between the stack's top and where mmap starts placing mappings
    /// (Linux keeps at least 128 MiB there; more when RLIMIT_STACK is larger).</summary>
    private const ulong MinMmapGap = 256UL << 20;

    /// <summary>Loads the executable (and, for a dynamic one, its interpreter, read through
    /// readInterpreter) and builds the initial stack.</summary>
    /// <param name="stackLimit">RLIMIT_STACK's soft limit at exec: how far the stack may grow,
    /// and the layout (an unlimited stack selects Linux's legacy, bottom-up mmap layout).</param>
    public static LoadResult Load(MemoryManager mm, ReadOnlySpan<byte> file, ElfImage elf,
        IReadOnlyList<string> argv, IReadOnlyList<string> envp, string execFn, AuxCredentials creds,
        Func<string, LoadedFile?>? readInterpreter = null, LoadedFile? image = null, Vdso? vdso = null,
        ulong stackLimit = 8 << 20)
    {
        ulong bias = elf.IsPositionIndependent ? PieBase - MinLoadAddress(elf) : 0;
        var (imageEnd, phdrAddr) = MapSegments(mm, file, elf, bias, image?.Path ?? execFn, image?.Inode ?? 0, image);
        mm.SetBrkStart(imageEnd);

        // The stack sits at the top of the guest range and grows down on faults, up to the
        // limit; mmap places mappings below the room the limit asks for. PT_GNU_STACK with PF_X
        // makes the stack executable (nothing else: READ_IMPLIES_EXEC is not implied on x86-64).
        ulong stackTop = mm.MaxAddress - Mm.PageSize;
        ulong stackSize = InitialStack(stackLimit, argv, envp, execFn);
        int stackProt = Mm.PROT_READ | Mm.PROT_WRITE | (elf.ExecutableStack ? Mm.PROT_EXEC : 0);
        var stack = mm.MapFixed(stackTop - stackSize, stackSize, stackProt, "[stack]");
        stack.GrowsDown = true;
        mm.StackLimit = stackLimit;
        if (stackLimit == Rlimit.RLIM_INFINITY)
        {
            // Linux's legacy layout: upwards from a third of the address space.
            mm.BottomUp = true;
            mm.MmapBase = mm.MaxAddress / 3 & ~(Mm.PageSize - 1);
        }
        else
        {
            ulong gap = Math.Clamp(Math.Min(stackLimit, mm.MaxAddress) + MemoryManager.StackGuardGap, MinMmapGap, mm.MaxAddress / 6 * 5);
            mm.MmapBase = (stackTop - gap) & ~(Mm.PageSize - 1);
        }

        // A dynamic executable starts in its interpreter (ld.so), placed like an mmap.
        ulong entry = elf.Entry + bias, interpBase = 0;
        if (elf.Interpreter != null)
        {
            using var loaded = readInterpreter?.Invoke(elf.Interpreter)
                ?? throw new ElfFormatException($"cannot read the interpreter {elf.Interpreter}");
            ReadOnlySpan<byte> interpFile = loaded.Data;
            var interp = ElfImage.Parse(interpFile);
            if (interp.Interpreter != null || !interp.IsPositionIndependent)
                throw new ElfFormatException($"bad interpreter {elf.Interpreter}");
            ulong span = MemoryFile_AlignUp(MaxLoadEnd(interp) - MinLoadAddress(interp));
            long where = mm.Mmap(0, span, Mm.PROT_NONE, Mm.MAP_PRIVATE | Mm.MAP_ANONYMOUS);
            if (where < 0) throw new ElfFormatException("no room for the interpreter");
            mm.Munmap((ulong)where, span);
            interpBase = (ulong)where - MinLoadAddress(interp);
            MapSegments(mm, interpFile, interp, interpBase, loaded.Path, loaded.Inode, loaded);
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
                // Shown as private, as Linux does; but these pages are the same for every process
                // (and the Sentry keeps the data page current), so they may never become writable:
                // mprotect(PROT_WRITE) gets EACCES rather than Linux's private copy.
                if (mm.Find(vdsoBase) is { } v) { v.Name = "[vdso]"; v.Shared = false; v.WriteDenied = true; }
                if (mm.Find((ulong)where) is { } vv) { vv.Shared = false; vv.WriteDenied = true; }
            }
        }

        var aux = new List<(ulong, ulong)>
        {
            (Auxv.AT_PHDR, phdrAddr), (Auxv.AT_PHENT, 56), (Auxv.AT_PHNUM, (ulong)elf.ProgramHeaders.Count),
            (Auxv.AT_PAGESZ, Mm.PageSize), (Auxv.AT_BASE, interpBase), (Auxv.AT_FLAGS, 0), (Auxv.AT_ENTRY, elf.Entry + bias),
            (Auxv.AT_UID, creds.Uid), (Auxv.AT_EUID, creds.Euid), (Auxv.AT_GID, creds.Gid), (Auxv.AT_EGID, creds.Egid),
            (Auxv.AT_SECURE, 0), (Auxv.AT_HWCAP, HwCap()), (Auxv.AT_HWCAP2, 0), (Auxv.AT_CLKTCK, 100),
            (Auxv.AT_MINSIGSTKSZ, (ulong)Kernel.SignalFrame.MinStackSize),
        };
        if (vdsoBase != 0) aux.Add((Auxv.AT_SYSINFO_EHDR, vdsoBase));
        ulong sp = BuildStack(mm, stackTop, argv, envp, execFn, aux);
        return new LoadResult(entry, sp);
    }

    /// <summary>Maps an image's PT_LOAD segments at bias; returns the end of the image and the
    /// address of its program headers.</summary>
    private static (ulong End, ulong Phdr) MapSegments(MemoryManager mm, ReadOnlySpan<byte> file, ElfImage elf, ulong bias, string name, ulong inode,
        LoadedFile? source)
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
            long mapFileOffset = (long)((ph.Offset & ~(Mm.PageSize - 1)) + (mapStart - start));
            // Read-only segments without bss map the file cache's pages (nothing copied); the
            // rest get pages of their own holding a copy.
            bool cached = fileEnd > mapStart && (prot & Mm.PROT_WRITE) == 0 && ph.FileSize == ph.MemSize
                && source != null && source.TryMapFromCache(mm, mapStart, fileEnd - mapStart, prot, mapFileOffset, name);
            if (!cached && fileEnd > mapStart)
                mm.MapFixed(mapStart, fileEnd - mapStart, prot, name, mapFileOffset, inode, source?.Device ?? 0);
            ulong anonStart = Math.Max(mapStart, fileEnd);
            if (end > anonStart) mm.MapFixed(anonStart, end - anonStart, prot, null);
            if (start < mapStart)
            {
                // A page shared with the previous segment gets this one's bytes written too: it
                // must be a private page, not the cache's.
                mm.MakePrivate(start, Math.Min(end, mapStart) - start);
                if (mm.Find(start) is { } shared && (shared.Prot | prot) != shared.Prot)
                    mm.Mprotect(start, Math.Min(end, mapStart) - start, shared.Prot | prot);
            }
            // Only the bytes copied are read here; the mapped ones on first use.
            ulong vaddr = ph.Vaddr + bias;
            ulong copied = cached ? (vaddr < mapStart ? Math.Min(ph.FileSize, mapStart - vaddr) : 0) : ph.FileSize;
            if (copied > 0)
            {
                if (source != null && !source.Require((long)ph.Offset, (long)copied))
                    throw new ElfFormatException("cannot read a segment of the file");
                WriteKernel(mm, vaddr, file.Slice((int)ph.Offset, (int)copied));
            }
            imageEnd = Math.Max(imageEnd, end);
            if (elf.PhdrOffset >= ph.Offset && elf.PhdrOffset < ph.Offset + ph.FileSize)
                phdrAddr = ph.Vaddr + bias + (elf.PhdrOffset - ph.Offset);
        }
        foreach (var ph in elf.ProgramHeaders)
            if (ph.Type == ProgramHeader.PT_PHDR) phdrAddr = ph.Vaddr + bias;
        return (imageEnd, phdrAddr);
    }

    /// <summary>The stack mapped at exec: 8 MiB, or less when the limit is lower, but always
    /// room for the arguments, environment and auxiliary vector (with some to spare).</summary>
    private static ulong InitialStack(ulong limit, IReadOnlyList<string> argv, IReadOnlyList<string> envp, string execFn)
    {
        ulong strings = (ulong)Encoding.UTF8.GetByteCount(execFn) + 1;
        foreach (string a in argv) strings += (ulong)Encoding.UTF8.GetByteCount(a) + 1;
        foreach (string e in envp) strings += (ulong)Encoding.UTF8.GetByteCount(e) + 1;
        ulong needed = strings + 8 * (ulong)(argv.Count + envp.Count + 64) + (128 << 10);
        return MemoryFile_AlignUp(Math.Max(needed, Math.Min(limit, InitialStackSize)));
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
        ulong randomAddr = PushBytes(Sandbox.Abi.Host.Entropy.GetBytes(16));

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
