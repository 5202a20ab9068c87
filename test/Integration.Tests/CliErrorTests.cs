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
