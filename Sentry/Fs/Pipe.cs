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

    /// <summary>The buffer, allocated by the first write and dropped when a named pipe loses its
    /// last opener (Linux frees the pipe then: unread data is gone, the size is the default).</summary>
    private byte[]? _ring;
    private int _capacity = DefaultCapacity;
    private int _head; // next byte to read
    private int _count;
    /// <summary>How many times a read end and a write end were opened: a FIFO open waiting for
    /// its partner waits for the other count to move, so a partner that opens and closes again
    /// before the waiter runs still releases it.</summary>
    private long _readerOpens, _writerOpens;

    public long Ino { get; } = Interlocked.Increment(ref _nextIno);

    /// <summary>O_DIRECT "packet mode": each write (of up to PIPE_BUF bytes) is one packet and
    /// each read takes at most one packet, discarding what does not fit.</summary>
    public bool PacketMode { get; init; }
    private readonly Queue<int> _packets = new();
    public WaitQueue Queue { get; } = new();
    public int Readers { get; private set; }
    public int Writers { get; private set; }
    public int Capacity => _capacity;

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
            _readerOpens++;
            _writerOpens++;
        }
        return (new PipeEnd(this, isReader: true, isWriter: false, OpenFlags.O_RDONLY | statusFlags),
                new PipeEnd(this, isReader: false, isWriter: true, OpenFlags.O_WRONLY | statusFlags));
    }

    /// <summary>Opens one end of a named pipe (a FIFO inode), as fifo(7) describes: O_RDONLY
    /// waits until a writer opens the FIFO and O_WRONLY until a reader does; with O_NONBLOCK a
    /// read end opens at once and a write end without a reader fails with ENXIO; O_RDWR never
    /// waits. The wait is interruptible (EINTR, restarted after SA_RESTART handlers). An opener
    /// counts as a reader or writer while it waits, as on Linux.</summary>
    public long OpenNamed(Kernel.Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        int access = flags & OpenFlags.O_ACCMODE;
        if (access == OpenFlags.O_ACCMODE) return -(long)Errno.EINVAL;
        bool reader = access != OpenFlags.O_WRONLY, writer = access != OpenFlags.O_RDONLY;
        bool nonBlocking = (flags & OpenFlags.O_NONBLOCK) != 0;
        bool wait;
        long partnerOpens, hupBaseline = PipeEnd.NoHupBaseline;
        lock (this)
        {
            if (writer && !reader && Readers == 0 && nonBlocking) return -(long)Errno.ENXIO;
            if (reader) { Readers++; _readerOpens++; }
            if (writer) { Writers++; _writerOpens++; }
            // A reader that did not wait for a writer sees POLLHUP only once a writer has come
            // and gone after it opened.
            if (!writer && Writers == 0) hupBaseline = _writerOpens;
            wait = !nonBlocking && reader != writer && (reader ? Writers : Readers) == 0;
            partnerOpens = reader ? _writerOpens : _readerOpens;
        }
        Queue.Notify(POLLIN | POLLOUT); // releases partners waiting in open
        if (wait)
        {
            long r = WaitForPartner(task, reader, partnerOpens);
            if (r < 0) return r;
        }
        file = new PipeEnd(this, reader, writer, flags & ~OpenFlags.O_CLOEXEC, hupBaseline) { Path = path };
        return 0;
    }

    /// <summary>Sleeps until the other kind of end has been opened since partnerOpens was read.
    /// Interrupted, it stops counting as an opener, unless a partner came meanwhile: that
    /// partner did not wait for this end and may already be gone, so the open succeeds (the
    /// signal is handled after it, as on Linux).</summary>
    private long WaitForPartner(Kernel.Task task, bool reader, long partnerOpens)
    {
        using var wait = task.BeginWait(Queue, POLLIN | POLLOUT);
        while (true)
        {
            task.Blocker.Reset();
            lock (this)
                if ((reader ? _writerOpens : _readerOpens) != partnerOpens) return 0;
            long r = task.Sleep();
            if (r >= 0) continue;
            lock (this)
            {
                if ((reader ? _writerOpens : _readerOpens) != partnerOpens) return 0;
                if (reader) Readers--;
                else Writers--;
                DropBufferIfUnused();
            }
            Queue.Notify(POLLIN | POLLOUT | POLLHUP | POLLERR);
            return r;
        }
    }

    internal void Close(bool reader, bool writer)
    {
        lock (this)
        {
            if (reader) Readers--;
            if (writer) Writers--;
            DropBufferIfUnused();
        }
        Queue.Notify(POLLIN | POLLOUT | POLLHUP | POLLERR);
    }

    /// <summary>With no ends left (only a named pipe can be opened again), the pipe starts over
    /// empty, at the default size. Called under the lock.</summary>
    private void DropBufferIfUnused()
    {
        if (Readers != 0 || Writers != 0) return;
        _ring = null;
        _capacity = DefaultCapacity;
        _head = _count = 0;
        _packets.Clear();
    }

    /// <summary>poll events now: readable with data, POLLHUP without writers (once a writer
    /// came after hupBaseline, the count of write ends opened before a reader that did not wait
    /// for one), writable with room, POLLERR without readers.</summary>
    public uint Readiness(bool reader, bool writer, long hupBaseline = PipeEnd.NoHupBaseline)
    {
        lock (this)
        {
            uint ev = 0;
            if (reader)
            {
                if (_count > 0) ev |= POLLIN | POLLRDNORM;
                if (Writers == 0 && _writerOpens != hupBaseline) ev |= POLLHUP;
            }
            if (writer)
            {
                if (_capacity - _count >= PipeBuf || _count == 0) ev |= POLLOUT | POLLWRNORM;
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
            _capacity = size;
            if (_ring != null)
            {
                var ring = new byte[size];
                int first = Math.Min(_count, _ring.Length - _head);
                _ring.AsSpan(_head, first).CopyTo(ring);
                _ring.AsSpan(0, _count - first).CopyTo(ring.AsSpan(first));
                _ring = ring;
                _head = 0;
            }
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
            var ring = _ring!;
            long limit = dst.Length;
            int packet = 0;
            if (PacketMode && _packets.Count > 0)
            {
                packet = _packets.Dequeue();
                limit = Math.Min(limit, packet);
            }
            while (done < limit && _count > 0)
            {
                int chunk = (int)Math.Min(limit - done, Math.Min(_count, ring.Length - _head));
                int copied = dst.CopyOut(done, ring.AsSpan(_head, chunk));
                _head = (_head + copied) % ring.Length;
                _count -= copied;
                done += copied;
                if (copied < chunk) break;
            }
            if (packet > done)
            {
                // The rest of the packet is discarded, as Linux does.
                int rest = packet - (int)done;
                _head = (_head + rest) % ring.Length;
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
            int free = _capacity - _count;
            if (free == 0 || (atomic && free < total)) return -(long)Errno.EAGAIN;
            var ring = _ring ??= new byte[_capacity];
            while (done < total && _count < ring.Length)
            {
                int tail = (_head + _count) % ring.Length;
                int chunk = (int)Math.Min(total - done, Math.Min(ring.Length - _count, ring.Length - tail));
                int copied = src.CopyIn(from + done, ring.AsSpan(tail, chunk));
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
            if (_count == 0) return Writers == 0 ? 0 : -(long)Errno.EAGAIN;
            var ring = _ring!;
            int n = Math.Min(dst.Length, _count);
            int first = Math.Min(n, ring.Length - _head);
            ring.AsSpan(_head, first).CopyTo(dst);
            ring.AsSpan(0, n - first).CopyTo(dst[first..]);
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
    /// <summary>A write-open count no pipe reaches: POLLHUP whenever there is no writer.</summary>
    public const long NoHupBaseline = -1;

    private readonly bool _isReader, _isWriter;
    private readonly long _hupBaseline;

    public PipeEnd(Pipe pipe, bool isReader, bool isWriter, int flags, long hupBaseline = NoHupBaseline)
    {
        Pipe = pipe;
        _isReader = isReader;
        _isWriter = isWriter;
        _hupBaseline = hupBaseline;
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

    public override uint Readiness(uint mask) => Pipe.Readiness(_isReader, _isWriter, _hupBaseline) & (mask | AlwaysReported);

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
