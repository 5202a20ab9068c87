using System.Buffers;
using System.Buffers.Binary;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Server;

/// <summary>One connection of a <see cref="P9Server"/>: the read loop, the fid table and the
/// node tree. Requests run on the thread pool (at most MaxInFlight at once), short metadata
/// requests on the read loop itself; replies are serialized by a send lock. Tversion runs
/// alone, after every request before it finished.</summary>
internal sealed partial class P9Session
{
    private readonly P9Server _server;
    private readonly FdTransport _conn;
    private readonly Node _root;
    /// <summary>Fids by number. Keyed by long, not uint: the framework ships precompiled code for
    /// Dictionary&lt;long, T&gt; but not for Dictionary&lt;uint, T&gt;, which the JIT then compiled in
    /// every Gofer, on the path of the first requests.</summary>
    private readonly Dictionary<long, Fid> _fids = [];
    private readonly object _sendLock = new();
    private readonly SemaphoreSlim _permits;
    private readonly Stack<WorkItem> _workItems = new();
    private volatile uint _msize = P9Protocol.DefaultMSize;
    private volatile bool _broken;
    private long _xattrBytes;

    /// <summary>Most bytes of xattr values a connection's fids may hold at once.</summary>
    private const long MaxXattrBytes = 16 << 20;

    public P9Session(P9Server server, int rootFd, int connectedFd)
    {
        _server = server;
        _conn = new FdTransport(connectedFd, ownsFd: false);
        _permits = new SemaphoreSlim(server.MaxInFlight, server.MaxInFlight);
        if (HostCalls.Stat(rootFd, out var st) != 0)
        {
            st = default;
        }
        _root = new Node(this, rootFd, null, "", HostCalls.Dev(st), st.Ino, st.Mode);
        Nodes.Add(_root);
    }

    /// <summary>Guards every node's Parent and Name, and <see cref="Nodes"/>.</summary>
    public object Tree { get; } = new();

    /// <summary>Every live node, for renames to re-parent.</summary>
    public HashSet<Node> Nodes { get; } = [];

    private bool ReadOnly => _server.ReadOnly;

    public void Run()
    {
        try
        {
            Span<byte> header = stackalloc byte[4];
            while (!_broken)
            {
                if (!_conn.ReceiveExact(header))
                {
                    break;
                }
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(header);
                if (size < P9Protocol.HeaderSize || size > _msize)
                {
                    break; // the framing is lost: answer what came before, then close
                }
                byte[] buf = ArrayPool<byte>.Shared.Rent((int)size);
                header.CopyTo(buf);
                if (!_conn.ReceiveExact(buf.AsSpan(4, (int)size - 4)))
                {
                    ArrayPool<byte>.Shared.Return(buf);
                    break;
                }
                if ((P9MessageType)buf[4] == P9MessageType.Tversion)
                {
                    Drain();
                    try
                    {
                        HandleVersion(buf.AsMemory(0, (int)size));
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buf);
                    }
                    continue;
                }
                if (IsInline((P9MessageType)buf[4]))
                {
                    _permits.Wait();
                    try
                    {
                        Process(buf, (int)size);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buf);
                        _permits.Release();
                    }
                    continue;
                }
                _permits.Wait();
                WorkItem item;
                lock (_workItems)
                {
                    item = _workItems.Count > 0 ? _workItems.Pop() : new WorkItem(this);
                }
                item.Buffer = buf;
                item.Length = (int)size;
                ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
            }
        }
#pragma warning disable CA1031 // nothing the peer does may take the gofer down
        catch (Exception)
#pragma warning restore CA1031
        {
            // Closed below like any other end of the connection.
        }
        finally
        {
            Drain();
            ClunkAll();
            _root.Release();
            _conn.Shutdown(); // no more replies: the peer reads end-of-stream
            _conn.Dispose();
        }
    }

    /// <summary>Requests that only touch metadata run on the read loop itself: a thread hand-off
    /// costs more than they do (about 10 µs of a 17 µs round trip on one CPU). Everything that
    /// moves data, opens or creates files runs on the thread pool.</summary>
    private static bool IsInline(P9MessageType type) => type is P9MessageType.Tgetattr or P9MessageType.Tclunk or
        P9MessageType.Twalk or P9MessageType.Twalkgetattr or P9MessageType.Treadlink or P9MessageType.Tstatfs or P9MessageType.Tflush or P9MessageType.Tattach;

    /// <summary>Waits until no request is in progress.</summary>
    private void Drain()
    {
        int n = _server.MaxInFlight;
        for (int i = 0; i < n; i++)
        {
            _permits.Wait();
        }
        _permits.Release(n);
    }

    private sealed class WorkItem(P9Session session) : IThreadPoolWorkItem
    {
        public byte[] Buffer = [];
        public int Length;

        public void Execute()
        {
            byte[] buf = Buffer;
            int length = Length;
            Buffer = [];
            lock (session._workItems)
            {
                session._workItems.Push(this);
            }
            try
            {
                session.Process(buf, length);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buf);
                session._permits.Release();
            }
        }
    }

    private void Process(byte[] buf, int length)
    {
        ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(5));
        var type = (P9MessageType)buf[4];
        var body = buf.AsMemory(P9Protocol.HeaderSize, length - P9Protocol.HeaderSize);
        int err;
        try
        {
            err = Dispatch(type, tag, body);
        }
        catch (P9FormatException)
        {
            err = HostCalls.EINVAL;
        }
#pragma warning disable CA1031 // a bug in a handler answers EIO instead of killing the gofer
        catch (Exception)
#pragma warning restore CA1031
        {
            err = HostCalls.EIO;
        }
        if (err != 0)
        {
            Reply(tag, new Rlerror((uint)err));
        }
    }

    // ---- replies ----

    private void Reply<T>(ushort tag, in T msg)
        where T : struct, IP9Message<T>
    {
        int size = P9Codec.FrameSize(msg);
        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            P9Codec.Encode(frame, tag, msg);
            Send(frame.AsSpan(0, size));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>A reply with a host descriptor attached (SCM_RIGHTS), or a plain one when
    /// <paramref name="fd"/> is negative.</summary>
    private void ReplyWithFd<T>(ushort tag, in T msg, int fd)
        where T : struct, IP9Message<T>
    {
        int size = P9Codec.FrameSize(msg);
        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            P9Codec.Encode(frame, tag, msg);
            Send(frame.AsSpan(0, size), fd);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Writes the header of a frame of <paramref name="size"/> bytes built in place.</summary>
    private static void WriteHeader(Span<byte> frame, int size, P9MessageType type, ushort tag)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)size);
        frame[4] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(frame[5..], tag);
    }

    private void Send(ReadOnlySpan<byte> frame, int passFd = -1)
    {
        lock (_sendLock)
        {
            if (_broken)
            {
                return;
            }
            if (!_conn.SendAll(frame, passFd))
            {
                _broken = true;
                _conn.Shutdown();
            }
        }
    }

    // ---- fids and nodes ----

    private Fid? Acquire(uint id)
    {
        lock (_fids)
        {
            if (_fids.TryGetValue(id, out var fid))
            {
                fid.AddRef();
                return fid;
            }
            return null;
        }
    }

    private bool FidInUse(uint id)
    {
        lock (_fids)
        {
            return _fids.ContainsKey(id);
        }
    }

    /// <summary>Adds a fid to the table: 0, EEXIST if the number is taken, ENFILE past MaxFids.</summary>
    private int Install(uint id, Fid fid)
    {
        if (id == P9Protocol.NoFid)
        {
            return HostCalls.EINVAL;
        }
        lock (_fids)
        {
            if (_fids.Count >= _server.MaxFids)
            {
                return HostCalls.ENFILE;
            }
            return _fids.TryAdd(id, fid) ? 0 : HostCalls.EEXIST;
        }
    }

    private Fid? Remove(uint id)
    {
        Fid? fid;
        lock (_fids)
        {
            if (!_fids.Remove(id, out fid))
            {
                return null;
            }
        }
        Interlocked.Add(ref _xattrBytes, -fid.XattrReserved);
        return fid;
    }

    /// <summary>Reserves room for an xattr value held in memory until its fid is clunked, so
    /// that a client cannot make the server hold more than MaxXattrBytes.</summary>
    private bool ReserveXattr(int bytes)
    {
        if (Interlocked.Add(ref _xattrBytes, bytes) <= MaxXattrBytes)
        {
            return true;
        }
        Interlocked.Add(ref _xattrBytes, -bytes);
        return false;
    }

    private void ClunkAll()
    {
        List<Fid> all;
        lock (_fids)
        {
            all = [.. _fids.Values];
            _fids.Clear();
        }
        Interlocked.Exchange(ref _xattrBytes, 0);
        foreach (var fid in all)
        {
            fid.Release();
        }
    }

    /// <summary>A node for a freshly opened fd; takes over the caller's reference to <paramref name="parent"/>.</summary>
    private Node NewNode(int fd, Node parent, string name, in StatxBuf st)
    {
        var node = new Node(this, fd, parent, name, HostCalls.Dev(st), st.Ino, st.Mode);
        lock (Tree)
        {
            Nodes.Add(node);
        }
        return node;
    }

    /// <summary>The node's parent (with a reference the caller releases) and name; null for the root.</summary>
    private Node? ParentOf(Node node, out string name)
    {
        lock (Tree)
        {
            name = node.Name;
            var parent = node.Parent;
            parent?.AddRef();
            return parent;
        }
    }

    /// <summary>Whether <paramref name="name"/> in <paramref name="dirFd"/> is still the file of <paramref name="node"/>.</summary>
    private static int CheckSame(int dirFd, string name, Node node)
    {
        int r = HostCalls.StatAt(dirFd, name, out var st);
        if (r != 0)
        {
            return r == -HostCalls.ENOENT ? -HostCalls.ESTALE : r;
        }
        return HostCalls.Dev(st) == node.Dev && st.Ino == node.Ino ? 0 : -HostCalls.ESTALE;
    }

    /// <summary>Opens a non-directory node by parent fd and name with O_NOFOLLOW (never through
    /// /proc) and checks that the result is the walked inode. An fd or -errno.</summary>
    private int Reopen(Node node, int flags)
    {
        var parent = ParentOf(node, out string name);
        if (parent is null)
        {
            return HostCalls.OpenDir(node.Fd, flags & ~(OpenFlags.O_TRUNC | OpenFlags.O_APPEND));
        }
        try
        {
            // O_NONBLOCK so that a FIFO swapped in under the name cannot hang a worker; O_TRUNC
            // only once the file is known to be the right one.
            int fd = HostCalls.OpenAt(parent.Fd, name, (flags & ~OpenFlags.O_TRUNC) | OpenFlags.O_NONBLOCK);
            if (fd < 0)
            {
                return fd;
            }
            if (HostCalls.Stat(fd, out var st) != 0 || HostCalls.Dev(st) != node.Dev || st.Ino != node.Ino)
            {
                Unistd.Close(fd);
                return -HostCalls.ESTALE;
            }
            if ((flags & OpenFlags.O_NONBLOCK) == 0)
            {
                int fl = Unistd.Fcntl(fd, Fcntl.F_GETFL, 0);
                if (fl >= 0)
                {
                    Unistd.Fcntl(fd, Fcntl.F_SETFL, fl & ~OpenFlags.O_NONBLOCK);
                }
            }
            if ((flags & OpenFlags.O_TRUNC) != 0 && HostCalls.Truncate(fd, 0) is int t and < 0)
            {
                Unistd.Close(fd);
                return t;
            }
            return fd;
        }
        finally
        {
            parent.Release();
        }
    }
}
