namespace Sandbox.Integration.Tests;

/// <summary>A real, unmodified static program: Debian's busybox-static applets.</summary>
public class BusyboxTests
{
    public static TheoryData<string[], string, int> Applets => new()
    {
        { ["echo", "hi", "there"], "hi there\n", 0 },
        { ["printf", "%s-%d\\n", "a", "5"], "a-5\n", 0 },
        { ["expr", "6", "*", "7"], "42\n", 0 },
        { ["seq", "1", "5"], "1\n2\n3\n4\n5\n", 0 },
        { ["true"], "", 0 },
        { ["false"], "", 1 },
        { ["uname", "-s"], "Linux\n", 0 },
    };

    [Theory]
    [MemberData(nameof(Applets))]
    public void Applet_BehavesLikeNative(string[] args, string expectedStdout, int expectedExit)
    {
        var native = Runner.Native(Repo.Busybox, args);
        var sandboxed = Runner.Sandboxed(Repo.Busybox, args);

        Expect.ExitCode(native, expectedExit, "native");
        Assert.Equal(expectedStdout, native.Stdout);
        Expect.ExitCode(sandboxed, expectedExit, "sandboxed");
        Assert.Equal(expectedStdout, sandboxed.Stdout);
    }

    /// <summary>`unshare -m` makes a mount namespace (and makes / private in it) before running
    /// the command; it used to fail with "unshare(0x20000): Function not implemented".</summary>
    [Fact]
    public void UnshareMount_RunsTheCommandInANewMountNamespace()
    {
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["unshare", "-m", "true"]);

        Expect.ExitCode(sandboxed, 0, "sandboxed busybox unshare -m true");
        Assert.Equal("", sandboxed.Stderr);
    }
}
