using System.Runtime.InteropServices;

namespace Sandbox.Abi;

#pragma warning disable CA1707 // names follow Linux

/// <summary>Address families, socket types and their creation flags (include/linux/socket.h,
/// include/linux/net.h).</summary>
public static class SocketAbi
{
    public const int AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
    /// <summary>NPROTO: families at or above it do not exist.</summary>
    public const int AF_MAX = 46;

    public const int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_RDM = 4, SOCK_SEQPACKET = 5, SOCK_DCCP = 6;
    public const int SOCK_PACKET = 10, SOCK_MAX = 11, SOCK_TYPE_MASK = 0xf;
    public const int SOCK_NONBLOCK = OpenFlags.O_NONBLOCK, SOCK_CLOEXEC = OpenFlags.O_CLOEXEC;

    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

    /// <summary>sizeof(struct sockaddr_storage): the largest address the calls accept.</summary>
    public const int SockaddrStorageSize = 128;
    /// <summary>sizeof(struct sockaddr_un) and its sun_path.</summary>
    public const int SockaddrUnSize = 110, UnixPathMax = 108;

    /// <summary>net.core.somaxconn: listen backlogs are capped at it.</summary>
    public const int SOMAXCONN = 4096;
    /// <summary>UIO_MAXIOV, also the most messages one sendmmsg/recvmmsg handles.</summary>
    public const int UIO_MAXIOV = 1024;
}

/// <summary>send/recv flags (include/linux/socket.h).</summary>
public static class MsgFlags
{
    public const int MSG_OOB = 0x1, MSG_PEEK = 0x2, MSG_DONTROUTE = 0x4, MSG_CTRUNC = 0x8, MSG_PROBE = 0x10;
    public const int MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_EOR = 0x80, MSG_WAITALL = 0x100, MSG_FIN = 0x200;
    public const int MSG_SYN = 0x400, MSG_CONFIRM = 0x800, MSG_RST = 0x1000, MSG_ERRQUEUE = 0x2000, MSG_NOSIGNAL = 0x4000;
    public const int MSG_MORE = 0x8000, MSG_WAITFORONE = 0x10000, MSG_BATCH = 0x40000, MSG_ZEROCOPY = 0x4000000;
    public const int MSG_FASTOPEN = 0x20000000, MSG_CMSG_CLOEXEC = 0x40000000;
}

/// <summary>Socket option levels and SOL_SOCKET option names (include/uapi/asm-generic/socket.h).</summary>
public static class SockOpt
{
    public const int SOL_SOCKET = 1;
    public const int SO_DEBUG = 1, SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_DONTROUTE = 5, SO_BROADCAST = 6;
    public const int SO_SNDBUF = 7, SO_RCVBUF = 8, SO_KEEPALIVE = 9, SO_OOBINLINE = 10, SO_NO_CHECK = 11;
    public const int SO_PRIORITY = 12, SO_LINGER = 13, SO_BSDCOMPAT = 14, SO_REUSEPORT = 15, SO_PASSCRED = 16;
    public const int SO_PEERCRED = 17, SO_RCVLOWAT = 18, SO_SNDLOWAT = 19, SO_RCVTIMEO_OLD = 20, SO_SNDTIMEO_OLD = 21;
    public const int SO_ACCEPTCONN = 30, SO_PEERSEC = 31, SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_PASSSEC = 34;
    public const int SO_PROTOCOL = 38, SO_DOMAIN = 39, SO_PEEK_OFF = 42, SO_COOKIE = 57, SO_PEERGROUPS = 59;
    public const int SO_RCVTIMEO_NEW = 66, SO_SNDTIMEO_NEW = 67;

    /// <summary>Ancillary message types at SOL_SOCKET.</summary>
    public const int SCM_RIGHTS = 1, SCM_CREDENTIALS = 2;
    /// <summary>SCM_MAX_FD: the most descriptors one SCM_RIGHTS message may carry.</summary>
    public const int SCM_MAX_FD = 253;

    /// <summary>SIOCINQ is FIONREAD; SIOCOUTQ is TIOCOUTQ.</summary>
    public const uint SIOCINQ = Ioctl.FIONREAD, SIOCOUTQ = 0x5411;
}

/// <summary>struct msghdr (56 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MsgHdr
{
    public ulong Name;
    public uint NameLen;
    public uint Pad0;
    public ulong Iov, IovLen, Control, ControlLen;
    public int Flags;
    public int Pad1;
}

/// <summary>struct mmsghdr for sendmmsg/recvmmsg (64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MMsgHdr
{
    public MsgHdr Hdr;
    public uint Len;
    public uint Pad;
}

/// <summary>struct cmsghdr (16 bytes); the data follows, aligned to 8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CmsgHdr
{
    public ulong Len;
    public int Level, Type;

    public const int Size = 16;
}

/// <summary>struct ucred, as SO_PEERCRED and SCM_CREDENTIALS carry it.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct UCred(int Pid, uint Uid, uint Gid);

/// <summary>struct linger for SO_LINGER.</summary>
[StructLayout(LayoutKind.Sequential)]
public record struct Linger
{
    public int OnOff, Seconds;
}
