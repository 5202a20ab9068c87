namespace Sandbox.Integration.Tests;

/// <summary>busybox sh scripts: the same output in the sandbox as natively, and no stub process
/// left behind afterwards.</summary>
public class ShellTests
{
    [Theory]
    [InlineData("seq 1 10000 | sort -rn | head -3")]
    [InlineData("x=$(echo inner; echo second); echo \"got: $x\"")]
    [InlineData("for i in 1 2 3 4 5; do (echo sub $i; exit $i); echo status $?; done")]
    [InlineData("for i in 1 2 3; do sleep 0.1 & done; wait; echo all done")]
    [InlineData("trap 'echo caught' USR1; kill -USR1 $$; echo after")]
    [InlineData("sleep 5 & kill $!; wait $!; echo $?")]
    [InlineData("timeout 1 /bin/busybox sleep 5; echo $?")]
    [InlineData("yes | head -5")]
    [InlineData("false | true; echo $?; true | false; echo $?")]
    [InlineData("echo hello > /tmp/f; cat /tmp/f; wc -c < /tmp/f")]
    [InlineData("read a b <<EOF\none two\nEOF\necho \"$b $a\"")]
    [InlineData("d=$(mktemp -d); mkfifo $d/f; echo hi > $d/f & cat $d/f; wait $!; echo writer $?; rm -r $d")]
    public void Script_BehavesLikeNative(string script)
    {
        var native = Runner.Native(Repo.Busybox, ["sh", "-c", script]);
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", script]);

        Assert.Equal(native.ExitCode, sandboxed.ExitCode);
        Expect.SameStdout(native, sandboxed);
        Assert.Empty(Stubs.Orphaned());
    }

    [Fact]
    public void HashBangScript_RunsThroughItsInterpreter()
    {
        const string script = "printf '#!/bin/busybox sh\\necho from script \"$@\"\\nexit 7\\n' > /tmp/s.sh; chmod +x /tmp/s.sh; /tmp/s.sh a b; echo rc=$?";
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", script]);

        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal("from script a b\nrc=7\n", sandboxed.Stdout);
    }

    [Fact]
    public void ExitStatusOfPid1_IsTheSandboxStatus_AndOrphansDie()
    {
        // A background job outlives the shell: the sandbox kills it when pid 1 exits.
        var sandboxed = Runner.Sandboxed(Repo.Busybox, ["sh", "-c", "sleep 30 & exit 9"]);

        Expect.ExitCode(sandboxed, 9, "sandboxed");
        Assert.Empty(Stubs.Orphaned());
    }
}
