using System.Diagnostics;

namespace Sandbox.Integration.Tests;

/// <summary>The Gofer's files can change on the host while a sandbox runs: cached names and
/// attributes are revalidated, so the guest sees new contents, new names and removals.</summary>
public class RevalidationTests
{
    [Fact]
    public void HostChanges_BecomeVisibleInside()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"reval-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "f"), "one\n");
        File.WriteAllText(Path.Combine(dir, "gone"), "x\n");
        Leftovers.Run? run = null;
        try
        {
            string[] runsc = Repo.RunscCommand;
            var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (string a in runsc[1..]) psi.ArgumentList.Add(a);
            string script = $"cat {dir}/f; ls {dir}; sleep 2; cat {dir}/f; ls {dir}";
            foreach (string a in new[] { "do", Repo.Busybox, "sh", "-c", script }) psi.ArgumentList.Add(a);
            using var process = Runner.StartWatched(psi, out run);
            // Change the host's tree once the guest has read it the first time.
            Assert.Equal("one", process.StandardOutput.ReadLine());
            Assert.Equal("f", process.StandardOutput.ReadLine());
            Assert.Equal("gone", process.StandardOutput.ReadLine());
            File.WriteAllText(Path.Combine(dir, "f"), "two, longer\n");
            File.WriteAllText(Path.Combine(dir, "new"), "n\n");
            File.Delete(Path.Combine(dir, "gone"));
            string rest = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "the sandbox did not finish");
            string? leak = run is null ? null : Leftovers.Check(run);
            Assert.True(leak is null, leak);
            Assert.Equal("two, longer\nf\nnew\n", rest);
        }
        finally
        {
            if (run is not null) Leftovers.End(run);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ANameLookedUpWhileMissing_IsFoundOnceTheHostCreatesIt()
    {
        // Failed lookups are remembered for a moment (negative dentries); a file the host
        // creates afterwards must still show up, and a file created inside at once.
        string dir = Path.Combine(Path.GetTempPath(), $"reval-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        Leftovers.Run? run = null;
        try
        {
            string[] runsc = Repo.RunscCommand;
            var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (string a in runsc[1..]) psi.ArgumentList.Add(a);
            string script = $"cat {dir}/late 2>/dev/null || echo missing; cat {dir}/inside 2>/dev/null || echo missing too; " +
                $"echo made > {dir}/inside; cat {dir}/inside; echo ready; sleep 2; cat {dir}/late";
            foreach (string a in new[] { "do", Repo.Busybox, "sh", "-c", script }) psi.ArgumentList.Add(a);
            using var process = Runner.StartWatched(psi, out run);
            Assert.Equal("missing", process.StandardOutput.ReadLine());
            Assert.Equal("missing too", process.StandardOutput.ReadLine());
            Assert.Equal("made", process.StandardOutput.ReadLine());
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            File.WriteAllText(Path.Combine(dir, "late"), "created on the host\n");
            string rest = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "the sandbox did not finish");
            string? leak = run is null ? null : Leftovers.Check(run);
            Assert.True(leak is null, leak);
            Assert.Equal("created on the host\n", rest);
            Assert.False(File.Exists(Path.Combine(dir, "inside")), "a write inside the sandbox reached the host");
        }
        finally
        {
            if (run is not null) Leftovers.End(run);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FilesAndDirectoriesReplacedOnTheHost_AreReadAnew()
    {
        // Files and listings a process closed stay open in the Gofer for the next open; once
        // the revalidation period is over, objects the host replaced are seen as they are now.
        string dir = Path.Combine(Path.GetTempPath(), $"reval-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "sub", "old"), "x\n");
        File.WriteAllText(Path.Combine(dir, "f"), "first\n");
        try
        {
            string[] runsc = Repo.RunscCommand;
            var psi = new ProcessStartInfo(runsc[0]) { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (string a in runsc[1..]) psi.ArgumentList.Add(a);
            string script = $"ls {dir}/sub; cat {dir}/f; echo ready; sleep 2; ls {dir}/sub; cat {dir}/f";
            foreach (string a in new[] { "do", Repo.Busybox, "sh", "-c", script }) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi)!;
            Assert.Equal("old", process.StandardOutput.ReadLine());
            Assert.Equal("first", process.StandardOutput.ReadLine());
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            // (Without a sandbox holding them, ext4 would hand the new ones the old inode numbers
            // in this order; the Gofer's open fids pin the old inodes, so it cannot.)
            File.Delete(Path.Combine(dir, "f"));
            File.WriteAllText(Path.Combine(dir, "f"), "second\n");
            Directory.Delete(Path.Combine(dir, "sub"), recursive: true);
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            File.WriteAllText(Path.Combine(dir, "sub", "new"), "y\n");
            string rest = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "the sandbox did not finish");
            Assert.Equal("new\nsecond\n", rest);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
