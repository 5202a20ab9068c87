using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Host clocks (glibc routes these through the host vDSO: no system call).</summary>
public static unsafe partial class Time
{
    [LibraryImport("libc", EntryPoint = "clock_gettime", SetLastError = true)]
    public static partial int ClockGetTime(int clock, Timespec* ts);

    [LibraryImport("libc", EntryPoint = "clock_getres", SetLastError = true)]
    public static partial int ClockGetRes(int clock, Timespec* ts);

    /// <summary>Returns 0 or an errno (not -1): clock_nanosleep reports errors directly.</summary>
    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    public static partial int ClockNanosleep(int clock, int flags, Timespec* request, Timespec* remain);
}
