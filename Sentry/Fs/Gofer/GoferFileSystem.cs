using Microsoft.Win32.SafeHandles;
using Sandbox.Abi;
using Sandbox.Gofer.P9;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Fs.Gofer;

/// <summary>A file system served by a Gofer over 9P2000.L. Metadata comes from Tgetattr and is
/// cached in the inodes (the Gofer's tree is the sandbox's alone, so the cache stays valid);
/// file data of read-only mounts is cached in chunks, which doubles as read-ahead.</summary>
public sealed class GoferFileSystem : FileSystem
{
    /// <summary>P9_GETATTR_BASIC: mode, nlink, uid, gid, rdev, times, ino, size, blocks.</summary>
    internal const ulong AttrMask = 0x7ff;
    private long _cacheBudget = 512L << 20;
    private readonly Dictionary<ulong, Pipe> _fifos = [];

    public GoferFileSystem(P9Client client, bool readOnly, string aname = "/")
    {
        Client = client;
        ReadOnly = readOnly;
        int err = client.Version();
        if (err != 0) throw new IOException($"9P version negotiation failed: errno {err}");
        uint fid = client.AllocateFid();
        err = client.Attach(fid, "root", 0, aname, out _);
        if (err != 0) throw new IOException($"9P attach to '{aname}' failed: errno {err}");
        err = client.GetAttr(fid, AttrMask, out P9Attr attr);
        if (err != 0) throw new IOException($"9P getattr of the root failed: errno {err}");
        Root = new GoferInode(this, fid, attr);
    }

    public P9Client Client { get; }
    public bool ReadOnly { get; }
    public override string Type => "9p";
    public override long Magic => 0x01021997;
    public override Inode Root { get; }

    /// <summary>The sandbox's own pipe for a FIFO of the served tree, by inode number: opening
    /// the FIFO never reaches the host (the Gofer would block on it, and a host peer is not the
    /// sandbox's business), but every opener in the sandbox shares one pipe, whichever inode
    /// object the lookup produced. A pipe without openers holds no buffer.</summary>
    internal Pipe FifoPipe(ulong ino)
    {
        lock (_fifos)
        {
            if (!_fifos.TryGetValue(ino, out var pipe)) _fifos[ino] = pipe = new Pipe();
            return pipe;
        }
    }

    /// <summary>Regular files whose lookup fid was kept for an open that usually follows
    /// (openat, exec, dlopen), oldest first. Bounded, so the Gofer holds at most this many
    /// descriptors for files looked up but not opened.</summary>
    private readonly Queue<GoferInode> _spares = new();
    private const int MaxSpares = 32;

    /// <summary>Records that <paramref name="inode"/> keeps a spare fid; past the bound the oldest
    /// spare is given back.</summary>
    internal void AddSpare(GoferInode inode)
    {
        GoferInode? evict = null;
        lock (_spares)
        {
            _spares.Enqueue(inode);
            if (_spares.Count > MaxSpares) evict = _spares.Dequeue();
        }
        evict?.DropSpare();
    }

    /// <summary>Files and directories of a read-only mount that nobody has open but that keep
    /// their opened fid (and donated descriptor) for the next open, oldest first: the same
    /// program, library or module opened again (every exec of a shell loop, every import of
    /// a second Python) then costs no walk and no Tlopen. Bounded, so the Gofer holds at most
    /// this many descriptors for files no description uses.</summary>
    private readonly Queue<GoferInode> _idle = new();
    private const int MaxIdle = 64;

    /// <summary>Queues an inode that just became idle; past the bound the oldest one is closed
    /// (unless it was opened again meanwhile).</summary>
    internal void AddIdle(GoferInode inode)
    {
        GoferInode? evict = null;
        lock (_idle)
        {
            _idle.Enqueue(inode);
            if (_idle.Count > MaxIdle) evict = _idle.Dequeue();
        }
        evict?.EvictIdle();
    }

    /// <summary>Takes bytes from the page-cache budget; false when the cache is full.</summary>
    internal bool ReserveCache(long bytes) => Interlocked.Add(ref _cacheBudget, -bytes) >= 0 || Undo(bytes);

    private bool Undo(long bytes)
    {
        Interlocked.Add(ref _cacheBudget, bytes);
        return false;
    }

    public override long StatFs(out StatFs st)
    {
        st = default;
        int err = Client.Statfs(((GoferInode)Root).Fid, out P9Statfs s);
        if (err != 0) return -err;
        st = new StatFs
        {
            Type = Magic,
            Bsize = s.BSize,
            Frsize = s.BSize,
            Blocks = (long)s.Blocks,
            Bfree = (long)s.BFree,
            Bavail = (long)s.BAvail,
            Files = (long)s.Files,
            Ffree = (long)s.FFree,
            Namelen = s.NameLen,
        };
        return 0;
    }
}

/// <summary>A file or directory on the Gofer. Directories keep their fid (walks start there);
/// other objects get a fid for the duration of each operation, so the Gofer's descriptor
/// count stays bounded by the directories in use.</summary>
public sealed class GoferInode : Inode
{
    private const int ChunkSize = 256 * 1024;
    private readonly GoferFileSystem _fs;
    private readonly GoferInode? _parent;
    private readonly string _name;
    private uint _dirFid;
    private long _size;
    private ulong _blocks;
    private readonly Dictionary<long, byte[]> _chunks = [];
    private uint _readFid;
    /// <summary>The host descriptor the Gofer donated with the read fid (read-only), or null:
    /// reads then are a pread on the host instead of 9P round trips. A SafeHandle, so that a
    /// read racing with the last close never touches a reused descriptor number.</summary>
    private SafeFileHandle? _hostFile;
    private int _openFiles;

    /// <summary>An open description uses this file (keeps the shared read fid alive).</summary>
    internal void OpenRef()
    {
        lock (_chunks) _openFiles++;
    }

    /// <summary>The last description closed: on a read-only mount the read fid waits in the
    /// file system's idle queue for the next open (the content it reads is the host file's,
    /// live; the name was revalidated by the path walk that opens it again); elsewhere it goes
    /// back to the Gofer at once.</summary>
    internal void CloseRef()
    {
        lock (_chunks)
        {
            if (--_openFiles > 0 || _readFid == 0) return;
            if (!_fs.ReadOnly)
            {
                DropReadFid();
                return;
            }
            if (_idleQueued) return;
            _idleQueued = true;
        }
        _fs.AddIdle(this);
    }

    /// <summary>In the file system's idle queue. Under _chunks.</summary>
    private bool _idleQueued;

    /// <summary>Out of the idle queue: closes what no open description uses.</summary>
    internal void EvictIdle()
    {
        lock (_chunks)
        {
            _idleQueued = false;
            if (_openFiles == 0 && _readFid != 0) DropReadFid();
            if (_listFid != 0)
            {
                Clunk(_listFid);
                _listFid = 0;
            }
        }
    }

    /// <summary>A directory's fid opened for Treaddir, kept (read-only mounts) while the
    /// directory is in the idle queue: each Treaddir names its offset, so a listing from 0 on
    /// it reads the host directory as it is now. Under _chunks (held for the whole listing).</summary>
    private uint _listFid;

    internal GoferInode(GoferFileSystem fs, uint dirFid, P9Attr attr) : this(fs, null, "", attr)
    {
        _dirFid = dirFid;
    }

    private GoferInode(GoferFileSystem fs, GoferInode? parent, string name, P9Attr attr)
        : base(fs, attr.Mode, attr.Uid, attr.Gid, attr.Qid.Path)
    {
        _fs = fs;
        _parent = parent;
        _name = name;
        Apply(attr);
    }

    private P9Client Client => _fs.Client;

    /// <summary>The directory fid (directories only).</summary>
    internal uint Fid => _dirFid;

    /// <summary>How long a lookup is trusted before the Gofer is asked again.</summary>
    private const long RevalidateAfterMs = 1000;
    private long _validatedAt = Environment.TickCount64;

    /// <summary>Re-walks the name from the parent directory: gone or replaced on the host means
    /// invalid; otherwise the attributes are refreshed (and cached data dropped if the file
    /// changed).</summary>
    public override bool Revalidate()
    {
        if (_parent == null || Environment.TickCount64 - _validatedAt < RevalidateAfterMs) return true;
        // One round trip that installs no fid (nothing to clunk).
        int err = Client.WalkGetAttr(_parent._dirFid, P9Protocol.NoFid, [_name], out P9Attr attr);
        if (err != 0 || attr.Qid.Path != Ino || (attr.Mode & S_IFMT) != Type) return false;
        if ((long)attr.Size != Size || (long)attr.MtimeSec != Mtime.Sec || (long)attr.MtimeNsec != Mtime.Nsec)
            lock (_chunks) _chunks.Clear();
        // A symlink's target never changes in place; a changed ctime means the inode number was
        // reused for another link. (Fids kept open for the next open need no such check: an
        // open fid pins its inode on the host, so its number cannot go to another object.)
        if ((long)attr.CtimeSec != Ctime.Sec || (long)attr.CtimeNsec != Ctime.Nsec) _linkTarget = null;
        Apply(attr);
        _validatedAt = Environment.TickCount64;
        return true;
    }

    private void Apply(in P9Attr a)
    {
        Mode = a.Mode;
        Uid = a.Uid;
        Gid = a.Gid;
        Nlink = (uint)a.Nlink;
        Rdev = a.Rdev;
        _size = (long)a.Size;
        _blocks = a.Blocks;
        Atime = new Timespec((long)a.AtimeSec, (long)a.AtimeNsec);
        Mtime = new Timespec((long)a.MtimeSec, (long)a.MtimeNsec);
        Ctime = new Timespec((long)a.CtimeSec, (long)a.CtimeNsec);
    }

    public override long Size => Interlocked.Read(ref _size);

    /// <summary>Changes made through this client move the mtime (TouchModified), changes on the
    /// host are seen by revalidation, which refreshes size and mtime.</summary>
    public override bool ContentIsStable => true;

    public override long BlocksUsed => (long)_blocks;

    /// <summary>Walks a new fid to this object (from the parent directory's fid).</summary>
    private long WalkHere(out uint fid)
    {
        fid = Client.AllocateFid();
        int err = _parent == null
            ? Client.Walk(_dirFid, fid, [], out _)
            : Client.Walk(_parent._dirFid, fid, [_name], out _);
        if (err == 0) return 0;
        Client.ReleaseFid(fid);
        return -err;
    }

    /// <summary>Clunks without waiting for the reply (nothing here would act on its outcome);
    /// the fid number is reused only once the Gofer has answered.</summary>
    private void Clunk(uint fid) => Client.ClunkAndRelease(fid);

    /// <summary>Names the Gofer said do not exist here, with when (negative dentries): asked
    /// again only after <see cref="RevalidateAfterMs"/>, as found names are revalidated. Names
    /// created through this client are forgotten at once. (PATH searches, Python's imports and
    /// compilers' include paths probe many names that are not there.)</summary>
    private readonly Dictionary<string, long> _absent = [];
    private const int MaxAbsent = 4096;
    /// <summary>_absent's size, kept here: Dictionary&lt;string, long&gt;.Count has no precompiled copy.</summary>
    private int _absentCount;

    /// <summary>Bumped by every name this client adds here: a lookup that raced with it does
    /// not record its (stale) ENOENT.</summary>
    private long _namesAdded;

    private void ForgetAbsent(string name)
    {
        lock (_absent)
        {
            _namesAdded++;
            if (_absent.Remove(name)) _absentCount--;
        }
    }

    public override long Lookup(string name, out Inode? child)
    {
        child = null;
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        long generation;
        lock (_absent)
        {
            if (_absent.TryGetValue(name, out long at) && Environment.TickCount64 - at < RevalidateAfterMs)
                return -(long)Errno.ENOENT;
            generation = _namesAdded;
        }
        uint fid = Client.AllocateFid();
        // Twalkgetattr: the walk and the attributes in one round trip.
        int err = Client.WalkGetAttr(_dirFid, fid, [name], out P9Attr attr);
        if (err == (int)Errno.ENOENT)
        {
            lock (_absent)
            {
                if (_absentCount >= MaxAbsent)
                {
                    _absent.Clear();
                    _absentCount = 0;
                }
                if (generation == _namesAdded)
                {
                    if (!_absent.TryGetValue(name, out _)) _absentCount++;
                    _absent[name] = Environment.TickCount64;
                }
            }
        }
        if (err != 0) { Client.ReleaseFid(fid); return -err; }
        var node = new GoferInode(_fs, this, name, attr);
        switch (attr.Mode & S_IFMT)
        {
            case S_IFDIR:
                node.SetDirFid(fid);
                break;
            case S_IFLNK:
                // A path walk reads the link next: read it now, while the fid is there.
                if (Client.Readlink(fid, out string target) == 0) node._linkTarget = target;
                Clunk(fid);
                break;
            case S_IFREG:
                // Kept for the open that usually follows the lookup (saves its walk).
                node._spareFid = fid;
                node._spareAt = Environment.TickCount64;
                _fs.AddSpare(node);
                break;
            default:
                Clunk(fid);
                break;
        }
        child = node;
        return 0;
    }

    private void SetDirFid(uint fid) => _dirFid = fid;

    public override long ReadDir(List<DirEntry> entries)
    {
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        if (!_fs.ReadOnly)
        {
            long r = OpenDirFid(out uint fid);
            if (r < 0) return r;
            r = List(fid, entries);
            Clunk(fid);
            return r;
        }
        lock (_chunks)
        {
            if (_listFid == 0)
            {
                long r = OpenDirFid(out _listFid);
                if (r < 0) return r;
            }
            long l = List(_listFid, entries);
            if (l < 0)
            {
                Clunk(_listFid);
                _listFid = 0;
                return l;
            }
            if (_idleQueued) return 0;
            _idleQueued = true; // the opened fid waits in the idle queue for the next listing
        }
        _fs.AddIdle(this);
        return 0;
    }

    private long OpenDirFid(out uint fid)
    {
        long r = WalkHere(out fid);
        if (r < 0) return r;
        int err = Client.Lopen(fid, (uint)(OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY), out _, out _);
        if (err == 0) return 0;
        Clunk(fid);
        fid = 0;
        return -err;
    }

    /// <summary>Every entry of an opened directory fid, from offset 0 (each Treaddir names its
    /// offset, so the host directory is read as it is now).</summary>
    private long List(uint fid, List<DirEntry> entries)
    {
        var batch = new List<P9Dirent>();
        ulong offset = 0;
        while (true)
        {
            batch.Clear();
            int err = Client.Readdir(fid, offset, Client.MSize, batch);
            if (err != 0) return -err;
            if (batch.Count == 0) return 0;
            foreach (var d in batch)
                if (d.Name is not "." and not "..") entries.Add(new DirEntry(d.Name, d.Qid.Path, d.Type));
            offset = batch[^1].Offset;
        }
    }

    /// <summary>A symlink's target, read once (at lookup) and kept while the inode is valid: a
    /// target never changes in place, and revalidation drops it if the inode was reused. (Paths
    /// through /lib, /bin and /sbin of a merged-/usr system each follow a link.)</summary>
    private volatile string? _linkTarget;

    public override long ReadLink(out string target)
    {
        target = "";
        if (!IsSymlink) return -(long)Errno.EINVAL;
        if (_linkTarget is { } cached)
        {
            target = cached;
            return 0;
        }
        long r = WalkHere(out uint fid);
        if (r < 0) return r;
        int err = Client.Readlink(fid, out target);
        Clunk(fid);
        if (err == 0) _linkTarget = target;
        return -err;
    }

    /// <summary>The fid of the lookup that made this inode (regular files), until an open takes
    /// it or <see cref="GoferFileSystem.AddSpare"/> evicts it; 0 when there is none. Under _chunks.</summary>
    private uint _spareFid;
    private long _spareAt;

    /// <summary>Gives the spare fid back (evicted).</summary>
    internal void DropSpare()
    {
        lock (_chunks)
        {
            if (_spareFid == 0) return;
            Clunk(_spareFid);
            _spareFid = 0;
        }
    }

    /// <summary>A fid of this file: the spare one if it is recent (it names the object this
    /// inode describes, which is trusted for the revalidation period), else a new walk.</summary>
    private long TakeFid(out uint fid)
    {
        lock (_chunks)
        {
            fid = _spareFid;
            if (fid != 0)
            {
                _spareFid = 0;
                if (Environment.TickCount64 - _spareAt < RevalidateAfterMs) return 0;
                Clunk(fid);
            }
        }
        return WalkHere(out fid);
    }

    /// <summary>A fid opened for reading, shared by every reader of this file, and the host
    /// descriptor donated with it (null if the Gofer sent none), referenced for the caller,
    /// who releases it.</summary>
    private long ReadFid(out uint fid, out SafeFileHandle? hostFile)
    {
        hostFile = null;
        lock (_chunks)
        {
            fid = _readFid;
            if (fid == 0)
            {
                long r = TakeFid(out fid);
                if (r < 0) return r;
                int err = Client.Lopen(fid, OpenFlags.O_RDONLY, out _, out _, out int hostFd);
                if (err != 0) { Clunk(fid); return -err; }
                _readFid = fid;
                _hostFile = hostFd >= 0 ? new SafeFileHandle(hostFd, ownsHandle: true) : null;
            }
            if (_hostFile != null)
            {
                bool added = false;
                _hostFile.DangerousAddRef(ref added);
                hostFile = _hostFile;
            }
            return 0;
        }
    }

    /// <summary>Gives the read fid back to the Gofer and lets go of the donated descriptor
    /// (closed once no read uses it). Called under the _chunks lock.</summary>
    private void DropReadFid()
    {
        Clunk(_readFid);
        _readFid = 0;
        _hostFile?.Dispose();
        _hostFile = null;
    }

    /// <summary>Reads file data, through the chunk cache on read-only mounts.</summary>
    public override long ReadData(long offset, Span<byte> dst)
    {
        if (IsDirectory) return -(long)Errno.EISDIR;
        if (offset < 0) return -(long)Errno.EINVAL;
        long r = ReadFid(out uint fid, out SafeFileHandle? hostFile);
        if (r < 0) return r;
        try
        {
            return hostFile != null ? ReadHost(hostFile, offset, dst) : ReadThrough(fid, offset, dst);
        }
        finally
        {
            ReadDone(hostFile);
        }
    }

    /// <summary>Reads file data straight into a reader's buffers: with a donated descriptor, a
    /// pread into guest memory; else through a pooled buffer.</summary>
    internal long ReadTo(IoBuffers dst, long offset)
    {
        if (IsDirectory) return -(long)Errno.EISDIR;
        if (offset < 0) return -(long)Errno.EINVAL;
        if (dst.Length == 0) return 0;
        long r = ReadFid(out uint fid, out SafeFileHandle? hostFile);
        if (r < 0) return r;
        try
        {
            if (hostFile != null) return dst.CopyOutFromFile(0, (int)hostFile.DangerousGetHandle(), offset, dst.Length);
            int length = (int)Math.Min(dst.Length, 1 << 20);
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
            try
            {
                long n = ReadThrough(fid, offset, buffer.AsSpan(0, length));
                if (n <= 0) return n;
                int copied = dst.CopyOut(0, buffer.AsSpan(0, (int)n));
                return copied == 0 ? -(long)Errno.EFAULT : copied;
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        finally
        {
            ReadDone(hostFile);
        }
    }

    private void ReadDone(SafeFileHandle? hostFile)
    {
        hostFile?.DangerousRelease();
        // Reads for the Sentry itself (exec, copy-up) keep the fid only with a donated
        // descriptor (the file cache reads a program in pieces; each piece would otherwise
        // cost a walk, an open and a clunk); the next close of the file gives both back.
        lock (_chunks)
        {
            if (_openFiles != 0 || _readFid == 0) return;
            if (_hostFile == null || !_fs.ReadOnly)
            {
                DropReadFid();
                return;
            }
            if (_idleQueued) return;
            _idleQueued = true; // bounded like closed files
        }
        _fs.AddIdle(this);
    }

    /// <summary>Reads through the donated host descriptor: the host's page cache serves it, and
    /// changes made on the host are seen at once.</summary>
    private static unsafe long ReadHost(SafeFileHandle file, long offset, Span<byte> dst)
    {
        fixed (byte* p = dst) return Sandbox.Abi.Host.Unistd.PreadFully((int)file.DangerousGetHandle(), p, dst.Length, offset);
    }

    private long ReadThrough(uint fid, long offset, Span<byte> dst)
    {
        long r;
        if (!_fs.ReadOnly)
        {
            int err = Client.Read(fid, (ulong)offset, dst, out int count);
            return err != 0 ? -err : count;
        }
        int done = 0;
        while (done < dst.Length)
        {
            long at = offset + done;
            if (at >= Size) break;
            long index = at / ChunkSize;
            r = Chunk(fid, index, out byte[]? chunk);
            if (r < 0) return done > 0 ? done : r;
            int inChunk = (int)(at % ChunkSize);
            int n = Math.Min(dst.Length - done, chunk!.Length - inChunk);
            if (n <= 0) break;
            chunk.AsSpan(inChunk, n).CopyTo(dst[done..]);
            done += n;
        }
        return done;
    }

    private long Chunk(uint fid, long index, out byte[]? chunk)
    {
        lock (_chunks)
            if (_chunks.TryGetValue(index, out chunk)) return 0;
        var buffer = new byte[(int)Math.Min(ChunkSize, Math.Max(0, Size - index * ChunkSize))];
        int err = Client.Read(fid, (ulong)(index * ChunkSize), buffer, out int count);
        if (err != 0) { chunk = null; return -err; }
        if (count < buffer.Length) Array.Resize(ref buffer, count);
        chunk = buffer;
        if (_fs.ReserveCache(buffer.Length))
            lock (_chunks) _chunks[index] = buffer;
        return 0;
    }

    // ---- changes (writable mounts; the overlay keeps read-only ones untouched) ----------------

    private long Refresh(uint fid)
    {
        int err = Client.GetAttr(fid, GoferFileSystem.AttrMask, out P9Attr attr);
        if (err != 0) return -err;
        Apply(attr);
        return 0;
    }

    public override long SetAttr(in SetAttrRequest req)
    {
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        const uint ModeBit = 1, UidBit = 2, GidBit = 4, SizeBit = 8, AtimeBit = 0x10, MtimeBit = 0x20, CtimeBit = 0x40;
        const uint AtimeSet = 0x80, MtimeSet = 0x100;
        var s = new P9SetAttr { Valid = CtimeBit };
        if (req.Mode is { } m) { s.Valid |= ModeBit; s.Mode = m; }
        if (req.Uid is { } u) { s.Valid |= UidBit; s.Uid = u; }
        if (req.Gid is { } g) { s.Valid |= GidBit; s.Gid = g; }
        if (req.Size is { } size) { s.Valid |= SizeBit; s.Size = (ulong)size; }
        if (req.Atime is { } at) { s.Valid |= AtimeBit | AtimeSet; s.AtimeSec = (ulong)at.Sec; s.AtimeNsec = (ulong)at.Nsec; }
        if (req.Mtime is { } mt) { s.Valid |= MtimeBit | MtimeSet; s.MtimeSec = (ulong)mt.Sec; s.MtimeNsec = (ulong)mt.Nsec; }
        long r = WalkHere(out uint fid);
        if (r < 0) return r;
        try
        {
            int err = Client.SetAttr(fid, s);
            return err != 0 ? -err : Refresh(fid);
        }
        finally
        {
            Clunk(fid);
        }
    }

    public override long Truncate(long size) => SetAttr(new SetAttrRequest { Size = size });

    public override long CreateChild(string name, uint mode, ulong rdev, Credentials creds, out Inode? child)
    {
        child = null;
        if (!IsDirectory) return -(long)Errno.ENOTDIR;
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        int err;
        switch (mode & S_IFMT)
        {
            case S_IFDIR:
                err = Client.Mkdir(_dirFid, name, mode & 0xfff, creds.EffectiveGid, out _);
                break;
            case S_IFREG:
                {
                    long r = WalkHere(out uint fid);
                    if (r < 0) return r;
                    err = Client.Lcreate(fid, name, (uint)(OpenFlags.O_RDWR | OpenFlags.O_EXCL), mode & 0xfff, creds.EffectiveGid, out _, out _);
                    Clunk(fid);
                    break;
                }
            default:
                var (major, minor) = DeviceRegistry.Split(rdev);
                err = Client.Mknod(_dirFid, name, mode, major, minor, creds.EffectiveGid, out _);
                break;
        }
        if (err != 0) return -err;
        ForgetAbsent(name);
        TouchModified();
        return Lookup(name, out child);
    }

    public override long CreateSymlink(string name, string target, Credentials creds, out Inode? child)
    {
        child = null;
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        int err = Client.Symlink(_dirFid, name, target, creds.EffectiveGid, out _);
        if (err != 0) return -err;
        ForgetAbsent(name);
        return Lookup(name, out child);
    }

    public override long LinkChild(string name, Inode target)
    {
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        if (target is not GoferInode g || g._fs != _fs) return -(long)Errno.EXDEV;
        long r = g.WalkHere(out uint fid);
        if (r < 0) return r;
        int err = Client.Link(_dirFid, fid, name);
        Clunk(fid);
        if (err == 0) ForgetAbsent(name);
        return -err;
    }

    public override long RemoveChild(string name, bool rmdir)
    {
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        const uint AT_REMOVEDIR = 0x200;
        return -Client.UnlinkAt(_dirFid, name, rmdir ? AT_REMOVEDIR : 0);
    }

    public override long RenameChild(string oldName, Inode newParent, string newName, uint flags)
    {
        if (_fs.ReadOnly) return -(long)Errno.EROFS;
        if (newParent is not GoferInode np || np._fs != _fs) return -(long)Errno.EXDEV;
        if (flags != 0) return -(long)Errno.EINVAL; // 9P2000.L renameat has no flags
        int err = Client.RenameAt(_dirFid, oldName, np._dirFid, newName);
        if (err == 0) np.ForgetAbsent(newName);
        return -err;
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        switch (Type)
        {
            case S_IFDIR:
                file = new DirectoryFile(path, flags);
                return 0;
            case S_IFREG:
                file = new GoferFile(this, path, flags);
                return 0;
            case S_IFCHR:
                return DeviceRegistry.Open(task, path, Rdev, flags, out file);
            case S_IFIFO:
                return _fs.FifoPipe(Ino).OpenNamed(task, path, flags, out file);
            default:
                return -(long)Errno.ENXIO;
        }
    }

    /// <summary>A fid opened with the given flags, for a writing description.</summary>
    internal long OpenFid(int flags, out uint fid)
    {
        long r = TakeFid(out fid);
        if (r < 0) return r;
        int err = Client.Lopen(fid, (uint)(flags & (OpenFlags.O_ACCMODE | OpenFlags.O_APPEND | OpenFlags.O_TRUNC)), out _, out _);
        if (err == 0) return 0;
        Clunk(fid);
        return -err;
    }

    internal long WriteData(uint fid, long offset, ReadOnlySpan<byte> data)
    {
        int err = Client.Write(fid, (ulong)offset, data, out int count);
        if (err != 0) return -err;
        lock (_chunks) _chunks.Clear();
        long end = offset + count;
        long size;
        while ((size = Interlocked.Read(ref _size)) < end && Interlocked.CompareExchange(ref _size, end, size) != size) { }
        TouchModified();
        return count;
    }

    internal void ReleaseFid(uint fid) => Clunk(fid);
}

/// <summary>An open regular file on a Gofer mount.</summary>
public sealed class GoferFile : InodeFile
{
    private readonly GoferInode _inode;
    private uint _writeFid;

    public GoferFile(GoferInode inode, PathPos path, int flags) : base(path, flags)
    {
        _inode = inode;
        inode.OpenRef();
    }

    /// <summary>Reads into guest memory directly (a pread there when the Gofer donated a
    /// descriptor): no buffer of the Sentry's own.</summary>
    public override long Read(Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        var dst = new IoBuffers(task.MemoryManager, iovecs);
        if (offset >= 0) return _inode.ReadTo(dst, offset);
        lock (OffsetLock)
        {
            long n = _inode.ReadTo(dst, Offset);
            if (n > 0) Offset += n;
            return n;
        }
    }

    public override long ReadKernel(Span<byte> dst, long offset)
    {
        if (offset >= 0) return _inode.ReadData(offset, dst);
        lock (OffsetLock)
        {
            long n = _inode.ReadData(Offset, dst);
            if (n > 0) Offset += n;
            return n;
        }
    }

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        Write(task, iovecs, offset, AppendMode.AsOpened);

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset, AppendMode append)
    {
        var src = new IoBuffers(task.MemoryManager, iovecs);
        var buffer = new byte[(int)Math.Min(src.Length, 1 << 20)];
        int got = src.CopyIn(0, buffer);
        if (got == 0 && buffer.Length > 0) return -(long)Errno.EFAULT;
        return WriteAt(buffer.AsSpan(0, got), offset, append);
    }

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) => WriteAt(src, offset, AppendMode.AsOpened);

    private long WriteAt(ReadOnlySpan<byte> src, long offset, AppendMode append)
    {
        long r = EnsureWriteFid();
        if (r < 0) return r;
        byte[] data = src.ToArray();
        return AtOffset(offset, at => _inode.WriteData(_writeFid, at, data), Appends(append));
    }

    private long EnsureWriteFid()
    {
        lock (OffsetLock)
        {
            if (_writeFid != 0) return 0;
            long r = _inode.OpenFid(OpenFlags.O_WRONLY, out uint fid);
            if (r < 0) return r;
            _writeFid = fid;
            return 0;
        }
    }

    public override long Truncate(long size) => _inode.Truncate(size);

    protected override void Release()
    {
        if (_writeFid != 0) _inode.ReleaseFid(_writeFid);
        _inode.CloseRef();
    }
}
