// Whole-process benchmarks: native vs Debian's runsc (gVisor) vs our out/runsc.
//
//   dotnet run --project bench/Bench.csproj -c Release -- [REPO_ROOT] [--quick] [--no-hyperfine] [--only=KEY,...]
//
// REPO_ROOT defaults to the nearest directory above the current one holding build.sh.
// --quick  fewer runs and iterations (a smoke test of the harness, not numbers to quote).
// --only   run only these sandboxes: native, gvisor, gvisor-pinned, ours.
// --no-hyperfine  time start-to-exit with a Stopwatch even when hyperfine is installed.
//
// Prints a Markdown table and writes it to out/bench-results.md. A sandbox that cannot run
// shows "n/a" and the reason; the harness exits non-zero only if the native runs fail
// (then the fixtures themselves are broken).
using System.Globalization;
using Sandbox.Bench;

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

string? fixtureError = Fixtures.Ensure(root, guestDir, ["bench_getppid", "bench_true"]);
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

int getppidRuns = options.Quick ? 3 : 5;
int startRuns = options.Quick ? 8 : 20;
// 200,000 calls natively take ~30 ms; under a ptrace sandbox (~10-60 µs a call) 50,000
// calls already take 0.5-3 s per run, plenty to amortise clock reads and warm-up.
int nativeIterations = 200_000;
int sandboxIterations = options.Quick ? 10_000 : 50_000;

var report = new Report();
foreach (Runtime s in sandboxes)
{
    int iterations = s.Key == "native" ? nativeIterations : sandboxIterations;
    Console.Error.WriteLine($"== getppid loop: {s.Title} ({getppidRuns} × {iterations:N0} calls)");
    Measurement m = Benchmarks.GetppidNsPerCall(s, getppid, iterations, getppidRuns, root);
    Console.Error.WriteLine("   " + Report.Summary(m, "ns"));
    report.Add(Report.Getppid, s, m);
}
foreach (Runtime s in sandboxes)
{
    Console.Error.WriteLine($"== start-to-exit of bench_true: {s.Title} ({startRuns} runs)");
    Measurement m = Benchmarks.StartToExitMs(s, trueBin, startRuns, hyperfine, root, scratch);
    Console.Error.WriteLine("   " + Report.Summary(m, "ms"));
    report.Add(Report.Start, s, m);
}

string markdown = report.Render(sandboxes, MachineLine(debianRunsc, hyperfine));
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

internal sealed record Options(string RepoRoot, bool Quick, bool NoHyperfine, HashSet<string>? Only)
{
    private static readonly string[] Keys = ["native", "gvisor", "gvisor-pinned", "ours"];

    public static Options? Parse(string[] args)
    {
        string? root = null;
        bool quick = false;
        bool noHyperfine = false;
        HashSet<string>? only = null;
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
            else if (a.StartsWith('-'))
            {
                Console.Error.WriteLine($"bench: unknown option {a}; usage: Bench [REPO_ROOT] [--quick] [--no-hyperfine] [--only=native,gvisor,gvisor-pinned,ours]");
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
        return new Options(root, quick, noHyperfine, only);
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
