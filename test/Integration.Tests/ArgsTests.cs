namespace Sandbox.Integration.Tests;

/// <summary>The initial stack built by the loader: argv, envp and the auxiliary vector.</summary>
public class ArgsTests
{
    // Arguments a naive CLI would mangle: spaces, an empty string, non-ASCII, and
    // option-like words that belong to the guest, not to runsc.
    private static readonly string[] Args = ["one", "two words", "", "ünï✓", "-x", "--flag=value", "*"];

    private static readonly Dictionary<string, string> Env = new()
    {
        ["SANDBOX_TEST_PLAIN"] = "value",
        ["SANDBOX_TEST_SPACES"] = "a b  c",
        ["SANDBOX_TEST_EMPTY"] = "",
        ["SANDBOX_TEST_UTF8"] = "héllo ✓",
    };

    [Fact]
    public void Args_StackMatchesNative()
    {
        var native = Runner.Native(Repo.Guest("args"), Args, Env);
        var sandboxed = Runner.Sandboxed(Repo.Guest("args"), Args, Env);

        Expect.ExitCode(native, 0, "native");
        Expect.ExitCode(sandboxed, 0, "sandboxed");

        // argv and auxv lines must match exactly and in order; the environment must be the
        // same set of strings (its order is not something programs may rely on).
        var (nativeEnv, nativeRest) = Split(native.Stdout);
        var (sandboxedEnv, sandboxedRest) = Split(sandboxed.Stdout);
        Expect.SameLines(nativeRest, sandboxedRest, native, sandboxed);
        Assert.Equal(nativeEnv.Order(StringComparer.Ordinal), sandboxedEnv.Order(StringComparer.Ordinal));

        foreach (var (name, value) in Env)
        {
            Assert.Contains($"env={name}={value}", sandboxedEnv);
        }
        for (int i = 0; i < Args.Length; i++)
        {
            Assert.Contains($"argv[{i + 1}]={Args[i]}", sandboxedRest);
        }
        Assert.Contains($"argv[0]={Repo.Guest("args")}", sandboxedRest);
        Assert.Contains("AT_PAGESZ=4096", sandboxedRest);
        Assert.Contains("AT_PLATFORM=x86_64", sandboxedRest);
        Assert.Equal("args ok", sandboxedRest[^1]);
    }

    [Fact]
    public void ExecFn_IsThePathAsGiven()
    {
        // AT_EXECFN is the string execve got: a relative path stays relative.
        string runsc = string.Join(' ', Repo.RunscCommand);
        string relative = Path.GetRelativePath(Repo.Root, Repo.Guest("args"));
        var native = Runner.Run("/bin/sh", ["-c", relative]);
        var sandboxed = Runner.Run("/bin/sh", ["-c", $"{runsc} do {relative}"]);

        Expect.ExitCode(native, 0, "native");
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Contains($"AT_EXECFN={relative}", Expect.Lines(native.Stdout));
        Assert.Contains($"AT_EXECFN={relative}", Expect.Lines(sandboxed.Stdout));
    }

    private static (List<string> Env, List<string> Others) Split(string stdout)
    {
        var lines = Expect.Lines(stdout);
        return ([.. lines.Where(l => l.StartsWith("env="))], [.. lines.Where(l => !l.StartsWith("env="))]);
    }
}
