using Sandbox.Abi;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Fs;

/// <summary>An anonymous pipe: a bounded byte ring shared by a read end and a write end.
/// Writes of at most PIPE_BUF bytes are atomic; larger ones may interleave. Blocking waits
/// use the pipe as a monitor.</summary>
public sealed class Pipe
{
    public const int PipeBuf = 4096;
    public const int DefaultCapacity = 64 * 1024;
    public const int MaxCapacity = 1 << 20; // fs.pipe-max-size

    private static long _nextIno = 1;

    private byte[] _ring = new byte[DefaultCapacity];
    private int _head; // next byte to read
    private int _count;

    public long Ino { get; } = Interlocked.Increment(ref _nextIno);
    public int Readers { get; private set; }
    public int Writers { get; private set; }
    public int Capacity => _ring.Length;

    public int Available
    {
        get { lock (this) return _count; }
    }

    public (PipeEnd Read, PipeEnd Write) Open(int statusFlags)
    {
        lock (this)
        {
            Readers++;
            Writers++;
        }
        return (new PipeEnd(this, isWriter: false, OpenFlags.O_RDONLY | statusFlags),
                new PipeEnd(this, isWriter: true, OpenFlags.O_WRONLY | statusFlags));
    }

    /// <summary>Opens one end of a named pipe (a FIFO inode). Unlike Linux, opening does not
    /// wait for the other end; reads see EOF only once a writer has come and gone.</summary>
    public long OpenNamed(Kernel.Task task, PathPos path, int flags, out FileDescription? file)
    {
        int access = flags & OpenFlags.O_ACCMODE;
        lock (this)
        {
            bool reader = access != OpenFlags.O_WRONLY, writer = access != OpenFlags.O_RDONLY;
            if (writer && !reader && Readers == 0 && (flags & OpenFlags.O_NONBLOCK) != 0)
            {
                file = null;
                return -(long)Errno.ENXIO;
            }
            if (reader) Readers++;
            if (writer) Writers++;
            file = new PipeEnd(this, isWriter: writer, flags & ~OpenFlags.O_CLOEXEC, reader && writer) { Path = path };
            return 0;
        }
    }

    internal void Close(bool isWriter)
    {
        lock (this)
        {
            if (isWriter) Writers--; else Readers--;
            Monitor.PulseAll(this);
        }
    }

    /// <summary>F_SETPIPE_SZ: rounds up to a power of two pages; EBUSY if the data would not fit.</summary>
    public long SetCapacity(long requested)
    {
        if (requested < 0 || requested > MaxCapacity) return -(long)Errno.EPERM;
        int size = (int)Math.Max(Mm.PageSize, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(requested, 1)));
        lock (this)
        {
            if (size < _count) return -(long)Errno.EBUSY;
            var ring = new byte[size];
            CopyOut(ring.AsSpan(0, _count));
            _ring = ring;
            _head = 0;
            Monitor.PulseAll(this);
            return size;
        }
    }

    /// <summary>Reads into dst. Blocks while empty and a writer exists (unless non-blocking).</summary>
    public long Read(IoBuffers dst, bool nonBlocking)
    {
        if (dst.Length == 0) return 0;
        lock (this)
        {
            while (_count == 0)
            {
                if (Writers == 0) return 0;
                if (nonBlocking) return -(long)Errno.EAGAIN;
                Monitor.Wait(this);
            }
            long done = 0;
            while (done < dst.Length && _count > 0)
            {
                int chunk = (int)Math.Min(dst.Length - done, Math.Min(_count, _ring.Length - _head));
                int copied = dst.CopyOut(done, _ring.AsSpan(_head, chunk));
                Consume(copied);
                done += copied;
                if (copied < chunk) return done > 0 ? Woke(done) : -(long)Errno.EFAULT;
            }
            return Woke(done);
        }
    }

    /// <summary>Writes from src. EPIPE without readers (the caller raises SIGPIPE). Writes of at
    /// most PIPE_BUF bytes go in whole or wait.</summary>
    public long Write(IoBuffers src, bool nonBlocking)
    {
        long total = src.Length;
        if (total == 0) return 0;
        bool atomic = total <= PipeBuf;
        lock (this)
        {
            long done = 0;
            while (done < total)
            {
                if (Readers == 0) return done > 0 ? Woke(done) : -(long)Errno.EPIPE;
                int free = _ring.Length - _count;
                if (free == 0 || (atomic && free < total - done))
                {
                    if (nonBlocking) return done > 0 ? Woke(done) : -(long)Errno.EAGAIN;
                    Monitor.PulseAll(this);
                    Monitor.Wait(this);
                    continue;
                }
                int tail = (_head + _count) % _ring.Length;
                int chunk = (int)Math.Min(total - done, Math.Min(free, _ring.Length - tail));
                int copied = src.CopyIn(done, _ring.AsSpan(tail, chunk));
                _count += copied;
                done += copied;
                if (copied < chunk) return done > 0 ? Woke(done) : -(long)Errno.EFAULT;
            }
            return Woke(done);
        }
    }

    /// <summary>Copies up to dst.Length buffered bytes without consuming them (tee). Blocks
    /// while empty and a writer exists, unless non-blocking.</summary>
    public long Peek(Span<byte> dst, bool nonBlocking)
    {
        lock (this)
        {
            while (_count == 0)
            {
                if (Writers == 0) return 0;
                if (nonBlocking) return -(long)Errno.EAGAIN;
                Monitor.Wait(this);
            }
            int n = Math.Min(dst.Length, _count);
            int first = Math.Min(n, _ring.Length - _head);
            _ring.AsSpan(_head, first).CopyTo(dst);
            _ring.AsSpan(0, n - first).CopyTo(dst[first..]);
            return n;
        }
    }

    private long Woke(long result)
    {
        Monitor.PulseAll(this);
        return result;
    }

    private void Consume(int n)
    {
        _head = (_head + n) % _ring.Length;
        _count -= n;
    }

    private void CopyOut(Span<byte> dst)
    {
        int first = Math.Min(_count, _ring.Length - _head);
        _ring.AsSpan(_head, first).CopyTo(dst);
        _ring.AsSpan(0, _count - first).CopyTo(dst[first..]);
    }
}

/// <summary>One end of a <see cref="Pipe"/>.</summary>
public sealed class PipeEnd : FileDescription
{
    private readonly bool _isWriter;
    private readonly bool _isBoth;

    public PipeEnd(Pipe pipe, bool isWriter, int flags, bool both = false)
    {
        Pipe = pipe;
        _isWriter = isWriter;
        _isBoth = both;
        Flags = flags;
    }

    public Pipe Pipe { get; }

    public override string Name => $"pipe:[{Pipe.Ino}]";

    private bool NonBlocking => (Flags & OpenFlags.O_NONBLOCK) != 0;

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Read(new IoBuffers(task.MemoryManager, iovecs), NonBlocking);

    public override long Write(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Write(new IoBuffers(task.MemoryManager, iovecs), NonBlocking);

    public override long ReadKernel(Span<byte> dst, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Read(new IoBuffers(dst), NonBlocking);

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Write(IoBuffers.Source(src), NonBlocking);

    public override long Stat(out Stat stat)
    {
        if (Path is { } named) return named.Inode.Stat(out stat);
        stat = new Stat
        {
            Dev = 0xd,
            Ino = (ulong)Pipe.Ino,
            Nlink = 1,
            Mode = StatMode.S_IFIFO | 0x180 /* 0600 */,
            Blksize = (long)Mm.PageSize,
        };
        return 0;
    }

    public override long Ioctl(Kernel.Task task, uint request, ulong arg) => request switch
    {
        Abi.Ioctl.FIONREAD => task.MemoryManager.CopyOut(arg, Pipe.Available),
        _ => -(long)Errno.ENOTTY,
    };

    protected override void Release()
    {
        if (_isBoth) Pipe.Close(isWriter: false);
        Pipe.Close(_isWriter);
    }
}
