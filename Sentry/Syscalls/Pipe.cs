using Sandbox.Abi;
using Sandbox.Sentry.Fs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Pipe system calls.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall pipe(2).</summary>
    public static long Pipe(Task t, in SyscallArgs a) => MakePipe(t, a.A0, 0);

    /// <summary>Implements Linux syscall pipe2(2).</summary>
    public static long Pipe2(Task t, in SyscallArgs a) => MakePipe(t, a.A0, (int)a.A1);

    private static long MakePipe(Task t, ulong fdsAddr, int flags)
    {
        if ((flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) != 0) return -(long)Errno.EINVAL;
        var (read, write) = new Fs.Pipe { PacketMode = (flags & O_DIRECT) != 0 }.Open(flags & (O_NONBLOCK | O_DIRECT));
        bool cloexec = (flags & O_CLOEXEC) != 0;
        long r = t.Fds.Allocate(read, 0, cloexec);
        read.DecRef();
        if (r < 0) { write.DecRef(); return r; }
        long w = t.Fds.Allocate(write, 0, cloexec);
        write.DecRef();
        if (w < 0) { t.Fds.Close((int)r); return w; }
        Span<int> fds = [(int)r, (int)w];
        if (t.MemoryManager.CopyOut(fdsAddr, System.Runtime.InteropServices.MemoryMarshal.AsBytes(fds)) < 0)
        {
            t.Fds.Close((int)r);
            t.Fds.Close((int)w);
            return -(long)Errno.EFAULT;
        }
        return 0;
    }

    /// <summary>F_GETPIPE_SZ / F_SETPIPE_SZ, called from fcntl.</summary>
    private static long PipeSize(Vfs.FileDescription f, int cmd, ulong arg) => f is not PipeEnd p
        ? -(long)Errno.EBADF
        : cmd == Abi.Fcntl.F_GETPIPE_SZ ? p.Pipe.Capacity : p.Pipe.SetCapacity((long)arg);
}
