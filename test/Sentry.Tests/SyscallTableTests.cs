using Sandbox.Abi;
using Sandbox.Sentry.Syscalls;

namespace Sandbox.Sentry.Tests;

public sealed class SyscallTableTests
{
    [Fact]
    public void EveryNumber_HasANamedEntry()
    {
        Assert.Equal(SyscallNumbers.Count, SyscallTable.All.Count);
        for (int nr = 0; nr < SyscallNumbers.Count; nr++)
        {
            SyscallEntry e = SyscallTable.Lookup(nr);
            Assert.Equal(nr, e.Number);
            Assert.False(string.IsNullOrWhiteSpace(e.Name), $"syscall {nr} has no name");
            Assert.Same(e, SyscallTable.All[nr]);
        }
    }

    [Fact]
    public void Names_AreTheSyscallNumberEnumNames()
    {
        for (int nr = 0; nr < SyscallNumbers.Count; nr++)
        {
            string expected = Enum.IsDefined((SyscallNumber)nr) ? ((SyscallNumber)nr).ToString() : $"syscall_{nr}";
            Assert.Equal(expected, SyscallTable.Lookup(nr).Name);
        }
        Assert.Equal("read", SyscallTable.Lookup(0).Name);
        Assert.Equal("exit_group", SyscallTable.Lookup(231).Name);
        Assert.Equal("open_tree_attr", SyscallTable.Lookup(SyscallNumbers.Count - 1).Name);
    }

    [Fact]
    public void EnumValues_AllFitInTheTable()
    {
        foreach (SyscallNumber n in Enum.GetValues<SyscallNumber>())
            Assert.InRange((int)n, 0, SyscallNumbers.Count - 1);
    }

    [Fact]
    public void UnknownNumbers_GetANameAndNoHandler()
    {
        foreach (long nr in new long[] { 1000, SyscallNumbers.Count, -1, long.MaxValue })
        {
            SyscallEntry e = SyscallTable.Lookup(nr);
            Assert.False(string.IsNullOrWhiteSpace(e.Name));
            Assert.Null(e.Handler);
        }
        Assert.Equal("syscall_1000", SyscallTable.Lookup(1000).Name);
    }

    [Theory]
    [InlineData(SyscallNumber.read)]
    [InlineData(SyscallNumber.write)]
    [InlineData(SyscallNumber.mmap)]
    [InlineData(SyscallNumber.munmap)]
    [InlineData(SyscallNumber.brk)]
    [InlineData(SyscallNumber.exit_group)]
    [InlineData(SyscallNumber.getpid)]
    public void ImplementedSyscalls_HaveHandlers(SyscallNumber nr)
    {
        Assert.NotNull(SyscallTable.Lookup((long)nr).Handler);
    }

    [Fact]
    public void ArgumentKinds_AreAtMostSix()
    {
        Assert.All(SyscallTable.All, e => Assert.InRange(e.Args.Length, 0, 6));
    }

    [Fact]
    public void Entries_WithHandlers_DescribeTheirArguments()
    {
        // --strace prints Args.Length arguments for implemented calls; calls that take
        // arguments should say how to print them.
        string[] noArgs = ["getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid", "sched_yield",
            "pause", "fork", "vfork", "setsid", "getpgrp", "sync", "munlockall", "vhangup", "inotify_init", "rt_sigreturn"];
        var missing = SyscallTable.All.Where(e => e.Handler != null && e.Args.Length == 0 && !noArgs.Contains(e.Name))
            .Select(e => e.Name).ToList();
        Assert.True(missing.Count == 0, "implemented syscalls with no argument description: " + string.Join(", ", missing));
    }
}
