using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Vfs;

/// <summary>One name in a directory listing. A class, not a struct: List&lt;DirEntry&gt; then runs
/// the framework's shared, precompiled code, where a list of a struct of ours would be compiled
/// by the JIT in every new sandbox (milliseconds at the first getdents).</summary>
public sealed record DirEntry(string Name, ulong Ino, byte Type);

/// <summary>What setattr may change; a null field is left alone.</summary>
public struct SetAttrRequest
{
    public uint? Mode;
    public uint? Uid, Gid;
    public long? Size;
    public Timespec? Atime, Mtime;
}

/// <summary>A file system object (file, directory, symlink, device, FIFO, socket). The base
/// class keeps the common attributes in memory; file systems override what they compute or
/// fetch. Every operation returns 0 / a result, or a negative errno.</summary>
public abstract class Inode
{
    private static long _nextAnonymousIno = 1 << 20;

    protected Inode(FileSystem fs, uint mode, uint uid, uint gid, ulong ino = 0)
    {
        FileSystem = fs;
        _mode = mode;
        _uid = uid;
        _gid = gid;
        Ino = ino != 0 ? ino : (ulong)Interlocked.Increment(ref _nextAnonymousIno);
        Atime = Mtime = Ctime = Btime = Now();
        _nlink = (mode & S_IFMT) == S_IFDIR ? 2u : 1u;
    }

    private uint _mode, _uid, _gid, _nlink;

    public FileSystem FileSystem { get; }
    public ulong Ino { get; protected set; }

    // Virtual so that stacking file systems (overlay) can present their backing inode's.
    public virtual uint Mode { get => _mode; set => _mode = value; }
    public virtual uint Uid { get => _uid; set => _uid = value; }
    public virtual uint Gid { get => _gid; set => _gid = value; }
    public virtual uint Nlink { get => _nlink; set => _nlink = value; }
    public ulong Rdev { get; set; }

    /// <summary>The AF_UNIX socket bound to this socket inode's name, while it is open (a
    /// connect or sendto to the path reaches it). Null for every other inode.</summary>
    public virtual Socket.Unix.UnixSocket? BoundSocket { get; set; }
    public Timespec Atime, Mtime, Ctime, Btime;

    private FileLocks? _recordLocks, _flockLocks;

    /// <summary>fcntl record locks (POSIX and OFD) on this inode.</summary>
    public FileLocks RecordLocks => LazyInitializer.EnsureInitialized(ref _recordLocks);

    /// <summary>flock(2) locks on this inode; independent of record locks, as on Linux.</summary>
    public FileLocks FlockLocks => LazyInitializer.EnsureInitialized(ref _flockLocks);

    public uint Type => Mode & S_IFMT;
    public bool IsDirectory => Type == S_IFDIR;
    public bool IsSymlink => Type == S_IFLNK;
    public bool IsRegular => Type == S_IFREG;

    /// <summary>The size st_size reports.</summary>
    public virtual long Size => 0;

    public static Timespec Now()
    {
        long ticks = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
        return new Timespec(ticks / TimeSpan.TicksPerSecond, ticks % TimeSpan.TicksPerSecond * 100);
    }

    public void TouchModified() => Mtime = Ctime = Now();

    public void TouchChanged() => Ctime = Now();

    /// <summary>Fills a stat buffer from the inode's attributes.</summary>
    public virtual long Stat(out Stat st)
    {
        long size = Size;
        st = new Stat
        {
            Dev = FileSystem.DeviceId,
            Ino = Ino,
            Nlink = Nlink,
            Mode = Mode,
            Uid = Uid,
            Gid = Gid,
            Rdev = Rdev,
            Size = size,
            Blksize = 4096,
            Blocks = BlocksUsed,
            AtimeSec = Atime.Sec,
            AtimeNsec = Atime.Nsec,
            MtimeSec = Mtime.Sec,
            MtimeNsec = Mtime.Nsec,
            CtimeSec = Ctime.Sec,
            CtimeNsec = Ctime.Nsec,
        };
        return 0;
    }

    /// <summary>512-byte blocks allocated (st_blocks).</summary>
    public virtual long BlocksUsed => (Size + 511) / 512;

    /// <summary>Applies a setattr; permission checks are the caller's.</summary>
    public virtual long SetAttr(in SetAttrRequest req)
    {
        if (req.Size is { } size)
        {
            long r = Truncate(size);
            if (r < 0) return r;
        }
        if (req.Mode is { } mode) Mode = (Mode & S_IFMT) | (mode & 0xfff);
        if (req.Uid is { } uid) Uid = uid;
        if (req.Gid is { } gid) Gid = gid;
        if (req.Atime is { } at) Atime = at;
        if (req.Mtime is { } mt) Mtime = mt;
        TouchChanged();
        return 0;
    }

    public virtual long Truncate(long size) => IsDirectory ? -(long)Errno.EISDIR : -(long)Errno.EINVAL;

    // ---- directories ----------------------------------------------------------------------

    /// <summary>For file systems whose objects can change behind the Sentry's back (the Gofer's
    /// host files): checks that a cached name still names this object, refreshing its
    /// attributes. False means the dentry must be looked up again.</summary>
    public virtual bool Revalidate() => true;

    /// <summary>Finds a child by name (not "." or ".."). -ENOENT if absent.</summary>
    public virtual long Lookup(string name, out Inode? child)
    {
        child = null;
        return IsDirectory ? -(long)Errno.ENOENT : -(long)Errno.ENOTDIR;
    }

    public virtual long ReadDir(List<DirEntry> entries) => IsDirectory ? 0 : -(long)Errno.ENOTDIR;

    /// <summary>Creates a regular file, directory, FIFO, device or socket node.</summary>
    public virtual long CreateChild(string name, uint mode, ulong rdev, Credentials creds, out Inode? child)
    {
        child = null;
        return IsDirectory ? -(long)Errno.EPERM : -(long)Errno.ENOTDIR;
    }

    public virtual long CreateSymlink(string name, string target, Credentials creds, out Inode? child)
    {
        child = null;
        return IsDirectory ? -(long)Errno.EPERM : -(long)Errno.ENOTDIR;
    }

    public virtual long LinkChild(string name, Inode target) => IsDirectory ? -(long)Errno.EPERM : -(long)Errno.ENOTDIR;

    /// <summary>O_TMPFILE: makes an unnamed regular file (link count 0) on this directory's file
    /// system. File systems that cannot hold one say EOPNOTSUPP.</summary>
    public virtual long CreateTmpfile(uint mode, Credentials creds, out Inode? file)
    {
        file = null;
        return IsDirectory ? -(long)Errno.EOPNOTSUPP : -(long)Errno.ENOTDIR;
    }

    /// <summary>An O_TMPFILE file opened without O_EXCL that has not been linked yet: linkat may
    /// give it a name although its link count is 0. Any other file with no links left cannot be
    /// linked again (ENOENT).</summary>
    public bool Linkable { get; set; }

    /// <summary>Removes a name: a non-directory (rmdir false) or an empty directory (rmdir true).</summary>
    public virtual long RemoveChild(string name, bool rmdir) => IsDirectory ? -(long)Errno.EPERM : -(long)Errno.ENOTDIR;

    /// <summary>Moves oldName here to newName in newParent (same file system). flags are renameat2's.</summary>
    public virtual long RenameChild(string oldName, Inode newParent, string newName, uint flags) => -(long)Errno.EXDEV;

    // ---- symlinks and opening -------------------------------------------------------------

    public virtual long ReadLink(out string target)
    {
        target = "";
        return -(long)Errno.EINVAL;
    }

    /// <summary>For magic links (/proc/self/fd/N, /proc/self/exe): where following leads,
    /// bypassing the textual target. Null for ordinary symlinks.</summary>
    public virtual PathPos? FollowMagic(Task task) => null;

    /// <summary>Reads file data for the Sentry itself (loading an executable, copy-up):
    /// bytes read, 0 at end of file, or -errno.</summary>
    public virtual long ReadData(long offset, Span<byte> dst) => IsDirectory ? -(long)Errno.EISDIR : -(long)Errno.EINVAL;

    /// <summary>Reads the whole file for the Sentry itself (executables, the ELF interpreter):
    /// 0 with the bytes, or -errno. Files over 1 GiB are refused with ENOMEM.</summary>
    public long ReadAll(out byte[] data)
    {
        data = [];
        long size = Size;
        if (size > 1L << 30) return -(long)Errno.ENOMEM;
        var buffer = new byte[size];
        long done = 0;
        while (done < size)
        {
            long n = ReadData(done, buffer.AsSpan((int)done));
            if (n < 0) return n;
            if (n == 0) break;
            done += n;
        }
        data = done == size ? buffer : buffer[..(int)done];
        return 0;
    }

    /// <summary>Writes file data for the Sentry itself (shared mappings written back): bytes
    /// written or -errno.</summary>
    public virtual long WriteData(long offset, ReadOnlySpan<byte> src) => -(long)Errno.EINVAL;

    /// <summary>The pages MAP_SHARED mappings use, for files kept in memory (tmpfs); null for
    /// files mapped by copying.</summary>
    public virtual IMappablePages? SharedPages => null;

    /// <summary>Whether the content changes only along with Size or Mtime (files of the
    /// container's lower layer): such files may be kept in the <see cref="Memory.FileCache"/>
    /// and mapped from there.</summary>
    public virtual bool ContentIsStable => false;

    /// <summary>Where the <see cref="Memory.FileCache"/> reads a stable file's pages later on (it
    /// reads them as they are used): the inode that holds this content for good, even if this
    /// one changes (an overlay file's lower file, which a copy-up leaves as it is).</summary>
    public virtual Inode StableContent => this;

    /// <summary>Creates the open file description for this inode.</summary>
    public abstract long Open(Task task, PathPos path, int flags, out FileDescription? file);

    // ---- extended attributes ------------------------------------------------------------------

    public virtual long GetXattr(string name, out byte[]? value)
    {
        value = null;
        return -(long)Errno.ENODATA;
    }

    public virtual long SetXattr(string name, ReadOnlySpan<byte> value, int flags) => -(long)Errno.EOPNOTSUPP;

    public virtual long ListXattr(List<string> names) => 0;

    public virtual long RemoveXattr(string name) => -(long)Errno.ENODATA;
}

/// <summary>A file whose data lives in MemoryFile pages that shared mappings can map directly,
/// so that every mapping and read/write see the same bytes.</summary>
public interface IMappablePages
{
    /// <summary>The MemoryFile offset of the file page at index (allocated if absent). The page
    /// stays allocated for as long as the file exists.</summary>
    long PinPage(long pageIndex);

    /// <summary>The file's size: shared mappings raise SIGBUS on pages wholly past it.</summary>
    long Size { get; }

    /// <summary>The address spaces that map these pages, told when the file shrinks.</summary>
    Memory.FileMappings Mappings { get; }
}

/// <summary>A mounted file system instance.</summary>
public abstract class FileSystem
{
    private static ulong _nextDevice = 0x10;

    public ulong DeviceId { get; } = Interlocked.Increment(ref _nextDevice);

    /// <summary>The name /proc/mounts shows ("tmpfs", "proc", "9p", "overlay").</summary>
    public abstract string Type { get; }

    /// <summary>statfs f_type magic number.</summary>
    public abstract long Magic { get; }

    public abstract Inode Root { get; }

    public virtual long StatFs(out StatFs st)
    {
        st = new StatFs { Type = Magic, Bsize = 4096, Frsize = 4096, Namelen = 255, Blocks = 0, Files = 0 };
        return 0;
    }
}
