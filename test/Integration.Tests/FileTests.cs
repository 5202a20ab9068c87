namespace Sandbox.Integration.Tests;

/// <summary>The VFS: the files fixture (Linux file-system semantics, one line per check) must
/// print exactly what it prints natively, and busybox's file applets work on the sandbox's
/// tmpfs tree.</summary>
public class FileTests
{
    [Fact]
    public void Files_PassesItsChecks_LikeNative()
    {
        // Natively the fixture works below a fresh directory of its own; in the sandbox below
        // /tmp. Either way it creates (and removes) a files-XXXXXX subdirectory there.
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-files-");
        RunResult native;
        try
        {
            native = Runner.Native(Repo.Guest("files"), [work.FullName]);
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var sandboxed = Runner.Sandboxed(Repo.Guest("files"), ["/tmp"]);

        Expect.ExitCode(native, 0, "native files");
        Assert.EndsWith("files ok\n", native.Stdout);
        // Every failed check at once (SameStdout names only the first difference).
        List<string> failed = [.. Expect.Lines(sandboxed.Stdout).Where(line => line.Contains(": FAILED"))];
        Assert.True(failed.Count == 0, $"{failed.Count} checks failed in the sandbox:\n  " +
            string.Join("\n  ", failed) + $"\n--- sandboxed stderr ---\n{sandboxed.Stderr}");
        Expect.SameStdout(native, sandboxed);
        Expect.ExitCode(sandboxed, 0, "sandboxed files");
    }

    [Fact]
    public void Busybox_MkdirP_CreatesNestedDirectories()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["mkdir", "-p", "/tmp/a/b/c"]);

        Expect.ExitCode(result, 0, "busybox mkdir -p");
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public void Busybox_LsLaRoot_ListsTmp()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["ls", "-la", "/"]);

        Expect.ExitCode(result, 0, "busybox ls -la /");
        Assert.Contains(Expect.Lines(result.Stdout), line => line.EndsWith(" tmp", StringComparison.Ordinal)
            && line.StartsWith('d'));
    }

    [Fact]
    public void Busybox_StatTmp_ShowsStickyWorldWritableDirectory()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["stat", "/tmp"]);

        Expect.ExitCode(result, 0, "busybox stat /tmp");
        Assert.Contains("drwxrwxrwt", result.Stdout);
        Assert.Contains("directory", result.Stdout);
    }

    [Fact]
    public void Busybox_FindTmp_PrintsTmp()
    {
        // The host's /tmp shows through (copy-on-write) and other processes change it while we
        // walk, so walk a tree of our own under it.
        var result = Runner.Sandboxed(Repo.Busybox,
            ["sh", "-c", "d=/tmp/find.$$; mkdir -p $d/a/b; touch $d/a/f; find $d | sed \"s|$d|D|\" | sort"]);

        Expect.ExitCode(result, 0, "busybox find");
        Assert.Equal(["D", "D/a", "D/a/b", "D/a/f"], Expect.Lines(result.Stdout));
    }

    [Fact]
    public void Busybox_Touch_CreatesAFile()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["touch", "/tmp/x"]);

        Expect.ExitCode(result, 0, "busybox touch /tmp/x");
        Assert.Equal("", result.Stderr);
    }
}
