using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

// Building blocks for file systems whose contents the Sentry makes up (procfs, sysfs):
// directories with fixed or computed children, files generated when opened, and symlinks
// whose target is computed. gVisor's kernfs plays this role.

/// <summary>A file system of synthesised inodes. The root is set once the tree is built.</summary>
public class SyntheticFileSystem(string type, long magic) : FileSystem
{
    private Inode? _root;

    public override string Type { get; } = type;
    public override long Magic { get; } = magic;
    public override Inode Root => _root ?? throw new InvalidOperationException($"{Type}: root not set");

    public void SetRoot(Inode root) => _root = root;
}

/// <summary>A read-only synthetic directory: opening gives getdents over ReadDir.</summary>
public abstract class SyntheticDirectory(FileSystem fs, uint perm, uint uid = 0, uint gid = 0)
    : Inode(fs, S_IFDIR | (perm & 0xfff), uid, gid)
{
    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = new DirectoryFile(path, flags);
        return 0;
    }
}

/// <summary>A directory whose children are fixed when the tree is built, listed in the order added.</summary>
public class StaticDirectory(FileSystem fs, uint perm = 0x16d /* 0555 */, uint uid = 0, uint gid = 0)
    : SyntheticDirectory(fs, perm, uid, gid)
{
    private readonly List<(string Name, Inode Inode)> _ordered = [];
    private readonly Dictionary<string, Inode> _byName = new(StringComparer.Ordinal);

    /// <summary>Adds a child (last one wins on a duplicate name) and returns it.</summary>
    public T Add<T>(string name, T inode) where T : Inode
    {
        lock (_byName)
        {
            if (_byName.Remove(name)) _ordered.RemoveAll(e => e.Name == name);
            _byName[name] = inode;
            _ordered.Add((name, inode));
            if (inode.IsDirectory) Nlink++;
        }
        return inode;
    }

    /// <summary>The subdirectory called name, made (as a StaticDirectory) if it is not there yet.</summary>
    public StaticDirectory Dir(string name, uint perm = 0x16d)
    {
        lock (_byName)
            if (_byName.TryGetValue(name, out var existing) && existing is StaticDirectory d) return d;
        return Add(name, new StaticDirectory(FileSystem, perm));
    }

    /// <summary>Adds a read-only file generated from the reader's point of view at open time.</summary>
    public GeneratedFile File(string name, Func<Task, byte[]?> generate, uint perm = 0x124 /* 0444 */, ProcWriter? write = null) =>
        Add(name, new GeneratedFile(FileSystem, perm, generate, write));

    /// <summary>Adds a file with fixed text.</summary>
    public GeneratedFile Text(string name, string text, uint perm = 0x124)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return File(name, _ => bytes, perm);
    }

    /// <summary>Adds a symlink with a fixed target.</summary>
    public SyntheticSymlink Link(string name, string target) =>
        Add(name, new SyntheticSymlink(FileSystem, () => target));

    public override long Lookup(string name, out Inode? child)
    {
        lock (_byName)
            return _byName.TryGetValue(name, out child) ? 0 : -(long)Errno.ENOENT;
    }

    public override long ReadDir(List<DirEntry> entries)
    {
        lock (_byName)
            foreach (var (name, inode) in _ordered)
                entries.Add(new DirEntry(name, inode.Ino, DirentType.FromMode(inode.Mode)));
        return 0;
    }
}

/// <summary>Handles a write to a generated file: returns the bytes consumed or -errno.</summary>
public delegate long ProcWriter(Task writer, ReadOnlySpan<byte> data);

/// <summary>A regular file whose contents are generated for the reader when it is opened (a
/// snapshot, as seq_file gives on Linux). The generator returns null when the object the file
/// describes is gone (ENOENT). Writes go to an optional writer; without one, opening for
/// writing is refused with EACCES. exists, if given, says whether the object is still there:
/// a name the dentry cache kept for it then stats as ENOENT. mayOpen, if given, vets the
/// opener first (0 or -errno), e.g. for files private to a process.</summary>
public sealed class GeneratedFile(FileSystem fs, uint perm, Func<Task, byte[]?> generate, ProcWriter? write = null,
    uint uid = 0, uint gid = 0, Func<bool>? exists = null, Func<Task, long>? mayOpen = null)
    : Inode(fs, S_IFREG | (perm & 0xfff), uid, gid)
{
    public ProcWriter? Writer { get; } = write;

    public override long Stat(out Stat st)
    {
        if (exists != null && !exists())
        {
            st = default;
            return -(long)Errno.ENOENT;
        }
        return base.Stat(out st);
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        int access = flags & OpenFlags.O_ACCMODE;
        if (access != OpenFlags.O_RDONLY && Writer == null) return -(long)Errno.EACCES;
        long allowed = mayOpen?.Invoke(task) ?? 0;
        if (allowed < 0) return allowed;
        byte[] data = [];
        if (access != OpenFlags.O_WRONLY)
        {
            byte[]? generated;
            try
            {
                generated = generate(task);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A bug in a generator must not take the Sentry down with it.
                task.Kernel.Log.Warning($"[{task.Tid}] generating {path.Dentry.Name} failed: {e}");
                return -(long)Errno.EIO;
            }
            if (generated == null) return -(long)Errno.ENOENT;
            data = generated;
        }
        file = new GeneratedFileDescription(this, data, path, flags);
        return 0;
    }

    public override long Truncate(long size) => Writer != null ? 0 : -(long)Errno.EACCES;
}

/// <summary>An open <see cref="GeneratedFile"/>: reads come from the snapshot taken at open.</summary>
public sealed class GeneratedFileDescription(GeneratedFile file, byte[] data, PathPos path, int flags) : InodeFile(path, flags)
{
    /// <summary>The most a single write may pass to a writer (Linux takes a page for sysctls).</summary>
    private const int MaxWrite = 64 * 1024;

    /// <summary>Linux's proc and sys files refuse RWF_NOWAIT.</summary>
    public override bool NoWaitSupported => false;

    public override long Read(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        ReadAt(new IoBuffers(task.MemoryManager, iovecs), offset);

    public override long ReadKernel(Span<byte> dst, long offset) => ReadAt(new IoBuffers(dst), offset);

    public override long Write(Task task, ReadOnlySpan<Iovec> iovecs, long offset) =>
        WriteFrom(task, new IoBuffers(task.MemoryManager, iovecs));

    public override long WriteKernel(ReadOnlySpan<byte> src, long offset) =>
        Task.Current is { } task ? WriteFrom(task, IoBuffers.Source(src)) : -(long)Errno.EINVAL;

    private long ReadAt(IoBuffers dst, long offset)
    {
        if (!Readable) return -(long)Errno.EBADF;
        if (offset >= 0) return CopyOut(dst, offset);
        lock (OffsetLock)
        {
            long n = CopyOut(dst, Offset);
            if (n > 0) Offset += n;
            return n;
        }
    }

    /// <summary>Copies the snapshot from offset; EFAULT only if nothing could be copied.</summary>
    private long CopyOut(IoBuffers dst, long offset)
    {
        if (offset >= data.Length || dst.Length == 0) return 0;
        int want = (int)Math.Min(dst.Length, data.Length - offset);
        int copied = dst.CopyOut(0, data.AsSpan((int)offset, want));
        return copied > 0 ? copied : -(long)Errno.EFAULT;
    }

    private long WriteFrom(Task task, IoBuffers src)
    {
        if (!Writable || file.Writer == null) return -(long)Errno.EBADF;
        var buf = new byte[(int)Math.Min(src.Length, MaxWrite)];
        int n = src.CopyIn(0, buf);
        if (n == 0 && buf.Length > 0) return -(long)Errno.EFAULT;
        return file.Writer(task, buf.AsSpan(0, n));
    }

    /// <summary>seq_file semantics: SEEK_SET and SEEK_CUR only.</summary>
    public override long Seek(long offset, int whence)
    {
        lock (OffsetLock)
        {
            long next = whence switch
            {
                0 => offset,
                1 => Offset + offset,
                _ => -1,
            };
            if (next < 0) return -(long)Errno.EINVAL;
            Offset = next;
            return next;
        }
    }

    public override long Truncate(long size) => file.Writer != null ? 0 : -(long)Errno.EINVAL;
}

/// <summary>A symlink whose target is computed each time it is read (null: ENOENT). Not a
/// magic link: the walk follows the text, so /proc/self resolves to the caller's pid
/// directory, as on Linux.</summary>
public class SyntheticSymlink(FileSystem fs, Func<string?> target, uint uid = 0, uint gid = 0)
    : Inode(fs, S_IFLNK | 0x1ff, uid, gid)
{
    public override long ReadLink(out string text)
    {
        text = target() ?? "";
        return text.Length == 0 ? -(long)Errno.ENOENT : 0;
    }

    public override long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        return -(long)Errno.ELOOP;
    }
}
