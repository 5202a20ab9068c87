using Sandbox.Abi;
using static Sandbox.Gofer.Confinement.SeccompRuleKind;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Gofer.Confinement;

/// <summary>What the seccomp policies of our .NET processes (the Gofer's, the Sentry's) share:
/// the runtime's own thread calls, and the calls that would undo any confinement.</summary>
public static class RuntimeSeccompRules
{
    private const uint CLONE_THREAD = 0x10000;
    /// <summary>CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME.</summary>
    private const uint CLONE_NEW_ANY = 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;
    private const uint PR_SET_PDEATHSIG = 1, PR_GET_DUMPABLE = 3, PR_SET_NAME = 15, PR_GET_NAME = 16;
    private const uint PR_GET_SECCOMP = 21, PR_CAPBSET_READ = 23, PR_GET_NO_NEW_PRIVS = 39, PR_SET_VMA = 0x53564d41;

    /// <summary>Calls that would leave a mount namespace or root, regain privileges, run another
    /// program, open sockets of the host, or reach the kernel's wider attack surface. (An
    /// array: the gofer builds its policy at start-up, where an IReadOnlyList enumerator would
    /// first be JIT-compiled.)</summary>
    public static readonly Sys[] Escapes =
    [
        Sys.mount, Sys.umount2, Sys.pivot_root, Sys.chroot, Sys.setns, Sys.unshare,
        Sys.open_tree, Sys.move_mount, Sys.fsopen, Sys.fsconfig, Sys.fsmount, Sys.fspick, Sys.mount_setattr,
        Sys.open_by_handle_at, Sys.name_to_handle_at,
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

    /// <summary>The runtime's threads: clone for threads only, clone3 refused so that glibc
    /// falls back to clone, and prctl for names and queries.</summary>
    public static void AddThreadRules(List<SeccompRule> rules)
    {
        rules.Add(new SeccompRule(Sys.clone, AllowIfArgMaskEquals,
            "runtime: new threads (pthread_create) only: CLONE_THREAD set, no new namespaces, no processes")
        { Arg = 0, Values = [CLONE_THREAD | CLONE_NEW_ANY, CLONE_THREAD] });
        rules.Add(new SeccompRule(Sys.clone3, Deny,
            "runtime: clone3's flags are in memory BPF cannot read, so it could make processes or namespaces; " +
            "ENOSYS makes glibc's pthread_create fall back to clone, whose flags are checked above")
        { Errno = Errno.ENOSYS });
        rules.Add(new SeccompRule(Sys.prctl, AllowIfArgIn,
            "runtime: thread names, VMA names, queries; nothing that changes privileges")
        {
            Arg = 0,
            Values = [PR_SET_NAME, PR_GET_NAME, PR_SET_VMA, PR_GET_DUMPABLE, PR_SET_PDEATHSIG, PR_GET_SECCOMP,
                PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ],
        });
    }
}
