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
            string? exe = null;
            try { exe = new FileInfo($"{dir}/exe").LinkTarget; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            if (exe != null && exe.Contains("memfd:runsc-stub")) pids.Add(pid);
        }
        return pids;
    }
}
