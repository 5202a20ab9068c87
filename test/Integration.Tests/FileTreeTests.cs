using System.Text.RegularExpressions;

namespace Sandbox.Integration.Tests;

/// <summary>The host's file tree as busybox applets see it through the Gofer and the overlay:
/// each applet runs natively and sandboxed, and the outputs are compared wherever Linux
/// would give the same answer. Writes inside the sandbox land in its tmpfs overlay and
/// never reach the host.</summary>
/// <remarks>The Gofer reads the host tree with the caller's privileges (root here, as the
/// native run), so nothing that the native run can list is hidden from the sandbox: listings
/// are compared exactly, not "modulo unreadable entries". Only what the sandbox itself
/// provides differs: its own /dev, /proc, /sys and /tmp mounts, the overlay's root
/// directory, and the stdio descriptors (host pipes).</remarks>
public partial class FileTreeTests
{
    /// <summary>Top-level names the sandbox mounts or creates itself.</summary>
    private static readonly HashSet<string> SandboxOwned = [".", "..", "dev", "proc", "sys", "tmp"];

    private static RunResult Native(params string[] args)
    {
        var result = Runner.Native(Repo.Busybox, args);
        Expect.ExitCode(result, 0, "native busybox " + string.Join(' ', args));
        return result;
    }

    private static RunResult Sandboxed(params string[] args)
    {
        var result = Runner.Sandboxed(Repo.Busybox, args);
        Expect.ExitCode(result, 0, "sandboxed busybox " + string.Join(' ', args));
        return result;
    }

    /// <summary>Runs the applet both ways and requires identical stdout.</summary>
    private static void SameAsNative(params string[] args)
    {
        var native = Native(args);
        var sandboxed = Sandboxed(args);
        Expect.SameStdout(native, sandboxed);
    }

    private static List<string> Sorted(string text)
    {
        var lines = Expect.Lines(text);
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    // ---- reading the host tree -------------------------------------------------------

    [Fact]
    public void LsLaRoot_ListsTheHostsEntries()
    {
        var native = Native("ls", "-la", "/");
        var sandboxed = Sandboxed("ls", "-la", "/");

        // Names in the same (sorted) order; for the host's own entries also type, mode,
        // owner, group and symlink target. Sizes, link counts and dates may differ for the
        // directories the sandbox mounts itself (/dev /proc /sys /tmp) and for the root.
        static List<string> Entries(string text, bool all) =>
            [.. Expect.Lines(text).Skip(1).Select(line => LsLine().Match(line)).Where(m => m.Success)
                .Select(m => all || SandboxOwned.Contains(m.Groups["name"].Value)
                    ? m.Groups["name"].Value
                    : $"{m.Groups["mode"].Value} {m.Groups["owner"].Value} {m.Groups["group"].Value} {m.Groups["name"].Value}")];
        Assert.True(Expect.Lines(native.Stdout).Count > 10, native.ToString());
        Assert.All(Expect.Lines(sandboxed.Stdout).Skip(1), line => Assert.Matches(LsLine(), line));
        Assert.Equal(Entries(native.Stdout, all: true), Entries(sandboxed.Stdout, all: true));
        Assert.Equal(Entries(native.Stdout, all: false), Entries(sandboxed.Stdout, all: false));
        Assert.StartsWith("total ", sandboxed.Stdout);
    }

    /// <summary>`ls -l` line: mode, links, owner, group, size (or major, minor), date, name.</summary>
    [GeneratedRegex(@"^(?<mode>[-dlcbps][-rwxsStT]{9}) +\d+ +(?<owner>\S+) +(?<group>\S+) +(\d+, +)?\d+ +\w{3} +\d+ +[\d:]+ (?<name>.+)$")]
    private static partial Regex LsLine();

    [Fact]
    public void LsREtc_IsIdenticalToNative() => SameAsNative("ls", "-R", "/etc");

    [Fact]
    public void CatOsRelease_IsIdenticalToNative()
    {
        var native = Native("cat", "/etc/os-release");
        var sandboxed = Sandboxed("cat", "/etc/os-release");
        Assert.Contains("ID=", native.Stdout);
        Assert.Equal(native.Stdout, sandboxed.Stdout);
    }

    [Fact]
    public void FindUsrShareTxt_FindsTheSameFiles()
    {
        // Directory order may differ between the host file system and the Gofer's readdir.
        var native = Native("find", "/usr/share", "-name", "*.txt");
        var sandboxed = Sandboxed("find", "/usr/share", "-name", "*.txt");
        Assert.NotEqual("", native.Stdout);
        Expect.SameLines(Sorted(native.Stdout), Sorted(sandboxed.Stdout), native, sandboxed);
        Assert.Equal("", sandboxed.Stderr);
    }

    [Fact]
    public void StatBusybox_ShowsTheHostsAttributes()
    {
        // Size, mode, type, links, owner, blocks, block size, mtime and ctime come from the host
        // inode; the device (%d) is the sandbox's own and atime (%X) moves with reads.
        // Not /etc itself: the sandbox writes its own /etc/hostname and /etc/hosts into the
        // overlay, which copies /etc up (new mtime, the upper directory's link count).
        string[] args = ["stat", "-c", "%n %s %a %F %h %u %g %U %G %b %B %Y %Z", "/bin/busybox", "/usr/bin/busybox", "/usr", "/usr/lib", "/etc/passwd"];
        var native = Native(args);
        Assert.StartsWith("/bin/busybox ", native.Stdout);
        Expect.SameStdout(native, Sandboxed(args));
        SameAsNative("stat", "-c", "%s %a %F", "/bin/busybox");
    }

    [Fact]
    public void DfRoot_PrintsAHeaderAndTheRoot()
    {
        var lines = Expect.Lines(Sandboxed("df", "/").Stdout);
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"^Filesystem +1K-blocks +Used +Available +Use% +Mounted on$", lines[0]);
        Assert.Matches(@"^\S+ +\d+ +\d+ +\d+ +\d+% +/$", lines[1]);
    }

    [Fact]
    public void DuUsrLib_CountsTheSameBlocks() => SameAsNative("du", "-s", "/usr/lib");

    [Fact]
    public void TarEtc_ArchivesTheSameMembers()
    {
        // tar tv shows each member's mode, owner, size, mtime and name (all from the host),
        // tar t the names alone. Sorted: directory order may differ. The sandbox provides its
        // own /etc/hostname and /etc/hosts (in the overlay, which also gives /etc itself a new
        // mtime): their tv lines are left out, their names are not.
        const string script = "tar cf \"$1/etc.tar\" /etc 2>/dev/null && tar tvf \"$1/etc.tar\" && tar tf \"$1/etc.tar\"";
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-tar-");
        RunResult native;
        try
        {
            native = Runner.Native(Repo.Busybox, ["sh", "-c", script, "sh", work.FullName]);
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", script, "sh", "/tmp"]);

        Expect.ExitCode(native, 0, "native tar");
        Expect.ExitCode(sandboxed, 0, "sandboxed tar");
        Assert.Contains("\netc/os-release\n", native.Stdout);
        static List<string> Comparable(string text) =>
            [.. Sorted(text).Where(l => !(l.Contains(' ') && (l.EndsWith(" etc/") || l.EndsWith(" etc/hostname") || l.EndsWith(" etc/hosts"))))];
        Expect.SameLines(Comparable(native.Stdout), Comparable(sandboxed.Stdout), native, sandboxed);
    }

    // ---- devices and /proc -------------------------------------------------------------

    [Fact]
    public void HeadUrandom_ThroughAPipeInTheSandbox_Gives16Bytes()
    {
        var result = Sandboxed("sh", "-c", "head -c 16 /dev/urandom | wc -c");
        Assert.Equal("16", result.Stdout.Trim());
    }

    [Fact]
    public void CatProcSelfStatus_AgreesWithNativeOnIdentityAndSignals()
    {
        var native = Native("cat", "/proc/self/status");
        var sandboxed = Sandboxed("cat", "/proc/self/status");

        static List<(string Key, string Value)> Fields(string text) =>
            [.. Expect.Lines(text).Select(l => l.Split(':', 2)).Select(p => (p[0], p.Length > 1 ? p[1].Trim() : ""))];
        var n = Fields(native.Stdout);
        var s = Fields(sandboxed.Stdout);
        // Every field the sandbox shows is one Linux shows, in Linux's order.
        var nativeKeys = n.Select(f => f.Key).ToList();
        Assert.All(s, f => Assert.Contains(f.Key, nativeKeys));
        var order = s.Select(f => nativeKeys.IndexOf(f.Key)).ToList();
        Assert.True(order.SequenceEqual(order.Order()), $"fields out of Linux's order:\n{sandboxed.Stdout}");
        // The same program, user, state, threads, signal mask and handlers. Not SigIgn: the
        // native run inherits the test host's ignored signals (.NET ignores SIGPIPE) across
        // exec, while the sandbox's first task starts with default dispositions, as gVisor's.
        foreach (string key in new[] { "Name", "Umask", "State", "Uid", "Gid", "Groups", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigCgt" })
        {
            Assert.True(s.Any(f => f.Key == key), $"sandboxed status lacks {key}:\n{sandboxed.Stdout}");
            Assert.Equal($"{key}: {n.Single(f => f.Key == key).Value}", $"{key}: {s.Single(f => f.Key == key).Value}");
        }
        Assert.Contains("\nPid:\t1\n", sandboxed.Stdout);
    }

    [Fact]
    public void LsLProcSelfFd_ListsTheSameDescriptors()
    {
        var native = Runner.Native(Repo.Busybox, ["ls", "-l", "/proc/self/fd"]);
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["ls", "-l", "/proc/self/fd"]);

        // Names and modes of stdio and of the directory's own descriptor (3) agree; the stdio
        // targets do not (native: pipe:[N], sandbox: the host descriptions it was given).
        // Descriptors the native run inherits beyond those (from whoever started the tests)
        // are not given to the sandbox. Linux lists fd 3, gone by the time ls reads its
        // link: both print the same complaint about it.
        static List<string> Entries(string text) =>
            [.. Expect.Lines(text).Skip(1).Select(l => LsLine().Match(l)).Where(m => m.Success)
                .Select(m => $"{m.Groups["mode"].Value} {m.Groups["name"].Value.Split(" -> ")[0]}")];
        string[] standard = ["0", "1", "2", "3"];
        Assert.Equal(native.ExitCode, sandboxed.ExitCode);
        Assert.Equal("total 0", Expect.Lines(sandboxed.Stdout)[0]);
        Assert.Equal([.. Entries(native.Stdout).Where(e => standard.Contains(e.Split(' ')[1]))], Entries(sandboxed.Stdout));
        Assert.Equal(["lr-x------ 0", "l-wx------ 1", "l-wx------ 2", "lr-x------ 3"], Entries(sandboxed.Stdout));
        Assert.Equal(native.Stderr, sandboxed.Stderr);
    }

    [Fact]
    public void CatProcSelfMaps_ShowsTheImageLikeNative()
    {
        var native = Native("cat", "/proc/self/maps");
        var sandboxed = Sandboxed("cat", "/proc/self/maps");

        // busybox is a static non-PIE executable: its segments sit at fixed addresses, so the
        // mappings below the heap (range, permissions, file offset, inode, file) are the same
        // as native: the root's lower layer shows the host's inode numbers. The device is the
        // sandbox's own (its overlay root; procfs.c checks it is the file's st_dev).
        static List<(string Layout, string Path)> Image(string text)
        {
            var lines = Expect.Lines(text).Select(l => MapsLine().Match(l)).ToList();
            Assert.All(lines, m => Assert.True(m.Success, m.Value));
            return [.. lines.TakeWhile(m => m.Groups["path"].Value != "[heap]")
                .Select(m => ($"{m.Groups["range"].Value} {m.Groups["perms"].Value} {m.Groups["offset"].Value} {m.Groups["ino"].Value}", m.Groups["path"].Value))];
        }
        var n = Image(native.Stdout);
        var s = Image(sandboxed.Stdout);
        Assert.True(n.Count >= 3, native.ToString());
        Expect.SameLines([.. n.Select(x => x.Layout)], [.. s.Select(x => x.Layout)], native, sandboxed);
        // The file is named as Linux names it: the path of the file opened (after symlinks).
        Expect.SameLines([.. n.Select(x => x.Path)], [.. s.Select(x => x.Path)], native, sandboxed);

        Assert.Contains(Expect.Lines(sandboxed.Stdout), l => l.EndsWith(" [heap]") && l.Contains(" rw-p "));
        Assert.Contains(Expect.Lines(sandboxed.Stdout), l => l.EndsWith(" [stack]") && l.Contains(" rw-p "));
    }

    [GeneratedRegex(@"^(?<range>[0-9a-f]+-[0-9a-f]+) (?<perms>[r-][w-][x-][ps]) (?<offset>[0-9a-f]{8}) [0-9a-f]{2}:[0-9a-f]{2} (?<ino>\d+) *(?<path>.*)$")]
    private static partial Regex MapsLine();

    // ---- changing the tree -------------------------------------------------------------

    /// <summary>mkdir -p, cp, cp -r, mv, ln -s (absolute-free, relative), readlink (-f),
    /// touch -d, chmod, rm -r in a working directory; the output holds no absolute paths or
    /// current times, so a native run in a temp directory prints the same.</summary>
    private const string ManipulationScript = """
        set -e
        mkdir -p "$1"
        cd "$1"
        mkdir -p a/b/c
        mkdir -p a/b/c
        echo hello > a/b/c/f
        cp a/b/c/f g
        cp -r a a2
        mv g h
        ln -s a/b/c/f lnk
        ln -s ../../h a/b/rel
        cat lnk h a/b/rel
        readlink lnk
        readlink -f lnk | sed "s|^$PWD/|./|"
        readlink -f a/b/rel | sed "s|^$PWD/|./|"
        readlink -f a/b/../b/c/../../b/c/f | sed "s|^$PWD/|./|"
        touch -d '2020-01-02 03:04:05' h
        stat -c '%n %s %a %F %Y' h
        stat -c '%n %s %a %F' a/b/c/f a2/b/c/f
        stat -c '%n %a %F' a a/b a/b/c a2
        stat -c '%n %s %F' lnk a/b/rel
        stat -L -c '%n %s %F' lnk a/b/rel
        chmod 600 h
        stat -c '%n %a' h
        ln h hard
        stat -c '%n %h' h hard
        ls -R .
        find . | sort
        test ! -e g && echo g is gone
        mv a2 a3
        rm -r a3
        rm hard lnk
        ls
        rmdir a/b/c 2>/dev/null || echo a/b/c is not empty
        rm a/b/c/f
        rmdir a/b/c && echo a/b/c removed
        ls -R .
        """;

    [Fact]
    public void FileManipulation_InTmp_LikeNative()
    {
        // TZ pins touch -d's interpretation (and stat's %Y) to UTC on both sides.
        var env = new Dictionary<string, string> { ["TZ"] = "UTC" };
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-filetree-");
        RunResult native;
        try
        {
            native = Runner.Native(Repo.Busybox, ["sh", "-c", ManipulationScript, "sh", Path.Combine(work.FullName, "w")], env);
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", ManipulationScript, "sh", "/tmp/work/w"], env);

        Expect.ExitCode(native, 0, "native script");
        Assert.Contains("h 6 644 regular file 1577934245\n", native.Stdout);
        Assert.Contains("./a/b/c/f\n", native.Stdout);
        Expect.SameStdout(native, sandboxed);
        Expect.ExitCode(sandboxed, 0, "sandboxed script");
        Assert.Equal("", sandboxed.Stderr);
    }

    [Fact]
    public void Chmod600_ThenAnotherUid_CannotRead()
    {
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-otheruid-");
        RunResult native;
        try
        {
            native = Runner.Native(Repo.Guest("fs_otheruid"), [work.FullName]);
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var sandboxed = Runner.Sandboxed(Repo.Guest("fs_otheruid"), ["/tmp"]);

        Expect.ExitCode(native, 0, "native fs_otheruid");
        Assert.EndsWith("fs_otheruid ok\n", native.Stdout);
        List<string> failed = [.. Expect.Lines(sandboxed.Stdout).Where(line => line.Contains(": FAILED"))];
        Assert.True(failed.Count == 0, $"{failed.Count} checks failed in the sandbox:\n  " +
            string.Join("\n  ", failed) + $"\n--- sandboxed stderr ---\n{sandboxed.Stderr}");
        Expect.SameStdout(native, sandboxed);
        Expect.ExitCode(sandboxed, 0, "sandboxed fs_otheruid");
    }

    [Fact]
    public void Chmod600_ThenSuNobody_CannotRead()
    {
        // The same with busybox alone: su (as root, no password) runs a shell as nobody. Its
        // shell is busybox under the name "sh", through a symlink.
        const string script = """
            cd "$1"
            echo secret > s
            chmod 600 s
            ln -s /bin/busybox sh
            cat s
            su -s "$PWD/sh" nobody -c 'id -u; id -g; cat s; echo "cat status $?"; echo more >> s; echo "append status $?"'
            echo "su status $?"
            cat s
            """;
        DirectoryInfo work = Directory.CreateTempSubdirectory("sandbox-su-");
        RunResult native;
        try
        {
            // nobody must be able to search the directory (CreateTempSubdirectory makes it 0700).
            File.SetUnixFileMode(work.FullName, (UnixFileMode)0x1ed);
            native = Runner.Native(Repo.Busybox, ["sh", "-c", script, "sh", work.FullName]);
        }
        finally
        {
            work.Delete(recursive: true);
        }
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", script, "sh", "/tmp"]);

        Expect.ExitCode(native, 0, "native su");
        Assert.Equal("secret\n65534\n65534\ncat status 1\nappend status 1\nsu status 0\nsecret\n", native.Stdout);
        Expect.SameStdout(native, sandboxed);
        Expect.ExitCode(sandboxed, 0, "sandboxed su");
        Assert.Contains("Permission denied", sandboxed.Stderr);
    }

    // ---- writes stay in the sandbox --------------------------------------------------

    [Fact]
    public void WriteToHostEtc_IsSeenInside_AndNeverReachesTheHost()
    {
        string name = $"/etc/sandbox-written-{Guid.NewGuid():N}";
        Assert.False(File.Exists(name));
        RunResult result;
        bool leaked;
        try
        {
            result = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", $"echo x > {name} && cat {name} && echo y >> {name} && cat {name} && ls {name}"]);
        }
        finally
        {
            leaked = File.Exists(name);
            if (leaked) File.Delete(name);
        }
        Assert.False(leaked, $"the guest's write created {name} on the host");
        Expect.ExitCode(result, 0, "sandboxed sh");
        Assert.Equal($"x\nx\ny\n{name}\n", result.Stdout);
    }

    [Fact]
    public void WriteToEtcWritten_IsSeenInside_AndNeverReachesTheHost()
    {
        // The issue's exact command: sh -c 'echo x > /etc/written'.
        Assert.False(File.Exists("/etc/written"), "/etc/written exists on the host before the test");
        RunResult result;
        bool leaked;
        try
        {
            result = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", "echo x > /etc/written; cat /etc/written"]);
        }
        finally
        {
            leaked = File.Exists("/etc/written");
            if (leaked) File.Delete("/etc/written");
        }
        Assert.False(leaked, "the guest's write created /etc/written on the host");
        Expect.ExitCode(result, 0, "sandboxed sh");
        Assert.Equal("x\n", result.Stdout);
    }

    [Fact]
    public void DeleteAndChangeHostFiles_Inside_LeaveTheHostAlone()
    {
        // /etc/hostname as the issue asks (the sandbox may provide its own in the overlay: rm
        // must remove that too), and /etc/issue, a plain host file.
        const string victim = "/etc/hostname";
        string before = File.ReadAllText(victim);
        string issue = File.ReadAllText("/etc/issue");
        string osRelease = File.ReadAllText("/etc/os-release");
        var result = Runner.Sandboxed(Repo.Busybox, ["sh", "-c",
            $"rm {victim} && test ! -e {victim} && echo removed; cat {victim} 2>/dev/null || echo unreadable; " +
            $"ls /etc | grep -cx hostname; " +
            "rm /etc/issue && test ! -e /etc/issue && echo issue removed; ls /etc | grep -cx issue; " +
            "echo extra >> /etc/os-release && tail -n 1 /etc/os-release; " +
            "mv /etc/group /etc/group.moved && test -e /etc/group.moved && test ! -e /etc/group && echo moved; " +
            "chmod 600 /etc/passwd && stat -c %a /etc/passwd; " +
            "mkdir /usr/sandbox-newdir && rmdir /usr/sandbox-newdir && echo dir"]);

        Assert.True(File.Exists(victim), $"the guest's rm removed the host's {victim}");
        Assert.Equal(before, File.ReadAllText(victim));
        Assert.Equal(issue, File.ReadAllText("/etc/issue"));
        Assert.Equal(osRelease, File.ReadAllText("/etc/os-release"));
        Assert.True(File.Exists("/etc/group") && !File.Exists("/etc/group.moved"), "the guest's mv reached the host");
        Assert.Equal("644", Convert.ToString((int)File.GetUnixFileMode("/etc/passwd") & 0x1ff, 8));
        Expect.ExitCode(result, 0, "sandboxed sh");
        Assert.Equal("removed\nunreadable\n0\nissue removed\n0\nextra\nmoved\n600\ndir\n", result.Stdout);
    }
}
