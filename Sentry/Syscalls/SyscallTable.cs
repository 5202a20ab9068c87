using Sandbox.Abi;
using Sandbox.Sentry.Strace;
using static Sandbox.Sentry.Strace.ArgKind;
using N = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Sentry.Syscalls;

/// <summary>A syscall's six argument registers.</summary>
public readonly struct SyscallArgs(ulong a0, ulong a1, ulong a2, ulong a3, ulong a4, ulong a5)
{
    public readonly ulong A0 = a0, A1 = a1, A2 = a2, A3 = a3, A4 = a4, A5 = a5;

    public ulong this[int i] => i switch { 0 => A0, 1 => A1, 2 => A2, 3 => A3, 4 => A4, _ => A5 };
}

/// <summary>Every handler has this shape: a result, or a negative errno.</summary>
public delegate long SyscallHandler(Kernel.Task t, in SyscallArgs a);

/// <summary>One row of the table: the name Linux gives the call, its handler (null = ENOSYS,
/// logged once), and how --strace prints its arguments.</summary>
public sealed record SyscallEntry(int Number, string Name, SyscallHandler? Handler, ArgKind[] Args, bool HexResult = false);

/// <summary>The x86-64 syscall table as data: every number maps to an entry with a name, so
/// --strace can always print one, and unimplemented calls are visible in the log.</summary>
public static class SyscallTable
{
    private static readonly SyscallEntry[] Entries = Build();

    public static SyscallEntry Lookup(long nr) =>
        nr >= 0 && nr < Entries.Length ? Entries[nr] : new SyscallEntry((int)nr, $"syscall_{nr}", null, []);

    public static IReadOnlyList<SyscallEntry> All => Entries;

    private static SyscallEntry[] Build()
    {
        var t = new SyscallEntry[SyscallNumbers.Count];
        for (int i = 0; i < t.Length; i++)
            t[i] = new SyscallEntry(i, Enum.IsDefined((N)i) ? ((N)i).ToString() : $"syscall_{i}", null, []);

        void Add(N nr, SyscallHandler h, params ArgKind[] args) => t[(int)nr] = new SyscallEntry((int)nr, nr.ToString(), h, args);
        void AddHex(N nr, SyscallHandler h, params ArgKind[] args) =>
            t[(int)nr] = new SyscallEntry((int)nr, nr.ToString(), h, args, HexResult: true);

        // File descriptors and I/O (File.cs).
        Add(N.read, Linux.Read, Fd, OutBuf, Int);
        Add(N.write, Linux.Write, Fd, InBuf, Int);
        Add(N.readv, Linux.Readv, Fd, Hex, Int);
        Add(N.writev, Linux.Writev, Fd, Iovecs, Int);
        Add(N.pread64, Linux.Pread64, Fd, OutBuf, Int, Int);
        Add(N.pwrite64, Linux.Pwrite64, Fd, InBuf, Int, Int);
        Add(N.preadv, Linux.Preadv, Fd, Hex, Int, Int);
        Add(N.pwritev, Linux.Pwritev, Fd, Iovecs, Int, Int);
        Add(N.lseek, Linux.Lseek, Fd, Int, Int);
        Add(N.close, Linux.Close, Fd);
        Add(N.dup, Linux.Dup, Fd);
        Add(N.dup2, Linux.Dup2, Fd, Fd);
        Add(N.dup3, Linux.Dup3, Fd, Fd, Hex);
        Add(N.fcntl, Linux.Fcntl, Fd, Int, Hex);
        Add(N.ioctl, Linux.Ioctl, Fd, Hex, Hex);
        Add(N.fstat, Linux.Fstat, Fd, Hex);
        Add(N.getcwd, Linux.Getcwd, Hex, Int);

        // Files and paths (Open.cs, Fs.cs, Stat.cs, Attr.cs).
        Add(N.open, Linux.Open, ArgKind.Path, Hex, Oct);
        Add(N.openat, Linux.Openat, Fd, ArgKind.Path, Hex, Oct);
        Add(N.openat2, Linux.Openat2, Fd, ArgKind.Path, Hex, Int);
        Add(N.creat, Linux.Creat, ArgKind.Path, Oct);
        Add(N.stat, Linux.StatPath, ArgKind.Path, Hex);
        Add(N.lstat, Linux.Lstat, ArgKind.Path, Hex);
        Add(N.newfstatat, Linux.Newfstatat, Fd, ArgKind.Path, Hex, Hex);
        Add(N.statx, Linux.StatxCall, Fd, ArgKind.Path, Hex, Hex, Hex);
        Add(N.statfs, Linux.Statfs, ArgKind.Path, Hex);
        Add(N.fstatfs, Linux.Fstatfs, Fd, Hex);
        Add(N.getdents, Linux.Getdents, Fd, Hex, Int);
        Add(N.getdents64, Linux.Getdents64, Fd, Hex, Int);
        Add(N.mkdir, Linux.Mkdir, ArgKind.Path, Oct);
        Add(N.mkdirat, Linux.Mkdirat, Fd, ArgKind.Path, Oct);
        Add(N.mknod, Linux.Mknod, ArgKind.Path, Oct, Hex);
        Add(N.mknodat, Linux.Mknodat, Fd, ArgKind.Path, Oct, Hex);
        Add(N.symlink, Linux.Symlink, ArgKind.Path, ArgKind.Path);
        Add(N.symlinkat, Linux.Symlinkat, ArgKind.Path, Fd, ArgKind.Path);
        Add(N.link, Linux.Link, ArgKind.Path, ArgKind.Path);
        Add(N.linkat, Linux.Linkat, Fd, ArgKind.Path, Fd, ArgKind.Path, Hex);
        Add(N.unlink, Linux.Unlink, ArgKind.Path);
        Add(N.unlinkat, Linux.Unlinkat, Fd, ArgKind.Path, Hex);
        Add(N.rmdir, Linux.Rmdir, ArgKind.Path);
        Add(N.rename, Linux.Rename, ArgKind.Path, ArgKind.Path);
        Add(N.renameat, Linux.Renameat, Fd, ArgKind.Path, Fd, ArgKind.Path);
        Add(N.renameat2, Linux.Renameat2, Fd, ArgKind.Path, Fd, ArgKind.Path, Hex);
        Add(N.readlink, Linux.Readlink, ArgKind.Path, Hex, Int);
        Add(N.readlinkat, Linux.Readlinkat, Fd, ArgKind.Path, Hex, Int);
        Add(N.chdir, Linux.Chdir, ArgKind.Path);
        Add(N.fchdir, Linux.Fchdir, Fd);
        Add(N.chroot, Linux.Chroot, ArgKind.Path);
        Add(N.access, Linux.Access, ArgKind.Path, Oct);
        Add(N.faccessat, Linux.Faccessat, Fd, ArgKind.Path, Oct);
        Add(N.faccessat2, Linux.Faccessat2, Fd, ArgKind.Path, Oct, Hex);
        Add(N.chmod, Linux.Chmod, ArgKind.Path, Oct);
        Add(N.fchmod, Linux.Fchmod, Fd, Oct);
        Add(N.fchmodat, Linux.Fchmodat, Fd, ArgKind.Path, Oct);
        Add(N.chown, Linux.Chown, ArgKind.Path, Int, Int);
        Add(N.lchown, Linux.Lchown, ArgKind.Path, Int, Int);
        Add(N.fchown, Linux.Fchown, Fd, Int, Int);
        Add(N.fchownat, Linux.Fchownat, Fd, ArgKind.Path, Int, Int, Hex);
        Add(N.utime, Linux.Utime, ArgKind.Path, Hex);
        Add(N.utimes, Linux.Utimes, ArgKind.Path, Hex);
        Add(N.futimesat, Linux.Futimesat, Fd, ArgKind.Path, Hex);
        Add(N.utimensat, Linux.Utimensat, Fd, ArgKind.Path, Hex, Hex);
        Add(N.truncate, Linux.TruncatePath, ArgKind.Path, Int);
        Add(N.ftruncate, Linux.Ftruncate, Fd, Int);
        Add(N.fallocate, Linux.Fallocate, Fd, Hex, Int, Int);
        Add(N.fsync, Linux.Fsync, Fd);
        Add(N.fdatasync, Linux.Fsync, Fd);
        Add(N.sync, Linux.Sync);
        Add(N.syncfs, Linux.Syncfs, Fd);
        Add(N.sync_file_range, Linux.SyncFileRange, Fd, Int, Int, Hex);
        Add(N.fadvise64, Linux.Fadvise64, Fd, Int, Int, Int);
        Add(N.flock, Linux.Flock, Fd, Hex);
        Add(N.sendfile, Linux.Sendfile, Fd, Fd, Hex, Int);
        Add(N.copy_file_range, Linux.CopyFileRange, Fd, Hex, Fd, Hex, Int, Hex);
        Add(N.splice, Linux.SpliceCall, Fd, Hex, Fd, Hex, Int, Hex);
        Add(N.tee, Linux.Tee, Fd, Fd, Int, Hex);
        Add(N.memfd_create, Linux.MemfdCreate, ArgKind.Path, Hex);
        Add(N.inotify_init, Linux.InotifyInit);
        Add(N.inotify_init1, Linux.InotifyInit1, Hex);
        Add(N.inotify_add_watch, Linux.InotifyAddWatch, Fd, ArgKind.Path, Hex);
        Add(N.inotify_rm_watch, Linux.InotifyRmWatch, Fd, Int);
        Add(N.mount, Linux.MountCall, ArgKind.Path, ArgKind.Path, ArgKind.Path, Hex, Hex);
        Add(N.umount2, Linux.Umount2, ArgKind.Path, Hex);
        Add(N.getxattr, Linux.Getxattr, ArgKind.Path, ArgKind.Path, Hex, Int);
        Add(N.lgetxattr, Linux.Lgetxattr, ArgKind.Path, ArgKind.Path, Hex, Int);
        Add(N.fgetxattr, Linux.Fgetxattr, Fd, ArgKind.Path, Hex, Int);
        Add(N.setxattr, Linux.Setxattr, ArgKind.Path, ArgKind.Path, Hex, Int, Hex);
        Add(N.lsetxattr, Linux.Lsetxattr, ArgKind.Path, ArgKind.Path, Hex, Int, Hex);
        Add(N.fsetxattr, Linux.Fsetxattr, Fd, ArgKind.Path, Hex, Int, Hex);
        Add(N.listxattr, Linux.Listxattr, ArgKind.Path, Hex, Int);
        Add(N.llistxattr, Linux.Llistxattr, ArgKind.Path, Hex, Int);
        Add(N.flistxattr, Linux.Flistxattr, Fd, Hex, Int);
        Add(N.removexattr, Linux.Removexattr, ArgKind.Path, ArgKind.Path);
        Add(N.lremovexattr, Linux.Lremovexattr, ArgKind.Path, ArgKind.Path);
        Add(N.fremovexattr, Linux.Fremovexattr, Fd, ArgKind.Path);
        Add(N.pipe, Linux.Pipe, Hex);
        Add(N.pipe2, Linux.Pipe2, Hex, Hex);
        Add(N.poll, Linux.Poll, Hex, Int, Int);
        Add(N.ppoll, Linux.Ppoll, Hex, Int, Hex, Hex, Int);
        Add(N.select, Linux.Select, Int, Hex, Hex, Hex, Hex);
        Add(N.pselect6, Linux.Pselect6, Int, Hex, Hex, Hex, Hex, Hex);
        Add(N.epoll_create, Linux.EpollCreate, Int);
        Add(N.epoll_create1, Linux.EpollCreate1, Hex);
        Add(N.epoll_ctl, Linux.EpollCtl, Fd, Int, Fd, Hex);
        Add(N.epoll_wait, Linux.EpollWait, Fd, Hex, Int, Int);
        Add(N.epoll_pwait, Linux.EpollPwait, Fd, Hex, Int, Int, Hex, Int);
        Add(N.epoll_pwait2, Linux.EpollPwait2, Fd, Hex, Int, Hex, Hex, Int);
        Add(N.eventfd, Linux.Eventfd, Int);
        Add(N.eventfd2, Linux.Eventfd2, Int, Hex);

        // Sockets (Socket.cs).
        Add(N.socket, Linux.Socket, SockFamily, SockType, Int);
        Add(N.socketpair, Linux.Socketpair, SockFamily, SockType, Int, Hex);
        Add(N.bind, Linux.Bind, Fd, SockAddr, Int);
        Add(N.listen, Linux.Listen, Fd, Int);
        Add(N.accept, Linux.Accept, Fd, SockAddrOut, Hex);
        Add(N.accept4, Linux.Accept4, Fd, SockAddrOut, Hex, SockType);
        Add(N.connect, Linux.Connect, Fd, SockAddr, Int);
        Add(N.shutdown, Linux.Shutdown, Fd, ShutdownHow);
        Add(N.getsockname, Linux.Getsockname, Fd, SockAddrOut, Hex);
        Add(N.getpeername, Linux.Getpeername, Fd, SockAddrOut, Hex);
        Add(N.sendto, Linux.Sendto, Fd, InBuf, Int, ArgKind.MsgFlags, SockAddr, Int);
        Add(N.recvfrom, Linux.Recvfrom, Fd, OutBuf, Int, ArgKind.MsgFlags, SockAddrOut, Hex);
        Add(N.sendmsg, Linux.Sendmsg, Fd, ArgKind.MsgHdr, ArgKind.MsgFlags);
        Add(N.recvmsg, Linux.Recvmsg, Fd, ArgKind.MsgHdr, ArgKind.MsgFlags);
        Add(N.sendmmsg, Linux.Sendmmsg, Fd, Hex, Int, ArgKind.MsgFlags);
        Add(N.recvmmsg, Linux.Recvmmsg, Fd, Hex, Int, ArgKind.MsgFlags, Hex);
        Add(N.getsockopt, Linux.Getsockopt, Fd, SockOptLevel, SockOptName, Hex, Hex);
        Add(N.setsockopt, Linux.Setsockopt, Fd, SockOptLevel, SockOptName, Hex, Int);

        // Memory (Mmap.cs).
        AddHex(N.brk, Linux.Brk, Hex);
        AddHex(N.mmap, Linux.Mmap, Hex, Int, Hex, Hex, Fd, Hex);
        Add(N.munmap, Linux.Munmap, Hex, Int);
        Add(N.msync, Linux.Msync, Hex, Int, Hex);
        Add(N.mincore, Linux.Mincore, Hex, Int, Hex);
        Add(N.mlock, Linux.Mlock, Hex, Int);
        Add(N.mlock2, Linux.Mlock2, Hex, Int, Hex);
        Add(N.munlock, Linux.Munlock, Hex, Int);
        Add(N.mlockall, Linux.Mlockall, Hex);
        Add(N.munlockall, Linux.Munlockall);
        Add(N.preadv2, Linux.Preadv2, Fd, Hex, Int, Int, Int, Hex);
        Add(N.pwritev2, Linux.Pwritev2, Fd, Iovecs, Int, Int, Int, Hex);
        Add(N.readahead, Linux.Readahead, Fd, Int, Int);
        Add(N.name_to_handle_at, Linux.NameToHandleAt, Fd, ArgKind.Path, Hex, Hex, Hex);
        Add(N.open_by_handle_at, Linux.OpenByHandleAt, Fd, Hex, Hex);
        Add(N.mprotect, Linux.Mprotect, Hex, Int, Hex);
        Add(N.madvise, Linux.Madvise, Hex, Int, Int);
        AddHex(N.mremap, Linux.Mremap, Hex, Int, Int, Hex, Hex);

        // Threads and processes (Thread.cs).
        Add(N.arch_prctl, Linux.ArchPrctl, Hex, Hex);
        Add(N.set_tid_address, Linux.SetTidAddress, Hex);
        Add(N.set_robust_list, Linux.SetRobustList, Hex, Int);
        Add(N.get_robust_list, Linux.GetRobustList, Int, Hex, Hex);
        Add(N.rseq, Linux.Rseq, Hex, Int, Hex, Hex);
        Add(N.getpid, Linux.Getpid);
        Add(N.gettid, Linux.Gettid);
        Add(N.getppid, Linux.Getppid);
        Add(N.exit, Linux.Exit, Int);
        Add(N.clone, Linux.CloneCall, Hex, Hex, Hex, Hex, Hex);
        Add(N.clone3, Linux.Clone3, Hex, Int);
        Add(N.unshare, Linux.Unshare, Hex);
        Add(N.setns, Linux.Setns, Fd, Hex);
        Add(N.fork, Linux.Fork);
        Add(N.vfork, Linux.Vfork);
        Add(N.execve, Linux.Execve, ArgKind.Path, Hex, Hex);
        Add(N.execveat, Linux.Execveat, Fd, ArgKind.Path, Hex, Hex, Hex);
        Add(N.wait4, Linux.Wait4, Int, Hex, Hex, Hex);
        Add(N.waitid, Linux.Waitid, Int, Int, Hex, Hex, Hex);
        Add(N.futex, Linux.Futex, Hex, Hex, Int, Hex, Hex, Hex);
        Add(N.getrusage, Linux.Getrusage, Int, Hex);
        Add(N.times, Linux.Times, Hex);
        Add(N.exit_group, Linux.ExitGroup, Int);
        Add(N.sched_yield, Linux.SchedYield);

        // Identity (Identity.cs).
        Add(N.getuid, Linux.Getuid);
        Add(N.geteuid, Linux.Geteuid);
        Add(N.getgid, Linux.Getgid);
        Add(N.getegid, Linux.Getegid);
        Add(N.getresuid, Linux.Getresuid, Hex, Hex, Hex);
        Add(N.getresgid, Linux.Getresgid, Hex, Hex, Hex);
        Add(N.getgroups, Linux.Getgroups, Int, Hex);
        Add(N.getpgrp, Linux.Getpgrp);
        Add(N.getpgid, Linux.Getpgid, Int);
        Add(N.getsid, Linux.Getsid, Int);
        Add(N.umask, Linux.Umask, Hex);
        Add(N.prctl, Linux.Prctl, Int, Hex, Hex, Hex, Hex);

        // Credentials (Creds.cs), process groups and attributes (ProcessAttrs.cs), scheduling (Sched.cs).
        Add(N.setuid, Linux.Setuid, Int);
        Add(N.setgid, Linux.Setgid, Int);
        Add(N.setreuid, Linux.Setreuid, Int, Int);
        Add(N.setregid, Linux.Setregid, Int, Int);
        Add(N.setresuid, Linux.Setresuid, Int, Int, Int);
        Add(N.setresgid, Linux.Setresgid, Int, Int, Int);
        Add(N.setfsuid, Linux.Setfsuid, Int);
        Add(N.setfsgid, Linux.Setfsgid, Int);
        Add(N.setgroups, Linux.Setgroups, Int, Hex);
        Add(N.capget, Linux.Capget, Hex, Hex);
        Add(N.capset, Linux.Capset, Hex, Hex);
        Add(N.setpgid, Linux.Setpgid, Int, Int);
        Add(N.setsid, Linux.Setsid);
        Add(N.personality, Linux.Personality, Hex);
        Add(N.close_range, Linux.CloseRange, Int, Int, Hex);
        Add(N.getpriority, Linux.Getpriority, Int, Int);
        Add(N.setpriority, Linux.Setpriority, Int, Int, Int);
        Add(N.sched_setscheduler, Linux.SchedSetscheduler, Int, Int, Hex);
        Add(N.sched_getscheduler, Linux.SchedGetscheduler, Int);
        Add(N.sched_setparam, Linux.SchedSetparam, Int, Hex);
        Add(N.sched_getparam, Linux.SchedGetparam, Int, Hex);
        Add(N.sched_get_priority_max, Linux.SchedGetPriorityMax, Int);
        Add(N.sched_get_priority_min, Linux.SchedGetPriorityMin, Int);
        Add(N.sched_rr_get_interval, Linux.SchedRrGetInterval, Int, Hex);
        Add(N.sched_getaffinity, Linux.SchedGetaffinity, Int, Int, Hex);
        Add(N.sched_setaffinity, Linux.SchedSetaffinity, Int, Int, Hex);
        Add(N.ioprio_get, Linux.IoprioGet, Int, Int);
        Add(N.ioprio_set, Linux.IoprioSet, Int, Int, Hex);
        Add(N.getcpu, Linux.Getcpu, Hex, Hex, Hex);
        Add(N.membarrier, Linux.Membarrier, Int, Hex, Int);

        // Time (Time.cs).
        Add(N.clock_gettime, Linux.ClockGettime, Int, Hex);
        Add(N.clock_getres, Linux.ClockGetres, Int, Hex);
        Add(N.gettimeofday, Linux.Gettimeofday, Hex, Hex);
        Add(N.time, Linux.Time, Hex);
        Add(N.nanosleep, Linux.Nanosleep, ArgKind.Timespec, Hex);
        Add(N.clock_nanosleep, Linux.ClockNanosleep, Int, Hex, ArgKind.Timespec, Hex);

        // Timers (Timer.cs).
        Add(N.alarm, Linux.Alarm, Int);
        Add(N.setitimer, Linux.Setitimer, Int, Hex, Hex);
        Add(N.getitimer, Linux.Getitimer, Int, Hex);
        Add(N.timer_create, Linux.TimerCreate, Int, Hex, Hex);
        Add(N.timer_settime, Linux.TimerSettime, Int, Hex, Hex, Hex);
        Add(N.timer_gettime, Linux.TimerGettime, Int, Hex);
        Add(N.timer_getoverrun, Linux.TimerGetoverrun, Int);
        Add(N.timer_delete, Linux.TimerDelete, Int);
        Add(N.timerfd_create, Linux.TimerfdCreate, Int, Hex);
        Add(N.timerfd_settime, Linux.TimerfdSettime, Fd, Hex, Hex, Hex);
        Add(N.timerfd_gettime, Linux.TimerfdGettime, Fd, Hex);

        // Signals (Signal.cs).
        Add(N.rt_sigaction, Linux.RtSigaction, Signal, Hex, Hex, Int);
        Add(N.rt_sigprocmask, Linux.RtSigprocmask, Int, Hex, Hex, Int);
        Add(N.rt_sigpending, Linux.RtSigpending, Hex, Int);
        Add(N.rt_sigreturn, Linux.RtSigreturn);
        Add(N.rt_sigsuspend, Linux.RtSigsuspend, Hex, Int);
        Add(N.rt_sigtimedwait, Linux.RtSigtimedwait, Hex, Hex, Hex, Int);
        Add(N.sigaltstack, Linux.Sigaltstack, Hex, Hex);
        Add(N.pause, Linux.PauseCall);
        Add(N.kill, Linux.Kill, Int, Signal);
        Add(N.tkill, Linux.Tkill, Int, Signal);
        Add(N.tgkill, Linux.Tgkill, Int, Int, Signal);
        Add(N.rt_sigqueueinfo, Linux.RtSigqueueinfo, Int, Signal, Hex);
        Add(N.rt_tgsigqueueinfo, Linux.RtTgsigqueueinfo, Int, Int, Signal, Hex);

        // System information and limits (Sys.cs).
        Add(N.uname, Linux.Uname, Hex);
        Add(N.sysinfo, Linux.Sysinfo, Hex);
        Add(N.getrandom, Linux.Getrandom, Hex, Int, Hex);
        Add(N.prlimit64, Linux.Prlimit64, Int, Int, Hex, Hex);
        Add(N.getrlimit, Linux.Getrlimit, Int, Hex);
        Add(N.setrlimit, Linux.Setrlimit, Int, Hex);
        return t;
    }
}
