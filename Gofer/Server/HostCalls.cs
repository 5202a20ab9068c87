using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Server;

/// <summary>The server's host calls on single path components, returning a result or -errno.
/// Names are encoded to NUL-terminated UTF-8 on the stack.</summary>
internal static unsafe class HostCalls
{
    public const int EPERM = 1, ENOENT = 2, EIO = 5, EBADF = 9, EAGAIN = 11, EACCES = 13, EBUSY = 16, EEXIST = 17;
    public const int ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23, EFBIG = 27, ENOSPC = 28, EROFS = 30, ERANGE = 34;
    public const int ENAMETOOLONG = 36, ENOSYS = 38, ELOOP = 40, ENODATA = 61, EOPNOTSUPP = 95, ESTALE = 116;
    public const int E2BIG = 7;

    private const int PathBufferSize = Files.PATH_MAX + 1;

    /// <summary>The last host errno, never 0.</summary>
    public static int Errno
    {
        get
        {
            int e = HostError.Last;
            return e > 0 ? e : EIO;
        }
    }

    /// <summary>0 if <paramref name="name"/> is one path component the server may look up or create
    /// (not empty, no '/' or NUL, at most NAME_MAX bytes); "." and ".." are for the caller to check.</summary>
    public static int CheckName(string name)
    {
        if (name.Length == 0 || name.Contains('/') || name.Contains('\0'))
        {
            return EINVAL;
        }
        return Encoding.UTF8.GetByteCount(name) > Files.NAME_MAX ? ENAMETOOLONG : 0;
    }

    /// <summary>CheckName, also refusing "." and "..": for the name of a file to create, remove or rename.</summary>
    public static int CheckEntryName(string name)
    {
        int err = CheckName(name);
        return err != 0 ? err : name is "." or ".." ? EINVAL : 0;
    }

    private static int Encode(string s, Span<byte> buffer)
    {
        int n = Encoding.UTF8.GetBytes(s, buffer[..^1]);
        buffer[n] = 0;
        return n;
    }

    public static ulong Dev(in StatxBuf st) => Files.MakeDev(st.DevMajor, st.DevMinor);

    public static Qid ToQid(in StatxBuf st) => new(QidType(st.Mode), 0, st.Ino);

    public static byte QidType(uint mode) => (mode & StatMode.S_IFMT) switch
    {
        StatMode.S_IFDIR => Qid.TypeDir,
        StatMode.S_IFLNK => Qid.TypeSymlink,
        _ => Qid.TypeFile,
    };

    public static byte QidTypeFromDirent(byte dtype) => dtype switch
    {
        Files.DT_DIR => Qid.TypeDir,
        Files.DT_LNK => Qid.TypeSymlink,
        _ => Qid.TypeFile,
    };

    /// <summary>statx of the fd itself (any fd, including O_PATH ones; symlinks not followed).</summary>
    public static int Stat(int fd, out StatxBuf st)
    {
        fixed (StatxBuf* p = &st)
        {
            byte empty = 0;
            return Files.StatxAt(fd, &empty, OpenFlags.AT_EMPTY_PATH | OpenFlags.AT_SYMLINK_NOFOLLOW,
                Files.STATX_BASIC_STATS | Files.STATX_BTIME, p) == 0 ? 0 : -Errno;
        }
    }

    /// <summary>statx of one component in a directory, not following a symlink.</summary>
    public static int StatAt(int dirfd, string name, out StatxBuf st)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        fixed (StatxBuf* p = &st)
        {
            return Files.StatxAt(dirfd, pp, OpenFlags.AT_SYMLINK_NOFOLLOW, Files.STATX_BASIC_STATS, p) == 0 ? 0 : -Errno;
        }
    }

    /// <summary>openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode): an fd or -errno.</summary>
    public static int OpenAt(int dirfd, string name, int flags, uint mode = 0)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        {
            while (true)
            {
                int fd = Files.OpenAt(dirfd, pp, flags | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, mode);
                if (fd >= 0)
                {
                    return fd;
                }
                int e = Errno;
                if (e != 4)
                {
                    return -e;
                }
            }
        }
    }

    /// <summary>Opens the directory an O_PATH directory fd stands for ("." relative to it).</summary>
    public static int OpenDir(int dirfd, int flags) => OpenAt(dirfd, ".", flags | OpenFlags.O_DIRECTORY);

    public static int Mkdir(int dirfd, string name, uint mode)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        {
            return Files.MkdirAt(dirfd, pp, mode) == 0 ? 0 : -Errno;
        }
    }

    public static int Symlink(string target, int dirfd, string name)
    {
        Span<byte> t = stackalloc byte[PathBufferSize];
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(target, t);
        Encode(name, path);
        fixed (byte* tp = t)
        fixed (byte* pp = path)
        {
            return Files.SymlinkAt(tp, dirfd, pp) == 0 ? 0 : -Errno;
        }
    }

    public static int Mknod(int dirfd, string name, uint mode, ulong dev)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        {
            return Files.MknodAt(dirfd, pp, mode, dev) == 0 ? 0 : -Errno;
        }
    }

    public static int Link(int olddirfd, string oldName, int newdirfd, string newName)
    {
        Span<byte> o = stackalloc byte[PathBufferSize];
        Span<byte> n = stackalloc byte[PathBufferSize];
        Encode(oldName, o);
        Encode(newName, n);
        fixed (byte* op = o)
        fixed (byte* np = n)
        {
            return Files.LinkAt(olddirfd, op, newdirfd, np, 0) == 0 ? 0 : -Errno;
        }
    }

    public static int Rename(int olddirfd, string oldName, int newdirfd, string newName)
    {
        Span<byte> o = stackalloc byte[PathBufferSize];
        Span<byte> n = stackalloc byte[PathBufferSize];
        Encode(oldName, o);
        Encode(newName, n);
        fixed (byte* op = o)
        fixed (byte* np = n)
        {
            return Files.RenameAt(olddirfd, op, newdirfd, np) == 0 ? 0 : -Errno;
        }
    }

    public static int Unlink(int dirfd, string name, int flags)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        {
            return Files.UnlinkAt(dirfd, pp, flags) == 0 ? 0 : -Errno;
        }
    }

    /// <summary>fchownat(fd, "", uid, gid, AT_EMPTY_PATH): works on O_PATH fds; -1 leaves a field.</summary>
    public static int Chown(int fd, uint uid, uint gid)
    {
        byte empty = 0;
        return Files.FchownAt(fd, &empty, uid, gid, OpenFlags.AT_EMPTY_PATH | OpenFlags.AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -Errno;
    }

    public static int ChownAt(int dirfd, string name, uint uid, uint gid)
    {
        Span<byte> path = stackalloc byte[PathBufferSize];
        Encode(name, path);
        fixed (byte* pp = path)
        {
            return Files.FchownAt(dirfd, pp, uid, gid, OpenFlags.AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -Errno;
        }
    }

    /// <summary>chmod of the file an fd (O_PATH included) stands for: fchmodat2(AT_EMPTY_PATH);
    /// -ENOSYS on kernels before 6.6.</summary>
    public static int Chmod(int fd, uint mode)
    {
        byte empty = 0;
        return Files.Fchmodat2(fd, &empty, mode, OpenFlags.AT_EMPTY_PATH) == 0 ? 0 : -Errno;
    }

    public static int ChmodOpen(int fd, uint mode) => Files.Fchmod(fd, mode) == 0 ? 0 : -Errno;

    /// <summary>utimensat(fd, "", times, AT_EMPTY_PATH): works on O_PATH fds.</summary>
    public static int Utimens(int fd, Timespec atime, Timespec mtime)
    {
        Timespec* ts = stackalloc Timespec[2];
        ts[0] = atime;
        ts[1] = mtime;
        byte empty = 0;
        return Files.UtimensAt(fd, &empty, ts, OpenFlags.AT_EMPTY_PATH | OpenFlags.AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -Errno;
    }

    public static int Truncate(int fd, long size) => Files.Ftruncate(fd, size) == 0 ? 0 : -Errno;

    /// <summary>readlinkat(fd, "") of an O_PATH symlink fd into <paramref name="buffer"/>: the length or -errno.</summary>
    public static int Readlink(int fd, Span<byte> buffer)
    {
        byte empty = 0;
        fixed (byte* b = buffer)
        {
            nint n = Files.ReadlinkAt(fd, &empty, b, (nuint)buffer.Length);
            return n >= 0 ? (int)n : -Errno;
        }
    }

    public static int Statfs(int fd, out StatFs st)
    {
        fixed (StatFs* p = &st)
        {
            return Files.Fstatfs(fd, p) == 0 ? 0 : -Errno;
        }
    }

    public static ulong FsId(in StatFs st)
    {
        fixed (int* f = st.Fsid)
        {
            return (uint)f[0] | ((ulong)(uint)f[1] << 32);
        }
    }

    public static int Fsync(int fd, bool dataOnly) => (dataOnly ? Files.Fdatasync(fd) : Files.Fsync(fd)) == 0 ? 0 : -Errno;

    public static int Pread(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                nint n = Unistd.Pread(fd, b, (nuint)buffer.Length, offset);
                if (n >= 0)
                {
                    return (int)n;
                }
                int e = Errno;
                if (e != 4)
                {
                    return -e;
                }
            }
        }
    }

    public static int Pwrite(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* b = data)
        {
            while (true)
            {
                nint n = Unistd.Pwrite(fd, b, (nuint)data.Length, offset);
                if (n >= 0)
                {
                    return (int)n;
                }
                int e = Errno;
                if (e != 4)
                {
                    return -e;
                }
            }
        }
    }

    public static int Seek(int fd, long offset) => Unistd.Lseek(fd, offset, Files.SEEK_SET) >= 0 ? 0 : -Errno;

    public static int Getdents(int fd, Span<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            nint n = Files.Getdents64(fd, b, (nuint)buffer.Length);
            return n >= 0 ? (int)n : -Errno;
        }
    }

    /// <summary>fgetxattr/flistxattr (empty name) into a new array of at most XATTR_SIZE_MAX bytes.</summary>
    public static int GetXattr(int fd, string name, out byte[] value)
    {
        value = [];
        Span<byte> n = stackalloc byte[Files.NAME_MAX + 2];
        if (Encoding.UTF8.GetByteCount(name) > Files.NAME_MAX)
        {
            return -ERANGE;
        }
        Encode(name, n);
        fixed (byte* np = n)
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                nint size = name.Length == 0 ? Files.Flistxattr(fd, null, 0) : Files.Fgetxattr(fd, np, null, 0);
                if (size < 0)
                {
                    return -Errno;
                }
                if (size > Files.XATTR_SIZE_MAX)
                {
                    return -E2BIG;
                }
                var buf = new byte[size];
                fixed (byte* bp = buf)
                {
                    nint got = name.Length == 0 ? Files.Flistxattr(fd, bp, (nuint)buf.Length) : Files.Fgetxattr(fd, np, bp, (nuint)buf.Length);
                    if (got >= 0)
                    {
                        value = got == buf.Length ? buf : buf.AsSpan(0, (int)got).ToArray();
                        return 0;
                    }
                    int e = Errno;
                    if (e != ERANGE)
                    {
                        return -e;
                    }
                }
            }
            return -ERANGE;
        }
    }

    public static int SetXattr(int fd, string name, ReadOnlySpan<byte> value, int flags)
    {
        Span<byte> n = stackalloc byte[Files.NAME_MAX + 2];
        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > Files.NAME_MAX)
        {
            return -ERANGE;
        }
        Encode(name, n);
        fixed (byte* np = n)
        fixed (byte* vp = value)
        {
            return Files.Fsetxattr(fd, np, vp, (nuint)value.Length, flags) == 0 ? 0 : -Errno;
        }
    }

    public static int RemoveXattr(int fd, string name)
    {
        Span<byte> n = stackalloc byte[Files.NAME_MAX + 2];
        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > Files.NAME_MAX)
        {
            return -ERANGE;
        }
        Encode(name, n);
        fixed (byte* np = n)
        {
            return Files.Fremovexattr(fd, np) == 0 ? 0 : -Errno;
        }
    }

    public static int Lock(int fd, int cmd, ref Files.Flock lk)
    {
        fixed (Files.Flock* p = &lk)
        {
            return Files.FcntlLock(fd, cmd, p) == 0 ? 0 : -Errno;
        }
    }
}
