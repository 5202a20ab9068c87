namespace Sandbox.Sentry.Memory;

/// <summary>A virtual memory area: [Start, End) of guest addresses backed by the contiguous
/// MemoryFile range starting at <see cref="FileOffset"/>.</summary>
public sealed class Vma
{
    public ulong Start;
    public ulong End;
    public int Prot;
    /// <summary>MAP_SHARED semantics (matters once fork shares pages).</summary>
    public bool Shared;
    public bool GrowsDown;
    /// <summary>MemoryFile offset of the page at <see cref="Start"/>.</summary>
    public long FileOffset;
    /// <summary>What /proc/self/maps shows: a path, "[heap]", "[stack]", or null.</summary>
    public string? Name;
    /// <summary>For MAP_SHARED file mappings: the file and the file offset of Start, so that
    /// msync and munmap can write the pages back.</summary>
    public Vfs.Inode? File;
    public long FilePosition;

    /// <summary>The pages belong to a file (a shared mapping of a tmpfs file): never freed here.</summary>
    public bool FileOwned;

    /// <summary>For a shared mapping of a file's own pages: the file (F_SEAL_WRITE looks for
    /// mappings that could write it).</summary>
    public Vfs.IMappablePages? Pages;

    /// <summary>mprotect may not add PROT_WRITE (Linux's VM_MAYWRITE clear): a shared mapping of
    /// a file not open for writing, or sealed against writes.</summary>
    public bool WriteDenied;

    /// <summary>What /proc/[pid]/maps shows for file-backed memory: the file offset of Start
    /// and the file's inode number.</summary>
    public long MapOffset;
    public ulong MapInode;

    /// <summary>A private mapping of a file's pages in the <see cref="FileCache"/> (read-only in
    /// the stub, shared by every process that maps the file; <see cref="Backing"/> holds the
    /// reference). Made private before anything writes to it.</summary>
    public bool FromFileCache;

    /// <summary>For a private copy of file-cache pages (made when the mapping became writable):
    /// the cache pages it was copied from (one reference per piece), which MADV_DONTNEED reverts
    /// to, as Linux drops a private file page back to the file's bytes.</summary>
    public MemoryManager.SharedPages? CacheOrigin;

    /// <summary>For shared mappings that outlived a fork: the reference-counted pages.</summary>
    public MemoryManager.SharedPages? Backing;

    public ulong Length => End - Start;

    public long OffsetOf(ulong addr) => FileOffset + (long)(addr - Start);

    public Vma CloneRange(ulong start, ulong end) => new()
    {
        Start = start,
        End = end,
        Prot = Prot,
        Shared = Shared,
        GrowsDown = GrowsDown,
        FileOffset = OffsetOf(start),
        Name = Name,
        Backing = AddRef(Backing),
        CacheOrigin = AddRef(CacheOrigin),
        File = File,
        FilePosition = FilePosition + (long)(start - Start),
        MapOffset = Name != null && MapInode != 0 ? MapOffset + (long)(start - Start) : 0,
        MapInode = MapInode,
        FileOwned = FileOwned,
        Pages = Pages,
        WriteDenied = WriteDenied,
        FromFileCache = FromFileCache,
    };

    private static MemoryManager.SharedPages? AddRef(MemoryManager.SharedPages? b)
    {
        if (b != null) Interlocked.Increment(ref b.Refs);
        return b;
    }

    public override string ToString() => $"{Start:x}-{End:x} prot={Prot} off={FileOffset:x} {Name}";
}
