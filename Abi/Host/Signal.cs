using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Sending host signals to specific threads.</summary>
public static partial class HostSignal
{
    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    public static partial int Tgkill(int tgid, int tid, int sig);
}
