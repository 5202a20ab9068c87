using Sandbox.Abi;
using Sandbox.Gofer.Confinement;
using static Sandbox.Gofer.Confinement.SeccompRuleKind;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Runsc;

/// <summary>The Sentry's seccomp allowlist, in force once it has started
/// (<see cref="SentryConfinement"/>). The Sentry emulates every guest system call itself; what
/// it asks of the host is memory (the MemoryFile), ptrace and signals for its stubs, message
/// I/O with the Gofer, reads and writes on the host descriptors it was given (stdio, the debug
/// log), time, and what the .NET runtime calls at steady state. It opens nothing by path and
/// starts no program (new stubs are forks of a template, made inside the template). Measured
/// over the test suite with every other call logged (SECCOMP_RET_LOG): the runtime also tries
/// sched_setscheduler (thread priorities) and unlink (its diagnostics socket, already removed
/// by SentryConfinement) and does without. Every other call fails with EPERM, so the runtime's
/// optional probes degrade instead of killing the sandbox; the
/// calls that would undo the confinement are also denied by name.</summary>
public static class SentrySeccompPolicy
{
    private const uint CLONE_THREAD = 0x10000;
    /// <summary>CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME.</summary>
    private const uint CLONE_NEW_ANY = 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;
    private const uint PR_SET_PDEATHSIG = 1, PR_GET_DUMPABLE = 3, PR_SET_NAME = 15, PR_GET_NAME = 16;
    private const uint TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403, TCSETSF = 0x5404, TIOCGWINSZ = 0x5413;
    private const uint FIONREAD = 0x541B, FIONBIO = 0x5421, FIONCLEX = 0x5450, FIOCLEX = 0x5451;
    private const uint PR_GET_SECCOMP = 21, PR_CAPBSET_READ = 23, PR_GET_NO_NEW_PRIVS = 39, PR_SET_VMA = 0x53564d41;

    public static SeccompPolicy Create() => new(Rules(), Errno.EPERM);

    /// <summary>Calls that would let the Sentry leave its empty root, regain privileges, run
    /// other programs or widen the host kernel's attack surface.</summary>
    public static IReadOnlyList<Sys> Denied => DeniedCalls;

    private static readonly Sys[] DeniedCalls =
    [
        Sys.open, Sys.openat, Sys.openat2, Sys.creat, Sys.open_by_handle_at, Sys.name_to_handle_at,
        Sys.mount, Sys.umount2, Sys.pivot_root, Sys.chroot, Sys.setns, Sys.unshare,
        Sys.open_tree, Sys.move_mount, Sys.fsopen, Sys.fsconfig, Sys.fsmount, Sys.fspick, Sys.mount_setattr,
        Sys.execve, Sys.execveat, Sys.fork, Sys.vfork,
        Sys.init_module, Sys.finit_module, Sys.delete_module, Sys.kexec_load, Sys.kexec_file_load, Sys.reboot,
        Sys.bpf, Sys.perf_event_open, Sys.userfaultfd, Sys.io_uring_setup, Sys.io_uring_enter, Sys.io_uring_register,
        Sys.keyctl, Sys.add_key, Sys.request_key,
        Sys.setuid, Sys.setgid, Sys.setreuid, Sys.setregid, Sys.setresuid, Sys.setresgid, Sys.setgroups,
        Sys.setfsuid, Sys.setfsgid, Sys.capset,
        Sys.socket, Sys.connect, Sys.bind, Sys.listen, Sys.accept, Sys.accept4,
        Sys.iopl, Sys.ioperm, Sys.swapon, Sys.swapoff, Sys.acct, Sys.quotactl, Sys.syslog,
        Sys.settimeofday, Sys.clock_settime, Sys.adjtimex, Sys.clock_adjtime, Sys.sethostname, Sys.setdomainname,
    ];

    private static List<SeccompRule> Rules()
    {
        var rules = new List<SeccompRule>();
        void AllowAll(string why, params Sys[] calls)
        {
            foreach (Sys s in calls) rules.Add(new SeccompRule(s, Allow, why));
        }

        // The syscall path first: each guest system call is a ptrace stop and a wait.
        AllowAll("running the stubs: PTRACE_SYSEMU, registers, injected calls, attaching forks and threads",
            Sys.ptrace, Sys.wait4, Sys.waitid);
        AllowAll("runtime and Sentry: locks, waits, wake-ups", Sys.futex, Sys.futex_waitv, Sys.sched_yield);
        AllowAll("time (the vDSO covers most; guest timers and sleeps)", Sys.clock_gettime, Sys.clock_getres,
            Sys.gettimeofday, Sys.clock_nanosleep, Sys.nanosleep);
        AllowAll("host descriptors the Sentry holds: stdio, the debug log, the MemoryFile",
            Sys.read, Sys.write, Sys.readv, Sys.writev, Sys.pread64, Sys.pwrite64, Sys.preadv, Sys.pwritev,
            Sys.preadv2, Sys.pwritev2, Sys.lseek, Sys.fstat, Sys.newfstatat, Sys.statx, Sys.fstatfs, Sys.close,
            Sys.close_range, Sys.fcntl, Sys.dup, Sys.dup2, Sys.dup3, Sys.fsync, Sys.fdatasync, Sys.ftruncate,
            Sys.fallocate, Sys.splice, Sys.sendfile, Sys.copy_file_range);
        AllowAll("9P with the Gofer over the connected socket pair",
            Sys.sendmsg, Sys.recvmsg, Sys.sendto, Sys.recvfrom, Sys.shutdown, Sys.getsockopt, Sys.setsockopt,
            Sys.getsockname, Sys.getpeername, Sys.socketpair);
        AllowAll("readiness of host descriptors (stdio, the Gofer's socket)", Sys.poll, Sys.ppoll, Sys.select,
            Sys.pselect6, Sys.epoll_create1, Sys.epoll_ctl, Sys.epoll_wait, Sys.epoll_pwait, Sys.epoll_pwait2,
            Sys.eventfd2, Sys.pipe2);
        AllowAll("guest memory: the MemoryFile mapping, the runtime's heap", Sys.mmap, Sys.munmap, Sys.mprotect,
            Sys.mremap, Sys.madvise, Sys.msync, Sys.mincore, Sys.brk, Sys.membarrier, Sys.memfd_create);
        AllowAll("signals: stubs are killed and interrupted; the runtime suspends its threads",
            Sys.kill, Sys.tgkill, Sys.tkill, Sys.rt_sigaction, Sys.rt_sigprocmask, Sys.rt_sigreturn,
            Sys.sigaltstack, Sys.rt_sigtimedwait, Sys.rt_sigpending, Sys.rt_sigsuspend);
        AllowAll("identity and limits, read only", Sys.getpid, Sys.gettid, Sys.getppid, Sys.getuid, Sys.geteuid,
            Sys.getgid, Sys.getegid, Sys.getgroups, Sys.getresuid, Sys.getresgid, Sys.getpgid, Sys.getsid,
            Sys.uname, Sys.sysinfo, Sys.getrusage, Sys.times, Sys.getrlimit, Sys.prlimit64, Sys.capget,
            Sys.getcpu, Sys.getrandom);
        AllowAll("CPU placement of the Sentry's threads and their stubs, scheduling queries",
            Sys.sched_getaffinity, Sys.sched_setaffinity, Sys.sched_getparam, Sys.sched_getscheduler,
            Sys.sched_get_priority_max, Sys.sched_get_priority_min, Sys.getpriority);
        AllowAll("runtime: thread start and exit", Sys.set_robust_list, Sys.get_robust_list, Sys.rseq,
            Sys.set_tid_address, Sys.arch_prctl, Sys.exit, Sys.exit_group);
        rules.Add(new SeccompRule(Sys.clone, AllowIfArgMaskEquals,
            "runtime: new threads (pthread_create) only: CLONE_THREAD set, no new namespaces, no processes")
        { Arg = 0, Values = [CLONE_THREAD | CLONE_NEW_ANY, CLONE_THREAD] });
        rules.Add(new SeccompRule(Sys.clone3, Deny,
            "clone3's flags are in memory BPF cannot read, so it could make processes or namespaces; " +
            "ENOSYS makes glibc's pthread_create fall back to clone, whose flags are checked above")
        { Errno = Errno.ENOSYS });
        rules.Add(new SeccompRule(Sys.prctl, AllowIfArgIn,
            "runtime: thread names, VMA names, queries; nothing that changes privileges")
        {
            Arg = 0,
            Values = [PR_SET_NAME, PR_GET_NAME, PR_SET_VMA, PR_GET_DUMPABLE, PR_SET_PDEATHSIG, PR_GET_SECCOMP,
                PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ],
        });
        rules.Add(new SeccompRule(Sys.ioctl, AllowIfArgIn,
            "terminal attributes and size of the host stdio the guest was given (HostFile), non-blocking and " +
            "close-on-exec for the runtime; no TIOCSTI or device ioctls")
        { Arg = 1, Values = [TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX] });

        foreach (Sys s in DeniedCalls)
        {
            rules.Add(new SeccompRule(s, Deny, "leaves the empty root, regains privileges or widens the host's attack surface"));
        }
        return rules;
    }
}
