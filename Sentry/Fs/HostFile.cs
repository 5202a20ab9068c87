using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Fs;

/// <summary>A host descriptor donated into the sandbox (runsc's stdin/stdout/stderr). Reads
/// and writes go straight between the host fd and guest memory, through the host open file
/// description, so its shared offset is honoured (a parent's appended output is not
/// overwritten).</summary>
public sealed unsafe class HostFile : FileDescription
{
    private const int MaxIovecs = 64;
    private readonly int _hostFd;
    private readonly int _guestFd;

    /// <summary>Not a regular file or block device: a transfer can wait (for input, or for
    /// room), so it waits interruptibly first (<see cref="Kernel.Task.WaitForHost"/>).</summary>
    private readonly bool _canBlock;

    public HostFile(int hostFd, int guestFd, int flags)
    {
        _hostFd = hostFd;
        _guestFd = guestFd;
        Flags = flags;
        // Files the host can seek (regular files, /dev/null) have positions; pipes, ttys and
        // sockets do not, and the guest's pread/pwrite on them must say ESPIPE.
        Positional = Unistd.Lseek(hostFd, 0, Files.SEEK_CUR) >= 0;
        Stat st;
        uint type = Unistd.Fstat(hostFd, &st) == 0 ? st.Mode & StatMode.S_IFMT : 0;
        _canBlock = type is not (StatMode.S_IFREG or StatMode.S_IFBLK);
    }

    public override string Name => $"host:[{_guestFd}]";

    public override bool Positional { get; }

    /// <summary>The host description's own status flags (it is shared with the processes
    /// outside, and F_GETFL shows what Linux would: a shell's pipe is O_WRONLY only, a file it
    /// opened has O_LARGEFILE), except that the flags F_SETFL changes are the guest's: those
    /// stay in the Sentry (host calls here block; the host description is left as it is).</summary>
    public override int StatusFlags
    {
        get
        {
            int host = Unistd.Fcntl(_hostFd, Fcntl.F_GETFL, 0);
            return host < 0 ? base.StatusFlags : (host & ~SettableStatusFlags) | (Flags & SettableStatusFlags);
        }
    }

    public bool IsTerminal
    {
        get
        {
            KernelTermios t;
            return Unistd.Ioctl(_hostFd, Abi.Ioctl.TCGETS, &t) == 0;
        }
    }

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) =>
        Transfer(task, guestIovecs, offset, write: false);

    public override long Write(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) =>
        Transfer(task, guestIovecs, offset, write: true);

    /// <summary>Translates guest iovecs into host iovecs over the MemoryFile mapping and does
    /// one host readv/writev (or preadv/pwritev at an offset). A bad guest buffer ends the
    /// transfer there; if nothing was accessible the result is EFAULT.</summary>
    private long Transfer(Kernel.Task task, ReadOnlySpan<Iovec> guestIovecs, long offset, bool write)
    {
        bool any = false;
        foreach (var g in guestIovecs) any |= g.Len != 0;
        if (!any) return 0;
        if (_canBlock)
        {
            // Blocked in the host call itself, the task could not be interrupted: neither a
            // signal nor its process's death would end the wait for input (or room). Waited
            // for before the guest buffers are translated, so the host pointers are not held
            // across the wait (a fork meanwhile may share those pages copy-on-write).
            long ready = task.WaitForHost(_hostFd, write ? HostPoll.POLLOUT : HostPoll.POLLIN, (Flags & OpenFlags.O_NONBLOCK) != 0);
            if (ready < 0) return ready;
        }
        Span<Iovec> host = stackalloc Iovec[MaxIovecs];
        int n = 0;
        ulong requested = 0;
        foreach (var g in guestIovecs)
        {
            if (g.Len == 0) continue;
            requested += g.Len;
            // Reading from the host writes guest memory, and vice versa.
            n += task.MemoryManager.Gather(g.Base, g.Len, !write, host[n..], out ulong got);
            if (got < g.Len) break; // a bad buffer ends the transfer there
            if (n == MaxIovecs) break;
        }
        if (n == 0) return requested == 0 ? 0 : -(long)Errno.EFAULT;
        nint r;
        fixed (Iovec* p = host)
        {
            if (offset < 0)
                r = write ? Unistd.Writev(_hostFd, p, n) : Unistd.Readv(_hostFd, p, n);
            else
                r = write ? PositionalWrite(p, n, offset) : PositionalRead(p, n, offset);
        }
        if (r < 0) return -HostError.Last;
        return r;
    }

    private nint PositionalRead(Iovec* iov, int n, long offset)
    {
        nint total = 0;
        for (int i = 0; i < n; i++)
        {
            nint r = Unistd.Pread(_hostFd, (byte*)iov[i].Base, (nuint)iov[i].Len, offset + total);
            if (r < 0) return total > 0 ? total : r;
            total += r;
            if ((ulong)r < iov[i].Len) break;
        }
        return total;
    }

    private nint PositionalWrite(Iovec* iov, int n, long offset)
    {
        nint total = 0;
        for (int i = 0; i < n; i++)
        {
            nint r = Unistd.Pwrite(_hostFd, (byte*)iov[i].Base, (nuint)iov[i].Len, offset + total);
            if (r < 0) return total > 0 ? total : r;
            total += r;
            if ((ulong)r < iov[i].Len) break;
        }
        return total;
    }

    public override unsafe long ReadKernel(Span<byte> dst, long offset)
    {
        fixed (byte* p = dst)
        {
            nint r = offset < 0 ? Unistd.Read(_hostFd, p, (nuint)dst.Length) : Unistd.Pread(_hostFd, p, (nuint)dst.Length, offset);
            return r < 0 ? -HostError.Last : r;
        }
    }

    public override unsafe long WriteKernel(ReadOnlySpan<byte> src, long offset)
    {
        fixed (byte* p = src)
        {
            nint r = offset < 0 ? Unistd.Write(_hostFd, p, (nuint)src.Length) : Unistd.Pwrite(_hostFd, p, (nuint)src.Length, offset);
            return r < 0 ? -HostError.Last : r;
        }
    }

    public override long Sync() => Stat(out Stat st) == 0 && (st.Mode & StatMode.S_IFMT) == StatMode.S_IFREG ? 0 : -(long)Errno.EINVAL;

    public override long Seek(long offset, int whence)
    {
        long r = Unistd.Lseek(_hostFd, offset, whence);
        return r < 0 ? -HostError.Last : r;
    }

    public override long Stat(out Stat stat)
    {
        fixed (Stat* p = &stat)
            return Unistd.Fstat(_hostFd, p) < 0 ? -HostError.Last : 0;
    }

    /// <summary>Terminal ioctls are answered by the host terminal itself; on anything else the
    /// host says ENOTTY, as Linux would.</summary>
    public override long Ioctl(Kernel.Task task, uint request, ulong arg)
    {
        switch (request)
        {
            case Abi.Ioctl.TCGETS:
                {
                    KernelTermios t;
                    if (Unistd.Ioctl(_hostFd, request, &t) < 0) return -HostError.Last;
                    return task.MemoryManager.CopyOut(arg, t);
                }
            case Abi.Ioctl.TCSETS or Abi.Ioctl.TCSETSW or Abi.Ioctl.TCSETSF:
                {
                    if (task.MemoryManager.CopyIn(arg, out KernelTermios t) < 0) return -(long)Errno.EFAULT;
                    return Unistd.Ioctl(_hostFd, request, &t) < 0 ? -HostError.Last : 0;
                }
            case Abi.Ioctl.TIOCGWINSZ:
                {
                    Winsize w;
                    if (Unistd.Ioctl(_hostFd, request, &w) < 0) return -HostError.Last;
                    return task.MemoryManager.CopyOut(arg, w);
                }
            default:
                return -(long)Errno.ENOTTY;
        }
    }

    protected override void Release() => Unistd.Close(_hostFd);
}
