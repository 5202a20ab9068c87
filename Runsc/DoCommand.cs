using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Abi;
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

    private static readonly Option<string?> DebugLogOption = new("--debug-log")
    {
        Description = "Append the Sentry's log (and --strace output) to this file",
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
        CustomParser = r => ParseId(r, "--uid"),
    };

    private static readonly Option<uint?> GidOption = new("--gid")
    {
        Description = "Run the program as this group id (default: the caller's)",
        CustomParser = r => ParseId(r, "--gid"),
    };

    private static readonly Argument<string[]> CommandArgument = new("command")
    {
        Description = "The program to run and its arguments",
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Options of `do` that take a value (needed to find where the guest's command starts).</summary>
    private static readonly HashSet<string> ValueOptions = ["--debug-log", "--platform", "--root", "--uid", "--gid"];

    /// <summary>Options of `do` that take no value (System.CommandLine also accepts NAME=true|false).</summary>
    private static readonly HashSet<string> FlagOptions = ["--strace", "-h", "--help", "-?"];

    /// <summary>The exit status for misuse of runsc itself (unknown option, bad value), as for
    /// a shell builtin.</summary>
    public const int UsageExitCode = 2;

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
        var (i, _) = ScanOptions(args);
        if (i < 0 || i >= args.Length || args[i - 1] == "--") return args;
        return [.. args[..i], "--", .. args[i..]];
    }

    /// <summary>Misuse of `do`'s own options that System.CommandLine would not report (it
    /// takes an unknown option for the guest's command): a message, or null.</summary>
    public static string? UsageError(string[] args) => ScanOptions(args).Error;

    /// <summary>Walks `do [options] COMMAND...`: where the guest's command starts (-1 for no
    /// `do`, args.Length for none) and the first misused option before it.</summary>
    private static (int Command, string? Error) ScanOptions(string[] args)
    {
        int i = Array.IndexOf(args, "do");
        if (i < 0) return (-1, null);
        for (i++; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return (i + 1, null);
            if (!a.StartsWith('-') || a == "-") return (i, null);
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            string name = eq < 0 ? a : a[..eq];
            if (ValueOptions.Contains(name))
            {
                if (eq < 0 ? ++i >= args.Length : eq == a.Length - 1) return (args.Length, $"option {name} needs a value");
            }
            else if (FlagOptions.Contains(name))
            {
                if (eq >= 0 && !bool.TryParse(a[(eq + 1)..], out _))
                    return (args.Length, $"option {name} takes no value, got '{a[(eq + 1)..]}'");
            }
            else
            {
                return (args.Length, $"unknown option {name} (see 'runsc do --help')");
            }
        }
        return (i, "no program to run (see 'runsc do --help')");
    }

    /// <summary>Parses a --uid/--gid value: a decimal id, not (uid_t)-1.</summary>
    private static uint? ParseId(ArgumentResult result, string option)
    {
        string value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (value.Length == 0 || !value.All(char.IsAsciiDigit))
        {
            result.AddError($"{option} '{value}': not a number");
            return null;
        }
        if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) || id == uint.MaxValue)
        {
            result.AddError($"{option} {value}: out of range (0-{uint.MaxValue - 1})");
            return null;
        }
        return id;
    }

    private static int Run(ParseResult parse)
    {
        using var early = EarlyGofer;
        EarlyGofer = null;
        string[] command = parse.GetValue(CommandArgument)!;
        TextWriter stderr = AppendingStream.Stderr;
        TextWriter? log = null;
        // Every message goes to stderr (through the shared offset) and to the debug log.
        int Fail(int exitCode, string message)
        {
            stderr.WriteLine($"runsc: {message}");
            if (log != null && log != stderr) log.WriteLine($"runsc: {message}");
            return exitCode;
        }

        string? debugLog = parse.GetValue(DebugLogOption);
        bool strace = parse.GetValue(StraceOption);
        if (debugLog != null)
        {
            if (AppendingStream.OpenForAppend(debugLog, out int errno) is not { } stream)
                return Fail(UsageExitCode, $"--debug-log {debugLog}: {Strerror(errno)}");
            log = TextWriter.Synchronized(new StreamWriter(stream, new UTF8Encoding(false), 16384) { AutoFlush = true });
        }
        else if (strace)
        {
            log = stderr;
        }
        try
        {
            return Run(parse, command, early, log, Fail);
        }
        finally
        {
            if (log != stderr) log?.Dispose();
        }
    }

    private static int Run(ParseResult parse, string[] command, Gofer? early, TextWriter? log, Func<int, string, int> fail)
    {
        // What the confined Sentry could no longer load from disk is loaded while the Gofer starts.
        var preload = System.Threading.Tasks.Task.Run(SentryConfinement.LoadAssemblies);
        string platformName = parse.GetValue(PlatformOption)!;
        if (platformName != "ptrace") return fail(UsageExitCode, $"unknown --platform '{platformName}' (supported: ptrace)");

        string root = parse.GetValue(RootOption)!;
        string rootDir = Path.GetFullPath(root);
        if (!Directory.Exists(rootDir))
            return fail(UsageExitCode, $"--root {root}: {(File.Exists(rootDir) ? "Not a directory" : "No such file or directory")}");

        string? executable = ResolveExecutable(command[0], rootDir);
        if (executable == null) return fail(127, $"{command[0]}: command not found");

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
            return fail(128, $"cannot start the gofer: {e.Message}");
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
            Strace = parse.GetValue(StraceOption),
            Log = log,
        };
        try
        {
            using var platform = new PtracePlatform();
            preload.Wait();
            string confined = SentryConfinement.Enter(platform);
            log?.WriteLine($"runsc: {confined}");
            ExitStatus status = SandboxRunner.Run(config, platform);
            return status.ShellStatus;
        }
        catch (ExecFailedException e)
        {
            // What a shell says and returns when execve fails: 127 for a file that is not
            // there, 126 for one that is but cannot be executed.
            string reason = e.Reason ?? Strerror((int)e.Errno);
            return e.Errno switch
            {
                Errno.ENOENT => fail(127, e.Reason == null ? $"{e.Path}: {reason}" : $"{e.Path}: cannot execute: {reason}"),
                Errno.EACCES => fail(126, $"{e.Path}: {reason}"),
                _ => fail(126, $"{e.Path}: cannot execute: {reason}"),
            };
        }
        catch (ElfFormatException e)
        {
            return fail(126, $"{executable}: cannot execute: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return fail(126, $"{executable}: cannot read: {e.Message}");
        }
        catch (Sandbox.Gofer.Confinement.ConfinementException e)
        {
            return fail(128, e.Message);
        }
        catch (SandboxException e)
        {
            // The details (a stack trace) go to a debug log file only, never to stderr.
            if (log != null && log != AppendingStream.Stderr && e.InnerException != null) log.WriteLine(e.InnerException.ToString());
            return fail(128, e.Message);
        }
    }

    /// <summary>The C library's text for an errno ("Permission denied"), as a shell prints it.</summary>
    public static string Strerror(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The path execve gets, as execvp would pass it: a name with a slash as given
    /// (the sandbox's execve then says what is wrong with it); a name without one looked up
    /// in PATH inside the root the sandbox will see, preferring an executable file (a file
    /// that is not executable is still found, and execve then says EACCES, as bash does).
    /// Null if nothing by that name is there.</summary>
    private static string? ResolveExecutable(string name, string rootDir)
    {
        if (name.Contains('/')) return name;
        if (name.Length == 0) return null;
        string cwd = Directory.GetCurrentDirectory();
        string? notExecutable = null;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            // An empty entry is the working directory; the path stays relative, as execvp makes it.
            string candidate = dir.Length == 0 ? name : Path.Join(dir, name);
            string host = Path.Join(rootDir, Path.GetFullPath(candidate, cwd));
            if (!File.Exists(host)) continue;
            if ((new FileInfo(host).UnixFileMode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
                return candidate;
            notExecutable ??= candidate;
        }
        return notExecutable;
    }
}
