using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Process attributes: process groups and sessions, personality, close_range.</summary>
public static partial class Linux
{
    /// <summary>Serializes process group and session changes, so that "does a group with this id
    /// exist" and the change that depends on it happen together (Linux's tasklist_lock).</summary>
    private static readonly Lock ProcessTreeLock = new();

    /// <summary>Implements Linux syscall getpgrp(2).</summary>
    public static long Getpgrp(Task t, in SyscallArgs a) => t.ProcessGroup;

    /// <summary>Implements Linux syscall getpgid(2) for any process (or thread) id.</summary>
    public static long Getpgid(Task t, in SyscallArgs a) =>
        TaskByIdOrSelf(t, (int)a.A0) is { } target ? target.ProcessGroup : -(long)Errno.ESRCH;

    /// <summary>Implements Linux syscall getsid(2) for any process (or thread) id.</summary>
    public static long Getsid(Task t, in SyscallArgs a) =>
        TaskByIdOrSelf(t, (int)a.A0) is { } target ? target.Session : -(long)Errno.ESRCH;

    /// <summary>Implements Linux syscall setpgid(2). The target is the caller or one of its
    /// children (ESRCH otherwise), must lead its thread group (EINVAL), must be in the caller's
    /// session and not lead a session (EPERM); a pgid other than its own pid must name an
    /// existing process group in the caller's session (EPERM). Linux's EACCES for a child
    /// that has already called execve is not reported: the Sentry does not track it.</summary>
    public static long Setpgid(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0, pgid = (int)a.A1;
        if (pid == 0) pid = t.Pid;
        if (pgid == 0) pgid = pid;
        if (pgid < 0) return -(long)Errno.EINVAL;
        lock (ProcessTreeLock)
        {
            if (TaskByIdOrSelf(t, pid) is not { } target) return -(long)Errno.ESRCH;
            var g = target.Group;
            if (target.Tid != g.Pid) return -(long)Errno.EINVAL;
            if (g.Parent == t.Group)
            {
                if (g.Session != t.Session) return -(long)Errno.EPERM;
            }
            else if (g != t.Group)
            {
                return -(long)Errno.ESRCH;
            }
            if (IsSessionLeader(g)) return -(long)Errno.EPERM;
            if (pgid != pid && !ProcessGroupExists(t.Kernel, pgid, t.Session)) return -(long)Errno.EPERM;
            g.ProcessGroup = pgid;
        }
        return 0;
    }

    /// <summary>Implements Linux syscall setsid(2): the caller leads a new session and process
    /// group, unless it leads a session already or its pid names a process group (EPERM).</summary>
    public static long Setsid(Task t, in SyscallArgs a)
    {
        var g = t.Group;
        lock (ProcessTreeLock)
        {
            if (IsSessionLeader(g) || ProcessGroupExists(t.Kernel, g.Pid, session: null)) return -(long)Errno.EPERM;
            g.Session = g.Pid;
            g.ProcessGroup = g.Pid;
        }
        return g.Pid;
    }

    /// <summary>The session's id is its leader's pid (the sandbox's init leads the first one).</summary>
    private static bool IsSessionLeader(ThreadGroup g) => g.Session == g.Pid;

    /// <summary>Whether a process (zombies included, until reaped) is in process group pgid,
    /// and, when session is given, in that session.</summary>
    private static bool ProcessGroupExists(Kernel.Kernel kernel, int pgid, int? session)
    {
        foreach (var task in kernel.Tasks.Values)
        {
            var g = task.Group;
            if (g.Reaped || g.ProcessGroup != pgid) continue;
            return session == null || g.Session == session;
        }
        return false;
    }

    /// <summary>The task with this id (0: the caller), zombies included until reaped; null if none.</summary>
    private static Task? TaskByIdOrSelf(Task t, int id)
    {
        if (id == 0) return t;
        return t.Kernel.Tasks.TryGetValue(id, out var found) && !found.Group.Reaped ? found : null;
    }

    /// <summary>personality(2) values (include/uapi/linux/personality.h).</summary>
    private static class PersonalityFlags
    {
        public const uint PER_LINUX = 0, PER_MASK = 0xff, Query = 0xffffffff;
        public const uint ADDR_NO_RANDOMIZE = 0x0040000, SHORT_INODE = 0x1000000, WHOLE_SECONDS = 0x2000000;
    }

    /// <summary>Implements Linux syscall personality(2): 0xffffffff queries; PER_LINUX may be set,
    /// with ADDR_NO_RANDOMIZE (the Sentry does not randomize layouts anyway) and the flags Linux
    /// itself ignores (SHORT_INODE, WHOLE_SECONDS). Other execution domains (PER_LINUX32, ...) and
    /// flags that would change behaviour the Sentry does not emulate (READ_IMPLIES_EXEC,
    /// ADDR_LIMIT_32BIT, UNAME26, MMAP_PAGE_ZERO, STICKY_TIMEOUTS, ...) give EINVAL rather than
    /// being silently stored. Returns the previous personality.</summary>
    public static long Personality(Task t, in SyscallArgs a)
    {
        uint persona = (uint)a.A0;
        uint old = t.Sched.Personality;
        if (persona == PersonalityFlags.Query) return old;
        const uint Allowed = PersonalityFlags.ADDR_NO_RANDOMIZE | PersonalityFlags.SHORT_INODE | PersonalityFlags.WHOLE_SECONDS;
        if ((persona & PersonalityFlags.PER_MASK) != PersonalityFlags.PER_LINUX || (persona & ~Allowed) != 0)
            return -(long)Errno.EINVAL;
        t.Sched.Personality = persona;
        return old;
    }

    /// <summary>close_range(2) flags.</summary>
    private static class CloseRangeFlags
    {
        public const uint UNSHARE = 2, CLOEXEC = 4;
    }

    /// <summary>Implements Linux syscall close_range(2): closes (or, with CLOSE_RANGE_CLOEXEC,
    /// marks close-on-exec) every open descriptor in [first, last]; CLOSE_RANGE_UNSHARE first
    /// gives the caller a private descriptor table.</summary>
    public static long CloseRange(Task t, in SyscallArgs a)
    {
        uint first = (uint)a.A0, last = (uint)a.A1, flags = (uint)a.A2;
        if ((flags & ~(CloseRangeFlags.UNSHARE | CloseRangeFlags.CLOEXEC)) != 0 || first > last) return -(long)Errno.EINVAL;
        if ((flags & CloseRangeFlags.UNSHARE) != 0) t.UnshareFds();
        if (first > int.MaxValue) return 0;
        t.Fds.CloseRange((int)first, (int)Math.Min(last, int.MaxValue), cloexecOnly: (flags & CloseRangeFlags.CLOEXEC) != 0);
        return 0;
    }
}
