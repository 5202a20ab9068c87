using Sandbox.Abi;
using Sandbox.Abi.Host;
using OpenFlags = Sandbox.Abi.OpenFlags;

namespace Sandbox.Gofer.Confinement;

/// <summary>`runsc gofer --self-test-seccomp`: run inside the confined gofer, after the
/// seccomp filter is installed, it tries what the confinement must refuse and what the
/// gofer must still be able to do, printing one `name: result` line per probe. Returns 0
/// when every probe came out as expected.</summary>
public static class ConfinementSelfTest
{
    private const int AF_INET = 2, SOCK_STREAM = 1, SIGCHLD = 17;

    public static unsafe int Run(int rootFd, bool readOnly, TextWriter output)
    {
        bool allGood = true;
        void Report(string name, bool good, string result)
        {
            output.WriteLine($"{name}: {result}{(good ? "" : "  [UNEXPECTED]")}");
            allGood &= good;
        }

        void ExpectRefused(string name, SyscallNumber nr, nint a0 = 0, nint a1 = 0, nint a2 = 0, nint a3 = 0, nint a4 = 0,
            Errno expected = Errno.EPERM)
        {
            long r = Seccomp.RawSyscall((long)nr, a0, a1, a2, a3, a4);
            int errno = HostError.Last;
            if (r == 0 && nr is SyscallNumber.clone or SyscallNumber.clone3)
            {
                Seccomp.RawSyscall((long)SyscallNumber.exit_group, 0); // the child of a fork that should not have happened
            }
            Report(name, r == -1 && errno == (int)expected, r == -1 ? ErrnoName(errno) : $"succeeded ({r})");
        }

        // What must be refused. The arguments would be valid (or merely fail with another errno)
        // without the filter, so EPERM shows the filter refused them.
        ExpectRefused("unshare(CLONE_NEWUSER)", SyscallNumber.unshare, Namespaces.CLONE_NEWUSER);
        ExpectRefused("ptrace(PTRACE_TRACEME)", SyscallNumber.ptrace, Ptrace.PTRACE_TRACEME);
        ExpectRefused("mount(NULL, NULL, NULL, 0)", SyscallNumber.mount);
        ExpectRefused("execve(NULL)", SyscallNumber.execve);
        ExpectRefused("socket(AF_INET, SOCK_STREAM)", SyscallNumber.socket, AF_INET, SOCK_STREAM);
        ExpectRefused("clone(SIGCHLD) (fork)", SyscallNumber.clone, SIGCHLD);
        // clone3 could make a process (its flags are out of the filter's reach); ENOSYS, not
        // EPERM, so that glibc's pthread_create falls back to clone ("new thread" below).
        var forkArgs = stackalloc ulong[11];
        forkArgs[4] = SIGCHLD; // exit_signal
        ExpectRefused("clone3(SIGCHLD) (fork)", SyscallNumber.clone3, (nint)forkArgs, 88, expected: Errno.ENOSYS);
        ExpectRefused("kill(1, 0)", SyscallNumber.kill, 1, 0);
        ExpectRefused("tgkill(1, 1, 0)", SyscallNumber.tgkill, 1, 1, 0);
        ExpectRefused("open_by_handle_at", SyscallNumber.open_by_handle_at, -100);
        ExpectRefused("prctl(PR_SET_DUMPABLE, 1)", SyscallNumber.prctl, 4, 1);
        ExpectRefused("ioctl(2, TIOCSTI)", SyscallNumber.ioctl, 2, 0x5412);
        ExpectRefused("chroot(\"/\")", SyscallNumber.chroot);

        // What must still work.
        long pid = Seccomp.RawSyscall((long)SyscallNumber.getpid);
        Report("getpid", pid == Environment.ProcessId, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        int threadResult = 0;
        var thread = new Thread(() => threadResult = 42);
        thread.Start();
        thread.Join();
        Report("new thread", threadResult == 42, threadResult == 42 ? "ok" : "did not run");
        int poolResult = Task.Run(() => 7).Result;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        Report("thread pool and GC", poolResult == 7, "ok");

        string status = File.ReadAllText("/proc/self/status");
        Report("seccomp mode", Field(status, "Seccomp") == "2", Field(status, "Seccomp") ?? "unknown");
        Report("no_new_privs", Field(status, "NoNewPrivs") == "1", Field(status, "NoNewPrivs") ?? "unknown");
        Report("effective capabilities", ulong.Parse(Field(status, "CapEff") ?? "ffff", System.Globalization.NumberStyles.HexNumber) == GoferCapabilities.KeptMask,
            Field(status, "CapEff") ?? "unknown");
        int unfiltered = 0, threads = 0;
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            string? mode;
            try
            {
                mode = Field(File.ReadAllText(Path.Combine(task, "status")), "Seccomp");
            }
            catch (IOException)
            {
                continue; // the thread exited meanwhile
            }
            threads++;
            if (mode != "2") unfiltered++;
        }
        Report("every thread filtered", unfiltered == 0 && threads > 1, $"{threads - unfiltered} of {threads}");

        // The host's files are out of sight; the served tree is reachable through the descriptor.
        Report("host /etc/passwd visible", !File.Exists("/etc/passwd"), File.Exists("/etc/passwd") ? "yes" : "no");
        var leaked = new List<string>();
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out int fd) || fd == rootFd) continue;
            Stat st;
            if (Unistd.Fstat(fd, &st) != 0 || (st.Mode & StatMode.S_IFMT) != StatMode.S_IFDIR) continue;
            string target = Namespaces.ReadlinkString(entry) ?? "?";
            if (!target.StartsWith("/proc/", StringComparison.Ordinal)) leaked.Add($"{fd}={target}"); // not the enumeration's own
        }
        Report("inherited directories", leaked.Count == 0, leaked.Count == 0 ? "none" : string.Join(' ', leaked));
        Report("scaffold", true, string.Join(' ', Directory.GetFileSystemEntries("/").Order(StringComparer.Ordinal)));
        string[] entries = [.. Directory.GetFileSystemEntries($"/proc/self/fd/{rootFd}").Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Report("root entries", true, string.Join(' ', entries));
        int probe = Namespaces.Openat(rootFd, ".gofer-self-test", OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_WRONLY | OpenFlags.O_CLOEXEC, 0x1a4);
        int probeErrno = HostError.Last;
        if (probe >= 0)
        {
            Unistd.Close(probe);
            File.Delete($"/proc/self/fd/{rootFd}/.gofer-self-test");
        }
        Report("root writable", (probe >= 0) != readOnly, probe >= 0 ? "yes" : $"no ({ErrnoName(probeErrno)})");

        output.WriteLine(allGood ? "self-test: ok" : "self-test: FAILED");
        return allGood ? 0 : 1;
    }

    private static string? Field(string status, string name)
    {
        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal)) return line[(name.Length + 1)..].Trim();
        }
        return null;
    }

    private static string ErrnoName(int errno) => Enum.IsDefined(typeof(Errno), errno) ? ((Errno)errno).ToString() : $"errno {errno}";
}
