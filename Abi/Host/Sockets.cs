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

    // ---- descriptor passing (SCM_RIGHTS), for the Gofer's host-fd donation ----

    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000, MSG_CTRUNC = 0x8;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr: length (of header and data), level, type; data follows.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    /// <summary>Room for the control message of up to <paramref name="fds"/> descriptors.</summary>
    public static int ControlSpace(int fds) => sizeof(CmsgHeader) + ((fds * sizeof(int) + 7) & ~7);

    /// <summary>send() of <paramref name="len"/> bytes with <paramref name="passFd"/> attached as
    /// SCM_RIGHTS (the receiver gets its own descriptor for the same open file).</summary>
    public static nint SendWithFd(int fd, byte* buf, nuint len, int passFd, int flags)
    {
        byte* control = stackalloc byte[ControlSpace(1)];
        var header = (CmsgHeader*)control;
        header->Length = (nuint)(sizeof(CmsgHeader) + sizeof(int));
        header->Level = SOL_SOCKET;
        header->Type = SCM_RIGHTS;
        *(int*)(control + sizeof(CmsgHeader)) = passFd;
        var iov = new IoVec { Base = buf, Length = len };
        var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)ControlSpace(1) };
        return SendMsg(fd, &msg, flags);
    }

    /// <summary>recv() that also collects descriptors sent with the data (close-on-exec) into
    /// <paramref name="received"/>.</summary>
    public static nint RecvWithFds(int fd, byte* buf, nuint len, int flags, List<int> received)
    {
        const int MaxFds = 8;
        byte* control = stackalloc byte[ControlSpace(MaxFds)];
        var iov = new IoVec { Base = buf, Length = len };
        var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)ControlSpace(MaxFds) };
        nint n = RecvMsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
        if (n < 0 || msg.ControlLength < (nuint)sizeof(CmsgHeader)) return n;
        byte* at = control, end = control + msg.ControlLength;
        while (at + sizeof(CmsgHeader) <= end)
        {
            var header = (CmsgHeader*)at;
            if (header->Length < (nuint)sizeof(CmsgHeader) || at + header->Length > end) break;
            if (header->Level == SOL_SOCKET && header->Type == SCM_RIGHTS)
            {
                int count = (int)((header->Length - (nuint)sizeof(CmsgHeader)) / sizeof(int));
                for (int i = 0; i < count; i++) received.Add(((int*)(at + sizeof(CmsgHeader)))[i]);
            }
            at += (header->Length + 7) & ~(nuint)7;
        }
        return n;
    }
}
