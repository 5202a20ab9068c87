using Sandbox.Abi;
using Sandbox.Sentry.Syscalls;
using N = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Sentry.Kernel;

/// <summary>Syscall dispatch: table lookup, the handler, --strace, the result into rax, and
/// the bookkeeping for restarting calls a signal interrupted.</summary>
public sealed partial class Task
{
    /// <summary>Calls that SA_RESTART restarts after a handler (signal(7)); other blocking
    /// calls return EINTR after a handler, and restart only when no handler ran.</summary>
    private static readonly HashSet<long> RestartedBySaRestart =
    [
        (long)N.read, (long)N.write, (long)N.readv, (long)N.writev, (long)N.pread64, (long)N.pwrite64,
        (long)N.preadv, (long)N.pwritev, (long)N.ioctl, (long)N.open, (long)N.openat, (long)N.openat2,
        (long)N.creat, (long)N.wait4, (long)N.waitid, (long)N.flock, (long)N.fcntl, (long)N.futex, (long)N.accept, (long)N.accept4,
        (long)N.connect, (long)N.recvfrom, (long)N.recvmsg, (long)N.recvmmsg, (long)N.sendto, (long)N.sendmsg, (long)N.getrandom,
        (long)N.sendfile, (long)N.splice, (long)N.tee, (long)N.copy_file_range,
    ];

    /// <summary>Calls that never restart, even without a handler: after a stop and continue
    /// they report EINTR (signal(7)). pause and rt_sigsuspend are not among them: Linux
    /// returns ERESTARTNOHAND from those, so they start over when no handler ran.</summary>
    private static readonly HashSet<long> NeverRestarted =
        [(long)N.rt_sigtimedwait, (long)N.epoll_wait, (long)N.epoll_pwait, (long)N.epoll_pwait2];

    /// <summary>How --strace and the log name a call through the i386 ABI; strace shows eax,
    /// then the i386 argument registers ebx, ecx, edx, esi, edi.</summary>
    private static readonly SyscallEntry I386Entry = new(-1, "int 0x80 (i386 ABI)", null, []);

    /// <summary>A system call through the i386 ABI (int 0x80, or sysenter) from 64-bit code.
    /// The sandbox offers only the x86-64 ABI: the call fails with ENOSYS, and the log says so
    /// once, as for any unimplemented call.</summary>
    private void HandleI386Syscall()
    {
        long nr = (long)Regs.OrigRax;
        Kernel.LogI386Syscall(I386Entry.Name, nr);
        long result = -(long)Errno.ENOSYS;
        if (Kernel.Config.Strace)
        {
            var args = new SyscallArgs((ulong)nr, Regs.Rbx, Regs.Rcx, Regs.Rdx, Regs.Rsi, Regs.Rdi);
            Kernel.Log.Line(Strace.Strace.Format(this, I386Entry, args, result));
        }
        Regs.Rax = (ulong)result;
    }

    /// <summary>Set by a handler that has already decided about SIGPIPE for its EPIPE
    /// (MSG_NOSIGNAL, or a socket type that never raises it); cleared for every call.</summary>
    public bool SuppressSigpipe { get; set; }

    /// <summary>Set by a handler whose EINTR must reach the guest even without a handler or
    /// with SA_RESTART (a socket call with SO_RCVTIMEO/SO_SNDTIMEO, as Linux's
    /// sock_intr_errno); cleared for every call.</summary>
    public bool NoRestart { get; set; }

    private void HandleSyscall()
    {
        SuppressSigpipe = false;
        NoRestart = false;
        long nr = (long)Regs.OrigRax;
        var args = new SyscallArgs(Regs.Rdi, Regs.Rsi, Regs.Rdx, Regs.R10, Regs.R8, Regs.R9);
        SyscallEntry entry = SyscallTable.Lookup(nr);
        bool strace = Kernel.Config.Strace;
        long started = strace ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        long result;
        if (entry.Handler == null)
        {
            Kernel.LogUnimplemented((int)nr, entry.Name);
            result = -(long)Errno.ENOSYS;
        }
        else
        {
            // exit, exit_group and execve may not return: trace them first.
            if (strace && nr is (long)N.exit or (long)N.exit_group or (long)N.execve or (long)N.execveat)
                Kernel.Log.Line(Strace.Strace.Format(this, entry, args, null));
            try
            {
                result = entry.Handler(this, args);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A Sentry bug must not take the sandbox down: the guest gets EIO, the log the stack.
                Kernel.Log.Warning($"[{Tid}] {entry.Name} failed inside the Sentry: {e}");
                result = -(long)Errno.EIO;
            }
            if (ExitRequested || Exit != null) return;
        }
        if (strace) Kernel.Log.Line(Strace.Strace.Format(this, entry, args, result, System.Diagnostics.Stopwatch.GetElapsedTime(started)));
        // Writing to a pipe or socket nobody reads raises SIGPIPE as well as failing with EPIPE
        // (pwritev2 can ask not to, with RWF_NOSIGNAL; sockets with MSG_NOSIGNAL).
        if (result == -(long)Errno.EPIPE && !SuppressSigpipe && (nr is (long)N.write or (long)N.writev or (long)N.pwrite64
            or (long)N.pwritev or (long)N.sendto or (long)N.sendmsg or (long)N.sendmmsg or (long)N.splice or (long)N.sendfile
            or (long)N.tee || (nr == (long)N.pwritev2 && ((int)args.A5 & Rwf.RWF_NOSIGNAL) == 0)))
            SendToThread(this, new SigInfo { Signo = Signals.SIGPIPE, Code = SigCodes.SI_USER, Pid = Pid, Uid = (int)Creds.RealUid });
        // rt_sigreturn "returns" the interrupted context's rax, which may itself be -EINTR.
        if (result == -(long)Errno.EINTR && nr != (long)N.rt_sigreturn && !NeverRestarted.Contains(nr) && !NoRestart)
        {
            _interruptedSyscall = nr;
            _restartWithSaRestart = RestartedBySaRestart.Contains(nr);
        }
        if (nr != (long)N.rt_sigreturn) Regs.Rax = (ulong)result;
    }
}
