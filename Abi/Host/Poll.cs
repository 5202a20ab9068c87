using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Waiting on host descriptors: poll(2), and eventfd(2) to wake such a wait.</summary>
public static unsafe partial class HostPoll
{
    public const short POLLIN = 0x1, POLLOUT = 0x4;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int Eventfd(uint initial, int flags);
}
