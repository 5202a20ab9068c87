using Sandbox.Abi;
using Sandbox.Sentry.Fs;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Moving data between descriptors inside the Sentry: sendfile, copy_file_range,
/// splice, tee.</summary>
public static partial class Linux
{
    private const int SpliceChunk = 64 * 1024;
    private const uint SPLICE_F_NONBLOCK = 2;

    /// <summary>Copies up to count bytes from input (at inOffset, or its own position if -1)
    /// to output (likewise). Returns bytes copied, or -errno if nothing was.</summary>
    private static long Transfer(FileDescription input, ref long inOffset, FileDescription output, ref long outOffset, long count)
    {
        var buffer = new byte[(int)Math.Min(count, SpliceChunk)];
        long done = 0;
        while (done < count)
        {
            int want = (int)Math.Min(count - done, buffer.Length);
            long n = input.ReadKernel(buffer.AsSpan(0, want), inOffset);
            if (n < 0) return done > 0 ? done : n;
            if (n == 0) break;
            if (inOffset >= 0) inOffset += n;
            long w = output.WriteKernel(buffer.AsSpan(0, (int)n), outOffset);
            if (w < 0) return done > 0 ? done : w;
            if (outOffset >= 0) outOffset += w;
            done += w;
            if (w < n || n < want) break;
        }
        return done;
    }

    private static long ReadOffset(Task t, ulong addr, out long offset)
    {
        offset = -1;
        if (addr == 0) return 0;
        if (t.MemoryManager.CopyIn(addr, out offset) < 0) return -(long)Errno.EFAULT;
        return offset < 0 ? -(long)Errno.EINVAL : 0;
    }

    /// <summary>Implements Linux syscall sendfile(2).</summary>
    public static long Sendfile(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A1) is not { } input || !input.Readable) return -(long)Errno.EBADF;
        if (t.Fds.Get((int)a.A0) is not { } output || !output.Writable) return -(long)Errno.EBADF;
        if (input is PipeEnd) return -(long)Errno.EINVAL;
        if ((output.Flags & OpenFlags.O_APPEND) != 0) return -(long)Errno.EINVAL;
        long r = ReadOffset(t, a.A2, out long inOffset);
        if (r < 0) return r;
        long outOffset = -1;
        long n = Transfer(input, ref inOffset, output, ref outOffset, (long)Math.Min(a.A3, 0x7ffff000));
        if (a.A2 != 0 && n >= 0 && t.MemoryManager.CopyOut(a.A2, inOffset) < 0) return -(long)Errno.EFAULT;
        return n;
    }

    /// <summary>Implements Linux syscall copy_file_range(2).</summary>
    public static long CopyFileRange(Task t, in SyscallArgs a)
    {
        if (a.A5 != 0) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A0) is not { } input || !input.Readable) return -(long)Errno.EBADF;
        if (t.Fds.Get((int)a.A2) is not { } output || !output.Writable) return -(long)Errno.EBADF;
        if ((output.Flags & OpenFlags.O_APPEND) != 0) return -(long)Errno.EBADF;
        if (input.Path is not { } ip || output.Path is not { } op) return -(long)Errno.EINVAL;
        if (ip.Inode.IsDirectory || op.Inode.IsDirectory) return -(long)Errno.EISDIR;
        if (!ip.Inode.IsRegular || !op.Inode.IsRegular) return -(long)Errno.EINVAL;
        long r = ReadOffset(t, a.A1, out long inOffset);
        if (r < 0) return r;
        r = ReadOffset(t, a.A3, out long outOffset);
        if (r < 0) return r;
        long len = (long)Math.Min(a.A4, 0x7ffff000);
        if (ip.Inode == op.Inode)
        {
            long inStart = inOffset >= 0 ? inOffset : ((InodeFile)input).Offset;
            long outStart = outOffset >= 0 ? outOffset : ((InodeFile)output).Offset;
            if (inStart < outStart + len && outStart < inStart + len) return -(long)Errno.EINVAL;
        }
        long n = Transfer(input, ref inOffset, output, ref outOffset, len);
        if (n > 0)
        {
            if (a.A1 != 0) t.MemoryManager.CopyOut(a.A1, inOffset);
            if (a.A3 != 0) t.MemoryManager.CopyOut(a.A3, outOffset);
        }
        return n;
    }

    /// <summary>Implements Linux syscall splice(2): one end must be a pipe.</summary>
    public static long SpliceCall(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } input || !input.Readable) return -(long)Errno.EBADF;
        if (t.Fds.Get((int)a.A2) is not { } output || !output.Writable) return -(long)Errno.EBADF;
        bool inPipe = input is PipeEnd, outPipe = output is PipeEnd;
        if (!inPipe && !outPipe) return -(long)Errno.EINVAL;
        if ((inPipe && a.A1 != 0) || (outPipe && a.A3 != 0)) return -(long)Errno.ESPIPE;
        if (inPipe && outPipe && ((PipeEnd)input).Pipe == ((PipeEnd)output).Pipe) return -(long)Errno.EINVAL;
        long r = ReadOffset(t, a.A1, out long inOffset);
        if (r < 0) return r;
        r = ReadOffset(t, a.A3, out long outOffset);
        if (r < 0) return r;
        long n = Transfer(input, ref inOffset, output, ref outOffset, (long)Math.Min(a.A4, 0x7ffff000));
        if (n > 0)
        {
            if (a.A1 != 0) t.MemoryManager.CopyOut(a.A1, inOffset);
            if (a.A3 != 0) t.MemoryManager.CopyOut(a.A3, outOffset);
        }
        return n;
    }

    /// <summary>Implements Linux syscall tee(2): duplicates pipe data without consuming it.</summary>
    public static long Tee(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not PipeEnd input || !input.Readable) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A1) is not PipeEnd output || !output.Writable) return -(long)Errno.EINVAL;
        if (input.Pipe == output.Pipe) return -(long)Errno.EINVAL;
        var buffer = new byte[(int)Math.Min(a.A2, (ulong)input.Pipe.Capacity)];
        bool nonBlocking = ((uint)a.A3 & SPLICE_F_NONBLOCK) != 0 || (input.Flags & OpenFlags.O_NONBLOCK) != 0;
        long n = nonBlocking ? input.Pipe.TryPeek(buffer) : t.BlockOn(input.Pipe.Queue, Events.POLLIN, () => input.Pipe.TryPeek(buffer));
        if (n <= 0) return n;
        return output.Pipe.Write(t, IoBuffers.Source(buffer.AsSpan(0, (int)n)), nonBlocking: true);
    }
}
