using Sandbox.Abi;
using static Sandbox.Gofer.Confinement.SeccompRuleKind;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Gofer.Confinement;

/// <summary>The gofer's seccomp allowlist. The gofer is a .NET process serving 9P on one
/// socket over one directory tree: it needs the *at file calls on descriptors it already
/// holds, message I/O on the socket, and what the .NET runtime calls at steady state
/// (memory, futexes, signals for thread suspension, thread creation, timers), measured with
/// `strace -f` on a confined gofer (see GoferCommand). Every other call fails with EPERM so
/// that the runtime's optional probes degrade instead of killing the process; the calls
/// that would undo the confinement or reach other processes are denied by name.</summary>
public static class GoferSeccompPolicy
{
    // Constants of the argument checks (values as the kernel defines them).
    private const uint TCGETS = 0x5401, TIOCGWINSZ = 0x5413, FIONREAD = 0x541B, FIONBIO = 0x5421;
    private const uint FIONCLEX = 0x5450, FIOCLEX = 0x5451;

    /// <summary>The policy for a gofer whose process id is pid (signals may only go to itself).</summary>
    public static SeccompPolicy Create(int pid) => new(Rules(pid), Errno.EPERM);

    /// <summary>Syscalls that would let a confined gofer leave its mount namespace, regain
    /// privileges, run other code or reach other processes and the kernel's attack surface.</summary>
    public static IReadOnlyList<Sys> Denied => DeniedCalls;

    // An array (iterated as one below): the gofer builds its policy at start-up, where an
    // IReadOnlyList<Sys> enumerator would first be JIT-compiled.
    private static readonly Sys[] DeniedCalls =
    [
        Sys.ptrace, Sys.process_vm_readv, Sys.process_vm_writev, Sys.pidfd_getfd, Sys.kcmp, Sys.seccomp, Sys.socketpair,
        Sys.kill, Sys.tkill, Sys.rt_sigqueueinfo, Sys.rt_tgsigqueueinfo, Sys.pidfd_open, Sys.pidfd_send_signal,
        .. RuntimeSeccompRules.Escapes,
    ];

    private static IReadOnlyList<SeccompRule> Rules(int pid)
    {
        var rules = new List<SeccompRule>();
        void AllowAll(string why, params Sys[] calls)
        {
            foreach (Sys s in calls) rules.Add(new SeccompRule(s, Allow, why));
        }

        // Hot path first: the serving loop and the runtime's synchronisation.
        AllowAll("9P messages on the connected socket", Sys.recvmsg, Sys.sendmsg, Sys.recvfrom, Sys.sendto,
            Sys.read, Sys.write, Sys.readv, Sys.writev);
        AllowAll("runtime: locks, thread parking (Monitor, SemaphoreSlim)", Sys.futex);
        AllowAll("file data for Tread/Twrite", Sys.pread64, Sys.pwrite64, Sys.preadv, Sys.pwritev, Sys.preadv2, Sys.pwritev2);
        AllowAll("walking and attributes (Twalk, Tgetattr)", Sys.openat, Sys.openat2, Sys.close, Sys.fstat, Sys.newfstatat,
            Sys.statx, Sys.getdents64, Sys.readlinkat, Sys.lseek, Sys.fstatfs, Sys.statfs, Sys.faccessat, Sys.faccessat2);
        AllowAll("runtime: assembly probing and System.IO use the path forms (harmless: / is the scaffold)",
            Sys.open, Sys.stat, Sys.lstat, Sys.access, Sys.unlink, Sys.rmdir, Sys.mkdir, Sys.rename, Sys.link,
            Sys.symlink, Sys.chmod, Sys.chown, Sys.lchown, Sys.truncate, Sys.utimes, Sys.futimesat);
        AllowAll("creating, removing and renaming (Tmkdir, Tunlinkat, Trenameat, Tsymlink, Tlink, Tmknod)",
            Sys.mkdirat, Sys.unlinkat, Sys.renameat, Sys.renameat2, Sys.symlinkat, Sys.linkat, Sys.mknodat);
        AllowAll("Tsetattr: modes, owners, times, sizes", Sys.fchmod, Sys.fchmodat, Sys.fchmodat2, Sys.fchown, Sys.fchownat,
            Sys.utimensat, Sys.ftruncate, Sys.fallocate);
        AllowAll("Tfsync, Tlock", Sys.fsync, Sys.fdatasync, Sys.sync_file_range, Sys.flock);
        AllowAll("extended attributes (Txattrwalk/Txattrcreate); l* forms for O_PATH fds via /proc/self/fd",
            Sys.fgetxattr, Sys.fsetxattr, Sys.flistxattr, Sys.fremovexattr,
            Sys.lgetxattr, Sys.lsetxattr, Sys.llistxattr, Sys.lremovexattr,
            Sys.getxattrat, Sys.setxattrat, Sys.listxattrat, Sys.removexattrat);
        AllowAll("descriptor bookkeeping", Sys.fcntl, Sys.dup, Sys.dup3, Sys.close_range, Sys.umask);
        AllowAll("socket options of the already-connected 9P socket (System.Net.Sockets reads them)",
            Sys.getsockopt, Sys.setsockopt, Sys.getsockname, Sys.getpeername, Sys.shutdown);

        AllowAll("runtime: memory management and the GC", Sys.mmap, Sys.munmap, Sys.mprotect, Sys.madvise,
            Sys.mremap, Sys.brk, Sys.mincore, Sys.membarrier);
        AllowAll("runtime: time, sleeping, yielding", Sys.clock_gettime, Sys.clock_getres, Sys.clock_nanosleep,
            Sys.nanosleep, Sys.gettimeofday, Sys.sched_yield, Sys.sched_getaffinity, Sys.sched_getparam,
            Sys.sched_getscheduler, Sys.sched_get_priority_max, Sys.sched_get_priority_min, Sys.getcpu);
        AllowAll("runtime: identity and limits queries", Sys.getpid, Sys.gettid, Sys.getppid, Sys.getuid, Sys.geteuid,
            Sys.getgid, Sys.getegid, Sys.getrlimit, Sys.prlimit64, Sys.getrusage, Sys.uname, Sys.sysinfo, Sys.getcwd,
            Sys.getrandom, Sys.readlink);
        AllowAll("runtime: signals (GC thread suspension, PosixSignalRegistration, abort)", Sys.rt_sigaction,
            Sys.rt_sigprocmask, Sys.rt_sigreturn, Sys.sigaltstack, Sys.rt_sigtimedwait, Sys.restart_syscall);
        rules.Add(new SeccompRule(Sys.tgkill, AllowIfArgIn,
            "runtime: thread suspension and abort signal its own threads; never another process")
        { Arg = 0, Values = [(uint)pid] });
        rules.Add(new SeccompRule(Sys.sched_setaffinity, AllowIfArgIn,
            "runtime: every new thread sets its own affinity (pid 0) and fails to start if refused")
        { Arg = 0, Values = [0] });
        AllowAll("runtime: thread start and exit", Sys.set_robust_list, Sys.rseq, Sys.exit, Sys.exit_group);
        RuntimeSeccompRules.AddThreadRules(rules);
        AllowAll("runtime: the socket engine and wake-ups", Sys.epoll_create1, Sys.epoll_ctl, Sys.epoll_wait,
            Sys.epoll_pwait, Sys.epoll_pwait2, Sys.eventfd2, Sys.pipe2, Sys.poll, Sys.ppoll);
        rules.Add(new SeccompRule(Sys.ioctl, AllowIfArgIn,
            "isatty/terminal size on stderr and non-blocking mode; no TIOCSTI or device ioctls")
        { Arg = 1, Values = [TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX] });

        foreach (Sys s in DeniedCalls)
        {
            rules.Add(new SeccompRule(s, Deny, "escapes the confinement or reaches other processes"));
        }
        return rules;
    }
}
