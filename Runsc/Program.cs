using System.CommandLine;
using System.CommandLine.Invocation;
using Sandbox.Runsc;

// runsc: the command-line front end. `runsc do CMD` runs one program sandboxed; the OCI
// subcommands (create/start/run/...) arrive with the OCI issue.
// The gofer runsc starts for itself takes the plain path (no System.CommandLine).
if (GoferCommand.TryRunPlain(args) is int goferStatus) return goferStatus;
// The Gofer's start-up is on the critical path of `runsc do`: begin it now.
DoCommand.EarlyGofer = Gofer.StartEarly(args);
var root = new RootCommand("runsc: an application kernel that runs untrusted Linux programs");
root.Subcommands.Add(DoCommand.Create());
root.Subcommands.Add(GoferCommand.Create());
ParseResult parse = root.Parse(DoCommand.SeparateGuestCommand(args));

// Misuse is one line on stderr and exit status 2; never a usage dump, never a stack trace.
if (parse.Action is not System.CommandLine.Help.HelpAction)
{
    string? usage = DoCommand.UsageError(args)
        ?? (parse.UnmatchedTokens.Count > 0 ? $"unknown command or argument '{parse.UnmatchedTokens[0]}' (see 'runsc --help')" : null)
        ?? (parse.Errors.Count > 0 ? parse.Errors[0].Message : null);
    if (usage != null)
    {
        DoCommand.EarlyGofer?.Dispose();
        AppendingStream.Stderr.WriteLine($"runsc: {usage.Split('\n')[0].TrimEnd()}");
        return DoCommand.UsageExitCode;
    }
}
try
{
    return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    AppendingStream.Stderr.WriteLine($"runsc: internal error: {e.Message.Split('\n')[0].TrimEnd()}");
    return 128;
}
finally
{
    // Nothing of the sandbox outlives runsc, not even a zombie for its new parent to reap.
    HostProcess.ReapRemainingChildren();
}
