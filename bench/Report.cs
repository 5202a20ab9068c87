using System.Globalization;
using System.Text;

namespace Sandbox.Bench;

/// <summary>One row of the results table, with its unit and the target the issue sets.</summary>
public sealed record BenchmarkKind(string Key, string Title, string Unit, string Target);

/// <summary>Collects measurements and renders them as Markdown.</summary>
public sealed class Report
{
    /// <summary>Target: at most 10 µs per syscall round trip.</summary>
    public const double GetppidTargetNs = 10_000;

    public static readonly BenchmarkKind Getppid = new(
        "getppid", "getppid loop (ns/call, median)", "ns", "≤ 10 µs (10,000 ns) per call");

    public static readonly BenchmarkKind Start = new(
        "start", "start-to-exit of bench_true (ms, median)", "ms", "no slower than Debian's runsc");

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly List<(BenchmarkKind Kind, Runtime Runtime, Measurement Result)> _rows = [];

    public void Add(BenchmarkKind kind, Runtime sandbox, Measurement result) => _rows.Add((kind, sandbox, result));

    public bool Failed(string sandboxKey) => _rows.Any(r => r.Runtime.Key == sandboxKey && !r.Result.Ok);

    public static string Summary(Measurement m, string unit) => m.Ok
        ? string.Create(Inv, $"median {Format(m.Median, unit)} {unit} (min {Format(m.Min, unit)}, max {Format(m.Max, unit)}, n={m.Samples.Count})")
        : "n/a: " + m.Failure;

    public string Render(IReadOnlyList<Runtime> sandboxes, string machine)
    {
        bool hasOurs = sandboxes.Any(s => s.Key == "ours");
        bool hasNative = sandboxes.Any(s => s.Key == "native");
        bool hasGVisor = sandboxes.Any(s => s.Key == "gvisor");

        var header = new List<string> { "benchmark" };
        header.AddRange(sandboxes.Select(s => s.Title));
        if (hasOurs && hasNative)
        {
            header.Add("ours / native");
        }
        if (hasOurs && hasGVisor)
        {
            header.Add("ours / gVisor");
        }
        if (hasOurs)
        {
            header.Add("target");
            header.Add("met");
        }

        var sb = new StringBuilder();
        sb.AppendLine("## Sandbox benchmarks: native vs Debian's runsc (gVisor) vs ours");
        sb.AppendLine();
        sb.AppendLine(machine);
        sb.AppendLine();
        sb.AppendLine("| " + string.Join(" | ", header) + " |");
        sb.AppendLine("|" + string.Concat(header.Select((_, i) => i == 0 ? "---|" : "---:|")));
        foreach (BenchmarkKind kind in new[] { Getppid, Start })
        {
            var cells = new List<string> { kind.Title };
            cells.AddRange(sandboxes.Select(s => Cell(kind, s.Key)));
            Measurement? ours = Find(kind, "ours");
            Measurement? native = Find(kind, "native");
            Measurement? gvisor = Find(kind, "gvisor");
            if (hasOurs && hasNative)
            {
                cells.Add(Ratio(ours, native));
            }
            if (hasOurs && hasGVisor)
            {
                cells.Add(Ratio(ours, gvisor));
            }
            if (hasOurs)
            {
                cells.Add(kind == Start && gvisor is { Ok: true }
                    ? string.Create(Inv, $"≤ gVisor ({Format(gvisor.Median, "ms")} ms)")
                    : kind.Target);
                cells.Add(Met(kind, ours, gvisor));
            }
            sb.AppendLine("| " + string.Join(" | ", cells) + " |");
        }

        var failures = _rows.Where(r => !r.Result.Ok).ToList();
        if (failures.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Not measured (n/a):");
            foreach (var (kind, sandbox, result) in failures)
            {
                sb.AppendLine($"- {sandbox.Title}, {kind.Key}: {Escape(result.Failure ?? "no samples")}");
            }
        }

        sb.AppendLine();
        sb.AppendLine("Details (min / median / max):");
        foreach (var (kind, sandbox, result) in _rows.Where(r => r.Result.Ok))
        {
            sb.AppendLine(string.Create(Inv,
                $"- {kind.Key}, {sandbox.Title}: {Format(result.Min, kind.Unit)} / {Format(result.Median, kind.Unit)} / " +
                $"{Format(result.Max, kind.Unit)} {kind.Unit}; {result.Method}"));
        }
        sb.AppendLine();
        sb.AppendLine("Runtimes:");
        foreach (Runtime s in sandboxes)
        {
            sb.AppendLine($"- {s.Title}: {s.Note}");
        }
        sb.AppendLine();
        sb.AppendLine("getppid: the fixture's own figure (CLOCK_MONOTONIC around a loop of raw " +
                      "syscall(SYS_getppid), start-up excluded). start-to-exit: wall time of the whole " +
                      "`CMD out/guest/bench_true` process, sandbox start-up and tear-down included.");
        return sb.ToString();
    }

    private Measurement? Find(BenchmarkKind kind, string key) =>
        _rows.Where(r => r.Kind == kind && r.Runtime.Key == key).Select(r => r.Result).FirstOrDefault();

    private string Cell(BenchmarkKind kind, string key)
    {
        Measurement? m = Find(kind, key);
        return m is { Ok: true } ? Format(m.Median, kind.Unit) : "n/a";
    }

    private static string Ratio(Measurement? numerator, Measurement? denominator)
    {
        if (numerator is not { Ok: true } || denominator is not { Ok: true } || denominator.Median <= 0)
        {
            return "n/a";
        }
        double r = numerator.Median / denominator.Median;
        string text = r >= 10 ? r.ToString("N0", Inv) : r >= 0.1 ? r.ToString("0.00", Inv) : r.ToString("G2", Inv);
        return text + "×";
    }

    private static string Met(BenchmarkKind kind, Measurement? ours, Measurement? gvisor)
    {
        if (ours is not { Ok: true })
        {
            return "n/a";
        }
        if (kind == Getppid)
        {
            return ours.Median <= GetppidTargetNs ? "yes" : "no";
        }
        if (gvisor is not { Ok: true })
        {
            return "n/a";
        }
        return ours.Median <= gvisor.Median ? "yes" : "no";
    }

    private static string Format(double value, string unit)
    {
        if (double.IsNaN(value))
        {
            return "n/a";
        }
        if (unit == "ns")
        {
            return value >= 1000 ? value.ToString("N0", Inv) : value.ToString("0.0", Inv);
        }
        return value >= 10 ? value.ToString("0.0", Inv) : value.ToString("0.00", Inv);
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
