using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Memory;

/// <summary>Read-only copies of whole files in MemoryFile pages, for the container's lower
/// layer (files the sandbox cannot change). Private mappings that do not write map these
/// pages directly, in every process: exec of the same program, the text of shared libraries
/// and fork then copy nothing. Writing needs a private copy first (mprotect adding PROT_WRITE
/// makes one; see <see cref="MemoryManager.Mprotect"/>).
///
/// An entry is valid while the inode's size and mtime are those it was read with (the Gofer
/// client refreshes both when it revalidates). Pages stay alive while a mapping uses them
/// (the entry is one reference, each mapping piece another); entries nobody maps are dropped,
/// oldest first, once the cache holds more than its budget.</summary>
public sealed unsafe class FileCache(MemoryFile file, long budget = 512L << 20)
{
    /// <summary>A file's cached content: pages [Pages.Offset, +AlignUp(Size)) of the MemoryFile.</summary>
    public sealed class Entry
    {
        internal Entry(MemoryManager.SharedPages pages, long size, Timespec mtime)
        {
            Pages = pages;
            Size = size;
            Mtime = mtime;
        }

        public MemoryManager.SharedPages Pages { get; }
        public long Size { get; }
        internal Timespec Mtime { get; }
        internal long LastUse;
    }

    private readonly Dictionary<Inode, Entry> _entries = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();
    private long _bytes;
    private long _clock;

    /// <summary>Files larger than this are mapped by copying, as before.</summary>
    private const long MaxFileSize = 256L << 20;

    /// <summary>The content of <paramref name="inode"/> with one reference taken for the caller
    /// (who hands it to a mapping, or gives it back with <see cref="Release"/>); null when the
    /// file is not cacheable or cannot be read.</summary>
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
        }

        var fresh = Fill(inode, size, mtime);
        if (fresh == null) return null;
        lock (_lock)
        {
            if (_entries.TryGetValue(inode, out var raced) && raced.Size == size && Same(raced.Mtime, mtime))
            {
                Release(fresh); // another thread filled it meanwhile
                Interlocked.Increment(ref raced.Pages.Refs);
                raced.LastUse = ++_clock;
                return raced;
            }
            if (raced != null) Drop(inode, raced);
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

    /// <summary>The cached bytes (valid while the caller holds its reference).</summary>
    public ReadOnlySpan<byte> Bytes(Entry entry) => new(file.Base + entry.Pages.Offset, (int)entry.Size);

    private Entry? Fill(Inode inode, long size, Timespec mtime)
    {
        long length = (long)MemoryFile.AlignUp((ulong)size);
        long offset = file.Allocate(length);
        // Through a buffer and pwrite rather than straight into the mapping: pwrite fills new
        // MemoryFile pages without the kernel zeroing them first (twice as fast here).
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(size, 1 << 20));
        long done = 0;
        try
        {
            fixed (byte* p = buffer)
            {
                while (done < size)
                {
                    long n = inode.ReadData(done, buffer.AsSpan(0, (int)Math.Min(size - done, buffer.Length)));
                    if (n <= 0) break;
                    if (Sandbox.Abi.Host.Unistd.Pwrite(file.Fd, p, (nuint)n, offset + done) != n) break;
                    done += n;
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        if (done != size)
        {
            file.Free(offset, length);
            return null;
        }
        return new Entry(new MemoryManager.SharedPages(offset, length), size, mtime);
    }

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
