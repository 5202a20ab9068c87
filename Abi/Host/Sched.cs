using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Host scheduling: CPU affinity and thread ids.</summary>
public static unsafe partial class Sched
{
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int SetAffinity(int pid, nuint size, ulong* mask);

    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static partial int GetAffinity(int pid, nuint size, ulong* mask);

    [LibraryImport("libc", EntryPoint = "sched_getcpu", SetLastError = true)]
    public static partial int GetCpu();

    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport("libc", EntryPoint = "getppid")]
    public static partial int GetPpid();

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();
}
