using Sandbox.Abi.Host;
using Sandbox.Platform;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Memory;

/// <summary>fork: the child shares the parent's private pages copy-on-write (pieces with little data
/// written are copied at once instead, which is cheaper on this platform). Each shared page gets
/// one more reference (<see cref="PageRefs"/>); both sides map it without PROT_WRITE (the
/// pieces are marked <see cref="Vma.Cow"/>), and the first write on either side copies it, or
/// takes it over in place once the other side has let go (see BreakCowLocked). Shared mappings
/// keep their pages, reference-counted across processes; file pages and the file cache's are
/// mapped as they are. Fork itself costs one pass over the pages' counts plus one mprotect per
/// run of writable private mappings: the "fork-heap" benchmark (bench/Workloads.cs, fixture
/// test/guest/bench_forkheap.c) measures fork + exit + wait with a 64 MiB and a 256 MiB dirty
/// heap against Linux and gVisor.</summary>
public sealed unsafe partial class MemoryManager
{
    /// <summary>Pages shared between address spaces (MAP_SHARED after fork): freed with the last piece.</summary>
    public sealed class SharedPages(long offset, long length)
    {
        public readonly long Offset = offset, Length = length;
        public int Refs = 1;
    }

    /// <summary>Copies this address space for a forked child (without MADV_DONTFORK ranges, and
    /// with zero pages for MADV_WIPEONFORK ones) (on the parent's thread, so the
    /// snapshot is taken at the fork). The copy has no platform address space yet: the
    /// child's thread installs it with <see cref="Install"/>.</summary>
    public MemoryManager ForkCopy()
    {
        var child = new MemoryManager(null!, _file, MaxAddress)
        {
            MmapBase = MmapBase,
            BottomUp = BottomUp,
            StackLimit = StackLimit,
            BrkStart = BrkStart,
            Brk = Brk,
            ArgStart = ArgStart,
            ArgEnd = ArgEnd,
            EnvStart = EnvStart,
            EnvEnd = EnvEnd,
            ExecutablePath = ExecutablePath,
            ForkCopyLimit = ForkCopyLimit,
        };
        lock (_lock)
        {
            foreach (Vma v in _vmas)
            {
                if (v.DontFork) continue; // MADV_DONTFORK: the child has nothing there
                var copy = v.CloneRange(v.Start, v.End);
                copy.Pages?.Mappings.Add(child);
                if (v.FileOwned || v.FromFileCache || v.BeyondEof)
                {
                    // The file's own pages, or the file cache's read-only ones: the child maps the
                    // very same (a cached piece's reference was taken by CloneRange).
                }
                else if (v.Shared)
                {
                    if (v.Backing == null)
                    {
                        // First fork of this mapping: one reference for the parent's piece, one
                        // for the child's (CloneRange had nothing to take).
                        v.Backing = new SharedPages(v.FileOffset, (long)v.Length);
                        Interlocked.Increment(ref v.Backing.Refs);
                        copy.Backing = v.Backing;
                    }
                }
                else if (v.WipeOnFork)
                {
                    // MADV_WIPEONFORK: fresh zero pages instead of the parent's.
                    copy.FileOffset = _file.Allocate((long)v.Length);
                    copy.Cow = false;
                }
                else if (v.OwnsPages && v.Length <= ForkScanLimit && PopulatedAtMost(v.FileOffset, (long)v.Length, ForkCopyLimit))
                {
                    // Little data (a small program's stack, data and heap): a copy now costs less
                    // than the mprotect here and the faults on both sides that sharing would.
                    copy.FileOffset = _file.Allocate((long)v.Length);
                    copy.Cow = false;
                    CopyData(v.FileOffset, copy.FileOffset, (long)v.Length);
                }
                else if (v.OwnsPages)
                {
                    _refs.AddRef(v.FileOffset, (long)v.Length);
                    v.Cow = copy.Cow = true;
                }
                child._vmas.Add(copy);
            }
            WriteProtectLocked();
        }
        return child;
    }

    /// <summary>A private piece with at most this much data written is copied at fork, not shared
    /// (0 in tests: share everything that has data). Inherited by the child.</summary>
    public long ForkCopyLimit { get; init; } = 64 << 10;

    /// <summary>Larger pieces are shared without looking: SEEK_HOLE walks every page of a dense
    /// range (milliseconds for a 256 MiB heap). 8 MiB stacks, mostly holes, are looked at.</summary>
    private const ulong ForkScanLimit = 16 << 20;

    private const int SEEK_DATA = 3, SEEK_HOLE = 4;

    /// <summary>Whether at most limit bytes of the MemoryFile range hold data (the memfd is sparse:
    /// pages never written, or freed, are holes).</summary>
    private bool PopulatedAtMost(long from, long length, long limit)
    {
        long end = from + length, pos = from, total = 0;
        while (pos < end)
        {
            long data = Unistd.Lseek(_file.Fd, pos, SEEK_DATA);
            if (data < 0 || data >= end) return true;
            long hole = Unistd.Lseek(_file.Fd, data, SEEK_HOLE);
            if (hole < 0 || hole > end) hole = end;
            total += hole - data;
            if (total > limit) return false;
            pos = hole;
        }
        return true;
    }

    /// <summary>Copies the populated parts of a MemoryFile range.</summary>
    private void CopyData(long from, long to, long length)
    {
        long end = from + length;
        long pos = from;
        while (pos < end)
        {
            long data = Unistd.Lseek(_file.Fd, pos, SEEK_DATA);
            if (data < 0 || data >= end) return;
            long hole = Unistd.Lseek(_file.Fd, data, SEEK_HOLE);
            if (hole < 0 || hole > end) hole = end;
            Buffer.MemoryCopy(_file.Base + data, _file.Base + to + (data - from), hole - data, hole - data);
            pos = hole;
        }
    }

    /// <summary>After fork shared them: the parent's writable private pages lose PROT_WRITE in the
    /// platform, before the child can run, so that from here on a write by any of the parent's
    /// threads faults and copies. One mprotect per run of adjacent pieces with the same result.</summary>
    private void WriteProtectLocked()
    {
        ulong runStart = 0, runEnd = 0;
        int runProt = 0;
        bool runChanges = false;
        foreach (Vma v in _vmas)
        {
            if (!v.Installed) continue;
            bool changes = v.Cow && (v.Prot & PROT_WRITE) != 0;
            if (runEnd == v.Start && runEnd != 0 && runProt == v.InstalledProt)
            {
                runEnd = v.End;
                runChanges |= changes;
                continue;
            }
            if (runChanges) AddressSpace.Protect(runStart, runEnd - runStart, runProt);
            runStart = v.Start;
            runEnd = v.End;
            runProt = v.InstalledProt;
            runChanges = changes;
        }
        if (runChanges) AddressSpace.Protect(runStart, runEnd - runStart, runProt);
    }

    /// <summary>Installs every mapping in a new platform address space (the forked child's stub).</summary>
    public void Install(IAddressSpace addressSpace)
    {
        AddressSpace = addressSpace;
        lock (_lock)
            foreach (Vma v in _vmas)
                if (v.Installed) addressSpace.Map(v.Start, v.Length, v.FileOffset, v.InstalledProt);
    }
}
