using Sandbox.Abi;
using Sandbox.Sentry.Fs;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>inotify(7) system calls.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall inotify_init(2).</summary>
    public static long InotifyInit(Task t, in SyscallArgs a) => NewInotify(t, 0);

    /// <summary>Implements Linux syscall inotify_init1(2).</summary>
    public static long InotifyInit1(Task t, in SyscallArgs a) =>
        ((int)a.A0 & ~(O_NONBLOCK | O_CLOEXEC)) != 0 ? -(long)Errno.EINVAL : NewInotify(t, (int)a.A0);

    private static long NewInotify(Task t, int flags)
    {
        var f = new InotifyFile(flags & O_NONBLOCK);
        long fd = t.Fds.Allocate(f, 0, (flags & O_CLOEXEC) != 0);
        f.DecRef();
        return fd;
    }

    /// <summary>Implements Linux syscall inotify_add_watch(2).</summary>
    public static long InotifyAddWatch(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f is not InotifyFile ino) return -(long)Errno.EINVAL;
        uint mask = (uint)a.A2;
        if ((mask & Inotify.IN_ALL_EVENTS) == 0) return -(long)Errno.EINVAL;
        if ((mask & Inotify.IN_MASK_ADD) != 0 && (mask & Inotify.IN_MASK_CREATE) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, AT_FDCWD, a.A1, (mask & Inotify.IN_DONT_FOLLOW) == 0, allowEmpty: false, out PathPos pos);
        if (r < 0) return r;
        if ((mask & Inotify.IN_ONLYDIR) != 0 && !pos.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        if (!Permissions.Allowed(t.Creds, pos.Inode, AccessMode.R_OK)) return -(long)Errno.EACCES;
        return ino.AddWatch(pos.Inode, mask);
    }

    /// <summary>Implements Linux syscall inotify_rm_watch(2).</summary>
    public static long InotifyRmWatch(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        return f is InotifyFile ino ? ino.RemoveWatch((int)a.A1) : -(long)Errno.EINVAL;
    }
}
