using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

#pragma warning disable CA1707 // names follow Linux

/// <summary>Host socket calls for the Sentry–Gofer channel (a connected AF_UNIX stream pair).</summary>
public static unsafe partial class Sockets
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public const int MSG_NOSIGNAL = 0x4000;

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buf, nuint len, int flags);
}
