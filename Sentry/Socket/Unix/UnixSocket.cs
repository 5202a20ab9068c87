using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.MsgFlags;
using static Sandbox.Abi.SocketAbi;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Socket.Unix;

/// <summary>An AF_UNIX socket (unix(7)), entirely inside the sandbox: SOCK_STREAM,
/// SOCK_DGRAM and SOCK_SEQPACKET; path names (a socket inode in the VFS), abstract names and
/// autobind; listen backlogs; SCM_RIGHTS and SCM_CREDENTIALS. Data goes straight into the
/// receiving socket's queue and is charged to the sender's SO_SNDBUF until read, as on Linux.
/// All AF_UNIX state is guarded by one lock (a connection spans two sockets, a listener holds
/// its pending ones); guest memory is copied outside it, and wake-ups are sent after it.</summary>
public sealed class UnixSocket : SocketFile
{
    /// <summary>Guards every AF_UNIX socket's connection state and queues.</summary>
    private static readonly Lock StateLock = new();

    /// <summary>net.unix.max_dgram_qlen: datagrams a socket queues from senders it is not
    /// connected to before they wait.</summary>
    public const int MaxDatagramQueue = 10;
    /// <summary>What a datagram costs in the send buffer beyond its bytes (Linux charges the
    /// buffer's true size): a flood of tiny datagrams fills the buffer about as natively.</summary>
    public const int DatagramOverhead = 640;
    /// <summary>sk_shutdown bits.</summary>
    private const int RcvShutdown = 1, SendShutdown = 2, ShutdownMask = 3;

    private enum State { Unconnected, Listening, Connected }

    private readonly Kernel.Kernel _kernel;
    private readonly UnixQueue _receive = new();
    private readonly Queue<UnixSocket> _pending = new();
    /// <summary>Datagram sockets connected to this one that it is not connected back to: they
    /// are told when room appears in its queue, and when it goes away.</summary>
    private readonly HashSet<UnixSocket> _dgramSenders = [];
    private readonly Lock _bindLock = new();

    private State _state;
    /// <summary>Stream/seqpacket: the other end (kept after it closes, as Linux keeps it);
    /// datagram: the default destination.</summary>
    private UnixSocket? _peer;
    private int _backlog;
    private bool _dead;
    /// <summary>Created by a connect and not yet accepted: closing it resets the client.</summary>
    private bool _embryo;
    private int _shutdown;
    private int _error;
    private UnixAddress? _address;
    private Inode? _boundInode;
    private UCred _peerCred = new(0, uint.MaxValue, uint.MaxValue);
    /// <summary>Send-buffer bytes charged for messages this socket sent that are not yet read.</summary>
    private long _wmem;

    public UnixSocket(Kernel.Kernel kernel, int type, int flags, Credentials owner) : base(type, flags, owner)
    {
        _kernel = kernel;
    }

    public override int Family => AF_UNIX;

    /// <summary>This socket's readiness changes here.</summary>
    public WaitQueue Queue { get; } = new();

    /// <summary>Senders that found this socket's queue full, and connectors that found its
    /// backlog full, wait here.</summary>
    private WaitQueue PeerWait { get; } = new();

    public override WaitQueue? EventQueue => Queue;

    private bool ConnectionOriented => Type != SOCK_DGRAM;

    /// <summary>SO_PEERCRED records the effective ids.</summary>
    private static UCred PeerCredOf(Task t) => new(t.Pid, t.Creds.EffectiveUid, t.Creds.EffectiveGid);

    /// <summary>SCM_CREDENTIALS defaults to the sender's pid and real ids.</summary>
    private static UCred SenderCredOf(Task? t) => t == null ? default : new(t.Pid, t.Creds.RealUid, t.Creds.RealGid);

    /// <summary>socketpair(2): two sockets connected to each other.</summary>
    public static (UnixSocket, UnixSocket) Pair(Task t, int type, int flags)
    {
        var a = new UnixSocket(t.Kernel, type, flags, t.Creds);
        var b = new UnixSocket(t.Kernel, type, flags, t.Creds);
        a._peer = b;
        b._peer = a;
        if (type != SOCK_DGRAM) a._state = b._state = State.Connected;
        a._peerCred = b._peerCred = PeerCredOf(t);
        return (a, b);
    }

    // ---- names -------------------------------------------------------------------------------

    public override long Bind(Task t, ReadOnlySpan<byte> address)
    {
        if (address.Length < 2 || address[0] != AF_UNIX || address[1] != 0) return -(long)Errno.EINVAL;
        lock (_bindLock)
        {
            if (address.Length == 2) return _address != null ? -(long)Errno.EINVAL : Autobind();
            long r = UnixAddress.Parse(address, out var parsed);
            if (r < 0) return r;
            if (parsed.AbstractKey is { } key)
            {
                if (_address != null) return -(long)Errno.EINVAL;
                if (!_kernel.UnixAbstract.TryBind(key, this)) return -(long)Errno.EADDRINUSE;
            }
            else
            {
                r = BindPath(t, parsed.Path!, out var inode);
                if (r < 0) return r;
                _boundInode = inode;
            }
            lock (StateLock) _address = parsed;
            return 0;
        }
    }

    /// <summary>Makes the socket inode (mode 0777 less the umask) as mknod would. As on Linux,
    /// the name is checked before whether the socket is bound already: an existing name is
    /// EADDRINUSE, a bound socket EINVAL.</summary>
    private long BindPath(Task t, string path, out Inode? inode)
    {
        inode = null;
        long r = PathResolver.Start(t, OpenFlags.AT_FDCWD, path, out PathPos start);
        if (r < 0) return r;
        r = PathResolver.ResolveParent(t, start, path, out PathPos parent, out string name, out bool trailingSlash);
        if (r < 0) return r;
        if (name is "" or "." or ".." || parent.Dentry.Child(name, out _) == 0) return -(long)Errno.EADDRINUSE;
        if (trailingSlash) return -(long)Errno.ENOENT;
        r = Permissions.Check(t.Creds, parent.Inode, AccessMode.W_OK | AccessMode.X_OK);
        if (r < 0) return r;
        if (parent.Mount.ReadOnly) return -(long)Errno.EROFS;
        if (_address != null) return -(long)Errno.EINVAL;
        r = parent.Inode.CreateChild(name, StatMode.S_IFSOCK | (0x1ffu & ~(uint)t.Umask), 0, t.Creds, out inode);
        if (r == -(long)Errno.EEXIST) return -(long)Errno.EADDRINUSE;
        if (r < 0) return r;
        parent.Dentry.Add(name, inode!);
        Fs.Inotify.Notify(parent.Inode, Fs.Inotify.IN_CREATE, name);
        inode!.BoundSocket = this;
        return 0;
    }

    /// <summary>Binds to a fresh abstract name; the caller holds the bind lock.</summary>
    private long Autobind()
    {
        if (!_kernel.UnixAbstract.Autobind(this, out var address)) return -(long)Errno.ENOSPC;
        lock (StateLock) _address = address;
        return 0;
    }

    /// <summary>SO_PASSCRED on an unbound socket gives it a name before connect or send, so the
    /// peer can tell who wrote.</summary>
    private long AutobindForPassCred()
    {
        if (!PassCred) return 0;
        lock (_bindLock) return _address != null ? 0 : Autobind();
    }

    /// <summary>Finds the socket bound to address: ENOENT (and other walk errors) for a missing
    /// path, EACCES without write permission on it, ECONNREFUSED when nothing is bound there,
    /// EPROTOTYPE when the type differs.</summary>
    private long Lookup(Task t, in UnixAddress address, out UnixSocket? target)
    {
        target = null;
        if (address.AbstractKey is { } key)
        {
            target = _kernel.UnixAbstract.Find(key);
        }
        else
        {
            long r = PathResolver.Start(t, OpenFlags.AT_FDCWD, address.Path!, out PathPos start);
            if (r < 0) return r;
            r = PathResolver.Resolve(t, start, address.Path!, followFinal: true, out PathPos pos);
            if (r < 0) return r;
            r = Permissions.Check(t.Creds, pos.Inode, AccessMode.W_OK);
            if (r < 0) return r;
            if (pos.Inode.Type != StatMode.S_IFSOCK) return -(long)Errno.ECONNREFUSED;
            target = pos.Inode.BoundSocket;
        }
        if (target == null) return -(long)Errno.ECONNREFUSED;
        return target.Type != Type ? -(long)Errno.EPROTOTYPE : 0;
    }

    public override long GetSockName(out byte[] address)
    {
        lock (StateLock) address = _address?.Sockaddr ?? UnixAddress.Unnamed;
        return 0;
    }

    public override long GetPeerName(out byte[] address)
    {
        lock (StateLock)
        {
            address = _peer?._address?.Sockaddr ?? UnixAddress.Unnamed;
            return _peer == null ? -(long)Errno.ENOTCONN : 0;
        }
    }

    // ---- connections -------------------------------------------------------------------------

    public override long Listen(Task t, int backlog)
    {
        if (Type == SOCK_DGRAM) return -(long)Errno.EOPNOTSUPP;
        if ((uint)backlog > SOMAXCONN) backlog = SOMAXCONN;
        bool more;
        lock (StateLock)
        {
            if (_address == null) return -(long)Errno.EINVAL;
            if (_state == State.Connected) return -(long)Errno.EINVAL;
            more = _state == State.Listening && backlog > _backlog;
            _backlog = backlog;
            _state = State.Listening;
            // Connecting clients see the listener's credentials as their peer's.
            _peerCred = PeerCredOf(t);
        }
        if (more) PeerWait.Notify(POLLOUT);
        return 0;
    }

    public override long Connect(Task t, ReadOnlySpan<byte> address)
    {
        if (address.Length < 2) return -(long)Errno.EINVAL;
        if (Type == SOCK_DGRAM) return ConnectDatagram(t, address);
        long r = UnixAddress.Parse(address, out var parsed);
        if (r < 0) return r;
        r = AutobindForPassCred();
        if (r < 0) return r;
        r = Lookup(t, parsed, out var target);
        if (r < 0) return r;
        var blocker = new SocketBlocker(t, SendTimeoutUs, Queue, POLLOUT);
        blocker.AlsoOn(target!.PeerWait, POLLOUT);
        try
        {
            while (true)
            {
                blocker.BeforeAttempt();
                lock (StateLock)
                {
                    if (target._dead || target._state != State.Listening || (target._shutdown & RcvShutdown) != 0)
                        return -(long)Errno.ECONNREFUSED;
                    if (target._pending.Count <= target._backlog)
                    {
                        if (_state == State.Connected) return -(long)Errno.EISCONN;
                        if (_state == State.Listening) return -(long)Errno.EINVAL;
                        var server = new UnixSocket(_kernel, Type, 0, t.Creds)
                        {
                            _state = State.Connected,
                            _peer = this,
                            _peerCred = PeerCredOf(t),
                            _address = target._address,
                            _embryo = true,
                        };
                        _state = State.Connected;
                        _peer = server;
                        _peerCred = target._peerCred;
                        target._pending.Enqueue(server);
                        break;
                    }
                }
                r = blocker.Wait(NonBlocking);
                if (r < 0) return r;
            }
        }
        finally
        {
            blocker.Dispose();
        }
        target.Queue.Notify(POLLIN | POLLRDNORM);
        return 0;
    }

    /// <summary>A datagram socket's connect sets (or, with AF_UNSPEC, clears) the default
    /// destination and the only sender it accepts from.</summary>
    private long ConnectDatagram(Task t, ReadOnlySpan<byte> address)
    {
        UnixSocket? target = null;
        if (address[0] != AF_UNSPEC || address[1] != 0)
        {
            long r = UnixAddress.Parse(address, out var parsed);
            if (r < 0) return r;
            r = AutobindForPassCred();
            if (r < 0) return r;
            r = Lookup(t, parsed, out target);
            if (r < 0) return r;
        }
        lock (StateLock)
        {
            if (target != null)
            {
                if (target._dead) return -(long)Errno.ECONNREFUSED;
                if (target._peer != null && target._peer != this) return -(long)Errno.EPERM;
            }
            _peer?._dgramSenders.Remove(this);
            _peer = target;
            if (target != null && target._peer != this) target._dgramSenders.Add(this);
        }
        return 0;
    }

    public override long Accept(Task t, bool nonBlocking, out SocketFile? accepted)
    {
        accepted = null;
        if (Type == SOCK_DGRAM) return -(long)Errno.EOPNOTSUPP;
        UnixSocket? next = null;
        var blocker = new SocketBlocker(t, ReceiveTimeoutUs, Queue, POLLIN);
        try
        {
            while (true)
            {
                blocker.BeforeAttempt();
                lock (StateLock)
                {
                    if (_state != State.Listening) return -(long)Errno.EINVAL;
                    if (_pending.TryDequeue(out next))
                    {
                        next._embryo = false;
                        next.PassCred = PassCred;
                        break;
                    }
                    // shutdown(SHUT_RD) of a listener ends the accepts waiting on it.
                    if ((_shutdown & RcvShutdown) != 0 || _dead) return -(long)Errno.EINVAL;
                }
                long r = blocker.Wait(nonBlocking || NonBlocking);
                if (r < 0) return r;
            }
        }
        finally
        {
            blocker.Dispose();
        }
        PeerWait.Notify(POLLOUT);
        accepted = next;
        return 0;
    }

    public override long Shutdown(Task t, int how)
    {
        if ((uint)how > SHUT_RDWR) return -(long)Errno.EINVAL;
        int mode = how + 1;
        UnixSocket? peer;
        lock (StateLock)
        {
            _shutdown |= mode;
            peer = ConnectionOriented ? _peer : null;
            if (peer != null)
                peer._shutdown |= ((mode & RcvShutdown) != 0 ? SendShutdown : 0) | ((mode & SendShutdown) != 0 ? RcvShutdown : 0);
        }
        const uint Changed = POLLIN | POLLOUT | POLLHUP | POLLRDHUP | POLLRDNORM | POLLWRNORM;
        Queue.Notify(Changed);
        peer?.Queue.Notify(Changed);
        peer?.PeerWait.Notify(Changed);
        return 0;
    }

    // ---- sending -----------------------------------------------------------------------------

    public override long SendMsg(Task? t, IoBuffers src, ReadOnlySpan<byte> address, SendControl control, int flags)
    {
        if ((flags & MSG_OOB) != 0) return -(long)Errno.EOPNOTSUPP;
        bool nonBlocking = NonBlocking || (flags & MSG_DONTWAIT) != 0;
        if (Type != SOCK_STREAM || (flags & MSG_NOSIGNAL) != 0)
        {
            // Only stream sockets raise SIGPIPE with their EPIPE.
            if (t != null) t.SuppressSigpipe = true;
        }
        return Type == SOCK_STREAM
            ? SendStream(t, src, address, control, nonBlocking)
            : SendDatagram(t, src, address, control, nonBlocking);
    }

    private long SendStream(Task? t, IoBuffers src, ReadOnlySpan<byte> address, SendControl control, bool nonBlocking)
    {
        lock (StateLock)
        {
            if (address.Length > 0) return _state == State.Connected ? -(long)Errno.EISCONN : -(long)Errno.EOPNOTSUPP;
            if (_peer == null) return -(long)Errno.ENOTCONN;
        }
        long length = src.Length, sent = 0;
        bool rightsSent = false;
        var blocker = new SocketBlocker(t, SendTimeoutUs, Queue, POLLOUT | POLLWRNORM);
        try
        {
            while (true)
            {
                blocker.BeforeAttempt();
                long r = TrySendStreamChunk(t, src, ref sent, control, ref rightsSent);
                if (sent == length && r >= 0) return sent;
                if (r != -(long)Errno.EAGAIN) return sent > 0 ? sent : r;
                r = blocker.Wait(nonBlocking);
                if (r < 0) return sent > 0 ? sent : r;
            }
        }
        finally
        {
            blocker.Dispose();
        }
    }

    /// <summary>Sends as much of src as the send buffer takes, one message per chunk of at most
    /// half the buffer: 0 when done, -EAGAIN when the buffer is full, or an error.</summary>
    private long TrySendStreamChunk(Task? t, IoBuffers src, ref long sent, SendControl control, ref bool rightsSent)
    {
        long length = src.Length;
        while (true)
        {
            UnixSocket peer;
            lock (StateLock)
            {
                long err = StreamSendState(out peer!);
                if (err < 0) return err;
                if (sent == length) return 0;
                if (_wmem >= SendBufferSize) return -(long)Errno.EAGAIN;
            }
            int chunk = (int)Math.Min(length - sent, Math.Min(SendBufferSize / 2 - 64, 64 * 1024));
            var data = new byte[chunk];
            if (src.CopyIn(sent, data) < chunk) return -(long)Errno.EFAULT;
            var rights = rightsSent ? null : control.Rights;
            var message = new UnixMessage(data, chunk)
            {
                Creds = control.Creds ?? SenderCredOf(t),
                From = _address?.Sockaddr,
                Sender = this,
                Charge = chunk,
            };
            lock (StateLock)
            {
                long err = StreamSendState(out peer!);
                if (err < 0) return err;
                if (rights != null) foreach (var f in rights) f.IncRef();
                message.Rights = rights;
                peer._receive.Enqueue(message);
                _wmem += chunk;
            }
            rightsSent = true;
            sent += chunk;
            peer.Queue.Notify(POLLIN | POLLRDNORM);
        }
    }

    /// <summary>Whether a stream send may go ahead: ENOTCONN without a peer, EPIPE after either
    /// side shut the direction down or the peer closed.</summary>
    private long StreamSendState(out UnixSocket? peer)
    {
        peer = _peer;
        if (peer == null) return -(long)Errno.ENOTCONN;
        if ((_shutdown & SendShutdown) != 0 || peer._dead || (peer._shutdown & RcvShutdown) != 0) return -(long)Errno.EPIPE;
        return 0;
    }

    private long SendDatagram(Task? t, IoBuffers src, ReadOnlySpan<byte> address, SendControl control, bool nonBlocking)
    {
        if (Type == SOCK_SEQPACKET)
        {
            lock (StateLock)
            {
                if (TakeErrorLocked() is var err && err != 0) return -err;
                if (_state != State.Connected) return -(long)Errno.ENOTCONN;
            }
            address = default;
        }
        long length = src.Length;
        if (length > SendBufferSize - 32) return -(long)Errno.EMSGSIZE;
        UnixAddress parsed = default;
        if (address.Length > 0)
        {
            long r = UnixAddress.Parse(address, out parsed);
            if (r < 0) return r;
        }
        long bound = AutobindForPassCred();
        if (bound < 0) return bound;
        UnixSocket? target;
        bool toPeer = address.Length == 0;
        if (toPeer)
        {
            lock (StateLock) target = _peer;
            if (target == null) return -(long)Errno.ENOTCONN;
        }
        else if (t == null)
        {
            return -(long)Errno.EINVAL;
        }
        else
        {
            long r = Lookup(t, parsed, out target);
            if (r < 0) return r;
        }
        var data = new byte[length];
        if (src.CopyIn(0, data) < length) return -(long)Errno.EFAULT;
        var message = new UnixMessage(data, (int)length)
        {
            Creds = control.Creds ?? SenderCredOf(t),
            From = _address?.Sockaddr,
            Sender = this,
            Charge = (int)length + DatagramOverhead,
        };
        var blocker = new SocketBlocker(t, SendTimeoutUs, Queue, POLLOUT | POLLWRNORM);
        blocker.AlsoOn(target!.PeerWait, POLLOUT);
        try
        {
            while (true)
            {
                blocker.BeforeAttempt();
                long r = TrySendDatagram(target, toPeer, message, control.Rights);
                if (r != -(long)Errno.EAGAIN) return r < 0 ? r : length;
                r = blocker.Wait(nonBlocking);
                if (r < 0) return r;
            }
        }
        finally
        {
            blocker.Dispose();
        }
    }

    private long TrySendDatagram(UnixSocket target, bool toPeer, UnixMessage message, FileDescription[]? rights)
    {
        lock (StateLock)
        {
            if (TakeErrorLocked() is var err && err != 0) return -err;
            if ((_shutdown & SendShutdown) != 0) return -(long)Errno.EPIPE;
            if (_wmem >= SendBufferSize) return -(long)Errno.EAGAIN;
            if (target._dead)
            {
                if (Type == SOCK_SEQPACKET) return -(long)Errno.EPIPE;
                if (_peer == target)
                {
                    // The peer went away: the socket is no longer connected.
                    _peer = null;
                    return -(long)Errno.ECONNREFUSED;
                }
                return toPeer ? -(long)Errno.ENOTCONN : -(long)Errno.ECONNREFUSED;
            }
            if (!toPeer && target._peer != null && target._peer != this) return -(long)Errno.EPERM;
            if ((target._shutdown & RcvShutdown) != 0) return -(long)Errno.EPIPE;
            if (target != this && target._peer != this && target._receive.Count > MaxDatagramQueue) return -(long)Errno.EAGAIN;
            if (rights != null) foreach (var f in rights) f.IncRef();
            message.Rights = rights;
            target._receive.Enqueue(message);
            _wmem += message.Charge;
        }
        target.Queue.Notify(POLLIN | POLLRDNORM);
        return 0;
    }

    // ---- receiving ---------------------------------------------------------------------------

    /// <summary>Scratch list of the messages one receive has read (one per host thread).</summary>
    [ThreadStatic] private static List<UnixMessage>? _released;

    public override long RecvMsg(Task? t, IoBuffers dst, int flags, out ReceiveInfo info)
    {
        info = default;
        if ((flags & MSG_OOB) != 0) return -(long)Errno.EOPNOTSUPP;
        bool nonBlocking = NonBlocking || (flags & MSG_DONTWAIT) != 0;
        bool peek = (flags & MSG_PEEK) != 0;
        var released = _released ??= [];
        released.Clear();
        var blocker = new SocketBlocker(t, ReceiveTimeoutUs, Queue, POLLIN | POLLRDNORM | POLLRDHUP | POLLHUP | POLLERR);
        var result = default(UnixReadResult);
        long r;
        try
        {
            while (true)
            {
                blocker.BeforeAttempt();
                bool wasFull;
                lock (StateLock)
                {
                    wasFull = _receive.Count > MaxDatagramQueue;
                    r = Type == SOCK_STREAM
                        ? TryReceiveStream(dst, flags, released, ref result)
                        : TryReceiveMessage(dst, peek, released, ref result);
                    foreach (var m in released) m.Sender?._wmem -= m.Charge;
                }
                if (released.Count > 0)
                {
                    GiveBackSendBuffer(released, wasFull);
                    released.Clear();
                }
                if (r != -(long)Errno.EAGAIN) break;
                long w = blocker.Wait(nonBlocking);
                if (w < 0)
                {
                    r = result.Copied > 0 ? result.Copied : w;
                    break;
                }
            }
        }
        finally
        {
            blocker.Dispose();
        }
        info.Rights = result.Rights;
        info.Creds = PassCred ? result.Creds ?? default : null;
        info.From = result.From;
        info.MessageLength = result.MessageLength;
        if (result.Truncated) info.Flags |= MSG_TRUNC;
        if (r >= 0 && Type != SOCK_STREAM && (flags & MSG_TRUNC) != 0) r = result.MessageLength;
        return r;
    }

    /// <summary>One pass of a stream read: bytes, 0 at end of stream, -EAGAIN to wait for more.</summary>
    private long TryReceiveStream(IoBuffers dst, int flags, List<UnixMessage> released, ref UnixReadResult result)
    {
        if (_state != State.Connected) return result.Copied > 0 ? result.Copied : -(long)Errno.EINVAL;
        bool peek = (flags & MSG_PEEK) != 0;
        long target = (flags & MSG_WAITALL) != 0 ? Math.Max(dst.Length, 1) : 1;
        if (dst.Length == 0 && _receive.Count > 0) return 0;
        long before = result.Copied;
        _receive.ReadStream(dst, peek, PassCred, released, ref result);
        if (result.Copied >= target || result.Barrier) return result.Copied;
        if (peek && result.Copied > before) return result.Copied;
        if (result.Copied == dst.Length && dst.Length > 0) return result.Copied;
        int err = TakeErrorLocked();
        if (err != 0) return result.Copied > 0 ? result.Copied : -err;
        if ((_shutdown & RcvShutdown) != 0) return result.Copied;
        return -(long)Errno.EAGAIN;
    }

    /// <summary>One pass of a datagram or packet read.</summary>
    private long TryReceiveMessage(IoBuffers dst, bool peek, List<UnixMessage> released, ref UnixReadResult result)
    {
        if (Type == SOCK_SEQPACKET && _state != State.Connected) return -(long)Errno.ENOTCONN;
        if (_receive.ReadMessage(dst, peek, PassCred, released, out result)) return result.Copied;
        int err = TakeErrorLocked();
        if (err != 0) return -err;
        if ((_shutdown & RcvShutdown) != 0) return 0;
        return -(long)Errno.EAGAIN;
    }

    /// <summary>After messages were read: their senders may send again, and datagram senders
    /// waiting for room in this queue may go on.</summary>
    private void GiveBackSendBuffer(List<UnixMessage> released, bool wasFull)
    {
        UnixSocket? last = null;
        foreach (var m in released)
        {
            if (m.Sender == null || m.Sender == last) continue;
            last = m.Sender;
            m.Sender.Queue.Notify(POLLOUT | POLLWRNORM);
        }
        if (Type == SOCK_STREAM) return;
        PeerWait.Notify(POLLOUT);
        if (!wasFull) return;
        UnixSocket[] senders;
        lock (StateLock) senders = [.. _dgramSenders];
        foreach (var s in senders) s.Queue.Notify(POLLOUT | POLLWRNORM);
    }

    // ---- state for options, poll and ioctl ---------------------------------------------------

    private int TakeErrorLocked()
    {
        int e = _error;
        _error = 0;
        return e;
    }

    protected override int TakeError()
    {
        lock (StateLock) return TakeErrorLocked();
    }

    protected override bool Listening
    {
        get { lock (StateLock) return _state == State.Listening; }
    }

    protected override UCred PeerCredentials
    {
        get { lock (StateLock) return _peerCred; }
    }

    /// <summary>unix_poll / unix_dgram_poll.</summary>
    public override uint Readiness(uint mask)
    {
        uint ev = 0;
        lock (StateLock)
        {
            if (_error != 0) ev |= POLLERR;
            if (_shutdown == ShutdownMask) ev |= POLLHUP;
            if ((_shutdown & RcvShutdown) != 0) ev |= POLLRDHUP | POLLIN | POLLRDNORM;
            if (_receive.Count > 0 || _pending.Count > 0) ev |= POLLIN | POLLRDNORM;
            if (ConnectionOriented && _state == State.Unconnected) ev |= POLLHUP;
            bool writable = _state != State.Listening && _wmem * 4 <= SendBufferSize;
            if (writable && Type == SOCK_DGRAM && _peer is { } p && p._peer != this && p._receive.Count > MaxDatagramQueue)
                writable = false;
            if (writable) ev |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        return ev & (mask | AlwaysReported);
    }

    public override long Ioctl(Task task, uint request, ulong arg)
    {
        long amount;
        switch (request)
        {
            case SockOpt.SIOCINQ:
                lock (StateLock)
                {
                    if (_state == State.Listening) return -(long)Errno.EINVAL;
                    amount = Type == SOCK_DGRAM ? _receive.Head?.Remaining ?? 0 : _receive.Bytes;
                }
                break;
            case SockOpt.SIOCOUTQ:
                lock (StateLock) amount = _wmem;
                break;
            default:
                return -(long)Errno.ENOTTY;
        }
        return task.MemoryManager.CopyOut(arg, (int)Math.Min(amount, int.MaxValue));
    }

    // ---- the end -----------------------------------------------------------------------------

    /// <summary>The last reference went: the peer sees the stream end (and ECONNRESET if this
    /// socket had unread data or was never accepted), queued messages are dropped (their
    /// descriptors closed), pending connections reset, and the name freed.</summary>
    protected override void Release()
    {
        UnixSocket? peer;
        List<UnixMessage> drained;
        UnixSocket[] pending, senders;
        lock (StateLock)
        {
            _dead = true;
            peer = _peer;
            _peer = null;
            if (peer != null && ConnectionOriented)
            {
                peer._shutdown = ShutdownMask;
                if (_receive.Count > 0 || _embryo) peer._error = (int)Errno.ECONNRESET;
            }
            if (peer != null && !ConnectionOriented) peer._dgramSenders.Remove(this);
            senders = [.. _dgramSenders];
            _dgramSenders.Clear();
            drained = _receive.Drain();
            foreach (var m in drained) m.Sender?._wmem -= m.Charge;
            pending = [.. _pending];
            _pending.Clear();
            if (_boundInode?.BoundSocket == this) _boundInode.BoundSocket = null;
            if (_address?.AbstractKey is { } key) _kernel.UnixAbstract.Unbind(key, this);
        }
        const uint Gone = POLLIN | POLLOUT | POLLHUP | POLLRDHUP | POLLERR | POLLRDNORM | POLLWRNORM;
        peer?.Queue.Notify(Gone);
        peer?.PeerWait.Notify(Gone);
        foreach (var s in senders) s.Queue.Notify(Gone);
        PeerWait.Notify(Gone);
        Queue.Notify(Gone);
        GiveBackSendBuffer(drained, wasFull: false);
        foreach (var m in drained)
            if (m.Rights != null)
                foreach (var f in m.Rights) f.DecRef();
        foreach (var s in pending) s.DecRef();
    }
}
