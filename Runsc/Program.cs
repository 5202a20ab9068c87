using System.CommandLine;
using Sandbox.Runsc;

// runsc: the command-line front end. `runsc do CMD` runs one program sandboxed; the OCI
// subcommands (create/start/run/...) arrive with the OCI issue.
var root = new RootCommand("runsc: an application kernel that runs untrusted Linux programs");
root.Subcommands.Add(DoCommand.Create());
root.Subcommands.Add(GoferCommand.Create());
return root.Parse(DoCommand.SeparateGuestCommand(args)).Invoke();
