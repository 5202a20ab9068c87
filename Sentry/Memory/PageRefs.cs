using System.Runtime.CompilerServices;
using Sandbox.Platform;

namespace Sandbox.Sentry.Memory;

/// <summary>Reference counts of the MemoryFile pages that fork shares between address spaces
/// (copy-on-write). A page handed out by <see cref="MemoryFile.Allocate"/> has one owner; each
/// fork adds a reference; <see cref="Release"/> frees a page with its last reference. Only the
/// references beyond the first are stored, per page, in chunks made on first use: memory no
/// fork ever shared costs nothing here, and releasing it is a plain Free.
///
/// Only an address space that holds a reference may add one (fork, under its own lock), so a
/// page seen with no extra references stays its holder's alone until that holder forks.</summary>
public sealed class PageRefs
{
    private const int ChunkShift = 12; // 4096 pages (16 MiB) per chunk
    private const int ChunkPages = 1 << ChunkShift;
    private const int PageShift = 12;

    private static readonly ConditionalWeakTable<MemoryFile, PageRefs> ByFile = new();

    private readonly MemoryFile _file;
    private readonly Lock _lock = new();
    private int[]?[]? _chunks;
    private long _sharedPages;

    private PageRefs(MemoryFile file) => _file = file;

    /// <summary>The one table of a MemoryFile (every address space on it shares it).</summary>
    public static PageRefs For(MemoryFile file) => ByFile.GetValue(file, static f => new PageRefs(f));

    /// <summary>Pages that have more than one reference now (for tests and accounting).</summary>
    public long SharedPages => Volatile.Read(ref _sharedPages);

    /// <summary>One more reference on every page of [offset, +length) (all allocated).</summary>
    public void AddRef(long offset, long length)
    {
        lock (_lock)
        {
            _chunks ??= new int[]?[((_file.Size >> PageShift) + ChunkPages - 1) >> ChunkShift];
            long first = offset >> PageShift, end = (offset + length) >> PageShift;
            for (long p = first; p < end;)
            {
                int[] chunk = _chunks[p >> ChunkShift] ??= new int[ChunkPages];
                int from = (int)(p & (ChunkPages - 1));
                int to = (int)Math.Min(ChunkPages, from + (end - p));
                int added = 0;
                for (int k = from; k < to; k++)
                    if (chunk[k]++ == 0) added++;
                _sharedPages += added;
                p += to - from;
            }
        }
    }

    /// <summary>Drops one reference on every page of [offset, +length); pages that had no other
    /// go back to the MemoryFile (in runs).</summary>
    public void Release(long offset, long length)
    {
        if (length <= 0) return;
        // Nothing is shared, and only a holder could share these (see the class comment).
        if (Volatile.Read(ref _sharedPages) == 0)
        {
            _file.Free(offset, length);
            return;
        }
        lock (_lock)
        {
            long first = offset >> PageShift, end = (offset + length) >> PageShift;
            long runStart = -1;
            long dropped = 0;
            for (long p = first; p < end; p++)
            {
                int[]? chunk = _chunks![p >> ChunkShift];
                int k = (int)(p & (ChunkPages - 1));
                if (chunk == null)
                {
                    // The rest of a chunk with no extra references: all of it is freed.
                    if (runStart < 0) runStart = p;
                    p = Math.Min(end, p - k + ChunkPages) - 1;
                    continue;
                }
                if (chunk[k] > 0)
                {
                    if (--chunk[k] == 0) dropped++;
                    if (runStart >= 0)
                    {
                        _file.Free(runStart << PageShift, (p - runStart) << PageShift);
                        runStart = -1;
                    }
                }
                else if (runStart < 0)
                {
                    runStart = p;
                }
            }
            if (runStart >= 0) _file.Free(runStart << PageShift, (end - runStart) << PageShift);
            _sharedPages -= dropped;
        }
    }

    /// <summary>Whether the page at offset has another reference besides the caller's.</summary>
    public bool IsShared(long offset)
    {
        if (Volatile.Read(ref _sharedPages) == 0) return false;
        lock (_lock) return ExtraLocked(offset >> PageShift) > 0;
    }

    /// <summary>How many bytes from offset (at most max) are pages with no other reference.</summary>
    public long ExclusiveAbove(long offset, long max)
    {
        if (Volatile.Read(ref _sharedPages) == 0) return max;
        lock (_lock)
        {
            long p = offset >> PageShift, end = (offset + max) >> PageShift, q = p;
            while (q < end && ExtraLocked(q) == 0) q++;
            return (q - p) << PageShift;
        }
    }

    /// <summary>How many bytes just below offset (at most max) are pages with no other reference.</summary>
    public long ExclusiveBelow(long offset, long max)
    {
        if (Volatile.Read(ref _sharedPages) == 0) return max;
        lock (_lock)
        {
            long p = offset >> PageShift, floor = (offset - max) >> PageShift, q = p;
            while (q > floor && ExtraLocked(q - 1) == 0) q--;
            return (p - q) << PageShift;
        }
    }

    private int ExtraLocked(long page)
    {
        int[]? chunk = _chunks?[page >> ChunkShift];
        return chunk == null ? 0 : chunk[(int)(page & (ChunkPages - 1))];
    }
}
