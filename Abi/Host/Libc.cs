using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Thrown by host-call wrappers when the host kernel refuses something the Sentry
/// itself needed (never for guest errors, which are errnos).</summary>
public sealed class HostException(string call, int errno)
    : Exception($"{call}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
{
    public int Errno { get; } = errno;
}

/// <summary>Helpers shared by the host import classes.</summary>
public static class HostError
{
    public static int Last => Marshal.GetLastPInvokeError();

    public static long Check(long result, string call) =>
        result < 0 ? throw new HostException(call, Last) : result;

    public static int Check(int result, string call) =>
        result < 0 ? throw new HostException(call, Last) : result;
}
