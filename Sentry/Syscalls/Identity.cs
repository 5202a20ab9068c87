using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>User and group identity queries (the changes are in Creds.cs; process groups
/// and sessions in ProcessAttrs.cs).</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall getuid(2).</summary>
    public static long Getuid(Task t, in SyscallArgs a) => t.Creds.RealUid;

    /// <summary>Implements Linux syscall geteuid(2).</summary>
    public static long Geteuid(Task t, in SyscallArgs a) => t.Creds.EffectiveUid;

    /// <summary>Implements Linux syscall getgid(2).</summary>
    public static long Getgid(Task t, in SyscallArgs a) => t.Creds.RealGid;

    /// <summary>Implements Linux syscall getegid(2).</summary>
    public static long Getegid(Task t, in SyscallArgs a) => t.Creds.EffectiveGid;

    /// <summary>Implements Linux syscall getresuid(2).</summary>
    public static long Getresuid(Task t, in SyscallArgs a) =>
        CopyOutThree(t, a, t.Creds.RealUid, t.Creds.EffectiveUid, t.Creds.SavedUid);

    /// <summary>Implements Linux syscall getresgid(2).</summary>
    public static long Getresgid(Task t, in SyscallArgs a) =>
        CopyOutThree(t, a, t.Creds.RealGid, t.Creds.EffectiveGid, t.Creds.SavedGid);

    private static long CopyOutThree(Task t, in SyscallArgs a, uint r, uint e, uint s)
    {
        long rc = t.MemoryManager.CopyOut(a.A0, r);
        if (rc == 0) rc = t.MemoryManager.CopyOut(a.A1, e);
        if (rc == 0) rc = t.MemoryManager.CopyOut(a.A2, s);
        return rc;
    }

    /// <summary>Implements Linux syscall getgroups(2).</summary>
    public static long Getgroups(Task t, in SyscallArgs a)
    {
        int size = (int)a.A0;
        uint[] groups = t.Creds.Groups;
        if (size == 0) return groups.Length;
        if (size < groups.Length || size < 0) return -(long)Abi.Errno.EINVAL;
        long r = t.MemoryManager.CopyOut(a.A1, System.Runtime.InteropServices.MemoryMarshal.AsBytes(groups.AsSpan()));
        return r < 0 ? r : groups.Length;
    }

    /// <summary>Implements Linux syscall umask(2).</summary>
    public static long Umask(Task t, in SyscallArgs a)
    {
        int old = t.Umask;
        t.Umask = (int)a.A0 & 0x1ff;
        return old;
    }
}
