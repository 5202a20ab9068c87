using System.Globalization;
using System.Text.Json;

namespace Sandbox.Bench;

/// <summary>
/// Samples of one benchmark under one sandbox, or the reason there are none. <see cref="Note"/>
/// is something the report should mention next to valid samples (e.g. an output that
/// differs from native).
/// </summary>
public sealed record Measurement(IReadOnlyList<double> Samples, string? Failure, string Method, string? Note = null)
{
    public static Measurement Failed(string why) => new([], why, "");

    public bool Ok => Failure is null && Samples.Count > 0;

    public double Median
    {
        get
        {
            if (Samples.Count == 0)
            {
                return double.NaN;
            }
            double[] sorted = [.. Samples];
            Array.Sort(sorted);
            int mid = sorted.Length / 2;
            return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        }
    }

    public double Min => Samples.Count == 0 ? double.NaN : Samples.Min();

    public double Max => Samples.Count == 0 ? double.NaN : Samples.Max();
}

/// <summary>How the benchmarks measure: a fixture's own figure, or the wall time of a whole process.</summary>
public static class Benchmarks
{
    private static readonly TimeSpan GetppidTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Cost of one trivial syscall: runs out/guest/bench_getppid <paramref name="iterations"/>
    /// times <paramref name="runs"/> times and keeps the fixture's own "ns_per_call" figure,
    /// which excludes start-up. Stops at the first failed run and reports it.
    /// </summary>
    public static Measurement GetppidNsPerCall(Runtime sandbox, string fixture, int iterations, int runs, string cwd) =>
        FixtureFigures(sandbox, [fixture, iterations.ToString(CultureInfo.InvariantCulture)], ["ns_per_call"], runs,
            GetppidTimeout, cwd, $"{runs} runs × {iterations:N0} calls")[0];

    /// <summary>
    /// Runs a fixture (<paramref name="program"/>: its path and arguments) <paramref name="runs"/>
    /// times and keeps, for each of <paramref name="keys"/>, the number the fixture prints on
    /// a "KEY VALUE" line: its own timing of the loop, start-up excluded. Returns one
    /// measurement per key; stops at the first failed run and reports it for every key.
    /// </summary>
    public static Measurement[] FixtureFigures(Runtime sandbox, IReadOnlyList<string> program, IReadOnlyList<string> keys,
                                               int runs, TimeSpan timeout, string cwd, string method)
    {
        Measurement[] AllFailed(string why) => [.. keys.Select(_ => Measurement.Failed(why))];
        if (sandbox.Unavailable is not null)
        {
            return AllFailed(sandbox.Unavailable);
        }
        var samples = keys.Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < runs; i++)
        {
            RunResult r = ProcessRunner.Run(sandbox.Command([.. program]), timeout, cwd);
            if (!r.Ok)
            {
                return AllFailed(r.Describe());
            }
            for (int k = 0; k < keys.Count; k++)
            {
                double? value = ParseFigure(r.Stdout, keys[k]);
                if (value is null)
                {
                    return AllFailed($"no \"{keys[k]}\" line in the output: " + Abbreviate(r.Stdout));
                }
                samples[k].Add(value.Value);
            }
        }
        return [.. samples.Select(s => new Measurement(s, null, method))];
    }

    /// <summary>
    /// Wall time of a whole process, in milliseconds: from the sandbox's start to its exit
    /// (the sandbox's own start-up and tear-down included), timed with a Stopwatch around
    /// each run. <paramref name="prepare"/> runs before each run, outside the timing, and
    /// returns the program to run and what to clean up after it (e.g. a fresh
    /// directory per run). The first <paramref name="warmups"/> runs are not kept. Every
    /// run must exit 0 and, when <paramref name="check"/> is given, print what it accepts
    /// (it returns null, or the reason the output is wrong). Stops at the first failure.
    /// </summary>
    public static Measurement WallTimeMs(Runtime sandbox, Func<PreparedRun> prepare, int runs, int warmups, TimeSpan timeout,
                                         string cwd, Func<string, string?>? check = null, Func<string, string?>? note = null)
    {
        if (sandbox.Unavailable is not null)
        {
            return Measurement.Failed(sandbox.Unavailable);
        }
        var samples = new List<double>();
        string? firstNote = null;
        for (int i = 0; i < warmups + runs; i++)
        {
            PreparedRun run;
            try
            {
                run = prepare();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                return Measurement.Failed("cannot prepare the run: " + e.Message);
            }
            RunResult r;
            try
            {
                r = ProcessRunner.Run(sandbox.Command([.. run.Program]), timeout, cwd);
            }
            finally
            {
                run.Cleanup?.Invoke();
            }
            if (!r.Ok)
            {
                return Measurement.Failed(r.Describe());
            }
            string? wrong = check?.Invoke(r.Stdout);
            if (wrong is not null)
            {
                return Measurement.Failed("wrong output: " + wrong);
            }
            firstNote ??= note?.Invoke(r.Stdout);
            if (i >= warmups)
            {
                samples.Add(r.Wall.TotalMilliseconds);
            }
        }
        string method = warmups > 0 ? $"Stopwatch, {runs} runs after {warmups} warm-up" : $"Stopwatch, {runs} runs, no warm-up";
        return new Measurement(samples, null, method, firstNote);
    }

    /// <summary>
    /// Wall time from start to exit of out/guest/bench_true, in milliseconds. Uses
    /// hyperfine (no shell, warm-up runs, JSON export) when it is installed, else a
    /// Stopwatch around each process run. One checked run first, so a broken sandbox gives
    /// its own error message rather than hyperfine's.
    /// </summary>
    public static Measurement StartToExitMs(Runtime sandbox, string fixture, int runs, string? hyperfine, string cwd, string scratchDir)
    {
        if (sandbox.Unavailable is not null)
        {
            return Measurement.Failed(sandbox.Unavailable);
        }
        IReadOnlyList<string> argv = sandbox.Command(fixture);
        RunResult check = ProcessRunner.Run(argv, StartTimeout, cwd);
        if (!check.Ok)
        {
            return Measurement.Failed(check.Describe());
        }

        // hyperfine -N splits the command line on whitespace itself: only use it when no
        // argument contains any.
        if (hyperfine is not null && !argv.Any(a => a.Any(char.IsWhiteSpace)))
        {
            Measurement viaHyperfine = WithHyperfine(hyperfine, argv, runs, cwd, scratchDir, sandbox.Key);
            if (viaHyperfine.Ok)
            {
                return viaHyperfine;
            }
            Console.Error.WriteLine($"   hyperfine failed ({viaHyperfine.Failure}); timing with a Stopwatch instead");
        }

        var samples = new List<double>();
        for (int i = 0; i < runs + 2; i++)
        {
            RunResult r = ProcessRunner.Run(argv, StartTimeout, cwd);
            if (!r.Ok)
            {
                return Measurement.Failed(r.Describe());
            }
            if (i >= 2)
            {
                // The first two runs are warm-up (page cache, the sandbox's own start-up files).
                samples.Add(r.Wall.TotalMilliseconds);
            }
        }
        return new Measurement(samples, null, $"Stopwatch, {runs} runs after 2 warm-up");
    }

    private static Measurement WithHyperfine(string hyperfine, IReadOnlyList<string> argv, int runs, string cwd, string scratchDir, string key)
    {
        string json = Path.Combine(scratchDir, $"hyperfine-{key}.json");
        File.Delete(json);
        string command = string.Join(' ', argv);
        RunResult r = ProcessRunner.Run(
            [hyperfine, "-N", "--style", "none", "--warmup", "3", "--runs", runs.ToString(CultureInfo.InvariantCulture),
             "--export-json", json, command],
            TimeSpan.FromSeconds(30 + runs * StartTimeout.TotalSeconds), cwd);
        if (!r.Ok)
        {
            return Measurement.Failed("hyperfine " + r.Describe());
        }
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            JsonElement result = doc.RootElement.GetProperty("results")[0];
            var samples = result.GetProperty("times").EnumerateArray().Select(t => t.GetDouble() * 1000).ToList();
            return new Measurement(samples, null, $"hyperfine -N, {runs} runs after 3 warm-up");
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            return Measurement.Failed("cannot read hyperfine's JSON: " + e.Message);
        }
    }

    internal static double? ParseFigure(string stdout, string key)
    {
        foreach (string line in stdout.Split('\n'))
        {
            string[] parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == key &&
                double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) &&
                double.IsFinite(value) && value > 0)
            {
                return value;
            }
        }
        return null;
    }

    internal static string Abbreviate(string text)
    {
        string t = text.Trim().ReplaceLineEndings(" ");
        return t.Length == 0 ? "(empty)" : t.Length > 120 ? t[..120] + "…" : t;
    }
}

/// <summary>The program one timed run executes, and what to undo after it (outside the timing).</summary>
public sealed record PreparedRun(IReadOnlyList<string> Program, Action? Cleanup = null);
