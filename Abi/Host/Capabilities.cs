using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Host capabilities (capabilities(7)): capget/capset and the prctl(2) operations on
/// the bounding and ambient sets. All of them act on the calling thread only.</summary>
public static unsafe partial class Capabilities
{
    public const int CAP_CHOWN = 0, CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2, CAP_FOWNER = 3, CAP_FSETID = 4;
    public const int CAP_KILL = 5, CAP_SETGID = 6, CAP_SETUID = 7, CAP_SETPCAP = 8, CAP_LINUX_IMMUTABLE = 9;
    public const int CAP_NET_BIND_SERVICE = 10, CAP_NET_BROADCAST = 11, CAP_NET_ADMIN = 12, CAP_NET_RAW = 13;
    public const int CAP_IPC_LOCK = 14, CAP_IPC_OWNER = 15, CAP_SYS_MODULE = 16, CAP_SYS_RAWIO = 17, CAP_SYS_CHROOT = 18;
    public const int CAP_SYS_PTRACE = 19, CAP_SYS_PACCT = 20, CAP_SYS_ADMIN = 21, CAP_SYS_BOOT = 22, CAP_SYS_NICE = 23;
    public const int CAP_SYS_RESOURCE = 24, CAP_SYS_TIME = 25, CAP_SYS_TTY_CONFIG = 26, CAP_MKNOD = 27, CAP_LEASE = 28;
    public const int CAP_AUDIT_WRITE = 29, CAP_AUDIT_CONTROL = 30, CAP_SETFCAP = 31, CAP_MAC_OVERRIDE = 32;
    public const int CAP_MAC_ADMIN = 33, CAP_SYSLOG = 34, CAP_WAKE_ALARM = 35, CAP_BLOCK_SUSPEND = 36, CAP_AUDIT_READ = 37;
    public const int CAP_PERFMON = 38, CAP_BPF = 39, CAP_CHECKPOINT_RESTORE = 40;

    public const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;
    public const int PR_CAPBSET_READ = 23, PR_CAPBSET_DROP = 24, PR_CAP_AMBIENT = 47;
    public const int PR_CAP_AMBIENT_IS_SET = 1, PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_LOWER = 3, PR_CAP_AMBIENT_CLEAR_ALL = 4;

    /// <summary>struct __user_cap_header_struct.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    /// <summary>struct __user_cap_data_struct; version 3 uses two of them (capabilities 0-31, 32-63).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    /// <summary>The three capability sets of a thread as 64-bit masks (bit N = capability N).</summary>
    public readonly record struct Sets(ulong Effective, ulong Permitted, ulong Inheritable);

    [LibraryImport("libc", EntryPoint = "capget", SetLastError = true)]
    public static partial int Capget(CapHeader* header, CapData* data);

    [LibraryImport("libc", EntryPoint = "capset", SetLastError = true)]
    public static partial int Capset(CapHeader* header, CapData* data);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>The calling thread's effective, permitted and inheritable sets.</summary>
    public static Sets Get()
    {
        var header = new CapHeader { Version = LINUX_CAPABILITY_VERSION_3 };
        CapData* data = stackalloc CapData[2];
        HostError.Check(Capget(&header, data), "capget");
        return new Sets(
            data[0].Effective | ((ulong)data[1].Effective << 32),
            data[0].Permitted | ((ulong)data[1].Permitted << 32),
            data[0].Inheritable | ((ulong)data[1].Inheritable << 32));
    }

    /// <summary>Sets the calling thread's effective, permitted and inheritable sets.</summary>
    public static void Set(Sets sets)
    {
        var header = new CapHeader { Version = LINUX_CAPABILITY_VERSION_3 };
        CapData* data = stackalloc CapData[2];
        data[0] = new CapData { Effective = (uint)sets.Effective, Permitted = (uint)sets.Permitted, Inheritable = (uint)sets.Inheritable };
        data[1] = new CapData
        {
            Effective = (uint)(sets.Effective >> 32),
            Permitted = (uint)(sets.Permitted >> 32),
            Inheritable = (uint)(sets.Inheritable >> 32),
        };
        HostError.Check(Capset(&header, data), "capset");
    }

    /// <summary>Whether capability cap is in the calling thread's bounding set; null when the
    /// kernel does not know cap (it is past CAP_LAST_CAP).</summary>
    public static bool? InBoundingSet(int cap)
    {
        int r = Prctl(PR_CAPBSET_READ, (nuint)cap, 0, 0, 0);
        return r < 0 ? null : r == 1;
    }

    /// <summary>Removes cap from the calling thread's bounding set (needs CAP_SETPCAP).</summary>
    public static void DropFromBoundingSet(int cap) =>
        HostError.Check(Prctl(PR_CAPBSET_DROP, (nuint)cap, 0, 0, 0), $"prctl(PR_CAPBSET_DROP, {cap})");

    /// <summary>Empties the calling thread's ambient set.</summary>
    public static void ClearAmbient() =>
        HostError.Check(Prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
}
