using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Sandbox.Gofer.P9;

/// <summary>A 9P2000.L client over one connected stream socket. Thread-safe: concurrent
/// callers get distinct tags, so requests are served concurrently, and replies are matched by
/// tag. There is no reader thread: one waiting caller at a time reads the socket and hands
/// the replies of others to them (leader/follower), so a lone caller reads its own reply
/// without a thread hand-off. Every call returns 0 or a positive Linux errno; a dead
/// connection gives EIO, never an exception.</summary>
public sealed class P9Client : IDisposable
{
    private const int EIO = 5, EINVAL = 22, ENOENT = 2, ENAMETOOLONG = 36, EPROTONOSUPPORT = 93, EOPNOTSUPP = 95;

    private readonly P9Transport _transport;
    private readonly object _sendLock = new();
    private readonly object _lock = new();
    private readonly List<Slot> _slots = [];
    private readonly Stack<Slot> _freeSlots = new();
    private readonly Slot _versionSlot = new(P9Protocol.NoTag);
    private readonly object _versionLock = new();
    /// <summary>Fid numbers given back, a stack in an array (Stack&lt;uint&gt; would be compiled by
    /// the JIT in each new process: the framework has no precompiled copy of it).</summary>
    private readonly object _fidLock = new();
    private uint[] _freeFids = new uint[64];
    private int _freeFidCount;
    private bool _readerActive;
    private uint _nextFid = 1;
    private volatile uint _msize = P9Protocol.DefaultMSize;
    private volatile uint _receiveLimit = P9Protocol.DefaultMSize;
    private volatile bool _dead;
    private int _disposed;

    /// <summary>Takes ownership of a connected stream-socket fd (closed by <see cref="Dispose"/>).</summary>
    public P9Client(int connectedFd)
        : this(new FdTransport(connectedFd, ownsFd: true))
    {
    }

    /// <summary>Takes ownership of a connected stream socket (disposed by <see cref="Dispose"/>).</summary>
    public P9Client(Socket socket)
        : this(new SocketTransport(socket))
    {
    }

    private P9Client(P9Transport transport)
    {
        _transport = transport;
    }

    /// <summary>The negotiated maximum message size (8192 until <see cref="Version"/>).</summary>
    public uint MSize => _msize;

    /// <summary>True once the connection has failed or been disposed.</summary>
    public bool IsDead => _dead;

    // ---- tags and fids ----

    private sealed class Slot(ushort tag)
    {
        public readonly ushort Tag = tag;
        public readonly ManualResetEventSlim Done = new(false);
        public bool InFlight;
        public byte[]? Reply;
        public int ReplyLength;
        /// <summary>A host descriptor the server attached to the reply, or -1.</summary>
        public int ReplyFd = -1;
        /// <summary>Nobody waits for the reply (an asynchronous Tclunk): whoever reads it frees
        /// the slot and gives <see cref="DiscardFid"/> back.</summary>
        public bool Discard;
        public uint DiscardFid;
    }

    /// <summary>Replies outstanding that nobody waits for; past <see cref="MaxDiscarding"/> a
    /// clunk waits for its reply, so the server never blocks on a reply the client leaves unread.</summary>
    private int _discarding;
    private const int MaxDiscarding = 256;

    /// <summary>A reply for a discarding slot arrived (or the connection died): frees the slot
    /// and the fid number. Under _lock.</summary>
    private void FinishDiscard(Slot slot)
    {
        slot.InFlight = false;
        slot.Discard = false;
        _discarding--;
        ReleaseFid(slot.DiscardFid);
        _freeSlots.Push(slot);
        Monitor.Pulse(_lock);
    }

    private Slot RentSlot()
    {
        lock (_lock)
        {
            while (true)
            {
                if (_freeSlots.TryPop(out var slot))
                {
                    return slot;
                }
                if (_slots.Count < P9Protocol.NoTag)
                {
                    slot = new Slot((ushort)_slots.Count);
                    _slots.Add(slot);
                    return slot;
                }
                Monitor.Wait(_lock);
            }
        }
    }

    private void ReturnSlot(Slot slot)
    {
        if (slot == _versionSlot)
        {
            return;
        }
        lock (_lock)
        {
            _freeSlots.Push(slot);
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>A fid number not in use by this client.</summary>
    public uint AllocateFid()
    {
        lock (_fidLock)
        {
            if (_freeFidCount > 0)
            {
                return _freeFids[--_freeFidCount];
            }
            if (_nextFid == P9Protocol.NoFid)
            {
                throw new InvalidOperationException("9P fid space exhausted");
            }
            return _nextFid++;
        }
    }

    /// <summary>Returns a fid number for reuse (after it has been clunked or removed).</summary>
    public void ReleaseFid(uint fid)
    {
        lock (_fidLock)
        {
            if (_freeFidCount == _freeFids.Length)
            {
                var larger = new uint[_freeFids.Length * 2];
                Array.Copy(_freeFids, larger, _freeFidCount);
                _freeFids = larger;
            }
            _freeFids[_freeFidCount++] = fid;
        }
    }

    // ---- the wire ----

    /// <summary>Reads one frame into a pooled buffer; null when the connection is gone or the
    /// peer broke the framing (a peer that does cannot be trusted with the rest of the stream).</summary>
    private byte[]? ReadFrame(out int size)
    {
        size = 0;
        Span<byte> header = stackalloc byte[4];
        if (!_transport.ReceiveExact(header))
        {
            return null;
        }
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (n < P9Protocol.HeaderSize || n > _receiveLimit)
        {
            return null;
        }
        byte[] buf = ArrayPool<byte>.Shared.Rent((int)n);
        header.CopyTo(buf);
        if (!_transport.ReceiveExact(buf.AsSpan(4, (int)n - 4)))
        {
            ArrayPool<byte>.Shared.Return(buf);
            return null;
        }
        size = (int)n;
        return buf;
    }

    /// <summary>As the reader, reads frames and delivers them to their slots until
    /// <paramref name="mine"/> has its reply or the connection dies; then gives the reader role
    /// to another waiting caller.</summary>
    private void ReadUntilAnswered(Slot mine)
    {
        try
        {
            while (true)
            {
                byte[]? buf = ReadFrame(out int size);
                int fd = _transport.TakeReceivedFd();
                if (buf is null)
                {
                    CloseFd(fd);
                    MarkDead();
                    return;
                }
                ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(5));
                lock (_lock)
                {
                    var slot = tag == P9Protocol.NoTag ? _versionSlot : tag < _slots.Count ? _slots[tag] : null;
                    if (slot is { InFlight: true, Reply: null, Discard: true })
                    {
                        FinishDiscard(slot);
                    }
                    else if (slot is { InFlight: true, Reply: null })
                    {
                        slot.Reply = buf;
                        slot.ReplyLength = size;
                        slot.ReplyFd = fd;
                        if (slot == mine)
                        {
                            return;
                        }
                        slot.Done.Set();
                        continue;
                    }
                }
                ArrayPool<byte>.Shared.Return(buf); // a reply nobody waits for
                CloseFd(fd);
            }
        }
        catch (Exception)
        {
            MarkDead();
            throw;
        }
        finally
        {
            lock (_lock)
            {
                _readerActive = false;
                foreach (var other in _slots)
                {
                    if (other != mine && other.InFlight && other.Reply is null && !other.Discard)
                    {
                        other.Done.Set(); // wakes it to take over reading
                        break;
                    }
                }
                if (_versionSlot != mine && _versionSlot.InFlight && _versionSlot.Reply is null)
                {
                    _versionSlot.Done.Set();
                }
            }
        }
    }

    private void MarkDead()
    {
        lock (_lock)
        {
            _dead = true;
            foreach (var slot in _slots)
            {
                if (slot.InFlight && slot.Discard)
                {
                    FinishDiscard(slot);
                }
                else if (slot.InFlight)
                {
                    slot.Done.Set();
                }
            }
            if (_versionSlot.InFlight)
            {
                _versionSlot.Done.Set();
            }
        }
        _transport.Shutdown();
    }

    /// <summary>Sends an encoded frame (whose tag field is filled in here) and waits for the
    /// reply. On 0 the caller owns <paramref name="reply"/> and returns it to the pool.</summary>
    private int Roundtrip(byte[] frame, int length, Slot slot, out byte[] reply, out int replyLength, out int replyFd)
    {
        reply = [];
        replyLength = 0;
        replyFd = -1;
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(5), slot.Tag);
        lock (_lock)
        {
            if (_dead)
            {
                return EIO;
            }
            slot.Done.Reset();
            slot.Reply = null;
            slot.ReplyFd = -1;
            slot.InFlight = true;
        }
        bool sent;
        lock (_sendLock)
        {
            sent = _transport.SendAll(frame.AsSpan(0, length));
        }
        if (!sent)
        {
            MarkDead();
        }
        while (true)
        {
            bool read = false;
            lock (_lock)
            {
                if (slot.Reply is not null || _dead)
                {
                    slot.InFlight = false;
                    if (slot.Reply is null)
                    {
                        return EIO;
                    }
                    reply = slot.Reply;
                    replyLength = slot.ReplyLength;
                    replyFd = slot.ReplyFd;
                    slot.Reply = null;
                    slot.ReplyFd = -1;
                    return 0;
                }
                if (!_readerActive)
                {
                    _readerActive = true;
                    read = true;
                }
                else
                {
                    slot.Done.Reset();
                }
            }
            if (read)
            {
                ReadUntilAnswered(slot);
            }
            else
            {
                slot.Done.Wait(); // a reply, the reader role, or death
            }
        }
    }

    /// <summary>Encodes <paramref name="req"/>, sends it and waits; the reply as a pooled buffer.</summary>
    private int Send<TReq>(in TReq req, out byte[] reply, out int replyLength)
        where TReq : struct, IP9Message<TReq>
    {
        int err = Send(req, out reply, out replyLength, out int fd);
        CloseFd(fd); // only some replies carry a descriptor for their caller
        return err;
    }

    /// <summary>As <see cref="Send{TReq}(in TReq, out byte[], out int)"/>, also handing over the
    /// host descriptor the server attached to the reply (-1 if none).</summary>
    private int Send<TReq>(in TReq req, out byte[] reply, out int replyLength, out int replyFd)
        where TReq : struct, IP9Message<TReq>
    {
        reply = [];
        replyLength = 0;
        replyFd = -1;
        if (_dead)
        {
            return EIO;
        }
        int size;
        try
        {
            size = P9Codec.FrameSize(req);
        }
        catch (ArgumentException)
        {
            return ENAMETOOLONG; // a string over 65535 bytes
        }
        if (size > _msize)
        {
            return ENAMETOOLONG;
        }
        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        var slot = TReq.Type == P9MessageType.Tversion ? _versionSlot : RentSlot();
        try
        {
            P9Codec.Encode(frame, slot.Tag, req);
            return Roundtrip(frame, size, slot, out reply, out replyLength, out replyFd);
        }
        finally
        {
            ReturnSlot(slot);
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Checks a reply's type: 0 if it is <paramref name="expected"/>, the errno of an
    /// Rlerror, EIO for anything else.</summary>
    private static int CheckReply(byte[] reply, int length, P9MessageType expected)
    {
        var type = (P9MessageType)reply[4];
        if (type == expected)
        {
            return 0;
        }
        if (type == P9MessageType.Rlerror && length == P9Protocol.HeaderSize + 4)
        {
            uint ecode = BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(P9Protocol.HeaderSize));
            return ecode is > 0 and < 4096 ? (int)ecode : EIO;
        }
        return EIO;
    }

    private int Call<TReq, TRep>(in TReq req, out TRep rep)
        where TReq : struct, IP9Message<TReq>
        where TRep : struct, IP9Message<TRep>
    {
        rep = default;
        int err = Send(req, out byte[] reply, out int length);
        if (err != 0)
        {
            return err;
        }
        try
        {
            err = CheckReply(reply, length, TRep.Type);
            if (err != 0)
            {
                return err;
            }
            rep = P9Codec.DecodeBody<TRep>(reply.AsMemory(P9Protocol.HeaderSize, length - P9Protocol.HeaderSize));
            return 0;
        }
        catch (P9FormatException)
        {
            return EIO;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(reply);
        }
    }

    // ---- the protocol ----

    /// <summary>Negotiates "9P2000.L" and the message size (at most <paramref name="msize"/>).
    /// Call it first, with no other request outstanding.</summary>
    public int Version(uint msize = 1 << 20)
    {
        if (msize < P9Protocol.MinMSize || msize > int.MaxValue / 2)
        {
            return EINVAL;
        }
        lock (_versionLock)
        {
            _receiveLimit = Math.Max(_msize, msize);
            int err = Call(new Tversion(msize, P9Protocol.Version), out Rversion rep);
            if (err != 0)
            {
                _receiveLimit = _msize;
                return err;
            }
            if (rep.Version != P9Protocol.Version)
            {
                _receiveLimit = _msize;
                return EPROTONOSUPPORT;
            }
            if (rep.MSize < P9Protocol.MinMSize || rep.MSize > msize)
            {
                _receiveLimit = _msize;
                return EIO;
            }
            _msize = rep.MSize;
            _receiveLimit = rep.MSize;
            return 0;
        }
    }

    public int Attach(uint fid, string uname, uint uid, string aname, out Qid qid)
    {
        int err = Call(new Tattach(fid, P9Protocol.NoFid, uname, aname, uid), out Rattach rep);
        qid = rep.Qid;
        return err;
    }

    /// <summary>Walks <paramref name="names"/> from <paramref name="fid"/> to <paramref name="newFid"/>
    /// (which may equal fid; an empty list clones). On ENOENT <paramref name="qids"/> holds the qids
    /// of the components that did resolve and newFid is not in use.</summary>
    public int Walk(uint fid, uint newFid, IReadOnlyList<string> names, out Qid[] qids)
    {
        if (names.Count <= P9Protocol.MaxWalkElements)
        {
            return WalkOnce(fid, newFid, names, 0, names.Count, out qids);
        }
        var all = new List<Qid>(names.Count);
        uint from = fid;
        for (int start = 0; start < names.Count; start += P9Protocol.MaxWalkElements)
        {
            int n = Math.Min(P9Protocol.MaxWalkElements, names.Count - start);
            int err = WalkOnce(from, newFid, names, start, n, out var part);
            all.AddRange(part);
            if (err != 0)
            {
                if (start > 0)
                {
                    Clunk(newFid); // newFid was created by an earlier chunk
                }
                qids = [.. all];
                return err;
            }
            from = newFid;
        }
        qids = [.. all];
        return 0;
    }

    private int WalkOnce(uint fid, uint newFid, IReadOnlyList<string> names, int start, int count, out Qid[] qids)
    {
        var chunk = new string[count];
        for (int i = 0; i < count; i++)
        {
            chunk[i] = names[start + i];
        }
        int err = Call(new Twalk(fid, newFid, chunk), out Rwalk rep);
        qids = rep.Qids ?? [];
        if (err != 0)
        {
            return err;
        }
        if (qids.Length > count)
        {
            return EIO;
        }
        return qids.Length < count ? ENOENT : 0;
    }

    public int GetAttr(uint fid, ulong mask, out P9Attr attr)
    {
        int err = Call(new Tgetattr(fid, mask), out Rgetattr rep);
        attr = rep.Attr;
        return err;
    }

    /// <summary>0: the server answers Twalkgetattr; 1: it does not (Twalk + Tgetattr instead);
    /// -1: not known yet.</summary>
    private volatile int _walkGetAttr = -1;

    /// <summary>Walks all of <paramref name="names"/> (at most 16) from <paramref name="fid"/> to
    /// <paramref name="newFid"/> and returns the attributes of the object reached, in one round
    /// trip (Twalkgetattr). newFid may be <see cref="P9Protocol.NoFid"/>: nothing is installed
    /// then, which saves the Tclunk of a walk made only to look. A walk that does not reach the
    /// last name fails (ENOENT, ENOTDIR, ...) and installs nothing. Against a server without the
    /// extension it falls back to Twalk and Tgetattr.</summary>
    public int WalkGetAttr(uint fid, uint newFid, string[] names, out P9Attr attr)
    {
        attr = default;
        if (names.Length > P9Protocol.MaxWalkElements)
        {
            return EINVAL;
        }
        if (_walkGetAttr != 1)
        {
            int err = Call(new Twalkgetattr(fid, newFid, names), out Rwalkgetattr rep);
            if (err == 0 && rep.Qids.Length != names.Length)
            {
                // A reply that does not account for every name is not this protocol.
                if (newFid != P9Protocol.NoFid) Clunk(newFid);
                return EIO;
            }
            if (err != EOPNOTSUPP || _walkGetAttr == 0)
            {
                if (err == 0) _walkGetAttr = 0;
                attr = rep.Attr;
                return err;
            }
            _walkGetAttr = 1;
        }
        uint target = newFid == P9Protocol.NoFid ? AllocateFid() : newFid;
        int werr = WalkOnce(fid, target, names, 0, names.Length, out _);
        if (werr == 0)
        {
            werr = GetAttr(target, P9Protocol.GetAttrBasic, out attr);
            if (werr != 0 || newFid == P9Protocol.NoFid)
            {
                Clunk(target);
            }
        }
        if (newFid == P9Protocol.NoFid)
        {
            ReleaseFid(target);
        }
        return werr;
    }

    public int SetAttr(uint fid, in P9SetAttr attr) => Call(new Tsetattr(fid, attr), out Rsetattr _);

    public int Lopen(uint fid, uint flags, out Qid qid, out uint iounit)
    {
        int err = Lopen(fid, flags, out qid, out iounit, out int hostFd);
        CloseFd(hostFd);
        return err;
    }

    /// <summary>Lopen that also hands over the host descriptor a server may attach to Rlopen
    /// (our Gofer donates a read-only descriptor for regular files opened O_RDONLY), or -1.
    /// The caller owns and closes it.</summary>
    public int Lopen(uint fid, uint flags, out Qid qid, out uint iounit, out int hostFd)
    {
        qid = default;
        iounit = 0;
        int err = Send(new Tlopen(fid, flags), out byte[] reply, out int length, out hostFd);
        if (err != 0) return err;
        try
        {
            err = CheckReply(reply, length, P9MessageType.Rlopen);
            if (err == 0)
            {
                var rep = P9Codec.DecodeBody<Rlopen>(reply.AsMemory(P9Protocol.HeaderSize, length - P9Protocol.HeaderSize));
                qid = rep.Qid;
                iounit = rep.IoUnit;
            }
        }
        catch (P9FormatException)
        {
            err = EIO;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(reply);
        }
        if (err != 0)
        {
            CloseFd(hostFd);
            hostFd = -1;
        }
        return err;
    }

    private static void CloseFd(int fd)
    {
        if (fd >= 0) Sandbox.Abi.Host.Unistd.Close(fd);
    }

    /// <summary>Creates and opens <paramref name="name"/> in directory <paramref name="fid"/>,
    /// which then stands for the new file.</summary>
    public int Lcreate(uint fid, string name, uint flags, uint mode, uint gid, out Qid qid, out uint iounit)
    {
        int err = Call(new Tlcreate(fid, name, flags, mode, gid), out Rlcreate rep);
        qid = rep.Qid;
        iounit = rep.IoUnit;
        return err;
    }

    /// <summary>Reads up to buffer.Length bytes at <paramref name="offset"/>, in as many Treads as
    /// msize requires; stops at the first short read. An error after some data returns 0 with
    /// the data read so far.</summary>
    public int Read(uint fid, ulong offset, Span<byte> buffer, out int count)
    {
        count = 0;
        int max = (int)_msize - P9Protocol.ReadOverhead;
        while (count < buffer.Length)
        {
            int want = Math.Min(max, buffer.Length - count);
            int err = Send(new Tread(fid, offset + (ulong)count, (uint)want), out byte[] reply, out int length);
            if (err == 0)
            {
                try
                {
                    err = CheckReply(reply, length, P9MessageType.Rread);
                    if (err == 0)
                    {
                        uint n = BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(P9Protocol.HeaderSize));
                        if (length < P9Protocol.ReadOverhead || n > (uint)want || n != (uint)(length - P9Protocol.ReadOverhead))
                        {
                            err = EIO;
                        }
                        else
                        {
                            reply.AsSpan(P9Protocol.ReadOverhead, (int)n).CopyTo(buffer[count..]);
                            count += (int)n;
                            if (n < (uint)want)
                            {
                                return 0;
                            }
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(reply);
                }
            }
            if (err != 0)
            {
                return count > 0 ? 0 : err;
            }
        }
        return 0;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>, in as many Twrites as
    /// msize requires; stops at the first short write. An error after some data returns 0 with
    /// the count written so far.</summary>
    public int Write(uint fid, ulong offset, ReadOnlySpan<byte> data, out int count)
    {
        count = 0;
        int max = (int)_msize - P9Protocol.WriteOverhead;
        if (data.IsEmpty)
        {
            return WriteChunk(fid, offset, data, out _);
        }
        while (count < data.Length)
        {
            var chunk = data.Slice(count, Math.Min(max, data.Length - count));
            int err = WriteChunk(fid, offset + (ulong)count, chunk, out int n);
            if (err != 0)
            {
                return count > 0 ? 0 : err;
            }
            count += n;
            if (n < chunk.Length)
            {
                break;
            }
        }
        return 0;
    }

    private int WriteChunk(uint fid, ulong offset, ReadOnlySpan<byte> chunk, out int written)
    {
        written = 0;
        if (_dead)
        {
            return EIO;
        }
        int size = P9Protocol.WriteOverhead + chunk.Length;
        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        var slot = RentSlot();
        byte[] reply;
        int length;
        int err;
        try
        {
            var w = new P9Writer(frame.AsSpan(0, size));
            w.U32((uint)size);
            w.U8((byte)P9MessageType.Twrite);
            w.U16(slot.Tag);
            w.U32(fid);
            w.U64(offset);
            w.U32((uint)chunk.Length);
            w.Bytes(chunk);
            err = Roundtrip(frame, size, slot, out reply, out length, out int fd);
            CloseFd(fd);
        }
        finally
        {
            ReturnSlot(slot);
            ArrayPool<byte>.Shared.Return(frame);
        }
        if (err != 0)
        {
            return err;
        }
        try
        {
            err = CheckReply(reply, length, P9MessageType.Rwrite);
            if (err != 0)
            {
                return err;
            }
            var rep = P9Codec.DecodeBody<Rwrite>(reply.AsMemory(P9Protocol.HeaderSize, length - P9Protocol.HeaderSize));
            if (rep.Count > (uint)chunk.Length)
            {
                return EIO;
            }
            written = (int)rep.Count;
            return 0;
        }
        catch (P9FormatException)
        {
            return EIO;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(reply);
        }
    }

    public int Clunk(uint fid) => Call(new Tclunk(fid), out Rclunk _);

    /// <summary>Clunks <paramref name="fid"/> without waiting for the reply, then gives the fid
    /// number back for reuse (<see cref="ReleaseFid"/>) once the reply has come, so a new walk
    /// never reuses it early. For callers that would ignore the outcome anyway (a clunk of a
    /// valid fid cannot fail); the server reads every later request after this one.</summary>
    public void ClunkAndRelease(uint fid)
    {
        bool wait = _dead;
        lock (_lock)
        {
            if (_discarding >= MaxDiscarding)
            {
                wait = true;
            }
        }
        if (wait)
        {
            Clunk(fid);
            ReleaseFid(fid);
            return;
        }
        var req = new Tclunk(fid);
        int size = P9Codec.FrameSize(req);
        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        var slot = RentSlot();
        try
        {
            P9Codec.Encode(frame, slot.Tag, req);
            lock (_lock)
            {
                if (_dead)
                {
                    _freeSlots.Push(slot);
                    Monitor.Pulse(_lock);
                    ReleaseFid(fid);
                    return;
                }
                slot.Reply = null;
                slot.ReplyFd = -1;
                slot.InFlight = true;
                slot.Discard = true;
                slot.DiscardFid = fid;
                _discarding++;
            }
            bool sent;
            lock (_sendLock)
            {
                sent = _transport.SendAll(frame.AsSpan(0, size));
            }
            if (!sent)
            {
                MarkDead();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Removes the file of <paramref name="fid"/>; the fid is clunked whatever the outcome.</summary>
    public int Remove(uint fid) => Call(new Tremove(fid), out Rremove _);

    /// <summary>Appends the entries of one Treaddir (of at most <paramref name="count"/> bytes,
    /// clamped to msize) to <paramref name="entries"/>; none at the end of the directory. Pass the
    /// last entry's Offset to continue.</summary>
    public int Readdir(uint fid, ulong offset, uint count, List<P9Dirent> entries)
    {
        count = Math.Min(count, _msize - P9Protocol.ReadOverhead);
        int err = Send(new Treaddir(fid, offset, count), out byte[] reply, out int length);
        if (err != 0)
        {
            return err;
        }
        try
        {
            err = CheckReply(reply, length, P9MessageType.Rreaddir);
            if (err != 0)
            {
                return err;
            }
            var rep = P9Codec.DecodeBody<Rreaddir>(reply.AsMemory(P9Protocol.HeaderSize, length - P9Protocol.HeaderSize));
            if (rep.Data.Length > count)
            {
                return EIO;
            }
            P9Dirents.Decode(rep.Data, entries);
            return 0;
        }
        catch (P9FormatException)
        {
            return EIO;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(reply);
        }
    }

    public int Mkdir(uint dirFid, string name, uint mode, uint gid, out Qid qid)
    {
        int err = Call(new Tmkdir(dirFid, name, mode, gid), out Rmkdir rep);
        qid = rep.Qid;
        return err;
    }

    public int Symlink(uint dirFid, string name, string target, uint gid, out Qid qid)
    {
        int err = Call(new Tsymlink(dirFid, name, target, gid), out Rsymlink rep);
        qid = rep.Qid;
        return err;
    }

    public int Mknod(uint dirFid, string name, uint mode, uint major, uint minor, uint gid, out Qid qid)
    {
        int err = Call(new Tmknod(dirFid, name, mode, major, minor, gid), out Rmknod rep);
        qid = rep.Qid;
        return err;
    }

    public int Readlink(uint fid, out string target)
    {
        int err = Call(new Treadlink(fid), out Rreadlink rep);
        target = rep.Target ?? "";
        return err;
    }

    public int Link(uint dirFid, uint fileFid, string name) => Call(new Tlink(dirFid, fileFid, name), out Rlink _);

    public int RenameAt(uint oldDirFid, string oldName, uint newDirFid, string newName) =>
        Call(new Trenameat(oldDirFid, oldName, newDirFid, newName), out Rrenameat _);

    /// <summary><paramref name="flags"/>: 0 or AT_REMOVEDIR (0x200).</summary>
    public int UnlinkAt(uint dirFid, string name, uint flags) => Call(new Tunlinkat(dirFid, name, flags), out Runlinkat _);

    public int Statfs(uint fid, out P9Statfs statfs)
    {
        int err = Call(new Tstatfs(fid), out Rstatfs rep);
        statfs = rep.Statfs;
        return err;
    }

    public int Fsync(uint fid, bool dataOnly) => Call(new Tfsync(fid, dataOnly ? 1u : 0u), out Rfsync _);

    /// <summary>Makes <paramref name="newFid"/> an xattr fid holding the value of attribute
    /// <paramref name="name"/> (or the NUL-separated list of names when name is ""), to be read
    /// with <see cref="Read"/> and clunked.</summary>
    public int XattrWalk(uint fid, uint newFid, string name, out ulong size)
    {
        int err = Call(new Txattrwalk(fid, newFid, name), out Rxattrwalk rep);
        size = rep.Size;
        return err;
    }

    /// <summary>Turns <paramref name="fid"/> into an xattr fid: write exactly <paramref name="size"/>
    /// bytes to it, then clunk it to set the attribute (size 0 removes it).</summary>
    public int XattrCreate(uint fid, string name, ulong size, uint flags) =>
        Call(new Txattrcreate(fid, name, size, flags), out Rxattrcreate _);

    public int Lock(uint fid, in P9Lock lk, out byte status)
    {
        int err = Call(new Tlock(fid, lk), out Rlock rep);
        status = rep.Status;
        return err;
    }

    public int GetLock(uint fid, ref P9Lock lk)
    {
        int err = Call(new Tgetlock(fid, lk), out Rgetlock rep);
        if (err == 0)
        {
            lk = rep.Lock;
        }
        return err;
    }

    public int Flush(ushort oldTag) => Call(new Tflush(oldTag), out Rflush _);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _transport.Shutdown();
        MarkDead();
        _transport.Dispose();
    }
}
