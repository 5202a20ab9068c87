using System.Text;
using Sandbox.Abi;

namespace Sandbox.Sentry.Memory;

/// <summary>Copy-in/copy-out: guest memory is read and written through the Sentry's own
/// mapping of the MemoryFile, after checking the VMA's protection the way the kernel's
/// uaccess would. Bad guest pointers give EFAULT, never a Sentry fault.</summary>
public sealed unsafe partial class MemoryManager
{
    /// <summary>Finds the host address of guest addr and how many bytes from there are
    /// contiguous and accessible (up to max).</summary>
    public bool TryTranslate(ulong addr, ulong max, bool write, out byte* host, out ulong available)
    {
        lock (_lock)
        {
            host = null;
            available = 0;
            int i = IndexAbove(addr);
            if (i < _vmas.Count && _vmas[i].Start <= addr && _vmas[i].Lazy)
                return !write && Accessible(_vmas[i].Prot, write) && TranslateCacheLocked(_vmas[i], addr, max, out host, out available);
            if (i == _vmas.Count || _vmas[i].Start > addr || !_vmas[i].Installed)
            {
                // Where a guest access would grow the stack or find file pages, so does ours.
                if (!FaultInLocked(addr)) return false;
                i = IndexAbove(addr);
                if (i == _vmas.Count || _vmas[i].Start > addr || !_vmas[i].Installed) return false;
            }
            Vma v = _vmas[i];
            if (!Accessible(v.Prot, write)) return false;
            if (write && v.IsCopyOnWrite)
            {
                // Writing a private mapping's file page: its own copy first, as the guest's write would.
                if (AddressSpace is not { } space || !space.CanChangeFromThisThread) return false;
                CopyOnWriteLocked(addr);
                i = IndexAbove(addr);
                v = _vmas[i];
            }
            ulong limit = write ? WritableEndLocked(ref i, addr) : v.End;
            v = _vmas[i];
            host = _file.Base + v.OffsetOf(addr);
            available = Math.Min(max, limit - addr);
            // Extend across following VMAs whose file pages continue contiguously.
            while (available < max && limit == v.End && ++i < _vmas.Count)
            {
                Vma next = _vmas[i];
                if (next.Start != v.End || !next.Installed || next.FileOffset != v.OffsetOf(v.End) || !Accessible(next.Prot, write)
                    || (write && (next.IsCopyOnWrite || next.Cow))) break;
                limit = next.End;
                available = Math.Min(max, next.End - addr);
                v = next;
            }
            return true;
        }
    }

    /// <summary>Like <see cref="TryTranslate"/> but for the kernel's own writes (the loader),
    /// which ignore guest protections; with write false, only to read.</summary>
    public bool TryTranslateKernel(ulong addr, ulong max, out byte* host, out ulong available, bool write = true)
    {
        lock (_lock)
        {
            host = null;
            available = 0;
            int i = IndexAbove(addr);
            if (i < _vmas.Count && _vmas[i].Start <= addr && _vmas[i].Lazy) return TranslateCacheLocked(_vmas[i], addr, max, out host, out available);
            if (i == _vmas.Count || _vmas[i].Start > addr || !_vmas[i].Installed) return false;
            ulong limit = write ? WritableEndLocked(ref i, addr) : _vmas[i].End;
            host = _file.Base + _vmas[i].OffsetOf(addr);
            available = Math.Min(max, limit - addr);
            return true;
        }
    }

    /// <summary>The Sentry's read of a lazy file-cache piece v at addr: the cache's pages, filled
    /// as far as needed (the platform is left as it is: the guest's own access installs them).</summary>
    private bool TranslateCacheLocked(Vma v, ulong addr, ulong max, out byte* host, out ulong available)
    {
        host = null;
        available = 0;
        FileCache.Entry entry = v.Cache!;
        long page = CachePage(v, addr);
        if (!entry.Fill(page)) return false;
        ulong runEnd = v.Start + (ulong)(entry.FilledTo(page, CachePage(v, v.End)) - CachePage(v, v.Start)) * Mm.PageSize;
        host = _file.Base + v.OffsetOf(addr);
        available = Math.Min(max, runEnd - addr);
        return true;
    }

    /// <summary>For a write by the Sentry at addr in piece i: pages a fork shared are never written
    /// in place. A page still shared gets a copy of its own first, as the guest's write would;
    /// one no one else holds any more is written where it is (the guest's next write there takes
    /// it over). Returns where the writable part of the piece (now at i) ends.</summary>
    private ulong WritableEndLocked(ref int i, ulong addr)
    {
        Vma v = _vmas[i];
        if (!v.Cow) return v.End;
        ulong page = addr & ~(Mm.PageSize - 1);
        long at = v.OffsetOf(page);
        if (_refs.IsShared(at))
        {
            BreakCowLocked(addr);
            i = IndexAbove(addr);
            return _vmas[i].Cow ? page + Mm.PageSize : _vmas[i].End;
        }
        return page + (ulong)_refs.ExclusiveAbove(at, (long)(v.End - page));
    }

    /// <summary>The futex key of a mapped guest address, as Linux makes it: for a shared mapping the
    /// MemoryFile offset behind it (so waiters meet across processes), for a private one this
    /// address space and the address (negative, so never an offset): it must not change when
    /// copy-on-write moves the page, nor meet another process's private word.</summary>
    public bool TryFileOffset(ulong addr, out long offset)
    {
        lock (_lock)
        {
            int i = IndexAbove(addr);
            offset = -1;
            if (i == _vmas.Count || _vmas[i].Start > addr || (!_vmas[i].Installed && !_vmas[i].Lazy)) return false;
            Vma v = _vmas[i];
            offset = v.Shared ? v.OffsetOf(addr) : -1 - (long)((_serial & 0xFFFF) << 47 | (addr & ((1UL << 47) - 1)));
            return true;
        }
    }

    // On x86 every mapping that is not PROT_NONE is readable; writing needs PROT_WRITE.
    private static bool Accessible(int prot, bool write) =>
        write ? (prot & Mm.PROT_WRITE) != 0 : prot != Mm.PROT_NONE;

    /// <summary>Copies guest memory into dst; returns bytes copied (short on a fault).</summary>
    public int CopyInPartial(ulong addr, Span<byte> dst)
    {
        int done = 0;
        while (done < dst.Length)
        {
            if (!TryTranslate(addr + (ulong)done, (ulong)(dst.Length - done), false, out byte* p, out ulong n)) break;
            new ReadOnlySpan<byte>(p, (int)n).CopyTo(dst[done..]);
            done += (int)n;
        }
        return done;
    }

    /// <summary>Copies src into guest memory; returns bytes copied (short on a fault).</summary>
    public int CopyOutPartial(ulong addr, ReadOnlySpan<byte> src)
    {
        int done = 0;
        // Under the lock, so that a fork by another thread sees the write before or after, and
        // never shares a page while it is being written.
        lock (_lock)
        {
            while (done < src.Length)
            {
                if (!TryTranslate(addr + (ulong)done, (ulong)(src.Length - done), true, out byte* p, out ulong n)) break;
                src[done..(done + (int)n)].CopyTo(new Span<byte>(p, (int)n));
                done += (int)n;
            }
        }
        return done;
    }

    /// <summary>0 on success, -EFAULT if any byte is not readable.</summary>
    public long CopyIn(ulong addr, Span<byte> dst) =>
        CopyInPartial(addr, dst) == dst.Length ? 0 : -(long)Errno.EFAULT;

    /// <summary>0 on success, -EFAULT if any byte is not writable.</summary>
    public long CopyOut(ulong addr, ReadOnlySpan<byte> src) =>
        CopyOutPartial(addr, src) == src.Length ? 0 : -(long)Errno.EFAULT;

    public long CopyIn<T>(ulong addr, out T value) where T : unmanaged
    {
        value = default;
        fixed (T* p = &value) return CopyIn(addr, new Span<byte>(p, sizeof(T)));
    }

    public long CopyOut<T>(ulong addr, in T value) where T : unmanaged
    {
        fixed (T* p = &value) return CopyOut(addr, new ReadOnlySpan<byte>(p, sizeof(T)));
    }

    /// <summary>Reads a NUL-terminated string of at most maxLength bytes (excluding the NUL).
    /// Returns -EFAULT, -ENAMETOOLONG when no NUL is found in time, or 0.</summary>
    public long ReadCString(ulong addr, int maxLength, out string value)
    {
        value = "";
        var bytes = new List<byte>(64);
        while (true)
        {
            if (!TryTranslate(addr, (ulong)(maxLength + 1 - bytes.Count), false, out byte* p, out ulong n))
                return -(long)Errno.EFAULT;
            var chunk = new ReadOnlySpan<byte>(p, (int)n);
            int nul = chunk.IndexOf((byte)0);
            if (nul >= 0)
            {
                foreach (byte b in chunk[..nul]) bytes.Add(b);
                value = Encoding.UTF8.GetString(bytes.ToArray());
                return 0;
            }
            foreach (byte b in chunk) bytes.Add(b);
            addr += n;
            if (bytes.Count > maxLength) return -(long)Errno.ENAMETOOLONG;
        }
    }

    /// <summary>Gathers the host memory behind a guest buffer as iovecs, stopping at the first
    /// inaccessible byte. Returns how many entries were filled; total receives the bytes.</summary>
    public int Gather(ulong addr, ulong length, bool write, Span<Iovec> dst, out ulong total)
    {
        int n = 0;
        total = 0;
        while (total < length && n < dst.Length)
        {
            if (!TryTranslate(addr + total, length - total, write, out byte* p, out ulong avail)) break;
            dst[n++] = new Iovec { Base = (ulong)p, Len = avail };
            total += avail;
        }
        return n;
    }
}
