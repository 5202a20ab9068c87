using System.CommandLine;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.Confinement;

namespace Sandbox.Runsc;

/// <summary>`runsc gofer --root DIR --fd N [--read-only] [--bind SRC:DST[:ro]]...`: confines
/// itself to DIR (private mount namespace, pivot_root, capabilities, seccomp) and serves
/// 9P2000.L on the connected socket N until the peer closes it. `--print-seccomp` prints the
/// seccomp program and exits. The process re-executes itself once to confine every runtime
/// thread (see <see cref="GoferSandbox"/>).</summary>
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

    public static Command Create()
    {
        var command = new Command("gofer", "Serve a directory tree over 9P from a confined process (started by runsc itself)");
        command.Options.Add(RootOption);
        command.Options.Add(FdOption);
        command.Options.Add(ReadOnlyOption);
        command.Options.Add(BindOption);
        command.Options.Add(PrintSeccompOption);
        command.Options.Add(SelfTestOption);
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parse)
    {
        // Console streams write(2) through the shared file offset (a FileStream on fd 1 would pwrite at its own).
        var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
        var stderr = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true };
        int Error(string message)
        {
            stderr.WriteLine($"runsc gofer: {message}");
            return 1;
        }

        if (parse.GetValue(PrintSeccompOption))
        {
            foreach (string line in SeccompFilter.Dump(SeccompFilter.Compile(GoferSeccompPolicy.Create(Environment.ProcessId))))
            {
                stdout.WriteLine(line);
            }
            return 0;
        }

        string? root = parse.GetValue(RootOption);
        int? fd = parse.GetValue(FdOption);
        bool readOnly = parse.GetValue(ReadOnlyOption);
        bool selfTest = parse.GetValue(SelfTestOption);
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
            binds = [.. (parse.GetValue(BindOption) ?? []).Select(BindMount.Parse)];
        }
        catch (FormatException e)
        {
            return Error(e.Message);
        }

        try
        {
            int rootFd = GoferSandbox.Confine(new GoferSandboxSpec(root, binds, readOnly) { KeepFds = fd is int keep ? [keep] : [] });
            SeccompFilter.Install(SeccompFilter.Compile(GoferSeccompPolicy.Create(Environment.ProcessId)));
            if (selfTest) return ConfinementSelfTest.Run(rootFd, readOnly, stdout);
            GoferServe.Serve(rootFd, readOnly, fd!.Value);
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
}
