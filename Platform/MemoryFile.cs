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
    // Free ranges below _bump, keyed by offset; coalesced on free.
    private readonly SortedDictionary<long, long> _free = new();
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
            foreach (var (off, len) in _free)
            {
                if (len < length) continue;
                _free.Remove(off);
                if (len > length) _free[off + length] = len - length;
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
            if (_free.TryGetValue(offset, out long len) && len >= length)
            {
                _free.Remove(offset);
                if (len > length) _free[offset + length] = len - length;
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
            // Coalesce with the neighbours.
            long prevOff = -1;
            foreach (var (o, l) in _free)
            {
                if (o >= offset) break;
                prevOff = o;
            }
            if (prevOff >= 0 && prevOff + _free[prevOff] == offset)
            {
                offset = prevOff;
                length += _free[prevOff];
                _free.Remove(prevOff);
            }
            if (_free.TryGetValue(offset + length, out long nextLen))
            {
                _free.Remove(offset + length);
                length += nextLen;
            }
            if (offset + length == _bump) _bump = offset;
            else _free[offset] = length;
        }
    }

    /// <summary>Zeroes a range and gives its memory back to the host (MADV_DONTNEED semantics).</summary>
    public void Decommit(long offset, long length)
    {
        if (Mman.Fallocate(Fd, Mm.FALLOC_FL_PUNCH_HOLE | Mm.FALLOC_FL_KEEP_SIZE, offset, length) != 0)
            new Span<byte>(Base + offset, checked((int)length)).Clear();
    }

    public Span<byte> Slice(long offset, int length) => new(Base + offset, length);

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
