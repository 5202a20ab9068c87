using Sandbox.Abi;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Memory;

/// <summary>What a guest's access to an address without installed pages turns into.</summary>
public enum FaultResult
{
    /// <summary>Nothing to do here: the fault is the guest's (SIGSEGV as reported).</summary>
    Unhandled,
    /// <summary>Pages are installed now (a stack grew, a file grew): run the access again.</summary>
    Retry,
    /// <summary>A shared mapping's page past the end of its file or object: SIGBUS (BUS_ADRERR).</summary>
    Bus,
}

/// <summary>The accesses the Sentry resolves instead of the guest: a stack that grows down into
/// the gap below it (within RLIMIT_STACK and a guard gap from the mapping below), and shared
/// file pages past the end of the file (SIGBUS, or filled in once the file has grown). Both
/// happen on the guest's fault, and on the Sentry's own copy-in/out for the guest (as Linux's
/// uaccess faults do), but only from the address space's own threads.</summary>
public sealed unsafe partial class MemoryManager
{
    /// <summary>The room a stack keeps free below itself (Linux's stack_guard_gap: 256 pages).</summary>
    public const ulong StackGuardGap = 256 * PageSize;

    /// <summary>A fault below a stack grows it by up to this much more than needed (bounded by
    /// the limit and the gap as well), so that deep recursion costs a few faults, not one a page.</summary>
    private const ulong GrowthSlack = 1UL << 20;

    /// <summary>RLIMIT_STACK's soft limit for the process (<see cref="Rlimit.RLIM_INFINITY"/>:
    /// none): how far a stack may grow.</summary>
    public ulong StackLimit { get; set; } = 8UL << 20;

    /// <summary>Makes every task using this address space come out of the guest (to apply
    /// platform changes another thread could not make; see <see cref="ApplyPendingPlatformWork"/>).</summary>
    public Action<MemoryManager>? InterruptUsers { get; set; }

    /// <summary>Ranges whose pages were taken away while the calling thread could not change
    /// the platform: the stub still maps them until one of the address space's own threads
    /// unmaps what is still uninstalled there; pages of our own among them are freed after that.</summary>
    private readonly List<(ulong Start, ulong End)> _pendingUnmaps = [];
    private readonly List<(long Offset, long Length)> _pendingFrees = [];
    /// <summary>Ranges whose pages the VMAs changed (copy-on-write broken by a thread that could
    /// not change the platform): installed again from the VMAs before the frees above.</summary>
    private readonly List<(ulong Start, ulong End)> _pendingRemaps = [];
    private int _pendingWork;

    /// <summary>Resolves a guest fault at addr (reported by the platform as SIGSEGV), on the
    /// faulting task's thread.</summary>
    public FaultResult HandleFault(ulong addr)
    {
        lock (_lock)
        {
            int i = IndexAbove(addr);
            if (i < _vmas.Count && _vmas[i].Start <= addr)
            {
                Vma v = _vmas[i];
                if (v.Cow && (v.Prot & PROT_WRITE) != 0)
                {
                    // A write to pages a fork shared: ours alone now, or a copy of our own.
                    BreakCowLocked(addr);
                    return FaultResult.Retry;
                }
                if (v.IsCopyOnWrite && (v.Prot & PROT_WRITE) != 0)
                {
                    // A write to a private mapping's file page: it gets its own copy now.
                    CopyOnWriteLocked(addr);
                    return FaultResult.Retry;
                }
                if (v.Lazy) return FaultCacheLocked(i, addr) ? FaultResult.Retry : FaultResult.Bus;
                if (v.Installed)
                {
                    // A protection fault; unless the platform lags behind the VMAs (pages another
                    // thread copied on write): then it catches up, and the access runs again.
                    if (Volatile.Read(ref _pendingWork) == 0 || AddressSpace is not { CanChangeFromThisThread: true }) return FaultResult.Unhandled;
                    ApplyPendingPlatformWork();
                    return FaultResult.Retry;
                }
                return FillFilePagesLocked(i, addr) ? FaultResult.Retry : FaultResult.Bus;
            }
            return GrowStackLocked(addr) ? FaultResult.Retry : FaultResult.Unhandled;
        }
    }

    /// <summary>For the Sentry's own accesses on the guest's behalf: installs the pages at addr
    /// if a guest access would (stack growth, file pages), when this thread may change the
    /// address space. True if there are pages at addr now.</summary>
    private bool FaultInLocked(ulong addr)
    {
        if (AddressSpace is not { } space || !space.CanChangeFromThisThread) return false;
        int i = IndexAbove(addr);
        if (i < _vmas.Count && _vmas[i].Start <= addr)
            return _vmas[i].Lazy ? FaultCacheLocked(i, addr) : !_vmas[i].Installed && FillFilePagesLocked(i, addr);
        return GrowStackLocked(addr);
    }

    /// <summary>Grows the stack above addr down over it, as Linux does on a fault: the mapping
    /// above must grow down, stay within RLIMIT_STACK (measured from its top) and keep the
    /// guard gap from an accessible mapping below.</summary>
    private bool GrowStackLocked(ulong addr)
    {
        int i = IndexAbove(addr);
        if (i == _vmas.Count) return false;
        Vma v = _vmas[i];
        if (v.Start <= addr || !v.GrowsDown || v.Shared || !v.Installed || v.Backing != null || v.MapInode != 0) return false;
        ulong page = addr & ~(PageSize - 1);
        // The stack's top: the pieces above that are the same mapping (earlier growth).
        ulong top = v.End;
        for (int j = i + 1; j < _vmas.Count && _vmas[j].Start == top && Alike(_vmas[j - 1], _vmas[j]); j++) top = _vmas[j].End;
        ulong limit = StackLimit >= MaxAddress ? ulong.MaxValue : StackLimit & ~(PageSize - 1);
        if (top - page > limit) return false;
        ulong floor = MinAddress;
        if (i > 0)
        {
            Vma below = _vmas[i - 1];
            floor = below.End;
            if (!below.GrowsDown && below.Prot != PROT_NONE) floor = floor > ulong.MaxValue - StackGuardGap ? ulong.MaxValue : floor + StackGuardGap;
        }
        if (page < floor) return false;
        // A little further than asked, within the same bounds.
        ulong lowest = Math.Max(floor, limit == ulong.MaxValue || limit > top ? 0 : top - limit);
        ulong newStart = page - Math.Min(Math.Min(top - v.Start, GrowthSlack), page - lowest);
        ulong length = v.Start - newStart;
        long offset = _file.Allocate((long)length);
        if (offset + (long)length == v.FileOffset && !v.Cow)
        {
            v.Start = newStart;
            v.FileOffset = offset;
        }
        else
        {
            Insert(new Vma
            {
                Start = newStart,
                End = v.Start,
                Prot = v.Prot,
                Name = v.Name,
                GrowsDown = true,
                DontFork = v.DontFork,
                WipeOnFork = v.WipeOnFork,
                FileOffset = offset,
            });
        }
        AddressSpace.Map(newStart, length, offset, v.Prot);
        return true;
    }

    /// <summary>Gives the page at addr of a private mapping of file pages a copy of its own,
    /// installed with the mapping's protection (joined to the piece below when that is a copy
    /// of the page before, in the MemoryFile page after it).</summary>
    private void CopyOnWriteLocked(ulong addr)
    {
        ulong page = addr & ~(PageSize - 1);
        SplitAt(page);
        SplitAt(page + PageSize);
        int i = IndexAbove(page);
        Vma v = _vmas[i];
        Vma? prev = i > 0 ? _vmas[i - 1] : null;
        bool join = prev != null && prev.End == page && prev.Pages == v.Pages && !prev.Shared && !prev.FileOwned && prev.Installed && !prev.Cow
            && prev.Backing == null && prev.Prot == v.Prot && prev.DontFork == v.DontFork && prev.Name == v.Name
            && prev.MapInode == v.MapInode && prev.MapOffset + (long)prev.Length == v.MapOffset
            && _file.TryAllocateAt(prev.OffsetOf(page), (long)PageSize);
        long copy = join ? prev!.OffsetOf(page) : _file.Allocate((long)PageSize);
        Buffer.MemoryCopy(_file.Base + v.FileOffset, _file.Base + copy, (long)PageSize, (long)PageSize);
        AddressSpace.Map(page, PageSize, copy, v.Prot);
        if (join)
        {
            prev!.End = page + PageSize;
            _vmas.RemoveAt(i); // it held the file's page, nothing of ours
        }
        else
        {
            v.FileOffset = copy;
            v.FileOwned = false;
        }
    }

    /// <summary>Pages a fork shared are copied in aligned runs of up to this many bytes: on this
    /// platform a fault costs far more than copying a few more pages.</summary>
    private const ulong CowCopyRun = 16 * PageSize;

    /// <summary>Makes the page at addr of a <see cref="Vma.Cow"/> piece this address space's alone
    /// and writable: if no other address space holds it any more, it and every such page around
    /// it in the piece are taken over in place (no copy); else the run around it gets a copy of
    /// its own and the shared pages lose our reference. The platform is changed now if this
    /// thread may (the copy is installed before the old pages are let go), else by the address
    /// space's own threads before they next run the guest.</summary>
    private void BreakCowLocked(ulong addr)
    {
        ulong page = addr & ~(PageSize - 1);
        Vma v = _vmas[IndexAbove(page)];
        long at = v.OffsetOf(page);
        bool copy = _refs.IsShared(at);
        ulong s, e;
        if (copy)
        {
            ulong aligned = page & ~(CowCopyRun - 1);
            s = Math.Max(v.Start, aligned);
            e = Math.Min(v.End, aligned + CowCopyRun);
        }
        else
        {
            s = page - (ulong)_refs.ExclusiveBelow(at, (long)(page - v.Start));
            e = page + (ulong)_refs.ExclusiveAbove(at, (long)(v.End - page));
        }
        SplitAt(s);
        SplitAt(e);
        int i = IndexAbove(s);
        v = _vmas[i];
        long length = (long)(e - s);
        long old = v.FileOffset;
        v.Cow = false;
        if (copy)
        {
            // Right after the piece below in the MemoryFile if we can: a run of writes stays one piece.
            Vma? prev = i > 0 ? _vmas[i - 1] : null;
            long to = prev != null && Joinable(prev, v) && _file.TryAllocateAt(prev.OffsetOf(prev.End), length)
                ? prev.OffsetOf(prev.End)
                : _file.Allocate(length);
            Buffer.MemoryCopy(_file.Base + old, _file.Base + to, length, length);
            v.FileOffset = to;
        }
        if (AddressSpace is null)
        {
            // Not installed yet (a forked child before it runs): Install maps what is here now.
            if (copy) _refs.Release(old, length);
        }
        else if (AddressSpace.CanChangeFromThisThread)
        {
            if (copy)
            {
                AddressSpace.Map(s, (ulong)length, v.FileOffset, v.Prot);
                _refs.Release(old, length);
            }
            else
            {
                AddressSpace.Protect(s, (ulong)length, v.Prot);
            }
        }
        else
        {
            // The stub keeps the old pages, read-only, until a thread of ours maps the new ones;
            // our reference holds them until then.
            _pendingRemaps.Add((s, e));
            if (copy) _pendingFrees.Add((old, length));
            Volatile.Write(ref _pendingWork, 1);
            InterruptUsers?.Invoke(this);
        }
        MergeAround(i);
    }

    /// <summary>Two adjacent pieces of private memory of our own that could be one, if their
    /// pages were contiguous in the MemoryFile.</summary>
    private static bool Joinable(Vma a, Vma b) =>
        a.End == b.Start && a.OwnsPages && b.OwnsPages && !a.Cow && !b.Cow && !a.Shared && !b.Shared
        && a.Prot == b.Prot && a.GrowsDown == b.GrowsDown && a.DontFork == b.DontFork && a.WipeOnFork == b.WipeOnFork
        && a.Name == b.Name && a.MapInode == b.MapInode && a.MapDev == b.MapDev && (a.MapInode == 0 || a.MapOffset + (long)a.Length == b.MapOffset)
        && a.File == null && b.File == null && a.Pages == null && b.Pages == null
        && a.CacheOrigin == null && b.CacheOrigin == null && !a.FromFileCache && !b.FromFileCache
        && a.WriteDenied == b.WriteDenied;

    /// <summary>Joins piece i with its neighbours where they continue it in the MemoryFile (pieces
    /// split by copy-on-write grow back together as the copies or take-overs meet).</summary>
    private void MergeAround(int i)
    {
        if (i + 1 < _vmas.Count && Joinable(_vmas[i], _vmas[i + 1]) && _vmas[i].OffsetOf(_vmas[i].End) == _vmas[i + 1].FileOffset)
        {
            _vmas[i].End = _vmas[i + 1].End;
            _vmas.RemoveAt(i + 1);
        }
        if (i > 0 && Joinable(_vmas[i - 1], _vmas[i]) && _vmas[i - 1].OffsetOf(_vmas[i - 1].End) == _vmas[i].FileOffset)
        {
            _vmas[i - 1].End = _vmas[i].End;
            _vmas.RemoveAt(i);
        }
    }

    /// <summary>MADV_DONTNEED on pages a fork may share, [start, end) in one piece: new zero pages
    /// of our own (or, for a private copy of file-cache pages, a fresh copy of the file's bytes);
    /// the old ones lose our reference once the new ones are installed.</summary>
    private void DropCowPagesLocked(ulong start, ulong end)
    {
        SplitAt(start);
        SplitAt(end);
        int i = IndexAbove(start);
        Vma v = _vmas[i];
        long length = (long)(end - start);
        long old = v.FileOffset;
        long fresh = _file.Allocate(length);
        if (v.CacheOrigin is { } origin)
            Buffer.MemoryCopy(_file.Base + origin.Offset + v.MapOffset, _file.Base + fresh, length, length);
        v.FileOffset = fresh;
        v.Cow = false;
        AddressSpace.Map(start, (ulong)length, fresh, v.Prot);
        _refs.Release(old, length);
        MergeAround(i);
    }

    /// <summary>MADV_DONTNEED on a private mapping's copies of file pages, [start, end) in one
    /// piece: the file's pages again (the copy is freed once they replace it in the platform).</summary>
    private void RevertToFilePagesLocked(ulong start, ulong end)
    {
        SplitAt(start);
        SplitAt(end);
        int i = IndexAbove(start);
        Vma v = _vmas[i];
        _vmas.RemoveAt(i);
        InsertFilePagesLocked(start, end - start, v.Prot, v.Pages!, v.MapOffset, v.Name, v.MapInode, v.MapDev, v, shared: false);
        _refs.Release(v.FileOffset, (long)v.Length);
    }

    /// <summary>Two adjacent pieces that Linux would hold as one VMA.</summary>
    private static bool Alike(Vma a, Vma b) =>
        a.Prot == b.Prot && a.Shared == b.Shared && a.GrowsDown == b.GrowsDown && a.DontFork == b.DontFork
        && a.WipeOnFork == b.WipeOnFork && a.MapInode == b.MapInode && a.MapDev == b.MapDev
        && (a.MapInode == 0 || a.MapOffset + (long)a.Length == b.MapOffset)
        && a.File == b.File && a.Pages == b.Pages && (!a.Shared || a.Pages != null || a.Backing == b.Backing);

    /// <summary>A page without pages (piece i) at addr: if its file has grown over it since,
    /// maps the file's pages for the piece as far as the file goes now; false if addr is still
    /// past the end (SIGBUS).</summary>
    private bool FillFilePagesLocked(int i, ulong addr)
    {
        Vma v = _vmas[i];
        if (v.Pages is not { } pages) return false;
        long filePages = (pages.Size + (long)PageSize - 1) / (long)PageSize;
        long first = v.MapOffset / (long)PageSize;
        if (first + (long)((addr - v.Start) / PageSize) >= filePages) return false;
        ulong start = v.Start;
        ulong end = start + (ulong)Math.Min(filePages - first, (long)(v.Length / PageSize)) * PageSize;
        int prot = v.Prot;
        long offset = v.MapOffset;
        string? name = v.Name;
        ulong ino = v.MapInode;
        RemoveRange(start, end); // nothing to free or unmap: the piece had no pages
        InsertFilePagesLocked(start, end - start, prot, pages, offset, name, ino, v.MapDev, v, v.Shared);
        return true;
    }

    /// <summary>An access to a lazy piece of a file-cache mapping (piece i) at addr: the cache
    /// reads the window around the page if it has to, then the run of filled pages around it in
    /// the piece is installed (pages other processes filled come along at no cost). False if the
    /// file no longer has the page (SIGBUS).</summary>
    private bool FaultCacheLocked(int i, ulong addr)
    {
        Vma v = _vmas[i];
        FileCache.Entry entry = v.Cache!;
        long page = CachePage(v, addr);
        if (!entry.Fill(page)) return false;
        long floor = CachePage(v, v.Start), ceiling = CachePage(v, v.End);
        long first = entry.FilledFrom(page, floor), end = entry.FilledTo(page, ceiling);
        InstallCacheRunLocked(v.Start + (ulong)(first - floor) * PageSize, v.Start + (ulong)(end - floor) * PageSize);
        return true;
    }

    /// <summary>The file behind <paramref name="pages"/> shrank: its pages from
    /// <paramref name="firstGone"/> on leave every mapping here (an access becomes SIGBUS).
    /// Called from any thread; the platform is changed now if this thread may, else by the
    /// address space's own threads before they next run the guest.</summary>
    public void DropFilePages(Vfs.IMappablePages pages, long firstGone)
    {
        bool dropped = false;
        lock (_lock)
        {
            for (int i = 0; i < _vmas.Count; i++)
            {
                Vma v = _vmas[i];
                if (v.Pages != pages || v.BeyondEof) continue;
                long first = v.MapOffset / (long)PageSize;
                if (first + (long)(v.Length / PageSize) <= firstGone) continue;
                ulong cut = first >= firstGone ? v.Start : v.Start + (ulong)(firstGone - first) * PageSize;
                ulong end = v.End;
                MakeBeyondEofLocked(cut, end, deferFrees: true); // private copies: freed once unmapped
                _pendingUnmaps.Add((cut, end));
                dropped = true;
            }
            if (dropped) Volatile.Write(ref _pendingWork, 1);
        }
        if (!dropped) return;
        if (AddressSpace is { } space && space.CanChangeFromThisThread) ApplyPendingPlatformWork();
        else InterruptUsers?.Invoke(this);
    }

    /// <summary>Called by each task before it runs the guest: applies platform changes that
    /// another thread left (cheap when there are none).</summary>
    public void ApplyPendingPlatformWork()
    {
        if (Volatile.Read(ref _pendingWork) == 0) return;
        lock (_lock)
        {
            if (AddressSpace is not { } space || !space.CanChangeFromThisThread) return;
            // Only what is still uninstalled: anything mapped there since was installed later.
            foreach (var (start, end) in _pendingUnmaps)
            {
                ulong at = start;
                for (int i = IndexAbove(start); at < end; i++)
                {
                    ulong holeEnd = i < _vmas.Count ? Math.Clamp(_vmas[i].Start, at, end) : end;
                    if (holeEnd > at) space.Unmap(at, holeEnd - at);
                    if (i >= _vmas.Count || holeEnd >= end) break;
                    Vma v = _vmas[i];
                    ulong pieceEnd = Math.Min(v.End, end);
                    if (!v.Installed) space.Unmap(holeEnd, pieceEnd - holeEnd);
                    at = pieceEnd;
                }
            }
            _pendingUnmaps.Clear();
            foreach (var (start, end) in _pendingRemaps)
            {
                for (int i = IndexAbove(start); i < _vmas.Count && _vmas[i].Start < end; i++)
                {
                    Vma v = _vmas[i];
                    if (!v.Installed) continue;
                    ulong s = Math.Max(v.Start, start), e = Math.Min(v.End, end);
                    space.Map(s, e - s, v.OffsetOf(s), v.InstalledProt);
                }
            }
            _pendingRemaps.Clear();
            foreach (var (offset, length) in _pendingFrees) _refs.Release(offset, length);
            _pendingFrees.Clear();
            Volatile.Write(ref _pendingWork, 0);
        }
    }
}
