using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Syscalls;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Strace;

/// <summary>How --strace prints one syscall argument.</summary>
public enum ArgKind : byte
{
    Hex,
    Int,
    Fd,
    /// <summary>A NUL-terminated path.</summary>
    Path,
    /// <summary>A buffer the guest passes in; its length is the next argument.</summary>
    InBuf,
    /// <summary>A buffer the kernel fills; its length is the result.</summary>
    OutBuf,
    /// <summary>An iovec array the guest passes in; its count is the next argument.</summary>
    Iovecs,
    Signal,
    Timespec,
    /// <summary>A file mode, in octal.</summary>
    Oct,
    /// <summary>A socket address the guest passes in; its length is the next argument.</summary>
    SockAddr,
    /// <summary>A socket address the kernel fills; the next argument points to its length.</summary>
    SockAddrOut,
    /// <summary>An address family (AF_UNIX, ...).</summary>
    SockFamily,
    /// <summary>A socket type with SOCK_NONBLOCK/SOCK_CLOEXEC (also accept4's flags).</summary>
    SockType,
    /// <summary>send/recv MSG_* flags.</summary>
    MsgFlags,
    /// <summary>A struct msghdr: its address, iovecs and ancillary length.</summary>
    MsgHdr,
    /// <summary>A socket option level (SOL_SOCKET); the option name follows.</summary>
    SockOptLevel,
    /// <summary>A socket option name, named for SOL_SOCKET (the previous argument).</summary>
    SockOptName,
    /// <summary>shutdown(2)'s SHUT_RD / SHUT_WR / SHUT_RDWR.</summary>
    ShutdownHow,
}

/// <summary>Formats syscalls like strace: <c>[   1] write(1, "hi\n", 3) = 3</c>.</summary>
public static class Strace
{
    private const int MaxBytesShown = 64;

    /// <summary>One strace line; <paramref name="elapsed"/>, when given, is appended as
    /// strace -T does (seconds in angle brackets): the time the Sentry spent on the call.</summary>
    public static string Format(Task t, SyscallEntry e, in SyscallArgs a, long? result, TimeSpan? elapsed = null)
    {
        var sb = new StringBuilder(96);
        sb.Append('[').Append(t.Tid.ToString().PadLeft(4)).Append("] ").Append(e.Name).Append('(');
        int shown = e.Handler == null ? 6 : e.Args.Length;
        for (int i = 0; i < shown; i++)
        {
            if (i > 0) sb.Append(", ");
            ArgKind kind = i < e.Args.Length ? e.Args[i] : ArgKind.Hex;
            AppendArg(sb, t, kind, a, i, result);
        }
        sb.Append(") = ");
        if (result is not { } r) sb.Append('?');
        else if (r < 0 && r >= -4095) sb.Append("-1 ").Append(ErrnoName((int)-r));
        else if (e.HexResult) sb.Append("0x").Append(r.ToString("x"));
        else sb.Append(r);
        if (elapsed is { } d) sb.Append(" <").Append(d.TotalSeconds.ToString("F6", System.Globalization.CultureInfo.InvariantCulture)).Append('>');
        return sb.ToString();
    }

    public static string ErrnoName(int errno) =>
        Enum.IsDefined((Errno)errno) ? ((Errno)errno).ToString() : $"errno {errno}";

    private static void AppendArg(StringBuilder sb, Task t, ArgKind kind, in SyscallArgs a, int i, long? result)
    {
        ulong v = a[i];
        switch (kind)
        {
            case ArgKind.Int: sb.Append((long)v); break;
            case ArgKind.Oct: sb.Append('0').Append(Convert.ToString((long)(v & 0xffffffff), 8)); break;
            case ArgKind.Fd: sb.Append((int)v); break;
            case ArgKind.Signal:
                sb.Append((int)v is > 0 and <= Signals.SIGRTMAX ? Signals.Name((int)v) : ((int)v).ToString());
                break;
            case ArgKind.Path:
                if (t.MemoryManager.ReadCString(v, 4095, out string path) == 0) AppendQuoted(sb, Encoding.UTF8.GetBytes(path), false);
                else AppendHex(sb, v);
                break;
            case ArgKind.InBuf:
                AppendBuffer(sb, t, v, (long)a[i + 1]);
                break;
            case ArgKind.OutBuf:
                if (result is { } n && n >= 0) AppendBuffer(sb, t, v, n);
                else AppendHex(sb, v);
                break;
            case ArgKind.Iovecs:
                AppendIovecs(sb, t, v, a[i + 1]);
                break;
            case ArgKind.Timespec:
                if (t.MemoryManager.CopyIn(v, out Abi.Timespec ts) == 0) sb.Append($"{{tv_sec={ts.Sec}, tv_nsec={ts.Nsec}}}");
                else AppendHex(sb, v);
                break;
            case ArgKind.SockAddr:
                AppendSockAddr(sb, t, v, (long)a[i + 1]);
                break;
            case ArgKind.SockAddrOut:
                if (result is >= 0 && v != 0 && t.MemoryManager.CopyIn(a[i + 1], out int length) == 0) AppendSockAddr(sb, t, v, length);
                else AppendHex(sb, v);
                break;
            case ArgKind.SockFamily: sb.Append(SocketNames.Family((int)v)); break;
            case ArgKind.SockType: sb.Append(SocketNames.Type((int)v)); break;
            case ArgKind.MsgFlags: sb.Append(SocketNames.MsgFlags((int)v)); break;
            case ArgKind.MsgHdr:
                if (t.MemoryManager.CopyIn(v, out Abi.MsgHdr msg) < 0) { AppendHex(sb, v); break; }
                sb.Append("{msg_name=");
                if (msg.Name != 0 && msg.NameLen > 0) AppendSockAddr(sb, t, msg.Name, msg.NameLen);
                else sb.Append("NULL");
                sb.Append(", msg_namelen=").Append(msg.NameLen).Append(", msg_iov=");
                AppendIovecs(sb, t, msg.Iov, msg.IovLen);
                sb.Append(", msg_iovlen=").Append(msg.IovLen).Append(", msg_controllen=").Append(msg.ControlLen)
                    .Append(", msg_flags=").Append(SocketNames.MsgFlags(msg.Flags)).Append('}');
                break;
            case ArgKind.SockOptLevel: sb.Append(SocketNames.Level((int)v)); break;
            case ArgKind.SockOptName: sb.Append(SocketNames.Option(i > 0 ? (int)a[i - 1] : -1, (int)v)); break;
            case ArgKind.ShutdownHow: sb.Append(SocketNames.Shutdown((int)v)); break;
            default: AppendHex(sb, v); break;
        }
    }

    private static void AppendSockAddr(StringBuilder sb, Task t, ulong addr, long length)
    {
        Span<byte> buf = stackalloc byte[SocketAbi.SockaddrStorageSize];
        int n = (int)Math.Clamp(length, 0, buf.Length);
        if (addr == 0 || t.MemoryManager.CopyIn(addr, buf[..n]) < 0) { AppendHex(sb, addr); return; }
        sb.Append(SocketNames.Address(buf[..n]));
    }

    private static void AppendHex(StringBuilder sb, ulong v) => sb.Append("0x").Append(v.ToString("x"));

    private static void AppendBuffer(StringBuilder sb, Task t, ulong addr, long length)
    {
        Span<byte> buf = stackalloc byte[MaxBytesShown];
        int want = (int)Math.Clamp(length, 0, MaxBytesShown);
        if (t.MemoryManager.CopyIn(addr, buf[..want]) < 0) { AppendHex(sb, addr); return; }
        AppendQuoted(sb, buf[..want], length > MaxBytesShown);
    }

    private static void AppendIovecs(StringBuilder sb, Task t, ulong addr, ulong count)
    {
        sb.Append('[');
        for (ulong i = 0; i < Math.Min(count, 8UL); i++)
        {
            if (t.MemoryManager.CopyIn(addr + i * 16, out Iovec iov) < 0) { AppendHex(sb, addr); break; }
            if (i > 0) sb.Append(", ");
            sb.Append("{iov_base=");
            AppendBuffer(sb, t, iov.Base, (long)iov.Len);
            sb.Append(", iov_len=").Append(iov.Len).Append('}');
        }
        if (count > 8) sb.Append(", ...");
        sb.Append(']');
    }

    private static void AppendQuoted(StringBuilder sb, ReadOnlySpan<byte> bytes, bool truncated)
    {
        sb.Append('"');
        foreach (byte b in bytes)
        {
            switch (b)
            {
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\t': sb.Append("\\t"); break;
                case (byte)'\r': sb.Append("\\r"); break;
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                default:
                    if (b is >= 0x20 and < 0x7f) sb.Append((char)b);
                    else sb.Append("\\x").Append(b.ToString("x2"));
                    break;
            }
        }
        sb.Append('"');
        if (truncated) sb.Append("...");
    }
}
