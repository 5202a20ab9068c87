namespace Sandbox.Bench;

/// <summary>The C fixtures the benchmarks run, normally compiled by build.sh.</summary>
public static class Fixtures
{
    /// <summary>
    /// Makes sure out/guest/NAME exists for each name, compiling test/guest/NAME.c with the
    /// same flags as build.sh when it is missing or older than its source (so the harness
    /// also works when run on its own). Returns an error message or null.
    /// </summary>
    public static string? Ensure(string root, string guestDir, IEnumerable<string> names)
    {
        Directory.CreateDirectory(guestDir);
        foreach (string name in names)
        {
            string bin = Path.Combine(guestDir, name);
            string source = Path.Combine(root, "test", "guest", name + ".c");
            bool stale = File.Exists(source) && File.Exists(bin) &&
                         File.GetLastWriteTimeUtc(source) > File.GetLastWriteTimeUtc(bin);
            if (File.Exists(bin) && !stale)
            {
                continue;
            }
            if (!File.Exists(source))
            {
                return $"{bin} is missing and so is its source {source}";
            }
            string? gcc = ProcessRunner.FindOnPath("gcc");
            if (gcc is null)
            {
                return $"{bin} is missing and gcc is not installed (./build.sh installs it)";
            }
            Console.Error.WriteLine($"== compiling {source}");
            RunResult r = ProcessRunner.Run(
                [gcc, "-static", "-O2", "-pthread", "-o", bin, source], TimeSpan.FromMinutes(2), root);
            if (!r.Ok)
            {
                return $"gcc failed on {source}: {r.Describe()}";
            }
        }
        return null;
    }
}
