using System.Text;
using Sandbox.Abi;
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
                return 0;
            case PR_GET_SECCOMP:
                return 0;
            case PR_CAPBSET_READ:
                return a.A1 <= 40 ? 1 : -(long)Errno.EINVAL;
            case PR_SET_VMA:
                return 0; // naming anonymous memory is a hint
            default:
                return -(long)Errno.EINVAL;
        }
    }
}
