namespace Sandbox.Integration.Tests;

/// <summary>Finds the sandbox's stub processes on the host: their executable is the
/// Sentry-generated memfd image.</summary>
public static class Stubs
{
    public static IReadOnlyList<int> All()
    {
        var pids = new List<int>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string? exe = Exe(pid);
            if (exe != null && exe.Contains("memfd:runsc-stub")) pids.Add(pid);
        }
        return pids;
    }

    /// <summary>Stubs whose runsc is gone: leaked ones. (Stubs of sandboxes that other tests run
    /// at the same time still have their runsc as parent, so they do not count.)</summary>
    public static IReadOnlyList<int> Orphaned() =>
        [.. All().Where(pid => Parent(pid) is not { } parent || Exe(parent)?.EndsWith("/runsc") != true)];

    private static string? Exe(int pid)
    {
        try { return new FileInfo($"/proc/{pid}/exe").LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static int? Parent(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (IOException) { return null; }
        catch (FormatException) { return null; }
    }
}
