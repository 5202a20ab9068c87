using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Fcntl;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Fs.Tmpfs;

/// <summary>A tmpfs regular file. Its data is a sparse set of MemoryFile pages, so holes cost
/// nothing, read as zeros, and SEEK_DATA/SEEK_HOLE can find them.</summary>
public sealed class TmpfsFile : TmpfsInode, IMappablePages
{
    /// <summary>Set once a shared mapping uses the pages: from then on they are zeroed rather
    /// than freed when the file shrinks, because a mapping may still point at them.</summary>
    private bool _pinned;

    public override IMappablePages? SharedPages => this;

    /// <summary>Address spaces with shared mappings of the pages (told when the file shrinks).</summary>
    public Memory.FileMappings Mappings { get; } = new();

    // Pages are taken from the MemoryFile 64 KiB at a time: one allocator call per 16 pages
    // on the write path. (Called with _pages locked.)
    private const int PagesPerChunk = 16;
    private long _spare;
    private int _spareCount;

    private long NewPage()
    {
        if (_spareCount == 0)
        {
            _spare = Tmpfs.Memory.Allocate(PageSize * PagesPerChunk);
            _spareCount = PagesPerChunk;
        }
        long page = _spare;
        _spare += PageSize;
        _spareCount--;
        return page;
    }

    public long PinPage(long pageIndex)
    {
        // A page that exists is found without the file's lock: memory managers pin under their
        // own lock, which a write into this file takes while it holds the file's.
        if (_pages.TryGet(pageIndex, out long found))
        {
            Volatile.Write(ref _pinned, true);
            return found;
        }
        lock (_pages)
        {
            _pinned = true;
            if (_pages.TryGet(pageIndex, out long off)) return off;
            Tmpfs.Reserve(PageSize);
            off = NewPage();
            _pages.Add(pageIndex, off);
            return off;
        }
    }

    private const long PageSize = (long)Mm.PageSize;
    // page index → MemoryFile offset; changed only under lock (_pages), read by PinPage without it
    private readonly PageMap _pages = new();
    private long _size;

    public TmpfsFile(TmpfsFileSystem fs, uint mode, uint uid, uint gid) : base(fs, (mode & 0xfff) | S_IFREG, uid, gid) { }

    // ---- lifetime -------------------------------------------------------------------------

    /// <summary>Open descriptions of this file; with no name left either, nobody can reach the
    /// data again and the pages go back to the MemoryFile. (Guarded by _pages.)</summary>
    private int _opens;

    /// <summary>The pages were given back: the file is gone, so it cannot be opened again.</summary>
    private bool _released;

    /// <summary>The last name went away (the directory dropped the link count to 0).</summary>
    internal void Unlinked()
    {
        lock (_pages)
            if (_opens == 0) ReleaseLocked();
    }

    /// <summary>An open description of the file went away.</summary>
    internal void Closed()
    {
        lock (_pages)
        {
            _opens--;
            if (_opens == 0 && Nlink == 0) ReleaseLocked();
        }
    }

    /// <summary>Gives the pages back: nothing can read them any more. Pages a shared mapping
    /// uses stay (the mapping still points at them). (Called with _pages locked.)</summary>
    private void ReleaseLocked()
    {
        if (_released || _pinned) return;
        _released = true;
        FreeRuns([.. _pages.Offsets()]);
        Tmpfs.Unreserve(_pages.Count * PageSize);
        _pages.Clear();
        if (_spareCount > 0) Tmpfs.Memory.Free(_spare, _spareCount * PageSize);
        _spareCount = 0;
    }

    /// <summary>Frees pages with one Free (a hole punch) per run of adjacent ones rather than
    /// one per page: unlinking a 256 MiB file took 0.8 s page by page.</summary>
    private void FreeRuns(long[] offsets)
    {
        Array.Sort(offsets);
        for (int i = 0, j; i < offsets.Length; i = j)
        {
            for (j = i + 1; j < offsets.Length && offsets[j] == offsets[j - 1] + PageSize; j++) { }
            Tmpfs.Memory.Free(offsets[i], (j - i) * PageSize);
        }
    }

    // ---- seals ----------------------------------------------------------------------------

    /// <summary>The file's F_SEAL_* seals. A tmpfs file starts with F_SEAL_SEAL, so no seal can
    /// be added; memfd_create(MFD_ALLOW_SEALING) starts with none. Changed with _pages locked,
    /// so a write sees the seals from before an F_ADD_SEALS or from after it.</summary>
    public int Seals
    {
        get { lock (_pages) return _seals; }
    }

    private int _seals = F_SEAL_SEAL;

    /// <summary>Held while adding seals and while making a shared mapping of the file, so that
    /// F_SEAL_WRITE and a new writable mapping cannot both succeed.</summary>
    public Lock SealLock { get; } = new();

    /// <summary>The seals of a new memfd.</summary>
    public void InitSeals(int seals)
    {
        lock (_pages) _seals = seals;
    }

    /// <summary>Implements F_ADD_SEALS once the caller checked the descriptor. mappedWritably
    /// says whether some shared mapping may write the pages (F_SEAL_WRITE fails with EBUSY
    /// then); it runs with <see cref="SealLock"/> held.</summary>
    public long AddSeals(int seals, Func<bool> mappedWritably)
    {
        lock (SealLock)
        {
            if ((Seals & F_SEAL_SEAL) != 0) return -(long)Errno.EPERM;
            // Sealing the exec bits of an executable file seals its contents too (W^X).
            if ((seals & F_SEAL_EXEC) != 0 && (Mode & 0x49) != 0)
                seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
            if ((seals & F_SEAL_WRITE) != 0 && (Seals & F_SEAL_WRITE) == 0 && mappedWritably()) return -(long)Errno.EBUSY;
            lock (_pages) _seals |= seals;
            return 0;
        }
    }

    /// <summary>Whether the seals forbid new writes (write(2) and new writable shared mappings).</summary>
    public bool WriteSealed => (Seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0;

    /// <summary>F_SEAL_WRITE / F_SEAL_FUTURE_WRITE refuse writes, F_SEAL_GROW any that would
    /// extend the file. (Called with _pages locked.)</summary>
    private long CheckWriteSeals(long offset, long length)
    {
        if ((_seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) return -(long)Errno.EPERM;
        if ((_seals & F_SEAL_GROW) != 0 && offset + length > _size) return -(long)Errno.EPERM;
        return 0;
    }

    /// <summary>F_SEAL_EXEC: the exec bits may no longer change.</summary>
    public override long SetAttr(in SetAttrRequest req)
    {
        if (req.Mode is { } mode && (Seals & F_SEAL_EXEC) != 0 && ((mode ^ Mode) & 0x49) != 0) return -(long)Errno.EPERM;
        return base.SetAttr(req);
    }

    public override long Size
    {
        get { lock (_pages) return _size; }
    }

    public override long BlocksUsed
    {
        get { lock (_pages) return _pages.Count * (PageSize / 512); }
    }

    public override long Truncate(long size)
    {
        if (size < 0) return -(long)Errno.EINVAL;
        bool shrunk;
        lock (_pages)
        {
            if ((size < _size && (_seals & F_SEAL_SHRINK) != 0) || (size > _size && (_seals & F_SEAL_GROW) != 0))
                return -(long)Errno.EPERM;
            shrunk = size < _size;
            if (shrunk)
            {
                long firstDropped = (size + PageSize - 1) / PageSize;
                DropPages(_pages.PagesFrom(firstDropped));
                // Zero the tail of the last kept page so a later extension reads zeros.
                if (size % PageSize != 0 && _pages.TryGet(size / PageSize, out long off))
                    Tmpfs.Memory.Slice(off + size % PageSize, (int)(PageSize - size % PageSize)).Clear();
            }
            _size = size;
        }
        // Shared mappings lose the pages past the new end (an access there is SIGBUS); the
        // pages themselves stay with the file (zeroed), as a stub may map them a little longer.
        if (shrunk) Mappings.FileShrunk(this, size);
        TouchModified();
        return 0;
    }

    /// <summary>Drops whole pages (see <see cref="DropPage"/>), freeing them in runs.</summary>
    private void DropPages(List<long> pages)
    {
        if (_pinned)
        {
            foreach (long page in pages) DropPage(page);
            return;
        }
        var offsets = new long[pages.Count];
        int n = 0;
        foreach (long page in pages)
            if (_pages.Remove(page) is var off and >= 0) offsets[n++] = off;
        FreeRuns(offsets[..n]);
        Tmpfs.Unreserve(n * PageSize);
    }

    private void DropPage(long page)
    {
        if (_pinned)
        {
            // A mapping may still use the page: keep it (zeroed) with the file.
            if (_pages.TryGet(page, out long kept)) Tmpfs.Memory.Slice(kept, (int)PageSize).Clear();
            return;
        }
        long off = _pages.Remove(page);
        if (off < 0) return;
        Tmpfs.Memory.Free(off, PageSize);
        Tmpfs.Unreserve(PageSize);
    }

    /// <summary>Copies file data at offset into dst; returns bytes read, or -EFAULT when not one
    /// byte could be stored.</summary>
    public long Read(IoBuffers dst, long offset)
    {
        long done = 0;
        lock (_pages)
        {
            long want = offset >= _size ? 0 : Math.Min(dst.Length, _size - offset);
            while (done < want)
            {
                // One copy per run of pages that follow each other in the MemoryFile (sequential
                // writes allocate them so), and one clear per hole, rather than one per page.
                long at = offset + done, inPage = at % PageSize;
                long maxPages = (inPage + Math.Min(want - done, MaxCopy) + PageSize - 1) / PageSize;
                long pages = _pages.Run(at / PageSize, maxPages, out long fileOff);
                long chunk = Math.Min(pages * PageSize - inPage, Math.Min(want - done, MaxCopy));
                // A copy through the Sentry's mapping: once mapped, pages are read at memcpy speed
                // (pread measured slower here, and MADV_POPULATE_READ slower still).
                long copied = fileOff >= 0
                    ? dst.CopyOut(done, Tmpfs.Memory.Slice(fileOff + inPage, (int)chunk))
                    : dst.ZeroOut(done, chunk);
                done += copied;
                if (copied < chunk) return done > 0 ? done : -(long)Errno.EFAULT;
            }
        }
        Atime = Now();
        return done;
    }

    /// <summary>The most one copy moves (a Span's length is an int).</summary>
    private const long MaxCopy = 1L << 30;

    /// <summary>Copies src into the file at offset, growing it; returns bytes written.</summary>
    public long Write(IoBuffers src, long offset)
    {
        long done = 0;
        lock (_pages)
        {
            if (src.Length > 0 && CheckWriteSeals(offset, src.Length) is var refused and < 0) return refused;
            while (done < src.Length)
            {
                long at = offset + done;
                long page = at / PageSize, inPage = at % PageSize;
                if (!PageFor(page, out long fileOff)) return done > 0 ? Grew(done, offset) : -(long)Errno.ENOSPC;
                // Extend over following pages that sit right after it in the MemoryFile (pages
                // come 64 KiB at a time), so one pwrite covers the run.
                int run = (int)Math.Min(src.Length - done, PageSize - inPage);
                while (done + run < src.Length && run < MaxRun
                    && PageFor(page + (inPage + run) / PageSize, out long next) && next == fileOff + inPage + run)
                    run += (int)Math.Min(src.Length - done - run, PageSize);
                int copied = src.CopyInToFile(done, Tmpfs.Memory.Fd, fileOff + inPage, run);
                // pwrite does not map new pages into the Sentry's view of the MemoryFile. Mapping
                // them now, while the kernel has them at hand, costs the write less than the
                // faults cost the first read (256 MiB: writes ~10% slower, first read 1.8x faster).
                Tmpfs.Memory.MapForReading(fileOff + inPage, copied);
                done += copied;
                if (copied < run) return done > 0 ? Grew(done, offset) : -(long)Errno.EFAULT;
            }
            return Grew(done, offset);
        }
    }

    private const int MaxRun = 1 << 20;

    /// <summary>The MemoryFile offset of a page, allocated if missing; false when the file
    /// system is full. (Called with _pages locked.)</summary>
    private bool PageFor(long page, out long fileOff)
    {
        if (_pages.TryGet(page, out fileOff)) return true;
        if (!Tmpfs.Reserve(PageSize)) return false;
        fileOff = NewPage();
        _pages.Add(page, fileOff);
        return true;
    }

    private long Grew(long done, long offset)
    {
        if (offset + done > _size) _size = offset + done;
        if (done > 0) TouchModified();
        return done;
    }

    /// <summary>Writes bytes produced by the Sentry itself (copy-up, tests).</summary>
    public void WriteKernel(long offset, ReadOnlySpan<byte> data)
    {
        lock (_pages)
        {
            int done = 0;
            while (done < data.Length)
            {
                long at = offset + done;
                long page = at / PageSize, inPage = at % PageSize;
                int chunk = (int)Math.Min(data.Length - done, PageSize - inPage);
                if (!_pages.TryGet(page, out long fileOff))
                {
                    Tmpfs.Reserve(PageSize);
                    fileOff = NewPage();
                    _pages.Add(page, fileOff);
                }
                data.Slice(done, chunk).CopyTo(Tmpfs.Memory.Slice(fileOff + inPage, chunk));
                done += chunk;
            }
            if (offset + data.Length > _size) _size = offset + data.Length;
        }
    }

    /// <summary>Reads bytes for the Sentry itself (exec of a tmpfs file, copy-up).</summary>
    public int ReadKernel(long offset, Span<byte> dst)
    {
        lock (_pages)
        {
            int total = (int)Math.Clamp(_size - offset, 0, dst.Length);
            for (int done = 0; done < total;)
            {
                long at = offset + done, inPage = at % PageSize;
                long pages = _pages.Run(at / PageSize, (inPage + total - done + PageSize - 1) / PageSize, out long fileOff);
                int chunk = (int)Math.Min(pages * PageSize - inPage, total - done);
                if (fileOff >= 0) Tmpfs.Memory.Slice(fileOff + inPage, chunk).CopyTo(dst[done..]);
                else dst.Slice(done, chunk).Clear();
                done += chunk;
            }
            return total;
        }
    }

    public override long WriteData(long offset, ReadOnlySpan<byte> src)
    {
        if (offset < 0) return -(long)Errno.EINVAL;
        WriteKernel(offset, src);
        TouchModified();
        return src.Length;
    }

    public override long ReadData(long offset, Span<byte> dst) => offset < 0 ? -(long)Errno.EINVAL : ReadKernel(offset, dst);

    /// <summary>SEEK_DATA / SEEK_HOLE over the page map.</summary>
    public long SeekDataOrHole(long offset, bool data)
    {
        lock (_pages)
        {
            if (offset < 0 || offset >= _size) return -(long)Errno.ENXIO;
            long lastPage = (_size - 1) / PageSize;
            for (long at = offset; at < _size;)
            {
                long page = at / PageSize;
                long run = _pages.Run(page, lastPage + 1 - page, out long off);
                if ((off >= 0) == data) return at;
                at = (page + run) * PageSize;
            }
            return data ? -(long)Errno.ENXIO : _size;
        }
    }

    /// <summary>fallocate: mode 0 allocates (extending the size), PUNCH_HOLE|KEEP_SIZE frees.</summary>
    public long Allocate(int mode, long offset, long length)
    {
        if (offset < 0 || length <= 0) return -(long)Errno.EINVAL;
        lock (_pages)
        {
            if ((mode & Mm.FALLOC_FL_PUNCH_HOLE) != 0 ? (_seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0
                : (_seals & F_SEAL_GROW) != 0 && offset + length > _size)
                return -(long)Errno.EPERM;
            if ((mode & Mm.FALLOC_FL_PUNCH_HOLE) != 0)
            {
                if ((mode & Mm.FALLOC_FL_KEEP_SIZE) == 0) return -(long)Errno.EOPNOTSUPP;
                long end = Math.Min(offset + length, _size);
                for (long at = offset; at < end;)
                {
                    long page = at / PageSize, inPage = at % PageSize;
                    int chunk = (int)Math.Min(end - at, PageSize - inPage);
                    if (_pages.TryGet(page, out long off))
                    {
                        if (chunk == PageSize) DropPage(page);
                        else Tmpfs.Memory.Slice(off + inPage, chunk).Clear();
                    }
                    at += chunk;
                }
                return 0;
            }
            if (mode != 0 && mode != Mm.FALLOC_FL_KEEP_SIZE) return -(long)Errno.EOPNOTSUPP;
            for (long page = offset / PageSize; page <= (offset + length - 1) / PageSize; page++)
            {
                if (_pages.Contains(page)) continue;
                if (!Tmpfs.Reserve(PageSize)) return -(long)Errno.ENOSPC;
                _pages.Add(page, NewPage());
            }
            if ((mode & Mm.FALLOC_FL_KEEP_SIZE) == 0 && offset + length > _size) _size = offset + length;
            return 0;
        }
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        lock (_pages)
        {
            // Lost a race with the unlink and last close that released the file.
            if (_released) return -(long)Errno.ENOENT;
            _opens++;
        }
        file = new TmpfsRegularFile(this, path, flags);
        return 0;
    }
}

/// <summary>An open tmpfs regular file.</summary>
public sealed class TmpfsRegularFile : InodeFile
{
    /// <summary>Made by <see cref="TmpfsFile.Open"/>, which counts it.</summary>
    internal TmpfsRegularFile(TmpfsFile file, PathPos path, int flags) : base(path, flags)
    {
        File = file;
    }

    public TmpfsFile File { get; }

    protected override void Release() => File.Closed();

    /// <summary>Linux's tmpfs files refuse RWF_NOWAIT; those of the overlay (which stands for
    /// the host's disk file system) accept it.</summary>
    public override bool NoWaitSupported => Inode != File;

    public override long Read(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        ReadAt(new IoBuffers(task.MemoryManager, iovecs), offset);

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        WriteAt(new IoBuffers(task.MemoryManager, iovecs), offset, AppendMode.AsOpened);

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset, AppendMode append) =>
        WriteAt(new IoBuffers(task.MemoryManager, iovecs), offset, append);

    public override long ReadKernel(Span<byte> dst, long offset) => ReadAt(new IoBuffers(dst), offset);

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) => WriteAt(IoBuffers.Source(src), offset, AppendMode.AsOpened);

    private long ReadAt(IoBuffers dst, long offset)
    {
        if (offset >= 0) return File.Read(dst, offset);
        lock (OffsetLock)
        {
            long n = File.Read(dst, Offset);
            if (n > 0) Offset += n;
            return n;
        }
    }

    private long WriteAt(IoBuffers src, long offset, AppendMode mode)
    {
        bool append = Appends(mode);
        if (offset >= 0 && !append) return File.Write(src, offset);
        lock (OffsetLock)
        {
            long at = append ? File.Size : Offset;
            long n = File.Write(src, at);
            if (n > 0 && offset < 0) Offset = at + n;
            return n;
        }
    }

    public override long Truncate(long size) => File.Truncate(size);

    public override long Allocate(int mode, long offset, long length) => File.Allocate(mode, offset, length);

    protected override long SeekDataOrHole(long offset, bool data) => File.SeekDataOrHole(offset, data);

    public override long Ioctl(Task task, uint request, ulong arg) => request == Abi.Ioctl.FIONREAD
        ? task.MemoryManager.CopyOut(arg, (int)Math.Clamp(File.Size - Offset, 0, int.MaxValue))
        : -(long)Errno.ENOTTY;
}
