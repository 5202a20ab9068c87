using System.Diagnostics;
using System.Text;
using Sandbox.Abi;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>The generated launcher program on plans of its own: results of earlier calls as
/// arguments, ignored errnos, the pid string, argv/envp arrays, and the failure report (the
/// gofer's confinement through it is tested end to end in <see cref="GoferCliTests"/>).</summary>
public sealed class ConfinementLauncherTests : IDisposable
{
    private const long AtFdCwd = -100;
    private readonly string _dir = GoferProcess.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes the plan's launcher to a file and runs it with stdout and stderr captured.</summary>
    private RunResult RunLauncher(ConfinementPlan plan)
    {
        string image = Path.Combine(_dir, "launcher");
        File.WriteAllBytes(image, ConfinementLauncher.Build(plan));
        File.SetUnixFileMode(image, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var psi = new ProcessStartInfo(image)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        using Process p = Process.Start(psi)!;
        int pid = p.Id;
        RunResult r = GoferProcess.Finish(p);
        LastPid = pid;
        return r;
    }

    private int LastPid { get; set; }

    /// <summary>execve("/bin/sh", ["sh", "-c", script], env).</summary>
    private static void ExecShell(ConfinementPlan p, string script, params string[] env) =>
        p.Call(Sys.execve, "execve(/bin/sh)", p.Str("/bin/sh"), p.StringArray(["sh", "-c", script]), p.StringArray(env));

    [Fact]
    public void RunsTheStepsInOrderWithEarlierResultsAsArgumentsThenExecs()
    {
        var p = new ConfinementPlan();
        int dir = p.CallInto(Sys.openat, "opening the test directory", AtFdCwd, p.Str(_dir),
            OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
        p.Call(Sys.mkdirat, "mkdir sub", ConfinementPlan.SlotValue(dir), p.Str("sub"), 0x1ed);
        p.CallIgnoring(Errno.EEXIST, Sys.mkdirat, "mkdir sub again", ConfinementPlan.SlotValue(dir), p.Str("sub"), 0x1ed);
        int pid = p.PidString();
        p.Call(Sys.symlinkat, "symlink pid", ConfinementPlan.SlotValue(pid), ConfinementPlan.SlotValue(dir), p.Str("sub/pid"));
        ExecShell(p, "echo \"$0 $GREETING\"", "GREETING=hello from the launcher", "OTHER=x");

        RunResult r = RunLauncher(p);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("sh hello from the launcher\n", r.Stdout);
        Assert.True(Directory.Exists(Path.Combine(_dir, "sub")));
        // The pid string is the launcher's own pid, which execve keeps.
        Assert.Equal(LastPid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            new FileInfo(Path.Combine(_dir, "sub", "pid")).LinkTarget);
    }

    [Fact]
    public void AFailingStepIsReportedLikeTheGoferReportsItAndStopsThePlan()
    {
        var p = new ConfinementPlan();
        p.Call(Sys.mkdirat, $"mkdir {_dir}/first", AtFdCwd, p.Str(Path.Combine(_dir, "first")), 0x1ed);
        p.Call(Sys.openat, "opening /nonexistent/file", AtFdCwd, p.Str("/nonexistent/file"), OpenFlags.O_RDONLY, 0);
        p.Call(Sys.mkdirat, $"mkdir {_dir}/never", AtFdCwd, p.Str(Path.Combine(_dir, "never")), 0x1ed);
        ExecShell(p, "echo should not run");

        RunResult r = RunLauncher(p);
        Assert.Equal(ConfinementLauncher.ExitFailed, r.ExitCode);
        Assert.Equal("runsc gofer: opening /nonexistent/file: No such file or directory\n", r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.True(Directory.Exists(Path.Combine(_dir, "first")));
        Assert.False(Directory.Exists(Path.Combine(_dir, "never")));
    }

    [Fact]
    public void AnErrnoIgnoredByOneStepFailsAnother()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "exists"));
        var p = new ConfinementPlan();
        p.CallIgnoring(Errno.EEXIST, Sys.mkdirat, "mkdir exists (ignoring EEXIST)", AtFdCwd, p.Str(Path.Combine(_dir, "exists")), 0x1ed);
        p.CallIgnoring(Errno.ENOENT, Sys.mkdirat, "mkdir exists (ignoring ENOENT)", AtFdCwd, p.Str(Path.Combine(_dir, "exists")), 0x1ed);
        ExecShell(p, "echo should not run");

        RunResult r = RunLauncher(p);
        Assert.Equal(ConfinementLauncher.ExitFailed, r.ExitCode);
        Assert.Equal("runsc gofer: mkdir exists (ignoring ENOENT): File exists\n", r.Stderr);
    }

    [Fact]
    public void APlanWithoutExecveEndsInAnError()
    {
        var p = new ConfinementPlan();
        p.Call(Sys.getpid, "getpid");
        RunResult r = RunLauncher(p);
        Assert.Equal(ConfinementLauncher.ExitFailed, r.ExitCode);
        Assert.Equal("runsc gofer: the confinement plan does not end with execve\n", r.Stderr);
    }

    [Fact]
    public void TheGofersPlanEndsInExecveOfTheGoferWithTheConfinedEnvironment()
    {
        string root = GoferProcess.TempDir();
        try
        {
            var spec = new GoferSandboxSpec(root, [], ReadOnly: true) { KeepFds = [3] };
            string runsc = new FileInfo(Repo.Runsc).ResolveLinkTarget(returnFinalTarget: true)!.FullName;
            ConfinementPlan plan = GoferSandbox.BuildPlan(spec, runsc, ["runsc-gofer", "gofer"], ["A=1", "DOTNET_ROOT=/elsewhere"]);
            string[] steps = [.. plan.Describe()];
            Assert.StartsWith("unshare(131072)", steps[0]);
            Assert.Contains(steps, s => s.StartsWith("pivot_root(\".\", \".\")", StringComparison.Ordinal));
            Assert.Contains(steps, s => s.StartsWith("prctl(38, 1", StringComparison.Ordinal)); // PR_SET_NO_NEW_PRIVS
            Assert.Contains(steps, s => s.StartsWith("capset(", StringComparison.Ordinal));
            Assert.Contains("close_range(4, 4294967295, 4)", steps); // every fd above the kept 3 close-on-exec
            Assert.StartsWith($"execve(\"{runsc}\"", steps[^1]);
            // Every capability not kept leaves the bounding set.
            Assert.Contains(steps, s => s.StartsWith("prctl(24, 21,", StringComparison.Ordinal)); // CAP_SYS_ADMIN
            Assert.DoesNotContain(steps, s => s.StartsWith("prctl(24, 1,", StringComparison.Ordinal)); // CAP_DAC_OVERRIDE is kept
            string data = Encoding.UTF8.GetString(plan.DataImage());
            Assert.Contains($"{GoferSandbox.ConfinedVariable}=1\0", data);
            Assert.Contains("DOTNET_EnableDiagnostics=0\0", data);
            Assert.DoesNotContain("DOTNET_ROOT=/elsewhere", data);

            // A gofer that must die with runsc asks for it before anything else.
            ConfinementPlan dying = GoferSandbox.BuildPlan(spec with { DieWithParent = true }, runsc, ["runsc-gofer", "gofer"], ["A=1"]);
            Assert.Equal("prctl(1, 9, 0, 0, 0)", dying.Describe().First()); // PR_SET_PDEATHSIG, SIGKILL
            Assert.DoesNotContain(steps, s => s.StartsWith("prctl(1, ", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(root);
        }
    }
}
