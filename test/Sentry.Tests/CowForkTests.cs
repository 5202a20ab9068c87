using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>Copy-on-write fork: pages shared after fork are installed read-only on both sides,
/// a write (the guest's fault, or the Sentry's own copy-out) copies them or takes them over once
/// the other side let go, and every page goes back to the MemoryFile with its last reference.</summary>
public sealed unsafe class CowForkTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong Base = 0x7f00_0000_0000;
    private const ulong A = 0x1000_0000;
    private const int Pages = 64; // more data than fork copies eagerly
    private const int RW = PROT_READ | PROT_WRITE;

    private readonly MemoryFile _file = new(64L << 20);
    private readonly FakeAddressSpace _space = new();
    private readonly MemoryManager _mm;

    public CowForkTests()
    {
        _mm = new MemoryManager(_space, _file, Max) { MmapBase = Base };
        Assert.Equal((long)A, _mm.Mmap(A, Pages * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED));
        for (int i = 0; i < Pages; i++) Fill(_mm, A + (ulong)i * P, P, (byte)(i + 1));
    }

    public void Dispose()
    {
        _mm.Dispose();
        Assert.Equal(0, _file.Allocated); // every page came back
        _file.Dispose();
    }

    private static void Fill(MemoryManager mm, ulong addr, ulong len, byte value)
    {
        var buf = new byte[len];
        Array.Fill(buf, value);
        Assert.Equal(0, mm.CopyOut(addr, buf));
    }

    private static byte Read(MemoryManager mm, ulong addr)
    {
        var b = new byte[1];
        Assert.Equal(0, mm.CopyIn(addr, b));
        return b[0];
    }

    private (MemoryManager Child, FakeAddressSpace Space) Fork(MemoryManager? parent = null)
    {
        var child = (parent ?? _mm).ForkCopy();
        var space = new FakeAddressSpace();
        child.Install(space);
        return (child, space);
    }

    private static void Consistent(MemoryManager mm, FakeAddressSpace space, MemoryFile file)
    {
        string? broken = MmChecks.Violation(mm, space, file, accounting: false);
        Assert.True(broken == null, broken + "\nVMAs:\n" + string.Join("\n", mm.Vmas));
    }

    [Fact]
    public void Fork_SharesThePages_ReadOnlyOnBothSides()
    {
        long before = _file.Allocated;
        var (child, space) = Fork();
        Assert.Equal(before, _file.Allocated); // nothing copied
        for (ulong a = A; a < A + Pages * P; a += P)
        {
            Assert.Equal(_space.Pages[a].Offset, space.Pages[a].Offset);
            Assert.Equal(PROT_READ, _space.Pages[a].Prot);
            Assert.Equal(PROT_READ, space.Pages[a].Prot);
        }
        Consistent(_mm, _space, _file);
        Consistent(child, space, _file);
        child.Dispose();
    }

    [Fact]
    public void GuestWrites_OnEitherSide_CopyAndStayPrivate()
    {
        var (child, space) = Fork();
        // The child's write fault: a copy of the run around it, installed writable.
        Assert.Equal(FaultResult.Retry, child.HandleFault(A + 5 * P + 8));
        Assert.NotEqual(_space.Pages[A + 5 * P].Offset, space.Pages[A + 5 * P].Offset);
        Assert.Equal(RW, space.Pages[A + 5 * P].Prot);
        Fill(child, A + 5 * P, P, 0xCC);
        Assert.Equal(6, Read(_mm, A + 5 * P));
        // The parent's write to the same page: its own copy too (the child's is not the old one).
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(A + 5 * P));
        Fill(_mm, A + 5 * P, P, 0xAA);
        Assert.Equal(0xCC, Read(child, A + 5 * P));
        Assert.Equal(0xAA, Read(_mm, A + 5 * P));
        // A page neither wrote is still the same on both sides.
        Assert.Equal(_space.Pages[A + 40 * P].Offset, space.Pages[A + 40 * P].Offset);
        Consistent(_mm, _space, _file);
        Consistent(child, space, _file);
        child.Dispose();
        Consistent(_mm, _space, _file);
    }

    [Fact]
    public void SentryCopyOut_IntoASharedPage_CopiesIt_TheOtherSideKeepsItsData()
    {
        var (child, space) = Fork();
        Fill(child, A + 10 * P - 2, 4, 0x55); // across a page boundary, like a read() would
        Assert.Equal(10, Read(_mm, A + 10 * P - 1));
        Assert.Equal(11, Read(_mm, A + 10 * P));
        Assert.Equal(0x55, Read(child, A + 10 * P - 1));
        Assert.Equal(0x55, Read(child, A + 10 * P + 1));
        Assert.NotEqual(_space.Pages[A + 10 * P].Offset, space.Pages[A + 10 * P].Offset);
        Consistent(child, space, _file);
        child.Dispose();
    }

    [Fact]
    public void AfterTheChildExits_TheParentTakesItsPagesOverInPlace()
    {
        var (child, _) = Fork();
        long offset = _space.Pages[A].Offset;
        child.Dispose();
        long allocated = _file.Allocated;
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(A + 3 * P));
        // No copy: the same pages, all of the mapping writable again with one change.
        Assert.Equal(allocated, _file.Allocated);
        Assert.Equal(offset, _space.Pages[A].Offset);
        Assert.All(Enumerable.Range(0, Pages), i => Assert.Equal(RW, _space.Pages[A + (ulong)i * P].Prot));
        Assert.Single(_mm.Vmas);
        Assert.False(_mm.Vmas[0].Cow);
        Consistent(_mm, _space, _file);
    }

    [Fact]
    public void ARunOfWrites_StaysOnePiece()
    {
        var (child, space) = Fork();
        // Each fault copies a run of pages; the runs join up in the MemoryFile.
        int installed = space.Calls.Count;
        for (ulong a = A; a < A + Pages * P; a += P)
            if (child.Find(a)!.Cow) Assert.Equal(FaultResult.Retry, child.HandleFault(a));
        Assert.Equal(Pages / 16, space.Calls.Skip(installed).Count(c => c.Op == "map"));
        Assert.Single(child.Vmas);
        Assert.False(child.Vmas[0].Cow);
        Consistent(child, space, _file);
        child.Dispose();
    }

    [Fact]
    public void AForeignThreadsWrite_IsInstalledByTheAddressSpacesOwnThread_AndTheOldPagesKeptTillThen()
    {
        var (child, space) = Fork();
        long shared = space.Pages[A].Offset;
        int interrupts = 0;
        child.InterruptUsers = _ => interrupts++;
        space.Changeable = false; // e.g. CLONE_CHILD_SETTID from the parent's thread
        Fill(child, A, 8, 0x77);
        Assert.Equal(1, interrupts);
        Assert.Equal(shared, space.Pages[A].Offset); // the stub still has the shared page, read-only
        Assert.Equal(PROT_READ, space.Pages[A].Prot);
        _mm.Dispose(); // the parent lets go: the child's reference keeps the old page for its stub
        space.Changeable = true;
        child.ApplyPendingPlatformWork();
        Assert.NotEqual(shared, space.Pages[A].Offset);
        Assert.Equal(0x77, Read(child, A));
        Assert.Equal(1, Read(child, A + 8));
        Consistent(child, space, _file);
        child.Dispose();
    }

    [Fact]
    public void MadviseDontNeed_Munmap_Mprotect_InTheChild_LeaveTheParentsPages()
    {
        var (child, space) = Fork();
        Assert.Equal(0, child.Madvise(A, 4 * P, MADV_DONTNEED));
        Assert.Equal(0, Read(child, A));
        Assert.Equal(1, Read(_mm, A));
        Assert.Equal(0, child.Munmap(A + 8 * P, 8 * P));
        Assert.Equal(9, Read(_mm, A + 8 * P));
        Assert.Equal(0, child.Mprotect(A + 20 * P, 4 * P, PROT_NONE));
        Assert.Equal(0, child.Mprotect(A + 20 * P, 4 * P, RW));
        Assert.Equal(PROT_READ, space.Pages[A + 20 * P].Prot); // still shared: read-only installed
        Fill(child, A + 20 * P, P, 0x99);
        Assert.Equal(21, Read(_mm, A + 20 * P));
        Assert.Equal(0, _mm.Madvise(A + 30 * P, P, MADV_DONTNEED));
        Assert.Equal(31, Read(child, A + 30 * P));
        Consistent(_mm, _space, _file);
        Consistent(child, space, _file);
        child.Dispose();
    }

    [Fact]
    public void Grandchildren_AndAnyOrderOfExits_FreeEveryPage()
    {
        var (child, space) = Fork();
        Fill(child, A, 4 * P, 0x22);
        var (grandchild, gspace) = Fork(child);
        Assert.Equal(0x22, Read(grandchild, A));
        Assert.Equal(5, Read(grandchild, A + 4 * P));
        Fill(grandchild, A + 4 * P, P, 0x33);
        Assert.Equal(5, Read(child, A + 4 * P));
        Assert.Equal(5, Read(_mm, A + 4 * P));
        child.Dispose(); // the middle one first
        Assert.Equal(0x22, Read(grandchild, A));
        Assert.Equal(1, Read(_mm, A));
        Consistent(grandchild, gspace, _file);
        grandchild.Dispose();
        _ = space;
    }

    [Fact]
    public void PageRefs_FreeAPageWithItsLastReference()
    {
        using var file = new MemoryFile(64L << 20);
        var refs = PageRefs.For(file);
        long at = file.Allocate(8 * (long)P);
        refs.AddRef(at + 2 * (long)P, 4 * (long)P); // pages 2..5 shared by two
        Assert.Equal(4, refs.SharedPages);
        Assert.True(refs.IsShared(at + 3 * (long)P));
        Assert.False(refs.IsShared(at + 6 * (long)P));
        Assert.Equal(2 * (long)P, refs.ExclusiveAbove(at, 8 * (long)P));
        Assert.Equal(2 * (long)P, refs.ExclusiveBelow(at + 8 * (long)P, 8 * (long)P));
        refs.Release(at, 8 * (long)P); // the first holder: pages 0, 1, 6, 7 go
        Assert.Equal(4 * (long)P, file.Allocated);
        Assert.Equal(0, refs.SharedPages);
        refs.Release(at + 2 * (long)P, 4 * (long)P); // the second: the rest
        Assert.Equal(0, file.Allocated);
    }

    [Fact]
    public void FutexKeys_OfPrivateMemory_DoNotMoveWhenAPageIsCopied()
    {
        Assert.True(_mm.TryFileOffset(A + 4, out long before));
        var (child, _) = Fork();
        Fill(_mm, A, 8, 0x10); // the parent's copy-on-write moves the page
        Assert.True(_mm.TryFileOffset(A + 4, out long after));
        Assert.Equal(before, after);
        Assert.True(child.TryFileOffset(A + 4, out long childKey));
        Assert.NotEqual(before, childKey); // another process's private word
        child.Dispose();
    }
}
