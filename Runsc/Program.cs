using System.CommandLine;
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
return root.Parse(DoCommand.SeparateGuestCommand(args)).Invoke();
