using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Memory;

namespace Sandbox.Sentry.Vfs;

/// <summary>The other side of a read or write: guest memory described by iovecs, or a buffer
/// of the Sentry's own (sendfile, splice, copy-up). Positions are byte offsets into the
/// concatenation; copies stop short at the first inaccessible guest byte.</summary>
public readonly ref struct IoBuffers
{
    private readonly MemoryManager? _mm;
    private readonly ReadOnlySpan<Iovec> _iovecs;
    private readonly Span<byte> _kernel;

    public IoBuffers(MemoryManager mm, ReadOnlySpan<Iovec> iovecs)
    {
        _mm = mm;
        _iovecs = iovecs;
        long total = 0;
        foreach (var v in iovecs) total += (long)v.Len;
        Length = total;
    }

    public IoBuffers(Span<byte> kernel)
    {
        _kernel = kernel;
        Length = kernel.Length;
    }

    /// <summary>A Sentry buffer that a write drains; it is never written to.</summary>
    public static IoBuffers Source(ReadOnlySpan<byte> kernel) =>
        new(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(kernel), kernel.Length));

    public long Length { get; }

    /// <summary>Copies src into the buffers at pos (a read filling them).</summary>
    public int CopyOut(long pos, ReadOnlySpan<byte> src)
    {
        if (_mm == null)
        {
            int n = (int)Math.Min(src.Length, Length - pos);
            src[..n].CopyTo(_kernel[(int)pos..]);
            return n;
        }
        int done = 0;
        for (var ranges = new GuestRanges(_iovecs, pos, src.Length); ranges.Next(out ulong at, out long chunk);)
        {
            int copied = _mm.CopyOutPartial(at, src.Slice(done, (int)chunk));
            done += copied;
            if (copied < chunk) break;
        }
        return done;
    }

    /// <summary>Fills length bytes of the buffers at pos with zeros (a read of a hole); returns
    /// the bytes cleared (short at the first inaccessible guest byte).</summary>
    public unsafe long ZeroOut(long pos, long length)
    {
        length = Math.Min(length, Length - pos);
        if (length <= 0) return 0;
        if (_mm == null)
        {
            _kernel.Slice((int)pos, (int)length).Clear();
            return length;
        }
        long done = 0;
        for (var ranges = new GuestRanges(_iovecs, pos, length); ranges.Next(out ulong at, out long chunk);)
        {
            long cleared = 0;
            while (cleared < chunk)
            {
                if (!_mm.TryTranslate(at + (ulong)cleared, (ulong)(chunk - cleared), true, out byte* p, out ulong n)) break;
                NativeMemory.Clear(p, (nuint)n);
                cleared += (long)n;
            }
            done += cleared;
            if (cleared < chunk) break;
        }
        return done;
    }

    /// <summary>Writes length bytes from the buffers at pos into a host file at fileOffset with
    /// pwrite (tmpfs pages in the MemoryFile: a whole-page pwrite fills a new page without the
    /// kernel zeroing it first, which a copy through the mapping cannot avoid). Returns the
    /// bytes written (short at the first inaccessible guest byte).</summary>
    public unsafe int CopyInToFile(long pos, int fd, long fileOffset, int length)
    {
        if (_mm == null)
        {
            int n = (int)Math.Min(length, Length - pos);
            fixed (byte* p = _kernel.Slice((int)pos, n)) return Sandbox.Abi.Host.Unistd.PwriteFully(fd, p, n, fileOffset);
        }
        int done = 0;
        for (var ranges = new GuestRanges(_iovecs, pos, length); ranges.Next(out ulong at, out long chunk);)
        {
            int copied = 0;
            while (copied < chunk)
            {
                if (!_mm.TryTranslate(at + (ulong)copied, (ulong)(chunk - copied), false, out byte* p, out ulong n)) break;
                int wrote = Sandbox.Abi.Host.Unistd.PwriteFully(fd, p, (int)n, fileOffset + done + copied);
                copied += wrote;
                if (wrote < (int)n) break;
            }
            done += copied;
            if (copied < chunk) break;
        }
        return done;
    }

    /// <summary>Fills the buffers from pos with up to length bytes of a host file at fileOffset,
    /// read with pread straight into guest memory (no bounce buffer). Returns the bytes read
    /// (short at the end of the file or at the first inaccessible guest byte), -EFAULT when not
    /// one guest byte is writable, or -errno when the first pread fails.</summary>
    public unsafe long CopyOutFromFile(long pos, int fd, long fileOffset, long length)
    {
        length = Math.Min(length, Length - pos);
        if (length <= 0) return 0;
        if (_mm == null)
        {
            fixed (byte* p = _kernel.Slice((int)pos, (int)length)) return Sandbox.Abi.Host.Unistd.PreadFully(fd, p, (int)length, fileOffset);
        }
        long done = 0;
        for (var ranges = new GuestRanges(_iovecs, pos, length); ranges.Next(out ulong at, out long chunk);)
        {
            long copied = 0;
            while (copied < chunk)
            {
                if (!_mm.TryTranslate(at + (ulong)copied, (ulong)(chunk - copied), true, out byte* p, out ulong n))
                    return done + copied > 0 ? done + copied : -(long)Errno.EFAULT;
                int want = (int)Math.Min(n, 1UL << 30);
                long got = Sandbox.Abi.Host.Unistd.PreadFully(fd, p, want, fileOffset + done + copied);
                if (got < 0) return done + copied > 0 ? done + copied : got;
                copied += got;
                if (got < want) return done + copied; // the end of the file
            }
            done += copied;
        }
        return done;
    }

    /// <summary>Copies from the buffers at pos into dst (a write draining them).</summary>
    public int CopyIn(long pos, Span<byte> dst)
    {
        if (_mm == null)
        {
            int n = (int)Math.Min(dst.Length, Length - pos);
            _kernel.Slice((int)pos, n).CopyTo(dst);
            return n;
        }
        int done = 0;
        for (var ranges = new GuestRanges(_iovecs, pos, dst.Length); ranges.Next(out ulong at, out long chunk);)
        {
            int copied = _mm.CopyInPartial(at, dst.Slice(done, (int)chunk));
            done += copied;
            if (copied < chunk) break;
        }
        return done;
    }

    /// <summary>The guest ranges that hold bytes [pos, pos + count) of the concatenated
    /// iovecs, in order (empty iovecs skipped).</summary>
    private ref struct GuestRanges(ReadOnlySpan<Iovec> iovecs, long pos, long count)
    {
        private readonly ReadOnlySpan<Iovec> _iovecs = iovecs;
        private int _next;
        private long _skip = pos, _left = count;

        public bool Next(out ulong address, out long length)
        {
            while (_left > 0 && _next < _iovecs.Length)
            {
                Iovec v = _iovecs[_next++];
                if (_skip >= (long)v.Len)
                {
                    _skip -= (long)v.Len;
                    continue;
                }
                length = Math.Min(_left, (long)v.Len - _skip);
                address = v.Base + (ulong)_skip;
                _skip = 0;
                _left -= length;
                return true;
            }
            address = 0;
            length = 0;
            return false;
        }
    }
}
