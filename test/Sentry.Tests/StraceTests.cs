using Sandbox.Abi;

namespace Sandbox.Sentry.Tests;

public sealed class StraceTests
{
    [Fact]
    public void ErrnoName_NamesKnownErrnos()
    {
        Assert.Equal("EFAULT", Strace.Strace.ErrnoName(14));
        Assert.Equal("ENOENT", Strace.Strace.ErrnoName(2));
        Assert.Equal("ENOSYS", Strace.Strace.ErrnoName((int)Errno.ENOSYS));
    }

    [Fact]
    public void ErrnoName_OfAnUnknownValue_IsNumeric()
    {
        Assert.Equal("errno 9999", Strace.Strace.ErrnoName(9999));
    }
}

public sealed class SocketNamesTests
{
    [Fact]
    public void Address_ShowsPathAbstractAndUnnamedSockets()
    {
        Assert.Equal("{sa_family=AF_UNIX, sun_path=\"/tmp/s\"}", Strace.SocketNames.Address([1, 0, (byte)'/', (byte)'t', (byte)'m', (byte)'p', (byte)'/', (byte)'s', 0]));
        Assert.Equal("{sa_family=AF_UNIX, sun_path=@\"ab\\x00\"}", Strace.SocketNames.Address([1, 0, 0, (byte)'a', (byte)'b', 0]));
        Assert.Equal("{sa_family=AF_UNIX}", Strace.SocketNames.Address([1, 0]));
        Assert.Equal("{sa_family=AF_INET}", Strace.SocketNames.Address([2, 0]));
    }

    [Fact]
    public void Flags_AreNamed()
    {
        Assert.Equal("SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC", Strace.SocketNames.Type(1 | 0x800 | 0x80000));
        Assert.Equal("SOCK_CLOEXEC", Strace.SocketNames.Type(0x80000));
        Assert.Equal("0", Strace.SocketNames.Type(0));
        Assert.Equal("MSG_PEEK|MSG_DONTWAIT", Strace.SocketNames.MsgFlags(0x42));
        Assert.Equal("MSG_NOSIGNAL|0x80000000", Strace.SocketNames.MsgFlags(unchecked((int)0x80004000)));
        Assert.Equal("0", Strace.SocketNames.MsgFlags(0));
        Assert.Equal("AF_UNIX", Strace.SocketNames.Family(1));
        Assert.Equal("SO_PASSCRED", Strace.SocketNames.Option(1, 16));
        Assert.Equal("16", Strace.SocketNames.Option(6, 16));
        Assert.Equal("SHUT_WR", Strace.SocketNames.Shutdown(1));
    }
}
