using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Capabilities;

namespace Sandbox.Gofer.Confinement;

/// <summary>The capabilities the gofer keeps once confined, and dropping the rest.
///
/// The gofer serves files as the container's owners see them: the Sentry enforces guest
/// permissions itself, so the gofer must be able to open, create and change any file of
/// the tree whatever its mode and owner. That takes:
/// <list type="bullet">
/// <item>CAP_CHOWN: Tsetattr/Tcreate set the owner the guest asked for (fchownat).</item>
/// <item>CAP_DAC_OVERRIDE: read, write and search files and directories whatever their modes.</item>
/// <item>CAP_DAC_READ_SEARCH: linkat(fd, "", ..., AT_EMPTY_PATH) on an O_PATH descriptor
///   (Tlink without a path) needs it. It also enables open_by_handle_at, the classic escape
///   from a bind mount, which the seccomp filter therefore denies by name.</item>
/// <item>CAP_FOWNER: chmod, utimensat and xattrs on files the gofer's uid does not own.</item>
/// <item>CAP_FSETID: keep set-user/group-ID bits through chmod/chown/write as the guest set them.</item>
/// </list>
/// Not kept: CAP_MKNOD (device nodes are the Sentry's own; FIFOs and sockets need no
/// capability, and the served tree is mounted nodev besides), CAP_SETUID/SETGID (owners are
/// set with fchownat after creation, not by switching identity), CAP_SYS_ADMIN and
/// CAP_SYS_CHROOT (all mounting is over before they are dropped), and everything else.
/// Capabilities are per thread, so the set is applied by the thread that executes the gofer
/// (see <see cref="GoferSandbox.BuildPlan"/>): after execve every thread the runtime starts
/// inherits exactly this set.</summary>
public static class GoferCapabilities
{
    public static readonly IReadOnlyList<int> Kept = new[] { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID };

    public const ulong KeptMask =
        1UL << CAP_CHOWN | 1UL << CAP_DAC_OVERRIDE | 1UL << CAP_DAC_READ_SEARCH | 1UL << CAP_FOWNER | 1UL << CAP_FSETID;

    /// <summary>Adds to a plan the steps that empty the bounding set of everything not kept
    /// (so execve cannot grant it back), clear the ambient and inheritable sets, and set
    /// effective = permitted = kept (or less, if the process did not have them all). The
    /// capabilities the kernel knows are probed now (CAP_LAST_CAP: the first that
    /// PR_CAPBSET_READ refuses); dropping one that is already out of the bounding set is harmless.</summary>
    public static void PlanDrop(ConfinementPlan p)
    {
        for (int cap = 0; cap < 64; cap++)
        {
            if (InBoundingSet(cap) is null) break; // past CAP_LAST_CAP
            if ((KeptMask & (1UL << cap)) == 0)
            {
                p.Call(Abi.SyscallNumber.prctl, $"dropping capabilities: prctl(PR_CAPBSET_DROP, {cap})", PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
        }
        p.Call(Abi.SyscallNumber.prctl, "dropping capabilities: prctl(PR_CAP_AMBIENT_CLEAR_ALL)", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        // struct __user_cap_header_struct { version, pid = 0 }, then two __user_cap_data_struct.
        int header = p.Reserve(8, 8);
        p.WriteUInt32(header, LINUX_CAPABILITY_VERSION_3);
        int data = p.Reserve(24, 8);
        p.Call(Abi.SyscallNumber.capget, "dropping capabilities: capget", ConfinementPlan.At(header), ConfinementPlan.At(data));
        p.KeepCapabilities(data, KeptMask);
        p.Call(Abi.SyscallNumber.capset, "dropping capabilities: capset", ConfinementPlan.At(header), ConfinementPlan.At(data));
    }

    /// <summary>Problems with the calling thread's capabilities, empty when it holds nothing
    /// beyond <see cref="Kept"/> and cannot regain CAP_SYS_ADMIN.</summary>
    public static string? CheckDropped()
    {
        Sets s = Get();
        ulong extra = (s.Effective | s.Permitted | s.Inheritable) & ~KeptMask;
        if (extra != 0) return $"holds capabilities 0x{extra:x} beyond the kept set";
        if (InBoundingSet(CAP_SYS_ADMIN) == true) return "CAP_SYS_ADMIN is still in the bounding set";
        return null;
    }
}
