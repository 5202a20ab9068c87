using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>File descriptor and I/O system calls.</summary>
public static partial class Linux
{
    /// <summary>Linux's UIO_MAXIOV.</summary>
    private const int MaxIovecs = 1024;
    /// <summary>Linux caps one read/write at MAX_RW_COUNT (INT_MAX rounded down to a page).</summary>
    private const ulong MaxRwCount = 0x7ffff000;

    /// <summary>Implements Linux syscall read(2).</summary>
    public static long Read(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (!f.Readable) return -(long)Errno.EBADF;
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        long n = f.Read(t, iov, -1);
        if (n > 0 && Fs.Inotify.Active) Fs.Inotify.FileEvent(f.Path, Fs.Inotify.IN_ACCESS);
        return n;
    }

    /// <summary>Implements Linux syscall write(2).</summary>
    public static long Write(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (!f.Writable) return -(long)Errno.EBADF;
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        long n = f.Write(t, iov, -1);
        if (n > 0 && Fs.Inotify.Active) Fs.Inotify.FileEvent(f.Path, Fs.Inotify.IN_MODIFY);
        return n;
    }

    /// <summary>Implements Linux syscall pread64(2).</summary>
    public static long Pread64(Task t, in SyscallArgs a)
    {
        if (Positional(t, a.A0, (long)a.A3, write: false, out FileDescription? f) is var r && r < 0) return r;
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        return f!.Read(t, iov, (long)a.A3);
    }

    /// <summary>Implements Linux syscall pwrite64(2).</summary>
    public static long Pwrite64(Task t, in SyscallArgs a)
    {
        if (Positional(t, a.A0, (long)a.A3, write: true, out FileDescription? f) is var r && r < 0) return r;
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        return f!.Write(t, iov, (long)a.A3);
    }

    /// <summary>The checks of positional I/O, in Linux's order: a negative offset (EINVAL), the
    /// fd (EBADF), a file without positions (ESPIPE), then the access mode (EBADF).</summary>
    private static long Positional(Task t, ulong fd, long offset, bool write, out FileDescription? f)
    {
        f = null;
        if (offset < 0) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)fd) is not { } file) return -(long)Errno.EBADF;
        if (!file.Positional) return -(long)Errno.ESPIPE;
        if (write ? !file.Writable : !file.Readable) return -(long)Errno.EBADF;
        f = file;
        return 0;
    }

    /// <summary>Implements Linux syscall readv(2).</summary>
    public static long Readv(Task t, in SyscallArgs a) => Vectored(t, a.A0, a.A1, a.A2, -1, write: false);

    /// <summary>Implements Linux syscall writev(2).</summary>
    public static long Writev(Task t, in SyscallArgs a) => Vectored(t, a.A0, a.A1, a.A2, -1, write: true);

    /// <summary>Implements Linux syscall preadv(2).</summary>
    public static long Preadv(Task t, in SyscallArgs a) =>
        (long)a.A3 < 0 ? -(long)Errno.EINVAL : Vectored(t, a.A0, a.A1, a.A2, (long)a.A3, write: false);

    /// <summary>Implements Linux syscall pwritev(2).</summary>
    public static long Pwritev(Task t, in SyscallArgs a) =>
        (long)a.A3 < 0 ? -(long)Errno.EINVAL : Vectored(t, a.A0, a.A1, a.A2, (long)a.A3, write: true);

    /// <summary>readv/writev/preadv/pwritev, and preadv2/pwritev2 with their flags (rwFlags).</summary>
    private static unsafe long Vectored(Task t, ulong fd, ulong iovAddr, ulong count, long offset, bool write, int rwFlags = 0)
    {
        if (t.Fds.Get((int)fd) is not { } f) return -(long)Errno.EBADF;
        if (offset >= 0 && !f.Positional) return -(long)Errno.ESPIPE;
        if (write ? !f.Writable : !f.Readable) return -(long)Errno.EBADF;
        if (count > MaxIovecs) return -(long)Errno.EINVAL;
        if (count == 0) return 0;
        Span<Iovec> iov = stackalloc Iovec[(int)count];
        fixed (Iovec* p = iov)
            if (t.MemoryManager.CopyIn(iovAddr, new Span<byte>(p, (int)count * sizeof(Iovec))) < 0)
                return -(long)Errno.EFAULT;
        ulong total = 0;
        foreach (var v in iov)
        {
            if ((long)v.Len < 0) return -(long)Errno.EINVAL;
            total += v.Len;
            if ((long)total < 0) return -(long)Errno.EINVAL;
        }
        long n;
        if (rwFlags == 0) n = write ? f.Write(t, iov, offset) : f.Read(t, iov, offset);
        else
        {
            // Nothing to transfer succeeds before the flags are looked at.
            if (total == 0) return 0;
            n = CheckRwFlags(f, rwFlags);
            if (n < 0) return n;
            n = TransferV2(t, f, iov, offset, write, rwFlags);
        }
        if (n > 0 && Fs.Inotify.Active) Fs.Inotify.FileEvent(f.Path, write ? Fs.Inotify.IN_MODIFY : Fs.Inotify.IN_ACCESS);
        return n;
    }

    /// <summary>Implements Linux syscall lseek(2).</summary>
    public static long Lseek(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (a.A2 > 4) return -(long)Errno.EINVAL;
        return f.Seek((long)a.A1, (int)a.A2);
    }

    /// <summary>Implements Linux syscall close(2). Closing any fd of a file drops the process's
    /// POSIX record locks on it (the classic, surprising rule).</summary>
    public static long Close(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is { Path: { } p }) p.Inode.RecordLocks.ReleaseAll(t.ProcessLockOwner);
        return t.Fds.Close((int)a.A0);
    }

    /// <summary>Implements Linux syscall dup(2).</summary>
    public static long Dup(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        return t.Fds.Allocate(f, 0, cloexec: false);
    }

    /// <summary>Implements Linux syscall dup2(2).</summary>
    public static long Dup2(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if ((int)a.A0 == (int)a.A1) return (int)a.A1;
        return t.Fds.Replace((int)a.A1, f, cloexec: false);
    }

    /// <summary>Implements Linux syscall dup3(2).</summary>
    public static long Dup3(Task t, in SyscallArgs a)
    {
        if (((int)a.A2 & ~O_CLOEXEC) != 0) return -(long)Errno.EINVAL;
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if ((int)a.A0 == (int)a.A1) return -(long)Errno.EINVAL;
        return t.Fds.Replace((int)a.A1, f, cloexec: ((int)a.A2 & O_CLOEXEC) != 0);
    }

    /// <summary>Implements Linux syscall fcntl(2).</summary>
    public static long Fcntl(Task t, in SyscallArgs a)
    {
        int fd = (int)a.A0;
        if (t.Fds.Get(fd) is not { } f) return -(long)Errno.EBADF;
        switch ((int)a.A1)
        {
            case Abi.Fcntl.F_DUPFD:
                return t.Fds.Allocate(f, (int)a.A2, cloexec: false);
            case Abi.Fcntl.F_DUPFD_CLOEXEC:
                return t.Fds.Allocate(f, (int)a.A2, cloexec: true);
            case Abi.Fcntl.F_GETFD:
                return t.Fds.TryGetCloseOnExec(fd, out bool cloexec) ? (cloexec ? FD_CLOEXEC : 0) : -(long)Errno.EBADF;
            case Abi.Fcntl.F_SETFD:
                return t.Fds.SetCloseOnExec(fd, ((int)a.A2 & FD_CLOEXEC) != 0) ? 0 : -(long)Errno.EBADF;
            case Abi.Fcntl.F_GETFL:
                return f.StatusFlags;
            case Abi.Fcntl.F_SETFL:
                return f.SetStatusFlags((int)a.A2, FileDescription.SettableStatusFlags);
            case Abi.Fcntl.F_GETLK or Abi.Fcntl.F_SETLK or Abi.Fcntl.F_SETLKW or 36 or 37 or 38:
                return RecordLock(t, f, (int)a.A1, a.A2);
            case Abi.Fcntl.F_GETPIPE_SZ or Abi.Fcntl.F_SETPIPE_SZ:
                return PipeSize(f, (int)a.A1, a.A2);
            case Abi.Fcntl.F_ADD_SEALS or Abi.Fcntl.F_GET_SEALS:
                return FileSeals(t, f, (int)a.A1, a.A2);
            default:
                return -(long)Errno.EINVAL;
        }
    }

    /// <summary>Implements Linux syscall ioctl(2).</summary>
    public static long Ioctl(Task t, in SyscallArgs a)
    {
        int fd = (int)a.A0;
        if (t.Fds.Get(fd) is not { } f) return -(long)Errno.EBADF;
        switch ((uint)a.A1)
        {
            case Abi.Ioctl.FIOCLEX: t.Fds.SetCloseOnExec(fd, true); return 0;
            case Abi.Ioctl.FIONCLEX: t.Fds.SetCloseOnExec(fd, false); return 0;
            case Abi.Ioctl.FIOASYNC:
                {
                    if (t.MemoryManager.CopyIn(a.A2, out int on) < 0) return -(long)Errno.EFAULT;
                    return f.SetStatusFlags(on != 0 ? O_ASYNC : 0, O_ASYNC);
                }
            case Abi.Ioctl.FIONBIO:
                {
                    if (t.MemoryManager.CopyIn(a.A2, out int on) < 0) return -(long)Errno.EFAULT;
                    return f.SetStatusFlags(on != 0 ? O_NONBLOCK : 0, O_NONBLOCK);
                }
            default:
                return f.Ioctl(t, (uint)a.A1, a.A2);
        }
    }

    /// <summary>Implements Linux syscall fstat(2).</summary>
    public static long Fstat(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        long r = f.Stat(out Stat st);
        return r < 0 ? r : t.MemoryManager.CopyOut(a.A1, st);
    }
}
