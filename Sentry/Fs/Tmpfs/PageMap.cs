using System.Collections.Concurrent;

namespace Sandbox.Sentry.Fs.Tmpfs;

/// <summary>A tmpfs file's page index → MemoryFile offset map, in leaves of 512 pages (2 MiB of
/// file), so that a sequential read finds a run of pages by walking an array rather than with
/// one hash lookup per page; a hole costs nothing below the leaf. Changed only under the
/// owner's lock; <see cref="TryGet"/> also works without it (a leaf, once published, is never
/// reused for another range, and its entries are written whole).</summary>
internal sealed class PageMap
{
    private const int LeafShift = 9;
    private const int LeafPages = 1 << LeafShift;
    private const long LeafMask = LeafPages - 1;
    private const long PageSize = (long)Abi.Mm.PageSize;

    private sealed class Leaf
    {
        /// <summary>MemoryFile offset + 1 of each page; 0 is a hole.</summary>
        public readonly long[] Slots = new long[LeafPages];
        public int Count;
    }

    private readonly ConcurrentDictionary<long, Leaf> _leaves = new();

    /// <summary>Pages present.</summary>
    public long Count { get; private set; }

    public bool TryGet(long page, out long offset)
    {
        if (_leaves.TryGetValue(page >> LeafShift, out var leaf))
        {
            long slot = Volatile.Read(ref leaf.Slots[page & LeafMask]);
            offset = slot - 1;
            return slot != 0;
        }
        offset = -1;
        return false;
    }

    public bool Contains(long page) => TryGet(page, out _);

    /// <summary>Adds a page that is not present. (Under the owner's lock.)</summary>
    public void Add(long page, long offset)
    {
        var leaf = _leaves.GetOrAdd(page >> LeafShift, static _ => new Leaf());
        ref long slot = ref leaf.Slots[page & LeafMask];
        if (slot == 0)
        {
            leaf.Count++;
            Count++;
        }
        Volatile.Write(ref slot, offset + 1);
    }

    /// <summary>Removes a page; returns its offset, or -1 if it was a hole. (Under the owner's lock.)</summary>
    public long Remove(long page)
    {
        if (!_leaves.TryGetValue(page >> LeafShift, out var leaf)) return -1;
        ref long slot = ref leaf.Slots[page & LeafMask];
        long offset = slot - 1;
        if (slot == 0) return -1;
        Volatile.Write(ref slot, 0);
        Count--;
        if (--leaf.Count == 0) _leaves.TryRemove(page >> LeafShift, out _);
        return offset;
    }

    /// <summary>The run of pages starting at page, at most maxPages long: either pages that
    /// follow each other in the MemoryFile (offset receives the first one's offset) or a hole
    /// (offset is -1). Returns its length in pages. (Under the owner's lock.)</summary>
    public long Run(long page, long maxPages, out long offset)
    {
        offset = -1;
        long n = 0;
        while (n < maxPages)
        {
            long at = page + n;
            long inLeaf = Math.Min(LeafPages - (at & LeafMask), maxPages - n);
            if (!_leaves.TryGetValue(at >> LeafShift, out var leaf))
            {
                // A whole missing leaf is a hole: it extends a hole run and ends a data run.
                if (n > 0 && offset >= 0) return n;
                n += inLeaf;
                continue;
            }
            long[] slots = leaf.Slots;
            int i = (int)(at & LeafMask), end = i + (int)inLeaf;
            if (n == 0) offset = slots[i] - 1;
            long step = offset < 0 ? 0 : PageSize;
            long expect = offset < 0 ? 0 : offset + 1 + n * PageSize;
            for (; i < end; i++, expect += step, n++)
                if (slots[i] != expect) return n;
        }
        return n;
    }

    /// <summary>Pages at or after first, in no particular order. (Under the owner's lock.)</summary>
    public List<long> PagesFrom(long first)
    {
        var pages = new List<long>();
        foreach (var (key, leaf) in _leaves)
        {
            if ((key + 1) << LeafShift <= first) continue;
            for (int i = 0; i < LeafPages; i++)
            {
                long page = (key << LeafShift) + i;
                if (page >= first && leaf.Slots[i] != 0) pages.Add(page);
            }
        }
        return pages;
    }

    /// <summary>Every page's offset (for giving them all back). (Under the owner's lock.)</summary>
    public IEnumerable<long> Offsets()
    {
        foreach (var leaf in _leaves.Values)
            foreach (long slot in leaf.Slots)
                if (slot != 0) yield return slot - 1;
    }

    public void Clear()
    {
        _leaves.Clear();
        Count = 0;
    }
}
