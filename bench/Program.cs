// Whole-process benchmarks: native vs Debian's runsc (gVisor) vs our out/runsc.
//
//   dotnet run --project bench/Bench.csproj -c Release -- [REPO_ROOT] [--quick] [--no-hyperfine] [--only=KEY,...] [--bench=NAME,...]
//
// REPO_ROOT defaults to the nearest directory above the current one holding build.sh.
// --quick  fewer runs and iterations (a smoke test of the harness, not numbers to quote).
// --only   run only these sandboxes: native, gvisor, gvisor-pinned, ours.
// --bench  run only these sections (core, tasks, files, userland) or benchmarks (getppid,
//          start, fork, fork-heap, pipe, thread, busybox-loop, fileio-tmpfs, fileio-root, fileio-lower, find, untar,
//          cat-small, python-start, python-sum, clock, python-subprocess, gcc, git-add).
// --no-hyperfine  time start-to-exit with a Stopwatch even when hyperfine is installed.
// (--ptrace-floor N is internal: one measurement of the ptrace floor, see PtraceFloor.cs.)
//
// Sections: "core" (the getppid round trip and start-to-exit, under all four runtimes) and
// the task, file and userland workloads of issues 4, 3 and 5 (Workloads.cs; native, gVisor
// and ours: the pinned gVisor variant only when --only names it, to keep the whole run
// under ~10 minutes on 2 CPUs). Their inputs are created natively under out/bench/ once.
//
// Prints Markdown tables and writes them to out/bench-results.md. A sandbox that cannot run
// a benchmark shows "n/a" and the reason; the harness exits non-zero only if a native run
// fails (then the fixtures or the inputs themselves are broken).
using System.Diagnostics;
using System.Globalization;
using Sandbox.Bench;

if (args.Length == 2 && args[0] == PtraceFloor.Flag)
{
    return PtraceFloor.RunHere(int.Parse(args[1], CultureInfo.InvariantCulture));
}
var options = Options.Parse(args);
if (options is null)
{
    return 2;
}
string root = options.RepoRoot;
string outDir = Path.Combine(root, "out");
string guestDir = Path.Combine(outDir, "guest");
string scratch = Path.Combine(outDir, "bench");
Directory.CreateDirectory(scratch);
var total = Stopwatch.StartNew();
string loadAtStart = TryRead("/proc/loadavg") ?? "?";

string? fixtureError = Fixtures.Ensure(root, guestDir,
    ["bench_getppid", "bench_true", "bench_fork", "bench_forkheap", "bench_pipe", "bench_thread", "bench_clock", "bench_fileio"]);
if (fixtureError is not null)
{
    Console.Error.WriteLine("bench: " + fixtureError);
    return 1;
}
string getppid = Path.Combine(guestDir, "bench_getppid");
string trueBin = Path.Combine(guestDir, "bench_true");

// Debian's runsc lives in /usr/bin; skip out/ in case someone put ours on PATH.
string? debianRunsc = File.Exists("/usr/bin/runsc") ? "/usr/bin/runsc" : ProcessRunner.FindOnPath("runsc", outDir);
string? hyperfine = options.NoHyperfine ? null : ProcessRunner.FindOnPath("hyperfine");

Runtime[] sandboxes =
[
    Runtime.Native(),
    Runtime.GVisor(debianRunsc, pinned: false),
    Runtime.GVisor(debianRunsc, pinned: true),
    Runtime.Ours(root),
];
sandboxes = [.. sandboxes.Where(s => options.Only is null || options.Only.Contains(s.Key))];
// The workloads skip the pinned gVisor variant (informational) unless asked for by name.
Runtime[] workloadSandboxes = [.. sandboxes.Where(s => s.Key != "gvisor-pinned" || options.Only is not null)];

int getppidRuns = options.Quick ? 3 : 5;
int startRuns = options.Quick ? 8 : 20;
// 200,000 calls natively take ~30 ms; under a ptrace sandbox (~10-60 µs a call) 50,000
// calls already take 0.5-3 s per run, plenty to amortise clock reads and warm-up.
int nativeIterations = 200_000;
int sandboxIterations = options.Quick ? 10_000 : 50_000;

var report = new Report();
string? floorLine = null;
if (options.Selected("core", "getppid"))
{
    foreach (Runtime s in sandboxes)
    {
        int iterations = s.Key == "native" ? nativeIterations : sandboxIterations;
        Console.Error.WriteLine($"== getppid loop: {s.Title} ({getppidRuns} × {iterations:N0} calls)");
        Measurement m = Benchmarks.GetppidNsPerCall(s, getppid, iterations, getppidRuns, root);
        Console.Error.WriteLine("   " + Report.Summary(m, "ns"));
        report.Add(Report.Getppid, s, m);
    }
    Console.Error.WriteLine($"== ptrace floor ({getppidRuns} × {sandboxIterations:N0} calls)");
    Measurement floor = PtraceFloor.NsPerCall(sandboxIterations, getppidRuns, root);
    Console.Error.WriteLine("   " + Report.Summary(floor, "ns"));
    floorLine = floor.Ok
        ? string.Create(CultureInfo.InvariantCulture,
            $"ptrace floor, this run: {floor.Median:N0} ns per call (median of {getppidRuns} × {sandboxIterations:N0}): our ptrace platform alone, a real stub and PtraceThread.Switch serving a guest loop of getppid with no Sentry behind it ({nameof(PtraceFloor)}.cs). Our getppid figure is this plus the Sentry's own work per call. (DESIGN.md measured 8.7 µs for the bare ptrace round trip on a quieter machine.)")
        : $"ptrace floor: not measured ({floor.Failure})";
}
if (options.Selected("core", "start"))
{
    foreach (Runtime s in sandboxes)
    {
        Console.Error.WriteLine($"== start-to-exit of bench_true: {s.Title} ({startRuns} runs)");
        Measurement m = Benchmarks.StartToExitMs(s, trueBin, startRuns, hyperfine, root, scratch);
        Console.Error.WriteLine("   " + Report.Summary(m, "ms"));
        report.Add(Report.Start, s, m);
    }
}

var preamble = new List<string>();
if (floorLine is not null) preamble.Add(floorLine);
if (options.AnyWorkload)
{
    BenchData data = BenchData.Prepare(scratch);
    foreach (Workload w in new Workloads(root, guestDir, data, options.Quick).All())
    {
        if (!options.Selected(w.Kinds[0].Section.Key, w.Key))
        {
            continue;
        }
        if (w.Key == "untar" && data.Tarball is not null)
        {
            preamble.Add($"Untar input (created natively in out/bench/): {data.TarballSummary}.");
        }
        foreach (Runtime s in workloadSandboxes)
        {
            Console.Error.WriteLine($"== {w.Key}: {s.Title} ({w.Describe})");
            var sw = Stopwatch.StartNew();
            Measurement[] results = w.Run(s);
            for (int i = 0; i < w.Kinds.Count; i++)
            {
                Console.Error.WriteLine($"   {w.Kinds[i].Key}: {Report.Summary(results[i], w.Kinds[i].Unit)}" +
                                        (results[i].Note is null ? "" : $" [{results[i].Note}]"));
                report.Add(w.Kinds[i], s, results[i]);
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   ({sw.Elapsed.TotalSeconds:F1} s)"));
        }
    }
}

preamble.Insert(0, string.Create(CultureInfo.InvariantCulture,
    $"Load average (1, 5, 15 min) at start: {string.Join(' ', loadAtStart.Split(' ').Take(3))}; at end: " +
    $"{string.Join(' ', (TryRead("/proc/loadavg") ?? "?").Split(' ').Take(3))}. Whole run: {total.Elapsed.TotalMinutes:F1} min."));
string markdown = report.Render(sandboxes, [Report.Core, Workloads.Tasks, Workloads.Files, Workloads.Userland],
    MachineLine(debianRunsc, hyperfine), preamble);
Console.WriteLine();
Console.WriteLine(markdown);
string resultsFile = Path.Combine(outDir, "bench-results.md");
File.WriteAllText(resultsFile, markdown);
Console.Error.WriteLine($"(written to {resultsFile})");

bool nativeFailed = report.Failed("native");
return nativeFailed ? 1 : 0;

static string MachineLine(string? runsc, string? hyperfine)
{
    string kernel = TryRead("/proc/sys/kernel/osrelease") ?? "?";
    string runscVersion = "not installed";
    if (runsc is not null)
    {
        RunResult v = ProcessRunner.Run([runsc, "--version"], TimeSpan.FromSeconds(10), "/");
        runscVersion = v.Ok ? v.Stdout.Split('\n')[0].Trim() : v.Describe();
    }
    string hf = "not installed (Stopwatch timing)";
    if (hyperfine is not null)
    {
        RunResult v = ProcessRunner.Run([hyperfine, "--version"], TimeSpan.FromSeconds(10), "/");
        hf = v.Ok ? v.Stdout.Trim() : v.Describe();
    }
    return string.Create(CultureInfo.InvariantCulture,
        $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} CPUs; Linux {kernel}; " +
        $"Debian {runscVersion}; {hf}");
}

static string? TryRead(string path)
{
    try
    {
        return File.ReadAllText(path).Trim();
    }
    catch (IOException)
    {
        return null;
    }
    catch (UnauthorizedAccessException)
    {
        return null;
    }
}

internal sealed record Options(string RepoRoot, bool Quick, bool NoHyperfine, HashSet<string>? Only, HashSet<string>? Bench)
{
    /// <summary>Whether --bench (absent: everything) names this section or this benchmark.</summary>
    public bool Selected(string section, string benchmark) =>
        Bench is null || Bench.Contains(section) || Bench.Contains(benchmark);

    /// <summary>Whether --bench (absent: everything) selects anything beyond the core section.</summary>
    public bool AnyWorkload => Bench is null || Bench.Any(b => b is not ("core" or "getppid" or "start"));

    private static readonly string[] BenchNames =
    [
        "core", "tasks", "files", "userland", "getppid", "start", "fork", "fork-heap", "pipe", "thread", "busybox-loop",
        "fileio-tmpfs", "fileio-root", "fileio-lower", "find", "untar", "cat-small", "python-start", "python-sum", "clock",
        "python-subprocess", "gcc", "git-add",
    ];

    private static readonly string[] Keys = ["native", "gvisor", "gvisor-pinned", "ours"];

    public static Options? Parse(string[] args)
    {
        string? root = null;
        bool quick = false;
        bool noHyperfine = false;
        HashSet<string>? only = null;
        HashSet<string>? bench = null;
        foreach (string a in args)
        {
            if (a == "--quick")
            {
                quick = true;
            }
            else if (a == "--no-hyperfine")
            {
                noHyperfine = true;
            }
            else if (a.StartsWith("--only=", StringComparison.Ordinal))
            {
                only = [.. a["--only=".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries)];
                string[] unknown = [.. only.Where(k => !Keys.Contains(k))];
                if (unknown.Length > 0)
                {
                    Console.Error.WriteLine($"bench: unknown sandbox {string.Join(", ", unknown)}; known: {string.Join(", ", Keys)}");
                    return null;
                }
            }
            else if (a.StartsWith("--bench=", StringComparison.Ordinal))
            {
                bench = [.. a["--bench=".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries)];
                string[] unknown = [.. bench.Where(k => !BenchNames.Contains(k))];
                if (unknown.Length > 0)
                {
                    Console.Error.WriteLine($"bench: unknown benchmark {string.Join(", ", unknown)}; known: {string.Join(", ", BenchNames)}");
                    return null;
                }
            }
            else if (a.StartsWith('-'))
            {
                Console.Error.WriteLine($"bench: unknown option {a}; usage: Bench [REPO_ROOT] [--quick] [--no-hyperfine] [--only=native,gvisor,gvisor-pinned,ours] [--bench=SECTION|BENCHMARK,...]");
                return null;
            }
            else if (root is null)
            {
                root = Path.GetFullPath(a);
            }
            else
            {
                Console.Error.WriteLine($"bench: unexpected argument {a}");
                return null;
            }
        }
        root ??= FindRoot(Directory.GetCurrentDirectory());
        if (root is null || !File.Exists(Path.Combine(root, "build.sh")))
        {
            Console.Error.WriteLine("bench: cannot find the repository root (a directory with build.sh); pass it as the first argument");
            return null;
        }
        return new Options(root, quick, noHyperfine, only, bench);
    }

    private static string? FindRoot(string dir)
    {
        for (DirectoryInfo? d = new(dir); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "build.sh")))
            {
                return d.FullName;
            }
        }
        return null;
    }
}
