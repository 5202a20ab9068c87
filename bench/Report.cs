using System.Globalization;
using System.Text;

namespace Sandbox.Bench;

/// <summary>What counts as meeting a row's target.</summary>
public enum Goal
{
    /// <summary>At most 10 µs per call (the syscall round-trip target).</summary>
    Under10Microseconds,

    /// <summary>Ours no slower than Debian's runsc (lower is better, or higher for throughput).</summary>
    NotSlowerThanGVisor,

    /// <summary>Ours no slower than Debian's runsc and at least half the native throughput.</summary>
    NotSlowerThanGVisorAndHalfNative,
}

/// <summary>A group of rows rendered as one table.</summary>
public sealed record Section(string Key, string Title, string Notes);

/// <summary>One row of the results: its section, unit, direction and target.</summary>
public sealed record BenchmarkKind(string Key, Section Section, string Title, string Unit, Goal Goal, bool HigherIsBetter = false);

/// <summary>Collects measurements and renders them as Markdown, one table per section.</summary>
public sealed class Report
{
    /// <summary>Target: at most 10 µs per syscall round trip.</summary>
    public const double GetppidTargetNs = 10_000;

    public static readonly Section Core = new("core", "Syscall round trip and start-up",
        "getppid: the fixture's own figure (CLOCK_MONOTONIC around a loop of raw " +
        "syscall(SYS_getppid), start-up excluded). start-to-exit: wall time of the whole " +
        "`CMD out/guest/bench_true` process, sandbox start-up and tear-down included.");

    public static readonly BenchmarkKind Getppid = new(
        "getppid", Core, "getppid loop (ns/call, median)", "ns", Goal.Under10Microseconds);

    public static readonly BenchmarkKind Start = new(
        "start", Core, "start-to-exit of bench_true (ms, median)", "ms", Goal.NotSlowerThanGVisor);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly List<(BenchmarkKind Kind, Runtime Runtime, Measurement Result)> _rows = [];

    public void Add(BenchmarkKind kind, Runtime sandbox, Measurement result) => _rows.Add((kind, sandbox, result));

    public bool Failed(string sandboxKey) => _rows.Any(r => r.Runtime.Key == sandboxKey && !r.Result.Ok);

    public static string Summary(Measurement m, string unit) => m.Ok
        ? string.Create(Inv, $"median {Format(m.Median, unit)} {unit} (min {Format(m.Min, unit)}, max {Format(m.Max, unit)}, n={m.Samples.Count})")
        : "n/a: " + m.Failure;

    /// <summary>
    /// The whole report: a title, the machine line, then one table per section that has
    /// rows (in <paramref name="sections"/> order), each followed by its n/a reasons, its
    /// notes and how its rows are measured; then the per-sample details and the runtimes.
    /// </summary>
    public string Render(IReadOnlyList<Runtime> sandboxes, IReadOnlyList<Section> sections, string machine, IReadOnlyList<string> preamble)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Sandbox benchmarks: native vs Debian's runsc (gVisor) vs ours");
        sb.AppendLine();
        sb.AppendLine(machine);
        foreach (string line in preamble)
        {
            sb.AppendLine();
            sb.AppendLine(line);
        }

        foreach (Section section in sections)
        {
            var rows = _rows.Where(r => r.Kind.Section == section).ToList();
            if (rows.Count == 0)
            {
                continue;
            }
            RenderSection(sb, section, [.. sandboxes.Where(s => rows.Any(r => r.Runtime.Key == s.Key))], rows);
        }

        sb.AppendLine();
        sb.AppendLine("### Details (min / median / max)");
        sb.AppendLine();
        foreach (var (kind, sandbox, result) in _rows.Where(r => r.Result.Ok))
        {
            sb.AppendLine(string.Create(Inv,
                $"- {kind.Key}, {sandbox.Title}: {Format(result.Min, kind.Unit)} / {Format(result.Median, kind.Unit)} / " +
                $"{Format(result.Max, kind.Unit)} {kind.Unit}; {result.Method}"));
        }
        sb.AppendLine();
        sb.AppendLine("Runtimes:");
        foreach (Runtime s in sandboxes.Where(s => _rows.Any(r => r.Runtime.Key == s.Key)))
        {
            sb.AppendLine($"- {s.Title}: {s.Note}");
        }
        return sb.ToString();
    }

    private void RenderSection(StringBuilder sb, Section section, IReadOnlyList<Runtime> sandboxes,
                               List<(BenchmarkKind Kind, Runtime Runtime, Measurement Result)> rows)
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

        sb.AppendLine();
        sb.AppendLine($"### {section.Title}");
        sb.AppendLine();
        sb.AppendLine("| " + string.Join(" | ", header) + " |");
        sb.AppendLine("|" + string.Concat(header.Select((_, i) => i == 0 ? "---|" : "---:|")));
        foreach (BenchmarkKind kind in rows.Select(r => r.Kind).Distinct())
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
                cells.Add(Target(kind, native, gvisor));
                cells.Add(Met(kind, ours, native, gvisor));
            }
            sb.AppendLine("| " + string.Join(" | ", cells) + " |");
        }

        var failures = rows.Where(r => !r.Result.Ok).ToList();
        if (failures.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Not measured (n/a):");
            foreach (var (kind, sandbox, result) in failures)
            {
                sb.AppendLine($"- {sandbox.Title}, {kind.Key}: {Escape(result.Failure ?? "no samples")}");
            }
        }
        var notes = rows.Where(r => r.Result.Ok && r.Result.Note is not null).ToList();
        if (notes.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Notes:");
            foreach (var (kind, sandbox, result) in notes)
            {
                sb.AppendLine($"- {sandbox.Title}, {kind.Key}: {Escape(result.Note!)}");
            }
        }
        sb.AppendLine();
        sb.AppendLine(section.Notes);
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

    private static string Target(BenchmarkKind kind, Measurement? native, Measurement? gvisor)
    {
        string cmp = kind.HigherIsBetter ? "≥" : "≤";
        string? gv = gvisor is { Ok: true } ? $"gVisor ({Format(gvisor.Median, kind.Unit)} {kind.Unit})" : null;
        return kind.Goal switch
        {
            Goal.Under10Microseconds => "≤ 10 µs (10,000 ns) per call",
            Goal.NotSlowerThanGVisor => gv is null ? $"{cmp} gVisor" : $"{cmp} {gv}",
            Goal.NotSlowerThanGVisorAndHalfNative =>
                $"{cmp} {gv ?? "gVisor"} and {cmp} " +
                (native is { Ok: true }
                    ? $"{(kind.HigherIsBetter ? "½" : "2×")} native ({Format(kind.HigherIsBetter ? native.Median / 2 : native.Median * 2, kind.Unit)} {kind.Unit})"
                    : $"{(kind.HigherIsBetter ? "½" : "2×")} native"),
            _ => "?",
        };
    }

    private static string Met(BenchmarkKind kind, Measurement? ours, Measurement? native, Measurement? gvisor)
    {
        if (ours is not { Ok: true })
        {
            return "n/a";
        }
        bool AtLeastAsGood(double value, double bound) => kind.HigherIsBetter ? value >= bound : value <= bound;
        switch (kind.Goal)
        {
            case Goal.Under10Microseconds:
                return ours.Median <= GetppidTargetNs ? "yes" : "no";
            case Goal.NotSlowerThanGVisor:
                return gvisor is not { Ok: true } ? "n/a" : AtLeastAsGood(ours.Median, gvisor.Median) ? "yes" : "no";
            case Goal.NotSlowerThanGVisorAndHalfNative:
                {
                    if (gvisor is not { Ok: true } || native is not { Ok: true })
                    {
                        return "n/a";
                    }
                    bool vsGVisor = AtLeastAsGood(ours.Median, gvisor.Median);
                    bool vsNative = AtLeastAsGood(ours.Median, kind.HigherIsBetter ? native.Median / 2 : native.Median * 2);
                    return vsGVisor && vsNative ? "yes" : !vsGVisor && !vsNative ? "no" : vsGVisor ? "no (native)" : "no (gVisor)";
                }
            default:
                return "n/a";
        }
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
        if (value >= 1000)
        {
            return value.ToString("N0", Inv);
        }
        return value >= 10 ? value.ToString("0.0", Inv) : value.ToString("0.00", Inv);
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
