namespace Sandbox.Integration.Tests;

/// <summary>Design decision 1: no guest system call reaches the host kernel.</summary>
public class EscapeTests
{
    private const string HostnameFile = "/proc/sys/kernel/hostname";

    [Fact]
    public void Escape_MkdirAndSethostname_DoNotChangeTheHost()
    {
        string id = Guid.NewGuid().ToString("N");
        string canary = $"/tmp/sandbox-escape-{id}";
        string newName = $"escaped-{id[..12]}";
        string hostname = File.ReadAllText(HostnameFile).Trim();
        Assert.False(Directory.Exists(canary));

        RunResult sandboxed;
        bool dirLeaked, hostnameLeaked;
        try
        {
            sandboxed = Runner.Sandboxed(Repo.Guest("escape"), [canary, newName]);
        }
        finally
        {
            // Undo any leak before asserting, so a failing run does not damage the host.
            dirLeaked = Directory.Exists(canary);
            if (dirLeaked)
            {
                Directory.Delete(canary);
            }
            hostnameLeaked = File.ReadAllText(HostnameFile).Trim() != hostname;
            if (hostnameLeaked)
            {
                TryRestoreHostname(hostname);
            }
        }

        Assert.False(dirLeaked, $"the guest's mkdir created {canary} on the host");
        Assert.False(hostnameLeaked, $"the guest's sethostname changed the host's hostname from {hostname}");
        // The check above is only meaningful if the guest really made the calls.
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Contains($"mkdir({canary}) = ", sandboxed.Stdout);
        Assert.Contains($"sethostname({newName}) = ", sandboxed.Stdout);
    }

    private static void TryRestoreHostname(string hostname)
    {
        try
        {
            File.WriteAllText(HostnameFile, hostname);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort; the assertion reports the leak either way.
        }
    }
}
