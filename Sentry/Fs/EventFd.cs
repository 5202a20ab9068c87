using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Fs;

/// <summary>An eventfd: a 64-bit counter that writes add to and reads take (all of it, or one
/// in semaphore mode), blocking at zero and at the maximum.</summary>
public sealed class EventFd : FileDescription
{
    private const ulong Max = ulong.MaxValue - 1;
    private readonly bool _semaphore;
    private ulong _count;

    public EventFd(ulong initial, bool semaphore, int flags)
    {
        _count = initial;
        _semaphore = semaphore;
        Flags = OpenFlags.O_RDWR | flags;
    }

    public override string Name => "anon_inode:[eventfd]";

    /// <summary>An anonymous file has no positions: pread/pwrite say ESPIPE.</summary>
    public override bool Positional => false;
    public WaitQueue Queue { get; } = new();
    public override WaitQueue? EventQueue => Queue;
    private bool NonBlocking => (Flags & OpenFlags.O_NONBLOCK) != 0;

    public override uint Readiness(uint mask)
    {
        lock (this)
        {
            uint ev = 0;
            if (_count > 0) ev |= POLLIN | POLLRDNORM;
            if (_count < Max) ev |= POLLOUT | POLLWRNORM;
            return ev & (mask | AlwaysReported);
        }
    }

    private long TryTake(out ulong value)
    {
        lock (this)
        {
            value = 0;
            if (_count == 0) return -(long)Errno.EAGAIN;
            value = _semaphore ? 1 : _count;
            _count -= value;
        }
        Queue.Notify(POLLOUT);
        return 8;
    }

    private long TryAdd(ulong value)
    {
        lock (this)
        {
            if (Max - _count < value) return -(long)Errno.EAGAIN;
            _count += value;
        }
        if (value > 0) Queue.Notify(POLLIN);
        return 8;
    }

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        var dst = new IoBuffers(task.MemoryManager, iovecs);
        if (dst.Length < 8) return -(long)Errno.EINVAL;
        ulong value = 0;
        long r = NonBlocking ? TryTake(out value) : task.BlockOn(Queue, POLLIN, () => TryTake(out value));
        if (r < 0) return r;
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return dst.CopyOut(0, bytes) == 8 ? 8 : -(long)Errno.EFAULT;
    }

    public override long Write(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        var src = new IoBuffers(task.MemoryManager, iovecs);
        if (src.Length < 8) return -(long)Errno.EINVAL;
        Span<byte> bytes = stackalloc byte[8];
        if (src.CopyIn(0, bytes) != 8) return -(long)Errno.EFAULT;
        ulong value = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (value == ulong.MaxValue) return -(long)Errno.EINVAL;
        return NonBlocking ? TryAdd(value) : task.BlockOn(Queue, POLLOUT, () => TryAdd(value));
    }

    public override long Stat(out Stat stat)
    {
        stat = new Stat { Mode = 0x180, Nlink = 1, Blksize = 4096 };
        return 0;
    }
}
