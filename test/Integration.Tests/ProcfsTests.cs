using System.Text.RegularExpressions;

namespace Sandbox.Integration.Tests;

/// <summary>/proc, /dev and /sys as programs see them inside the sandbox: the procfs fixture
/// (compared with its native run) and busybox applets reading the files.</summary>
public partial class ProcfsTests
{
    [Fact]
    public void Fixture_PassesItsChecks_LikeNative()
    {
        var native = Runner.Native(Repo.Guest("procfs"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("procfs"), ["init"]);

        Expect.ExitCode(native, 0, "native procfs");
        Expect.ExitCode(sandboxed, 0, "sandboxed procfs");
        // With "init" the fixture first checks that it is pid 1; the rest must match.
        var lines = Expect.Lines(sandboxed.Stdout);
        Assert.True(lines.Count > 1 && lines[0] == "check getpid is 1: ok", sandboxed.ToString());
        Expect.SameLines(Expect.Lines(native.Stdout), lines[1..], native, sandboxed);
        Assert.EndsWith("procfs ok\n", sandboxed.Stdout);
    }

    private static RunResult Busybox(params string[] args)
    {
        var result = Runner.Sandboxed(Repo.Busybox, args);
        Expect.ExitCode(result, 0, "busybox " + string.Join(' ', args));
        return result;
    }

    [Fact]
    public void CatSelfStatus_ShowsTheInitTask()
    {
        var result = Busybox("cat", "/proc/self/status");
        Assert.StartsWith("Name:\tbusybox\n", result.Stdout);
        Assert.Contains("\nState:\tR (running)\n", result.Stdout);
        Assert.Contains("\nTgid:\t1\n", result.Stdout);
        Assert.Contains("\nPid:\t1\n", result.Stdout);
        Assert.Contains("\nPPid:\t0\n", result.Stdout);
        Assert.Matches(@"\nVmSize:\t +\d+ kB\n", result.Stdout);
    }

    [Fact]
    public void LsSelfFd_ListsTheStdioLinks()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["ls", "-l", "/proc/self/fd"]);
        var lines = Expect.Lines(result.Stdout);
        Assert.True(lines.Count >= 4, result.ToString());
        Assert.Equal("total 0", lines[0]);
        // stdin is read-only, stdout and stderr write-only (pipes from the test runner).
        Assert.Matches(@"^lr-x------ +1 +\S+ +\S+ +64 .* 0 -> \S+$", lines[1]);
        Assert.Matches(@"^l-wx------ +1 +\S+ +\S+ +64 .* 1 -> \S+$", lines[2]);
        Assert.Matches(@"^l-wx------ +1 +\S+ +\S+ +64 .* 2 -> \S+$", lines[3]);
    }

    [Fact]
    public void CatSelfMaps_HasTheImageHeapAndStack()
    {
        var result = Busybox("cat", "/proc/self/maps");
        var lines = Expect.Lines(result.Stdout);
        foreach (string line in lines)
        {
            Assert.Matches(MapsLine(), line);
            if (line.Length > 73) Assert.Equal(' ', line[72]); // names start in column 73
        }
        Assert.Contains(lines, l => l.EndsWith(" [stack]") && l.Contains(" rw-p "));
        // The image is named by its resolved path (on Debian /bin -> usr/bin), as natively.
        string image = new FileInfo(Repo.Busybox).Directory!.ResolveLinkTarget(true) is { } dir
            ? Path.Combine(dir.FullName, "busybox") : Repo.Busybox;
        Assert.Contains(lines, l => l.EndsWith(" " + image) && l.Contains(" r-xp "));
    }

    [GeneratedRegex(@"^[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-][ps] [0-9a-f]{8} [0-9a-f]{2}:[0-9a-f]{2} \d+ ( +\S.*)?$")]
    private static partial Regex MapsLine();

    [Fact]
    public void HeadUrandom_Gives16Bytes()
    {
        string runsc = string.Join(' ', Repo.RunscCommand);
        var result = Runner.Run("/bin/sh", ["-c", $"{runsc} do {Repo.Busybox} head -c 16 /dev/urandom | wc -c"]);
        Expect.ExitCode(result, 0, "sh");
        Assert.Equal("16", result.Stdout.Trim());

        var od = Busybox("od", "-An", "-tx1", "-N16", "/dev/urandom");
        var bytes = od.Stdout.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(16, bytes.Length);
        Assert.Contains(bytes, b => b != "00");
    }

    [Fact]
    public void LsDev_HasTheStandardNodes()
    {
        var names = Expect.Lines(Busybox("ls", "/dev").Stdout);
        foreach (string name in new[] { "console", "fd", "full", "null", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero" })
            Assert.Contains(name, names);

        var long_ = Expect.Lines(Busybox("ls", "-l", "/dev/null", "/dev/zero", "/dev/full", "/dev/urandom").Stdout);
        Assert.Matches(@"^crw-rw-rw- +1 +(0|root) +(0|root) +1, +7 .* /dev/full$", long_[0]);
        Assert.Matches(@"^crw-rw-rw- +1 +(0|root) +(0|root) +1, +3 .* /dev/null$", long_[1]);
        Assert.Matches(@"^crw-rw-rw- +1 +(0|root) +(0|root) +1, +9 .* /dev/urandom$", long_[2]);
        Assert.Matches(@"^crw-rw-rw- +1 +(0|root) +(0|root) +1, +5 .* /dev/zero$", long_[3]);
    }

    [Fact]
    public void DevTty_WithoutATerminal_IsENXIO()
    {
        var result = Runner.Sandboxed(Repo.Busybox, ["cat", "/dev/tty"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("No such device or address", result.Stderr);
    }

    [Fact]
    public void DevTty_OnATerminal_IsThatTerminal()
    {
        // `script` gives runsc a pseudo-terminal of a known size; /dev/tty must reach it.
        string runsc = string.Join(' ', Repo.RunscCommand);
        var result = Runner.Run("script", ["-qec", $"stty cols 77 rows 33; {runsc} do {Repo.Busybox} stty -F /dev/tty size", "/dev/null"]);
        Expect.ExitCode(result, 0, "script");
        Assert.Equal("33 77", result.Stdout.Trim());
    }

    [Fact]
    public void CatProcMounts_ListsTheSandboxMounts()
    {
        var lines = Expect.Lines(Busybox("cat", "/proc/mounts").Stdout);
        Assert.Contains(lines, l => l.StartsWith("proc /proc proc rw"));
        Assert.Contains(lines, l => l.StartsWith("sysfs /sys sysfs ro"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\S+ /dev tmpfs rw"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\S+ /dev/shm tmpfs rw"));
        Assert.All(lines, l => Assert.Matches(@"^\S+ /\S* \S+ r[ow]\S* 0 0$", l));
    }

    [Fact]
    public void CatCpuinfo_IsTheHosts()
    {
        var sandboxed = Busybox("cat", "/proc/cpuinfo");
        static List<string> Stable(string text) =>
            [.. Expect.Lines(text).Where(l => l.StartsWith("processor") || l.StartsWith("model name") || l.StartsWith("flags"))];
        var host = Stable(File.ReadAllText("/proc/cpuinfo"));
        Assert.NotEmpty(host);
        Assert.Equal(host, Stable(sandboxed.Stdout));
    }

    [Fact]
    public void CatCpuOnline_MatchesTheHost()
    {
        var sandboxed = Busybox("cat", "/sys/devices/system/cpu/online");
        Assert.Equal(File.ReadAllText("/sys/devices/system/cpu/online"), sandboxed.Stdout);
    }

    [Fact]
    public void LsProc_ListsInitAndTheSystemFiles()
    {
        var names = Expect.Lines(Busybox("ls", "/proc").Stdout);
        foreach (string name in new[] { "1", "self", "thread-self", "meminfo", "cpuinfo", "stat", "uptime", "mounts", "sys" })
            Assert.Contains(name, names);
        var self = Expect.Lines(Busybox("ls", "/proc/self/").Stdout);
        foreach (string name in new[] { "cmdline", "comm", "cwd", "environ", "exe", "fd", "fdinfo", "limits", "maps", "mountinfo", "mounts", "root", "stat", "statm", "status", "task" })
            Assert.Contains(name, self);
    }

    [Fact]
    public void SelfLinksAndCmdline()
    {
        // The link names the executable with symlinks resolved (on Debian /bin -> usr/bin), as natively.
        var native = Runner.Native(Repo.Busybox, ["readlink", "/proc/self/exe"]);
        Assert.Equal(native.Stdout, Busybox("readlink", "/proc/self/exe").Stdout);
        Assert.Equal("1\n", Busybox("readlink", "/proc/self").Stdout);
        Assert.Equal($"{Repo.Busybox}\0cat\0/proc/self/cmdline\0", Busybox("cat", "/proc/self/cmdline").Stdout);
        Assert.Equal("busybox\n", Busybox("cat", "/proc/1/comm").Stdout);
    }

    [Fact]
    public void Ps_ReadsTheTaskFromProc()
    {
        var lines = Expect.Lines(Busybox("ps").Stdout);
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"^ +1 +\S+ +" + Regex.Escape(Repo.Busybox) + " ps$", lines[1]);
    }
}
