namespace Sandbox.Integration.Tests;

/// <summary>Misuse of `runsc do` gives a nonzero exit and a message on stderr, not a crash or hang.</summary>
public class CliErrorTests
{
    [Fact]
    public void Do_NonElfFile_FailsWithMessage()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sandbox-not-elf-{Guid.NewGuid():N}");
        File.WriteAllText(path, "this is a text file, not an ELF executable\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            var sandboxed = Runner.Sandboxed(path);

            Assert.True(sandboxed.ExitCode != 0, $"expected a nonzero exit code, got {sandboxed}");
            Assert.False(string.IsNullOrWhiteSpace(sandboxed.Stderr), $"expected an error message, got {sandboxed}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Do_MissingProgram_FailsWithMessage()
    {
        string path = $"/nonexistent-{Guid.NewGuid():N}";

        var sandboxed = Runner.Sandboxed(path);

        Assert.True(sandboxed.ExitCode != 0, $"expected a nonzero exit code, got {sandboxed}");
        Assert.False(string.IsNullOrWhiteSpace(sandboxed.Stderr), $"expected an error message, got {sandboxed}");
    }
}

/// <summary>runsc's own messages and exit codes are what a shell would give for the same
/// mistake: one line, human words (strerror, not errno names), 126/127 for a program that
/// cannot be executed or is not there, 2 for misuse of runsc's options; never a stack trace.</summary>
public class CliMessageTests
{
    /// <summary>Runs out/runsc with exactly these arguments (no debug log added).</summary>
    private static RunResult Runsc(params string[] args)
    {
        string[] runsc = Repo.RunscCommand;
        return Runner.Run(runsc[0], [.. runsc[1..], .. args]);
    }

    /// <summary>Exit code exactly; stderr one line holding every word, no .NET exception.</summary>
    private static void CleanError(RunResult result, int exitCode, params string[] words)
    {
        Expect.ExitCode(result, exitCode, "runsc");
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        var lines = Expect.Lines(result.Stderr.TrimEnd('\n'));
        Assert.True(lines.Count == 1 && lines[0].StartsWith("runsc: ", StringComparison.Ordinal),
            $"expected one line starting 'runsc: ', got {result}");
        foreach (string word in words)
            Assert.True(result.Stderr.Contains(word, StringComparison.Ordinal), $"expected '{word}' in stderr, got {result}");
    }

    [Fact]
    public void Do_FileWithoutExecutePermission_IsPermissionDenied126()
    {
        // /etc/passwd has no execute bit for anyone, so even root may not execute it.
        CleanError(Runsc("do", "/etc/passwd"), 126, "/etc/passwd", "Permission denied");
    }

    [Fact]
    public void Do_Directory_IsADirectory126()
    {
        CleanError(Runsc("do", "/tmp"), 126, "/tmp", "Is a directory");
    }

    [Fact]
    public void Do_MissingPath_IsNoSuchFile127()
    {
        string path = $"/nonexistent-{Guid.NewGuid():N}/prog";
        CleanError(Runsc("do", path), 127, path, "No such file or directory");
    }

    [Fact]
    public void Do_ForeignArchitectureElf_SaysSoAndExits126()
    {
        // hello with e_machine 183 (AArch64): an ELF file, but not one this kernel can run.
        string path = Path.Combine(Path.GetTempPath(), $"runsc-aarch64-{Guid.NewGuid():N}");
        string log = path + ".log";
        byte[] elf = File.ReadAllBytes(Repo.Guest("hello"));
        elf[18] = 183;
        elf[19] = 0;
        File.WriteAllBytes(path, elf);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            var result = Runsc("do", $"--debug-log={log}", path);

            CleanError(result, 126, path, "cannot execute", "architecture", "183");
            Assert.Contains(File.ReadAllLines(log), l => l.Contains(path, StringComparison.Ordinal) && l.Contains("architecture", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
            File.Delete(log);
        }
    }

    [Fact]
    public void Do_DebugLogInMissingDirectory_IsAOneLineUsageError()
    {
        string log = $"/nonexistent-{Guid.NewGuid():N}/d/x.log";
        CleanError(Runsc("do", $"--debug-log={log}", "/bin/true"), 2, "--debug-log", log, "No such file or directory");
    }

    [Fact]
    public void Do_DebugLogThatIsADirectory_IsAOneLineUsageError()
    {
        CleanError(Runsc("do", "--debug-log=/tmp", "/bin/true"), 2, "--debug-log", "Is a directory");
    }

    [Fact]
    public void Do_UnknownOption_IsAUsageError()
    {
        CleanError(Runsc("do", "--bogus", "X"), 2, "unknown option", "--bogus");
    }

    [Theory]
    [InlineData("--uid=abc", "--uid", "not a number")]
    [InlineData("--gid=abc", "--gid", "not a number")]
    [InlineData("--uid=-1", "--uid", "not a number")]
    [InlineData("--uid=99999999999", "--uid", "out of range")]
    [InlineData("--strace=maybe", "--strace", "takes no value")]
    public void Do_BadOptionValue_IsAUsageError(string option, string name, string words)
    {
        CleanError(Runsc("do", option, "/bin/true"), 2, name, words);
    }

    [Fact]
    public void Do_OptionWithoutItsValue_IsAUsageError()
    {
        CleanError(Runsc("do", "--uid"), 2, "--uid", "needs a value");
    }

    [Fact]
    public void Do_WithoutAProgram_IsAUsageError()
    {
        CleanError(Runsc("do"), 2, "no program to run");
    }

    [Fact]
    public void Do_RootThatIsAFile_IsNotADirectory()
    {
        CleanError(Runsc("do", "--root=/etc/passwd", "/bin/true"), 2, "--root", "Not a directory");
    }

    [Fact]
    public void UnknownSubcommand_IsAOneLineUsageError()
    {
        CleanError(Runsc("bogus"), 2, "bogus");
    }

    [Fact]
    public void RunscMessageOnStderr_IsAppendedAtTheSharedOffset()
    {
        // The parent writes to the file first and last; runsc's message must land between,
        // not overwrite either (it writes at the shared offset, as any process does).
        string file = Path.Combine(Path.GetTempPath(), $"runsc-stderr-{Guid.NewGuid():N}");
        string missing = $"/nonexistent-{Guid.NewGuid():N}";
        try
        {
            string runsc = string.Join(' ', Repo.RunscCommand);
            var result = Runner.Run("/bin/sh", ["-c", $"{{ echo first >&2; {runsc} do {missing}; echo last >&2; }} 2> {file}"]);
            Expect.ExitCode(result, 0, "sh");
            Assert.Equal($"first\nrunsc: {missing}: No such file or directory\nlast\n", File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void StraceOnStderr_IsAppendedAtTheSharedOffset()
    {
        // The --strace log, the guest's own stderr and the parent's writes share one file
        // description: nothing overwrites anything.
        string file = Path.Combine(Path.GetTempPath(), $"runsc-strace-{Guid.NewGuid():N}");
        try
        {
            string runsc = string.Join(' ', Repo.RunscCommand);
            var result = Runner.Run("/bin/sh", ["-c",
                $"{{ echo first >&2; {runsc} do --strace {Repo.Busybox} sh -c 'echo guest-line >&2'; echo last >&2; }} 2> {file}"]);
            Expect.ExitCode(result, 0, "sh");
            var lines = File.ReadAllLines(file);
            string all = string.Join('\n', lines);
            Assert.True(lines.Length > 3 && lines[0] == "first" && lines[^1] == "last", all);
            Assert.True(lines.Contains("guest-line"), all);
            Assert.True(lines.Any(l => l.Contains("\"guest-line\\n\", 11) = 11", StringComparison.Ordinal)), all);
            Assert.True(lines.Any(l => l.Contains("exit_group(0)", StringComparison.Ordinal)), all);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
