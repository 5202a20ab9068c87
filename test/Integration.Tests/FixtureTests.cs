namespace Sandbox.Integration.Tests;

/// <summary>Self-checking fixtures: each prints one line per check and "NAME ok" last, and
/// must print exactly the same in the sandbox as natively.</summary>
public class FixtureTests
{
    [Theory]
    [InlineData("enosys")]  // unknown syscall numbers give ENOSYS
    [InlineData("heap")]    // brk/sbrk growth and a 100 MiB malloc
    [InlineData("mmap")]    // mmap/munmap/mprotect/mremap/madvise, EFAULT on bad pointers
    [InlineData("tls")]     // static TLS of the main thread, arch_prctl
    [InlineData("misc")]    // uname, clocks, nanosleep, getrandom, rlimits, dup/fcntl, ENOTTY
    [InlineData("signals")] // handlers, masks, SA_SIGINFO, SIGSEGV recovery, sigaltstack
    [InlineData("threads")] // pthreads: clone, futex, per-thread TLS
    [InlineData("fork")]    // fork, wait, MAP_SHARED after fork, pipes, execve
    [InlineData("locks")]   // OFD/POSIX/flock locks, O_EXCL race, shared file mappings across processes
    [InlineData("inotify")] // inotify events for changes made inside the sandbox
    [InlineData("filemap")] // private mappings of a lower-layer file: shared pages, private writes, fork
    [InlineData("tmpfswrite")] // writes in page runs: writev, holes, short writes at unmapped pages, self-mapped source
    [InlineData("files2")]  // linkat of O_TMPFILE files, tmpfs space reclaim, preadv2/pwritev2 flags, memfd seals
    [InlineData("files3")]  // xattrs on tmpfs, sendfile/copy_file_range/splice/tee, FIO* ioctls, fadvise/readahead, *at calls, F_OFD_SETLKW, RESOLVE_NO_XDEV (root natively)
    [InlineData("tasks")]   // mutexes/condvars, 200 fork+exec, faults, FP state, restarts, epoll ET, SIGCHLD
    [InlineData("fifo")]    // FIFO opens pair up (or ENXIO/EINTR) in /tmp and /dev/shm; affinity and ioprio of other pids; CLONE_PIDFD
    [InlineData("exitthreads")] // 49 processes end (exit_group from any thread, exit(), signals, execve) with threads blocked every way
    [InlineData("execthread")] // execve/execveat from a non-main thread (also of a vfork child): it takes the pid as its tid, one thread left, the parent waits as before
    [InlineData("signals2")] // temporary sigmasks, time left, delivery order, PDEATHSIG, no core flag, robust pending, alarm, AVX
    [InlineData("stack")]   // stack growth to RLIMIT_STACK, MAP_GROWSDOWN, PROT_GROWSDOWN, AT_MINSIGSTKSZ
    [InlineData("execstack")] // PT_GNU_STACK with PF_X: nested-function trampolines on the stack
    [InlineData("madvfork")]  // MADV_DONTFORK / MADV_WIPEONFORK and their undoing, across fork
    [InlineData("mremapdup")] // mremap across mappings (EFAULT), old size 0 duplicates shared mappings
    [InlineData("sigbus")]  // shared file mappings past EOF: SIGBUS, after ftruncate too, in a child too
    [InlineData("privmap")] // private mappings of a tmpfs file: the file's pages until written (copy-on-write)
    [InlineData("cowfork")] // fork shares private memory copy-on-write: writes, read() into shared pages, threads, munmap/mprotect/mremap after fork
    [InlineData("rusage")]  // CPU/RSS accounting of self, threads, reaped children; CPU clocks; RLIMIT_NPROC/CPU (root natively)
    [InlineData("unix")]    // AF_UNIX: pairs, named/abstract listeners, SCM_RIGHTS/CREDENTIALS, EPIPE, poll, options
    public void Fixture_PassesItsChecks_LikeNative(string name)
    {
        var native = Runner.Native(Repo.Guest(name));
        var sandboxed = Runner.Sandboxed(Repo.Guest(name));

        Expect.ExitCode(native, 0, $"native {name}");
        Expect.ExitCode(sandboxed, 0, $"sandboxed {name}");
        Expect.SameStdout(native, sandboxed);
        Assert.EndsWith($"{name} ok\n", sandboxed.Stdout);
    }

    /// <summary>Copy-on-write fork gives memory back: 24 children of a process with a 64 MiB
    /// written heap each write all of it and exit, and the sandbox's free memory (sysinfo, from
    /// its own page accounting) ends where it began. Sandboxed only: natively the host's free
    /// memory moves with everything else running.</summary>
    [Fact]
    public void CowFork_ManyForksOfABigHeap_GiveTheirMemoryBack()
    {
        var sandboxed = Runner.Sandboxed(Repo.Guest("cowfork"), ["release"]);
        Expect.ExitCode(sandboxed, 0, "sandboxed cowfork release");
        Assert.EndsWith("cowfork ok\n", sandboxed.Stdout);
    }

    /// <summary>clone/clone3/unshare(CLONE_NEWNS) keep a child's mounts from its parent, umount2
    /// refuses busy mounts (EBUSY) unless MNT_DETACH. Natively it needs root, as the identity
    /// fixture does; it mounts only inside a private mount namespace of its own, under a
    /// temporary directory it removes, so the host is never affected.</summary>
    [Fact]
    public void MountNamespaceFixture_BehavesAsOnLinux()
    {
        var native = Runner.Native(Repo.Guest("mntns"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("mntns"));

        Expect.ExitCode(native, 0, "native mntns (the fixture needs root)");
        Expect.ExitCode(sandboxed, 0, "sandboxed mntns");
        Expect.SameStdout(native, sandboxed);
        Assert.EndsWith("mntns ok\n", sandboxed.Stdout);
    }

    /// <summary>/proc/PID/ns links and setns(2): moving between mount namespaces and Linux's
    /// errors (EBADF, EINVAL, EPERM, EUSERS). Natively it needs root and mounts only inside a
    /// private mount namespace of its own, under a temporary directory it removes.</summary>
    [Fact]
    public void SetnsFixture_BehavesAsOnLinux()
    {
        var native = Runner.Native(Repo.Guest("setns"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("setns"));

        Expect.ExitCode(native, 0, "native setns (the fixture needs root)");
        Expect.ExitCode(sandboxed, 0, "sandboxed setns");
        Expect.SameStdout(native, sandboxed);
        Assert.EndsWith("setns ok\n", sandboxed.Stdout);
    }

    [Fact]
    public void Fifo_OnAHostFifo_PassesItsChecks_LikeNative()
    {
        // A FIFO made on the host reaches the sandbox through the Gofer (its lower layer); there
        // it must be a FIFO of the sandbox's own that the fixture's processes share.
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-fifo-");
        try
        {
            string fifo = Path.Combine(work.FullName, "lower");
            Expect.ExitCode(Runner.Native(Repo.Busybox, ["mkfifo", fifo]), 0, "mkfifo on the host");
            var native = Runner.Native(Repo.Guest("fifo"), [fifo]);
            var sandboxed = Runner.Sandboxed(Repo.Guest("fifo"), [fifo]);

            Expect.ExitCode(native, 0, "native fifo");
            Assert.Contains("check existing FIFO: stat says FIFO: ok\n", native.Stdout);
            Expect.ExitCode(sandboxed, 0, "sandboxed fifo");
            Expect.SameStdout(native, sandboxed);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
