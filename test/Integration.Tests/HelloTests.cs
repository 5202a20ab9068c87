using System.Text;

namespace Sandbox.Integration.Tests;

/// <summary>The smallest guests: static and static-PIE hello, with and without --strace.</summary>
public class HelloTests
{
    private const string Greeting = "hello, world\n";

    [Fact]
    public void Hello_PrintsGreeting_LikeNative()
    {
        var native = Runner.Native(Repo.Guest("hello"));
        var sandboxed = Runner.Sandboxed(Repo.Guest("hello"));

        Expect.ExitCode(native, 0, "native");
        Assert.Equal(Greeting, native.Stdout);
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal(Greeting, sandboxed.Stdout);
    }

    [Fact]
    public void StaticPieHello_PrintsGreeting()
    {
        var sandboxed = Runner.Sandboxed(Repo.Guest("hello-pie"));

        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal(Greeting, sandboxed.Stdout);
    }

    [Fact]
    public void Strace_LogsTheWriteWithItsResult()
    {
        int bytes = Encoding.UTF8.GetByteCount(Greeting);

        var sandboxed = Runner.Sandboxed(Repo.Guest("hello"), runscFlags: ["--strace"]);

        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal(Greeting, sandboxed.Stdout); // the log goes to stderr only
        var writes = Expect.Lines(sandboxed.Stderr)
            .Where(line => line.Contains("write(1, ") && System.Text.RegularExpressions.Regex.IsMatch(line, $@"= {bytes} <\d+\.\d{{6}}>$"))
            .ToList();
        Assert.True(writes.Count == 1,
            $"expected one strace line for write(1, ...) = {bytes} in stderr:\n{sandboxed.Stderr}");
    }
}
