namespace Sandbox.Bench;

/// <summary>
/// One way of running a program: natively, under Debian's runsc (gVisor) or under ours.
/// <see cref="Prefix"/> is put in front of the program's argv; <see cref="Unavailable"/>
/// says why the sandbox cannot be used on this machine (null when it can).
/// </summary>
public sealed record Runtime(string Key, string Title, IReadOnlyList<string> Prefix, string? Unavailable, string Note)
{
    public IReadOnlyList<string> Command(params string[] program) => [.. Prefix, .. program];

    public static Runtime Native() => new("native", "native", [], null, "the program run directly");

    /// <summary>
    /// Debian's gVisor (package runsc, release 20221219).
    ///
    /// The invocation that works on this machine kind (root, kernel 6.x, 2 vCPUs, no
    /// network): `runsc --platform=ptrace --network=none do CMD ARGS`. As root it needs no
    /// `--rootless`, `--ignore-cgroups` or TMPDIR, and it leaves nothing behind in /tmp.
    /// `--network=none` is required: its network modes refuse to start on this kernel.
    /// Its stdout should be a pipe, not a regular file: gVisor 2022 writes an inherited
    /// regular-file stdout from offset 0 (the harness captures through pipes).
    /// </summary>
    public static Runtime GVisor(string? runsc, bool pinned)
    {
        string key = pinned ? "gvisor-pinned" : "gvisor";
        string title = pinned ? "gVisor (taskset -c 0)" : "gVisor";
        string note = pinned
            ? "the same, with every thread pinned to CPU 0 (tracer and tracee on one CPU); informational"
            : "Debian's runsc --platform=ptrace --network=none do";
        if (runsc is null)
        {
            return new(key, title, [], "Debian's runsc is not installed (apt-get install runsc)", note);
        }
        string[] runscArgs = [runsc, "--platform=ptrace", "--network=none", "do"];
        if (!pinned)
        {
            return new(key, title, runscArgs, null, note);
        }
        string? taskset = ProcessRunner.FindOnPath("taskset");
        return taskset is null
            ? new(key, title, [], "taskset is not installed (util-linux)", note)
            : new(key, title, [taskset, "-c", "0", .. runscArgs], null, note);
    }

    /// <summary>Our sandbox: `out/runsc do CMD ARGS`.</summary>
    public static Runtime Ours(string repoRoot)
    {
        string runsc = Path.Combine(repoRoot, "out", "runsc");
        string? unavailable = File.Exists(runsc) ? null : $"{runsc} is not built (./build.sh)";
        return new("ours", "ours", [runsc, "do"], unavailable, "out/runsc do");
    }
}
