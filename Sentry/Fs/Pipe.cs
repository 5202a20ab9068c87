using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Fs;

/// <summary>An anonymous or named pipe: a bounded byte ring shared by read ends and write
/// ends. Writes of at most PIPE_BUF bytes are atomic; larger ones may interleave. The try-
/// operations never block; the ends block through the task's waiter on <see cref="Queue"/>.</summary>
public sealed class Pipe
{
    public const int PipeBuf = 4096;
    public const int DefaultCapacity = 64 * 1024;
    public const int MaxCapacity = 1 << 20; // fs.pipe-max-size

    private static long _nextIno = 1;

    private byte[] _ring = new byte[DefaultCapacity];
    private int _head; // next byte to read
    private int _count;
    /// <summary>A named pipe has had a writer: reads at EOF return 0 rather than waiting.</summary>
    private bool _hadWriter;

    public long Ino { get; } = Interlocked.Increment(ref _nextIno);

    /// <summary>O_DIRECT "packet mode": each write (of up to PIPE_BUF bytes) is one packet and
    /// each read takes at most one packet, discarding what does not fit.</summary>
    public bool PacketMode { get; init; }
    private readonly Queue<int> _packets = new();
    public WaitQueue Queue { get; } = new();
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
            _hadWriter = true;
        }
        return (new PipeEnd(this, isReader: true, isWriter: false, OpenFlags.O_RDONLY | statusFlags),
                new PipeEnd(this, isReader: false, isWriter: true, OpenFlags.O_WRONLY | statusFlags));
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
            if (writer) { Writers++; _hadWriter = true; }
            file = new PipeEnd(this, reader, writer, flags & ~OpenFlags.O_CLOEXEC) { Path = path };
        }
        Queue.Notify(POLLIN | POLLOUT);
        return 0;
    }

    internal void Close(bool reader, bool writer)
    {
        lock (this)
        {
            if (reader) Readers--;
            if (writer) Writers--;
        }
        Queue.Notify(POLLIN | POLLOUT | POLLHUP | POLLERR);
    }

    /// <summary>poll events now: readable with data or at EOF, writable with room.</summary>
    public uint Readiness(bool reader, bool writer)
    {
        lock (this)
        {
            uint ev = 0;
            if (reader)
            {
                if (_count > 0) ev |= POLLIN | POLLRDNORM;
                if (Writers == 0 && _hadWriter) ev |= POLLHUP;
            }
            if (writer)
            {
                if (_ring.Length - _count >= PipeBuf || (_count == 0)) ev |= POLLOUT | POLLWRNORM;
                if (Readers == 0) ev |= POLLERR;
            }
            return ev;
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
            int first = Math.Min(_count, _ring.Length - _head);
            _ring.AsSpan(_head, first).CopyTo(ring);
            _ring.AsSpan(0, _count - first).CopyTo(ring.AsSpan(first));
            _ring = ring;
            _head = 0;
        }
        Queue.Notify(POLLOUT);
        return size;
    }

    /// <summary>Reads what is buffered into dst: bytes read, 0 at EOF, -EAGAIN when empty
    /// with a writer still present.</summary>
    public long TryRead(IoBuffers dst)
    {
        if (dst.Length == 0) return 0;
        long done = 0;
        lock (this)
        {
            if (_count == 0) return Writers == 0 ? 0 : -(long)Errno.EAGAIN;
            long limit = dst.Length;
            int packet = 0;
            if (PacketMode && _packets.Count > 0)
            {
                packet = _packets.Dequeue();
                limit = Math.Min(limit, packet);
            }
            while (done < limit && _count > 0)
            {
                int chunk = (int)Math.Min(limit - done, Math.Min(_count, _ring.Length - _head));
                int copied = dst.CopyOut(done, _ring.AsSpan(_head, chunk));
                _head = (_head + copied) % _ring.Length;
                _count -= copied;
                done += copied;
                if (copied < chunk) break;
            }
            if (packet > done)
            {
                // The rest of the packet is discarded, as Linux does.
                int rest = packet - (int)done;
                _head = (_head + rest) % _ring.Length;
                _count -= rest;
            }
        }
        if (done > 0) Queue.Notify(POLLOUT | POLLWRNORM);
        return done > 0 ? done : -(long)Errno.EFAULT;
    }

    /// <summary>Writes from src starting at position from: bytes written (possibly short),
    /// -EAGAIN without room (all of an atomic write must fit), -EPIPE without readers.</summary>
    public long TryWrite(IoBuffers src, long from)
    {
        long total = src.Length - from;
        if (total <= 0) return 0;
        if (PacketMode) total = Math.Min(total, PipeBuf); // one packet per call
        bool atomic = src.Length <= PipeBuf || PacketMode;
        long done = 0;
        lock (this)
        {
            if (Readers == 0) return -(long)Errno.EPIPE;
            int free = _ring.Length - _count;
            if (free == 0 || (atomic && free < total)) return -(long)Errno.EAGAIN;
            while (done < total && _count < _ring.Length)
            {
                int tail = (_head + _count) % _ring.Length;
                int chunk = (int)Math.Min(total - done, Math.Min(_ring.Length - _count, _ring.Length - tail));
                int copied = src.CopyIn(from + done, _ring.AsSpan(tail, chunk));
                _count += copied;
                done += copied;
                if (copied < chunk) break;
            }
            if (PacketMode && done > 0) _packets.Enqueue((int)done);
        }
        if (done > 0) Queue.Notify(POLLIN | POLLRDNORM);
        return done > 0 ? done : -(long)Errno.EFAULT;
    }

    /// <summary>Copies up to dst.Length buffered bytes without consuming them (tee).</summary>
    public long TryPeek(Span<byte> dst)
    {
        lock (this)
        {
            if (_count == 0) return Writers == 0 && _hadWriter ? 0 : -(long)Errno.EAGAIN;
            int n = Math.Min(dst.Length, _count);
            int first = Math.Min(n, _ring.Length - _head);
            _ring.AsSpan(_head, first).CopyTo(dst);
            _ring.AsSpan(0, n - first).CopyTo(dst[first..]);
            return n;
        }
    }

    /// <summary>A blocking or non-blocking read for task: waits while empty.</summary>
    public long Read(Kernel.Task? task, IoBuffers dst, bool nonBlocking)
    {
        long r = TryRead(dst);
        if (r != -(long)Errno.EAGAIN || nonBlocking || task == null) return r;
        using var wait = task.BeginWait(Queue, POLLIN | POLLHUP);
        while (true)
        {
            task.Blocker.Reset();
            r = TryRead(dst);
            if (r != -(long)Errno.EAGAIN) return r;
            r = task.Sleep();
            if (r < 0) return r;
        }
    }

    /// <summary>A blocking or non-blocking write for task: a blocking one returns once all is
    /// written, or early (with the count so far) on a signal or a vanished reader.</summary>
    public long Write(Kernel.Task? task, IoBuffers src, bool nonBlocking)
    {
        long done = 0;
        while (true)
        {
            long r = TryWrite(src, done);
            if (r > 0) done += r;
            if (done == src.Length) return done;
            if (r < 0 && r != -(long)Errno.EAGAIN) return done > 0 ? done : r;
            if (nonBlocking || task == null) return done > 0 ? done : -(long)Errno.EAGAIN;
            using var wait = task.BeginWait(Queue, POLLOUT | POLLERR);
            task.Blocker.Reset();
            uint ready = Readiness(reader: false, writer: true);
            if ((ready & (POLLOUT | POLLERR)) != 0) continue;
            r = task.Sleep();
            if (r < 0) return done > 0 ? done : r;
        }
    }
}

/// <summary>One end of a <see cref="Pipe"/> (both ends for a FIFO opened O_RDWR).</summary>
public sealed class PipeEnd : FileDescription
{
    private readonly bool _isReader, _isWriter;

    public PipeEnd(Pipe pipe, bool isReader, bool isWriter, int flags)
    {
        Pipe = pipe;
        _isReader = isReader;
        _isWriter = isWriter;
        Flags = flags;
    }

    public Pipe Pipe { get; }

    public override string Name => $"pipe:[{Pipe.Ino}]";

    /// <summary>A pipe or FIFO has no positions: pread/pwrite say ESPIPE.</summary>
    public override bool Positional => false;

    private bool NonBlocking => (Flags & OpenFlags.O_NONBLOCK) != 0;

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Read(task, new IoBuffers(task.MemoryManager, iovecs), NonBlocking);

    public override long Write(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Write(task, new IoBuffers(task.MemoryManager, iovecs), NonBlocking);

    public override long ReadKernel(Span<byte> dst, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Read(Kernel.Task.Current, new IoBuffers(dst), NonBlocking);

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : Pipe.Write(Kernel.Task.Current, IoBuffers.Source(src), NonBlocking);

    public override uint Readiness(uint mask) => Pipe.Readiness(_isReader, _isWriter) & (mask | AlwaysReported);

    public override WaitQueue? EventQueue => Pipe.Queue;

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

    protected override void Release() => Pipe.Close(_isReader, _isWriter);
}
