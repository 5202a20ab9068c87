using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Process creation, execution and waiting.</summary>
public static partial class Linux
{
    /// <summary>Implements Linux syscall clone(2) (x86-64 argument order: flags, stack, parent_tid,
    /// child_tid, tls). CLONE_PIDFD is refused with EINVAL, as clone3 refuses it: pidfds are not
    /// offered (pidfd_open is ENOSYS), and a caller must not be told a child was made without
    /// the descriptor it asked for.</summary>
    public static long CloneCall(Task t, in SyscallArgs a)
    {
        ulong flags = a.A0 & ~0xffUL;
        if ((flags & Task.CLONE_PIDFD) != 0) return -(long)Errno.EINVAL;
        return t.Clone(flags, a.A1, a.A2, a.A3, a.A4, (int)(a.A0 & 0xff));
    }

    /// <summary>Implements Linux syscall fork(2).</summary>
    public static long Fork(Task t, in SyscallArgs a) => t.Clone(0, 0, 0, 0, 0, Signals.SIGCHLD);

    /// <summary>Implements Linux syscall vfork(2).</summary>
    public static long Vfork(Task t, in SyscallArgs a) =>
        t.Clone(Task.CLONE_VM | Task.CLONE_VFORK, 0, 0, 0, 0, Signals.SIGCHLD);

    /// <summary>struct clone_args (clone3), version 2: 88 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CloneArgs
    {
        public ulong Flags, Pidfd, ChildTid, ParentTid, ExitSignal, Stack, StackSize, Tls, SetTid, SetTidSize, Cgroup;
    }

    /// <summary>Implements Linux syscall clone3(2).</summary>
    public static long Clone3(Task t, in SyscallArgs a)
    {
        const ulong MinSize = 64, MaxSize = 4096;
        if (a.A1 < MinSize) return -(long)Errno.EINVAL;
        if (a.A1 > MaxSize) return -(long)Errno.E2BIG;
        CloneArgs ca = default;
        int size = (int)Math.Min(a.A1, (ulong)Marshal.SizeOf<CloneArgs>());
        unsafe
        {
            if (t.MemoryManager.CopyIn(a.A0, new Span<byte>(&ca, size)) < 0) return -(long)Errno.EFAULT;
        }
        if (ca.SetTid != 0 || ca.SetTidSize != 0) return -(long)Errno.EPERM;
        if ((ca.Flags & Task.CLONE_PIDFD) != 0) return -(long)Errno.EINVAL; // pidfds are not offered
        if (ca.ExitSignal > Signals.SIGRTMAX) return -(long)Errno.EINVAL;
        if ((ca.Stack == 0) != (ca.StackSize == 0)) return -(long)Errno.EINVAL;
        ulong stack = ca.Stack == 0 ? 0 : ca.Stack + ca.StackSize;
        return t.Clone(ca.Flags, stack, ca.ParentTid, ca.ChildTid, ca.Tls, (int)ca.ExitSignal);
    }

    /// <summary>Implements Linux syscall unshare(2): CLONE_FILES, CLONE_FS, and CLONE_NEWNS (a new
    /// mount namespace holding a copy of the caller's mount tree; it implies CLONE_FS). CLONE_SYSVSEM
    /// changes nothing (there are no semaphore adjustment lists to unshare); CLONE_THREAD,
    /// CLONE_SIGHAND and CLONE_VM are accepted, changing nothing, when nothing is shared, as on
    /// Linux. The other namespaces are not offered: without CAP_SYS_ADMIN they fail with EPERM,
    /// as on Linux; with it with EINVAL, as on a kernel built without them; CLONE_NEWUSER, which
    /// needs no privilege, always with EINVAL.</summary>
    public static long Unshare(Task t, in SyscallArgs a)
    {
        const ulong Known = Task.CLONE_THREAD | Task.CLONE_FS | Task.CLONE_NEWNS | Task.CLONE_SIGHAND | Task.CLONE_VM
            | Task.CLONE_FILES | Task.CLONE_SYSVSEM | Task.CLONE_NEWUTS | Task.CLONE_NEWIPC | Task.CLONE_NEWNET
            | Task.CLONE_NEWUSER | Task.CLONE_NEWPID | Task.CLONE_NEWCGROUP | Task.CLONE_NEWTIME;
        const ulong Privileged = Task.CLONE_NEWNS | Task.CLONE_NEWUTS | Task.CLONE_NEWIPC | Task.CLONE_NEWNET
            | Task.CLONE_NEWPID | Task.CLONE_NEWCGROUP | Task.CLONE_NEWTIME;
        ulong flags = a.A0;
        if ((flags & ~Known) != 0) return -(long)Errno.EINVAL;
        if ((flags & Task.CLONE_NEWNS) != 0) flags |= Task.CLONE_FS;
        // Undoing a shared address space, signal handlers or thread group is not offered: fine
        // when there is nothing to undo, EINVAL otherwise.
        if ((flags & (Task.CLONE_THREAD | Task.CLONE_SIGHAND | Task.CLONE_VM | Task.CLONE_NEWUSER)) != 0
            && t.Group.Tasks.Any(other => other != t && other.Exit == null)) return -(long)Errno.EINVAL;
        if ((flags & (Task.CLONE_SIGHAND | Task.CLONE_VM)) != 0 && t.MemoryManager.Shared) return -(long)Errno.EINVAL;
        if ((flags & Privileged) != 0 && !t.Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_ADMIN)) return -(long)Errno.EPERM;
        if ((flags & (Privileged | Task.CLONE_NEWUSER) & ~Task.CLONE_NEWNS) != 0) return -(long)Errno.EINVAL;

        if ((flags & Task.CLONE_FILES) != 0) t.UnshareFds();
        if ((flags & Task.CLONE_NEWNS) != 0) t.UnshareMounts(); // unshares the FsContext too
        else if ((flags & Task.CLONE_FS) != 0) t.UnshareFs();
        return 0;
    }

    /// <summary>Implements Linux syscall setns(2) for the files of /proc/[pid]/ns (pidfds are not
    /// offered: any other file is EINVAL). A mount namespace is entered: root and working
    /// directory move to its root; it needs CAP_SYS_ADMIN and CAP_SYS_CHROOT, and an FsContext
    /// no other task shares. The sandbox has one namespace of each other kind, the caller's:
    /// entering it changes nothing, but is checked as Linux checks it (EPERM without
    /// CAP_SYS_ADMIN; a time namespace only single-threaded, EUSERS; one's own user namespace
    /// is refused with EINVAL).</summary>
    public static long Setns(Task t, in SyscallArgs a)
    {
        if (t.Fds.Get((int)a.A0) is not { } f) return -(long)Errno.EBADF;
        if (f is not Fs.Proc.NamespaceFile { Namespace: var ns }) return -(long)Errno.EINVAL;
        uint nstype = (uint)a.A1;
        if (nstype != 0 && nstype != ns.CloneFlag) return -(long)Errno.EINVAL;
        bool admin = t.Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_ADMIN);
        bool othersLive = t.Group.Tasks.Any(other => other != t && other.Exit == null);
        switch (ns.CloneFlag)
        {
            case Task.CLONE_NEWNS:
                if (!admin || !t.Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_CHROOT)) return -(long)Errno.EPERM;
                if (t.Kernel.Tasks.Values.Any(other => other != t && other.Exit == null && other.Fs == t.Fs))
                    return -(long)Errno.EINVAL;
                t.EnterMounts(ns.Mounts!);
                return 0;
            case Task.CLONE_NEWUSER:
                return -(long)Errno.EINVAL; // the only user namespace is the caller's own
            case Task.CLONE_NEWTIME:
                if (othersLive) return -(long)Errno.EUSERS;
                return admin ? 0 : -(long)Errno.EPERM;
            default:
                return admin ? 0 : -(long)Errno.EPERM;
        }
    }

    private const int MaxArgStrings = 0x7fffffff / 8, MaxArgBytes = 2 << 20;

    private static long ReadStringArray(Task t, ulong addr, List<string> list)
    {
        long total = 0;
        for (ulong i = 0; addr != 0; i++)
        {
            if (t.MemoryManager.CopyIn(addr + i * 8, out ulong p) < 0) return -(long)Errno.EFAULT;
            if (p == 0) return 0;
            long r = t.MemoryManager.ReadCString(p, 128 * 1024, out string s);
            if (r == -(long)Errno.ENAMETOOLONG) return -(long)Errno.E2BIG;
            if (r < 0) return r;
            total += s.Length + 1;
            if (total > MaxArgBytes || list.Count >= MaxArgStrings) return -(long)Errno.E2BIG;
            list.Add(s);
        }
        return 0;
    }

    /// <summary>Implements Linux syscall execve(2).</summary>
    public static long Execve(Task t, in SyscallArgs a) => ExecveAt(t, AT_FDCWD, a.A0, a.A1, a.A2, 0);

    /// <summary>Implements Linux syscall execveat(2).</summary>
    public static long Execveat(Task t, in SyscallArgs a) => ExecveAt(t, (int)a.A0, a.A1, a.A2, a.A3, (int)a.A4);

    private static long ExecveAt(Task t, int dirfd, ulong pathAddr, ulong argvAddr, ulong envpAddr, int flags)
    {
        if ((flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) != 0) return -(long)Errno.EINVAL;
        long r = t.MemoryManager.ReadCString(pathAddr, Resolve.PathMax, out string path);
        if (r < 0) return r;
        var argv = new List<string>();
        var envp = new List<string>();
        r = ReadStringArray(t, argvAddr, argv);
        if (r == 0) r = ReadStringArray(t, envpAddr, envp);
        if (r < 0) return r;
        if (path.Length == 0)
        {
            if ((flags & AT_EMPTY_PATH) == 0) return -(long)Errno.ENOENT;
            if (t.Fds.Get(dirfd) is not { Path: { } p }) return -(long)Errno.EBADF;
            return p.Inode.IsDirectory ? -(long)Errno.EACCES : ExecFdFile(t, p, argv, envp);
        }
        r = PathResolver.Start(t, dirfd, path, out PathPos start);
        if (r < 0) return r;
        return t.Execve(start, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, argv, envp);
    }

    /// <summary>execveat(fd, "", AT_EMPTY_PATH) on a regular file: exec it by its path.</summary>
    private static long ExecFdFile(Task t, PathPos file, List<string> argv, List<string> envp)
    {
        string path = MountNamespace.PathOf(file, t.Fs.Root);
        return t.Execve(t.Fs.Root, path, true, argv, envp);
    }

    private const int WNOHANG = 1, WUNTRACED = 2, WSTOPPED = 2, WEXITED = 4, WCONTINUED = 8, WNOWAIT = 0x01000000;
    private const int __WNOTHREAD = 0x20000000, __WALL = 0x40000000, __WCLONE = unchecked((int)0x80000000);

    /// <summary>One child state change as wait4/waitid report it.</summary>
    private readonly record struct WaitResult(ThreadGroup Child, int Code, int Status, int WaitStatus);

    /// <summary>The heart of wait4 and waitid: finds a child matching the selector whose
    /// state change the options ask for; blocks unless WNOHANG. Returns the pid, 0 (WNOHANG,
    /// nothing yet) or -errno.</summary>
    private static long WaitFor(Task t, Func<ThreadGroup, bool> selects, int options, out WaitResult result)
    {
        result = default;
        var g = t.Group;
        using var wait = t.BeginWait(g.ChildEvents, Events.POLLIN);
        while (true)
        {
            t.Blocker.Reset();
            List<ThreadGroup> children;
            lock (g.Children) children = [.. g.Children];
            bool any = false;
            foreach (var c in children)
            {
                if (!selects(c)) continue;
                // __WCLONE selects children with a non-SIGCHLD exit signal; __WALL any.
                bool clone = c.ExitSignal != Signals.SIGCHLD;
                if ((options & __WALL) == 0 && clone != ((options & __WCLONE) != 0)) continue;
                any = true;
                if ((options & WEXITED) != 0 && c.Zombie && !c.Reaped)
                {
                    var st = c.ExitStatus ?? default;
                    int code = st.Signal == 0 ? Task.CLD_EXITED : st.Core ? Task.CLD_DUMPED : Task.CLD_KILLED;
                    result = new WaitResult(c, code, st.Signal == 0 ? st.Code : st.Signal, st.WaitStatus);
                    if ((options & WNOWAIT) == 0)
                    {
                        g.AddReapedChild(c);
                        Task.Reap(c);
                    }
                    return c.Pid;
                }
                if ((options & WSTOPPED) != 0 && c.Stopped && c.StopReportPending)
                {
                    if ((options & WNOWAIT) == 0) c.StopReportPending = false;
                    result = new WaitResult(c, Task.CLD_STOPPED, c.StopSignal, (c.StopSignal << 8) | 0x7f);
                    return c.Pid;
                }
                if ((options & WCONTINUED) != 0 && c.ContinueReportPending)
                {
                    if ((options & WNOWAIT) == 0) c.ContinueReportPending = false;
                    result = new WaitResult(c, Task.CLD_CONTINUED, Signals.SIGCONT, 0xffff);
                    return c.Pid;
                }
            }
            if (!any) return -(long)Errno.ECHILD;
            if ((options & WNOHANG) != 0) return 0;
            long r = t.Sleep();
            if (r < 0) return r;
        }
    }

    /// <summary>Implements Linux syscall wait4(2).</summary>
    public static long Wait4(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0, options = (int)a.A2;
        if ((options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE)) != 0) return -(long)Errno.EINVAL;
        int pgrp = t.ProcessGroup;
        Func<ThreadGroup, bool> selects = pid switch
        {
            < -1 => c => c.ProcessGroup == -pid,
            -1 => _ => true,
            0 => c => c.ProcessGroup == pgrp,
            _ => c => c.Pid == pid,
        };
        long r = WaitFor(t, selects, options | WEXITED, out WaitResult w);
        if (r <= 0) return r;
        if (a.A1 != 0 && t.MemoryManager.CopyOut(a.A1, w.WaitStatus) < 0) return -(long)Errno.EFAULT;
        if (a.A3 != 0 && CopyOutRusage(t, a.A3, w.Child) < 0) return -(long)Errno.EFAULT;
        return r;
    }

    /// <summary>Implements Linux syscall waitid(2).</summary>
    public static long Waitid(Task t, in SyscallArgs a)
    {
        const int P_ALL = 0, P_PID = 1, P_PGID = 2;
        int idtype = (int)a.A0, id = (int)a.A1, options = (int)a.A3;
        if ((options & ~(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE)) != 0)
            return -(long)Errno.EINVAL;
        if ((options & (WEXITED | WSTOPPED | WCONTINUED)) == 0) return -(long)Errno.EINVAL;
        int pgrp = t.ProcessGroup;
        Func<ThreadGroup, bool> selects;
        switch (idtype)
        {
            case P_ALL: selects = _ => true; break;
            case P_PID: if (id <= 0) return -(long)Errno.EINVAL; selects = c => c.Pid == id; break;
            case P_PGID: { int want = id == 0 ? pgrp : id; if (id < 0) return -(long)Errno.EINVAL; selects = c => c.ProcessGroup == want; break; }
            default: return -(long)Errno.EINVAL;
        }
        long r = WaitFor(t, selects, options, out WaitResult w);
        if (r < 0) return r;
        if (a.A2 != 0)
        {
            var info = r == 0 ? default : new SigInfo { Signo = Signals.SIGCHLD, Code = w.Code, Pid = w.Child.Pid, Status = w.Status };
            if (t.MemoryManager.CopyOut(a.A2, info) < 0) return -(long)Errno.EFAULT;
        }
        if (a.A4 != 0 && r > 0 && CopyOutRusage(t, a.A4, w.Child) < 0) return -(long)Errno.EFAULT;
        return 0;
    }
}
