using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Extended attribute system calls.</summary>
public static partial class Linux
{
    private const int XattrNameMax = 255, XattrSizeMax = 65536, XattrListMax = 65536;

    private static long XattrTarget(Task t, in SyscallArgs a, XattrVariant v, out PathPos pos)
    {
        pos = default;
        return v switch
        {
            XattrVariant.Fd => FdPath(t, a.A0, out pos),
            XattrVariant.Link => LookupAt(t, AT_FDCWD, a.A0, follow: false, allowEmpty: false, out pos),
            _ => LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out pos),
        };
    }

    internal enum XattrVariant { Path, Link, Fd }

    private static long XattrName(Task t, ulong addr, out string name)
    {
        long r = t.MemoryManager.ReadCString(addr, XattrNameMax, out name);
        if (r == -(long)Errno.ENAMETOOLONG) return -(long)Errno.ERANGE;
        if (r == 0 && name.Length == 0) return -(long)Errno.ERANGE;
        return r;
    }

    private static long GetXattr(Task t, in SyscallArgs a, XattrVariant v)
    {
        long r = XattrTarget(t, a, v, out PathPos pos);
        if (r < 0) return r;
        r = XattrName(t, a.A1, out string name);
        if (r < 0) return r;
        if (!Permissions.Allowed(t.Creds, pos.Inode, AccessMode.R_OK) && name.StartsWith("user.", StringComparison.Ordinal))
            return -(long)Errno.EACCES;
        if (name.StartsWith("trusted.", StringComparison.Ordinal) && t.Creds.EffectiveUid != 0) return -(long)Errno.ENODATA;
        r = pos.Inode.GetXattr(name, out byte[]? value);
        if (r < 0) return r;
        if (a.A3 == 0) return value!.Length;
        if ((ulong)value!.Length > a.A3) return -(long)Errno.ERANGE;
        r = t.MemoryManager.CopyOut(a.A2, value);
        return r < 0 ? r : value.Length;
    }

    private static long SetXattr(Task t, in SyscallArgs a, XattrVariant v)
    {
        int flags = (int)a.A4;
        if ((flags & ~3) != 0 || flags == 3) return -(long)Errno.EINVAL;
        if (a.A3 > XattrSizeMax) return -(long)Errno.E2BIG;
        long r = XattrTarget(t, a, v, out PathPos pos);
        if (r < 0) return r;
        r = XattrName(t, a.A1, out string name);
        if (r < 0) return r;
        if (pos.Mount.ReadOnly) return -(long)Errno.EROFS;
        if (name.StartsWith("trusted.", StringComparison.Ordinal) && t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        if (name.StartsWith("user.", StringComparison.Ordinal))
        {
            if (!pos.Inode.IsRegular && !pos.Inode.IsDirectory) return -(long)Errno.EPERM;
            if (!Permissions.Allowed(t.Creds, pos.Inode, AccessMode.W_OK)) return -(long)Errno.EACCES;
        }
        var value = new byte[a.A3];
        if (value.Length > 0 && t.MemoryManager.CopyIn(a.A2, value) < 0) return -(long)Errno.EFAULT;
        return pos.Inode.SetXattr(name, value, flags);
    }

    private static long ListXattr(Task t, in SyscallArgs a, XattrVariant v)
    {
        long r = XattrTarget(t, a, v, out PathPos pos);
        if (r < 0) return r;
        var names = new List<string>();
        r = pos.Inode.ListXattr(names);
        if (r < 0) return r;
        var sb = new StringBuilder();
        foreach (string n in names)
            if (!n.StartsWith("trusted.", StringComparison.Ordinal) || t.Creds.EffectiveUid == 0) sb.Append(n).Append('\0');
        byte[] list = Encoding.UTF8.GetBytes(sb.ToString());
        if (list.Length > XattrListMax) return -(long)Errno.E2BIG;
        if (a.A2 == 0) return list.Length;
        if ((ulong)list.Length > a.A2) return -(long)Errno.ERANGE;
        r = t.MemoryManager.CopyOut(a.A1, list);
        return r < 0 ? r : list.Length;
    }

    private static long RemoveXattr(Task t, in SyscallArgs a, XattrVariant v)
    {
        long r = XattrTarget(t, a, v, out PathPos pos);
        if (r < 0) return r;
        r = XattrName(t, a.A1, out string name);
        if (r < 0) return r;
        if (pos.Mount.ReadOnly) return -(long)Errno.EROFS;
        if (name.StartsWith("trusted.", StringComparison.Ordinal) && t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        if (name.StartsWith("user.", StringComparison.Ordinal) && !Permissions.Allowed(t.Creds, pos.Inode, AccessMode.W_OK))
            return -(long)Errno.EACCES;
        return pos.Inode.RemoveXattr(name);
    }

    /// <summary>Implements Linux syscall getxattr(2).</summary>
    public static long Getxattr(Task t, in SyscallArgs a) => GetXattr(t, a, XattrVariant.Path);
    /// <summary>Implements Linux syscall lgetxattr(2).</summary>
    public static long Lgetxattr(Task t, in SyscallArgs a) => GetXattr(t, a, XattrVariant.Link);
    /// <summary>Implements Linux syscall fgetxattr(2).</summary>
    public static long Fgetxattr(Task t, in SyscallArgs a) => GetXattr(t, a, XattrVariant.Fd);
    /// <summary>Implements Linux syscall setxattr(2).</summary>
    public static long Setxattr(Task t, in SyscallArgs a) => SetXattr(t, a, XattrVariant.Path);
    /// <summary>Implements Linux syscall lsetxattr(2).</summary>
    public static long Lsetxattr(Task t, in SyscallArgs a) => SetXattr(t, a, XattrVariant.Link);
    /// <summary>Implements Linux syscall fsetxattr(2).</summary>
    public static long Fsetxattr(Task t, in SyscallArgs a) => SetXattr(t, a, XattrVariant.Fd);
    /// <summary>Implements Linux syscall listxattr(2).</summary>
    public static long Listxattr(Task t, in SyscallArgs a) => ListXattr(t, a, XattrVariant.Path);
    /// <summary>Implements Linux syscall llistxattr(2).</summary>
    public static long Llistxattr(Task t, in SyscallArgs a) => ListXattr(t, a, XattrVariant.Link);
    /// <summary>Implements Linux syscall flistxattr(2).</summary>
    public static long Flistxattr(Task t, in SyscallArgs a) => ListXattr(t, a, XattrVariant.Fd);
    /// <summary>Implements Linux syscall removexattr(2).</summary>
    public static long Removexattr(Task t, in SyscallArgs a) => RemoveXattr(t, a, XattrVariant.Path);
    /// <summary>Implements Linux syscall lremovexattr(2).</summary>
    public static long Lremovexattr(Task t, in SyscallArgs a) => RemoveXattr(t, a, XattrVariant.Link);
    /// <summary>Implements Linux syscall fremovexattr(2).</summary>
    public static long Fremovexattr(Task t, in SyscallArgs a) => RemoveXattr(t, a, XattrVariant.Fd);
}
