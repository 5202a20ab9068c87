using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sandbox.Integration.Tests;

/// <summary>Finds the sandbox's stub processes on the host: their executable is the
/// Sentry-generated memfd image.
///
/// The test host makes itself a child subreaper, so a stub that outlives the runsc that
/// spawned it is re-parented to this process (not to pid 1). "Orphaned" therefore means
/// exactly "left behind by a runsc these tests started": stubs of sandboxes still running
/// have their runsc as parent, and stubs that other test projects create at the same time
/// (Platform.Tests spawns real stubs) have their own test host as parent.</summary>
public static partial class Stubs
{
    private const int PR_SET_CHILD_SUBREAPER = 36;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [ModuleInitializer]
    internal static void BecomeSubreaper()
    {
        if (Prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
            throw new InvalidOperationException($"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Every live stub process on the host (zombies have no executable and are
    /// not listed: they are dead).</summary>
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

    /// <summary>Live stubs whose runsc is gone: leaked ones.</summary>
    public static IReadOnlyList<int> Orphaned() =>
        [.. All().Where(pid => Parent(pid) == Environment.ProcessId)];

    /// <summary>The stubs whose parent is <paramref name="parent"/>.</summary>
    public static IEnumerable<int> Of(int parent) => All().Where(pid => Parent(pid) == parent);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPid(int pid, nint status, int options);

    /// <summary>Reaps a zombie child of the test host that no Process object tracks (a stub
    /// re-parented here); true if it was reaped.</summary>
    public static bool Reap(int pid) => WaitPid(pid, 0, 1 /* WNOHANG */) == pid;

    /// <summary>Whether the process is gone or a zombie (dead, not yet reaped).</summary>
    public static bool IsDead(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] == 'Z';
        }
        catch (IOException) { return true; }
    }

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
