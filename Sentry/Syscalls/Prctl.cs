using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using static Sandbox.Abi.Prctl;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>prctl(2): the process attributes programs commonly touch.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall prctl(2).</summary>
    public static long Prctl(Task t, in SyscallArgs a)
    {
        switch ((int)a.A0)
        {
            case PR_SET_NAME:
                {
                    Span<byte> name = stackalloc byte[TaskCommLength];
                    int n = t.MemoryManager.CopyInPartial(a.A1, name[..(TaskCommLength - 1)]);
                    if (n == 0) return -(long)Errno.EFAULT;
                    int nul = name[..n].IndexOf((byte)0);
                    t.Name = Encoding.UTF8.GetString(name[..(nul >= 0 ? nul : n)]);
                    return 0;
                }
            case PR_GET_NAME:
                {
                    Span<byte> name = stackalloc byte[TaskCommLength];
                    name.Clear();
                    byte[] bytes = Encoding.UTF8.GetBytes(t.Name);
                    bytes.AsSpan(0, Math.Min(bytes.Length, TaskCommLength - 1)).CopyTo(name);
                    return t.MemoryManager.CopyOut(a.A1, name);
                }
            case PR_SET_PDEATHSIG:
                if (a.A1 > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
                t.ParentDeathSignal = (int)a.A1;
                return 0;
            case PR_GET_PDEATHSIG:
                return t.MemoryManager.CopyOut(a.A1, t.ParentDeathSignal);
            case PR_GET_DUMPABLE:
                return t.Dumpable ? 1 : 0;
            case PR_SET_DUMPABLE:
                if (a.A1 > 1) return -(long)Errno.EINVAL;
                t.Dumpable = a.A1 == 1;
                return 0;
            case PR_SET_NO_NEW_PRIVS:
                if (a.A1 != 1 || a.A2 != 0 || a.A3 != 0 || a.A4 != 0) return -(long)Errno.EINVAL;
                t.NoNewPrivileges = true;
                return 0;
            case PR_GET_NO_NEW_PRIVS:
                return t.NoNewPrivileges ? 1 : 0;
            case PR_SET_CHILD_SUBREAPER:
                t.ChildSubreaper = a.A1 != 0;
                return 0;
            case PR_GET_CHILD_SUBREAPER:
                return t.MemoryManager.CopyOut(a.A1, t.ChildSubreaper ? 1 : 0);
            case PR_GET_KEEPCAPS:
                return t.Creds.KeepCaps ? 1 : 0;
            case PR_SET_KEEPCAPS:
                {
                    if (a.A1 > 1) return -(long)Errno.EINVAL;
                    var next = t.Creds.Clone();
                    next.KeepCaps = a.A1 == 1;
                    t.Creds = next;
                    return 0;
                }
            case PR_GET_SECCOMP:
                return 0;
            case PR_CAPBSET_READ:
                return a.A1 <= Credentials.CapLastCap ? (long)((t.Creds.CapBounding >> (int)a.A1) & 1) : -(long)Errno.EINVAL;
            case PrctlCaps.PR_CAPBSET_DROP:
                {
                    if (!t.Creds.HasCapability(CredCaps.SETPCAP)) return -(long)Errno.EPERM;
                    if (a.A1 > Credentials.CapLastCap) return -(long)Errno.EINVAL;
                    var next = t.Creds.Clone();
                    next.CapBounding &= ~(1UL << (int)a.A1);
                    t.Creds = next;
                    return 0;
                }
            case PrctlCaps.PR_CAP_AMBIENT:
                return CapAmbient(t, a);
            case PrctlCaps.PR_GET_SECUREBITS:
                return t.Creds.KeepCaps ? PrctlCaps.SECBIT_KEEP_CAPS : 0;
            case PrctlCaps.PR_SET_SECUREBITS:
                {
                    // Only SECBIT_KEEP_CAPS (PR_SET_KEEPCAPS's bit) is modelled; the others,
                    // and their locks, would change rules the Sentry does not implement.
                    if (!t.Creds.HasCapability(CredCaps.SETPCAP)) return -(long)Errno.EPERM;
                    if ((a.A1 & ~(ulong)PrctlCaps.SECBIT_KEEP_CAPS) != 0) return -(long)Errno.EINVAL;
                    var next = t.Creds.Clone();
                    next.KeepCaps = a.A1 != 0;
                    t.Creds = next;
                    return 0;
                }
            case PR_SET_VMA:
                return 0; // naming anonymous memory is a hint
            default:
                return -(long)Errno.EINVAL;
        }
    }

    /// <summary>prctl options and values for capabilities that Abi.Prctl does not name.</summary>
    private static class PrctlCaps
    {
        public const int PR_CAPBSET_DROP = 24, PR_GET_SECUREBITS = 27, PR_SET_SECUREBITS = 28, PR_CAP_AMBIENT = 47;
        public const int PR_CAP_AMBIENT_IS_SET = 1, PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_LOWER = 3;
        public const int PR_CAP_AMBIENT_CLEAR_ALL = 4;
        public const int SECBIT_KEEP_CAPS = 1 << 4;
    }

    /// <summary>prctl(PR_CAP_AMBIENT): a capability may be raised into the ambient set only when
    /// it is both permitted and inheritable.</summary>
    private static long CapAmbient(Task t, in SyscallArgs a)
    {
        if (a.A3 != 0 || a.A4 != 0) return -(long)Errno.EINVAL;
        var c = t.Creds;
        if ((int)a.A1 == PrctlCaps.PR_CAP_AMBIENT_CLEAR_ALL)
        {
            if (a.A2 != 0) return -(long)Errno.EINVAL;
            var cleared = c.Clone();
            cleared.CapAmbient = 0;
            t.Creds = cleared;
            return 0;
        }
        if (a.A2 > Credentials.CapLastCap) return -(long)Errno.EINVAL;
        ulong bit = 1UL << (int)a.A2;
        switch ((int)a.A1)
        {
            case PrctlCaps.PR_CAP_AMBIENT_IS_SET:
                return (c.CapAmbient & bit) != 0 ? 1 : 0;
            case PrctlCaps.PR_CAP_AMBIENT_RAISE:
                {
                    if ((c.CapPermitted & bit) == 0 || (c.CapInheritable & bit) == 0) return -(long)Errno.EPERM;
                    var next = c.Clone();
                    next.CapAmbient |= bit;
                    t.Creds = next;
                    return 0;
                }
            case PrctlCaps.PR_CAP_AMBIENT_LOWER:
                {
                    var next = c.Clone();
                    next.CapAmbient &= ~bit;
                    t.Creds = next;
                    return 0;
                }
            default:
                return -(long)Errno.EINVAL;
        }
    }
}
