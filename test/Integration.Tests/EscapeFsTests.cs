namespace Sandbox.Integration.Tests;

/// <summary>The sandbox's root (`runsc do --root DIR`) is a boundary: ".." chains, hostile
/// symlinks, /proc/self/root, /proc/&lt;host pid&gt;, bind mounts, forged file handles, the
/// chroot climb and leftover descriptors all stay inside DIR. The escape_fs fixture makes the
/// attempts; a sentinel file beside DIR on the host must never be read.</summary>
public sealed class EscapeFsTests : IDisposable
{
    /// <summary>Host layout: Base/sentinel (the secret) and Base/root (= DIR).</summary>
    private readonly DirectoryInfo _base = Directory.CreateTempSubdirectory("sandbox-escapefs-");
    private readonly string _secret = $"host-sentinel-{Guid.NewGuid():N}";

    private string Dir => Path.Combine(_base.FullName, "root");
    private string Sentinel => Path.Combine(_base.FullName, "sentinel");

    public EscapeFsTests()
    {
        File.WriteAllText(Sentinel, _secret + "\n");
        Directory.CreateDirectory(Dir);
        foreach (string d in new[] { "bin", "tmp", "dev", "proc", "sys", "d1/d2/d3/d4/d5" })
            Directory.CreateDirectory(Path.Combine(Dir, d));
        File.Copy(Repo.Busybox, Path.Combine(Dir, "bin", "busybox"));
        File.Copy(Repo.Guest("escape_fs"), Path.Combine(Dir, "escape_fs"));
        File.SetUnixFileMode(Path.Combine(Dir, "escape_fs"), (UnixFileMode)0x1ed);
        File.WriteAllText(Path.Combine(Dir, "sandbox-root-marker"), "inside\n");

        void Link(string name, string target) => File.CreateSymbolicLink(Path.Combine(Dir, name), target);
        Link("evil", "/../../../etc/shadow");
        Link("abs-sentinel", Sentinel);                 // the host path: means nothing inside
        Link("abs-parent", _base.FullName);
        Link("rel-sentinel", "../sentinel");            // ".." of the root is the root
        Link("rel-parent", "..");
        Link("abs-root-dotdot", "/..");
        Link("loop", "loop");
        Link("procroot-up", "/proc/self/root/../../..");
        Link("d1/d2/d3/up", "../../../../../../../..");
        Link("d1/d2/d3/up-sentinel", "../../../../../../../../sentinel");
    }

    public void Dispose() => _base.Delete(recursive: true);

    /// <summary>Runs `runsc do --root DIR ARGS`; with <paramref name="appendRunscPid"/> the
    /// host pid of runsc itself is the last argument (a shell's $$, then exec'd into runsc).</summary>
    private RunResult RunInDir(string[] args, bool appendRunscPid = false)
    {
        string[] runsc = [.. Repo.RunscCommand, "do", "--root", Dir, .. args];
        return appendRunscPid
            ? Runner.Run("/bin/sh", ["-c", "exec \"$@\" $$", "sh", .. runsc])
            : Runner.Run(runsc[0], runsc[1..]);
    }

    private void AssertSecretNeverSeen(RunResult result)
    {
        Assert.DoesNotContain(_secret, result.Stdout);
        Assert.DoesNotContain(_secret, result.Stderr);
        Assert.Equal(_secret + "\n", File.ReadAllText(Sentinel));
    }

    [Fact]
    public void EscapeFs_StaysInsideTheRoot()
    {
        // argv: SENTINEL HOSTDIR PID... (the test's pid, then runsc's own).
        var result = RunInDir(["/escape_fs", Sentinel, Dir, Environment.ProcessId.ToString()], appendRunscPid: true);

        AssertSecretNeverSeen(result);
        List<string> failed = [.. Expect.Lines(result.Stdout).Where(line => line.Contains(": FAILED"))];
        Assert.True(failed.Count == 0, $"{failed.Count} escape checks failed:\n  " + string.Join("\n  ", failed) +
            $"\n\n{result}");
        Expect.ExitCode(result, 0, "sandboxed escape_fs");
        Assert.EndsWith("escape_fs ok\n", result.Stdout);
        // It really tried the host pids (both of them) and the hostile links.
        Assert.Contains("check /proc/<host pid of runsc>: ok\n", result.Stdout);
        Assert.Contains("check /proc/<host pid of the test>/root/..: ok\n", result.Stdout);
        Assert.Contains("check /evil is the hostile symlink: ok\n", result.Stdout);
        // The guest's mkdir, mount and chroot work happened in the overlay, not in DIR.
        Assert.False(Directory.Exists(Path.Combine(Dir, "jail")), "the guest's mkdir /jail reached the host's DIR");
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(Dir, "tmp")));
    }

    [Fact]
    public void Busybox_SeesOnlyDir_AndNeverTheSentinel()
    {
        var result = RunInDir(["/bin/busybox", "sh", "-c", """
            ls -a /
            echo ---
            cd /d1/d2/d3/d4/d5/../../../../../../../../..; pwd; ls
            echo ---
            for f in /evil /abs-sentinel /rel-sentinel /abs-parent/sentinel /d1/d2/d3/up-sentinel \
                     /../sentinel /proc/self/root/../sentinel /proc/1/cwd/../../sentinel "$1"; do
                cat "$f" 2>/dev/null && echo "READ $f" || echo "no $f"
            done
            echo ---
            readlink -f /d1/d2/d3/up
            readlink -f /rel-sentinel
            readlink /proc/self/root
            cat /sandbox-root-marker
            """, "sh", Sentinel]);

        AssertSecretNeverSeen(result);
        Expect.ExitCode(result, 0, "sandboxed sh");
        string[] parts = result.Stdout.Split("---\n");
        Assert.Equal(4, parts.Length);

        // ls -a / shows DIR's entries: exactly those the test made (the sandbox mounts on
        // the tmp, dev, proc and sys directories that DIR already has).
        List<string> expected = [".", "..", .. Directory.GetFileSystemEntries(Dir).Select(p => Path.GetFileName(p))];
        expected.Sort(StringComparer.Ordinal);
        Assert.Equal(expected, Expect.Lines(parts[0]));
        Assert.Equal(["/", .. expected.Skip(2)], Expect.Lines(parts[1]));
        Assert.All(Expect.Lines(parts[2]), line => Assert.StartsWith("no ", line));
        Assert.Equal(9, Expect.Lines(parts[2]).Count);
        // busybox's readlink -f joins "/" and a missing last component as "//sentinel"; it
        // prints the same natively in a chroot to DIR.
        Assert.Equal("/\n//sentinel\n/\ninside\n", parts[3]);
    }
}
