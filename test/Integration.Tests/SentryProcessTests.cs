using System.Diagnostics;
using static Sandbox.Integration.Tests.GoferProcessTests;

namespace Sandbox.Integration.Tests;

/// <summary>The Sentry of `runsc do` (the runsc process itself), inspected from the host while
/// its guest runs: once started it is chrooted into an empty, deleted directory, runs as
/// a uid of its own (3,000,000,000 + its pid: no other sandbox or host user has it) with no
/// capability on any thread, under its own seccomp filter with no_new_privs, holds no
/// descriptor of a host directory, and its stubs (made after that) have its uid too.</summary>
public sealed class SentryProcessTests
{

    [Fact]
    public void TheSentryOfRunscDo_IsConfinedOnEveryThread()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("SANDBOX_RUNSC"))) return; // ours only
        string log = Path.Combine(Path.GetTempPath(), $"sentry-confined-{Guid.NewGuid():N}.log");
        var psi = new ProcessStartInfo(Repo.RunscCommand[0]) { UseShellExecute = false, RedirectStandardOutput = true };
        // `exec sleep` makes a new address space (a stub forked after the confinement).
        foreach (string a in new[] { "do", "--debug-log", log, Repo.Busybox, "sh", "-c", "echo ready; exec sleep 30" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        try
        {
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            int sentry = process.Id;
            string id = (3_000_000_000L + sentry).ToString(System.Globalization.CultureInfo.InvariantCulture);

            foreach (var (what, status) in SeccompedThreads(sentry, "Sentry"))
            {
                Assert.Equal($"{id}\t{id}\t{id}\t{id}", Field(status, "Uid"));
                Assert.Equal($"{id}\t{id}\t{id}\t{id}", Field(status, "Gid"));
                Assert.Equal("", Field(status, "Groups"));
                foreach (string set in new[] { "CapInh", "CapPrm", "CapEff", "CapAmb" })
                    Assert.True(Convert.ToUInt64(Field(status, set), 16) == 0, $"{what}: {set} {Field(status, set)}");
            }

            // Its root and working directory: an empty directory, removed from the host.
            string root = new FileInfo($"/proc/{sentry}/root").LinkTarget!;
            Assert.Matches(@"/runsc-sentry-root\.\w+ \(deleted\)$", root);
            Assert.Equal(root, new FileInfo($"/proc/{sentry}/cwd").LinkTarget);
            Assert.Empty(Directory.GetFileSystemEntries($"/proc/{sentry}/root"));

            // No descriptor of a host directory (fchdir to one would leave the chroot).
            foreach (string fd in Directory.GetFiles($"/proc/{sentry}/fd"))
            {
                string? target = new FileInfo(fd).LinkTarget;
                Assert.False(Directory.Exists(fd), $"the Sentry holds fd {Path.GetFileName(fd)} on the directory {target}");
            }

            // The stubs run with the same uid, with nothing to gain.
            int[] stubs = [.. Stubs.Of(sentry)];
            Assert.NotEmpty(stubs);
            foreach (int stub in stubs)
            {
                string status = File.ReadAllText($"/proc/{stub}/status");
                Assert.Equal($"{id}\t{id}\t{id}\t{id}", Field(status, "Uid"));
                Assert.Equal("0000000000000000", Field(status, "CapEff"));
                Assert.Equal("0000000000000000", Field(status, "CapPrm"));
            }

            Assert.Contains("sentry confined: chroot into an empty directory", File.ReadAllText(log));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
            File.Delete(log);
        }
    }
}
