using System.Text;
using Sandbox.Abi;
using static Sandbox.Abi.SocketAbi;
using static Sandbox.Abi.SockOpt;

namespace Sandbox.Sentry.Strace;

/// <summary>How --strace names socket arguments, in strace's own spelling.</summary>
public static class SocketNames
{
    public static string Family(int family) => family switch
    {
        AF_UNSPEC => "AF_UNSPEC",
        AF_UNIX => "AF_UNIX",
        AF_INET => "AF_INET",
        AF_INET6 => "AF_INET6",
        AF_NETLINK => "AF_NETLINK",
        AF_PACKET => "AF_PACKET",
        _ => family.ToString(),
    };

    /// <summary>"SOCK_STREAM|SOCK_CLOEXEC"; flags alone (accept4) without a type.</summary>
    public static string Type(int type)
    {
        var parts = new List<string>();
        int baseType = type & SOCK_TYPE_MASK;
        if (baseType != 0)
        {
            parts.Add(baseType switch
            {
                SOCK_STREAM => "SOCK_STREAM",
                SOCK_DGRAM => "SOCK_DGRAM",
                SOCK_RAW => "SOCK_RAW",
                SOCK_RDM => "SOCK_RDM",
                SOCK_SEQPACKET => "SOCK_SEQPACKET",
                SOCK_DCCP => "SOCK_DCCP",
                SOCK_PACKET => "SOCK_PACKET",
                _ => baseType.ToString(),
            });
        }
        int flags = type & ~SOCK_TYPE_MASK;
        if ((flags & SOCK_NONBLOCK) != 0) parts.Add("SOCK_NONBLOCK");
        if ((flags & SOCK_CLOEXEC) != 0) parts.Add("SOCK_CLOEXEC");
        int rest = flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (rest != 0) parts.Add("0x" + rest.ToString("x"));
        return parts.Count == 0 ? "0" : string.Join('|', parts);
    }

    private static readonly (int Bit, string Name)[] MsgFlagNames =
    [
        (Abi.MsgFlags.MSG_OOB, "MSG_OOB"), (Abi.MsgFlags.MSG_PEEK, "MSG_PEEK"), (Abi.MsgFlags.MSG_DONTROUTE, "MSG_DONTROUTE"),
        (Abi.MsgFlags.MSG_CTRUNC, "MSG_CTRUNC"), (Abi.MsgFlags.MSG_PROBE, "MSG_PROBE"), (Abi.MsgFlags.MSG_TRUNC, "MSG_TRUNC"),
        (Abi.MsgFlags.MSG_DONTWAIT, "MSG_DONTWAIT"), (Abi.MsgFlags.MSG_EOR, "MSG_EOR"), (Abi.MsgFlags.MSG_WAITALL, "MSG_WAITALL"),
        (Abi.MsgFlags.MSG_FIN, "MSG_FIN"), (Abi.MsgFlags.MSG_SYN, "MSG_SYN"), (Abi.MsgFlags.MSG_CONFIRM, "MSG_CONFIRM"),
        (Abi.MsgFlags.MSG_RST, "MSG_RST"), (Abi.MsgFlags.MSG_ERRQUEUE, "MSG_ERRQUEUE"), (Abi.MsgFlags.MSG_NOSIGNAL, "MSG_NOSIGNAL"),
        (Abi.MsgFlags.MSG_MORE, "MSG_MORE"), (Abi.MsgFlags.MSG_WAITFORONE, "MSG_WAITFORONE"), (Abi.MsgFlags.MSG_BATCH, "MSG_BATCH"),
        (Abi.MsgFlags.MSG_ZEROCOPY, "MSG_ZEROCOPY"), (Abi.MsgFlags.MSG_FASTOPEN, "MSG_FASTOPEN"),
        (Abi.MsgFlags.MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"),
    ];

    /// <summary>"MSG_PEEK|MSG_DONTWAIT", "0", or names followed by unknown bits in hex.</summary>
    public static string MsgFlags(int flags)
    {
        if (flags == 0) return "0";
        var parts = new List<string>();
        int rest = flags;
        foreach (var (bit, name) in MsgFlagNames)
        {
            if ((rest & bit) == 0) continue;
            parts.Add(name);
            rest &= ~bit;
        }
        if (rest != 0) parts.Add("0x" + rest.ToString("x"));
        return string.Join('|', parts);
    }

    public static string Level(int level) => level == SOL_SOCKET ? "SOL_SOCKET" : level.ToString();

    public static string Option(int level, int name)
    {
        if (level != SOL_SOCKET) return name.ToString();
        return name switch
        {
            SO_DEBUG => "SO_DEBUG",
            SO_REUSEADDR => "SO_REUSEADDR",
            SO_TYPE => "SO_TYPE",
            SO_ERROR => "SO_ERROR",
            SO_DONTROUTE => "SO_DONTROUTE",
            SO_BROADCAST => "SO_BROADCAST",
            SO_SNDBUF => "SO_SNDBUF",
            SO_RCVBUF => "SO_RCVBUF",
            SO_KEEPALIVE => "SO_KEEPALIVE",
            SO_OOBINLINE => "SO_OOBINLINE",
            SO_PRIORITY => "SO_PRIORITY",
            SO_LINGER => "SO_LINGER",
            SO_REUSEPORT => "SO_REUSEPORT",
            SO_PASSCRED => "SO_PASSCRED",
            SO_PEERCRED => "SO_PEERCRED",
            SO_RCVLOWAT => "SO_RCVLOWAT",
            SO_SNDLOWAT => "SO_SNDLOWAT",
            SO_RCVTIMEO_OLD => "SO_RCVTIMEO_OLD",
            SO_SNDTIMEO_OLD => "SO_SNDTIMEO_OLD",
            SO_ACCEPTCONN => "SO_ACCEPTCONN",
            SO_PEERSEC => "SO_PEERSEC",
            SO_SNDBUFFORCE => "SO_SNDBUFFORCE",
            SO_RCVBUFFORCE => "SO_RCVBUFFORCE",
            SO_PASSSEC => "SO_PASSSEC",
            SO_PROTOCOL => "SO_PROTOCOL",
            SO_DOMAIN => "SO_DOMAIN",
            SO_PEEK_OFF => "SO_PEEK_OFF",
            SO_RCVTIMEO_NEW => "SO_RCVTIMEO_NEW",
            SO_SNDTIMEO_NEW => "SO_SNDTIMEO_NEW",
            _ => name.ToString(),
        };
    }

    public static string Shutdown(int how) => how switch
    {
        SHUT_RD => "SHUT_RD",
        SHUT_WR => "SHUT_WR",
        SHUT_RDWR => "SHUT_RDWR",
        _ => how.ToString(),
    };

    /// <summary>A sockaddr as strace shows it: {sa_family=AF_UNIX, sun_path="/tmp/s"}, with
    /// an abstract name after '@'.</summary>
    public static string Address(ReadOnlySpan<byte> address)
    {
        if (address.Length < 2) return "{}";
        int family = address[0] | address[1] << 8;
        var sb = new StringBuilder("{sa_family=").Append(Family(family));
        if (family == AF_UNIX && address.Length > 2)
        {
            var path = address[2..];
            sb.Append(", sun_path=");
            bool isAbstract = path[0] == 0;
            if (isAbstract) { sb.Append('@'); path = path[1..]; }
            else if (path.IndexOf((byte)0) is var nul and >= 0) path = path[..nul];
            sb.Append('"');
            foreach (byte b in path)
            {
                if (b is >= 0x20 and < 0x7f && b != '"' && b != '\\') sb.Append((char)b);
                else sb.Append("\\x").Append(b.ToString("x2"));
            }
            sb.Append('"');
        }
        return sb.Append('}').ToString();
    }
}
