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
