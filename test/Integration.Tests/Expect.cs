namespace Sandbox.Integration.Tests;

/// <summary>Assertions on <see cref="RunResult"/> whose failure messages show the output.</summary>
public static class Expect
{
    public static void ExitCode(RunResult result, int expected, string who = "program") =>
        Assert.True(result.ExitCode == expected, $"{who}: expected exit code {expected}, got {result}");

    /// <summary>The sandboxed stdout equals the native one; on failure names the first differing line.</summary>
    public static void SameStdout(RunResult native, RunResult sandboxed) =>
        SameLines(Lines(native.Stdout), Lines(sandboxed.Stdout), native, sandboxed);

    public static void SameLines(IReadOnlyList<string> native, IReadOnlyList<string> sandboxed,
        RunResult nativeRun, RunResult sandboxedRun)
    {
        for (int i = 0; i < Math.Max(native.Count, sandboxed.Count); i++)
        {
            string? n = i < native.Count ? native[i] : null;
            string? s = i < sandboxed.Count ? sandboxed[i] : null;
            Assert.True(n == s,
                $"stdout differs at line {i + 1}:\n  native:    {n ?? "(end of output)"}\n" +
                $"  sandboxed: {s ?? "(end of output)"}\n\nnative run: {nativeRun}\n\nsandboxed run: {sandboxedRun}");
        }
    }

    /// <summary>Splits output into lines; a final newline does not make an extra empty line.</summary>
    public static List<string> Lines(string text) =>
        [.. (text.EndsWith('\n') ? text[..^1] : text).Split('\n')];
}
