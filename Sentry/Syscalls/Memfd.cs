using Sandbox.Abi;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Fcntl;
using static Sandbox.Abi.Memfd;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>memfd_create and file seals (fcntl F_ADD_SEALS / F_GET_SEALS).</summary>
public static partial class Linux
{
    /// <summary>The file system behind memfd_create: unlinked tmpfs files.</summary>
    private static TmpfsFileSystem? _memfdFs;
    private static Mount? _memfdMount;

    private const int AllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

    /// <summary>MFD_HUGE_* page sizes: bits 26-31, valid only with MFD_HUGETLB.</summary>
    private const uint MfdHugeSizeMask = 0xfc000000;

    /// <summary>Implements Linux syscall memfd_create(2).</summary>
    public static long MemfdCreate(Task t, in SyscallArgs a)
    {
        uint flags = (uint)a.A1;
        const uint Known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
        if ((flags & ~(Known | ((flags & MFD_HUGETLB) != 0 ? MfdHugeSizeMask : 0))) != 0) return -(long)Errno.EINVAL;
        if ((flags & MFD_HUGETLB) != 0) return -(long)Errno.EINVAL;
        if ((flags & (MFD_EXEC | MFD_NOEXEC_SEAL)) == (MFD_EXEC | MFD_NOEXEC_SEAL)) return -(long)Errno.EINVAL;
        long r = t.MemoryManager.ReadCString(a.A0, 249, out string name);
        if (r == -(long)Errno.ENAMETOOLONG) return -(long)Errno.EINVAL;
        if (r < 0) return r;
        lock (typeof(Linux))
        {
            _memfdFs ??= new TmpfsFileSystem(t.Kernel.Platform.MemoryFile);
            _memfdMount ??= new Mount(_memfdFs, new Dentry("/", null, _memfdFs.Root), "memfd", readOnly: false);
        }
        // Without MFD_ALLOW_SEALING the seals are fixed at F_SEAL_SEAL; MFD_NOEXEC_SEAL makes the
        // file non-executable for good (and allows sealing).
        bool noExec = (flags & MFD_NOEXEC_SEAL) != 0;
        int seals = noExec ? F_SEAL_EXEC : (flags & MFD_ALLOW_SEALING) != 0 ? 0 : F_SEAL_SEAL;
        var inode = new TmpfsFile(_memfdFs, noExec ? 0x1b6u /* 0666 */ : 0x1ffu /* 0777 */, t.Creds.EffectiveUid, t.Creds.EffectiveGid) { Nlink = 0 };
        inode.InitSeals(seals);
        var dentry = new Dentry($"memfd:{name}", _memfdMount.Root, inode);
        dentry.MarkDeleted();
        r = inode.Open(t, new PathPos(_memfdMount, dentry), OpenFlags.O_RDWR, out FileDescription? file);
        if (r < 0) return r;
        long fd = t.Fds.Allocate(file!, 0, (flags & MFD_CLOEXEC) != 0);
        file!.DecRef();
        return fd;
    }

    /// <summary>fcntl F_ADD_SEALS and F_GET_SEALS. Seals belong to tmpfs files (memfds; other
    /// tmpfs files carry F_SEAL_SEAL from the start); other files have none (EINVAL).</summary>
    private static long FileSeals(Task t, FileDescription f, int cmd, ulong arg)
    {
        var file = f.Path?.Inode as TmpfsFile;
        if (cmd == F_GET_SEALS) return file != null ? file.Seals : -(long)Errno.EINVAL;
        if (!f.Writable) return -(long)Errno.EPERM;
        int seals = (int)arg;
        if ((seals & ~AllSeals) != 0 || file == null) return -(long)Errno.EINVAL;
        return file.AddSeals(seals, () => MappedWritably(t, file));
    }

    /// <summary>Whether any address space has a shared mapping of the file that may write it.</summary>
    private static bool MappedWritably(Task t, TmpfsFile file)
    {
        var seen = new HashSet<MemoryManager>();
        foreach (var task in t.Kernel.Tasks.Values)
            if (seen.Add(task.MemoryManager) && task.MemoryManager.MapsWritably(file)) return true;
        return false;
    }
}
