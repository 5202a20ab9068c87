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
                v = _vmas[IndexAbove(addr)];
            }
            host = _file.Base + v.OffsetOf(addr);
            available = Math.Min(max, v.End - addr);
            // Extend across following VMAs whose file pages continue contiguously.
            while (available < max && ++i < _vmas.Count)
            {
                Vma next = _vmas[i];
                if (next.Start != v.End || !next.Installed || next.FileOffset != v.OffsetOf(v.End) || !Accessible(next.Prot, write)
                    || (write && next.IsCopyOnWrite)) break;
                available = Math.Min(max, next.End - addr);
                v = next;
            }
            return true;
        }
    }

    /// <summary>Like <see cref="TryTranslate"/> but for the kernel's own writes (the loader),
    /// which ignore guest protections.</summary>
    public bool TryTranslateKernel(ulong addr, ulong max, out byte* host, out ulong available)
    {
        lock (_lock)
        {
            host = null;
            available = 0;
            int i = IndexAbove(addr);
            if (i == _vmas.Count || _vmas[i].Start > addr || !_vmas[i].Installed) return false;
            host = _file.Base + _vmas[i].OffsetOf(addr);
            available = Math.Min(max, _vmas[i].End - addr);
            return true;
        }
    }

    /// <summary>The MemoryFile offset behind a mapped guest address (futex keys). A private
    /// mapping's file page that may be written gets its own copy first, so that the key does
    /// not change under a waiter when it is written.</summary>
    public bool TryFileOffset(ulong addr, out long offset)
    {
        lock (_lock)
        {
            int i = IndexAbove(addr);
            if (i < _vmas.Count && _vmas[i].Start <= addr && _vmas[i].IsCopyOnWrite && (_vmas[i].Prot & Mm.PROT_WRITE) != 0
                && AddressSpace is { } space && space.CanChangeFromThisThread)
            {
                CopyOnWriteLocked(addr);
                i = IndexAbove(addr);
            }
            offset = i < _vmas.Count && _vmas[i].Start <= addr && _vmas[i].Installed ? _vmas[i].OffsetOf(addr) : -1;
            return offset >= 0;
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
        while (done < src.Length)
        {
            if (!TryTranslate(addr + (ulong)done, (ulong)(src.Length - done), true, out byte* p, out ulong n)) break;
            src[done..(done + (int)n)].CopyTo(new Span<byte>(p, (int)n));
            done += (int)n;
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
