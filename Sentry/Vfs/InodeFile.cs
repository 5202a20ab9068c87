using Sandbox.Abi;
using Sandbox.Sentry.Kernel;

namespace Sandbox.Sentry.Vfs;

/// <summary>A description opened on an inode through the VFS: keeps the file offset (shared
/// by dup'ed fds) and implements lseek. File systems derive their regular files from it.</summary>
public abstract class InodeFile : FileDescription
{
    protected readonly Lock OffsetLock = new();

    public long Offset { get; set; }

    protected InodeFile(PathPos path, int flags)
    {
        Path = path;
        Flags = flags;
    }

    // A pattern, not Path!.Value: the getter of Nullable<PathPos>.Value has no precompiled copy.
    public Inode Inode => Path is { } p ? p.Inode : throw new InvalidOperationException("a file description without a path");

    public override long Sync() => 0;

    public override string Name => Path is { } p ? p.Dentry.Name : "?";

    public override long Seek(long offset, int whence)
    {
        lock (OffsetLock)
        {
            if (whence is 3 or 4)
            {
                if (offset < 0) return -(long)Errno.ENXIO;
                long r = SeekDataOrHole(offset, whence == 3);
                if (r < 0) return r;
                Offset = r;
                return r;
            }
            long basis = whence switch
            {
                0 => 0,
                1 => Offset,
                2 => Inode.Size,
                3 or 4 => offset, // SEEK_DATA / SEEK_HOLE
                _ => -1,
            };
            if (basis < 0) return -(long)Errno.EINVAL;
            if (whence is 3 or 4)
            {
                long r = SeekDataOrHole(offset, whence == 3);
                if (r < 0) return r;
                Offset = r;
                return r;
            }
            long next = basis + offset;
            if ((offset > 0 && next < basis) || next < 0) return -(long)Errno.EINVAL;
            Offset = next;
            return next;
        }
    }

    /// <summary>Default SEEK_DATA/SEEK_HOLE: the whole file is data, the hole is at the end.</summary>
    protected virtual long SeekDataOrHole(long offset, bool data)
    {
        long size = Inode.Size;
        if (offset < 0 || offset >= size) return -(long)Errno.ENXIO;
        return data ? offset : size;
    }

    /// <summary>Whether a write in this mode goes to the end of the file.</summary>
    protected bool Appends(AppendMode mode) =>
        mode == AppendMode.Append || (mode == AppendMode.AsOpened && (Flags & OpenFlags.O_APPEND) != 0);

    /// <summary>Runs a read or write at the explicit offset, or at (and advancing) the shared one.
    /// An appending write goes to the end of the file whatever the offset, as on Linux (the
    /// shared offset moves past it only when no explicit offset was given).</summary>
    protected long AtOffset(long offset, Func<long, long> op, bool append = false)
    {
        if (offset >= 0 && !append) return op(offset);
        lock (OffsetLock)
        {
            long at = append ? Inode.Size : Offset;
            long n = op(at);
            if (n > 0 && offset < 0) Offset = at + n;
            return n;
        }
    }
}

/// <summary>A directory opened for reading: getdents over a snapshot of ".", ".." and the
/// entries, taken at the first read and retaken after lseek to 0.</summary>
public sealed class DirectoryFile : InodeFile
{
    private List<DirEntry>? _entries;

    public DirectoryFile(PathPos path, int flags) : base(path, flags) { }

    public override long Read(Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EISDIR;

    public override long Write(Task task, ReadOnlySpan<Iovec> guestIovecs, long offset) => -(long)Errno.EBADF;

    public override long Seek(long offset, int whence)
    {
        lock (OffsetLock)
        {
            if (whence == 0 && offset >= 0) { Offset = offset; if (offset == 0) _entries = null; return offset; }
            if (whence == 1 && Offset + offset >= 0) { Offset += offset; return Offset; }
            return -(long)Errno.EINVAL;
        }
    }

    public override long Getdents(Task task, ulong addr, int count, bool is64)
    {
        lock (OffsetLock)
        {
            if (_entries == null)
            {
                var entries = new List<DirEntry>();
                if (Path is not { } pos) return -(long)Errno.ENOTDIR;
                var parent = pos.Dentry.Parent ?? pos.Dentry;
                entries.Add(new DirEntry(".", pos.Inode.Ino, DirentType.DT_DIR));
                entries.Add(new DirEntry("..", parent.Inode.Ino, DirentType.DT_DIR));
                long r = pos.Inode.ReadDir(entries);
                if (r < 0) return r;
                _entries = entries;
            }
            // Records are packed in a pooled buffer and copied out in pieces of up to 64 KiB,
            // not one copy per entry; the offset moves past the entries of each piece copied.
            byte[] pack = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Clamp(count, 512, 1 << 16));
            try
            {
                int written = 0, packed = 0;
                long next = Offset;
                while (next < _entries.Count)
                {
                    var e = _entries[(int)next];
                    int len = DirentSize(e, is64);
                    if (written + packed + len > count)
                    {
                        if (written + packed == 0) return -(long)Errno.EINVAL;
                        break;
                    }
                    if (packed + len > pack.Length)
                    {
                        long r = task.MemoryManager.CopyOut(addr + (ulong)written, pack.AsSpan(0, packed));
                        if (r < 0) return written > 0 ? written : r;
                        written += packed;
                        packed = 0;
                        Offset = next;
                    }
                    EncodeDirent(pack.AsSpan(packed, len), e, next + 1, is64);
                    packed += len;
                    next++;
                }
                if (packed > 0)
                {
                    long r = task.MemoryManager.CopyOut(addr + (ulong)written, pack.AsSpan(0, packed));
                    if (r < 0) return written > 0 ? written : r;
                    written += packed;
                    Offset = next;
                }
                return written;
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(pack);
            }
        }
    }

    private static int DirentSize(DirEntry e, bool is64) =>
        ((is64 ? 19 : 18) + System.Text.Encoding.UTF8.GetByteCount(e.Name) + 1 + (is64 ? 0 : 1) + 7) & ~7;

    /// <summary>linux_dirent64: ino[8] off[8] reclen[2] type[1] name NUL, padded to 8.
    /// linux_dirent: ino[8] off[8] reclen[2] name NUL, type in the last byte.</summary>
    private static int EncodeDirent(Span<byte> buf, DirEntry e, long nextOffset, bool is64)
    {
        int nameLen = System.Text.Encoding.UTF8.GetByteCount(e.Name);
        int header = is64 ? 19 : 18;
        int len = (header + nameLen + 1 + (is64 ? 0 : 1) + 7) & ~7;
        buf[..len].Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(buf, e.Ino);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(buf[8..], nextOffset);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(buf[16..], (ushort)len);
        if (is64) buf[18] = e.Type;
        System.Text.Encoding.UTF8.GetBytes(e.Name, buf[header..]);
        if (!is64) buf[len - 1] = e.Type;
        return len;
    }
}
