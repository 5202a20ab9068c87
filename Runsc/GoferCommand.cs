using System.CommandLine;
using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.Confinement;

namespace Sandbox.Runsc;

/// <summary>`runsc gofer --root DIR --fd N [--read-only] [--bind SRC:DST[:ro]]...`: confines
/// itself to DIR (private mount namespace, pivot_root, capabilities, seccomp) and serves
/// 9P2000.L on the connected socket N until the peer closes it. `--print-seccomp` prints the
/// seccomp program and exits. The process re-executes itself once to confine every runtime
/// thread (see <see cref="GoferSandbox"/>); runsc itself starts it through a generated launcher
/// instead (<see cref="ConfinementLauncher"/>), already confined.</summary>
public static class GoferCommand
{
    private static readonly Option<string?> RootOption = new("--root")
    {
        Description = "The directory to serve (it becomes the root of the 9P tree)",
    };

    private static readonly Option<int?> FdOption = new("--fd")
    {
        Description = "A connected socket, inherited from the parent, to serve 9P on",
    };

    private static readonly Option<bool> ReadOnlyOption = new("--read-only")
    {
        Description = "Serve the tree read-only (mounted read-only inside the gofer)",
    };

    private static readonly Option<string[]> BindOption = new("--bind")
    {
        Description = "Bind-mount host path SRC at DST inside the root (SRC:DST[:ro|rw]); repeatable",
        Arity = ArgumentArity.ZeroOrMore,
    };

    private static readonly Option<bool> PrintSeccompOption = new("--print-seccomp")
    {
        Description = "Print the gofer's seccomp program, one instruction per line, and exit",
    };

    /// <summary>Diagnostics for the tests: confine, install the filter, probe it, exit.</summary>
    private static readonly Option<bool> SelfTestOption = new("--self-test-seccomp")
    {
        Description = "Confine to --root, install the seccomp filter, probe what it refuses and allows, and exit",
        Hidden = true,
    };

    /// <summary>Confine through the generated launcher, as `runsc do` starts its gofer, instead of re-executing.</summary>
    private static readonly Option<bool> LauncherOption = new("--launcher")
    {
        Description = "Confine through the generated launcher program (as runsc do starts the gofer) and wait for it",
        Hidden = true,
    };

    /// <summary>What a `runsc gofer` command line asks for.</summary>
    private sealed record Arguments(string? Root, int? Fd, bool ReadOnly, string[] Binds, bool PrintSeccomp, bool SelfTest, bool Launcher);

    public static Command Create()
    {
        var command = new Command("gofer", "Serve a directory tree over 9P from a confined process (started by runsc itself)");
        command.Options.Add(RootOption);
        command.Options.Add(FdOption);
        command.Options.Add(ReadOnlyOption);
        command.Options.Add(BindOption);
        command.Options.Add(PrintSeccompOption);
        command.Options.Add(SelfTestOption);
        command.Options.Add(LauncherOption);
        command.SetAction(parse => Run(new Arguments(parse.GetValue(RootOption), parse.GetValue(FdOption), parse.GetValue(ReadOnlyOption),
            parse.GetValue(BindOption) ?? [], parse.GetValue(PrintSeccompOption), parse.GetValue(SelfTestOption), parse.GetValue(LauncherOption))));
        return command;
    }

    /// <summary>Runs `runsc gofer ARGS` without System.CommandLine when ARGS are plain
    /// "--option value" pairs and flags of this command, as runsc itself passes them (parsing
    /// with System.CommandLine costs the gofer milliseconds of start-up on the critical path
    /// of `runsc do`). Returns null for anything else (help, errors, unusual spellings), which
    /// the full parser then handles.</summary>
    public static int? TryRunPlain(string[] args)
    {
        if (args.Length == 0 || args[0] != "gofer") return null;
        string? root = null;
        int? fd = null;
        bool readOnly = false, printSeccomp = false, selfTest = false, launcher = false;
        var binds = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--read-only": readOnly = true; break;
                case "--print-seccomp": printSeccomp = true; break;
                case "--self-test-seccomp": selfTest = true; break;
                case "--launcher": launcher = true; break;
                case "--root" when i + 1 < args.Length && root is null && !args[i + 1].StartsWith('-'): root = args[++i]; break;
                case "--bind" when i + 1 < args.Length && !args[i + 1].StartsWith('-'): binds.Add(args[++i]); break;
                case "--fd" when i + 1 < args.Length && fd is null
                    && int.TryParse(args[i + 1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n):
                    fd = n;
                    i++;
                    break;
                default: return null;
            }
        }
        return Run(new Arguments(root, fd, readOnly, [.. binds], printSeccomp, selfTest, launcher));
    }

    private static int Run(Arguments a)
    {
        // Console streams write(2) through the shared file offset (a FileStream on fd 1 would pwrite at its own).
        var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
        var stderr = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true };
        int Error(string message)
        {
            stderr.WriteLine($"runsc gofer: {message}");
            return 1;
        }

        if (a.PrintSeccomp)
        {
            foreach (string line in SeccompFilter.Dump(SeccompFilter.Compile(GoferSeccompPolicy.Create(Environment.ProcessId))))
            {
                stdout.WriteLine(line);
            }
            return 0;
        }

        string? root = a.Root;
        int? fd = a.Fd;
        bool readOnly = a.ReadOnly;
        bool selfTest = a.SelfTest;
        if (string.IsNullOrEmpty(root)) return Error("--root DIR is required");
        if (fd is null && !selfTest) return Error("--fd N is required");
        if (fd is < 0) return Error($"--fd {fd}: not a file descriptor number");
        if (fd is int n)
        {
            // It must survive the re-execution into the confinement.
            int flags = Unistd.Fcntl(n, Fcntl.F_GETFD, 0);
            if (flags < 0) return Error($"--fd {n}: not an open file descriptor");
            if ((flags & OpenFlags.FD_CLOEXEC) != 0 && Unistd.Fcntl(n, Fcntl.F_SETFD, flags & ~OpenFlags.FD_CLOEXEC) < 0)
            {
                return Error($"--fd {n}: cannot clear close-on-exec");
            }
        }

        List<BindMount> binds;
        try
        {
            binds = [.. a.Binds.Select(BindMount.Parse)];
        }
        catch (FormatException e)
        {
            return Error(e.Message);
        }

        try
        {
            var spec = new GoferSandboxSpec(root, binds, readOnly) { KeepFds = fd is int keep ? [keep] : [] };
            if (a.Launcher && !GoferSandbox.IsReexecuted) return RunThroughLauncher(spec);
            int rootFd = GoferSandbox.Confine(spec);
            SeccompFilter.Install(SeccompFilter.Compile(GoferSeccompPolicy.Create(Environment.ProcessId)));
            if (selfTest) return ConfinementSelfTest.Run(rootFd, readOnly, stdout);
            GoferServe.Serve(rootFd, readOnly, fd!.Value);
            // The peer is gone and every reply was written (file data goes straight to the
            // host with pwrite; stdout/stderr autoflush): leave at once, without the runtime's
            // orderly shutdown, which only adds milliseconds before the gofer's exit is seen.
            Unistd.Exit(0);
            return 0;
        }
        catch (ConfinementException e)
        {
            return Error(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotImplementedException)
        {
            return Error(e.Message);
        }
    }

    /// <summary>--launcher: the confined gofer is started the way `runsc do` starts it (the plan
    /// computed here, run by the generated launcher, which execs this command line without
    /// --launcher); this process waits for it and exits as it did.</summary>
    private static int RunThroughLauncher(GoferSandboxSpec spec)
    {
        string exe = Environment.ProcessPath ?? throw new ConfinementException("locating runsc");
        var argv = Encoding.UTF8.GetString(File.ReadAllBytes("/proc/self/cmdline")).Split('\0').ToList();
        if (argv.Count > 0 && argv[^1].Length == 0) argv.RemoveAt(argv.Count - 1);
        argv.Remove("--launcher");
        int pid = Gofer.StartConfined(spec, exe, argv, Gofer.CurrentEnvironment());
        int status = HostProcess.Wait(pid);
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }
}
