using System.Globalization;
using System.Text.Json;

namespace Sandbox.Bench;

/// <summary>Samples of one benchmark under one sandbox, or the reason there are none.</summary>
public sealed record Measurement(IReadOnlyList<double> Samples, string? Failure, string Method)
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

/// <summary>The two whole-process benchmarks.</summary>
public static class Benchmarks
{
    private static readonly TimeSpan GetppidTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Cost of one trivial syscall: runs out/guest/bench_getppid <paramref name="iterations"/>
    /// times <paramref name="runs"/> times and keeps the fixture's own "ns_per_call" figure,
    /// which excludes start-up. Stops at the first failed run and reports it.
    /// </summary>
    public static Measurement GetppidNsPerCall(Runtime sandbox, string fixture, int iterations, int runs, string cwd)
    {
        if (sandbox.Unavailable is not null)
        {
            return Measurement.Failed(sandbox.Unavailable);
        }
        var samples = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            RunResult r = ProcessRunner.Run(
                sandbox.Command(fixture, iterations.ToString(CultureInfo.InvariantCulture)), GetppidTimeout, cwd);
            if (!r.Ok)
            {
                return Measurement.Failed(r.Describe());
            }
            double? ns = ParseNsPerCall(r.Stdout);
            if (ns is null)
            {
                return Measurement.Failed("no \"ns_per_call\" line in the output: " + Abbreviate(r.Stdout));
            }
            samples.Add(ns.Value);
        }
        return new Measurement(samples, null, $"{runs} runs × {iterations:N0} calls");
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

    private static double? ParseNsPerCall(string stdout)
    {
        foreach (string line in stdout.Split('\n'))
        {
            string[] parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == "ns_per_call" &&
                double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double ns) &&
                double.IsFinite(ns) && ns > 0)
            {
                return ns;
            }
        }
        return null;
    }

    private static string Abbreviate(string text)
    {
        string t = text.Trim().ReplaceLineEndings(" ");
        return t.Length == 0 ? "(empty)" : t.Length > 120 ? t[..120] + "…" : t;
    }
}
