using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>`runsc gofer` through out/runsc: the seccomp dump, the confinement probed from
/// inside (--self-test-seccomp), and one-line errors.</summary>
public sealed class GoferCliTests : IDisposable
{
    private readonly string _root = GoferProcess.TempDir();

    public GoferCliTests() => File.WriteAllText(Path.Combine(_root, "marker.txt"), "inside\n");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>`runsc gofer ARGS`, confining itself by re-executing, or (launcher) through the
    /// generated launcher program, as `runsc do` starts its gofer.</summary>
    private static RunResult Gofer(bool launcher, params string[] args) =>
        GoferProcess.Run(["gofer", .. args, .. launcher ? new[] { "--launcher" } : []]);

    [Fact]
    public void PrintSeccompDumpsTheProgramAndExitsZero()
    {
        RunResult r = GoferProcess.Run("gofer", "--print-seccomp");
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0000: A = arch", lines[0]);
        Assert.Equal("0001: if (A != 0xc000003e) goto 0004", lines[1]);
        Assert.Contains(lines, l => l.Contains("if (A != openat) goto", StringComparison.Ordinal));
        Assert.EndsWith("return ERRNO(EPERM)", lines[^1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SelfTestFindsTheFilterInForceOnEveryThread(bool launcher)
    {
        RunResult r = Gofer(launcher, "--root", _root, "--self-test-seccomp");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("unshare(CLONE_NEWUSER): EPERM", r.Stdout);
        Assert.Contains("ptrace(PTRACE_TRACEME): EPERM", r.Stdout);
        Assert.Contains("execve(NULL): EPERM", r.Stdout);
        Assert.Contains("socket(AF_INET, SOCK_STREAM): EPERM", r.Stdout);
        Assert.Contains("clone(SIGCHLD) (fork): EPERM", r.Stdout);
        Assert.Contains("clone3(SIGCHLD) (fork): ENOSYS", r.Stdout);
        Assert.Contains("seccomp mode: 2", r.Stdout);
        Assert.Contains("effective capabilities: 000000000000001f", r.Stdout);
        Assert.Matches(@"every thread filtered: (\d+) of \1", r.Stdout);
        Assert.Contains("self-test: ok", r.Stdout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ConfinedGoferSeesItsRootButNotTheHost(bool launcher)
    {
        Assert.True(File.Exists("/etc/passwd"), "this test needs a host /etc/passwd");
        RunResult r = Gofer(launcher, "--root", _root, "--self-test-seccomp");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("host /etc/passwd visible: no", r.Stdout);
        Assert.Contains("root entries: marker.txt", r.Stdout);
        Assert.Contains("root writable: yes", r.Stdout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void InheritedDescriptorsDoNotSurviveIntoTheConfinement(bool launcher)
    {
        // A directory fd of the host's "/" without close-on-exec: the child inherits it, and
        // openat(fd, "etc/passwd") would walk around the pivot_root if it survived.
        int hostRoot = Namespaces.Openat(-100, "/", Sandbox.Abi.OpenFlags.O_RDONLY | Sandbox.Abi.OpenFlags.O_DIRECTORY, 0);
        Assert.True(hostRoot >= 0);
        try
        {
            RunResult r = Gofer(launcher, "--root", _root, "--self-test-seccomp");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("inherited directories: none", r.Stdout);
        }
        finally
        {
            Unistd.Close(hostRoot);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadOnlyRootIsMountedReadOnly(bool launcher)
    {
        RunResult r = Gofer(launcher, "--root", _root, "--read-only", "--self-test-seccomp");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("root writable: no (EROFS)", r.Stdout);
        Assert.False(File.Exists(Path.Combine(_root, ".gofer-self-test")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BindMountsAppearInsideTheRoot(bool launcher)
    {
        string source = GoferProcess.TempDir();
        try
        {
            File.WriteAllText(Path.Combine(source, "bound.txt"), "bound\n");
            Directory.CreateDirectory(Path.Combine(_root, "mnt"));
            RunResult r = Gofer(launcher, "--root", _root, "--bind", $"{source}:/mnt:ro", "--self-test-seccomp");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("root entries: marker.txt mnt", r.Stdout);
            // The bind lives only in the gofer's private mount namespace.
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_root, "mnt")));
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MissingBindDestinationsAreCreatedInAWritableRoot(bool launcher)
    {
        string source = GoferProcess.TempDir();
        string file = Path.Combine(source, "file.txt");
        try
        {
            File.WriteAllText(file, "a file\n");
            RunResult r = Gofer(launcher, "--root", _root, "--bind", $"{source}:/a/b/dir", "--bind", $"{file}:/a/c/file.txt:ro",
                "--self-test-seccomp");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("root entries: a marker.txt", r.Stdout);
            Assert.True(Directory.Exists(Path.Combine(_root, "a", "b", "dir")));
            Assert.True(File.Exists(Path.Combine(_root, "a", "c", "file.txt")));
            Assert.Equal(0, new FileInfo(Path.Combine(_root, "a", "c", "file.txt")).Length); // the mount point, not the file
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BindDestinationSymlinksResolveInsideTheRoot(bool launcher)
    {
        // /link -> /etc resolves to the root's own etc, never the host's.
        string source = GoferProcess.TempDir();
        try
        {
            Directory.CreateDirectory(Path.Combine(_root, "etc"));
            File.CreateSymbolicLink(Path.Combine(_root, "link"), "/etc");
            string hostPath = $"/etc/gofer-test-{Guid.NewGuid():N}";
            string name = Path.GetFileName(hostPath);
            RunResult r = Gofer(launcher, "--root", _root, "--bind", $"{source}:/link/{name}", "--self-test-seccomp");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(Directory.Exists(Path.Combine(_root, "etc", name)));
            Assert.False(Directory.Exists(hostPath));
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MissingBindDestinationInAReadOnlyRootIsAOneLineError(bool launcher)
    {
        string source = GoferProcess.TempDir();
        try
        {
            RunResult r = Gofer(launcher, "--root", _root, "--read-only", "--bind", $"{source}:/missing", "--self-test-seccomp");
            Assert.Equal(1, r.ExitCode);
            Assert.Equal("runsc gofer: bind mount destination /missing in the root: No such file or directory\n", r.Stderr);
            Assert.False(Directory.Exists(Path.Combine(_root, "missing")));
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }

    [Fact]
    public void AForgedConfinedMarkerIsRefused()
    {
        // The re-executed gofer checks that it really is confined before serving anything.
        var env = new Dictionary<string, string> { [GoferSandbox.ConfinedVariable] = "1" };
        RunResult r = GoferProcess.RunWithEnvironment(env, "gofer", "--root", _root, "--self-test-seccomp");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith($"runsc gofer: {GoferSandbox.ConfinedVariable} is set but the process is not confined", r.Stderr);
        Assert.DoesNotContain("self-test", r.Stdout);
    }

    [Fact]
    public void MissingRootIsAOneLineError()
    {
        RunResult r = GoferProcess.Run("gofer", "--fd", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("runsc gofer: --root DIR is required\n", r.Stderr);
    }

    [Fact]
    public void NonexistentRootIsAOneLineError()
    {
        RunResult r = GoferProcess.Run("gofer", "--root", "/nonexistent/gofer-root", "--fd", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("runsc gofer: root directory /nonexistent/gofer-root:", r.Stderr);
    }

    [Fact]
    public void ClosedFdIsAOneLineError()
    {
        RunResult r = GoferProcess.Run("gofer", "--root", _root, "--fd", "987");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("runsc gofer: --fd 987: not an open file descriptor\n", r.Stderr);
    }

    [Fact]
    public void MalformedBindIsAOneLineError()
    {
        RunResult r = GoferProcess.Run("gofer", "--root", _root, "--fd", "0", "--bind", "nocolon");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("runsc gofer: --bind 'nocolon'", r.Stderr);
    }
}
