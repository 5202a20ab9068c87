using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.AccessMode;

namespace Sandbox.Sentry.Vfs;

/// <summary>Linux's discretionary access checks (generic_permission): owner, group or other
/// bits; root's override (CAP_DAC_OVERRIDE) for read and write, and for execute when some
/// execute bit is set or the inode is a directory.</summary>
public static class Permissions
{
    public static long Check(Credentials c, Inode inode, int access) =>
        Allowed(c, inode, access) ? 0 : -(long)Errno.EACCES;

    public static bool Allowed(Credentials c, Inode inode, int access, bool useRealIds = false)
    {
        access &= R_OK | W_OK | X_OK;
        if (access == 0) return true;
        uint uid = useRealIds ? c.RealUid : c.EffectiveUid;
        uint gid = useRealIds ? c.RealGid : c.EffectiveGid;
        uint mode = inode.Mode;
        if (uid == 0)
        {
            if ((access & X_OK) == 0) return true;
            return inode.IsDirectory || (mode & 0x49 /* 0111 */) != 0;
        }
        uint bits;
        if (uid == inode.Uid) bits = (mode >> 6) & 7;
        else if (gid == inode.Gid || Array.IndexOf(c.Groups, inode.Gid) >= 0) bits = (mode >> 3) & 7;
        else bits = mode & 7;
        return ((uint)access & ~bits) == 0;
    }

    /// <summary>Owner or root: who may chmod, utime to arbitrary values, and so on.</summary>
    public static bool IsOwnerOrRoot(Credentials c, Inode inode) => c.EffectiveUid == 0 || c.EffectiveUid == inode.Uid;

    /// <summary>The sticky bit: in a sticky directory only the owner of the entry, the owner
    /// of the directory or root may remove or rename the entry.</summary>
    public static bool MayDeleteFromSticky(Credentials c, Inode dir, Inode victim) =>
        (dir.Mode & 0x200 /* S_ISVTX */) == 0 || c.EffectiveUid == 0 || c.EffectiveUid == dir.Uid || c.EffectiveUid == victim.Uid;
}
