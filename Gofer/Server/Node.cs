using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Server;

/// <summary>A file the server has walked to: an O_PATH (or open) fd of it, its identity, and
/// where it sits below the root (parent node and name) so that ".." and re-opens by name never
/// leave the root. Reference-counted: fids and child nodes hold references. Parent and Name
/// change only under the session's tree lock (renames).</summary>
internal sealed class Node
{
    private readonly P9Session _session;
    private int _refs = 1;

    public Node(P9Session session, int fd, Node? parent, string name, ulong dev, ulong ino, uint mode)
    {
        _session = session;
        Fd = fd;
        Parent = parent;
        Name = name;
        Dev = dev;
        Ino = ino;
        Mode = mode;
    }

    /// <summary>O_PATH|O_NOFOLLOW fd of the file (or a plain open fd for files created by Tlcreate).</summary>
    public int Fd { get; }

    /// <summary>The directory this node was reached from; null only for the root.</summary>
    public Node? Parent { get; set; }

    /// <summary>The node's name in <see cref="Parent"/>; "" for the root.</summary>
    public string Name { get; set; }

    public ulong Dev { get; }
    public ulong Ino { get; }

    /// <summary>st_mode when walked (the file type bits do not change).</summary>
    public uint Mode { get; }

    public uint FileType => Mode & 0xF000;
    public bool IsDir => FileType == 0x4000;
    public bool IsRegular => FileType == 0x8000;
    public bool IsSymlink => FileType == 0xA000;

    public void AddRef() => Interlocked.Increment(ref _refs);

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0)
        {
            return;
        }
        Node? parent;
        lock (_session.Tree)
        {
            _session.Nodes.Remove(this);
            parent = Parent;
            Parent = null;
        }
        Unistd.Close(Fd);
        parent?.Release();
    }
}

/// <summary>One client fid: a node, plus the open file, or the state of an xattr fid.</summary>
internal sealed class Fid
{
    private int _refs = 1;
    private volatile int _openFd = -1;

    public Fid(Node node, uint uid)
    {
        Node = node;
        Uid = uid;
    }

    /// <summary>Guards changes of Node, OpenFd and the xattr state.</summary>
    public object Lock { get; } = new();

    /// <summary>The fid's node; replaced only under <see cref="Lock"/> (Tlcreate, Twalk onto itself).</summary>
    public Node Node { get; set; }

    /// <summary>The attaching user (Tattach's n_uname): owner of the files created through this fid.</summary>
    public uint Uid { get; }

    /// <summary>The fd opened by Tlopen/Tlcreate, or -1. Set once, closed with the fid.</summary>
    public int OpenFd
    {
        get => _openFd;
        set => _openFd = value;
    }

    public uint OpenFlags { get; set; }

    /// <summary>Serializes Treaddir's seek + getdents on the open directory.</summary>
    public object DirLock { get; } = new();

    /// <summary>Xattr fid made by Txattrwalk: the value (or name list) to read.</summary>
    public byte[]? XattrValue { get; set; }

    /// <summary>Xattr fid made by Txattrcreate: the attribute to set when clunked.</summary>
    public string? XattrName { get; set; }
    public uint XattrFlags { get; set; }
    public byte[]? XattrBuffer { get; set; }
    public int XattrWritten { get; set; }

    /// <summary>Bytes of the session's xattr budget this fid holds (value or buffer).</summary>
    public int XattrReserved { get; set; }

    public bool IsXattr => XattrValue is not null || XattrName is not null;

    /// <summary>Node with a reference the caller releases.</summary>
    public Node AcquireNode()
    {
        lock (Lock)
        {
            var n = Node;
            n.AddRef();
            return n;
        }
    }

    public void AddRef() => Interlocked.Increment(ref _refs);

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0)
        {
            return;
        }
        int fd = _openFd;
        _openFd = -1;
        if (fd >= 0)
        {
            Unistd.Close(fd);
        }
        Node.Release();
    }
}
