using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Credential changes: the set*uid and set*gid family, setgroups, capget and capset,
/// with Linux's permission rules (kernel/sys.c, kernel/capability.c, security/commoncap.c).
/// Each call copies the task's credentials, changes the copy and commits it whole.</summary>
public static partial class Linux
{
    /// <summary>Capability numbers (include/uapi/linux/capability.h) the permission checks use.</summary>
    private static class CredCaps
    {
        public const int CHOWN = 0, DAC_OVERRIDE = 1, DAC_READ_SEARCH = 2, FOWNER = 3, FSETID = 4;
        public const int SETGID = 6, SETUID = 7, SETPCAP = 8, LINUX_IMMUTABLE = 9;
        public const int SYS_ADMIN = 21, SYS_NICE = 23, MKNOD = 27, MAC_OVERRIDE = 32;

        /// <summary>The capabilities that follow the fsuid (CAP_FS_SET).</summary>
        public const ulong FsSet = (1UL << CHOWN) | (1UL << DAC_OVERRIDE) | (1UL << DAC_READ_SEARCH)
            | (1UL << FOWNER) | (1UL << FSETID) | (1UL << LINUX_IMMUTABLE) | (1UL << MKNOD) | (1UL << MAC_OVERRIDE);
    }

    /// <summary>(uid_t)-1: "unchanged" for setre*id/setres*id, invalid elsewhere; NGROUPS_MAX;
    /// the capget/capset header versions.</summary>
    private static class CredLimits
    {
        public const uint NoId = uint.MaxValue;
        public const int NgroupsMax = 65536;
        public const uint CapVersion1 = 0x19980330, CapVersion2 = 0x20071026, CapVersion3 = 0x20080522;
    }

    /// <summary>struct __user_cap_header_struct.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CapUserHeader
    {
        public uint Version;
        public int Pid;
    }

    /// <summary>struct __user_cap_data_struct: one 32-bit slice of each set.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CapUserData
    {
        public uint Effective, Permitted, Inheritable;
    }

    /// <summary>Implements Linux syscall setuid(2).</summary>
    public static long Setuid(Task t, in SyscallArgs a)
    {
        uint uid = (uint)a.A0;
        if (uid == CredLimits.NoId) return -(long)Errno.EINVAL;
        var old = t.Creds;
        var next = old.Clone();
        if (old.HasCapability(CredCaps.SETUID))
        {
            next.RealUid = next.SavedUid = uid;
        }
        else if (uid != old.RealUid && uid != old.SavedUid)
        {
            return -(long)Errno.EPERM;
        }
        next.EffectiveUid = next.FsUid = uid;
        CommitUidChange(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall setgid(2).</summary>
    public static long Setgid(Task t, in SyscallArgs a)
    {
        uint gid = (uint)a.A0;
        if (gid == CredLimits.NoId) return -(long)Errno.EINVAL;
        var old = t.Creds;
        var next = old.Clone();
        if (old.HasCapability(CredCaps.SETGID))
        {
            next.RealGid = next.SavedGid = gid;
        }
        else if (gid != old.RealGid && gid != old.SavedGid)
        {
            return -(long)Errno.EPERM;
        }
        next.EffectiveGid = next.FsGid = gid;
        CommitCreds(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall setreuid(2). Without CAP_SETUID the real uid may become
    /// the real or effective one, the effective uid any of the three; the saved uid follows the
    /// new effective uid when the real one is set or the effective one differs from the old real.</summary>
    public static long Setreuid(Task t, in SyscallArgs a)
    {
        uint ruid = (uint)a.A0, euid = (uint)a.A1;
        var old = t.Creds;
        var next = old.Clone();
        bool privileged = old.HasCapability(CredCaps.SETUID);
        if (ruid != CredLimits.NoId)
        {
            if (!privileged && ruid != old.RealUid && ruid != old.EffectiveUid) return -(long)Errno.EPERM;
            next.RealUid = ruid;
        }
        if (euid != CredLimits.NoId)
        {
            if (!privileged && euid != old.RealUid && euid != old.EffectiveUid && euid != old.SavedUid)
                return -(long)Errno.EPERM;
            next.EffectiveUid = euid;
        }
        if (ruid != CredLimits.NoId || (euid != CredLimits.NoId && euid != old.RealUid)) next.SavedUid = next.EffectiveUid;
        next.FsUid = next.EffectiveUid;
        CommitUidChange(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall setregid(2) (setreuid's rules, with CAP_SETGID).</summary>
    public static long Setregid(Task t, in SyscallArgs a)
    {
        uint rgid = (uint)a.A0, egid = (uint)a.A1;
        var old = t.Creds;
        var next = old.Clone();
        bool privileged = old.HasCapability(CredCaps.SETGID);
        if (rgid != CredLimits.NoId)
        {
            if (!privileged && rgid != old.RealGid && rgid != old.EffectiveGid) return -(long)Errno.EPERM;
            next.RealGid = rgid;
        }
        if (egid != CredLimits.NoId)
        {
            if (!privileged && egid != old.RealGid && egid != old.EffectiveGid && egid != old.SavedGid)
                return -(long)Errno.EPERM;
            next.EffectiveGid = egid;
        }
        if (rgid != CredLimits.NoId || (egid != CredLimits.NoId && egid != old.RealGid)) next.SavedGid = next.EffectiveGid;
        next.FsGid = next.EffectiveGid;
        CommitCreds(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall setresuid(2). Without CAP_SETUID each id given must
    /// be one of the current real, effective or saved uids.</summary>
    public static long Setresuid(Task t, in SyscallArgs a)
    {
        uint ruid = (uint)a.A0, euid = (uint)a.A1, suid = (uint)a.A2;
        var old = t.Creds;
        if (!old.HasCapability(CredCaps.SETUID)
            && (!IsCurrentId(ruid, old.RealUid, old.EffectiveUid, old.SavedUid)
                || !IsCurrentId(euid, old.RealUid, old.EffectiveUid, old.SavedUid)
                || !IsCurrentId(suid, old.RealUid, old.EffectiveUid, old.SavedUid)))
            return -(long)Errno.EPERM;
        var next = old.Clone();
        if (ruid != CredLimits.NoId) next.RealUid = ruid;
        if (euid != CredLimits.NoId) next.EffectiveUid = euid;
        if (suid != CredLimits.NoId) next.SavedUid = suid;
        next.FsUid = next.EffectiveUid;
        CommitUidChange(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall setresgid(2) (setresuid's rules, with CAP_SETGID).</summary>
    public static long Setresgid(Task t, in SyscallArgs a)
    {
        uint rgid = (uint)a.A0, egid = (uint)a.A1, sgid = (uint)a.A2;
        var old = t.Creds;
        if (!old.HasCapability(CredCaps.SETGID)
            && (!IsCurrentId(rgid, old.RealGid, old.EffectiveGid, old.SavedGid)
                || !IsCurrentId(egid, old.RealGid, old.EffectiveGid, old.SavedGid)
                || !IsCurrentId(sgid, old.RealGid, old.EffectiveGid, old.SavedGid)))
            return -(long)Errno.EPERM;
        var next = old.Clone();
        if (rgid != CredLimits.NoId) next.RealGid = rgid;
        if (egid != CredLimits.NoId) next.EffectiveGid = egid;
        if (sgid != CredLimits.NoId) next.SavedGid = sgid;
        next.FsGid = next.EffectiveGid;
        CommitCreds(t, old, next);
        return 0;
    }

    private static bool IsCurrentId(uint id, uint real, uint effective, uint saved) =>
        id == CredLimits.NoId || id == real || id == effective || id == saved;

    /// <summary>Implements Linux syscall setfsuid(2): never fails; returns the previous fsuid
    /// (an invalid or forbidden id only queries it).</summary>
    public static long Setfsuid(Task t, in SyscallArgs a)
    {
        uint uid = (uint)a.A0;
        var old = t.Creds;
        uint previous = old.FsUid;
        if (uid == CredLimits.NoId || uid == previous) return previous;
        if (uid != old.RealUid && uid != old.EffectiveUid && uid != old.SavedUid && !old.HasCapability(CredCaps.SETUID))
            return previous;
        var next = old.Clone();
        next.FsUid = uid;
        // The file system capabilities follow the fsuid in and out of 0.
        if (previous == 0 && uid != 0) next.CapEffective &= ~CredCaps.FsSet;
        if (previous != 0 && uid == 0) next.CapEffective |= next.CapPermitted & CredCaps.FsSet;
        CommitCreds(t, old, next);
        return previous;
    }

    /// <summary>Implements Linux syscall setfsgid(2): never fails; returns the previous fsgid.</summary>
    public static long Setfsgid(Task t, in SyscallArgs a)
    {
        uint gid = (uint)a.A0;
        var old = t.Creds;
        uint previous = old.FsGid;
        if (gid == CredLimits.NoId || gid == previous) return previous;
        if (gid != old.RealGid && gid != old.EffectiveGid && gid != old.SavedGid && !old.HasCapability(CredCaps.SETGID))
            return previous;
        var next = old.Clone();
        next.FsGid = gid;
        CommitCreds(t, old, next);
        return previous;
    }

    /// <summary>Implements Linux syscall setgroups(2): needs CAP_SETGID; the list is kept sorted,
    /// as getgroups reports it on Linux.</summary>
    public static long Setgroups(Task t, in SyscallArgs a)
    {
        var old = t.Creds;
        if (!old.HasCapability(CredCaps.SETGID)) return -(long)Errno.EPERM;
        uint size = (uint)a.A0;
        if (size > CredLimits.NgroupsMax) return -(long)Errno.EINVAL;
        var groups = new uint[size];
        if (size > 0 && t.MemoryManager.CopyIn(a.A1, MemoryMarshal.AsBytes(groups.AsSpan())) < 0)
            return -(long)Errno.EFAULT;
        if (Array.IndexOf(groups, CredLimits.NoId) >= 0) return -(long)Errno.EINVAL;
        Array.Sort(groups);
        var next = old.Clone();
        next.Groups = groups;
        CommitCreds(t, old, next);
        return 0;
    }

    /// <summary>Implements Linux syscall capget(2) for any thread (versions 1 to 3; an unknown
    /// version is answered with the preferred one and EINVAL).</summary>
    public static long Capget(Task t, in SyscallArgs a)
    {
        long r = CapabilityHeader(t, a.A0, out CapUserHeader header, out int words);
        if (a.A1 == 0) return r == -(long)Errno.EINVAL ? 0 : r;
        if (r < 0) return r;
        if (header.Pid < 0) return -(long)Errno.EINVAL;
        Credentials c;
        if (header.Pid == 0 || header.Pid == t.Tid) c = t.Creds;
        else if (t.Kernel.Tasks.TryGetValue(header.Pid, out var target)) c = target.Creds;
        else return -(long)Errno.ESRCH;
        Span<CapUserData> data = stackalloc CapUserData[2];
        for (int i = 0; i < words; i++)
        {
            data[i].Effective = (uint)(c.CapEffective >> (32 * i));
            data[i].Permitted = (uint)(c.CapPermitted >> (32 * i));
            data[i].Inheritable = (uint)(c.CapInheritable >> (32 * i));
        }
        return t.MemoryManager.CopyOut(a.A1, MemoryMarshal.AsBytes(data[..words]));
    }

    /// <summary>Implements Linux syscall capset(2) for the calling thread: the new permitted set
    /// must be within the old one, the effective within the new permitted, and the inheritable
    /// within the old inheritable and permitted (bounding set, without CAP_SETPCAP).</summary>
    public static long Capset(Task t, in SyscallArgs a)
    {
        long r = CapabilityHeader(t, a.A0, out CapUserHeader header, out int words);
        if (r < 0) return r;
        if (header.Pid != 0 && header.Pid != t.Tid) return -(long)Errno.EPERM;
        Span<CapUserData> data = stackalloc CapUserData[2];
        if (t.MemoryManager.CopyIn(a.A1, MemoryMarshal.AsBytes(data[..words])) < 0) return -(long)Errno.EFAULT;
        ulong effective = 0, permitted = 0, inheritable = 0;
        for (int i = 0; i < words; i++)
        {
            effective |= (ulong)data[i].Effective << (32 * i);
            permitted |= (ulong)data[i].Permitted << (32 * i);
            inheritable |= (ulong)data[i].Inheritable << (32 * i);
        }
        // Bits beyond CAP_LAST_CAP are dropped, as Linux does.
        effective &= Credentials.AllCapabilities;
        permitted &= Credentials.AllCapabilities;
        inheritable &= Credentials.AllCapabilities;

        var old = t.Creds;
        if (!old.HasCapability(CredCaps.SETPCAP) && (inheritable & ~(old.CapInheritable | old.CapPermitted)) != 0)
            return -(long)Errno.EPERM;
        if ((inheritable & ~(old.CapInheritable | old.CapBounding)) != 0) return -(long)Errno.EPERM;
        if ((permitted & ~old.CapPermitted) != 0) return -(long)Errno.EPERM;
        if ((effective & ~permitted) != 0) return -(long)Errno.EPERM;
        var next = old.Clone();
        next.CapEffective = effective;
        next.CapPermitted = permitted;
        next.CapInheritable = inheritable;
        next.CapAmbient &= permitted & inheritable;
        CommitCreds(t, old, next);
        return 0;
    }

    /// <summary>Reads and checks the capability header; words is how many 32-bit slices the
    /// version carries.</summary>
    private static long CapabilityHeader(Task t, ulong addr, out CapUserHeader header, out int words)
    {
        words = 0;
        if (t.MemoryManager.CopyIn(addr, out header) < 0) return -(long)Errno.EFAULT;
        switch (header.Version)
        {
            case CredLimits.CapVersion1:
                words = 1;
                return 0;
            case CredLimits.CapVersion2 or CredLimits.CapVersion3:
                words = 2;
                return 0;
            default:
                return t.MemoryManager.CopyOut(addr, CredLimits.CapVersion3) < 0 ? -(long)Errno.EFAULT : -(long)Errno.EINVAL;
        }
    }

    /// <summary>Commits credentials after a change of uids, first adjusting the capability sets
    /// as Linux does (cap_emulate_setxuid): leaving uid 0 in all of real, effective and saved
    /// clears permitted and effective (unless PR_SET_KEEPCAPS) and ambient; the effective set
    /// empties when the euid leaves 0 and is refilled from permitted when it returns to 0.</summary>
    private static void CommitUidChange(Task t, Credentials old, Credentials next)
    {
        bool wasRoot = old.RealUid == 0 || old.EffectiveUid == 0 || old.SavedUid == 0;
        bool isRoot = next.RealUid == 0 || next.EffectiveUid == 0 || next.SavedUid == 0;
        if (wasRoot && !isRoot)
        {
            if (!next.KeepCaps)
            {
                next.CapPermitted = 0;
                next.CapEffective = 0;
            }
            next.CapAmbient = 0;
        }
        if (old.EffectiveUid == 0 && next.EffectiveUid != 0) next.CapEffective = 0;
        if (old.EffectiveUid != 0 && next.EffectiveUid == 0) next.CapEffective = next.CapPermitted;
        CommitCreds(t, old, next);
    }

    /// <summary>Installs new credentials (commit_creds): a change of effective or file system
    /// ids, or a gain of permitted capabilities, makes the process non-dumpable
    /// (fs.suid_dumpable = 0) and clears the parent-death signal.</summary>
    private static void CommitCreds(Task t, Credentials old, Credentials next)
    {
        if (old.EffectiveUid != next.EffectiveUid || old.EffectiveGid != next.EffectiveGid
            || old.FsUid != next.FsUid || old.FsGid != next.FsGid
            || (next.CapPermitted & ~old.CapPermitted) != 0)
        {
            t.Dumpable = false;
            t.ParentDeathSignal = 0;
        }
        t.Creds = next;
    }
}
