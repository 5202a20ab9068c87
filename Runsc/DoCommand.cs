using System.CommandLine;
using Microsoft.Win32.SafeHandles;
using Sandbox.Abi.Host;
using Sandbox.Platform;
using Sandbox.Platform.Ptrace;
using Sandbox.Sentry;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Loader;

namespace Sandbox.Runsc;

/// <summary>`runsc do [flags] CMD [ARGS...]`: runs one program in a fresh sandbox and exits
/// with its status (128+N when killed by signal N, as a shell reports it).</summary>
public static class DoCommand
{
    private static readonly Option<bool> StraceOption = new("--strace")
    {
        Description = "Log every system call (name, decoded arguments, result) to the debug log, or stderr without one",
    };

    private static readonly Option<FileInfo?> DebugLogOption = new("--debug-log")
    {
        Description = "Write the Sentry's log (and --strace output) to this file",
    };

    private static readonly Option<string> PlatformOption = new("--platform")
    {
        Description = "How guest code runs: ptrace",
        DefaultValueFactory = _ => "ptrace",
    };

    private static readonly Option<string> RootOption = new("--root")
    {
        Description = "The directory served (read-only, with a writable tmpfs overlay) as the sandbox's root",
        DefaultValueFactory = _ => "/",
    };

    private static readonly Option<uint?> UidOption = new("--uid")
    {
        Description = "Run the program as this user id (default: the caller's)",
    };

    private static readonly Option<uint?> GidOption = new("--gid")
    {
        Description = "Run the program as this group id (default: the caller's)",
    };

    private static readonly Argument<string[]> CommandArgument = new("command")
    {
        Description = "The program to run and its arguments",
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Options of `do` that take a value (needed to find where the guest's command starts).</summary>
    private static readonly HashSet<string> ValueOptions = ["--debug-log", "--platform", "--root", "--uid", "--gid"];

    /// <summary>A Gofer started before the command line was parsed (see Program.cs).</summary>
    public static Gofer? EarlyGofer { get; set; }

    public static Command Create()
    {
        var command = new Command("do", "Run a program in a sandbox, with the host root read-only as its root");
        command.Options.Add(StraceOption);
        command.Options.Add(DebugLogOption);
        command.Options.Add(PlatformOption);
        command.Options.Add(RootOption);
        command.Options.Add(UidOption);
        command.Options.Add(GidOption);
        command.Arguments.Add(CommandArgument);
        command.SetAction(Run);
        return command;
    }

    /// <summary>Inserts "--" before the guest's command so that its own options (`ls -la`) are
    /// not taken for runsc's.</summary>
    public static string[] SeparateGuestCommand(string[] args)
    {
        int i = Array.IndexOf(args, "do");
        if (i < 0) return args;
        for (i++; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return args;
            if (!a.StartsWith('-')) break;
            if (ValueOptions.Contains(a)) i++;
        }
        if (i >= args.Length) return args;
        return [.. args[..i], "--", .. args[i..]];
    }

    private static int Run(ParseResult parse)
    {
        using var early = EarlyGofer;
        EarlyGofer = null;
        string[] command = parse.GetValue(CommandArgument)!;
        var stderr = new StreamWriter(new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write)) { AutoFlush = true };
        string platformName = parse.GetValue(PlatformOption)!;
        if (platformName != "ptrace")
        {
            stderr.WriteLine($"runsc: unknown --platform '{platformName}' (supported: ptrace)");
            return 2;
        }

        string rootDir = Path.GetFullPath(parse.GetValue(RootOption)!);
        if (!Directory.Exists(rootDir))
        {
            stderr.WriteLine($"runsc: --root {rootDir}: no such directory");
            return 2;
        }
        string? executable = ResolveExecutable(command[0], rootDir);
        if (executable == null)
        {
            stderr.WriteLine($"runsc: {command[0]}: command not found");
            return 127;
        }

        FileInfo? debugLog = parse.GetValue(DebugLogOption);
        bool strace = parse.GetValue(StraceOption);
        TextWriter? log = debugLog != null ? new StreamWriter(debugLog.FullName, append: true) : strace ? stderr : null;

        var env = Environment.GetEnvironmentVariables();
        var envp = new List<string>();
        foreach (System.Collections.DictionaryEntry e in env) envp.Add($"{e.Key}={e.Value}");

        Gofer gofer;
        try
        {
            gofer = early != null && early.RootDir == rootDir ? early : Gofer.Start(rootDir, envp);
        }
        catch (HostException e)
        {
            stderr.WriteLine($"runsc: cannot start the gofer: {e.Message}");
            return 128;
        }
        using var _ = gofer;
        var config = new SandboxConfig
        {
            GoferFd = gofer.SentryFd,
            WorkingDirectory = Directory.GetCurrentDirectory(),
            ExecutablePath = executable,
            Argv = command,
            Envp = envp,
            Hostname = Unistd.HostName(),
            Uid = parse.GetValue(UidOption) ?? Unistd.GetUid(),
            Gid = parse.GetValue(GidOption) ?? Unistd.GetGid(),
            Strace = strace,
            Log = log,
        };
        try
        {
            using IPlatform platform = new PtracePlatform();
            ExitStatus status = SandboxRunner.Run(config, platform);
            return status.ShellStatus;
        }
        catch (ElfFormatException e)
        {
            stderr.WriteLine($"runsc: cannot execute {executable}: {e.Message}");
            return 126;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"runsc: cannot read {executable}: {e.Message}");
            return 126;
        }
        catch (SandboxException e)
        {
            stderr.WriteLine($"runsc: {e.Message}");
            log?.WriteLine(e.InnerException?.ToString());
            return 128;
        }
        finally
        {
            if (log != stderr) log?.Dispose();
        }
    }

    /// <summary>A name without a slash is looked up in PATH, like execvp, inside the root
    /// the sandbox will see. Returns the path as the guest sees it.</summary>
    private static string? ResolveExecutable(string name, string rootDir)
    {
        string Host(string guestPath) => Path.Join(rootDir, guestPath);
        if (name.Contains('/'))
        {
            string guest = Path.IsPathRooted(name) ? name : Path.GetFullPath(name);
            return File.Exists(Host(guest)) ? guest : null;
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            string candidate = Path.Combine(dir.Length == 0 ? Directory.GetCurrentDirectory() : dir, name);
            if (File.Exists(Host(candidate))) return Path.GetFullPath(candidate);
        }
        return null;
    }
}
