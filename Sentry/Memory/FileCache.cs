using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Memory;

/// <summary>Read-only copies of files in MemoryFile pages, for the container's lower layer
/// (files the sandbox cannot change). Private mappings that do not write map these pages
/// directly, in every process: exec of the same program, the text of shared libraries and fork
/// then copy nothing. Writing needs a private copy first (mprotect adding PROT_WRITE makes one;
/// see <see cref="MemoryManager.Mprotect"/>).
///
/// An entry reserves MemoryFile room for the whole file but reads it lazily: a fault (or the
/// Sentry's own access) fills the missing pages of an aligned window around it, once for every
/// mapping of the file (large programs touch a fraction of their pages).
///
/// An entry is valid while the inode's size and mtime are those it was made with (the Gofer
/// client refreshes both when it revalidates). Pages stay alive while a mapping uses them
/// (the entry is one reference, each mapping piece another); entries nobody maps are dropped,
/// oldest first, once the cache holds more than its budget.</summary>
public sealed unsafe class FileCache(MemoryFile file, long budget = 512L << 20)
{
    /// <summary>Pages read from the file at a time, aligned: a fault costs far more than reading
    /// a few more pages, which programs tend to touch next anyway.</summary>
    public const int FillWindowPages = 32;

    /// <summary>A file's cached content: pages [Pages.Offset, +AlignUp(Size)) of the MemoryFile,
    /// valid where <see cref="IsFilled"/> says so (the rest are zero until filled).</summary>
    public sealed class Entry
    {
        private const long PageSize = (long)Abi.Mm.PageSize;

        private readonly MemoryFile _file;
        private readonly Inode _inode;
        /// <summary>A bit per page, set once its bytes are in place (after them, with a fence).</summary>
        private readonly ulong[] _filled;
        private readonly Lock _fillLock = new();

        internal Entry(MemoryFile file, Inode inode, MemoryManager.SharedPages pages, long size, Timespec mtime)
        {
            _file = file;
            _inode = inode;
            Pages = pages;
            Size = size;
            Mtime = mtime;
            _filled = new ulong[(PageCount + 63) / 64];
        }

        public MemoryManager.SharedPages Pages { get; }
        public long Size { get; }
        internal Timespec Mtime { get; }
        internal long LastUse;

        public long PageCount => Pages.Length / PageSize;

        public bool IsFilled(long page) => (Volatile.Read(ref _filled[page >> 6]) & (1UL << (int)(page & 63))) != 0;

        /// <summary>How many pages are filled (for tests and accounting).</summary>
        public long FilledPages
        {
            get
            {
                long n = 0;
                for (int i = 0; i < _filled.Length; i++) n += (long)ulong.PopCount(Volatile.Read(ref _filled[i]));
                return n;
            }
        }

        /// <summary>Makes page <paramref name="page"/> hold the file's bytes, reading the missing
        /// pages of the window around it; false past the file or when the file cannot be read
        /// there (it shrank on the host: the access is a SIGBUS, as on Linux).</summary>
        public bool Fill(long page)
        {
            if ((ulong)page >= (ulong)PageCount) return false;
            if (IsFilled(page)) return true;
            lock (_fillLock)
            {
                if (IsFilled(page)) return true;
                long first = page & ~(long)(FillWindowPages - 1), end = Math.Min(first + FillWindowPages, PageCount);
                for (long p = first; p < end;)
                {
                    if (IsFilled(p)) { p++; continue; }
                    long q = p + 1;
                    while (q < end && !IsFilled(q)) q++;
                    ReadRunLocked(p, q);
                    p = q;
                }
                return IsFilled(page);
            }
        }

        /// <summary>Fills every page of the byte range [offset, +length) of the file.</summary>
        public bool FillRange(long offset, long length)
        {
            if (offset < 0 || length < 0 || offset > Size - length) return false;
            for (long p = offset / PageSize, end = (offset + length + PageSize - 1) / PageSize; p < end; p++)
                if (!Fill(p)) return false;
            return true;
        }

        /// <summary>The first page of the run of filled pages that ends at <paramref name="page"/>
        /// (exclusive), going no lower than floor.</summary>
        public long FilledFrom(long page, long floor)
        {
            while (page > floor && IsFilled(page - 1)) page--;
            return page;
        }

        /// <summary>The end of the run of filled pages from <paramref name="page"/>, at most ceiling.</summary>
        public long FilledTo(long page, long ceiling)
        {
            while (page < ceiling && IsFilled(page)) page++;
            return page;
        }

        /// <summary>Reads pages [first, end) and marks those read whole (the file's last page
        /// once its end is read: the rest stays zero). Through a buffer and pwrite rather than
        /// straight into the MemoryFile mapping: pwrite fills new pages without the kernel
        /// zeroing them first, and the Sentry takes no page fault per page (a third less time here).</summary>
        private void ReadRunLocked(long first, long end)
        {
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(FillWindowPages * (int)PageSize);
            long from = first * PageSize, stop = Math.Min(end * PageSize, Size), done = from;
            try
            {
                fixed (byte* p = buffer)
                {
                    while (done < stop)
                    {
                        long n = _inode.ReadData(done, buffer.AsSpan(0, (int)Math.Min(stop - done, buffer.Length)));
                        if (n <= 0 || Sandbox.Abi.Host.Unistd.Pwrite(_file.Fd, p, (nuint)n, Pages.Offset + done) != n) break;
                        done += n;
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            long filledEnd = done == stop ? end : done / PageSize;
            for (long p = first; p < filledEnd; p++) Interlocked.Or(ref _filled[p >> 6], 1UL << (int)(p & 63));
        }
    }

    private readonly Dictionary<Inode, Entry> _entries = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();
    private long _bytes;
    private long _clock;

    /// <summary>Files larger than this are mapped by copying, as before.</summary>
    private const long MaxFileSize = 256L << 20;

    /// <summary>The content of <paramref name="inode"/> with one reference taken for the caller
    /// (who hands it to a mapping, or gives it back with <see cref="Release"/>); null when the
    /// file is not cacheable. Nothing is read yet.</summary>
    public Entry? Acquire(Inode inode)
    {
        if (!inode.ContentIsStable || !inode.IsRegular) return null;
        long size = inode.Size;
        if (size <= 0 || size > MaxFileSize) return null;
        Timespec mtime = inode.Mtime;
        lock (_lock)
        {
            if (_entries.TryGetValue(inode, out var e))
            {
                if (e.Size == size && Same(e.Mtime, mtime))
                {
                    Interlocked.Increment(ref e.Pages.Refs);
                    e.LastUse = ++_clock;
                    return e;
                }
                Drop(inode, e); // the file changed: later mappings get the new content
            }
            // Only room is taken now (the MemoryFile is sparse); pages are read as they are used.
            long length = (long)MemoryFile.AlignUp((ulong)size);
            var fresh = new Entry(file, inode.StableContent, new MemoryManager.SharedPages(file.Allocate(length), length), size, mtime);
            Interlocked.Increment(ref fresh.Pages.Refs); // the caller's; the cache keeps the first
            fresh.LastUse = ++_clock;
            _entries[inode] = fresh;
            _bytes += fresh.Pages.Length;
            Trim();
            return fresh;
        }
    }

    private static bool Same(Timespec a, Timespec b) => a.Sec == b.Sec && a.Nsec == b.Nsec;

    /// <summary>Gives back a reference taken by <see cref="Acquire"/> that no mapping took over.</summary>
    public void Release(Entry entry)
    {
        if (Interlocked.Decrement(ref entry.Pages.Refs) == 0) file.Free(entry.Pages.Offset, entry.Pages.Length);
    }

    /// <summary>The cached bytes (valid while the caller holds its reference, and only where
    /// filled: see <see cref="Entry.FillRange"/>).</summary>
    public ReadOnlySpan<byte> Bytes(Entry entry) => new(file.Base + entry.Pages.Offset, (int)entry.Size);

    /// <summary>Removes an entry and drops the cache's own reference. Under the lock.</summary>
    private void Drop(Inode inode, Entry e)
    {
        _entries.Remove(inode);
        _bytes -= e.Pages.Length;
        Release(e);
    }

    /// <summary>Over budget: drop the least recently used entries. Under the lock.</summary>
    private void Trim()
    {
        if (_bytes <= budget) return;
        foreach (var (inode, e) in _entries.OrderBy(kv => kv.Value.LastUse).ToList())
        {
            if (_bytes <= budget) break;
            Drop(inode, e);
        }
    }
}
