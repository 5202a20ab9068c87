using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Server;

/// <summary>Serves 9P2000.L from one directory. Every walk resolves one component at a time
/// with openat(O_PATH|O_NOFOLLOW) below the root; ".." never leaves the root; symlinks are never
/// followed (clients resolve them with Treadlink); files are re-opened by parent fd and name with
/// O_NOFOLLOW and checked to be the walked inode, never through /proc. A read-only server
/// answers every mutation with EROFS.</summary>
public sealed class P9Server
{
    private readonly int _rootFd;

    /// <param name="rootDirFd">An O_PATH|O_DIRECTORY (or any directory) fd of the root; the caller keeps
    /// ownership (each connection works on its own duplicate).</param>
    /// <param name="readOnly">Refuse every mutation with EROFS.</param>
    public P9Server(int rootDirFd, bool readOnly)
    {
        if (HostCalls.Stat(rootDirFd, out var st) != 0 || (st.Mode & StatMode.S_IFMT) != StatMode.S_IFDIR)
        {
            throw new ArgumentException("the 9P root must be a directory fd", nameof(rootDirFd));
        }
        _rootFd = rootDirFd;
        ReadOnly = readOnly;
    }

    public bool ReadOnly { get; }

    /// <summary>The largest msize Tversion may negotiate.</summary>
    public uint MaxMSize { get; init; } = (1 << 20) + 4096;

    /// <summary>Most fids one connection may hold (Twalk/Tattach/Txattrwalk then give ENFILE).</summary>
    public int MaxFids { get; init; } = 1 << 20;

    /// <summary>How many requests of one connection may be in progress at once.</summary>
    public int MaxInFlight { get; init; } = 64;

    /// <summary>Serves one connected stream socket until the peer closes it (or breaks the framing,
    /// in which case the connection is shut down). Never throws for anything the peer sends. The
    /// caller keeps ownership of <paramref name="connectedFd"/>.</summary>
    public void Serve(int connectedFd)
    {
        int root = Unistd.Fcntl(_rootFd, Fcntl.F_DUPFD_CLOEXEC, 0);
        if (root < 0)
        {
            return;
        }
        var session = new P9Session(this, root, connectedFd);
        session.Run();
    }
}
