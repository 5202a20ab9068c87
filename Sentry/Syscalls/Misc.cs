using Sandbox.Abi;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Smaller calls: preadv2/pwritev2, readahead, file handles, mincore and mlock.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall preadv2(2).</summary>
    public static long Preadv2(Task t, in SyscallArgs a) => VectoredV2(t, a, write: false);

    /// <summary>Implements Linux syscall pwritev2(2).</summary>
    public static long Pwritev2(Task t, in SyscallArgs a) => VectoredV2(t, a, write: true);

    /// <summary>preadv2/pwritev2: preadv/pwritev with per-call flags, where offset -1 means the
    /// file position (used and advanced). The flags are checked once there is something to
    /// transfer, as Linux does.</summary>
    private static long VectoredV2(Task t, in SyscallArgs a, bool write)
    {
        long offset = (long)a.A3;
        if (offset < -1) return -(long)Errno.EINVAL;
        return Vectored(t, a.A0, a.A1, a.A2, offset, write, (int)a.A5);
    }

    /// <summary>The flags Linux knows; some of them no file here supports.</summary>
    private const int KnownRwFlags = Rwf.RWF_HIPRI | Rwf.RWF_DSYNC | Rwf.RWF_SYNC | Rwf.RWF_NOWAIT | Rwf.RWF_APPEND
        | Rwf.RWF_NOAPPEND | Rwf.RWF_ATOMIC | Rwf.RWF_DONTCACHE | Rwf.RWF_NOSIGNAL;

    /// <summary>Checks preadv2/pwritev2 flags against the file: 0 or -errno.</summary>
    private static long CheckRwFlags(Vfs.FileDescription f, int flags)
    {
        if ((flags & ~KnownRwFlags) != 0) return -(long)Errno.EOPNOTSUPP;
        if ((flags & (Rwf.RWF_APPEND | Rwf.RWF_NOAPPEND)) == (Rwf.RWF_APPEND | Rwf.RWF_NOAPPEND)) return -(long)Errno.EINVAL;
        // Untorn writes need direct I/O and uncached I/O a page cache to drop: no file here has
        // either (Linux says the same for tmpfs files and pipes).
        if ((flags & (Rwf.RWF_ATOMIC | Rwf.RWF_DONTCACHE)) != 0) return -(long)Errno.EOPNOTSUPP;
        if ((flags & Rwf.RWF_NOWAIT) != 0 && !f.NoWaitSupported) return -(long)Errno.EOPNOTSUPP;
        return 0;
    }

    /// <summary>Runs a preadv2/pwritev2 transfer with its flags: RWF_NOWAIT makes it fail with
    /// EAGAIN rather than block, RWF_APPEND / RWF_NOAPPEND choose where a write goes, and
    /// RWF_DSYNC / RWF_SYNC sync what was written. (RWF_HIPRI only matters for polled direct
    /// I/O; RWF_NOSIGNAL is the syscall exit's business.)</summary>
    private static long TransferV2(Task t, Vfs.FileDescription f, ReadOnlySpan<Iovec> iov, long offset, bool write, int flags)
    {
        bool noWait = (flags & Rwf.RWF_NOWAIT) != 0;
        if (noWait) t.NoWait = true;
        long n;
        try
        {
            if (!write) n = f.Read(t, iov, offset);
            else
            {
                var append = (flags & Rwf.RWF_APPEND) != 0 ? Vfs.AppendMode.Append
                    : (flags & Rwf.RWF_NOAPPEND) != 0 ? Vfs.AppendMode.NoAppend : Vfs.AppendMode.AsOpened;
                n = f.Write(t, iov, offset, append);
            }
        }
        finally
        {
            if (noWait) t.NoWait = false;
        }
        if (n > 0 && write && (flags & (Rwf.RWF_DSYNC | Rwf.RWF_SYNC)) != 0 && f is Vfs.InodeFile)
        {
            long r = f.Sync();
            if (r < 0) return r;
        }
        return n;
    }

    /// <summary>Implements Linux syscall readahead(2): a hint, accepted for regular files.</summary>
    public static long Readahead(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f || !f.Readable) return -(long)Errno.EBADF;
        return f.Path is { } p && p.Inode.IsRegular ? 0 : -(long)Errno.EINVAL;
    }

    /// <summary>Implements Linux syscall name_to_handle_at(2): file handles are not offered.</summary>
    public static long NameToHandleAt(Task t, in SyscallArgs a) => -(long)Errno.EOPNOTSUPP;

    /// <summary>Implements Linux syscall open_by_handle_at(2): without CAP_DAC_READ_SEARCH on
    /// the host's files there is nothing to open by handle.</summary>
    public static long OpenByHandleAt(Task t, in SyscallArgs a) => -(long)Errno.EPERM;

    /// <summary>Implements Linux syscall mincore(2): every mapped page is resident (guest
    /// memory lives in the MemoryFile); unmapped ranges give ENOMEM.</summary>
    public static long Mincore(Task t, in SyscallArgs a)
    {
        if ((a.A0 & (Mm.PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        ulong pages = (a.A1 + Mm.PageSize - 1) / Mm.PageSize;
        if (pages > 1 << 24) return -(long)Errno.ENOMEM;
        for (ulong i = 0; i < pages; i++)
            if (t.MemoryManager.Find(a.A0 + i * Mm.PageSize) == null) return -(long)Errno.ENOMEM;
        var vec = new byte[pages];
        Array.Fill(vec, (byte)1);
        return t.MemoryManager.CopyOut(a.A2, vec);
    }

    /// <summary>Implements Linux syscalls mlock(2), mlock2(2) and munlock(2): accounted against
    /// RLIMIT_MEMLOCK, not pinned (guest pages never leave memory anyway).</summary>
    public static long Mlock(Task t, in SyscallArgs a)
    {
        ulong len = (a.A1 + (a.A0 & (Mm.PageSize - 1)) + Mm.PageSize - 1) & ~(Mm.PageSize - 1);
        ulong start = a.A0 & ~(Mm.PageSize - 1);
        for (ulong at = start; at < start + len; at += Mm.PageSize)
            if (t.MemoryManager.Find(at) == null) return -(long)Errno.ENOMEM;
        if (t.Creds.EffectiveUid != 0 && len > t.Limits.Get(Rlimit.RLIMIT_MEMLOCK).Cur) return -(long)Errno.ENOMEM;
        return 0;
    }

    /// <summary>Implements Linux syscall mlock2(2).</summary>
    public static long Mlock2(Task t, in SyscallArgs a) => (a.A2 & ~1UL) != 0 ? -(long)Errno.EINVAL : Mlock(t, a);

    /// <summary>Implements Linux syscall munlock(2).</summary>
    public static long Munlock(Task t, in SyscallArgs a) => 0;

    /// <summary>Implements Linux syscall mlockall(2).</summary>
    public static long Mlockall(Task t, in SyscallArgs a)
    {
        const int MCL_CURRENT = 1, MCL_FUTURE = 2, MCL_ONFAULT = 4;
        int flags = (int)a.A0;
        if (flags == 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) != 0 || flags == MCL_ONFAULT) return -(long)Errno.EINVAL;
        return t.Creds.EffectiveUid == 0 || t.Limits.Get(Rlimit.RLIMIT_MEMLOCK).Cur > 0 ? 0 : -(long)Errno.EPERM;
    }

    /// <summary>Implements Linux syscall munlockall(2).</summary>
    public static long Munlockall(Task t, in SyscallArgs a) => 0;
}
