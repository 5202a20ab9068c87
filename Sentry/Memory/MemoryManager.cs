using Sandbox.Abi;
using Sandbox.Platform;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Memory;

/// <summary>A guest address space as the Sentry sees it: the VMAs, the heap break, and the
/// platform address space where every change is installed. Anonymous memory is backed
/// eagerly by MemoryFile ranges (sparse, so untouched pages cost nothing) and installed
/// with one injected mmap per VMA, so faults only happen on truly bad accesses.</summary>
public sealed unsafe partial class MemoryManager : IDisposable
{
    /// <summary>Lowest address a guest mapping may use (vm.mmap_min_addr).</summary>
    public const ulong MinAddress = 0x10000;

    private readonly List<Vma> _vmas = []; // sorted by Start, non-overlapping
    private readonly Lock _lock = new();
    private readonly MemoryFile _file;
    private readonly PageRefs _refs;
    /// <summary>Tells address spaces apart in private futex keys.</summary>
    private readonly ulong _serial;
    private static long _serials;

    public IAddressSpace AddressSpace { get; private set; }
    public ulong MaxAddress { get; }

    /// <summary>Top of the region where mmap places mappings without a usable hint (the
    /// bottom of it with <see cref="BottomUp"/>).</summary>
    public ulong MmapBase { get; set; }

    /// <summary>Linux's legacy layout (an unlimited RLIMIT_STACK at exec): mmap searches upwards
    /// from <see cref="MmapBase"/> instead of downwards from it.</summary>
    public bool BottomUp { get; set; }

    /// <summary>Where the loader put argv and envp strings (for /proc/[pid]/cmdline and environ).</summary>
    public ulong ArgStart { get; set; }
    public ulong ArgEnd { get; set; }
    public ulong EnvStart { get; set; }
    public ulong EnvEnd { get; set; }

    /// <summary>The executable's path as loaded (for /proc/[pid]/exe).</summary>
    public string? ExecutablePath { get; set; }

    public ulong BrkStart { get; private set; }
    public ulong Brk { get; private set; }

    /// <summary>Returns a piece's pages: freed now, or (for pages shared after fork) when the
    /// last piece referencing them goes.</summary>
    private void ReleasePages(Vma v, ulong start, ulong end)
    {
        if (v.FileOwned || v.BeyondEof) return;
        if (v.Backing is { } b)
        {
            Unref(b);
            return;
        }
        _refs.Release(v.OffsetOf(start), (long)(end - start));
        if (v.CacheOrigin is { } origin) Unref(origin);
    }

    /// <summary>Frees the part [start, end) of a piece that is being cut back; pages shared with
    /// other pieces (or a file's) stay until their last piece goes.</summary>
    private void FreePart(Vma v, ulong start, ulong end)
    {
        if (v.OwnsPages) _refs.Release(v.OffsetOf(start), (long)(end - start));
    }

    private void Unref(SharedPages pages)
    {
        if (Interlocked.Decrement(ref pages.Refs) == 0) _file.Free(pages.Offset, pages.Length);
    }

    public MemoryManager(IAddressSpace addressSpace, MemoryFile file, ulong maxAddress)
    {
        AddressSpace = addressSpace;
        _file = file;
        _refs = PageRefs.For(file);
        _serial = (ulong)Interlocked.Increment(ref _serials);
        MaxAddress = maxAddress;
        MmapBase = maxAddress;
    }

    public IReadOnlyList<Vma> Vmas => _vmas;

    private int _users = 1;
    private readonly ManualResetEventSlim _soleUser = new(false);

    /// <summary>Whether more than one task uses the address space.</summary>
    public bool Shared => Volatile.Read(ref _users) > 1;

    /// <summary>Another task shares this address space (CLONE_VM).</summary>
    public void AddUser() => Interlocked.Increment(ref _users);

    /// <summary>A task stopped using it (after its own platform thread has exited); true for
    /// the last one, which disposes it.</summary>
    public bool RemoveUser()
    {
        int left = Interlocked.Decrement(ref _users);
        if (left == 1) _soleUser.Set();
        return left == 0;
    }

    /// <summary>For the task on the address space's main platform thread, which must outlive
    /// the others (on ptrace its tracer's exit would kill the whole stub): waits, still holding
    /// its own reference, until every other user has let go, then drops it and disposes the
    /// address space. Another thread of a process whose main thread left may still clone new
    /// users meanwhile; they are waited for too.</summary>
    public void ReleaseAsMainUser()
    {
        while (true)
        {
            _soleUser.Reset();
            // Reset before the check: a RemoveUser that leaves us alone after it sets the event.
            if (Interlocked.CompareExchange(ref _users, 0, 1) == 1)
            {
                Dispose();
                return;
            }
            if (Volatile.Read(ref _users) <= 0) return; // a user that was not counted disposed it
            _soleUser.Wait();
        }
    }

    // ---- lookup -------------------------------------------------------------------------

    /// <summary>Index of the first VMA whose End is above addr (the one containing addr, or
    /// the next one above it); _vmas.Count if none.</summary>
    private int IndexAbove(ulong addr)
    {
        int lo = 0, hi = _vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_vmas[mid].End <= addr) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    public Vma? Find(ulong addr)
    {
        lock (_lock)
        {
            int i = IndexAbove(addr);
            return i < _vmas.Count && _vmas[i].Start <= addr ? _vmas[i] : null;
        }
    }

    private bool RangeIsFree(ulong start, ulong end)
    {
        int i = IndexAbove(start);
        return i == _vmas.Count || _vmas[i].Start >= end;
    }

    /// <summary>Where a mapping's lowest address is, counting the guard gap a stack keeps below
    /// itself (Linux's vm_start_gap): mmap leaves that room free for the stack to grow into.</summary>
    private static ulong StartGap(Vma v) =>
        !v.GrowsDown ? v.Start : v.Start > StackGuardGap ? v.Start - StackGuardGap : 0;

    /// <summary>Free, and clear of the guard gap below a stack (for placement and brk).</summary>
    private bool RangeIsFreeWithGaps(ulong start, ulong end)
    {
        int i = IndexAbove(start);
        return i == _vmas.Count || (_vmas[i].Start >= end && StartGap(_vmas[i]) >= end);
    }

    /// <summary>Finds a free range of length bytes where mmap puts mappings without a usable
    /// hint: top-down below MmapBase (Linux's layout), or bottom-up above it (the legacy
    /// layout). 0 when nothing fits.</summary>
    private ulong FindFree(ulong length) => BottomUp ? FindFreeBottomUp(length) : FindFreeTopDown(length);

    private ulong FindFreeTopDown(ulong length)
    {
        // Gap i lies below VMA i (between VMA i-1 and it); the highest one that reaches below
        // MmapBase is the gap under the first VMA ending above MmapBase.
        for (int i = IndexAbove(MmapBase); i >= 0; i--)
        {
            ulong top = Math.Min(i < _vmas.Count ? StartGap(_vmas[i]) : MaxAddress, MmapBase);
            ulong floor = i > 0 ? _vmas[i - 1].End : MinAddress;
            if (top > floor && top - floor >= length) return top - length;
        }
        return 0;
    }

    private ulong FindFreeBottomUp(ulong length)
    {
        for (int i = IndexAbove(MmapBase); i <= _vmas.Count; i++)
        {
            ulong floor = Math.Max(i > 0 ? _vmas[i - 1].End : MinAddress, MmapBase);
            ulong top = i < _vmas.Count ? StartGap(_vmas[i]) : MaxAddress;
            if (top > floor && top - floor >= length) return floor;
        }
        return 0;
    }

    // ---- changes ------------------------------------------------------------------------

    private void Insert(Vma vma)
    {
        int i = IndexAbove(vma.Start);
        _vmas.Insert(i, vma);
    }

    /// <summary>Removes [start, end) from the VMA list, splitting VMAs at the edges, and frees
    /// the MemoryFile pages behind it. Does not touch the platform (callers unmap or replace).</summary>
    private void RemoveRange(ulong start, ulong end)
    {
        int i = IndexAbove(start);
        while (i < _vmas.Count && _vmas[i].Start < end)
        {
            Vma v = _vmas[i];
            ulong cutStart = Math.Max(v.Start, start), cutEnd = Math.Min(v.End, end);
            if (v.Start < cutStart && v.End > cutEnd)
            {
                // Punch a hole in the middle: keep both sides (the tail is a new piece).
                Vma tail = v.CloneRange(cutEnd, v.End);
                FreePart(v, cutStart, cutEnd);
                v.End = cutStart;
                _vmas.Insert(i + 1, tail);
                return;
            }
            if (v.Start < cutStart || v.End > cutEnd)
            {
                // Trim one side; shared pages stay until their last piece goes.
                FreePart(v, cutStart, cutEnd);
                if (v.Start < cutStart) { v.End = cutStart; i++; continue; }
                AdvanceStart(v, cutEnd);
                return;
            }
            ReleasePages(v, cutStart, cutEnd);
            _vmas.RemoveAt(i);
        }
    }

    /// <summary>Moves a VMA's start up, keeping its backing and file positions in step.</summary>
    private static void AdvanceStart(Vma v, ulong newStart)
    {
        long delta = (long)(newStart - v.Start);
        if (!v.BeyondEof) v.FileOffset += delta;
        v.FilePosition += delta;
        if (v.MapInode != 0 || v.Pages != null) v.MapOffset += delta;
        v.Start = newStart;
    }

    /// <summary>Splits VMAs so that addr is a boundary (no-op if it already is or is unmapped).</summary>
    private void SplitAt(ulong addr)
    {
        int i = IndexAbove(addr);
        if (i == _vmas.Count) return;
        Vma v = _vmas[i];
        if (v.Start >= addr) return;
        Vma tail = v.CloneRange(addr, v.End);
        v.End = addr;
        _vmas.Insert(i + 1, tail);
    }

    /// <summary>Creates anonymous memory at a fixed address and installs it. Shared memory is
    /// one object (<see cref="Vma.Backing"/>) from the start, so that pieces split off it, copies
    /// made by fork and duplicates made by mremap all keep its pages alive. The piece takes the
    /// stack and fork attributes of <paramref name="like"/>, if given.</summary>
    private Vma MapAnonymous(ulong addr, ulong length, int prot, bool shared, string? name, Vma? like = null)
    {
        bool growsDown = like?.GrowsDown ?? false, dontFork = like?.DontFork ?? false, wipeOnFork = like?.WipeOnFork ?? false;
        // Extend the VMA just below when it is alike and its file range can grow in place
        // (the common case for brk and for growing mremap).
        int below = IndexAbove(addr) - 1;
        if (below >= 0 && !shared)
        {
            Vma prev = _vmas[below];
            if (prev.End == addr && prev.Prot == prot && !prev.Shared && prev.Name == name && prev.MapInode == 0
                && !prev.FromFileCache && !prev.FileOwned && prev.Backing == null && prev.CacheOrigin == null && !prev.BeyondEof && !prev.Cow
                && prev.GrowsDown == growsDown && prev.DontFork == dontFork && prev.WipeOnFork == wipeOnFork
                && _file.TryAllocateAt(prev.OffsetOf(addr), (long)length))
            {
                prev.End = addr + length;
                AddressSpace.Map(addr, length, prev.OffsetOf(addr), prot);
                return prev;
            }
        }
        var vma = new Vma
        {
            Start = addr,
            End = addr + length,
            Prot = prot,
            Shared = shared,
            Name = name,
            FileOffset = _file.Allocate((long)length),
            GrowsDown = growsDown,
            DontFork = dontFork,
            WipeOnFork = wipeOnFork,
        };
        if (shared) vma.Backing = new SharedPages(vma.FileOffset, (long)length);
        Insert(vma);
        AddressSpace.Map(addr, length, vma.FileOffset, prot);
        return vma;
    }

    private static readonly Vma GrowsDownLike = new() { GrowsDown = true };

    /// <summary>Maps anonymous memory for the loader or the kernel itself (no syscall checks).</summary>
    public Vma MapFixed(ulong addr, ulong length, int prot, string? name, long mapOffset = 0, ulong mapInode = 0, ulong mapDev = 0)
    {
        lock (_lock)
        {
            RemoveRange(addr, addr + length);
            var v = MapAnonymous(addr, length, prot, shared: false, name);
            if (mapInode != 0 && v.Start == addr)
            {
                v.MapOffset = mapOffset;
                v.MapInode = mapInode;
                v.MapDev = mapDev;
            }
            return v;
        }
    }

    /// <summary>Implements the anonymous part of mmap(2); returns the address or -errno.</summary>
    public long Mmap(ulong addr, ulong length, int prot, int flags)
    {
        long bad = CheckMmap(addr, length, prot, flags);
        if (bad < 0) return bad;
        ulong len = MemoryFile.AlignUp(length);
        bool shared = (flags & MAP_TYPE) != MAP_PRIVATE;
        lock (_lock)
        {
            long where = PlaceLocked(addr, len, flags, out _);
            if (where < 0) return where;
            // A stack-like mapping: a fault just below it grows it.
            MapAnonymous((ulong)where, len, prot, shared, name: null, (flags & MAP_GROWSDOWN) != 0 ? GrowsDownLike : null);
            return where;
        }
    }

    /// <summary>mmap's checks of its arguments: 0 or -errno.</summary>
    private long CheckMmap(ulong addr, ulong length, int prot, int flags)
    {
        if (length == 0) return -(long)Errno.EINVAL;
        if ((addr & (PageSize - 1)) != 0 && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) return -(long)Errno.EINVAL;
        ulong len = MemoryFile.AlignUp(length);
        if (len == 0 || len > MaxAddress) return -(long)Errno.ENOMEM;
        int type = flags & MAP_TYPE;
        if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE) return -(long)Errno.EINVAL;
        if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) return -(long)Errno.EINVAL;
        if (type != MAP_PRIVATE && (flags & MAP_GROWSDOWN) != 0) return -(long)Errno.EINVAL;
        return 0;
    }

    /// <summary>Where a new mapping of len bytes goes (MAP_FIXED rules, the hint, or a free
    /// range), with what was there removed; -errno if nowhere. <paramref name="replaced"/>: pages
    /// were installed there (the caller must replace or unmap them in the platform).</summary>
    private long PlaceLocked(ulong addr, ulong len, int flags, out bool replaced)
    {
        replaced = false;
        if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0)
        {
            if (addr < MinAddress && addr + len > 0) return -(long)Errno.EPERM;
            if (addr + len > MaxAddress || addr + len < addr) return -(long)Errno.ENOMEM;
            if ((flags & MAP_FIXED_NOREPLACE) != 0 && !RangeIsFree(addr, addr + len))
                return -(long)Errno.EEXIST;
            for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < addr + len && !replaced; i++)
                replaced = _vmas[i].Installed;
            RemoveRange(addr, addr + len);
            return (long)addr;
        }
        ulong hint = addr & ~(PageSize - 1);
        if (hint >= MinAddress && hint + len <= MaxAddress && hint + len > hint && RangeIsFreeWithGaps(hint, hint + len))
            return (long)hint;
        ulong where = FindFree(len);
        return where == 0 ? -(long)Errno.ENOMEM : (long)where;
    }

    /// <summary>Maps a file. A file kept in MemoryFile pages (tmpfs) is mapped by its own pages
    /// (<see cref="MapFilePages"/>); any other gets a copy of its data (private mappings are
    /// copy-on-write in effect; shared ones are written back by msync, munmap and exit). A shared
    /// mapping's pages wholly past the end of the file raise SIGBUS.
    /// denyWrite: a shared mapping that mprotect may not make writable.</summary>
    public long MmapFile(ulong addr, ulong length, int prot, int flags, Vfs.Inode inode, long offset, string name,
        bool denyWrite = false)
    {
        if (inode.SharedPages is { } pages)
            return MapFilePages(addr, length, prot, flags, pages, offset, name, inode.Ino, inode.FileSystem.DeviceId, denyWrite);
        long r = Mmap(addr, length, prot, flags);
        if (r < 0) return r;
        ulong start = (ulong)r, len = MemoryFile.AlignUp(length);
        lock (_lock)
        {
            SplitAt(start);
            SplitAt(start + len);
            for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < start + len; i++)
            {
                Vma v = _vmas[i];
                v.Name = name;
                v.MapInode = inode.Ino;
                v.MapDev = inode.FileSystem.DeviceId;
                v.MapOffset = offset + (long)(v.Start - start);
                if ((flags & MAP_TYPE) != MAP_PRIVATE)
                {
                    v.File = inode;
                    v.FilePosition = offset + (long)(v.Start - start);
                    v.WriteDenied = denyWrite;
                }
            }
        }
        // Fill the pages from the file (past its end they stay zero, as Linux shows them).
        long want = Math.Min((long)len, Math.Max(0, inode.Size - offset));
        long done = 0;
        var buffer = new byte[Math.Min(want, 1 << 20)];
        while (done < want)
        {
            long n = inode.ReadData(offset + done, buffer.AsSpan(0, (int)Math.Min(buffer.Length, want - done)));
            if (n <= 0) break;
            if (CopyOutKernel(start + (ulong)done, buffer.AsSpan(0, (int)n)) < 0) break;
            done += n;
        }
        if ((flags & MAP_TYPE) != MAP_PRIVATE)
        {
            ulong inFile = (ulong)Math.Max(0, (long)MemoryFile.AlignUp((ulong)Math.Max(0, inode.Size)) - offset);
            if (inFile < len)
            {
                lock (_lock)
                {
                    MakeBeyondEofLocked(start + inFile, start + len);
                    AddressSpace.Unmap(start + inFile, len - inFile);
                }
            }
        }
        return r;
    }

    /// <summary>Maps [fileOffset, +length) of a file from its pages in the <see cref="FileCache"/>
    /// as a private mapping that is never written in place (prot must not include PROT_WRITE;
    /// mprotect makes a private copy first). Takes over the caller's reference on the entry,
    /// also when it fails. A mapping longer than the file gets zero pages past the end (ld.so
    /// reserves a library's whole span with its first mmap). Pages already in the cache are
    /// installed now, the others on first access (<see cref="FaultCacheLocked"/>). Returns the
    /// address or -errno.</summary>
    public long MapFromCache(ulong addr, ulong length, int prot, int flags, FileCache.Entry entry, FileCache cache,
        long fileOffset, string name, ulong ino, ulong dev = 0)
    {
        ulong len = MemoryFile.AlignUp(length);
        flags = (flags & ~MAP_TYPE) | MAP_PRIVATE;
        long bad = CheckMmap(addr, length, prot, flags);
        if (bad < 0 || (prot & PROT_WRITE) != 0 || fileOffset < 0 || (fileOffset & (long)(PageSize - 1)) != 0
            || fileOffset >= entry.Pages.Length)
        {
            cache.Release(entry);
            return bad < 0 ? bad : -(long)Errno.EINVAL;
        }
        lock (_lock)
        {
            long r = PlaceLocked(addr, len, flags, out bool replaced);
            if (r < 0)
            {
                cache.Release(entry);
                return r;
            }
            ulong start = (ulong)r;
            ulong cachedLen = Math.Min(len, (ulong)(entry.Pages.Length - fileOffset));
            // What was mapped here leaves the platform; the cached pages come in as they are filled.
            if (replaced) AddressSpace.Unmap(start, cachedLen);
            var vma = new Vma
            {
                Start = start,
                End = start + cachedLen,
                Prot = prot,
                Name = name,
                FileOffset = entry.Pages.Offset + fileOffset,
                Backing = entry.Pages,
                FromFileCache = true,
                Cache = entry,
                Lazy = true,
                MapInode = ino,
                MapDev = dev,
                MapOffset = fileOffset,
            };
            Insert(vma);
            if (cachedLen < len) MapAnonymous(start + cachedLen, len - cachedLen, prot, shared: false, name: null);
            InstallFilledLocked(start, start + cachedLen);
            return r;
        }
    }

    /// <summary>The page of its file cache entry that address addr of piece v maps.</summary>
    private static long CachePage(Vma v, ulong addr) => (v.OffsetOf(addr) - v.Cache!.Pages.Offset) / (long)PageSize;

    /// <summary>Installs the runs of already filled cache pages of the lazy pieces in [start, end).</summary>
    private void InstallFilledLocked(ulong start, ulong end)
    {
        ulong at = start;
        while (at < end)
        {
            int i = IndexAbove(at);
            if (i == _vmas.Count || _vmas[i].Start >= end) return;
            Vma v = _vmas[i];
            at = Math.Max(at, v.Start);
            ulong pieceEnd = Math.Min(v.End, end);
            if (!v.Lazy)
            {
                at = pieceEnd;
                continue;
            }
            long first = CachePage(v, at), last = CachePage(v, pieceEnd), p = first;
            while (p < last && !v.Cache!.IsFilled(p)) p++;
            if (p == last)
            {
                at = pieceEnd;
                continue;
            }
            ulong s = at + (ulong)(p - first) * PageSize;
            ulong e = s + (ulong)(v.Cache!.FilledTo(p, last) - p) * PageSize;
            InstallCacheRunLocked(s, e);
            at = e;
        }
    }

    /// <summary>Installs [start, end) of a lazy cache piece (pages filled) and joins it with the
    /// installed pieces of the same mapping around it.</summary>
    private void InstallCacheRunLocked(ulong start, ulong end)
    {
        SplitAt(start);
        SplitAt(end);
        int i = IndexAbove(start);
        Vma v = _vmas[i];
        v.Lazy = false;
        AddressSpace.Map(start, end - start, v.FileOffset, v.InstalledProt);
        if (i + 1 < _vmas.Count && CacheJoinable(v, _vmas[i + 1])) JoinNext(i);
        if (i > 0 && CacheJoinable(_vmas[i - 1], v)) JoinNext(i - 1);
    }

    /// <summary>Two adjacent pieces of one mapping of the file cache's pages, alike in all but size.</summary>
    private static bool CacheJoinable(Vma a, Vma b) =>
        a.End == b.Start && a.FromFileCache && b.FromFileCache && a.Backing == b.Backing && a.Lazy == b.Lazy
        && a.OffsetOf(a.End) == b.FileOffset && a.Prot == b.Prot && a.Name == b.Name && a.MapInode == b.MapInode
        && a.MapDev == b.MapDev && a.DontFork == b.DontFork && a.WipeOnFork == b.WipeOnFork && a.GrowsDown == b.GrowsDown
        && a.WriteDenied == b.WriteDenied && !a.Cow && !b.Cow && !a.Shared && !b.Shared;

    /// <summary>Joins piece i+1 into piece i (their references on the cache pages become one).</summary>
    private void JoinNext(int i)
    {
        Vma next = _vmas[i + 1];
        _vmas[i].End = next.End;
        _vmas.RemoveAt(i + 1);
        Unref(next.Backing!);
    }

    /// <summary>Gives the file-cache pages in [addr, +length) private copies (the loader writes
    /// into a page two segments share).</summary>
    public void MakePrivate(ulong addr, ulong length)
    {
        lock (_lock)
        {
            ulong end = addr + MemoryFile.AlignUp(length);
            SplitAt(addr);
            SplitAt(end);
            for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                if (_vmas[i].FromFileCache) MakePrivateLocked(_vmas[i], _vmas[i].Prot);
        }
    }

    /// <summary>Replaces a file-cache piece by a private copy of its pages, installed with prot.
    /// (Pages the file no longer has, when it shrank on the host, are copied as zeros.)</summary>
    private void MakePrivateLocked(Vma v, int prot)
    {
        for (long p = CachePage(v, v.Start), last = CachePage(v, v.End); p < last; p++) v.Cache!.Fill(p);
        long copy = _file.Allocate((long)v.Length);
        Buffer.MemoryCopy(_file.Base + v.FileOffset, _file.Base + copy, (long)v.Length, (long)v.Length);
        v.CacheOrigin = v.Backing; // the piece's reference moves over
        v.Backing = null;
        v.FromFileCache = false;
        v.Cache = null;
        v.Lazy = false;
        v.FileOffset = copy;
        AddressSpace.Map(v.Start, v.Length, copy, prot);
    }

    /// <summary>A mapping of a file kept in MemoryFile pages: the VMAs point at the file's own
    /// pages (one VMA per run of contiguous pages), so every mapping, in every process, and
    /// read/write all see the same bytes; a private mapping until it writes a page, which then
    /// becomes its own copy. Pages wholly past the end of the file are not mapped (SIGBUS) until
    /// the file grows over them.</summary>
    private long MapFilePages(ulong addr, ulong length, int prot, int flags, Vfs.IMappablePages pages, long offset, string name,
        ulong ino, ulong dev, bool denyWrite = false)
    {
        // Reserve the range as an ordinary mapping first (placement, MAP_FIXED rules), then
        // replace its pages with the file's.
        long r = Mmap(addr, length, prot, flags);
        if (r < 0) return r;
        ulong start = (ulong)r, len = MemoryFile.AlignUp(length);
        // The pages inside the file are pinned (made) before taking our lock: a write into the
        // file holds the file's lock while it reads guest memory (which takes ours). Under our
        // lock, pinning a page that exists no longer waits for the file's lock.
        long firstPage = offset / (long)PageSize;
        long inFile = Math.Clamp((pages.Size + (long)PageSize - 1) / (long)PageSize - firstPage, 0, (long)(len / PageSize));
        for (long i = 0; i < inFile; i++) pages.PinPage(firstPage + i);
        lock (_lock)
        {
            RemoveRange(start, start + len); // the file's pages replace these in the platform
            bool shared = (flags & MAP_TYPE) != MAP_PRIVATE;
            InsertFilePagesLocked(start, len, prot, pages, offset, name, ino, dev, like: null, shared, denyWrite: shared && denyWrite);
        }
        return r;
    }

    /// <summary>Whether some shared mapping here may write the file's pages (now, or after an
    /// mprotect): what F_SEAL_WRITE refuses to seal over.</summary>
    public bool MapsWritably(Vfs.IMappablePages pages)
    {
        lock (_lock)
            foreach (Vma v in _vmas)
                if (v.Pages == pages && v.Shared && !v.WriteDenied) return true;
        return false;
    }

    /// <summary>Maps the file pages from offset at [start, +len), which is free: runs of pages
    /// that are contiguous in the MemoryFile become one piece each, and the pages past the
    /// file's end one piece without pages. Private pieces are installed without PROT_WRITE.</summary>
    private void InsertFilePagesLocked(ulong start, ulong len, int prot, Vfs.IMappablePages pages, long offset, string? name, ulong ino,
        ulong dev, Vma? like, bool shared, bool denyWrite = false)
    {
        long firstPage = offset / (long)PageSize;
        long count = (long)(len / PageSize);
        long filePages = (pages.Size + (long)PageSize - 1) / (long)PageSize;
        long inFile = Math.Clamp(filePages - firstPage, 0, count);
        Vma Piece(long i, long end, long fileOffset) => new()
        {
            Start = start + (ulong)i * PageSize,
            End = start + (ulong)end * PageSize,
            Prot = prot,
            Shared = shared,
            Name = name,
            FileOffset = fileOffset,
            FileOwned = true,
            Pages = pages,
            MapInode = ino,
            MapDev = dev,
            MapOffset = offset + i * (long)PageSize,
            DontFork = like?.DontFork ?? false,
            WriteDenied = denyWrite || (like?.WriteDenied ?? false),
        };
        for (long i = 0; i < inFile;)
        {
            long fileOffset = pages.PinPage(firstPage + i);
            long run = 1;
            while (i + run < inFile && pages.PinPage(firstPage + i + run) == fileOffset + run * (long)PageSize) run++;
            var vma = Piece(i, i + run, fileOffset);
            Insert(vma);
            AddressSpace.Map(vma.Start, vma.Length, vma.FileOffset, vma.InstalledProt);
            i += run;
        }
        if (inFile < count)
        {
            var beyond = Piece(inFile, count, 0);
            beyond.BeyondEof = true;
            beyond.FileOwned = false;
            Insert(beyond);
            AddressSpace.Unmap(beyond.Start, beyond.Length);
        }
        pages.Mappings.Add(this);
    }

    /// <summary>Turns [start, end) into pieces without pages (SIGBUS on access); the caller
    /// takes the pages out of the platform. With <paramref name="deferFrees"/> pages of our own
    /// are freed only after that (<see cref="ApplyPendingPlatformWork"/>).</summary>
    private void MakeBeyondEofLocked(ulong start, ulong end, bool deferFrees = false)
    {
        SplitAt(start);
        SplitAt(end);
        for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            Vma v = _vmas[i];
            if (v.BeyondEof) continue;
            if (deferFrees && v.Backing == null && !v.FileOwned && v.CacheOrigin == null) _pendingFrees.Add((v.FileOffset, (long)v.Length));
            else ReleasePages(v, v.Start, v.End);
            v.BeyondEof = true;
            v.Cow = false;
            v.FileOwned = false;
            v.FromFileCache = false;
            v.Cache = null;
            v.Lazy = false;
            v.Backing = null;
            v.CacheOrigin = null;
            v.FileOffset = 0;
        }
    }

    /// <summary>Maps pages the Sentry shares with every process (the vDSO), top-down.</summary>
    public long MapPages(ulong length, int prot, Vfs.IMappablePages pages, string name) =>
        MapFilePages(0, length, prot, MAP_SHARED, pages, 0, name, 0, 0);

    /// <summary>Writes bytes into guest memory ignoring guest protections (the kernel's own fills).</summary>
    private long CopyOutKernel(ulong addr, ReadOnlySpan<byte> data)
    {
        int done = 0;
        while (done < data.Length)
        {
            if (!TryTranslateKernel(addr + (ulong)done, (ulong)(data.Length - done), out byte* p, out ulong n)) return -(long)Errno.EFAULT;
            data.Slice(done, (int)n).CopyTo(new Span<byte>(p, (int)n));
            done += (int)n;
        }
        return 0;
    }

    /// <summary>msync / munmap / exit: writes shared file mappings in [start, end) back to their files.</summary>
    public long WriteBack(ulong start, ulong end)
    {
        List<(Vfs.Inode File, long Position, long Offset, long Length)> work = [];
        lock (_lock)
        {
            for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < end; i++)
            {
                Vma v = _vmas[i];
                if (v.File == null || v.BeyondEof) continue;
                ulong s = Math.Max(v.Start, start), e = Math.Min(v.End, end);
                work.Add((v.File, v.FilePosition + (long)(s - v.Start), v.OffsetOf(s), (long)(e - s)));
            }
        }
        foreach (var (file, position, offset, length) in work)
        {
            // Only up to the file's current size: mappings never extend a file.
            long n = Math.Min(length, file.Size - position);
            if (n > 0) file.WriteData(position, _file.Slice(offset, (int)n));
        }
        return 0;
    }

    /// <summary>Implements munmap(2).</summary>
    public long Munmap(ulong addr, ulong length)
    {
        if ((addr & (PageSize - 1)) != 0 || length == 0) return -(long)Errno.EINVAL;
        ulong len = MemoryFile.AlignUp(length);
        if (addr + len > MaxAddress || addr + len < addr) return -(long)Errno.EINVAL;
        lock (_lock)
        {
            if (RangeIsFree(addr, addr + len)) return 0;
        }
        WriteBack(addr, addr + len);
        lock (_lock)
        {
            RemoveRange(addr, addr + len);
            AddressSpace.Unmap(addr, len);
        }
        return 0;
    }

    /// <summary>Implements mprotect(2). PROT_GROWSDOWN applies the change down to the start of
    /// the stack (grows-down mapping) that addr is in, so later growth gets it too.</summary>
    public long Mprotect(ulong addr, ulong length, int prot)
    {
        int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        if (grows == (PROT_GROWSDOWN | PROT_GROWSUP)) return -(long)Errno.EINVAL;
        if ((addr & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP)) != 0) return -(long)Errno.EINVAL;
        prot &= PROT_READ | PROT_WRITE | PROT_EXEC;
        ulong len = MemoryFile.AlignUp(length);
        if (len == 0) return 0;
        ulong end = addr + len;
        if (end < addr || end > MaxAddress) return -(long)Errno.ENOMEM;
        lock (_lock)
        {
            if (grows != 0)
            {
                int i = IndexAbove(addr);
                if (i == _vmas.Count) return -(long)Errno.ENOMEM;
                if (grows == PROT_GROWSUP)
                {
                    // x86-64 has no mappings that grow upwards.
                    return _vmas[i].Start > addr ? -(long)Errno.ENOMEM : -(long)Errno.EINVAL;
                }
                if (_vmas[i].Start >= end) return -(long)Errno.ENOMEM;
                if (!_vmas[i].GrowsDown) return -(long)Errno.EINVAL;
                while (i > 0 && _vmas[i - 1].End == _vmas[i].Start && _vmas[i - 1].GrowsDown) i--;
                addr = _vmas[i].Start;
            }
            if (!FullyMapped(addr, end)) return -(long)Errno.ENOMEM;
            if ((prot & PROT_WRITE) != 0)
                for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                    if (_vmas[i].WriteDenied) return -(long)Errno.EACCES;
            SplitAt(addr);
            SplitAt(end);
            for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
            {
                // Writable pages cannot be the file cache's: copy them first. (A private
                // mapping's file pages stay read-only below: they are copied on the first write.)
                if ((prot & PROT_WRITE) != 0 && _vmas[i].FromFileCache) MakePrivateLocked(_vmas[i], prot);
                _vmas[i].Prot = prot;
            }
            ProtectInstalled(addr, end);
        }
        return 0;
    }

    /// <summary>Gives the platform the pieces' protection for the installed pages in [start, end),
    /// one call per run of pages with the same (pieces without pages have nothing installed).</summary>
    private void ProtectInstalled(ulong start, ulong end)
    {
        ulong runStart = 0, runEnd = 0;
        int runProt = 0;
        for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            Vma v = _vmas[i];
            if (!v.Installed) continue;
            ulong s = Math.Max(v.Start, start), e = Math.Min(v.End, end);
            if (runEnd == s && runEnd != 0 && runProt == v.InstalledProt) { runEnd = e; continue; }
            if (runEnd > runStart) AddressSpace.Protect(runStart, runEnd - runStart, runProt);
            runStart = s;
            runEnd = e;
            runProt = v.InstalledProt;
        }
        if (runEnd > runStart) AddressSpace.Protect(runStart, runEnd - runStart, runProt);
    }

    private bool FullyMapped(ulong start, ulong end)
    {
        ulong at = start;
        for (int i = IndexAbove(start); i < _vmas.Count && at < end; i++)
        {
            if (_vmas[i].Start > at) return false;
            at = _vmas[i].End;
        }
        return at >= end;
    }

    /// <summary>Implements madvise(2). DONTNEED and FREE drop the pages (they read back as zero);
    /// DONTFORK/DOFORK and WIPEONFORK/KEEPONFORK mark what a forked child gets; the rest are hints.</summary>
    public long Madvise(ulong addr, ulong length, int advice)
    {
        if ((addr & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        ulong len = MemoryFile.AlignUp(length);
        ulong end = addr + len;
        if (end < addr) return -(long)Errno.EINVAL;
        switch (advice)
        {
            case MADV_DONTNEED or MADV_FREE or MADV_REMOVE:
                lock (_lock)
                {
                    if (!FullyMapped(addr, end)) return -(long)Errno.ENOMEM;
                    // MADV_FREE is for private memory and MADV_REMOVE for shared; a private
                    // mapping reads back zeros after DONTNEED, a shared one keeps its pages.
                    for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                    {
                        Vma v = _vmas[i];
                        if ((advice == MADV_FREE && v.Shared) || (advice == MADV_REMOVE && !v.Shared)) return -(long)Errno.EINVAL;
                    }
                    List<(ulong Start, ulong End)>? revert = null, fresh = null;
                    for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                    {
                        Vma v = _vmas[i];
                        if (v.Shared && advice == MADV_DONTNEED) continue;
                        // Cached file pages hold exactly what a dropped private file page reads
                        // back as (the file's bytes); they are not ours to drop.
                        if (v.FromFileCache || v.BeyondEof || v.IsCopyOnWrite) continue;
                        ulong s = Math.Max(v.Start, addr), e = Math.Min(v.End, end);
                        if (v.Cow && v.Pages == null)
                        {
                            // Pages a fork may share: new ones of our own instead, never a
                            // change to the shared ones.
                            (fresh ??= []).Add((s, e));
                            continue;
                        }
                        if (v.Pages != null)
                        {
                            // A private copy of a file's pages: back to the file's own.
                            (revert ??= []).Add((s, e));
                            continue;
                        }
                        if (v.CacheOrigin is { } origin)
                        {
                            // A private copy of file pages reads back as the file again.
                            long from = origin.Offset + v.MapOffset + (long)(s - v.Start);
                            Buffer.MemoryCopy(_file.Base + from, _file.Base + v.OffsetOf(s), (long)(e - s), (long)(e - s));
                            continue;
                        }
                        _file.Decommit(v.OffsetOf(s), (long)(e - s));
                    }
                    foreach (var (s, e) in revert ?? []) RevertToFilePagesLocked(s, e);
                    foreach (var (s, e) in fresh ?? []) DropCowPagesLocked(s, e);
                }
                return 0;
            case MADV_DONTFORK or MADV_DOFORK or MADV_WIPEONFORK or MADV_KEEPONFORK:
                if (end == addr) return 0;
                lock (_lock)
                {
                    // Wiping is for private anonymous memory only (a child's zero pages stand for
                    // nothing else).
                    if (advice == MADV_WIPEONFORK)
                        for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                            if (!_vmas[i].IsPrivateAnonymous) return -(long)Errno.EINVAL;
                    SplitAt(addr);
                    SplitAt(end);
                    for (int i = IndexAbove(addr); i < _vmas.Count && _vmas[i].Start < end; i++)
                    {
                        Vma v = _vmas[i];
                        switch (advice)
                        {
                            case MADV_DONTFORK: v.DontFork = true; break;
                            case MADV_DOFORK: v.DontFork = false; break;
                            case MADV_WIPEONFORK: v.WipeOnFork = true; break;
                            default: v.WipeOnFork = false; break;
                        }
                    }
                    // The mapped parts take the advice; a hole in the range is still ENOMEM.
                    return FullyMapped(addr, end) ? 0 : -(long)Errno.ENOMEM;
                }
            case MADV_NORMAL or MADV_RANDOM or MADV_SEQUENTIAL or MADV_WILLNEED
                or MADV_MERGEABLE or MADV_UNMERGEABLE or MADV_HUGEPAGE or MADV_NOHUGEPAGE or MADV_DONTDUMP
                or MADV_DODUMP or MADV_COLD or MADV_PAGEOUT:
                return 0;
            default:
                return -(long)Errno.EINVAL;
        }
    }

    /// <summary>Implements mremap(2). Moving never copies: the VMAs keep their MemoryFile pages
    /// and are installed at the new address. As on Linux, a range that changes size must lie in
    /// one mapping (EFAULT otherwise), a move to a fixed address at the same size may take
    /// several, and an old size of 0 duplicates a shared mapping.</summary>
    public long Mremap(ulong oldAddr, ulong oldSize, ulong newSize, int flags, ulong newAddr)
    {
        if ((oldAddr & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) != 0) return -(long)Errno.EINVAL;
        if ((flags & MREMAP_FIXED) != 0 && (flags & MREMAP_MAYMOVE) == 0) return -(long)Errno.EINVAL;
        if ((flags & MREMAP_DONTUNMAP) != 0) return -(long)Errno.EINVAL; // not supported yet
        ulong oldLen = MemoryFile.AlignUp(oldSize), newLen = MemoryFile.AlignUp(newSize);
        if (newLen == 0 || oldLen < oldSize) return -(long)Errno.EINVAL;
        ulong oldEnd = oldAddr + oldLen;
        if (oldEnd < oldAddr) return -(long)Errno.EFAULT;
        bool fixedDest = (flags & MREMAP_FIXED) != 0;
        if (fixedDest)
        {
            if ((newAddr & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
            if (newAddr < MinAddress || newLen > MaxAddress || newAddr > MaxAddress - newLen) return -(long)Errno.EINVAL;
            if (newAddr < oldEnd && oldAddr < newAddr + newLen) return -(long)Errno.EINVAL;
        }
        lock (_lock)
        {
            int first = IndexAbove(oldAddr);
            if (first == _vmas.Count || _vmas[first].Start > oldAddr) return -(long)Errno.EFAULT;
            if (oldLen == 0) return DuplicateLocked(_vmas[first], oldAddr, newLen, flags, newAddr);
            if (fixedDest)
            {
                // The same size may move several mappings at once; a resize needs one.
                bool ok = newLen == oldLen ? FullyMapped(oldAddr, oldEnd) : IsOneMapping(oldAddr, oldAddr + Math.Min(oldLen, newLen));
                if (!ok) return -(long)Errno.EFAULT;
                RemoveRange(newAddr, newAddr + newLen);
                AddressSpace.Unmap(newAddr, newLen);
                return MoveLocked(oldAddr, oldLen, newLen, newAddr);
            }
            if (newLen <= oldLen)
            {
                // Shrinking unmaps the tail, whatever is there.
                if (newLen < oldLen)
                {
                    RemoveRange(oldAddr + newLen, oldEnd);
                    AddressSpace.Unmap(oldAddr + newLen, oldLen - newLen);
                }
                return (long)oldAddr;
            }
            if (!IsOneMapping(oldAddr, oldEnd)) return -(long)Errno.EFAULT;
            // Grow in place when the space after is free: the extra pages are a new VMA piece
            // with the same attributes.
            ulong growEnd = oldAddr + newLen;
            if (growEnd <= MaxAddress && growEnd > oldAddr && RangeIsFree(oldEnd, growEnd))
            {
                ExtendLike(_vmas[IndexAbove(oldEnd - 1)], oldEnd, newLen - oldLen);
                return (long)oldAddr;
            }
            if ((flags & MREMAP_MAYMOVE) == 0) return -(long)Errno.ENOMEM;
            ulong dest = FindFree(newLen);
            if (dest == 0) return -(long)Errno.ENOMEM;
            return MoveLocked(oldAddr, oldLen, newLen, dest);
        }
    }

    /// <summary>Whether [start, end) is mapped by pieces Linux would hold as one VMA: contiguous,
    /// with the same protection, kind and flags (and consecutive file offsets).</summary>
    private bool IsOneMapping(ulong start, ulong end)
    {
        if (!FullyMapped(start, end)) return false;
        Vma? prev = null;
        for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            Vma v = _vmas[i];
            if (prev != null && !Alike(prev, v)) return false;
            prev = v;
        }
        return true;
    }

    /// <summary>Maps [from, +length), just above <paramref name="last"/>, as more of the same
    /// mapping: more file pages, more zero pages for private memory, and for a shared memory
    /// object (which does not grow) pages past its end, which raise SIGBUS.</summary>
    private void ExtendLike(Vma last, ulong from, ulong length)
    {
        if (last.Pages != null)
        {
            InsertFilePagesLocked(from, length, last.Prot, last.Pages, last.MapOffset + (long)(from - last.Start), last.Name, last.MapInode, last.MapDev, last,
                last.Shared);
        }
        else if (last.Shared)
        {
            var beyond = last.CloneRange(last.End, last.End);
            beyond.Start = from;
            beyond.End = from + length;
            beyond.BeyondEof = true;
            beyond.Cow = false;
            beyond.FileOffset = 0;
            beyond.FileOwned = false;
            if (beyond.Backing is { } b) Unref(b);
            beyond.Backing = null;
            Insert(beyond);
        }
        else
        {
            MapAnonymous(from, length, last.Prot, last.Shared, last.Name, last);
        }
    }

    /// <summary>mremap with an old size of 0: a second mapping of a shared mapping's pages (the
    /// part past the end of its file or memory object raises SIGBUS there).</summary>
    private long DuplicateLocked(Vma v, ulong oldAddr, ulong newLen, int flags, ulong newAddr)
    {
        if (!v.Shared) return -(long)Errno.EINVAL;
        if ((flags & MREMAP_MAYMOVE) == 0) return -(long)Errno.ENOMEM;
        ulong dest;
        if ((flags & MREMAP_FIXED) != 0)
        {
            RemoveRange(newAddr, newAddr + newLen);
            AddressSpace.Unmap(newAddr, newLen);
            dest = newAddr;
        }
        else if ((dest = FindFree(newLen)) == 0)
        {
            return -(long)Errno.ENOMEM;
        }
        if (v.Pages != null)
        {
            InsertFilePagesLocked(dest, newLen, v.Prot, v.Pages, v.MapOffset + (long)(oldAddr - v.Start), v.Name, v.MapInode, v.MapDev, like: null, shared: true);
            return (long)dest;
        }
        // A shared memory object: its pages from oldAddr on, as far as it goes.
        ulong have = 0;
        if (v.Backing is { } obj)
        {
            long at = v.OffsetOf(oldAddr) - obj.Offset;
            have = Math.Min(newLen, (ulong)Math.Max(0, obj.Length - at));
        }
        var copy = v.CloneRange(oldAddr, oldAddr); // takes a reference on the object
        copy.Start = dest;
        copy.End = dest + newLen;
        if (have > 0)
        {
            Insert(copy);
            if (have < newLen) SplitAt(dest + have);
            AddressSpace.Map(dest, have, copy.FileOffset, copy.Prot);
            if (have < newLen) MakeBeyondEofLocked(dest + have, dest + newLen);
        }
        else
        {
            if (copy.Backing is { } b) Unref(b);
            copy.Backing = null;
            copy.BeyondEof = true;
            copy.FileOffset = 0;
            Insert(copy);
        }
        return (long)dest;
    }

    private long MoveLocked(ulong oldAddr, ulong oldLen, ulong newLen, ulong dest)
    {
        ulong oldEnd = oldAddr + oldLen;
        ulong keep = Math.Min(oldLen, newLen);
        SplitAt(oldAddr);
        SplitAt(oldAddr + keep);
        SplitAt(oldEnd);
        var moved = new List<Vma>();
        int i = IndexAbove(oldAddr);
        while (i < _vmas.Count && _vmas[i].Start < oldAddr + keep)
        {
            moved.Add(_vmas[i]);
            _vmas.RemoveAt(i);
        }
        RemoveRange(oldAddr + keep, oldEnd); // shrinking move: the tail is dropped
        AddressSpace.Unmap(oldAddr, oldLen);
        Vma? last = null;
        foreach (Vma v in moved)
        {
            ulong delta = v.Start - oldAddr;
            ulong len = v.Length;
            v.Start = dest + delta;
            v.End = v.Start + len;
            Insert(v);
            if (v.Installed) AddressSpace.Map(v.Start, len, v.FileOffset, v.InstalledProt);
            last = v;
        }
        if (newLen > keep && last != null) ExtendLike(last, dest + keep, newLen - keep);
        return (long)dest;
    }

    /// <summary>Sets where the heap begins (just above the loaded image).</summary>
    public void SetBrkStart(ulong start)
    {
        BrkStart = Brk = start;
    }

    /// <summary>Implements brk(2): returns the new break, or the old one on failure.</summary>
    public ulong SetBrk(ulong newBrk)
    {
        lock (_lock)
        {
            if (newBrk < BrkStart || newBrk > MaxAddress) return Brk;
            ulong oldTop = MemoryFile.AlignUp(Brk), newTop = MemoryFile.AlignUp(newBrk);
            if (newTop > oldTop)
            {
                if (!RangeIsFreeWithGaps(oldTop, newTop)) return Brk;
                MapAnonymous(oldTop, newTop - oldTop, PROT_READ | PROT_WRITE, shared: false, "[heap]");
            }
            else if (newTop < oldTop)
            {
                RemoveRange(newTop, oldTop);
                AddressSpace.Unmap(newTop, oldTop - newTop);
            }
            Brk = newBrk;
            return Brk;
        }
    }

    public void Dispose()
    {
        WriteBack(0, ulong.MaxValue);
        lock (_lock)
        {
            foreach (Vma v in _vmas) ReleasePages(v, v.Start, v.End);
            _vmas.Clear();
        }
        AddressSpace?.Dispose();
        // Pages a stub may still have mapped go once it is gone.
        lock (_lock)
        {
            foreach (var (offset, length) in _pendingFrees) _refs.Release(offset, length);
            _pendingFrees.Clear();
        }
    }
}
