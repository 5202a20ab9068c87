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
    [InlineData("tasks")]   // mutexes/condvars, 200 fork+exec, faults, FP state, restarts, epoll ET, SIGCHLD
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
}
