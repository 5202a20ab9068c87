using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Memory;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>Stacks: growth on a fault or a Sentry access below a grows-down mapping (within
/// the stack limit and the guard gap), mprotect(PROT_GROWSDOWN), placement that keeps the gap
/// free, the legacy bottom-up layout, and the signal frame's size.</summary>
public sealed unsafe class MemoryManagerStackTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong Base = 0x7f00_0000_0000;
    private const ulong Top = 0x7e00_0000_0000;  // a stack's top in these tests
    private const int Anon = MAP_PRIVATE | MAP_ANONYMOUS;
    private const int RW = PROT_READ | PROT_WRITE;
    private const ulong Gap = MemoryManager.StackGuardGap;

    private readonly MemoryFile _file = new(1L << 30);
    private readonly FakeAddressSpace _space = new();
    private readonly MemoryManager _mm;

    public MemoryManagerStackTests()
    {
        _mm = new MemoryManager(_space, _file, Max) { MmapBase = Base, StackLimit = 8 << 20 };
    }

    public void Dispose()
    {
        MmChecks.AssertConsistent(_mm, _space, _file);
        _mm.Dispose();
        _file.Dispose();
    }

    private static long Err(Errno e) => -(long)e;

    /// <summary>A 64 KiB stack ending at Top.</summary>
    private ulong Stack(ulong size = 64 << 10, int prot = RW)
    {
        ulong start = Top - size;
        Assert.Equal((long)start, _mm.Mmap(start, size, prot, Anon | MAP_FIXED | MAP_GROWSDOWN));
        Assert.True(_mm.Find(start)!.GrowsDown);
        return start;
    }

    private ulong Bottom => _mm.Vmas.Where(v => v.GrowsDown).Min(v => v.Start);

    [Fact]
    public void FaultBelowAStack_GrowsIt_WithZeroPages()
    {
        ulong s = Stack();
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(s - 10));
        Assert.True(Bottom <= s - P);
        Assert.Equal(0, _mm.CopyIn(s - P, new byte[P]));
        Assert.All(_mm.Vmas.Where(v => v.Start < s), v => Assert.True(v.GrowsDown && v.Prot == RW && v.Name == null));
        // Well below too, within the limit.
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(Top - (6 << 20)));
        Assert.True(Bottom <= Top - (6 << 20));
    }

    [Fact]
    public void Growth_StopsAtTheStackLimit_MeasuredFromTheTop()
    {
        Stack();
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(Top - (8 << 20) - 1));
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(Top - (8 << 20)));
        Assert.Equal(Top - (8 << 20), Bottom); // never past the limit, even with the slack
        _mm.StackLimit = 16 << 20; // setrlimit: more room from now on
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(Top - (12 << 20)));
        _mm.StackLimit = Rlimit.RLIM_INFINITY;
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(Top - (100 << 20)));
    }

    [Fact]
    public void Growth_KeepsTheGuardGap_FromAnAccessibleMappingBelow()
    {
        Stack();
        ulong below = Top - (4 << 20);
        _mm.Mmap(below - P, P, PROT_READ, Anon | MAP_FIXED);
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(below + Gap - 1));
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(below + Gap));
        Assert.Equal(below + Gap, Bottom);
        // PROT_NONE below needs no gap.
        _mm.Mprotect(below - P, P, PROT_NONE);
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(below));
        Assert.Equal(below, Bottom);
    }

    [Fact]
    public void Faults_ThatAreNotBelowAStack_AreTheGuests()
    {
        ulong s = Stack();
        ulong plain = 0x1000_0000;
        _mm.Mmap(plain, P, PROT_READ, Anon | MAP_FIXED);
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(plain - 1));   // below an ordinary mapping
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(plain));       // inside one (a protection fault)
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(s + 5));       // inside the stack
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(Top + P));     // above everything
    }

    [Fact]
    public void SentryAccessBelowAStack_GrowsIt_OnlyFromTheAddressSpacesOwnThreads()
    {
        ulong s = Stack();
        _space.Changeable = false; // another process's thread (/proc/pid/mem, a forked child's copy)
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(s - 100, new byte[8]));
        Assert.Equal(s, Bottom);
        _space.Changeable = true;
        Assert.Equal(0, _mm.CopyOut(s - 100, new byte[8]));
        Assert.True(Bottom < s);
    }

    [Fact]
    public void MprotectGrowsDown_ReachesTheBottomOfTheStack_AndLaterGrowth()
    {
        ulong s = Stack();
        _mm.HandleFault(s - (512 << 10));
        ulong bottom = Bottom;
        int rwx = RW | PROT_EXEC;
        Assert.Equal(0, _mm.Mprotect(Top - P, P, rwx | PROT_GROWSDOWN));
        Assert.All(_mm.Vmas.Where(v => v.GrowsDown && v.End <= Top), v => Assert.Equal(rwx, v.Prot));
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(bottom - (2 << 20)));
        Assert.Equal(rwx, _mm.Find(bottom - (2 << 20))!.Prot);
        Assert.Equal(rwx, _space.Pages[bottom - (2 << 20)].Prot);
    }

    [Fact]
    public void MprotectGrowsDown_Errors()
    {
        Stack();
        ulong plain = 0x1000_0000;
        _mm.Mmap(plain, 4 * P, RW, Anon | MAP_FIXED);
        Assert.Equal(Err(Errno.EINVAL), _mm.Mprotect(plain + P, P, PROT_READ | PROT_GROWSDOWN));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mprotect(plain + P, P, PROT_READ | PROT_GROWSUP));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mprotect(plain, P, PROT_READ | PROT_GROWSUP | PROT_GROWSDOWN));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mprotect(plain - 2 * P, P, PROT_READ | PROT_GROWSDOWN)); // nothing there
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mprotect(plain - 2 * P, P, PROT_READ | PROT_GROWSUP));
        Assert.All(_mm.Vmas.Where(v => v.Start >= plain && v.End <= plain + 4 * P), v => Assert.Equal(RW, v.Prot));
    }

    [Fact]
    public void Mmap_KeepsTheGuardGapBelowAStackFree()
    {
        _mm.MmapBase = Top;
        ulong s = Stack();
        long r = _mm.Mmap(0, P, RW, Anon);
        Assert.Equal((long)(s - Gap - P), r); // top-down, but not in the gap
        long hinted = _mm.Mmap(s - 2 * P, P, RW, Anon);
        Assert.NotEqual((long)(s - 2 * P), hinted); // a hint in the gap is not taken
        Assert.True((ulong)hinted + P <= s - Gap);
        // MAP_FIXED may still go there.
        Assert.Equal((long)(s - 2 * P), _mm.Mmap(s - 2 * P, P, RW, Anon | MAP_FIXED));
    }

    [Fact]
    public void BottomUpLayout_PlacesUpwardsFromMmapBase()
    {
        _mm.BottomUp = true;
        _mm.MmapBase = 0x2000_0000;
        Assert.Equal(0x2000_0000L, _mm.Mmap(0, 2 * P, RW, Anon));
        Assert.Equal(0x2000_0000L + 2 * (long)P, _mm.Mmap(0, P, RW, Anon));
        _mm.Munmap(0x2000_0000, P);
        Assert.Equal(0x2000_0000L, _mm.Mmap(0, P, RW, Anon)); // the lowest gap that fits
        Assert.Equal(0x2000_0000L + 3 * (long)P, _mm.Mmap(0, 2 * P, RW, Anon));
    }

    [Fact]
    public void SharedGrowsDown_IsEInval()
    {
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN));
    }

    [Fact]
    public void ForkCopy_KeepsTheStackGrowable_AndTheLimit()
    {
        ulong s = Stack();
        _mm.StackLimit = 1 << 20;
        var child = _mm.ForkCopy();
        var childSpace = new FakeAddressSpace();
        child.Install(childSpace);
        try
        {
            Assert.Equal(1UL << 20, child.StackLimit);
            Assert.Equal(FaultResult.Retry, child.HandleFault(s - 1));
            Assert.Equal(FaultResult.Unhandled, child.HandleFault(Top - (1 << 20) - 1));
            Assert.Equal(s, Bottom); // the parent's stack did not grow
        }
        finally
        {
            child.Dispose();
        }
    }

    [Fact]
    public void SignalFrame_FitsInMinStackSize_AtEveryAlignment()
    {
        foreach (int xsave in new[] { 512 + 64, 832, 2432, 2688, 11008 })
        {
            int image = xsave + 4;
            for (ulong top = 0x7000_0000; top < 0x7000_0000 + 128; top++)
            {
                var (frame, fp) = SignalFrame.Place(top, image);
                Assert.True(fp + (ulong)image <= top, "the FPU state stays below the top");
                Assert.True(frame + (ulong)SignalFrame.FrameSize <= fp, "the frame stays below the FPU state");
                Assert.True(top - frame <= (ulong)SignalFrame.MaxFrameBytes(xsave), $"xsave {xsave} top {top:x}: {top - frame} bytes");
            }
        }
        Assert.True(SignalFrame.MinStackSize >= 2048 && SignalFrame.MinStackSize % 16 == 0);
    }
}
