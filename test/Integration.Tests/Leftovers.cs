using System.Globalization;
using System.Text;

namespace Sandbox.Integration.Tests;

/// <summary>Checks that a run of runsc leaves nothing on the host: after the process the test
/// started has exited (and been reaped, so its threads, the Sentry's among them, are gone
/// with it), no process it created is left alive: no stub, no gofer, no runsc. A zombie handed
/// to the test host is reaped by it, as init reaps one on a real host.
///
/// Attribution: the test host is a child subreaper (<see cref="Stubs"/>), so whatever a run
/// leaves behind is re-parented to the test host once its ancestors are gone, and it
/// started while the run was going on. A leftover of a run is therefore a child of the test
/// host (or a descendant of one) that started no earlier than the run, that is not itself
/// the top process of a run in progress (those are the runs' own), and that is a sandbox
/// process: one running the runsc executable or a stub (a zombie has no executable: its name
/// is then "runsc", or the number of the descriptor a stub was executed from). xunit runs
/// this assembly's tests one at a time; should runs overlap, a leftover that started during
/// several of them is reported with the commands of all, not blamed on one.</summary>
public static class Leftovers
{
    /// <summary>A run being watched: its top process and when it started (in clock ticks
    /// since boot, as /proc/PID/stat's starttime).</summary>
    public sealed class Run
    {
        internal Run(int pid, long startTicks, string commandLine)
        {
            Pid = pid;
            StartTicks = startTicks;
            CommandLine = commandLine;
        }

        public int Pid { get; }
        public long StartTicks { get; }
        public string CommandLine { get; }

        /// <summary>The top process's own starttime, to tell it from a later process with its pid.</summary>
        internal long? PidStartTicks { get; set; }

        /// <summary>Runs that were in progress at some point during this one.</summary>
        internal HashSet<Run> Overlapping { get; } = [];
    }

    private static readonly List<Run> Active = [];

    /// <summary>Whether a command line runs our runsc (directly, or through sh or script).</summary>
    public static bool RunsRunsc(string commandLine)
    {
        string runsc;
        try
        {
            runsc = Repo.RunscCommand[0];
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        return commandLine.Contains(runsc, StringComparison.Ordinal);
    }

    /// <summary>The current time in clock ticks since boot; call it before starting the process.</summary>
    public static long Now()
    {
        string uptime = File.ReadAllText("/proc/uptime");
        double seconds = double.Parse(uptime.AsSpan(0, uptime.IndexOf(' ')), CultureInfo.InvariantCulture);
        // /proc/uptime has two decimals: a tick (1/100 s) of rounding either way.
        return (long)(seconds * TicksPerSecond) - 1;
    }

    /// <summary>Starts watching a run whose top process (pid) has just been started.</summary>
    public static Run Begin(int pid, long startTicks, string commandLine)
    {
        var run = new Run(pid, startTicks, commandLine) { PidStartTicks = Read(pid)?.StartTicks };
        lock (Active)
        {
            foreach (var other in Active)
            {
                other.Overlapping.Add(run);
                run.Overlapping.Add(other);
            }
            Active.Add(run);
        }
        return run;
    }

    /// <summary>Stops watching a run (its top process has been waited for).</summary>
    public static void End(Run run)
    {
        lock (Active) Active.Remove(run);
    }

    /// <summary>Ends the run and describes what it left on the host; null if nothing.
    /// <paramref name="killed"/>: the test killed runsc, so its children die after it (their
    /// deaths are asynchronous: up to 10 s are allowed, else 2 s) and it could not reap them.
    /// The test host, their subreaper, reaps zombies, which are then not reported.</summary>
    public static string? Check(Run run, bool killed = false)
    {
        End(run);
        var problems = new List<string>();
        if (run.PidStartTicks is { } started && Read(run.Pid) is { } again && again.StartTicks == started)
            problems.Add($"  pid {run.Pid} ({again.Comm}, state {again.State}): the process itself is still there after it was waited for");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        List<ProcInfo> left;
        while (true)
        {
            left = Scan(run);
            // A zombie handed to the test host (the subreaper, standing in for init) is reaped
            // here, as init would reap it on a real host: it is not left behind. What must
            // not be is a process still alive. (Before runsc reaped every child at exit, a
            // process named by a descriptor number, "45", a memfd-executed stub or launcher,
            // showed up here now and then under load as a zombie; the cause is not yet known,
            // so zombies are reaped rather than reported.)
            foreach (var z in left.Where(p => p.State == 'Z' && p.Ppid == Environment.ProcessId).ToList())
            {
                if (Stubs.Reap(z.Pid)) left.Remove(z);
            }
            if (left.Count == 0 || clock.Elapsed > TimeSpan.FromSeconds(killed ? 10 : 2)) break;
            Thread.Sleep(50);
        }
        foreach (var p in left)
        {
            string what = p.State == 'Z' ? "zombie" : "alive";
            problems.Add($"  pid {p.Pid} ({p.Comm}, {what}, state {p.State}, parent {p.Ppid}" +
                $"{(p.Exe is null ? "" : ", exe " + p.Exe)}), started {(p.StartTicks - run.StartTicks) * 10} ms into the run");
        }
        if (problems.Count == 0) return null;
        var sb = new StringBuilder($"`{run.CommandLine}` left processes on the host after it exited:\n");
        foreach (string line in problems) sb.AppendLine(line);
        if (run.Overlapping.Count > 0)
        {
            sb.AppendLine("Other runs were in progress meanwhile; these may be theirs:");
            foreach (var other in run.Overlapping) sb.AppendLine($"  `{other.CommandLine}`");
        }
        return sb.ToString();
    }

    /// <summary>The sandbox processes that are re-parented to the test host (or descend from
    /// one that is) and started during the run.</summary>
    private static List<ProcInfo> Scan(Run run)
    {
        int[] activePids;
        lock (Active) activePids = [.. Active.Select(r => r.Pid)];
        var all = new Dictionary<int, ProcInfo>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) &&
                Read(pid) is { } info)
                all[pid] = info;
        }
        int self = Environment.ProcessId;
        var left = new List<ProcInfo>();
        var queue = new Queue<ProcInfo>(all.Values.Where(p =>
            p.Ppid == self && p.StartTicks >= run.StartTicks && p.Pid != run.Pid && !activePids.Contains(p.Pid)));
        var seen = new HashSet<int>();
        while (queue.TryDequeue(out var p))
        {
            if (!seen.Add(p.Pid)) continue;
            if (IsSandboxProcess(p)) left.Add(p);
            foreach (var child in all.Values.Where(c => c.Ppid == p.Pid)) queue.Enqueue(child);
        }
        return left;
    }

    private const int TicksPerSecond = 100; // USER_HZ

    private sealed record ProcInfo(int Pid, string Comm, char State, int Ppid, long StartTicks, string? Exe);

    private static bool IsSandboxProcess(ProcInfo p)
    {
        if (p.Exe is { } exe)
            return exe.Contains("runsc-stub", StringComparison.Ordinal) || exe == RunscExecutable.Value;
        // A zombie (or a process whose executable cannot be read): judge by its name.
        return p.Comm.StartsWith("runsc", StringComparison.Ordinal) || (p.Comm.Length > 0 && p.Comm.All(char.IsAsciiDigit));
    }

    /// <summary>The file the runsc under test executes (out/runsc is a symbolic link).</summary>
    private static readonly Lazy<string?> RunscExecutable = new(() =>
    {
        try
        {
            string runsc = Repo.RunscCommand[0];
            return Path.GetFullPath(new FileInfo(runsc).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? runsc);
        }
        catch (IOException)
        {
            return null;
        }
    });

    private static ProcInfo? Read(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        int open = stat.IndexOf('('), close = stat.LastIndexOf(')');
        if (open < 0 || close < open || close + 2 >= stat.Length) return null;
        string[] f = stat[(close + 2)..].Split(' ');
        // f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
        if (f.Length < 20 || !int.TryParse(f[1], CultureInfo.InvariantCulture, out int ppid) ||
            !long.TryParse(f[19], CultureInfo.InvariantCulture, out long start))
            return null;
        string? exe = null;
        try
        {
            exe = new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return new ProcInfo(pid, stat[(open + 1)..close], f[0][0], ppid, start, exe);
    }
}
