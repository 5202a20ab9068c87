namespace Sandbox.Integration.Tests;

/// <summary>How a guest ends: exit status, pid identity, death by signal.</summary>
public class ExitTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public void ExitCode_IsPassedThrough(int code)
    {
        string[] args = [code.ToString()];
        var native = Runner.Native(Repo.Guest("exitcode"), args);
        var sandboxed = Runner.Sandboxed(Repo.Guest("exitcode"), args);

        Expect.ExitCode(native, code, "native");
        Expect.ExitCode(sandboxed, code, "sandboxed");
        Assert.Equal("", sandboxed.Stdout);
    }

    [Fact]
    public void Pid_GuestIsInitWithNoParent()
    {
        var native = Runner.Native(Repo.Guest("pid"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("pid"));

        Expect.ExitCode(native, 1, "native"); // natively it is not pid 1
        Assert.Contains("tid==pid: yes", native.Stdout);
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal("pid=1\nppid=0\ntid=1\ntid==pid: yes\n", sandboxed.Stdout);
    }

    [Fact]
    public void Segv_WriteToReadOnlyPage_KillsWithSigsegv()
    {
        const int killedBySigsegv = 128 + 11;
        var native = Runner.Native(Repo.Guest("segv"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("segv"));

        Expect.ExitCode(native, killedBySigsegv, "native");
        Expect.ExitCode(sandboxed, killedBySigsegv, "sandboxed");
        Assert.Equal(native.Stdout, sandboxed.Stdout);
        Assert.Equal("before fault: read 0\n", sandboxed.Stdout);
    }
}
