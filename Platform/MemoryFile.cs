using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Platform;

/// <summary>All guest pages live in this one host memfd, mapped once into the Sentry so that
/// copy-in/copy-out is a memcpy. The file is sparse: only touched pages cost host memory.
/// Ranges are handed out page-aligned; freed ranges are hole-punched so they read as zero
/// when reused.</summary>
public sealed unsafe class MemoryFile : IDisposable
{
    /// <summary>Virtual size of the file and of the Sentry's mapping (sparse; 1 TiB).</summary>
    public const long DefaultSize = 1L << 40;

    private readonly Lock _lock = new();
    // Free ranges below _bump, sorted by offset; coalesced on free.
    private readonly FreeList _free = new();
    private long _bump;

    public int Fd { get; }
    public byte* Base { get; }
    public long Size { get; }

    public MemoryFile(long size = DefaultSize)
    {
        Size = size;
        Fd = HostError.Check(Mman.MemfdCreate("runsc-memory", Mm.MFD_CLOEXEC), "memfd_create");
        HostError.Check(Mman.Ftruncate(Fd, size), "ftruncate(memfd)");
        nint p = Mman.Mmap(0, (nuint)size, Mm.PROT_READ | Mm.PROT_WRITE, Mm.MAP_SHARED | Mm.MAP_NORESERVE, Fd, 0);
        if (p == Mman.MapFailed) throw new HostException("mmap(memfd)", HostError.Last);
        Base = (byte*)p;
    }

    /// <summary>Bytes handed out and not freed (for accounting and tests).</summary>
    public long Allocated { get; private set; }

    /// <summary>Reserves a page-aligned range of zeroed file pages; returns its offset.</summary>
    public long Allocate(long length)
    {
        length = (long)AlignUp((ulong)length);
        lock (_lock)
        {
            for (int i = 0; i < _free.Count; i++)
            {
                long off = _free.Offset(i), len = _free.Length(i);
                if (len < length) continue;
                if (len > length) _free.Set(i, off + length, len - length);
                else _free.RemoveAt(i);
                Allocated += length;
                return off;
            }
            if (_bump + length > Size) throw new OutOfMemoryException("MemoryFile exhausted");
            long result = _bump;
            _bump += length;
            Allocated += length;
            return result;
        }
    }

    /// <summary>Allocates exactly [offset, offset+length) if that range is free: lets a growing
    /// mapping stay contiguous in the file (and so remain one VMA).</summary>
    public bool TryAllocateAt(long offset, long length)
    {
        length = (long)AlignUp((ulong)length);
        lock (_lock)
        {
            if (offset == _bump && _bump + length <= Size)
            {
                _bump += length;
                Allocated += length;
                return true;
            }
            int i = _free.LowerBound(offset);
            if (i < _free.Count && _free.Offset(i) == offset && _free.Length(i) >= length)
            {
                long len = _free.Length(i);
                if (len > length) _free.Set(i, offset + length, len - length);
                else _free.RemoveAt(i);
                Allocated += length;
                return true;
            }
            return false;
        }
    }

    /// <summary>Returns a range to the allocator; its pages are released to the host.</summary>
    public void Free(long offset, long length)
    {
        length = (long)AlignUp((ulong)length);
        Decommit(offset, length);
        lock (_lock)
        {
            Allocated -= length;
            // Coalesce with the neighbours: the last range below offset and the one at its end.
            int i = _free.LowerBound(offset);
            if (i > 0 && _free.Offset(i - 1) + _free.Length(i - 1) == offset)
            {
                i--;
                offset = _free.Offset(i);
                length += _free.Length(i);
                _free.RemoveAt(i);
            }
            if (i < _free.Count && _free.Offset(i) == offset + length)
            {
                length += _free.Length(i);
                _free.RemoveAt(i);
            }
            if (offset + length == _bump) _bump = offset;
            else _free.Insert(i, offset, length);
        }
    }

    /// <summary>Zeroes a range and gives its memory back to the host (MADV_DONTNEED semantics).</summary>
    public void Decommit(long offset, long length)
    {
        if (Mman.Fallocate(Fd, Mm.FALLOC_FL_PUNCH_HOLE | Mm.FALLOC_FL_KEEP_SIZE, offset, length) != 0)
            new Span<byte>(Base + offset, checked((int)length)).Clear();
    }

    public Span<byte> Slice(long offset, int length) => new(Base + offset, length);

    /// <summary>Maps pages just written with pwrite into the Sentry's own mapping, so that later
    /// copies out of them do not fault. One read per 64 KiB: on a read fault the kernel maps the
    /// file pages around it too (fault-around); any it leaves out fault later, as before.</summary>
    public void MapForReading(long offset, long length)
    {
        const long Stride = 64 << 10;
        for (long at = offset; at < offset + length; at = (at + Stride) & ~(Stride - 1))
            _ = Volatile.Read(ref Base[at]);
    }

    /// <summary>Free ranges sorted by offset, in two parallel arrays. (A SortedDictionary of
    /// longs did the same, but framework generics over value types are not precompiled by
    /// ReadyToRun: its first use JIT-compiled some 50 methods, about 4 ms of every runsc start.)</summary>
    private sealed class FreeList
    {
        private long[] _offsets = new long[16];
        private long[] _lengths = new long[16];

        public int Count { get; private set; }

        public long Offset(int i) => _offsets[i];

        public long Length(int i) => _lengths[i];

        /// <summary>The index of the first range whose offset is at least offset (Count if none).</summary>
        public int LowerBound(long offset)
        {
            int lo = 0, hi = Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (_offsets[mid] < offset) lo = mid + 1;
                else hi = mid;
            }
            return lo;
        }

        /// <summary>Replaces range i; the caller keeps the order (it only moves within its gap).</summary>
        public void Set(int i, long offset, long length)
        {
            _offsets[i] = offset;
            _lengths[i] = length;
        }

        public void RemoveAt(int i)
        {
            Array.Copy(_offsets, i + 1, _offsets, i, Count - i - 1);
            Array.Copy(_lengths, i + 1, _lengths, i, Count - i - 1);
            Count--;
        }

        public void Insert(int i, long offset, long length)
        {
            if (Count == _offsets.Length)
            {
                var offsets = new long[2 * Count];
                var lengths = new long[2 * Count];
                Array.Copy(_offsets, offsets, Count);
                Array.Copy(_lengths, lengths, Count);
                _offsets = offsets;
                _lengths = lengths;
            }
            Array.Copy(_offsets, i, _offsets, i + 1, Count - i);
            Array.Copy(_lengths, i, _lengths, i + 1, Count - i);
            _offsets[i] = offset;
            _lengths[i] = length;
            Count++;
        }
    }

    public static ulong AlignUp(ulong v) => (v + Mm.PageSize - 1) & ~(Mm.PageSize - 1);

    private int _disposed;

    /// <summary>Unmaps and closes once. A second call must do nothing: by then the address
    /// range and the descriptor number may belong to someone else (the runtime maps and opens
    /// its own), and unmapping or closing them again crashes the process.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Mman.Munmap((nint)Base, (nuint)Size);
        Unistd.Close(Fd);
    }
}
