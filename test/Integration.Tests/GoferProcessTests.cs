using System.Diagnostics;

namespace Sandbox.Integration.Tests;

/// <summary>The gofer that `runsc do` starts (through the generated launcher program, already
/// confined), inspected from the host while the sandbox runs: every thread under the seccomp
/// filter with no_new_privs, no capability beyond the kept file ones, its own mount namespace
/// whose root is the read-only scaffold, and the served tree under /gofer-root.</summary>
public sealed partial class GoferProcessTests
{
    /// <summary>CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID.</summary>
    private const ulong KeptCapabilities = 0x1f;

    [Fact]
    public void TheGoferOfRunscDo_IsConfinedOnEveryThread()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("SANDBOX_RUNSC"))) return; // ours only
        string[] runsc = Repo.RunscCommand;
        var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string a in new[] { "do", Repo.Busybox, "sh", "-c", "echo ready; exec sleep 30" }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        try
        {
            // Once the guest runs, the gofer has served its executable: it is past its start-up
            // and under its seccomp filter.
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            int[] gofers = [.. Children(process.Id).Where(pid => Cmdline(pid).StartsWith("runsc-gofer\0gofer\0", StringComparison.Ordinal))];
            int gofer = Assert.Single(gofers);

            // The launcher is gone: the gofer runs runsc's own executable.
            string runscExe = new FileInfo(runsc[0]).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(runsc[0]);
            Assert.Equal(runscExe, new FileInfo($"/proc/{gofer}/exe").LinkTarget);

            foreach (var (what, status) in SeccompedThreads(gofer, "gofer"))
            {
                foreach (string set in new[] { "CapInh", "CapPrm", "CapEff", "CapAmb" })
                {
                    ulong caps = Convert.ToUInt64(Field(status, set), 16);
                    Assert.True((caps & ~KeptCapabilities) == 0, $"{what}: {set} {caps:x}");
                }
                Assert.Equal(KeptCapabilities, Convert.ToUInt64(Field(status, "CapBnd"), 16));
            }

            // Its own mount namespace, rooted at the read-only scaffold tmpfs.
            Assert.NotEqual(new FileInfo("/proc/self/ns/mnt").LinkTarget, new FileInfo($"/proc/{gofer}/ns/mnt").LinkTarget);
            string[] root = File.ReadAllLines($"/proc/{gofer}/mountinfo")
                .Select(l => l.Split(' '))
                .Where(f => f[4] == "/")
                .Select(f => $"{f[Array.IndexOf(f, "-") + 1]} {f[5]}")
                .ToArray();
            Assert.Equal("tmpfs ro", Assert.Single(root).Split(',')[0]);
            string[] entries = [.. Directory.GetFileSystemEntries($"/proc/{gofer}/root").Select(Path.GetFileName).Order()!];
            Assert.Contains("gofer-root", entries);
            // The host directories that must not be there, unless the runtime (runsc itself)
            // lives under one of them: the scaffold exposes runsc's own directory read-only.
            string runtimeTop = Repo.Root.Split('/', StringSplitOptions.RemoveEmptyEntries)[0];
            foreach (string hostDir in new[] { "etc", "root", "tmp" }.Where(d => d != runtimeTop))
                Assert.DoesNotContain(hostDir, entries);
            Assert.True(File.Exists($"/proc/{gofer}/root/gofer-root/etc/passwd"), "the served tree (the host's /) is under /gofer-root");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    [Fact]
    public void TheGoferOfRunscDo_DiesWithRunscEvenWhenItCannotSeeItsPeerGo()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("SANDBOX_RUNSC"))) return; // ours only
        string[] runsc = Repo.RunscCommand;
        var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string a in new[] { "do", Repo.Busybox, "sh", "-c", "echo ready; exec sleep 30" }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        int gofer = 0;
        try
        {
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            gofer = Assert.Single(Children(process.Id), pid => Cmdline(pid).StartsWith("runsc-gofer\0gofer\0", StringComparison.Ordinal));
            // Stopped, the gofer cannot notice its socket close: only PR_SET_PDEATHSIG ends it.
            Assert.Equal(0, Kill(gofer, SIGSTOP));
            process.Kill();
            process.WaitForExit();
            var clock = Stopwatch.StartNew();
            while (!Stubs.IsDead(gofer) && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
            Assert.True(Stubs.IsDead(gofer), $"gofer {gofer} outlived its runsc");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            if (gofer != 0 && !Stubs.IsDead(gofer)) Kill(gofer, SIGKILL);
        }
    }

    private const int SIGKILL = 9, SIGSTOP = 19;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);

    internal static IEnumerable<int> Children(int parent)
    {
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{pid}/stat");
            }
            catch (IOException)
            {
                continue;
            }
            if (int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]) == parent) yield return pid;
        }
    }

    internal static string Cmdline(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>The /proc status of every thread of a .NET process (several, or the test is
    /// wrong), each checked to be under a seccomp filter with no_new_privs.</summary>
    internal static IEnumerable<(string What, string Status)> SeccompedThreads(int pid, string who)
    {
        string[] tasks = Directory.GetDirectories($"/proc/{pid}/task");
        Assert.True(tasks.Length > 1, $"the {who} runs a .NET runtime: several threads");
        foreach (string task in tasks)
        {
            string status = File.ReadAllText(Path.Combine(task, "status"));
            string what = $"{who} thread {Path.GetFileName(task)}";
            Assert.True(Field(status, "Seccomp") == "2", $"{what}: Seccomp {Field(status, "Seccomp")}");
            Assert.True(Field(status, "NoNewPrivs") == "1", $"{what}: NoNewPrivs {Field(status, "NoNewPrivs")}");
            yield return (what, status);
        }
    }

    internal static string? Field(string status, string name) =>
        status.Split('\n').FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..].Trim();
}
