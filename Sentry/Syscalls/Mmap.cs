using Sandbox.Abi;
using static Sandbox.Abi.Mm;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Memory-management system calls.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall brk(2).</summary>
    public static long Brk(Task t, in SyscallArgs a) => (long)t.MemoryManager.SetBrk(a.A0);

    /// <summary>Implements Linux syscall mmap(2) for anonymous memory; file mappings arrive
    /// with the VFS.</summary>
    public static long Mmap(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A3;
        if ((flags & MAP_ANONYMOUS) == 0)
            return t.Fds.Get((int)a.A4) == null ? -(long)Errno.EBADF : -(long)Errno.ENODEV;
        if ((a.A5 & (PageSize - 1)) != 0) return -(long)Errno.EINVAL;
        return t.MemoryManager.Mmap(a.A0, a.A1, (int)a.A2, flags);
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
