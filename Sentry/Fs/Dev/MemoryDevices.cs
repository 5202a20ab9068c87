using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Dev;

/// <summary>The memory character devices of major 1 (drivers/char/mem.c): null, zero, full,
/// random and urandom. Reads and writes go straight to and from guest memory.</summary>
public sealed class MemoryDevice : FileDescription
{
    public enum Kind { Null, Zero, Full, Random }

    private const int Chunk = 4096;

    public MemoryDevice(Kind kind, PathPos path, int flags)
    {
        DeviceKind = kind;
        Path = path;
        Flags = flags;
    }

    public Kind DeviceKind { get; }

    public override string Name => Path is { } p ? p.Dentry.Name : DeviceKind.ToString().ToLowerInvariant();

    /// <summary>Registers (1,3) null, (1,5) zero, (1,7) full, (1,8) random, (1,9) urandom.</summary>
    public static void Register()
    {
        DeviceRegistry.Register(1, 3, Opener(Kind.Null));
        DeviceRegistry.Register(1, 5, Opener(Kind.Zero));
        DeviceRegistry.Register(1, 7, Opener(Kind.Full));
        DeviceRegistry.Register(1, 8, Opener(Kind.Random));
        DeviceRegistry.Register(1, 9, Opener(Kind.Random));
    }

    private static DeviceRegistry.Opener Opener(Kind kind) =>
        (Task task, PathPos path, int flags, out FileDescription? file) =>
        {
            file = new MemoryDevice(kind, path, flags);
            return 0;
        };

    public override long Read(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        Fill(new IoBuffers(task.MemoryManager, iovecs));

    public override long ReadKernel(Span<byte> dst, long offset) => Fill(new IoBuffers(dst));

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        Swallow(new IoBuffers(task.MemoryManager, iovecs).Length);

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) => Swallow(src.Length);

    /// <summary>null reads as end of file; zero and full as zeros; random as random bytes.</summary>
    private long Fill(IoBuffers dst)
    {
        if (!Readable) return -(long)Errno.EBADF;
        if (DeviceKind == Kind.Null || dst.Length == 0) return 0;
        Span<byte> buf = stackalloc byte[Chunk];
        if (DeviceKind != Kind.Random) buf.Clear();
        long done = 0;
        while (done < dst.Length)
        {
            int n = (int)Math.Min(dst.Length - done, Chunk);
            if (DeviceKind == Kind.Random) Sandbox.Abi.Host.Entropy.Fill(buf[..n]);
            int copied = dst.CopyOut(done, buf[..n]);
            done += copied;
            if (copied < n) return done > 0 ? done : -(long)Errno.EFAULT;
        }
        return done;
    }

    /// <summary>null, zero and random take everything (random's input would only stir the
    /// pool); full is always full.</summary>
    private long Swallow(long length)
    {
        if (!Writable) return -(long)Errno.EBADF;
        return DeviceKind == Kind.Full ? -(long)Errno.ENOSPC : length;
    }

    /// <summary>These devices have no position: lseek always lands at 0.</summary>
    public override long Seek(long offset, int whence) => 0;
}
