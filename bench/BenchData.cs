using System.Globalization;
using System.Text;

namespace Sandbox.Bench;

/// <summary>
/// Inputs of the file and userland benchmarks, created natively under out/bench/ once and
/// reused by later runs (each is complete when its ".done" marker exists). Every sandbox
/// reads them through its view of the host root: ours through the Gofer (read-only, with a
/// copy-on-write overlay), Debian's runsc through its own gofer and overlay.
/// Each property is the path of a ready input, or null with the reason in <see cref="Errors"/>.
/// </summary>
public sealed class BenchData
{
    public const long TarTargetBytes = 50L << 20;
    public const int SmallFileCount = 10_000;
    public const int GeneratedCLines = 2_000;
    public const int GitFileCount = 1_000;
    public const int LowerFileMiB = 256;

    /// <summary>An uncompressed tarball of ~50 MiB of /usr/share (whole files, in path order).</summary>
    public string? Tarball { get; private set; }

    /// <summary>What the tarball holds: "N files, M MB".</summary>
    public string TarballSummary { get; private set; } = "";

    /// <summary>A directory of 10,000 files of 8 B to ~1.8 KiB each.</summary>
    public string? SmallFiles { get; private set; }

    /// <summary>A generated C file of 2,000 lines (plain functions with loops).</summary>
    public string? GeneratedC { get; private set; }

    /// <summary>A fresh git repository (git init, nothing added) holding 1,000 files, copied per run.</summary>
    public string? GitTemplate { get; private set; }

    /// <summary>A 256 MiB file in bench_fileio's pattern, read by `bench_fileio -r` through the
    /// sandboxes' lower layer (the host root their gofers serve), never written there.</summary>
    public string? LowerFile { get; private set; }

    public Dictionary<string, string> Errors { get; } = [];

    public static BenchData Prepare(string scratch)
    {
        var data = new BenchData();
        data.PrepareTarball(scratch);
        data.PrepareSmallFiles(scratch);
        data.PrepareGeneratedC(scratch);
        data.PrepareGitTemplate(scratch);
        data.PrepareLowerFile(scratch);
        return data;
    }

    private void PrepareLowerFile(string scratch)
    {
        string file = Path.Combine(scratch, $"lower-{LowerFileMiB}M.bin");
        string done = file + ".done";
        if (File.Exists(done) && File.Exists(file) && new FileInfo(file).Length == (long)LowerFileMiB << 20)
        {
            LowerFile = file;
            return;
        }
        Console.Error.WriteLine($"== creating {file} ({LowerFileMiB} MiB)");
        try
        {
            File.Delete(done);
            // What bench_fileio writes: block b holds (byte)(i * 7 + 1) at offset i, except
            // byte 0, which is (byte)b; `bench_fileio -r` checks every block against it.
            var block = new byte[1 << 20];
            for (int i = 0; i < block.Length; i++)
            {
                block[i] = unchecked((byte)(i * 7 + 1));
            }
            using (var f = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                for (int b = 0; b < LowerFileMiB; b++)
                {
                    block[0] = unchecked((byte)b);
                    f.Write(block);
                }
            }
            File.WriteAllText(done, "");
            LowerFile = file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Errors["lower"] = "cannot create the file: " + e.Message;
        }
    }

    private void PrepareTarball(string scratch)
    {
        string tar = Path.Combine(scratch, "usr-share-50M.tar");
        string done = tar + ".done";
        if (File.Exists(done) && File.Exists(tar))
        {
            Tarball = tar;
            TarballSummary = File.ReadAllText(done).Trim();
            return;
        }
        string? tarExe = ProcessRunner.FindOnPath("tar");
        if (tarExe is null)
        {
            Errors["tarball"] = "tar is not installed";
            return;
        }
        Console.Error.WriteLine($"== creating {tar} (~50 MiB of /usr/share)");
        // Regular files of /usr/share in sorted path order until 50 MiB: many small
        // documentation files and a few larger ones, like a real package tree.
        var files = new List<string>();
        long total = 0;
        try
        {
            foreach (string f in WalkSorted("/usr/share"))
            {
                files.Add(f.TrimStart('/'));
                total += new FileInfo(f).Length;
                if (total >= TarTargetBytes)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Errors["tarball"] = "cannot walk /usr/share: " + e.Message;
            return;
        }
        if (total < TarTargetBytes / 2)
        {
            Errors["tarball"] = $"/usr/share holds only {total / 1e6:F0} MB of regular files";
            return;
        }
        string list = tar + ".list";
        File.WriteAllLines(list, files);
        File.Delete(done);
        RunResult r = ProcessRunner.Run([tarExe, "-C", "/", "-cf", tar, "-T", list], TimeSpan.FromMinutes(5), scratch);
        if (!r.Ok)
        {
            Errors["tarball"] = "tar -c failed: " + r.Describe();
            return;
        }
        TarballSummary = string.Create(CultureInfo.InvariantCulture,
            $"{files.Count:N0} files of /usr/share, {total / 1e6:F1} MB of data, tarball {new FileInfo(tar).Length / 1e6:F1} MB");
        File.WriteAllText(done, TarballSummary + "\n");
        Tarball = tar;
    }

    private void PrepareSmallFiles(string scratch)
    {
        string dir = Path.Combine(scratch, "smallfiles");
        string done = dir + ".done";
        if (!File.Exists(done))
        {
            Console.Error.WriteLine($"== creating {SmallFileCount:N0} small files in {dir}");
            try
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
                Directory.CreateDirectory(dir);
                for (int i = 0; i < SmallFileCount; i++)
                {
                    // 1 to 200 lines of ~9 bytes: 8 B to ~1.8 KiB, ~0.9 KiB on average.
                    var sb = new StringBuilder();
                    for (int line = 0; line <= i % 200; line++)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"line {i}\n");
                    }
                    File.WriteAllText(Path.Combine(dir, $"f{i:D5}"), sb.ToString());
                }
                File.WriteAllText(done, "");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Errors["smallfiles"] = "cannot create the small files: " + e.Message;
                return;
            }
        }
        SmallFiles = dir;
    }

    private void PrepareGeneratedC(string scratch)
    {
        string file = Path.Combine(scratch, "gen2000.c");
        string done = file + ".done";
        if (!File.Exists(done))
        {
            var lines = new List<string> { "// Generated by bench/BenchData.cs: plain functions to compile.", "#include <stddef.h>" };
            for (int i = 0; lines.Count < GeneratedCLines; i++)
            {
                lines.AddRange(
                [
                    $"int f{i}(const int *a, size_t n) {{",
                    $"    int s = {i};",
                    "    for (size_t k = 0; k < n; k++) {",
                    $"        s += a[k] * {i % 7 + 2} ^ (s >> {i % 5 + 1});",
                    "        if (s > 1000) s -= a[k];",
                    "    }",
                    "    return s;",
                    "}",
                ]);
            }
            File.WriteAllLines(file, lines);
            File.WriteAllText(done, "");
        }
        GeneratedC = file;
    }

    private void PrepareGitTemplate(string scratch)
    {
        string dir = Path.Combine(scratch, "git-template");
        string done = dir + ".done";
        if (!File.Exists(done))
        {
            string? git = ProcessRunner.FindOnPath("git");
            if (git is null)
            {
                Errors["git"] = "git is not installed";
                return;
            }
            Console.Error.WriteLine($"== creating a git repository of {GitFileCount:N0} files in {dir}");
            try
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
                Directory.CreateDirectory(dir);
                RunResult init = ProcessRunner.Run([git, "init", "-q", dir], TimeSpan.FromSeconds(30), scratch);
                if (!init.Ok)
                {
                    Errors["git"] = "git init failed: " + init.Describe();
                    return;
                }
                for (int i = 0; i < GitFileCount; i++)
                {
                    // Ten sub-directories of 100 files, 20 B to ~1.1 KiB each.
                    string sub = Path.Combine(dir, $"d{i / 100}");
                    Directory.CreateDirectory(sub);
                    var sb = new StringBuilder();
                    for (int line = 0; line <= i % 50; line++)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"content of file {i}\n");
                    }
                    File.WriteAllText(Path.Combine(sub, $"file{i:D4}.txt"), sb.ToString());
                }
                File.WriteAllText(done, "");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Errors["git"] = "cannot create the git repository: " + e.Message;
                return;
            }
        }
        GitTemplate = dir;
    }

    private static IEnumerable<string> WalkSorted(string dir)
    {
        string[] entries = Directory.GetFileSystemEntries(dir);
        Array.Sort(entries, StringComparer.Ordinal);
        foreach (string e in entries)
        {
            var info = new FileInfo(e);
            if (info.LinkTarget is not null)
            {
                continue;
            }
            if ((info.Attributes & FileAttributes.Directory) != 0)
            {
                foreach (string f in WalkSorted(e))
                {
                    yield return f;
                }
            }
            else if ((info.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == 0 && info.Exists)
            {
                yield return e;
            }
        }
    }
}
