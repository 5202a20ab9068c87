using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>struct flock on x86-64 (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Flock
{
    public short Type, Whence;
    public int Pad0;
    public long Start, Len;
    public int Pid, Pad1;
}

/// <summary>File locks: fcntl record locks (F_GETLK/F_SETLK/F_SETLKW and the OFD variants)
/// and flock(2).</summary>
public static partial class Linux
{
    private const int F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38;

    /// <summary>fcntl's lock commands; called from Fcntl.</summary>
    private static long RecordLock(Task t, FileDescription f, int cmd, ulong arg)
    {
        if (f.Path is not { } path) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(arg, out Flock fl) < 0) return -(long)Errno.EFAULT;
        bool ofd = cmd is F_OFD_GETLK or F_OFD_SETLK or F_OFD_SETLKW;
        if (ofd && fl.Pid != 0) return -(long)Errno.EINVAL;
        if (fl.Type is not (FileLocks.F_RDLCK or FileLocks.F_WRLCK or FileLocks.F_UNLCK)) return -(long)Errno.EINVAL;
        long basis = fl.Whence switch
        {
            0 => 0,
            1 => f is InodeFile inodeFile ? inodeFile.Offset : 0,
            2 => path.Inode.Size,
            _ => -1,
        };
        if (basis < 0) return -(long)Errno.EINVAL;
        long start = basis + fl.Start, end;
        if (fl.Len > 0) end = start + fl.Len;
        else if (fl.Len == 0) end = long.MaxValue;
        else { end = start; start += fl.Len; }
        if (start < 0) return -(long)Errno.EINVAL;
        // Classic POSIX locks belong to the process; OFD locks to the description.
        object owner = ofd ? f : t.ProcessLockOwner;
        var locks = path.Inode.RecordLocks;
        if (cmd is Abi.Fcntl.F_GETLK or F_OFD_GETLK)
        {
            if (fl.Type == FileLocks.F_UNLCK) return -(long)Errno.EINVAL;
            var conflict = locks.FindConflict(owner, fl.Type == FileLocks.F_WRLCK, start, end);
            if (conflict == null) fl.Type = FileLocks.F_UNLCK;
            else
            {
                fl.Type = conflict.Write ? FileLocks.F_WRLCK : FileLocks.F_RDLCK;
                fl.Whence = 0;
                fl.Start = conflict.Start;
                fl.Len = conflict.End == long.MaxValue ? 0 : conflict.End - conflict.Start;
                fl.Pid = conflict.Owner is FileDescription ? -1 : conflict.Pid;
            }
            return t.MemoryManager.CopyOut(arg, fl);
        }
        if (fl.Type == FileLocks.F_RDLCK && !f.Readable) return -(long)Errno.EBADF;
        if (fl.Type == FileLocks.F_WRLCK && !f.Writable) return -(long)Errno.EBADF;
        bool wait = cmd is Abi.Fcntl.F_SETLKW or F_OFD_SETLKW;
        return locks.Set(owner, fl.Type, start, end, t.Pid, wait ? t : null);
    }

    /// <summary>Implements Linux syscall flock(2).</summary>
    public static long Flock(Task t, in SyscallArgs a)
    {
        const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } path) return -(long)Errno.EINVAL;
        int op = (int)a.A1;
        bool wait = (op & LOCK_NB) == 0;
        short type = (op & ~LOCK_NB) switch
        {
            LOCK_SH => FileLocks.F_RDLCK,
            LOCK_EX => FileLocks.F_WRLCK,
            LOCK_UN => FileLocks.F_UNLCK,
            _ => -1,
        };
        if (type < 0) return -(long)Errno.EINVAL;
        return path.Inode.FlockLocks.Set(f, type, 0, long.MaxValue, t.Pid, wait ? t : null); // EAGAIN == EWOULDBLOCK
    }
}
