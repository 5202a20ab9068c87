using System.Text;
using Sandbox.Abi;
using static Sandbox.Abi.SocketAbi;

namespace Sandbox.Sentry.Socket.Unix;

/// <summary>A parsed sockaddr_un: a path name, or a name in the abstract namespace (sun_path
/// starting with NUL; every byte the length covers is part of the name).</summary>
public readonly record struct UnixAddress(byte[] Sockaddr, string? Path, string? AbstractKey)
{
    /// <summary>An unnamed socket's address: the family alone.</summary>
    public static byte[] Unnamed => [AF_UNIX, 0];

    /// <summary>unix_validate_addr and unix_mkname: EINVAL unless the family is AF_UNIX and
    /// the length covers at least one byte of sun_path and at most all of it. A path name
    /// ends at its first NUL; its returned form includes one NUL.</summary>
    public static long Parse(ReadOnlySpan<byte> address, out UnixAddress result)
    {
        result = default;
        if (address.Length <= 2 || address.Length > SockaddrUnSize) return -(long)Errno.EINVAL;
        if (address[0] != AF_UNIX || address[1] != 0) return -(long)Errno.EINVAL;
        var name = address[2..];
        if (name[0] == 0)
        {
            result = new UnixAddress(address.ToArray(), null, KeyOf(name));
            return 0;
        }
        int nul = name.IndexOf((byte)0);
        if (nul >= 0) name = name[..nul];
        byte[] sockaddr = new byte[name.Length + 3];
        sockaddr[0] = AF_UNIX;
        name.CopyTo(sockaddr.AsSpan(2));
        result = new UnixAddress(sockaddr, Encoding.UTF8.GetString(name), null);
        return 0;
    }

    /// <summary>The abstract table's key for a name (its bytes, one char each).</summary>
    public static string KeyOf(ReadOnlySpan<byte> abstractName) => Encoding.Latin1.GetString(abstractName);
}

/// <summary>The sandbox's abstract socket namespace (Linux has one per network namespace):
/// names bound with a leading NUL, and autobind's "\0xxxxx" names.</summary>
public sealed class UnixAbstractNamespace
{
    private readonly Dictionary<string, UnixSocket> _names = new(StringComparer.Ordinal);
    private uint _nextAutobind;

    public bool TryBind(string key, UnixSocket socket)
    {
        lock (_names) return _names.TryAdd(key, socket);
    }

    public UnixSocket? Find(string key)
    {
        lock (_names) return _names.TryGetValue(key, out var s) ? s : null;
    }

    public void Unbind(string key, UnixSocket socket)
    {
        lock (_names)
            if (_names.TryGetValue(key, out var s) && s == socket) _names.Remove(key);
    }

    /// <summary>Binds socket to a free name of five hex digits after the NUL (autobind);
    /// false when all 2^20 are taken.</summary>
    public bool Autobind(UnixSocket socket, out UnixAddress address)
    {
        lock (_names)
        {
            for (int i = 0; i <= 0xfffff; i++)
            {
                uint n = _nextAutobind++ & 0xfffff;
                byte[] sockaddr = [AF_UNIX, 0, 0, .. Encoding.ASCII.GetBytes(n.ToString("x5"))];
                string key = UnixAddress.KeyOf(sockaddr.AsSpan(2));
                if (!_names.TryAdd(key, socket)) continue;
                address = new UnixAddress(sockaddr, null, key);
                return true;
            }
        }
        address = default;
        return false;
    }
}
