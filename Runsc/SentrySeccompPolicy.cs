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
    private const uint TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403, TCSETSF = 0x5404, TIOCGWINSZ = 0x5413;
    private const uint FIONREAD = 0x541B, FIONBIO = 0x5421, FIONCLEX = 0x5450, FIOCLEX = 0x5451;

    public static SeccompPolicy Create() => new(Rules(), Errno.EPERM);

    /// <summary>Calls that would let the Sentry leave its empty root, regain privileges, run
    /// other programs or widen the host kernel's attack surface.</summary>
    public static IReadOnlyList<Sys> Denied => DeniedCalls;

    private static readonly Sys[] DeniedCalls =
    [
        Sys.open, Sys.openat, Sys.openat2, Sys.creat,
        .. RuntimeSeccompRules.Escapes,
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
            Sys.sigaltstack, Sys.rt_sigtimedwait, Sys.rt_sigpending, Sys.rt_sigsuspend, Sys.restart_syscall);
        AllowAll("identity and limits, read only", Sys.getpid, Sys.gettid, Sys.getppid, Sys.getuid, Sys.geteuid,
            Sys.getgid, Sys.getegid, Sys.getgroups, Sys.getresuid, Sys.getresgid, Sys.getpgid, Sys.getsid,
            Sys.uname, Sys.sysinfo, Sys.getrusage, Sys.times, Sys.getrlimit, Sys.prlimit64, Sys.capget,
            Sys.getcpu, Sys.getrandom);
        AllowAll("CPU placement of the Sentry's threads and their stubs, scheduling queries",
            Sys.sched_getaffinity, Sys.sched_setaffinity, Sys.sched_getparam, Sys.sched_getscheduler,
            Sys.sched_get_priority_max, Sys.sched_get_priority_min, Sys.getpriority);
        AllowAll("runtime: thread start and exit", Sys.set_robust_list, Sys.get_robust_list, Sys.rseq,
            Sys.set_tid_address, Sys.arch_prctl, Sys.exit, Sys.exit_group);
        RuntimeSeccompRules.AddThreadRules(rules);
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
