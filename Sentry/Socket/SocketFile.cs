using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.SockOpt;

namespace Sandbox.Sentry.Socket;

/// <summary>Ancillary data a sender attached: descriptions to pass (SCM_RIGHTS; the caller
/// keeps its references, the socket takes its own) and explicit credentials (SCM_CREDENTIALS,
/// already checked).</summary>
public readonly record struct SendControl(FileDescription[]? Rights, UCred? Creds);

/// <summary>What recvmsg reports besides the bytes.</summary>
public struct ReceiveInfo
{
    /// <summary>MSG_TRUNC / MSG_CTRUNC bits for msg_flags.</summary>
    public int Flags;
    /// <summary>The whole message's length, for MSG_TRUNC in the call's flags.</summary>
    public long MessageLength;
    /// <summary>Received descriptions; the caller owns one reference to each.</summary>
    public FileDescription[]? Rights;
    public UCred? Creds;
    /// <summary>The sender's address (sockaddr bytes), or null.</summary>
    public byte[]? From;
}

/// <summary>A socket's open file description. The socket calls land here; families implement
/// them (AF_UNIX today). Common SOL_SOCKET options live here. Every operation returns a
/// result or a negative errno.</summary>
public abstract class SocketFile : FileDescription
{
    /// <summary>Socket inode numbers, as sockfs numbers them (st_ino, "socket:[N]").</summary>
    private static long _nextIno = 10000;

    /// <summary>net.core.wmem_default / rmem_default, the *_max limits, and Linux's minimums
    /// (SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF).</summary>
    public const int DefaultBufferSize = 212992, MaxBufferSize = 4194304;
    public const int MinSendBuffer = 4608, MinReceiveBuffer = 2304;

    private readonly Dictionary<int, int> _flagOptions = [];
    private Linger _linger;

    protected SocketFile(int type, int flags, Credentials owner)
    {
        Type = type;
        Flags = OpenFlags.O_RDWR | (flags & OpenFlags.O_NONBLOCK);
        Ino = (ulong)Interlocked.Increment(ref _nextIno);
        OwnerUid = owner.EffectiveUid;
        OwnerGid = owner.EffectiveGid;
    }

    public ulong Ino { get; }
    public abstract int Family { get; }
    /// <summary>SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.</summary>
    public int Type { get; }
    public virtual int Protocol => 0;
    public uint OwnerUid { get; }
    public uint OwnerGid { get; }

    public override string Name => $"socket:[{Ino}]";

    public bool NonBlocking => (Flags & OpenFlags.O_NONBLOCK) != 0;

    /// <summary>SO_SNDBUF / SO_RCVBUF as getsockopt reports them (twice what was set).</summary>
    public int SendBufferSize { get; protected set; } = DefaultBufferSize;
    public int ReceiveBufferSize { get; protected set; } = DefaultBufferSize;

    /// <summary>SO_PASSCRED.</summary>
    public bool PassCred { get; protected set; }

    /// <summary>SO_RCVTIMEO / SO_SNDTIMEO in microseconds: null for none, 0 for "do not wait"
    /// (a negative time was set).</summary>
    public long? ReceiveTimeoutUs { get; private set; }
    public long? SendTimeoutUs { get; private set; }

    /// <summary>The deadline (Environment.TickCount64 ms) for a blocking call with timeout us.</summary>
    public static long DeadlineFor(long? timeoutUs) => timeoutUs switch
    {
        null => long.MaxValue,
        0 => 0,
        { } us => Environment.TickCount64 + (us + 999) / 1000,
    };

    // ---- the socket calls --------------------------------------------------------------------

    public abstract long Bind(Task t, ReadOnlySpan<byte> address);
    public abstract long Listen(Task t, int backlog);
    /// <summary>Waits for a connection (unless nonBlocking); the new socket is returned with one
    /// reference that the caller owns.</summary>
    public abstract long Accept(Task t, bool nonBlocking, out SocketFile? accepted);
    public abstract long Connect(Task t, ReadOnlySpan<byte> address);
    public abstract long Shutdown(Task t, int how);
    /// <summary>The socket's own address (sockaddr bytes).</summary>
    public abstract long GetSockName(out byte[] address);
    public abstract long GetPeerName(out byte[] address);
    /// <summary>Sends from src; address is empty for the connected peer. Raising SIGPIPE for
    /// EPIPE is left to the syscall layer unless the socket sets
    /// <see cref="Task.SuppressSigpipe"/> (MSG_NOSIGNAL, or a type that never raises it).</summary>
    public abstract long SendMsg(Task? t, IoBuffers src, ReadOnlySpan<byte> address, SendControl control, int flags);
    /// <summary>Receives into dst; info tells the rest (flags, descriptors, credentials, sender).</summary>
    public abstract long RecvMsg(Task? t, IoBuffers dst, int flags, out ReceiveInfo info);

    /// <summary>Pending error (SO_ERROR), cleared by reading it.</summary>
    protected virtual int TakeError() => 0;
    protected virtual bool Listening => false;
    /// <summary>SO_PEERCRED.</summary>
    protected virtual UCred PeerCredentials => new(0, uint.MaxValue, uint.MaxValue);

    /// <summary>Options at levels other than SOL_SOCKET; no family here has any.</summary>
    protected virtual long GetFamilyOption(int level, int name, Span<byte> value) => -(long)Errno.EOPNOTSUPP;
    protected virtual long SetFamilyOption(int level, int name, ReadOnlySpan<byte> value) => -(long)Errno.EOPNOTSUPP;

    /// <summary>Writes the option's value into value (at most 128 bytes); returns its natural
    /// length (the caller copies out as much of it as the guest's buffer holds).</summary>
    public long GetSockOpt(Task t, int level, int name, Span<byte> value)
    {
        if (level != SOL_SOCKET) return GetFamilyOption(level, name, value);
        switch (name)
        {
            case SO_TYPE: return PutInt(value, Type);
            case SO_DOMAIN: return PutInt(value, Family);
            case SO_PROTOCOL: return PutInt(value, Protocol);
            case SO_ERROR: return PutInt(value, TakeError());
            case SO_ACCEPTCONN: return PutInt(value, Listening ? 1 : 0);
            case SO_SNDBUF: return PutInt(value, SendBufferSize);
            case SO_RCVBUF: return PutInt(value, ReceiveBufferSize);
            case SO_PASSCRED: return PutInt(value, PassCred ? 1 : 0);
            case SO_PEERCRED: return Put(value, PeerCredentials);
            case SO_RCVTIMEO_OLD or SO_RCVTIMEO_NEW: return Put(value, ToTimeval(ReceiveTimeoutUs));
            case SO_SNDTIMEO_OLD or SO_SNDTIMEO_NEW: return Put(value, ToTimeval(SendTimeoutUs));
            case SO_LINGER: return Put(value, _linger);
            case SO_RCVLOWAT or SO_SNDLOWAT:
                return PutInt(value, _flagOptions.TryGetValue(name, out int lowat) ? lowat : 1);
            case SO_REUSEADDR or SO_REUSEPORT or SO_KEEPALIVE or SO_BROADCAST or SO_DEBUG or SO_DONTROUTE
                or SO_OOBINLINE or SO_NO_CHECK or SO_PRIORITY or SO_PASSSEC or SO_BSDCOMPAT:
                return PutInt(value, _flagOptions.TryGetValue(name, out int v) ? v : 0);
            default:
                return -(long)Errno.ENOPROTOOPT;
        }
    }

    public long SetSockOpt(Task t, int level, int name, ReadOnlySpan<byte> value)
    {
        if (level != SOL_SOCKET) return SetFamilyOption(level, name, value);
        if (value.Length < sizeof(int)) return -(long)Errno.EINVAL;
        int v = MemoryMarshal.Read<int>(value);
        switch (name)
        {
            case SO_SNDBUF or SO_SNDBUFFORCE:
                SendBufferSize = Math.Max((int)Math.Min((uint)v, MaxBufferSize) * 2, MinSendBuffer);
                return 0;
            case SO_RCVBUF or SO_RCVBUFFORCE:
                ReceiveBufferSize = Math.Max((int)Math.Min((uint)v, MaxBufferSize) * 2, MinReceiveBuffer);
                return 0;
            case SO_PASSCRED:
                PassCred = v != 0;
                return 0;
            case SO_RCVTIMEO_OLD or SO_RCVTIMEO_NEW or SO_SNDTIMEO_OLD or SO_SNDTIMEO_NEW:
                {
                    if (value.Length < Marshal.SizeOf<Timeval>()) return -(long)Errno.EINVAL;
                    var tv = MemoryMarshal.Read<Timeval>(value);
                    if (tv.Usec is < 0 or >= 1_000_000) return -(long)Errno.EDOM;
                    long? us = tv.Sec < 0 ? 0 : tv.Sec == 0 && tv.Usec == 0 ? null : tv.Sec * 1_000_000 + tv.Usec;
                    if (name is SO_RCVTIMEO_OLD or SO_RCVTIMEO_NEW) ReceiveTimeoutUs = us;
                    else SendTimeoutUs = us;
                    return 0;
                }
            case SO_LINGER:
                if (value.Length < Marshal.SizeOf<Linger>()) return -(long)Errno.EINVAL;
                {
                    // Switching lingering off keeps the time, as Linux does.
                    var l = MemoryMarshal.Read<Linger>(value);
                    _linger = l.OnOff == 0 ? _linger with { OnOff = 0 } : new Linger { OnOff = 1, Seconds = l.Seconds };
                    return 0;
                }
            case SO_RCVLOWAT:
                _flagOptions[name] = v < 0 ? int.MaxValue : v == 0 ? 1 : v;
                return 0;
            case SO_SNDLOWAT:
                return -(long)Errno.ENOPROTOOPT;
            case SO_PRIORITY:
                if ((uint)v > 6 && !t.Creds.HasCapability(12 /* CAP_NET_ADMIN */)) return -(long)Errno.EPERM;
                _flagOptions[name] = v;
                return 0;
            case SO_REUSEADDR or SO_REUSEPORT or SO_KEEPALIVE or SO_BROADCAST or SO_DEBUG or SO_DONTROUTE
                or SO_OOBINLINE or SO_NO_CHECK or SO_PASSSEC or SO_BSDCOMPAT:
                _flagOptions[name] = v != 0 ? 1 : 0;
                return 0;
            default:
                return -(long)Errno.ENOPROTOOPT;
        }
    }

    private static Timeval ToTimeval(long? us) =>
        us is { } v and > 0 ? new Timeval { Sec = v / 1_000_000, Usec = v % 1_000_000 } : default;

    private static long PutInt(Span<byte> dst, int value) => Put(dst, value);

    private static long Put<T>(Span<byte> dst, T value) where T : unmanaged
    {
        MemoryMarshal.Write(dst, in value);
        return Marshal.SizeOf<T>();
    }

    // ---- file operations -------------------------------------------------------------------

    /// <summary>read(2) of nothing returns at once (recv(2) of nothing waits for data).</summary>
    public override long Read(Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        if (offset >= 0) return -(long)Errno.ESPIPE;
        var dst = new IoBuffers(task.MemoryManager, iovecs);
        if (dst.Length == 0) return 0;
        long r = RecvMsg(task, dst, 0, out var info);
        return r >= 0 ? DropRights(r, info) : r;
    }

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : SendMsg(task, new IoBuffers(task.MemoryManager, iovecs), default, default, 0);

    public override long ReadKernel(Span<byte> dst, long offset)
    {
        if (offset >= 0) return -(long)Errno.ESPIPE;
        if (dst.Length == 0) return 0;
        long r = RecvMsg(Task.Current, new IoBuffers(dst), 0, out var info);
        return r >= 0 ? DropRights(r, info) : r;
    }

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) =>
        offset >= 0 ? -(long)Errno.ESPIPE : SendMsg(Task.Current, IoBuffers.Source(src), default, default, 0);

    /// <summary>A plain read takes descriptors off the queue too; they are closed.</summary>
    private static long DropRights(long result, in ReceiveInfo info)
    {
        if (info.Rights != null) foreach (var f in info.Rights) f.DecRef();
        return result;
    }

    public override long Stat(out Stat stat)
    {
        stat = new Stat
        {
            Dev = 0x8,
            Ino = Ino,
            Nlink = 1,
            Mode = StatMode.S_IFSOCK | 0x1ff /* 0777 */,
            Uid = OwnerUid,
            Gid = OwnerGid,
            Blksize = 4096,
        };
        return 0;
    }
}
