using System.Buffers;
using System.Buffers.Binary;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Server;

internal sealed partial class P9Session
{
    private const int EBADF = HostCalls.EBADF, EINVAL = HostCalls.EINVAL, EROFS = HostCalls.EROFS;
    private const int EEXIST = HostCalls.EEXIST, ENOTDIR = HostCalls.ENOTDIR, EISDIR = HostCalls.EISDIR;

    /// <summary>Open flags a client may pass to Tlopen/Tlcreate; the rest (O_CREAT outside
    /// Tlcreate, O_PATH, O_TMPFILE, O_NOCTTY, O_ASYNC, O_NOATIME, ...) are dropped.</summary>
    private const int AllowedOpenFlags = OpenFlags.O_ACCMODE | OpenFlags.O_TRUNC | OpenFlags.O_APPEND |
        OpenFlags.O_NONBLOCK | OpenFlags.O_SYNC | OpenFlags.O_DSYNC | OpenFlags.O_DIRECT | OpenFlags.O_LARGEFILE |
        OpenFlags.O_DIRECTORY;

    private const uint NoId = 0xFFFFFFFF;

    /// <summary>Runs one request; 0 once it has replied, else the errno to answer with Rlerror.</summary>
    private int Dispatch(P9MessageType type, ushort tag, ReadOnlyMemory<byte> body) => type switch
    {
        P9MessageType.Tattach => Attach(tag, P9Codec.DecodeBody<Tattach>(body)),
        P9MessageType.Twalk => Walk(tag, P9Codec.DecodeBody<Twalk>(body)),
        P9MessageType.Twalkgetattr => WalkGetAttr(tag, P9Codec.DecodeBody<Twalkgetattr>(body)),
        P9MessageType.Tgetattr => GetAttr(tag, P9Codec.DecodeBody<Tgetattr>(body)),
        P9MessageType.Tsetattr => SetAttr(tag, P9Codec.DecodeBody<Tsetattr>(body)),
        P9MessageType.Tlopen => Lopen(tag, P9Codec.DecodeBody<Tlopen>(body)),
        P9MessageType.Tlcreate => Lcreate(tag, P9Codec.DecodeBody<Tlcreate>(body)),
        P9MessageType.Tread => Read(tag, P9Codec.DecodeBody<Tread>(body)),
        P9MessageType.Twrite => Write(tag, P9Codec.DecodeBody<Twrite>(body)),
        P9MessageType.Tclunk => Clunk(tag, P9Codec.DecodeBody<Tclunk>(body)),
        P9MessageType.Tremove => RemoveFile(tag, P9Codec.DecodeBody<Tremove>(body)),
        P9MessageType.Treaddir => Readdir(tag, P9Codec.DecodeBody<Treaddir>(body)),
        P9MessageType.Tmkdir => Mkdir(tag, P9Codec.DecodeBody<Tmkdir>(body)),
        P9MessageType.Tsymlink => Symlink(tag, P9Codec.DecodeBody<Tsymlink>(body)),
        P9MessageType.Tmknod => Mknod(tag, P9Codec.DecodeBody<Tmknod>(body)),
        P9MessageType.Treadlink => Readlink(tag, P9Codec.DecodeBody<Treadlink>(body)),
        P9MessageType.Tlink => Link(tag, P9Codec.DecodeBody<Tlink>(body)),
        P9MessageType.Trename => Rename(tag, P9Codec.DecodeBody<Trename>(body)),
        P9MessageType.Trenameat => RenameAt(tag, P9Codec.DecodeBody<Trenameat>(body)),
        P9MessageType.Tunlinkat => UnlinkAt(tag, P9Codec.DecodeBody<Tunlinkat>(body)),
        P9MessageType.Tstatfs => Statfs(tag, P9Codec.DecodeBody<Tstatfs>(body)),
        P9MessageType.Tfsync => Fsync(tag, P9Codec.DecodeBody<Tfsync>(body)),
        P9MessageType.Txattrwalk => XattrWalk(tag, P9Codec.DecodeBody<Txattrwalk>(body)),
        P9MessageType.Txattrcreate => XattrCreate(tag, P9Codec.DecodeBody<Txattrcreate>(body)),
        P9MessageType.Tlock => Lock(tag, P9Codec.DecodeBody<Tlock>(body)),
        P9MessageType.Tgetlock => GetLock(tag, P9Codec.DecodeBody<Tgetlock>(body)),
        P9MessageType.Tflush => Flush(tag, P9Codec.DecodeBody<Tflush>(body)),
        _ => HostCalls.EOPNOTSUPP, // Tauth (no authentication), 9P2000 messages, R-messages, unknown types
    };

    private void HandleVersion(ReadOnlyMemory<byte> frame)
    {
        ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(frame.Span[5..]);
        Tversion m;
        try
        {
            m = P9Codec.Decode<Tversion>(frame, out tag);
        }
        catch (P9FormatException)
        {
            Reply(tag, new Rlerror(EINVAL));
            return;
        }
        ClunkAll(); // Tversion starts a new session
        if (m.MSize < P9Protocol.MinMSize)
        {
            Reply(tag, new Rlerror(EINVAL));
            return;
        }
        uint msize = Math.Min(m.MSize, _server.MaxMSize);
        if (!m.Version.StartsWith(P9Protocol.Version, StringComparison.Ordinal))
        {
            Reply(tag, new Rversion(msize, "unknown"));
            return;
        }
        _msize = msize;
        Reply(tag, new Rversion(msize, P9Protocol.Version));
    }

    private int Attach(ushort tag, Tattach m)
    {
        if (HostCalls.Stat(_root.Fd, out var st) is int r and < 0)
        {
            return -r;
        }
        _root.AddRef();
        var fid = new Fid(_root, m.NUname);
        if (Install(m.Fid, fid) is int ie and not 0)
        {
            fid.Release();
            return ie;
        }
        Reply(tag, new Rattach(HostCalls.ToQid(st)));
        return 0;
    }

    private int Walk(ushort tag, Twalk m)
    {
        int err = WalkFid(m.Fid, m.NewFid, m.Names, partial: true, out var qids, out _);
        if (err == 0)
        {
            Reply(tag, new Rwalk(qids));
        }
        return err;
    }

    /// <summary>Twalkgetattr: the whole walk or an error, with the attributes of the object
    /// reached; newfid NOFID installs nothing.</summary>
    private int WalkGetAttr(ushort tag, Twalkgetattr m)
    {
        int err = WalkFid(m.Fid, m.NewFid, m.Names, partial: false, out var qids, out var st);
        if (err == 0)
        {
            Reply(tag, new Rwalkgetattr(ToAttr(st), qids));
        }
        return err;
    }

    /// <summary>Walks <paramref name="names"/> from fid to newFid (which may be fid, or NOFID for
    /// none). 0 with the qids of the names walked and the status of the object reached; with
    /// <paramref name="partial"/>, a walk that resolved some names but not all succeeds with
    /// fewer qids and installs nothing (Twalk's rule), else its failure is the error.</summary>
    private int WalkFid(uint fidId, uint newFidId, string[] names, bool partial, out Qid[] qids, out StatxBuf last)
    {
        qids = [];
        last = default;
        var fid = Acquire(fidId);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            if (fid.IsXattr)
            {
                return EINVAL;
            }
            bool install = newFidId != P9Protocol.NoFid;
            if (!install && partial)
            {
                return EINVAL; // Twalk always makes newfid
            }
            if (install && newFidId != fidId && FidInUse(newFidId))
            {
                return EEXIST;
            }
            var cur = fid.AcquireNode();
            var walked = new Qid[names.Length];
            int done = 0, err = 0;
            bool haveLast = false;
            foreach (string name in names)
            {
                if (!cur.IsDir)
                {
                    err = ENOTDIR; // nothing is below a file, and a symlink is never entered
                    break;
                }
                if (name == "..")
                {
                    Node next;
                    lock (Tree)
                    {
                        next = cur.Parent ?? cur; // ".." of the root is the root
                        next.AddRef();
                    }
                    cur.Release();
                    cur = next;
                }
                else if (name != ".")
                {
                    err = HostCalls.CheckName(name);
                    if (err != 0)
                    {
                        break;
                    }
                    int fd = HostCalls.OpenAt(cur.Fd, name, OpenFlags.O_PATH);
                    if (fd < 0)
                    {
                        err = -fd;
                        break;
                    }
                    if (HostCalls.Stat(fd, out var cst) is int cr and < 0)
                    {
                        Unistd.Close(fd);
                        err = -cr;
                        break;
                    }
                    cur = NewNode(fd, cur, name, cst); // cur's reference becomes the child's parent reference
                    walked[done++] = HostCalls.ToQid(cst);
                    last = cst;
                    haveLast = true;
                    continue;
                }
                if (HostCalls.Stat(cur.Fd, out var st) is int sr and < 0)
                {
                    err = -sr;
                    break;
                }
                walked[done++] = HostCalls.ToQid(st);
                last = st;
                haveLast = true;
            }
            if (done < names.Length)
            {
                cur.Release();
                if (done == 0 || !partial)
                {
                    return err;
                }
                qids = walked[..done];
                return 0;
            }
            if (!haveLast && !partial && HostCalls.Stat(cur.Fd, out last) is int lr and < 0)
            {
                cur.Release(); // Twalkgetattr of no names: the status of fid's own object
                return -lr;
            }
            qids = walked;
            if (!install)
            {
                cur.Release();
                return 0;
            }
            if (newFidId == fidId)
            {
                Node old;
                lock (fid.Lock)
                {
                    if (fid.OpenFd >= 0 && names.Length > 0)
                    {
                        cur.Release();
                        return HostCalls.EBUSY;
                    }
                    old = fid.Node;
                    fid.Node = cur;
                }
                old.Release();
            }
            else
            {
                var nf = new Fid(cur, fid.Uid);
                if (Install(newFidId, nf) is int ie and not 0)
                {
                    nf.Release();
                    return ie;
                }
            }
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    /// <summary>Rgetattr's block for a host status.</summary>
    private static P9Attr ToAttr(in StatxBuf st) => new()
    {
        Valid = P9Protocol.GetAttrBasic | ((st.Mask & Files.STATX_BTIME) != 0 ? P9Protocol.GetAttrBtime : 0),
        Qid = HostCalls.ToQid(st),
        Mode = st.Mode,
        Uid = st.Uid,
        Gid = st.Gid,
        Nlink = st.Nlink,
        Rdev = Files.MakeDev(st.RdevMajor, st.RdevMinor),
        Size = st.Size,
        BlkSize = st.Blksize,
        Blocks = st.Blocks,
        AtimeSec = (ulong)st.Atime.Sec,
        AtimeNsec = st.Atime.Nsec,
        MtimeSec = (ulong)st.Mtime.Sec,
        MtimeNsec = st.Mtime.Nsec,
        CtimeSec = (ulong)st.Ctime.Sec,
        CtimeNsec = st.Ctime.Nsec,
        BtimeSec = (ulong)st.Btime.Sec,
        BtimeNsec = st.Btime.Nsec,
    };

    private int GetAttr(ushort tag, Tgetattr m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            if (HostCalls.Stat(node.Fd, out var st) is int r and < 0)
            {
                return -r;
            }
            var attr = ToAttr(st);
            Reply(tag, new Rgetattr(attr));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int SetAttr(ushort tag, Tsetattr m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        if (ReadOnly)
        {
            fid.Release();
            return EROFS;
        }
        var node = fid.AcquireNode();
        try
        {
            var a = m.Attr;
            if ((a.Valid & P9Protocol.SetAttrMode) != 0)
            {
                int r = ChmodNode(node, a.Mode & 0xFFF);
                if (r < 0)
                {
                    return -r;
                }
            }
            if ((a.Valid & (P9Protocol.SetAttrUid | P9Protocol.SetAttrGid)) != 0)
            {
                uint uid = (a.Valid & P9Protocol.SetAttrUid) != 0 ? a.Uid : NoId;
                uint gid = (a.Valid & P9Protocol.SetAttrGid) != 0 ? a.Gid : NoId;
                if (HostCalls.Chown(node.Fd, uid, gid) is int r and < 0)
                {
                    return -r;
                }
            }
            if ((a.Valid & P9Protocol.SetAttrSize) != 0)
            {
                int r = TruncateNode(fid, node, a.Size);
                if (r < 0)
                {
                    return -r;
                }
            }
            if ((a.Valid & (P9Protocol.SetAttrAtime | P9Protocol.SetAttrMtime)) != 0)
            {
                var atime = TimeArg(a.Valid, P9Protocol.SetAttrAtime, P9Protocol.SetAttrAtimeSet, a.AtimeSec, a.AtimeNsec);
                var mtime = TimeArg(a.Valid, P9Protocol.SetAttrMtime, P9Protocol.SetAttrMtimeSet, a.MtimeSec, a.MtimeNsec);
                if (HostCalls.Utimens(node.Fd, atime, mtime) is int r and < 0)
                {
                    return -r;
                }
            }
            Reply(tag, default(Rsetattr));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private static Timespec TimeArg(uint valid, uint bit, uint setBit, ulong sec, ulong nsec)
    {
        if ((valid & bit) == 0)
        {
            return new Timespec(0, Files.UTIME_OMIT);
        }
        if ((valid & setBit) == 0)
        {
            return new Timespec(0, Files.UTIME_NOW);
        }
        // Out-of-range values reach the host as they are and get its EINVAL.
        return new Timespec((long)sec, nsec > int.MaxValue ? -1 : (long)nsec);
    }

    private int ChmodNode(Node node, uint mode)
    {
        if (node.IsSymlink)
        {
            return -HostCalls.EOPNOTSUPP;
        }
        int r = HostCalls.Chmod(node.Fd, mode);
        if (r != -HostCalls.ENOSYS)
        {
            return r;
        }
        // Kernels before 6.6 have no fchmodat2: chmod an fd opened for it instead.
        int fd = node.IsDir ? HostCalls.OpenDir(node.Fd, OpenFlags.O_RDONLY) :
            node.IsRegular ? Reopen(node, OpenFlags.O_RDONLY) : -HostCalls.EOPNOTSUPP;
        if (fd < 0)
        {
            return fd;
        }
        r = HostCalls.ChmodOpen(fd, mode);
        Unistd.Close(fd);
        return r;
    }

    private int TruncateNode(Fid fid, Node node, ulong size)
    {
        if (node.IsDir)
        {
            return -EISDIR;
        }
        if (!node.IsRegular)
        {
            return -EINVAL;
        }
        if (size > long.MaxValue)
        {
            return -HostCalls.EFBIG;
        }
        int open = fid.OpenFd;
        if (open >= 0 && (fid.OpenFlags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY)
        {
            return HostCalls.Truncate(open, (long)size);
        }
        int fd = Reopen(node, OpenFlags.O_WRONLY);
        if (fd < 0)
        {
            return fd;
        }
        int r = HostCalls.Truncate(fd, (long)size);
        Unistd.Close(fd);
        return r;
    }

    private static int SanitizeOpenFlags(uint flags, out int accmode)
    {
        accmode = (int)flags & OpenFlags.O_ACCMODE;
        return (int)flags & AllowedOpenFlags;
    }

    private int Lopen(ushort tag, Tlopen m)
    {
        int flags = SanitizeOpenFlags(m.Flags, out int acc);
        if (acc == OpenFlags.O_ACCMODE)
        {
            return EINVAL;
        }
        if (ReadOnly && (acc != OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) != 0))
        {
            return EROFS;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        int donated = -1;
        try
        {
            Qid qid;
            lock (fid.Lock)
            {
                if (fid.OpenFd >= 0 || fid.IsXattr)
                {
                    return EINVAL;
                }
                var node = fid.Node;
                int fd;
                if (node.IsDir)
                {
                    if (acc != OpenFlags.O_RDONLY)
                    {
                        return EISDIR;
                    }
                    fd = HostCalls.OpenDir(node.Fd, flags & ~(OpenFlags.O_TRUNC | OpenFlags.O_APPEND));
                }
                else if ((flags & OpenFlags.O_DIRECTORY) != 0)
                {
                    return ENOTDIR;
                }
                else if (node.IsSymlink)
                {
                    return HostCalls.ELOOP;
                }
                else if (!node.IsRegular)
                {
                    return HostCalls.EPERM; // devices, FIFOs and sockets are not opened by the gofer
                }
                else
                {
                    fd = Reopen(node, flags);
                }
                if (fd < 0)
                {
                    return -fd;
                }
                fid.OpenFd = fd;
                fid.OpenFlags = (uint)flags;
                qid = new Qid(HostCalls.QidType(node.Mode), 0, node.Ino);
                // Host-fd donation: a regular file opened for reading comes with a read-only
                // descriptor of its own (a separate open file, so the client cannot change this
                // fid's flags), letting the Sentry read with pread instead of 9P round trips.
                donated = node.IsRegular && acc == OpenFlags.O_RDONLY ? Reopen(node, OpenFlags.O_RDONLY) : -1;
            }
            ReplyWithFd(tag, new Rlopen(qid, 0), donated);
            return 0;
        }
        finally
        {
            if (donated >= 0)
            {
                Unistd.Close(donated); // the peer has its own reference now
            }
            fid.Release();
        }
    }

    private int Lcreate(ushort tag, Tlcreate m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        int flags = SanitizeOpenFlags(m.Flags, out int acc);
        if (acc == OpenFlags.O_ACCMODE)
        {
            return EINVAL;
        }
        flags = (flags & ~OpenFlags.O_DIRECTORY) | OpenFlags.O_CREAT | ((int)m.Flags & OpenFlags.O_EXCL);
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            Qid qid;
            Node dir;
            lock (fid.Lock)
            {
                if (fid.OpenFd >= 0 || fid.IsXattr)
                {
                    return EINVAL;
                }
                dir = fid.Node;
                if (!dir.IsDir)
                {
                    return ENOTDIR;
                }
                int fd = HostCalls.OpenAt(dir.Fd, m.Name, flags, m.Mode & 0xFFF);
                if (fd < 0)
                {
                    return -fd;
                }
                HostCalls.Chown(fd, fid.Uid, m.Gid); // best effort: fails harmlessly when not privileged
                int nodeFd = Unistd.Fcntl(fd, Fcntl.F_DUPFD_CLOEXEC, 0);
                if (nodeFd < 0 || HostCalls.Stat(fd, out var st) != 0)
                {
                    int e = HostCalls.Errno;
                    if (nodeFd >= 0)
                    {
                        Unistd.Close(nodeFd);
                    }
                    Unistd.Close(fd);
                    return e;
                }
                fid.Node = NewNode(nodeFd, dir, m.Name, st); // the fid's reference to dir becomes the parent reference
                fid.OpenFd = fd;
                fid.OpenFlags = (uint)flags;
                qid = HostCalls.ToQid(st);
            }
            Reply(tag, new Rlcreate(qid, 0));
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    private int Read(ushort tag, Tread m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            int count = (int)Math.Min(m.Count, _msize - P9Protocol.ReadOverhead);
            if (fid.XattrValue is { } value)
            {
                int start = m.Offset >= (ulong)value.Length ? value.Length : (int)m.Offset;
                int n = Math.Min(count, value.Length - start);
                Reply(tag, new Rread(value.AsMemory(start, n)));
                return 0;
            }
            int fd = fid.OpenFd;
            if (fd < 0 || fid.IsXattr)
            {
                return EBADF;
            }
            if (m.Offset > long.MaxValue)
            {
                return EINVAL;
            }
            byte[] frame = ArrayPool<byte>.Shared.Rent(P9Protocol.ReadOverhead + count);
            try
            {
                int n = HostCalls.Pread(fd, frame.AsSpan(P9Protocol.ReadOverhead, count), (long)m.Offset);
                if (n < 0)
                {
                    return -n;
                }
                int size = P9Protocol.ReadOverhead + n;
                WriteHeader(frame, size, P9MessageType.Rread, tag);
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(P9Protocol.HeaderSize), (uint)n);
                Send(frame.AsSpan(0, size));
                return 0;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
        finally
        {
            fid.Release();
        }
    }

    private int Write(ushort tag, Twrite m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            if (fid.XattrName is not null)
            {
                lock (fid.Lock)
                {
                    var buf = fid.XattrBuffer!;
                    if (m.Offset > (ulong)buf.Length || (ulong)m.Data.Length > (ulong)buf.Length - m.Offset)
                    {
                        return EINVAL;
                    }
                    m.Data.Span.CopyTo(buf.AsSpan((int)m.Offset));
                    fid.XattrWritten = Math.Max(fid.XattrWritten, (int)m.Offset + m.Data.Length);
                }
                Reply(tag, new Rwrite((uint)m.Data.Length));
                return 0;
            }
            if (ReadOnly)
            {
                return EROFS;
            }
            int fd = fid.OpenFd;
            if (fd < 0 || fid.IsXattr)
            {
                return EBADF;
            }
            if (m.Offset > long.MaxValue)
            {
                return EINVAL;
            }
            int n = HostCalls.Pwrite(fd, m.Data.Span, (long)m.Offset);
            if (n < 0)
            {
                return -n;
            }
            Reply(tag, new Rwrite((uint)n));
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    private int Clunk(ushort tag, Tclunk m)
    {
        var fid = Remove(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        int err = 0;
        try
        {
            if (fid.XattrName is not null)
            {
                err = ApplyXattr(fid);
            }
        }
        finally
        {
            fid.Release();
        }
        if (err != 0)
        {
            return err;
        }
        Reply(tag, default(Rclunk));
        return 0;
    }

    private int RemoveFile(ushort tag, Tremove m)
    {
        var fid = Remove(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            if (ReadOnly)
            {
                return EROFS;
            }
            if (fid.IsXattr)
            {
                return EINVAL;
            }
            var parent = ParentOf(node, out string name);
            if (parent is null)
            {
                return HostCalls.EBUSY;
            }
            try
            {
                int r = CheckSame(parent.Fd, name, node);
                if (r == 0)
                {
                    r = HostCalls.Unlink(parent.Fd, name, node.IsDir ? OpenFlags.AT_REMOVEDIR : 0);
                }
                if (r < 0)
                {
                    return -r;
                }
            }
            finally
            {
                parent.Release();
            }
            Reply(tag, default(Rremove));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int Readdir(ushort tag, Treaddir m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            int fd = fid.OpenFd;
            if (fd < 0)
            {
                return EBADF;
            }
            if (!fid.Node.IsDir)
            {
                return ENOTDIR;
            }
            if (m.Offset > long.MaxValue)
            {
                return EINVAL;
            }
            int count = (int)Math.Min(m.Count, _msize - P9Protocol.ReadOverhead);
            byte[] frame = ArrayPool<byte>.Shared.Rent(P9Protocol.ReadOverhead + count);
            byte[] scratch = ArrayPool<byte>.Shared.Rent(Math.Clamp(count, 4096, 65536));
            try
            {
                var data = frame.AsSpan(P9Protocol.ReadOverhead, count);
                int pos = 0;
                bool full = false;
                lock (fid.DirLock)
                {
                    if (HostCalls.Seek(fd, (long)m.Offset) is int sr and < 0)
                    {
                        return -sr;
                    }
                    while (!full)
                    {
                        int n = HostCalls.Getdents(fd, scratch);
                        if (n < 0)
                        {
                            if (pos == 0)
                            {
                                return -n;
                            }
                            break;
                        }
                        if (n == 0)
                        {
                            break;
                        }
                        full = PackDirents(scratch.AsSpan(0, n), data, ref pos);
                    }
                }
                if (full && pos == 0)
                {
                    return EINVAL; // count too small for a single entry
                }
                int size = P9Protocol.ReadOverhead + pos;
                WriteHeader(frame, size, P9MessageType.Rreaddir, tag);
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(P9Protocol.HeaderSize), (uint)pos);
                Send(frame.AsSpan(0, size));
                return 0;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
        finally
        {
            fid.Release();
        }
    }

    /// <summary>Converts linux_dirent64 records to 9P dirents (skipping "." and ".."); true once
    /// one did not fit.</summary>
    private static bool PackDirents(ReadOnlySpan<byte> raw, Span<byte> dest, ref int pos)
    {
        int off = 0;
        while (off + 19 < raw.Length)
        {
            ulong ino = BinaryPrimitives.ReadUInt64LittleEndian(raw[off..]);
            ulong doff = BinaryPrimitives.ReadUInt64LittleEndian(raw[(off + 8)..]);
            int reclen = BinaryPrimitives.ReadUInt16LittleEndian(raw[(off + 16)..]);
            if (reclen < 20 || off + reclen > raw.Length)
            {
                break;
            }
            byte dtype = raw[off + 18];
            var name = raw.Slice(off + 19, reclen - 19);
            int nul = name.IndexOf((byte)0);
            if (nul >= 0)
            {
                name = name[..nul];
            }
            off += reclen;
            if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
            {
                continue;
            }
            var qid = new Qid(HostCalls.QidTypeFromDirent(dtype), 0, ino);
            if (!P9Dirents.TryEncode(dest, ref pos, qid, doff, dtype, name))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Runs <paramref name="op"/> on the directory node of <paramref name="dirFid"/>.</summary>
    private int WithDir(uint dirFid, Func<Node, int> op)
    {
        var fid = Acquire(dirFid);
        if (fid is null)
        {
            return EBADF;
        }
        var dir = fid.AcquireNode();
        try
        {
            return !dir.IsDir ? ENOTDIR : op(dir);
        }
        finally
        {
            dir.Release();
            fid.Release();
        }
    }

    private uint FidUid(uint id)
    {
        var fid = Acquire(id);
        if (fid is null)
        {
            return NoId;
        }
        uint uid = fid.Uid;
        fid.Release();
        return uid;
    }

    private int Mkdir(ushort tag, Tmkdir m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        uint uid = FidUid(m.DirFid);
        return WithDir(m.DirFid, dir =>
        {
            if (HostCalls.Mkdir(dir.Fd, m.Name, m.Mode & 0xFFF) is int r and < 0)
            {
                return -r;
            }
            HostCalls.ChownAt(dir.Fd, m.Name, uid, m.Gid);
            if (HostCalls.StatAt(dir.Fd, m.Name, out var st) is int sr and < 0)
            {
                return -sr;
            }
            Reply(tag, new Rmkdir(HostCalls.ToQid(st)));
            return 0;
        });
    }

    private int Symlink(ushort tag, Tsymlink m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        if (m.Target.Length == 0 || m.Target.Contains('\0'))
        {
            return m.Target.Length == 0 ? HostCalls.ENOENT : EINVAL;
        }
        if (System.Text.Encoding.UTF8.GetByteCount(m.Target) >= Files.PATH_MAX)
        {
            return HostCalls.ENAMETOOLONG;
        }
        uint uid = FidUid(m.DirFid);
        return WithDir(m.DirFid, dir =>
        {
            if (HostCalls.Symlink(m.Target, dir.Fd, m.Name) is int r and < 0)
            {
                return -r;
            }
            HostCalls.ChownAt(dir.Fd, m.Name, uid, m.Gid);
            if (HostCalls.StatAt(dir.Fd, m.Name, out var st) is int sr and < 0)
            {
                return -sr;
            }
            Reply(tag, new Rsymlink(HostCalls.ToQid(st)));
            return 0;
        });
    }

    private int Mknod(ushort tag, Tmknod m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        uint mode = m.Mode & (StatMode.S_IFMT | 0xFFF);
        switch (mode & StatMode.S_IFMT)
        {
            case 0:
                mode |= StatMode.S_IFREG;
                break;
            case StatMode.S_IFREG:
            case StatMode.S_IFIFO:
            case StatMode.S_IFSOCK:
                break;
            case StatMode.S_IFCHR:
            case StatMode.S_IFBLK:
                return HostCalls.EPERM; // no device nodes in a sandbox's file system
            default:
                return EINVAL;
        }
        uint uid = FidUid(m.DirFid);
        return WithDir(m.DirFid, dir =>
        {
            if (HostCalls.Mknod(dir.Fd, m.Name, mode, 0) is int r and < 0)
            {
                return -r;
            }
            HostCalls.ChownAt(dir.Fd, m.Name, uid, m.Gid);
            if (HostCalls.StatAt(dir.Fd, m.Name, out var st) is int sr and < 0)
            {
                return -sr;
            }
            Reply(tag, new Rmknod(HostCalls.ToQid(st)));
            return 0;
        });
    }

    private int Readlink(ushort tag, Treadlink m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            if (!node.IsSymlink)
            {
                return EINVAL;
            }
            byte[] frame = ArrayPool<byte>.Shared.Rent(P9Protocol.HeaderSize + 2 + Files.PATH_MAX);
            try
            {
                int n = HostCalls.Readlink(node.Fd, frame.AsSpan(P9Protocol.HeaderSize + 2, Files.PATH_MAX));
                if (n < 0)
                {
                    return -n;
                }
                int size = P9Protocol.HeaderSize + 2 + n;
                WriteHeader(frame, size, P9MessageType.Rreadlink, tag);
                BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(P9Protocol.HeaderSize), (ushort)n);
                Send(frame.AsSpan(0, size));
                return 0;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int Link(ushort tag, Tlink m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        var fileFid = Acquire(m.Fid);
        if (fileFid is null)
        {
            return EBADF;
        }
        var file = fileFid.AcquireNode();
        try
        {
            if (file.IsDir)
            {
                return HostCalls.EPERM;
            }
            return WithDir(m.DirFid, dir =>
            {
                var parent = ParentOf(file, out string name);
                if (parent is null)
                {
                    return HostCalls.EPERM;
                }
                try
                {
                    int r = CheckSame(parent.Fd, name, file);
                    if (r == 0)
                    {
                        r = HostCalls.Link(parent.Fd, name, dir.Fd, m.Name);
                    }
                    if (r < 0)
                    {
                        return -r;
                    }
                }
                finally
                {
                    parent.Release();
                }
                Reply(tag, default(Rlink));
                return 0;
            });
        }
        finally
        {
            file.Release();
            fileFid.Release();
        }
    }

    /// <summary>renameat under the tree lock, then re-parents the nodes that stood for the moved
    /// file so that their ".." and re-opens follow it. 0 or -errno.</summary>
    private int RenameNodes(Node oldDir, string oldName, Node newDir, string newName)
    {
        var released = new List<Node>();
        lock (Tree)
        {
            if (HostCalls.StatAt(oldDir.Fd, oldName, out var st) is int sr and < 0)
            {
                return sr;
            }
            if (HostCalls.Rename(oldDir.Fd, oldName, newDir.Fd, newName) is int r and < 0)
            {
                return r;
            }
            ulong dev = HostCalls.Dev(st);
            foreach (var node in Nodes)
            {
                var p = node.Parent;
                if (p is not null && node.Ino == st.Ino && node.Dev == dev && node.Name == oldName &&
                    p.Ino == oldDir.Ino && p.Dev == oldDir.Dev)
                {
                    newDir.AddRef();
                    node.Parent = newDir;
                    node.Name = newName;
                    released.Add(p);
                }
            }
        }
        foreach (var p in released)
        {
            p.Release();
        }
        return 0;
    }

    private int RenameAt(ushort tag, Trenameat m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.OldName) is int e1 and not 0)
        {
            return e1;
        }
        if (HostCalls.CheckEntryName(m.NewName) is int e2 and not 0)
        {
            return e2;
        }
        return WithDir(m.OldDirFid, oldDir => WithDir(m.NewDirFid, newDir =>
        {
            if (RenameNodes(oldDir, m.OldName, newDir, m.NewName) is int r and < 0)
            {
                return -r;
            }
            Reply(tag, default(Rrenameat));
            return 0;
        }));
    }

    private int Rename(ushort tag, Trename m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            var parent = ParentOf(node, out string name);
            if (parent is null)
            {
                return HostCalls.EBUSY;
            }
            try
            {
                return WithDir(m.DirFid, newDir =>
                {
                    int r = CheckSame(parent.Fd, name, node);
                    if (r == 0)
                    {
                        r = RenameNodes(parent, name, newDir, m.Name);
                    }
                    if (r < 0)
                    {
                        return -r;
                    }
                    Reply(tag, default(Rrename));
                    return 0;
                });
            }
            finally
            {
                parent.Release();
            }
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int UnlinkAt(ushort tag, Tunlinkat m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (HostCalls.CheckEntryName(m.Name) is int ne and not 0)
        {
            return ne;
        }
        if ((m.Flags & ~(uint)OpenFlags.AT_REMOVEDIR) != 0)
        {
            return EINVAL;
        }
        return WithDir(m.DirFid, dir =>
        {
            if (HostCalls.Unlink(dir.Fd, m.Name, (int)m.Flags) is int r and < 0)
            {
                return -r;
            }
            Reply(tag, default(Runlinkat));
            return 0;
        });
    }

    private int Statfs(ushort tag, Tstatfs m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            if (HostCalls.Statfs(node.Fd, out var st) is int r and < 0)
            {
                return -r;
            }
            Reply(tag, new Rstatfs(new P9Statfs
            {
                Type = (uint)st.Type,
                BSize = (uint)st.Bsize,
                Blocks = (ulong)st.Blocks,
                BFree = (ulong)st.Bfree,
                BAvail = (ulong)st.Bavail,
                Files = (ulong)st.Files,
                FFree = (ulong)st.Ffree,
                FsId = HostCalls.FsId(st),
                NameLen = (uint)st.Namelen,
            }));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int Fsync(ushort tag, Tfsync m)
    {
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            int fd = fid.OpenFd;
            bool temp = false;
            if (fd < 0)
            {
                if (!node.IsDir)
                {
                    return EBADF;
                }
                fd = HostCalls.OpenDir(node.Fd, OpenFlags.O_RDONLY);
                if (fd < 0)
                {
                    return -fd;
                }
                temp = true;
            }
            int r = HostCalls.Fsync(fd, m.DataSync != 0);
            if (temp)
            {
                Unistd.Close(fd);
            }
            if (r < 0)
            {
                return -r;
            }
            Reply(tag, default(Rfsync));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    /// <summary>An fd on which f*xattr calls work for the fid's file: its open fd, or a temporary
    /// one (closed by the caller when <paramref name="temp"/>).</summary>
    private int XattrFd(Fid fid, Node node, out bool temp)
    {
        temp = false;
        int fd = fid.OpenFd;
        if (fd >= 0)
        {
            return fd;
        }
        temp = true;
        return node.IsDir ? HostCalls.OpenDir(node.Fd, OpenFlags.O_RDONLY) :
            node.IsRegular ? Reopen(node, OpenFlags.O_RDONLY) : -HostCalls.EOPNOTSUPP;
    }

    private int XattrWalk(ushort tag, Txattrwalk m)
    {
        if (m.Name.Contains('\0'))
        {
            return EINVAL;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        var node = fid.AcquireNode();
        try
        {
            if (fid.IsXattr)
            {
                return EINVAL;
            }
            if (FidInUse(m.NewFid) && m.NewFid != m.Fid)
            {
                return EEXIST;
            }
            if (m.NewFid == m.Fid)
            {
                return EINVAL;
            }
            int fd = XattrFd(fid, node, out bool temp);
            if (fd < 0)
            {
                return -fd;
            }
            int r = HostCalls.GetXattr(fd, m.Name, out byte[] value);
            if (temp)
            {
                Unistd.Close(fd);
            }
            if (r < 0)
            {
                return -r;
            }
            if (!ReserveXattr(value.Length))
            {
                return HostCalls.ENOSPC;
            }
            node.AddRef();
            var xf = new Fid(node, fid.Uid) { XattrValue = value, XattrReserved = value.Length };
            if (Install(m.NewFid, xf) is int ie and not 0)
            {
                Interlocked.Add(ref _xattrBytes, -value.Length);
                xf.Release();
                return ie;
            }
            Reply(tag, new Rxattrwalk((ulong)value.Length));
            return 0;
        }
        finally
        {
            node.Release();
            fid.Release();
        }
    }

    private int XattrCreate(ushort tag, Txattrcreate m)
    {
        if (ReadOnly)
        {
            return EROFS;
        }
        if (m.Name.Length == 0 || m.Name.Contains('\0') || (m.Flags & ~(P9Protocol.XattrCreate | P9Protocol.XattrReplace)) != 0)
        {
            return EINVAL;
        }
        if (m.Size > Files.XATTR_SIZE_MAX)
        {
            return HostCalls.E2BIG;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            lock (fid.Lock)
            {
                if (fid.IsXattr || fid.OpenFd >= 0)
                {
                    return EINVAL;
                }
                if (!ReserveXattr((int)m.Size))
                {
                    return HostCalls.ENOSPC;
                }
                fid.XattrReserved = (int)m.Size;
                fid.XattrName = m.Name;
                fid.XattrFlags = m.Flags;
                fid.XattrBuffer = new byte[m.Size];
                fid.XattrWritten = 0;
            }
            Reply(tag, default(Rxattrcreate));
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    /// <summary>Sets (or, for size 0, removes) the attribute of an xattr-create fid being clunked.</summary>
    private int ApplyXattr(Fid fid)
    {
        string name;
        byte[] value;
        lock (fid.Lock)
        {
            name = fid.XattrName!;
            value = fid.XattrBuffer!;
            if (fid.XattrWritten != value.Length)
            {
                return EINVAL;
            }
        }
        var node = fid.AcquireNode();
        try
        {
            int fd = XattrFd(fid, node, out bool temp);
            if (fd < 0)
            {
                return -fd;
            }
            int r = value.Length == 0 ? HostCalls.RemoveXattr(fd, name) : HostCalls.SetXattr(fd, name, value, (int)fid.XattrFlags);
            if (temp)
            {
                Unistd.Close(fd);
            }
            return -r;
        }
        finally
        {
            node.Release();
        }
    }

    private static int ToFlock(in P9Lock lk, out Files.Flock fl)
    {
        fl = default;
        if (lk.Type > P9Protocol.LockTypeUnlock || lk.Start > long.MaxValue || lk.Length > long.MaxValue)
        {
            return EINVAL;
        }
        fl.Type = lk.Type; // P9 lock types equal F_RDLCK/F_WRLCK/F_UNLCK
        fl.Whence = 0;
        fl.Start = (long)lk.Start;
        fl.Len = (long)lk.Length;
        fl.Pid = 0; // open file description locks: one owner per fid
        return 0;
    }

    private int Lock(ushort tag, Tlock m)
    {
        if (ToFlock(m.Lock, out var fl) is int e and not 0)
        {
            return e;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            int fd = fid.OpenFd;
            if (fd < 0)
            {
                return EBADF;
            }
            int r = HostCalls.Lock(fd, Files.F_OFD_SETLK, ref fl);
            byte status;
            if (r == 0)
            {
                status = P9Protocol.LockSuccess;
            }
            else if (r == -HostCalls.EAGAIN || r == -HostCalls.EACCES)
            {
                status = P9Protocol.LockBlocked; // never block a worker: the client retries
            }
            else
            {
                return -r;
            }
            Reply(tag, new Rlock(status));
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    private int GetLock(ushort tag, Tgetlock m)
    {
        if (ToFlock(m.Lock, out var fl) is int e and not 0)
        {
            return e;
        }
        if (fl.Type == Files.F_UNLCK)
        {
            return EINVAL;
        }
        var fid = Acquire(m.Fid);
        if (fid is null)
        {
            return EBADF;
        }
        try
        {
            int fd = fid.OpenFd;
            if (fd < 0)
            {
                return EBADF;
            }
            if (HostCalls.Lock(fd, Files.F_OFD_GETLK, ref fl) is int r and < 0)
            {
                return -r;
            }
            var result = m.Lock with
            {
                Type = (byte)fl.Type,
                Flags = 0,
                Start = fl.Type == Files.F_UNLCK ? m.Lock.Start : (ulong)fl.Start,
                Length = fl.Type == Files.F_UNLCK ? m.Lock.Length : (ulong)fl.Len,
            };
            Reply(tag, new Rgetlock(result));
            return 0;
        }
        finally
        {
            fid.Release();
        }
    }

    private int Flush(ushort tag, Tflush m)
    {
        // Requests are not cancelled: each one still gets its reply; Rflush says the old tag
        // may be reused once that reply (if any) has been read.
        _ = m.OldTag;
        Reply(tag, default(Rflush));
        return 0;
    }
}
