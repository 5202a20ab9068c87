using System.Globalization;

namespace Sandbox.Bench;

/// <summary>
/// One benchmark: the rows it fills (a fixture may report several figures per run) and how
/// to measure it under one runtime.
/// </summary>
public sealed record Workload(string Key, IReadOnlyList<BenchmarkKind> Kinds, string Describe, Func<Runtime, Measurement[]> Run);

/// <summary>
/// The task, file and userland benchmarks (issues 4, 3 and 5). Each runs natively, under
/// Debian's runsc and under ours; the sandboxed runs see the same host files (the fixtures
/// in out/guest, the inputs in out/bench) through their view of the host root.
/// </summary>
public sealed class Workloads(string root, string guestDir, BenchData data, bool quick)
{
    public static readonly Section Tasks = new("tasks", "Tasks (issue 4)",
        "fork, pipe and thread: the fixture's own figure (CLOCK_MONOTONIC around the loop, after a warm-up, " +
        "start-up excluded): `bench_fork` forks a child that `_exit(0)`s and `waitpid`s it; `bench_pipe` " +
        "bounces one byte parent → child → parent over two pipes; `bench_thread` does `pthread_create` + " +
        "`pthread_join` of a thread that returns at once; `bench_forkheap` does the same fork + exit + wait with " +
        "a 64 MiB, then a 256 MiB written private heap (every page dirty): what sharing the address " +
        "space copy-on-write at fork costs, against Linux and gVisor. busybox loop: wall time of the whole " +
        "`/bin/busybox sh -c 'for i in $(seq 1 300); do /bin/busybox true; done'` process " +
        "(`seq` is Debian's dynamic coreutils one, found on PATH), sandbox start-up included.");

    public static readonly Section Files = new("files", "Files (issue 3)",
        "Throughput: `bench_fileio PATH 256` writes 256 MiB in 1 MiB `write`s (no fsync), closes, reads it back " +
        "in 1 MiB `read`s (checking the data) and unlinks it; each phase is timed by the fixture (open to close); " +
        "MB = 10^6 bytes, higher is better. tmpfs: a file in /dev/shm (natively the host's /dev/shm). " +
        "Root: a file in /tmp. Natively that is the host's /tmp on the root disk (ext4, page cache); in our sandbox " +
        "/tmp is the host's /tmp copy-on-write, so the new file lands in our in-memory tmpfs overlay, " +
        "never on the host; in Debian's runsc it lands in its in-memory overlay of the root. " +
        "Lower layer: `bench_fileio -r out/bench/lower-256M.bin 256` reads a 256 MiB file created natively " +
        "once (so it sits in the host's page cache) through the sandbox's gofer, i.e. the read-only lower " +
        "layer under the overlay, in 1 MiB `read`s, twice in one process; the figure is the second pass " +
        "(warm: every cache on the way has seen the file once; the host page cache is not dropped). " +
        "find, untar and cat: wall time of the whole process (sandbox start-up included). " +
        "find: `sh -c 'find /usr -type f | wc -l'` (stat-heavy; the sandboxes read /usr through their gofer). " +
        "untar: `tar -xf out/bench/usr-share-50M.tar -C /tmp/bench-untar.N` into a fresh empty directory " +
        "the harness creates before each run and deletes after it (outside the timing); in the sandboxes the " +
        "extracted files land in the overlay. Natively /tmp is ext4 on this VM's disk, where creating files is " +
        "slow and erratic (strace of one native untar here: ~0.7 ms per `openat(O_CREAT)`, 85% of its time), " +
        "while both sandboxes create them in memory: there ours / native compares an in-memory overlay with a " +
        "disk file system, not like with like. " +
        "cat: `sh -c 'cd out/bench/smallfiles && cat -- * > /dev/null'` over 10,000 files of 8 B – 1.8 KiB " +
        "created natively, read through the gofer root.");

    public static readonly Section Userland = new("userland", "Userland (issue 5)",
        "Wall time of the whole process (sandbox start-up included) except clock_gettime, which is the " +
        "fixture's own figure (`bench_clock`: glibc's clock_gettime(CLOCK_MONOTONIC) in a loop, i.e. the vDSO " +
        "when the sandbox maps one, else a system call). python3 is /usr/bin/python3 (Debian's, dynamic). " +
        "gcc: `gcc -c out/bench/gen2000.c -o /dev/null` (default -O0; runs cc1 and as). " +
        "git add: `git -C /tmp/bench-git.N add -A` in a fresh repository (`git init`, 1,000 files of " +
        "20 B – 1.1 KiB in 10 directories, nothing added yet) created once natively in out/bench/git-template and " +
        "copied to /tmp/bench-git.N with `cp -a` before each run, deleted after it (both outside the timing); " +
        "in the sandboxes the index and objects git writes land in the overlay (natively on ext4: see the untar note).");

    private static readonly TimeSpan Short = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(300);

    private int _counter;

    /// <summary>Every workload, in the order they run and are reported.</summary>
    public IReadOnlyList<Workload> All()
    {
        var list = new List<Workload>();

        // ---- Tasks (issue 4) ----
        list.Add(Fixture("fork", Tasks, "fork + exit + wait (ns/iter, median)", "bench_fork", "ns_per_iter",
            native: 2_000, sandboxed: 300, runs: 5));
        list.Add(Fixture("pipe", Tasks, "pipe ping-pong round trip (ns, median)", "bench_pipe", "ns_per_roundtrip",
            native: 50_000, sandboxed: 5_000, runs: 5));
        list.Add(Fixture("thread", Tasks, "thread create + join (ns/iter, median)", "bench_thread", "ns_per_iter",
            native: 10_000, sandboxed: 1_000, runs: 5));
        list.Add(ForkHeap());
        string busybox = File.Exists("/bin/busybox") ? "/bin/busybox" : "busybox";
        list.Add(Wall("busybox-loop", Tasks, "busybox sh: 300 × `busybox true` (ms, median)",
            [busybox, "sh", "-c", $"for i in $(seq 1 300); do {busybox} true; done"],
            nativeRuns: 5, sandboxRuns: 3, cheap: false, timeout: Short,
            missing: File.Exists(busybox) ? null : "/bin/busybox is not installed (busybox-static)"));

        // ---- Files (issue 3) ----
        list.Add(FileIo("tmpfs", "tmpfs (/dev/shm)", "/dev/shm", Goal.NotSlowerThanGVisorAndHalfNative));
        list.Add(FileIo("root", "root (/tmp)", "/tmp", Goal.NotSlowerThanGVisor));
        list.Add(LowerRead());
        string? countNative = null;
        list.Add(Wall("find", Files, "`find /usr -type f \\| wc -l` (ms, median)",
            ["/bin/sh", "-c", "find /usr -type f | wc -l"],
            nativeRuns: 3, sandboxRuns: 3, cheap: false, timeout: Long,
            check: stdout => long.TryParse(stdout.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0
                ? null : "expected a positive file count, got " + Benchmarks.Abbreviate(stdout),
            note: (s, stdout) =>
            {
                string count = stdout.Trim();
                if (s.Key == "native")
                {
                    countNative = count;
                    return $"counted {count} files (each sandbox counted the same unless noted)";
                }
                return countNative is null ? $"counted {count} files"
                    : count == countNative ? null : $"counted {count} files, native counted {countNative}";
            }));
        list.Add(Untar());
        list.Add(Wall("cat-small", Files, $"cat of {BenchData.SmallFileCount:N0} small files (ms, median)",
            ["/bin/sh", "-c", $"cd {Quote(data.SmallFiles ?? "")} && cat -- * > /dev/null"],
            nativeRuns: 5, sandboxRuns: 3, cheap: false, timeout: Short, missing: Missing("smallfiles")));

        // ---- Userland (issue 5) ----
        string? python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : ProcessRunner.FindOnPath("python3");
        string? noPython = python is null ? "python3 is not installed" : null;
        python ??= "python3";
        list.Add(Wall("python-start", Userland, "`python3 -c pass` (ms, median)",
            [python, "-c", "pass"], nativeRuns: 10, sandboxRuns: 10, cheap: true, timeout: Short, missing: noPython));
        list.Add(Wall("python-sum", Userland, "`python3 -c 'print(sum(range(10**7)))'` (ms, median)",
            [python, "-c", "print(sum(range(10**7)))"], nativeRuns: 5, sandboxRuns: 5, cheap: true, timeout: Short,
            missing: noPython,
            check: stdout => stdout.Trim() == "49999995000000" ? null : "expected 49999995000000, got " + Benchmarks.Abbreviate(stdout)));
        list.Add(Fixture("clock", Userland, "clock_gettime(CLOCK_MONOTONIC) (ns/call, median)", "bench_clock", "ns_per_call",
            native: 5_000_000, sandboxed: 50_000, runs: 5));
        list.Add(Wall("python-subprocess", Userland, "python3: 100 × `subprocess.run([\"true\"])` (ms, median)",
            [python, "-c", "import subprocess; [subprocess.run([\"true\"]) for _ in range(100)]"],
            nativeRuns: 5, sandboxRuns: 3, cheap: false, timeout: Short, missing: noPython));
        string? gcc = ProcessRunner.FindOnPath("gcc");
        list.Add(Wall("gcc", Userland, $"`gcc -c` of a {BenchData.GeneratedCLines:N0}-line C file (ms, median)",
            [gcc ?? "gcc", "-c", data.GeneratedC ?? "", "-o", "/dev/null"],
            nativeRuns: 5, sandboxRuns: 3, cheap: false, timeout: Short,
            missing: gcc is null ? "gcc is not installed" : Missing("gen2000.c")));
        list.Add(GitAdd());
        return list;
    }

    private string? Missing(string what) => what switch
    {
        "smallfiles" => data.SmallFiles is null ? data.Errors.GetValueOrDefault("smallfiles", "not created") : null,
        "gen2000.c" => data.GeneratedC is null ? "out/bench/gen2000.c was not created" : null,
        _ => null,
    };

    /// <summary>
    /// A fixture that times its own loop and prints "FIGURE VALUE"; fewer iterations inside
    /// the sandboxes (each 5-100× slower than native) so every run stays around a second.
    /// </summary>
    private Workload Fixture(string key, Section section, string title, string fixture, string figure,
                             int native, int sandboxed, int runs)
    {
        string bin = Path.Combine(guestDir, fixture);
        var kind = new BenchmarkKind(key, section, title, "ns", Goal.NotSlowerThanGVisor);
        if (quick)
        {
            native /= 5;
            sandboxed /= 5;
            runs = Math.Min(runs, 3);
        }
        return new Workload(key, [kind], $"{fixture}, {runs} runs ({native:N0} iterations natively, {sandboxed:N0} sandboxed)",
            s =>
            {
                int n = s.Key == "native" ? native : sandboxed;
                return Benchmarks.FixtureFigures(s, [bin, n.ToString(CultureInfo.InvariantCulture)], [figure], runs, Short, root,
                    $"{runs} runs × {n:N0} iterations");
            });
    }

    /// <summary>
    /// fork + exit + wait with a 64 MiB and then a 256 MiB dirty heap: two rows from one
    /// bench_forkheap run. The sandboxes copy (ours) or share (gVisor, Linux) that memory at
    /// each fork, so they get fewer iterations.
    /// </summary>
    private Workload ForkHeap()
    {
        int[] sizes = [64, 256];
        BenchmarkKind[] kinds = [.. sizes.Select(mib => new BenchmarkKind($"fork-heap-{mib}", Tasks,
            $"fork + exit + wait, {mib} MiB dirty heap (µs/iter, median)", "µs", Goal.NotSlowerThanGVisor))];
        string bin = Path.Combine(guestDir, "bench_forkheap");
        int native = quick ? 10 : 50, sandboxed = quick ? 2 : 8, runs = quick ? 2 : 3;
        return new Workload("fork-heap", kinds,
            $"bench_forkheap, {runs} runs ({native} forks per size natively, {sandboxed} sandboxed)",
            s =>
            {
                int n = s.Key == "native" ? native : sandboxed;
                return Benchmarks.FixtureFigures(s,
                    [bin, n.ToString(CultureInfo.InvariantCulture), .. sizes.Select(m => m.ToString(CultureInfo.InvariantCulture))],
                    [.. sizes.Select(m => $"us_per_fork_{m}")], runs, Long, root, $"{runs} runs × {n} forks per size");
            });
    }

    /// <summary>
    /// Wall time of one command. A cheap command gets one warm-up run under every runtime;
    /// an expensive one only natively (the native run goes first and warms the host's page
    /// and dentry caches that the sandboxes' gofers read through; each sandbox starts fresh
    /// anyway). <paramref name="missing"/> makes every runtime n/a with that reason.
    /// </summary>
    private Workload Wall(string key, Section section, string title, IReadOnlyList<string> program,
                          int nativeRuns, int sandboxRuns, bool cheap, TimeSpan timeout, string? missing = null,
                          Func<string, string?>? check = null, Func<Runtime, string, string?>? note = null)
        => WallPrepared(key, section, title, () => new PreparedRun(program), nativeRuns, sandboxRuns, cheap, timeout, missing, check, note);

    private Workload WallPrepared(string key, Section section, string title, Func<PreparedRun> prepare,
                                  int nativeRuns, int sandboxRuns, bool cheap, TimeSpan timeout, string? missing = null,
                                  Func<string, string?>? check = null, Func<Runtime, string, string?>? note = null)
    {
        var kind = new BenchmarkKind(key, section, title, "ms", Goal.NotSlowerThanGVisor);
        if (quick)
        {
            nativeRuns = Math.Min(nativeRuns, 3);
            sandboxRuns = Math.Min(sandboxRuns, 2);
        }
        return new Workload(key, [kind], $"{nativeRuns} runs natively, {sandboxRuns} sandboxed",
            s =>
            {
                if (missing is not null)
                {
                    return [Measurement.Failed(missing)];
                }
                bool native = s.Key == "native";
                int warmups = native || cheap ? 1 : 0;
                Func<string, string?>? noteOf = note is null ? null : stdout => note(s, stdout);
                return [Benchmarks.WallTimeMs(s, prepare, native ? nativeRuns : sandboxRuns, warmups, timeout, root, check, noteOf)];
            });
    }

    /// <summary>Sequential write and read of 256 MiB in DIR: two rows (write, read) from one fixture run.</summary>
    private Workload FileIo(string key, string where, string dir, Goal goal)
    {
        int mib = quick ? 64 : 256;
        var write = new BenchmarkKind($"{key}-write", Files, $"{mib} MiB sequential write, {where} (MB/s, higher is better)",
            "MB/s", goal, HigherIsBetter: true);
        var read = new BenchmarkKind($"{key}-read", Files, $"{mib} MiB sequential read, {where} (MB/s, higher is better)",
            "MB/s", goal, HigherIsBetter: true);
        string bin = Path.Combine(guestDir, "bench_fileio");
        int runs = 3;
        return new Workload($"fileio-{key}", [write, read], $"bench_fileio in {dir}, {runs} runs × {mib} MiB",
            s =>
            {
                // One name per runtime; the fixture creates it with O_EXCL and unlinks it.
                // Natively a killed run would leave it behind: delete it in any case.
                string path = $"{dir}/bench-fileio.{Environment.ProcessId}.{s.Key}";
                try
                {
                    return Benchmarks.FixtureFigures(s, [bin, path, mib.ToString(CultureInfo.InvariantCulture)],
                        ["write_mb_s", "read_mb_s"], runs, Short, root, $"{runs} runs × {mib} MiB");
                }
                finally
                {
                    TryDelete(path);
                }
            });
    }

    /// <summary>Sequential read of a file of the lower layer (the gofer's), second pass of two.</summary>
    private Workload LowerRead()
    {
        int mib = quick ? 64 : BenchData.LowerFileMiB;
        var kind = new BenchmarkKind("lower-read", Files,
            $"{mib} MiB sequential read, lower layer (second pass, warm) (MB/s, higher is better)", "MB/s",
            Goal.NotSlowerThanGVisor, HigherIsBetter: true);
        string bin = Path.Combine(guestDir, "bench_fileio");
        int runs = 3;
        return new Workload("fileio-lower", [kind], $"bench_fileio -r of {data.LowerFile ?? "?"}, {runs} runs × 2 × {mib} MiB",
            s =>
            {
                if (data.LowerFile is null)
                {
                    return [Measurement.Failed(data.Errors.GetValueOrDefault("lower", "the file was not created"))];
                }
                return Benchmarks.FixtureFigures(s, [bin, "-r", data.LowerFile, mib.ToString(CultureInfo.InvariantCulture)],
                    ["read_warm_mb_s"], runs, Short, root, $"{runs} runs × {mib} MiB, second pass of each");
            });
    }

    private Workload Untar()
    {
        string? tar = ProcessRunner.FindOnPath("tar");
        string? missing = tar is null ? "tar is not installed"
            : data.Tarball is null ? data.Errors.GetValueOrDefault("tarball", "the tarball was not created") : null;
        double mb = data.Tarball is null ? 0 : new FileInfo(data.Tarball).Length / 1e6;
        string title = string.Create(CultureInfo.InvariantCulture, $"untar of a {mb:F0} MB tarball of /usr/share (ms, median)");
        return WallPrepared("untar", Files, title,
            () =>
            {
                string dir = FreshDir("bench-untar");
                return new PreparedRun([tar ?? "tar", "-xf", data.Tarball ?? "", "-C", dir], () => TryDeleteDir(dir));
            },
            nativeRuns: 3, sandboxRuns: 3, cheap: false, timeout: Short, missing: missing);
    }

    private Workload GitAdd()
    {
        string? git = ProcessRunner.FindOnPath("git");
        string? cp = ProcessRunner.FindOnPath("cp");
        string? missing = git is null ? "git is not installed"
            : cp is null ? "cp is not installed"
            : data.GitTemplate is null ? data.Errors.GetValueOrDefault("git", "the repository was not created") : null;
        return WallPrepared("git-add", Userland, $"`git add` of {BenchData.GitFileCount:N0} files in a fresh repository (ms, median)",
            () =>
            {
                string dir = FreshDir("bench-git");
                Directory.Delete(dir);
                RunResult copy = ProcessRunner.Run([cp!, "-a", data.GitTemplate!, dir], Short, root);
                if (!copy.Ok)
                {
                    TryDeleteDir(dir);
                    throw new IOException("cp -a failed: " + copy.Describe());
                }
                return new PreparedRun([git!, "-C", dir, "add", "-A"], () => TryDeleteDir(dir));
            },
            nativeRuns: 3, sandboxRuns: 3, cheap: false, timeout: Short, missing: missing);
    }

    /// <summary>A new empty directory /tmp/PREFIX.PID.N on the host.</summary>
    private string FreshDir(string prefix)
    {
        string dir = $"/tmp/{prefix}.{Environment.ProcessId}.{Interlocked.Increment(ref _counter)}";
        TryDeleteDir(dir);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"   cannot delete {path}: {e.Message}");
        }
    }

    private static void TryDeleteDir(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"   cannot delete {dir}: {e.Message}");
        }
    }

    /// <summary>Single-quotes a word for sh.</summary>
    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
