using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Socket;
using Sandbox.Sentry.Socket.Unix;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.MsgFlags;
using static Sandbox.Abi.SocketAbi;
using static Sandbox.Abi.SockOpt;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Socket system calls. AF_UNIX is implemented inside the sandbox; every other
/// family gives EAFNOSUPPORT until the network stack arrives.</summary>
public static partial class Linux
{
    /// <summary>The largest ancillary buffer sendmsg accepts (net.core.optmem_max).</summary>
    private const int MaxControlLength = 128 * 1024;

    private static long SocketOf(Task t, ulong fd, out SocketFile s)
    {
        s = null!;
        if (t.Fds.Get((int)fd) is not { } f) return -(long)Errno.EBADF;
        if (f is not SocketFile socket) return -(long)Errno.ENOTSOCK;
        s = socket;
        return 0;
    }

    /// <summary>Validates socket()/socketpair() arguments as __sock_create and unix_create do.
    /// SOCK_RAW is a datagram socket in AF_UNIX.</summary>
    private static long CheckSocketArgs(int domain, ref int type, int protocol, out int flags)
    {
        flags = type & ~SOCK_TYPE_MASK;
        type &= SOCK_TYPE_MASK;
        if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) != 0) return -(long)Errno.EINVAL;
        if (domain < 0 || domain >= AF_MAX) return -(long)Errno.EAFNOSUPPORT;
        if (type >= SOCK_MAX) return -(long)Errno.EINVAL;
        if (domain != AF_UNIX) return -(long)Errno.EAFNOSUPPORT;
        if (protocol != 0 && protocol != AF_UNIX) return -(long)Errno.EPROTONOSUPPORT;
        if (type == SOCK_RAW) type = SOCK_DGRAM;
        return type is SOCK_STREAM or SOCK_DGRAM or SOCK_SEQPACKET ? 0 : -(long)Errno.ESOCKTNOSUPPORT;
    }

    /// <summary>Implements Linux syscall socket(2).</summary>
    public static long Socket(Task t, in SyscallArgs a)
    {
        int type = (int)a.A1;
        long r = CheckSocketArgs((int)a.A0, ref type, (int)a.A2, out int flags);
        if (r < 0) return r;
        var s = new UnixSocket(t.Kernel, type, flags, t.Creds);
        long fd = t.Fds.Allocate(s, 0, (flags & SOCK_CLOEXEC) != 0);
        s.DecRef();
        return fd;
    }

    /// <summary>Implements Linux syscall socketpair(2).</summary>
    public static long Socketpair(Task t, in SyscallArgs a)
    {
        int type = (int)a.A1;
        long r = CheckSocketArgs((int)a.A0, ref type, (int)a.A2, out int flags);
        if (r < 0) return r;
        var (s1, s2) = UnixSocket.Pair(t, type, flags);
        bool cloexec = (flags & SOCK_CLOEXEC) != 0;
        long fd1 = t.Fds.Allocate(s1, 0, cloexec);
        s1.DecRef();
        if (fd1 < 0) { s2.DecRef(); return fd1; }
        long fd2 = t.Fds.Allocate(s2, 0, cloexec);
        s2.DecRef();
        if (fd2 < 0) { t.Fds.Close((int)fd1); return fd2; }
        Span<int> fds = [(int)fd1, (int)fd2];
        if (t.MemoryManager.CopyOut(a.A3, MemoryMarshal.AsBytes(fds)) < 0)
        {
            t.Fds.Close((int)fd1);
            t.Fds.Close((int)fd2);
            return -(long)Errno.EFAULT;
        }
        return 0;
    }

    /// <summary>move_addr_to_kernel: at most sizeof(sockaddr_storage) bytes.</summary>
    private static long AddressIn(Task t, ulong addr, ulong length, Span<byte> buffer, out int used)
    {
        used = 0;
        if ((int)length < 0 || (long)length > SockaddrStorageSize) return -(long)Errno.EINVAL;
        used = (int)length;
        if (used == 0) return 0;
        return t.MemoryManager.CopyIn(addr, buffer[..used]) < 0 ? -(long)Errno.EFAULT : 0;
    }

    /// <summary>move_addr_to_user: copies as much of address as *lengthAddr allows, then
    /// stores the address's real length there.</summary>
    private static long AddressOut(Task t, ReadOnlySpan<byte> address, ulong addr, ulong lengthAddr)
    {
        if (t.MemoryManager.CopyIn(lengthAddr, out int room) < 0) return -(long)Errno.EFAULT;
        if (room < 0) return -(long)Errno.EINVAL;
        int n = Math.Min(room, address.Length);
        if (n > 0 && t.MemoryManager.CopyOut(addr, address[..n]) < 0) return -(long)Errno.EFAULT;
        return t.MemoryManager.CopyOut(lengthAddr, address.Length);
    }

    /// <summary>Implements Linux syscall bind(2).</summary>
    public static long Bind(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        Span<byte> address = stackalloc byte[SockaddrStorageSize];
        r = AddressIn(t, a.A1, a.A2, address, out int length);
        return r < 0 ? r : s.Bind(t, address[..length]);
    }

    /// <summary>Implements Linux syscall listen(2).</summary>
    public static long Listen(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        return r < 0 ? r : s.Listen(t, (int)a.A1);
    }

    /// <summary>Implements Linux syscall connect(2).</summary>
    public static long Connect(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        Span<byte> address = stackalloc byte[SockaddrStorageSize];
        r = AddressIn(t, a.A1, a.A2, address, out int length);
        return r < 0 ? r : s.Connect(t, address[..length]);
    }

    /// <summary>Implements Linux syscall accept(2).</summary>
    public static long Accept(Task t, in SyscallArgs a) => AcceptCall(t, a.A0, a.A1, a.A2, 0);

    /// <summary>Implements Linux syscall accept4(2).</summary>
    public static long Accept4(Task t, in SyscallArgs a) => AcceptCall(t, a.A0, a.A1, a.A2, (int)a.A3);

    private static long AcceptCall(Task t, ulong fd, ulong addr, ulong lengthAddr, int flags)
    {
        if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) != 0) return -(long)Errno.EINVAL;
        long r = SocketOf(t, fd, out var s);
        if (r < 0) return r;
        r = s.Accept(t, s.NonBlocking, out var accepted);
        if (r < 0) return r;
        accepted!.Flags = OpenFlags.O_RDWR | (flags & SOCK_NONBLOCK);
        if (addr != 0)
        {
            // A connection whose address cannot be delivered is dropped, as on Linux.
            accepted.GetPeerName(out byte[] peer);
            r = AddressOut(t, peer, addr, lengthAddr);
            if (r < 0) { accepted.DecRef(); return r; }
        }
        r = t.Fds.Allocate(accepted, 0, (flags & SOCK_CLOEXEC) != 0);
        accepted.DecRef();
        return r;
    }

    /// <summary>Implements Linux syscall getsockname(2).</summary>
    public static long Getsockname(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        r = s.GetSockName(out byte[] address);
        return r < 0 ? r : AddressOut(t, address, a.A1, a.A2);
    }

    /// <summary>Implements Linux syscall getpeername(2).</summary>
    public static long Getpeername(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        r = s.GetPeerName(out byte[] address);
        return r < 0 ? r : AddressOut(t, address, a.A1, a.A2);
    }

    /// <summary>Implements Linux syscall shutdown(2).</summary>
    public static long Shutdown(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        return r < 0 ? r : s.Shutdown(t, (int)a.A1);
    }

    /// <summary>Implements Linux syscall sendto(2).</summary>
    public static long Sendto(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        Span<byte> address = stackalloc byte[SockaddrStorageSize];
        int length = 0;
        if (a.A4 != 0)
        {
            r = AddressIn(t, a.A4, a.A5, address, out length);
            if (r < 0) return r;
        }
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        return s.SendMsg(t, new IoBuffers(t.MemoryManager, iov), address[..length], default, (int)a.A3);
    }

    /// <summary>Implements Linux syscall recvfrom(2).</summary>
    public static long Recvfrom(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        Span<Iovec> iov = [new Iovec { Base = a.A1, Len = Math.Min(a.A2, MaxRwCount) }];
        r = s.RecvMsg(t, new IoBuffers(t.MemoryManager, iov), (int)a.A3, out var info);
        DropRights(info.Rights);
        if (r < 0 || a.A4 == 0) return r;
        long w = AddressOut(t, info.From ?? [], a.A4, a.A5);
        return w < 0 ? w : r;
    }

    private static void DropRights(FileDescription[]? rights)
    {
        if (rights != null) foreach (var f in rights) f.DecRef();
    }

    /// <summary>Implements Linux syscall sendmsg(2).</summary>
    public static long Sendmsg(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        if (t.MemoryManager.CopyIn(a.A1, out MsgHdr msg) < 0) return -(long)Errno.EFAULT;
        return SendOne(t, s, msg, (int)a.A2);
    }

    /// <summary>Implements Linux syscall sendmmsg(2).</summary>
    public static long Sendmmsg(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        int count = (int)Math.Min((uint)a.A2, (uint)UIO_MAXIOV);
        int sent = 0;
        for (; sent < count; sent++)
        {
            ulong entry = a.A1 + (ulong)sent * (ulong)Marshal.SizeOf<MMsgHdr>();
            if (t.MemoryManager.CopyIn(entry, out MsgHdr msg) < 0) { r = -(long)Errno.EFAULT; break; }
            r = SendOne(t, s, msg, (int)a.A3);
            if (r < 0) break;
            if (t.MemoryManager.CopyOut(entry + (ulong)Marshal.SizeOf<MsgHdr>(), (uint)r) < 0) { r = -(long)Errno.EFAULT; break; }
        }
        return sent > 0 ? sent : r;
    }

    private static long SendOne(Task t, SocketFile s, in MsgHdr msg, int flags)
    {
        Span<byte> address = stackalloc byte[SockaddrStorageSize];
        int nameLength = 0;
        if (msg.Name != 0 && msg.NameLen != 0)
        {
            if ((int)msg.NameLen < 0) return -(long)Errno.EINVAL;
            nameLength = (int)Math.Min(msg.NameLen, (uint)SockaddrStorageSize);
            if (t.MemoryManager.CopyIn(msg.Name, address[..nameLength]) < 0) return -(long)Errno.EFAULT;
        }
        long r = CopyInIovecs(t, msg.Iov, msg.IovLen, out Iovec[] iov);
        if (r < 0) return r;
        var control = default(SendControl);
        if (msg.ControlLen > 0)
        {
            if (msg.ControlLen > int.MaxValue || msg.ControlLen > MaxControlLength) return -(long)Errno.ENOBUFS;
            var buffer = new byte[msg.ControlLen];
            if (t.MemoryManager.CopyIn(msg.Control, buffer) < 0) return -(long)Errno.EFAULT;
            r = ParseControl(t, buffer, out control);
            if (r < 0) return r;
        }
        return s.SendMsg(t, new IoBuffers(t.MemoryManager, iov), address[..nameLength], control, flags);
    }

    /// <summary>Reads a msghdr's iovec array: EMSGSIZE beyond UIO_MAXIOV entries, EINVAL for a
    /// negative length or a total that overflows; the total is capped at MAX_RW_COUNT.</summary>
    private static unsafe long CopyInIovecs(Task t, ulong addr, ulong count, out Iovec[] iov)
    {
        iov = [];
        if (count > UIO_MAXIOV) return -(long)Errno.EMSGSIZE;
        if (count == 0) return 0;
        iov = new Iovec[count];
        if (t.MemoryManager.CopyIn(addr, MemoryMarshal.AsBytes(iov.AsSpan())) < 0) return -(long)Errno.EFAULT;
        ulong total = 0;
        for (int i = 0; i < iov.Length; i++)
        {
            if ((long)iov[i].Len < 0) return -(long)Errno.EINVAL;
            iov[i].Len = Math.Min(iov[i].Len, MaxRwCount - total);
            total += iov[i].Len;
        }
        return 0;
    }

    /// <summary>__scm_send: walks the cmsghdrs. SOL_SOCKET messages must be SCM_RIGHTS (up to
    /// SCM_MAX_FD descriptors in all, EBADF for a closed one) or SCM_CREDENTIALS (checked as
    /// scm_check_creds does); other levels are ignored.</summary>
    private static long ParseControl(Task t, ReadOnlySpan<byte> control, out SendControl result)
    {
        result = default;
        List<FileDescription>? rights = null;
        UCred? creds = null;
        int offset = 0;
        while (control.Length - offset >= CmsgHdr.Size)
        {
            var header = MemoryMarshal.Read<CmsgHdr>(control[offset..]);
            if (header.Len < CmsgHdr.Size || header.Len > (ulong)(control.Length - offset)) return -(long)Errno.EINVAL;
            var data = control.Slice(offset + CmsgHdr.Size, (int)header.Len - CmsgHdr.Size);
            if (header.Level == SOL_SOCKET)
            {
                switch (header.Type)
                {
                    case SCM_RIGHTS:
                        {
                            int n = data.Length / sizeof(int);
                            if (n == 0) break;
                            rights ??= [];
                            if (rights.Count + n > SCM_MAX_FD) return -(long)Errno.EINVAL;
                            foreach (int fd in MemoryMarshal.Cast<byte, int>(data[..(n * sizeof(int))]))
                            {
                                if (t.Fds.Get(fd) is not { } f) return -(long)Errno.EBADF;
                                rights.Add(f);
                            }
                            break;
                        }
                    case SCM_CREDENTIALS:
                        {
                            if (data.Length != Marshal.SizeOf<UCred>()) return -(long)Errno.EINVAL;
                            var c = MemoryMarshal.Read<UCred>(data);
                            long r = CheckCredentials(t, c);
                            if (r < 0) return r;
                            creds = c;
                            break;
                        }
                    default:
                        return -(long)Errno.EINVAL;
                }
            }
            offset += (int)Math.Min(Align8(header.Len), (ulong)(control.Length - offset));
        }
        result = new SendControl(rights?.ToArray(), creds);
        return 0;
    }

    private static ulong Align8(ulong n) => (n + 7) & ~7UL;

    /// <summary>scm_check_creds: one's own pid unless CAP_SYS_ADMIN, one's real, effective or
    /// saved uid unless CAP_SETUID, likewise for the gid with CAP_SETGID.</summary>
    private static long CheckCredentials(Task t, UCred c)
    {
        const int CapSetgid = 6, CapSetuid = 7, CapSysAdmin = 21;
        var k = t.Creds;
        bool pidOk = c.Pid == t.Pid || k.HasCapability(CapSysAdmin);
        bool uidOk = c.Uid == k.RealUid || c.Uid == k.EffectiveUid || c.Uid == k.SavedUid || k.HasCapability(CapSetuid);
        bool gidOk = c.Gid == k.RealGid || c.Gid == k.EffectiveGid || c.Gid == k.SavedGid || k.HasCapability(CapSetgid);
        if (!pidOk || !uidOk || !gidOk) return -(long)Errno.EPERM;
        if (c.Pid != t.Pid && t.Kernel.FindGroup(c.Pid) == null) return -(long)Errno.ESRCH;
        return 0;
    }

    /// <summary>Implements Linux syscall recvmsg(2).</summary>
    public static long Recvmsg(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        if (t.MemoryManager.CopyIn(a.A1, out MsgHdr msg) < 0) return -(long)Errno.EFAULT;
        return ReceiveOne(t, s, a.A1, msg, (int)a.A2);
    }

    /// <summary>Implements Linux syscall recvmmsg(2).</summary>
    public static long Recvmmsg(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        long deadline = long.MaxValue;
        if (a.A4 != 0)
        {
            if (t.MemoryManager.CopyIn(a.A4, out Timespec ts) < 0) return -(long)Errno.EFAULT;
            if (ts.Sec < 0 || ts.Nsec is < 0 or >= 1_000_000_000) return -(long)Errno.EINVAL;
            deadline = Environment.TickCount64 + ts.Sec * 1000 + ts.Nsec / 1_000_000;
        }
        int count = (int)Math.Min((uint)a.A2, (uint)UIO_MAXIOV);
        int flags = (int)a.A3;
        int received = 0;
        for (; received < count; received++)
        {
            ulong entry = a.A1 + (ulong)received * (ulong)Marshal.SizeOf<MMsgHdr>();
            if (t.MemoryManager.CopyIn(entry, out MsgHdr msg) < 0) { r = -(long)Errno.EFAULT; break; }
            r = ReceiveOne(t, s, entry, msg, flags);
            if (r < 0) break;
            if (t.MemoryManager.CopyOut(entry + (ulong)Marshal.SizeOf<MsgHdr>(), (uint)r) < 0) { r = -(long)Errno.EFAULT; break; }
            if ((flags & MSG_WAITFORONE) != 0) flags |= MSG_DONTWAIT;
            if (Environment.TickCount64 >= deadline) { received++; break; }
        }
        if (a.A4 != 0)
        {
            long left = Math.Max(0, deadline - Environment.TickCount64);
            t.MemoryManager.CopyOut(a.A4, new Timespec(left / 1000, left % 1000 * 1_000_000));
            // signal(7): recvmmsg with a timeout is never restarted.
            if (received == 0 && r == -(long)Errno.EINTR) t.NoRestart = true;
        }
        return received > 0 ? received : r;
    }

    /// <summary>One recvmsg into the msghdr at msgAddr: data, then the sender's address, the
    /// ancillary messages (SCM_CREDENTIALS, then SCM_RIGHTS with the descriptors installed),
    /// msg_controllen and msg_flags.</summary>
    private static long ReceiveOne(Task t, SocketFile s, ulong msgAddr, in MsgHdr msg, int flags)
    {
        long r = CopyInIovecs(t, msg.Iov, msg.IovLen, out Iovec[] iov);
        if (r < 0) return r;
        if ((int)msg.NameLen < 0 && msg.Name != 0) return -(long)Errno.EINVAL;
        r = s.RecvMsg(t, new IoBuffers(t.MemoryManager, iov), flags, out var info);
        if (r < 0)
        {
            DropRights(info.Rights);
            return r;
        }
        var output = msg;
        // Linux reports MSG_CMSG_CLOEXEC back in msg_flags when it was asked for.
        output.Flags = info.Flags | (flags & MSG_CMSG_CLOEXEC);
        if (msg.Name != 0)
        {
            byte[] from = info.From ?? [];
            int n = (int)Math.Min(msg.NameLen, (uint)from.Length);
            if (n > 0 && t.MemoryManager.CopyOut(msg.Name, from.AsSpan(0, n)) < 0) { DropRights(info.Rights); return -(long)Errno.EFAULT; }
            output.NameLen = (uint)from.Length;
        }
        int room = msg.Control == 0 ? 0 : (int)Math.Min(msg.ControlLen, (ulong)MaxControlLength);
        var control = new byte[room];
        int used = 0;
        if (info.Creds is { } creds)
            used += PutCmsg(control.AsSpan(used), SCM_CREDENTIALS, MemoryMarshal.AsBytes(new ReadOnlySpan<UCred>(in creds)), ref output.Flags);
        if (info.Rights is { } rights)
            used += PutRights(t, control.AsSpan(used), rights, (flags & MSG_CMSG_CLOEXEC) != 0, ref output.Flags);
        if (used > 0 && t.MemoryManager.CopyOut(msg.Control, control.AsSpan(0, used)) < 0) return -(long)Errno.EFAULT;
        output.ControlLen = (ulong)used;
        if (t.MemoryManager.CopyOut(msgAddr, output) < 0) return -(long)Errno.EFAULT;
        return r;
    }

    /// <summary>put_cmsg: as much of the message as fits (MSG_CTRUNC when cut); returns the
    /// control bytes used.</summary>
    private static int PutCmsg(Span<byte> room, int type, ReadOnlySpan<byte> data, ref int msgFlags)
    {
        if (room.Length < CmsgHdr.Size)
        {
            msgFlags |= MSG_CTRUNC;
            return 0;
        }
        int length = CmsgHdr.Size + data.Length;
        if (room.Length < length)
        {
            msgFlags |= MSG_CTRUNC;
            length = room.Length;
        }
        var header = new CmsgHdr { Len = (ulong)length, Level = SOL_SOCKET, Type = type };
        MemoryMarshal.Write(room, in header);
        data[..(length - CmsgHdr.Size)].CopyTo(room[CmsgHdr.Size..]);
        return Math.Min((int)Align8((ulong)(CmsgHdr.Size + data.Length)), room.Length);
    }

    /// <summary>scm_detach_fds: installs as many descriptors as the room holds (and the fd
    /// limit allows); the rest are closed and MSG_CTRUNC set.</summary>
    private static int PutRights(Task t, Span<byte> room, FileDescription[] rights, bool cloexec, ref int msgFlags)
    {
        int max = room.Length > CmsgHdr.Size ? (room.Length - CmsgHdr.Size) / sizeof(int) : 0;
        var fds = new List<int>();
        int i = 0;
        for (; i < rights.Length && i < max; i++)
        {
            long fd = t.Fds.Allocate(rights[i], 0, cloexec);
            if (fd < 0) break;
            rights[i].DecRef();
            fds.Add((int)fd);
        }
        for (int j = i; j < rights.Length; j++) rights[j].DecRef();
        if (i < rights.Length) msgFlags |= MSG_CTRUNC;
        if (fds.Count == 0) return 0;
        int dataLength = fds.Count * sizeof(int);
        var header = new CmsgHdr { Len = (ulong)(CmsgHdr.Size + dataLength), Level = SOL_SOCKET, Type = SCM_RIGHTS };
        MemoryMarshal.Write(room, in header);
        MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(fds)).CopyTo(room[CmsgHdr.Size..]);
        return Math.Min((int)Align8((ulong)(CmsgHdr.Size + dataLength)), room.Length);
    }

    /// <summary>Implements Linux syscall getsockopt(2).</summary>
    public static long Getsockopt(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        if (t.MemoryManager.CopyIn(a.A4, out int room) < 0) return -(long)Errno.EFAULT;
        if (room < 0) return -(long)Errno.EINVAL;
        Span<byte> value = stackalloc byte[SockaddrStorageSize];
        value.Clear();
        r = s.GetSockOpt(t, (int)a.A1, (int)a.A2, value);
        if (r < 0) return r;
        int n = Math.Min(room, (int)r);
        if (n > 0 && t.MemoryManager.CopyOut(a.A3, value[..n]) < 0) return -(long)Errno.EFAULT;
        return t.MemoryManager.CopyOut(a.A4, n);
    }

    /// <summary>Implements Linux syscall setsockopt(2).</summary>
    public static long Setsockopt(Task t, in SyscallArgs a)
    {
        long r = SocketOf(t, a.A0, out var s);
        if (r < 0) return r;
        if ((int)a.A4 < 0) return -(long)Errno.EINVAL;
        Span<byte> value = stackalloc byte[SockaddrStorageSize];
        int n = (int)Math.Min((uint)a.A4, (uint)SockaddrStorageSize);
        if (n > 0 && t.MemoryManager.CopyIn(a.A3, value[..n]) < 0) return -(long)Errno.EFAULT;
        return s.SetSockOpt(t, (int)a.A1, (int)a.A2, value[..n]);
    }
}
