using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Runsc;

/// <summary>A write-only stream over a host fd that only ever calls write(2): the open file
/// description's shared offset (or O_APPEND) decides where the bytes land, so runsc's output
/// follows what other processes wrote to the same file, as any process's does. (A FileStream
/// keeps a position of its own and pwrite()s at it, overwriting them.)</summary>
public sealed unsafe class AppendingStream(int fd, bool ownsFd) : Stream
{
    private int _fd = fd;

    /// <summary>runsc's stderr: messages and, without --debug-log, the --strace log. One
    /// write(2) per line (lines up to the buffer size), safe to share between threads.</summary>
    public static TextWriter Stderr { get; } = TextWriter.Synchronized(
        new StreamWriter(new AppendingStream(2, ownsFd: false), new UTF8Encoding(false), 16384) { AutoFlush = true });

    /// <summary>Opens (creating, mode 0644) a file for appending; on failure returns null and
    /// the host's errno.</summary>
    public static AppendingStream? OpenForAppend(string path, out int errno)
    {
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = name)
            fd = Files.OpenAt(OpenFlags.AT_FDCWD, p, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND | OpenFlags.O_CLOEXEC | OpenFlags.O_NOCTTY, 0x1a4 /* 0644 */);
        errno = fd < 0 ? HostError.Last : 0;
        return fd < 0 ? null : new AppendingStream(fd, ownsFd: true);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes everything (partial writes continue, EINTR retries). An fd that
    /// cannot be written (closed stderr, a reader that went away) drops the output: a
    /// diagnostic must never take runsc down.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length && _fd >= 0)
            {
                nint r = Unistd.Write(_fd, p + done, (nuint)(buffer.Length - done));
                if (r < 0 && HostError.Last == (int)Errno.EINTR) continue;
                if (r <= 0) return;
                done += (int)r;
            }
        }
    }

    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (ownsFd && _fd >= 0) Unistd.Close(_fd);
        _fd = -1;
        base.Dispose(disposing);
    }
}
