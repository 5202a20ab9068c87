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
    /// <summary>A stack (the main thread's, or MAP_GROWSDOWN): a fault just below it grows it,
    /// within RLIMIT_STACK and a guard gap from the mapping below.</summary>
    public bool GrowsDown;
    /// <summary>MADV_DONTFORK: a forked child does not get this range at all.</summary>
    public bool DontFork;
    /// <summary>MADV_WIPEONFORK (private anonymous memory only): a forked child gets zero pages here.</summary>
    public bool WipeOnFork;
    /// <summary>A range of a shared mapping past the end of what backs it (the file's end, or
    /// the end of a duplicated shared memory object): no pages are held or installed, and an
    /// access raises SIGBUS. For file pages (<see cref="Pages"/>), pages the file has grown to
    /// cover since are filled in on the next access.</summary>
    public bool BeyondEof;
    /// <summary>MemoryFile offset of the page at <see cref="Start"/>.</summary>
    public long FileOffset;
    /// <summary>What /proc/self/maps shows: a path, "[heap]", "[stack]", or null.</summary>
    public string? Name;
    /// <summary>For MAP_SHARED file mappings: the file and the file offset of Start, so that
    /// msync and munmap can write the pages back.</summary>
    public Vfs.Inode? File;
    public long FilePosition;

    /// <summary>The pages belong to a file (a tmpfs file's own pages, shared, or private until
    /// written): never freed here.</summary>
    public bool FileOwned;

    /// <summary>For mappings of a file kept in MemoryFile pages (tmpfs, and the vDSO): the file's
    /// pages, so the mapping can be duplicated, filled in after the file grew, or cut back when
    /// it shrinks; F_SEAL_WRITE looks for shared ones that could write it. A private mapping maps
    /// them too until it writes a page (copy-on-write, see <see cref="IsCopyOnWrite"/>); its
    /// copies keep this so MADV_DONTNEED can go back to them.</summary>
    public Vfs.IMappablePages? Pages;

    /// <summary>mprotect may not add PROT_WRITE (Linux's VM_MAYWRITE clear): a shared mapping of
    /// a file not open for writing, or sealed against writes, and the vDSO.</summary>
    public bool WriteDenied;

    /// <summary>What /proc/[pid]/maps shows for file-backed memory: the file offset of Start,
    /// the file's inode number and the device of its file system (st_dev).</summary>
    public long MapOffset;
    public ulong MapInode;
    public ulong MapDev;

    /// <summary>A private mapping of a file's pages in the <see cref="FileCache"/> (read-only in
    /// the stub, shared by every process that maps the file; <see cref="Backing"/> holds the
    /// reference). Made private before anything writes to it.</summary>
    public bool FromFileCache;

    /// <summary>For <see cref="FromFileCache"/> pieces: the entry, which reads the file's pages
    /// as they are first used.</summary>
    public FileCache.Entry? Cache;

    /// <summary>A <see cref="FromFileCache"/> piece not installed in the platform yet: the first
    /// access fills the cache's pages around it and installs those filled.</summary>
    public bool Lazy;

    /// <summary>For a private copy of file-cache pages (made when the mapping became writable):
    /// the cache pages it was copied from (one reference per piece), which MADV_DONTNEED reverts
    /// to, as Linux drops a private file page back to the file's bytes.</summary>
    public MemoryManager.SharedPages? CacheOrigin;

    /// <summary>Pages of our own (<see cref="OwnsPages"/>) that a fork may have left shared with
    /// another address space (see <see cref="PageRefs"/>): installed without PROT_WRITE, and a
    /// write takes them over in place if no one else holds them any more, or copies them.</summary>
    public bool Cow;

    /// <summary>For shared mappings that outlived a fork: the reference-counted pages.</summary>
    public MemoryManager.SharedPages? Backing;

    public ulong Length => End - Start;

    /// <summary>Pages are installed in the platform for this piece.</summary>
    public bool Installed => !BeyondEof && !Lazy;

    /// <summary>A private mapping's pages that are still the file's: they show later changes to
    /// the file, and are installed without PROT_WRITE; a write copies the page first.</summary>
    public bool IsCopyOnWrite => Pages != null && !Shared && FileOwned && !BeyondEof;

    /// <summary>The protection the platform has for the pages.</summary>
    public int InstalledProt => IsCopyOnWrite || Cow ? Prot & ~Abi.Mm.PROT_WRITE : Prot;

    /// <summary>The pages are this address space's own (private memory, or private copies of a
    /// file's): reference-counted in <see cref="PageRefs"/>, shared copy-on-write by fork.</summary>
    public bool OwnsPages => Backing == null && !FileOwned && !BeyondEof;

    /// <summary>Private memory that belongs to no file (what MADV_WIPEONFORK accepts).</summary>
    public bool IsPrivateAnonymous => !Shared && MapInode == 0 && !FileOwned && !FromFileCache && CacheOrigin == null && !BeyondEof;

    public long OffsetOf(ulong addr) => FileOffset + (long)(addr - Start);

    public Vma CloneRange(ulong start, ulong end) => new()
    {
        Start = start,
        End = end,
        Prot = Prot,
        Shared = Shared,
        GrowsDown = GrowsDown,
        DontFork = DontFork,
        WipeOnFork = WipeOnFork,
        BeyondEof = BeyondEof,
        Pages = Pages,
        FileOffset = BeyondEof ? 0 : OffsetOf(start),
        Name = Name,
        Backing = AddRef(Backing),
        CacheOrigin = AddRef(CacheOrigin),
        File = File,
        FilePosition = FilePosition + (long)(start - Start),
        MapOffset = (Name != null && MapInode != 0) || Pages != null ? MapOffset + (long)(start - Start) : 0,
        MapInode = MapInode,
        MapDev = MapDev,
        FileOwned = FileOwned,
        WriteDenied = WriteDenied,
        FromFileCache = FromFileCache,
        Cache = Cache,
        Lazy = Lazy,
        Cow = Cow,
    };

    private static MemoryManager.SharedPages? AddRef(MemoryManager.SharedPages? b)
    {
        if (b != null) Interlocked.Increment(ref b.Refs);
        return b;
    }

    public override string ToString() =>
        $"{Start:x}-{End:x} prot={Prot} off={FileOffset:x} {Name}{(GrowsDown ? " growsdown" : "")}{(DontFork ? " dontfork" : "")}{(WipeOnFork ? " wipeonfork" : "")}{(BeyondEof ? " beyond-eof" : "")}{(Cow ? " cow" : "")}{(Lazy ? " lazy" : "")}";
}
