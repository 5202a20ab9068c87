using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform;

namespace Sandbox.Sentry.Memory;

/// <summary>fork: the child's address space is an eager copy, not copy-on-write (issue 4 allows
/// either "copy-on-write, or eager copy with a benchmark that shows its cost": this is the
/// eager copy). Private mappings get fresh MemoryFile ranges with the parent's data, copied
/// only where the memfd holds data (SEEK_DATA/SEEK_HOLE skip untouched pages, so a large
/// sparse heap costs little); shared mappings keep their pages, reference-counted across
/// processes. The cost grows with the parent's written memory: the "fork-heap" benchmark
/// (bench/Workloads.cs, fixture test/guest/bench_forkheap.c; run it with
/// `dotnet run --project bench/Bench.csproj -c Release -- --bench=fork-heap`) measures fork +
/// exit + wait with a 64 MiB and a 256 MiB dirty heap against Linux and gVisor, which share
/// those pages copy-on-write.</summary>
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
                else
                {
                    // MADV_WIPEONFORK: fresh zero pages instead of a copy.
                    copy.FileOffset = _file.Allocate((long)v.Length);
                    if (!v.WipeOnFork) CopyData(v.FileOffset, copy.FileOffset, (long)v.Length);
                }
                child._vmas.Add(copy);
            }
        }
        return child;
    }

    /// <summary>Copies the populated parts of a MemoryFile range.</summary>
    private void CopyData(long from, long to, long length)
    {
        const int SEEK_DATA = 3, SEEK_HOLE = 4;
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

    /// <summary>Installs every mapping in a new platform address space (the forked child's stub).</summary>
    public void Install(IAddressSpace addressSpace)
    {
        AddressSpace = addressSpace;
        lock (_lock)
            foreach (Vma v in _vmas)
                if (v.Installed) addressSpace.Map(v.Start, v.Length, v.FileOffset, v.InstalledProt);
    }
}
