using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>What fork copies (MADV_DONTFORK, MADV_WIPEONFORK), mremap across mappings and of
/// shared mappings (old size 0 duplicates), and shared file mappings past the end of their
/// file (SIGBUS; filled in when the file grows; taken away when it shrinks).</summary>
public sealed unsafe class MemoryManagerSharedTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong Base = 0x7f00_0000_0000;
    private const ulong A = 0x1000_0000;
    private const int Anon = MAP_PRIVATE | MAP_ANONYMOUS;
    private const int SharedAnon = MAP_SHARED | MAP_ANONYMOUS;
    private const int RW = PROT_READ | PROT_WRITE;

    private readonly MemoryFile _file = new(64L << 20);
    private readonly FakeAddressSpace _space = new();
    private readonly MemoryManager _mm;

    public MemoryManagerSharedTests()
    {
        _mm = new MemoryManager(_space, _file, Max) { MmapBase = Base };
    }

    public void Dispose()
    {
        // File pages belong to the (fake) file, not to the mappings: no accounting here.
        string? broken = MmChecks.Violation(_mm, _space, _file, accounting: false);
        Assert.True(broken == null, broken + "\nVMAs:\n" + string.Join("\n", _mm.Vmas));
        _mm.Dispose();
        _file.Dispose();
    }

    private static long Err(Errno e) => -(long)e;

    private void Fill(ulong addr, ulong len, byte value)
    {
        var buf = new byte[len];
        Array.Fill(buf, value);
        Assert.Equal(0, _mm.CopyOut(addr, buf));
    }

    private byte Read(MemoryManager mm, ulong addr)
    {
        Assert.True(mm.TryTranslateKernel(addr, 1, out byte* p, out _), $"{addr:x} has no pages");
        return *p;
    }

    private (MemoryManager Child, FakeAddressSpace Space) Fork()
    {
        var child = _mm.ForkCopy();
        var space = new FakeAddressSpace();
        child.Install(space);
        return (child, space);
    }

    /// <summary>A file kept in MemoryFile pages, like a tmpfs file.</summary>
    private sealed class FakeFile(MemoryFile memory) : IMappablePages
    {
        private readonly Dictionary<long, long> _pages = [];

        public long Size { get; set; }

        public FileMappings Mappings { get; } = new();

        public long PinPage(long pageIndex)
        {
            if (!_pages.TryGetValue(pageIndex, out long off)) _pages[pageIndex] = off = memory.Allocate((long)P);
            return off;
        }

        public byte this[long offset] => memory.Slice(PinPage(offset / (long)P) + offset % (long)P, 1)[0];

        /// <summary>write(2) to the file: into its pages.</summary>
        public void Write(long offset, byte value) => memory.Slice(PinPage(offset / (long)P) + offset % (long)P, 1)[0] = value;

        public void Shrink(long size)
        {
            Size = size;
            Mappings.FileShrunk(this, size);
        }
    }

    private long MapFile(FakeFile f, ulong len, long offset = 0, ulong addr = 0, int flags = MAP_SHARED)
    {
        var inode = new PagesInode(f);
        return _mm.MmapFile(addr, len, RW, flags | (addr != 0 ? MAP_FIXED : 0), inode, offset, "/tmp/f");
    }

    /// <summary>Just enough of an inode to hand the fake file's pages to MmapFile.</summary>
    private sealed class PagesInode(FakeFile f) : Inode(new NullFs(), StatMode.S_IFREG | 0x1a4, 0, 0)
    {
        public override long Size => f.Size;
        public override IMappablePages? SharedPages => f;
        public override long Open(Sandbox.Sentry.Kernel.Task task, PathPos path, int flags, out FileDescription? file) =>
            throw new NotSupportedException();
    }

    private sealed class NullFs : FileSystem
    {
        public override string Type => "test";
        public override long Magic => 0;
        public override Inode Root => throw new NotSupportedException();
    }

    // ---- fork ---------------------------------------------------------------------------------

    [Fact]
    public void ForkCopy_LeavesOutDontFork_AndWipesWipeOnFork()
    {
        _mm.Mmap(A, 4 * P, RW, Anon | MAP_FIXED);
        for (ulong i = 0; i < 4; i++) Fill(A + i * P, P, (byte)(i + 1));
        Assert.Equal(0, _mm.Madvise(A + P, P, MADV_DONTFORK));
        Assert.Equal(0, _mm.Madvise(A + 2 * P, P, MADV_WIPEONFORK));
        var (child, space) = Fork();
        try
        {
            Assert.Null(child.Find(A + P));
            Assert.DoesNotContain(A + P, space.Pages.Keys);
            Assert.Equal(1, Read(child, A));
            Assert.Equal(0, Read(child, A + 2 * P));
            Assert.True(child.Find(A + 2 * P)!.WipeOnFork); // the child's children get zeros too
            Assert.Equal(4, Read(child, A + 3 * P));
            Assert.Equal(3, Read(_mm, A + 2 * P)); // the parent keeps its data
        }
        finally
        {
            child.Dispose();
        }
        Assert.Equal(0, _mm.Madvise(A, 4 * P, MADV_DOFORK));
        Assert.Equal(0, _mm.Madvise(A, 4 * P, MADV_KEEPONFORK));
        Assert.All(_mm.Vmas, v => Assert.False(v.DontFork || v.WipeOnFork));
    }

    [Fact]
    public void WipeOnFork_IsForPrivateAnonymousMemoryOnly()
    {
        long shared = _mm.Mmap(0, P, RW, SharedAnon);
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise((ulong)shared, P, MADV_WIPEONFORK));
        var f = new FakeFile(_file) { Size = (long)P };
        long file = MapFile(f, P, flags: MAP_SHARED);
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise((ulong)file, P, MADV_WIPEONFORK));
        Assert.Equal(0, _mm.Madvise((ulong)shared, P, MADV_DONTFORK));
        Assert.Equal(0, _mm.Madvise((ulong)file, P, MADV_DONTFORK));
        var (child, _) = Fork();
        try
        {
            Assert.Null(child.Find((ulong)shared));
            Assert.Null(child.Find((ulong)file));
        }
        finally
        {
            child.Dispose();
        }
    }

    [Fact]
    public void ForkAdvice_OverAHole_AppliesToTheMappedParts_AndIsENoMem()
    {
        _mm.Mmap(A, P, RW, Anon | MAP_FIXED);
        _mm.Mmap(A + 2 * P, P, RW, Anon | MAP_FIXED);
        Assert.Equal(Err(Errno.ENOMEM), _mm.Madvise(A, 3 * P, MADV_DONTFORK));
        Assert.True(_mm.Find(A)!.DontFork && _mm.Find(A + 2 * P)!.DontFork);
        Assert.Equal(0, _mm.Madvise(A, 0, MADV_WIPEONFORK));
    }

    // ---- mremap ---------------------------------------------------------------------------------

    [Fact]
    public void Mremap_ResizingAcrossTwoMappings_IsEFault_ShrinkingIsNot()
    {
        _mm.Mmap(A, 8 * P, RW, Anon | MAP_FIXED);
        _mm.Mprotect(A + 4 * P, 4 * P, PROT_READ);
        Assert.Equal(Err(Errno.EFAULT), _mm.Mremap(A, 8 * P, 16 * P, MREMAP_MAYMOVE, 0));
        Assert.Equal(Err(Errno.EFAULT), _mm.Mremap(A, 8 * P, 6 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000));
        Assert.Equal((long)A, _mm.Mremap(A, 8 * P, 8 * P, 0, 0));
        // A same-size move to a fixed address may take several.
        Assert.Equal(0x2000_0000L, _mm.Mremap(A, 8 * P, 8 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000));
        Assert.Equal(PROT_READ, _mm.Find(0x2000_0000 + 5 * P)!.Prot);
        Assert.Equal(0x2000_0000L, _mm.Mremap(0x2000_0000, 8 * P, 2 * P, 0, 0));
        Assert.Null(_mm.Find(0x2000_0000 + 4 * P));
        Assert.Equal(Err(Errno.EFAULT), _mm.Mremap(A, 2 * P, P, 0, 0));
    }

    [Fact]
    public void Mremap_SameProtectionPieces_AreOneMapping()
    {
        _mm.Mmap(A, 2 * P, RW, Anon | MAP_FIXED);
        _mm.Mmap(A + 2 * P, 2 * P, RW, Anon | MAP_FIXED);
        Assert.Equal((long)A, _mm.Mremap(A, 4 * P, 6 * P, 0, 0));
    }

    [Fact]
    public void Mremap_OldSizeZero_DuplicatesASharedMapping()
    {
        long s = _mm.Mmap(0, 4 * P, RW, SharedAnon);
        Fill((ulong)s, 4 * P, 7);
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mremap((ulong)s, 0, 4 * P, 0, 0));
        long d = _mm.Mremap((ulong)s + P, 0, 2 * P, MREMAP_MAYMOVE, 0);
        Assert.True(d > 0 && d != s);
        Assert.Equal(_mm.Find((ulong)s)!.OffsetOf((ulong)s + P), _mm.Find((ulong)d)!.OffsetOf((ulong)d));
        Fill((ulong)d, 1, 9);
        Assert.Equal(9, Read(_mm, (ulong)s + P));
        // Longer than the object: SIGBUS past it.
        long longer = _mm.Mremap((ulong)s, 0, 6 * P, MREMAP_MAYMOVE, 0);
        Assert.Equal(7, Read(_mm, (ulong)longer + 3 * P));
        Assert.Equal(FaultResult.Bus, _mm.HandleFault((ulong)longer + 4 * P));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn((ulong)longer + 5 * P, new byte[1]));
        // The pages outlive the original.
        Assert.Equal(0, _mm.Munmap((ulong)s, 4 * P));
        Assert.Equal(9, Read(_mm, (ulong)d));
        long priv = _mm.Mmap(0, P, RW, Anon);
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap((ulong)priv, 0, P, MREMAP_MAYMOVE, 0));
    }

    [Fact]
    public void Mremap_GrowingASharedAnonymousMapping_GivesSigbusPastTheObject()
    {
        long s = _mm.Mmap(0, 2 * P, RW, SharedAnon);
        long g = _mm.Mremap((ulong)s, 2 * P, 4 * P, MREMAP_MAYMOVE, 0);
        Assert.True(g > 0);
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault((ulong)g + P)); // installed
        Assert.Equal(FaultResult.Bus, _mm.HandleFault((ulong)g + 3 * P));
    }

    // ---- shared file pages past the end of the file -----------------------------------------------

    [Fact]
    public void SharedFileMapping_PastTheEnd_IsSigbus_UntilTheFileGrows()
    {
        var f = new FakeFile(_file) { Size = 2 * (long)P + 100 };
        long m = MapFile(f, 4 * P);
        ulong at = (ulong)m;
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(at + 2 * P + 200)); // the page with the end: there
        Assert.DoesNotContain(at + 3 * P, _space.Pages.Keys);
        Assert.Equal(FaultResult.Bus, _mm.HandleFault(at + 3 * P + 5));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(at + 3 * P, new byte[1]));
        Assert.Equal(0, _mm.Mprotect(at, 4 * P, PROT_READ)); // also over the piece without pages
        f.Size = 4 * (long)P;
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(at + 3 * P + 5));
        Assert.Equal(PROT_READ, _space.Pages[at + 3 * P].Prot);
        _mm.Mprotect(at, 4 * P, RW);
        Fill(at + 3 * P, 1, 0x42);
        Assert.Equal(0x42, f[3 * (long)P]);
    }

    [Fact]
    public void SharedFileMapping_AfterTheFileShrinks_IsSigbus_InEveryAddressSpace()
    {
        var f = new FakeFile(_file) { Size = 4 * (long)P };
        ulong at = (ulong)MapFile(f, 4 * P);
        var (child, childSpace) = Fork();
        try
        {
            childSpace.Changeable = false; // the child's stub is not ours to change
            f.Shrink((long)P + 1);
            // Here at once; in the child when one of its threads next runs.
            Assert.DoesNotContain(at + 2 * P, _space.Pages.Keys);
            Assert.Equal(FaultResult.Bus, _mm.HandleFault(at + 2 * P));
            Assert.Equal(FaultResult.Bus, child.HandleFault(at + 3 * P));
            Assert.Contains(at + 2 * P, childSpace.Pages.Keys);
            childSpace.Changeable = true;
            child.ApplyPendingPlatformWork();
            Assert.DoesNotContain(at + 2 * P, childSpace.Pages.Keys);
            Assert.DoesNotContain(at + 3 * P, childSpace.Pages.Keys);
            Assert.Contains(at + P, childSpace.Pages.Keys);
            Assert.Null(MmChecks.Violation(child, childSpace, _file, accounting: false));
        }
        finally
        {
            child.Dispose();
        }
    }

    [Fact]
    public void PendingUnmaps_LeaveWhatWasMappedThereSince()
    {
        var f = new FakeFile(_file) { Size = 4 * (long)P };
        ulong at = (ulong)MapFile(f, 4 * P);
        _space.Changeable = false;
        f.Shrink(0);
        _space.Changeable = true;
        // Before the pending work runs, the file grows and the page is filled in again, and
        // another mapping replaces the rest.
        f.Size = 4 * (long)P;
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(at));
        _mm.Mmap(at + 2 * P, 2 * P, RW, Anon | MAP_FIXED);
        _mm.ApplyPendingPlatformWork();
        Assert.Contains(at, _space.Pages.Keys);
        Assert.Contains(at + 3 * P, _space.Pages.Keys);
    }

    [Fact]
    public void Mremap_DuplicateOfASharedFileMapping_MapsTheFilesPages()
    {
        var f = new FakeFile(_file) { Size = 2 * (long)P };
        ulong at = (ulong)MapFile(f, 2 * P);
        Fill(at + P, 1, 0x33);
        long d = _mm.Mremap(at, 0, 4 * P, MREMAP_MAYMOVE, 0);
        Assert.Equal(0x33, Read(_mm, (ulong)d + P));
        Assert.Equal(FaultResult.Bus, _mm.HandleFault((ulong)d + 2 * P));
        f.Size = 3 * (long)P;
        Assert.Equal(FaultResult.Retry, _mm.HandleFault((ulong)d + 2 * P));
    }

    // ---- private mappings of file pages: copy-on-write ------------------------------------------

    [Fact]
    public void PrivateFileMapping_SeesTheFile_UntilItWritesAPage()
    {
        var f = new FakeFile(_file) { Size = 3 * (long)P };
        long m = MapFile(f, 3 * P, flags: MAP_PRIVATE);
        ulong at = (ulong)m;
        var v = _mm.Find(at)!;
        Assert.True(v.IsCopyOnWrite);
        Assert.Equal(PROT_READ, _space.Pages[at].Prot); // installed read-only: a write faults
        f.Write((long)P + 1, 0x11);
        Assert.Equal(0x11, Read(_mm, at + P + 1)); // later changes to the file show
        // The guest's write fault copies the page.
        Assert.Equal(FaultResult.Retry, _mm.HandleFault(at + P + 8));
        Assert.False(_mm.Find(at + P)!.IsCopyOnWrite);
        Assert.Equal(RW, _space.Pages[at + P].Prot);
        Assert.Equal(0x11, Read(_mm, at + P + 1)); // with the file's data
        f.Write((long)P + 1, 0x22);
        Assert.Equal(0x11, Read(_mm, at + P + 1)); // and no longer follows it
        f.Write(2 * (long)P, 0x33);
        Assert.Equal(0x33, Read(_mm, at + 2 * P)); // the untouched page still does
        // The Sentry's writes copy too, and never reach the file.
        Fill(at + 2 * P, 1, 0x44);
        Assert.Equal(0x33, f[2 * (long)P]);
        Assert.Equal(0x44, Read(_mm, at + 2 * P));
        // A copied page next to the previous copy joins its piece when the allocator lets it.
        Assert.True(_mm.Vmas.Count(x => x.Start >= at && x.End <= at + 3 * P) <= 3);
    }

    [Fact]
    public void PrivateFileMapping_ReadOnly_IsAProtectionFault_AndForeignThreadsDoNotCopy()
    {
        var f = new FakeFile(_file) { Size = (long)P };
        ulong at = (ulong)_mm.MmapFile(0, P, PROT_READ, MAP_PRIVATE, new PagesInode(f), 0, "/tmp/f");
        Assert.Equal(FaultResult.Unhandled, _mm.HandleFault(at));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(at, new byte[1]));
        Assert.Equal(0, _mm.Mprotect(at, P, RW));
        Assert.Equal(PROT_READ, _space.Pages[at].Prot); // still the file's page: still read-only there
        _space.Changeable = false;
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(at, new byte[1]));
        _space.Changeable = true;
        Assert.Equal(0, _mm.CopyOut(at, new byte[] { 5 }));
        Assert.Equal(0, f[0]);
    }

    [Fact]
    public void PrivateFileMapping_DontNeed_GoesBackToTheFile_AndForkSharesTheFilePages()
    {
        var f = new FakeFile(_file) { Size = 2 * (long)P };
        ulong at = (ulong)MapFile(f, 2 * P, flags: MAP_PRIVATE);
        Fill(at, 1, 0x55);
        var (child, space) = Fork();
        try
        {
            Assert.Equal(0x55, Read(child, at));          // the copy is copied
            Assert.True(child.Find(at + P)!.IsCopyOnWrite); // the file page is shared
            f.Write((long)P, 0x66);
            Assert.Equal(0x66, Read(child, at + P));
            Assert.Equal(PROT_READ, space.Pages[at + P].Prot);
        }
        finally
        {
            child.Dispose();
        }
        Assert.Equal(0, _mm.Madvise(at, 2 * P, MADV_DONTNEED));
        Assert.True(_mm.Find(at)!.IsCopyOnWrite);
        Assert.Equal(f[0], Read(_mm, at));
        Assert.Equal(PROT_READ, _space.Pages[at].Prot);
    }

    [Fact]
    public void PrivateFileMapping_AfterTheFileShrinks_IsSigbus_EvenWhereCopied()
    {
        var f = new FakeFile(_file) { Size = 3 * (long)P };
        ulong at = (ulong)MapFile(f, 3 * P, flags: MAP_PRIVATE);
        Fill(at + 2 * P, 1, 1); // a copy
        _space.Changeable = false;
        f.Shrink((long)P);
        Assert.Equal(FaultResult.Bus, _mm.HandleFault(at + P));
        Assert.Equal(FaultResult.Bus, _mm.HandleFault(at + 2 * P));
        long allocated = _file.Allocated;
        _space.Changeable = true;
        _mm.ApplyPendingPlatformWork(); // unmapped, then the copy is freed
        Assert.Equal(allocated - (long)P, _file.Allocated);
        Assert.DoesNotContain(at + 2 * P, _space.Pages.Keys);
    }

    [Fact]
    public void PrivateFileMapping_FutexKey_IsTheCopysFromTheStart()
    {
        var f = new FakeFile(_file) { Size = (long)P };
        ulong at = (ulong)MapFile(f, P, flags: MAP_PRIVATE);
        Assert.True(_mm.TryFileOffset(at + 4, out long key));
        Fill(at + 4, 4, 1);
        Assert.True(_mm.TryFileOffset(at + 4, out long after));
        Assert.Equal(key, after);
    }
}
