using Sandbox.Abi;
using Sandbox.Sentry.Fs.Tmpfs;
using static Sandbox.Abi.Mm;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Memory-management system calls.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall brk(2).</summary>
    public static long Brk(Task t, in SyscallArgs a) => (long)t.MemoryManager.SetBrk(a.A0);

    /// <summary>Implements Linux syscall mmap(2): anonymous memory, and files (tmpfs files by
    /// their own pages, private mappings copying a page on its first write; lower-layer files
    /// from the file cache; others by copying their data in, shared ones written back).</summary>
    public static long Mmap(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A3, prot = (int)a.A2;
        if ((a.A5 & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        if ((flags & MAP_ANONYMOUS) != 0) return t.MemoryManager.Mmap(a.A0, a.A1, prot, flags);
        if (t.Fds.Get((int)a.A4) is not { } f) return -(long)Errno.EBADF;
        if (f.Path is not { } path) return -(long)Errno.ENODEV;
        var inode = path.Inode;
        // /dev/zero maps anonymous memory.
        if (inode.Type == StatMode.S_IFCHR && inode.Rdev == Vfs.DeviceRegistry.MakeDev(1, 5))
            return t.MemoryManager.Mmap(a.A0, a.A1, prot, flags);
        if (!inode.IsRegular) return -(long)Errno.ENODEV;
        if (!f.Readable) return -(long)Errno.EACCES;
        bool shared = (flags & MAP_TYPE) != MAP_PRIVATE;
        if (shared && (prot & PROT_WRITE) != 0 && !f.Writable) return -(long)Errno.EACCES;
        if ((long)a.A5 < 0) return -(long)Errno.EOVERFLOW;
        if (shared && (prot & PROT_WRITE) != 0 && inode is Fs.Overlay.OverlayInode overlay)
        {
            long r = overlay.CopyUp();
            if (r < 0) return r;
        }
        // /proc/PID/maps names the file as Linux's d_path does, " (deleted)" once unlinked (a
        // memfd always); the name is taken now, so a later unlink does not show.
        string name = Vfs.MountNamespace.PathOf(path, t.Fs.Root) + (path.Dentry.Deleted ? " (deleted)" : "");
        // A private mapping that does not write maps the file cache's pages: nothing is copied.
        if (!shared && (prot & PROT_WRITE) == 0 && t.Kernel.FileCache.Acquire(inode) is { } cached)
        {
            if ((long)a.A5 < cached.Pages.Length)
                return t.MemoryManager.MapFromCache(a.A0, a.A1, prot, flags, cached, t.Kernel.FileCache, (long)a.A5, name, inode.Ino, inode.FileSystem.DeviceId);
            t.Kernel.FileCache.Release(cached); // starts past the end of the file: zero pages, as before
        }
        // A shared mapping can become writable later only through a descriptor open for writing.
        bool denyWrite = shared && !f.Writable;
        if (shared && inode.SharedPages is TmpfsFile pages)
        {
            // Seals are checked and the mapping made under the seal lock, so a concurrent
            // F_SEAL_WRITE either sees this mapping or refuses it.
            lock (pages.SealLock)
            {
                if (pages.WriteSealed)
                {
                    if ((prot & PROT_WRITE) != 0) return -(long)Errno.EPERM;
                    denyWrite = true;
                }
                return t.MemoryManager.MmapFile(a.A0, a.A1, prot, flags, inode, (long)a.A5, name, denyWrite);
            }
        }
        return t.MemoryManager.MmapFile(a.A0, a.A1, prot, flags, inode, (long)a.A5, name, denyWrite);
    }

    /// <summary>Implements Linux syscall msync(2).</summary>
    public static long Msync(Task t, in SyscallArgs a)
    {
        const int MS_ASYNC = 1, MS_INVALIDATE = 2, MS_SYNC = 4;
        int flags = (int)a.A2;
        if ((a.A0 & (PageSize - 1)) != 0 || (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) != 0
            || (flags & (MS_ASYNC | MS_SYNC)) == (MS_ASYNC | MS_SYNC)) return -(long)Errno.EINVAL;
        ulong end = a.A0 + ((a.A1 + PageSize - 1) & ~(PageSize - 1));
        if (a.A1 > 0 && t.MemoryManager.Find(a.A0) == null) return -(long)Errno.ENOMEM;
        return t.MemoryManager.WriteBack(a.A0, end);
    }

    /// <summary>Implements Linux syscall munmap(2).</summary>
    public static long Munmap(Task t, in SyscallArgs a) => t.MemoryManager.Munmap(a.A0, a.A1);

    /// <summary>Implements Linux syscall mprotect(2).</summary>
    public static long Mprotect(Task t, in SyscallArgs a) => t.MemoryManager.Mprotect(a.A0, a.A1, (int)a.A2);

    /// <summary>Implements Linux syscall madvise(2).</summary>
    public static long Madvise(Task t, in SyscallArgs a) => t.MemoryManager.Madvise(a.A0, a.A1, (int)a.A2);

    /// <summary>Implements Linux syscall mremap(2).</summary>
    public static long Mremap(Task t, in SyscallArgs a) => t.MemoryManager.Mremap(a.A0, a.A1, a.A2, (int)a.A3, a.A4);
}
