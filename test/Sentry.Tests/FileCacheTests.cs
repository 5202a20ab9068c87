using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>The file cache and the private mappings that share its pages: what one process
/// writes (after mprotect) is its own, forks share the cached pages, a changed file gets a
/// new entry while old mappings keep what they mapped, and every page is freed in the end.</summary>
public sealed unsafe class FileCacheTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong A = 0x1000_0000;

    private readonly MemoryFile _file = new(64L << 20);

    public void Dispose() => _file.Dispose();

    private static byte[] Pattern(int length, byte seed)
    {
        var b = new byte[length];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(seed + i * 7);
        return b;
    }

    private static byte[] Peek(MemoryManager mm, ulong addr, int len)
    {
        var buf = new byte[len];
        int done = 0;
        while (done < len)
        {
            Assert.True(mm.TryTranslateKernel(addr + (ulong)done, (ulong)(len - done), out byte* p, out ulong n));
            new ReadOnlySpan<byte>(p, (int)n).CopyTo(buf.AsSpan(done));
            done += (int)n;
        }
        return buf;
    }

    private MemoryManager NewMm(FakeAddressSpace space) => new(space, _file, Max);

    private static long Map(MemoryManager mm, FileCache cache, Inode inode, ulong addr, ulong length, long offset = 0, int prot = PROT_READ)
    {
        var entry = cache.Acquire(inode);
        Assert.NotNull(entry);
        return mm.MapFromCache(addr, length, prot, MAP_PRIVATE | MAP_FIXED, entry!, cache, offset, "file", inode.Ino);
    }

    [Fact]
    public void TwoProcesses_MapTheSamePages_AndAWriterGetsItsOwnCopy()
    {
        byte[] content = Pattern(3 * (int)P + 100, 1);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file);
        var space1 = new FakeAddressSpace();
        var space2 = new FakeAddressSpace();
        using var mm1 = NewMm(space1);
        using var mm2 = NewMm(space2);

        Assert.Equal((long)A, Map(mm1, cache, inode, A, 4 * P));
        Assert.Equal((long)A, Map(mm2, cache, inode, A, 4 * P));
        long allocated = _file.Allocated;
        Assert.Equal(content, Peek(mm1, A, content.Length));
        Assert.Equal(FaultResult.Retry, mm1.HandleFault(A));
        Assert.Equal(FaultResult.Retry, mm2.HandleFault(A));
        Assert.Equal(space1.Pages[A].Offset, space2.Pages[A].Offset); // the very same page

        // A guest write needs PROT_WRITE: mprotect makes the pages private first.
        Assert.Equal(0, mm1.Mprotect(A + P, P, PROT_READ | PROT_WRITE));
        Assert.NotEqual(space1.Pages[A + P].Offset, space2.Pages[A + P].Offset);
        Assert.Equal(0, mm1.CopyOut(A + P, new byte[] { 0xEE, 0xEE }));
        Assert.Equal([0xEE, 0xEE], Peek(mm1, A + P, 2));
        Assert.Equal(content.AsSpan((int)P, 2).ToArray(), Peek(mm2, A + P, 2));
        Assert.Equal(content, cache.Bytes(cache.Acquire(inode)!).ToArray());
        Assert.Equal(allocated + (long)P, _file.Allocated);
    }

    [Fact]
    public void Madvise_DontNeed_LeavesTheFileBytes()
    {
        byte[] content = Pattern(2 * (int)P, 3);
        var cache = new FileCache(_file);
        using var mm = NewMm(new FakeAddressSpace());
        var inode = new LowerLayerFile(content);
        Map(mm, cache, inode, A, 2 * P);
        Assert.Equal(0, mm.Madvise(A, 2 * P, MADV_DONTNEED));
        Assert.Equal(content, Peek(mm, A, content.Length));

        // A private copy (made writable, then written) reads back as the file, as on Linux.
        Assert.Equal(0, mm.Mprotect(A + P, P, PROT_READ | PROT_WRITE));
        Assert.Equal(0, mm.CopyOut(A + P, new byte[] { 1, 2, 3 }));
        Assert.Equal(0, mm.Madvise(A, 2 * P, MADV_DONTNEED));
        Assert.Equal(content, Peek(mm, A, content.Length));
    }

    [Fact]
    public void Fork_SharesTheCachedPages_AndEverythingIsFreedAtTheEnd()
    {
        byte[] content = Pattern(5 * (int)P, 9);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file, budget: 0); // keeps nothing nobody maps
        var parentSpace = new FakeAddressSpace();
        var parent = NewMm(parentSpace);
        Map(parent, cache, inode, A, 5 * P);
        Assert.Equal(FaultResult.Retry, parent.HandleFault(A)); // installed, so the child installs it too
        Assert.Equal(0, parent.Mmap(A + 8 * P, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) - (long)(A + 8 * P));

        var child = parent.ForkCopy();
        var childSpace = new FakeAddressSpace();
        child.Install(childSpace);
        Assert.Equal(parentSpace.Pages[A].Offset, childSpace.Pages[A].Offset);
        Assert.NotEqual(parentSpace.Pages[A + 8 * P].Offset, childSpace.Pages[A + 8 * P].Offset);

        // Pieces: unmapping the middle of the parent's mapping keeps both the rest and the child's.
        Assert.Equal(0, parent.Munmap(A + 2 * P, P));
        parent.Dispose();
        Assert.Equal(content, Peek(child, A, content.Length));
        child.Dispose();
        Assert.Equal(0, _file.Allocated);
    }

    /// <summary>The pages an old mapping has read stay as they were (pages it has not read yet
    /// are read from the file as it is then, as Linux's page cache would show them).</summary>
    [Fact]
    public void AChangedFile_GetsANewEntry_OldMappingsKeepTheBytesTheyRead()
    {
        byte[] before = Pattern((int)P, 1), after = Pattern((int)P, 2);
        var inode = new LowerLayerFile(before);
        var cache = new FileCache(_file, budget: 0);
        using var mm = NewMm(new FakeAddressSpace());
        Map(mm, cache, inode, A, P);
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A));
        inode.Replace(after);
        Map(mm, cache, inode, A + 4 * P, P);
        Assert.Equal(before, Peek(mm, A, (int)P));
        Assert.Equal(after, Peek(mm, A + 4 * P, (int)P));
        Assert.Equal(0, mm.Munmap(A, 8 * P));
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void AMappingLongerThanTheFile_HasZeroPagesPastItsEnd()
    {
        byte[] content = Pattern((int)P + 10, 5);
        var cache = new FileCache(_file, budget: 0);
        using var mm = NewMm(new FakeAddressSpace());
        Assert.Equal((long)A, Map(mm, cache, new LowerLayerFile(content), A, 4 * P));
        Assert.Equal(content, Peek(mm, A, content.Length));
        Assert.True(Peek(mm, A + 2 * P, 2 * (int)P).All(b => b == 0));
        Assert.Equal(0, mm.Munmap(A, 4 * P));
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void WritableOrPastTheEnd_IsRefused()
    {
        var inode = new LowerLayerFile(Pattern((int)P, 1));
        var cache = new FileCache(_file, budget: 0);
        using var mm = NewMm(new FakeAddressSpace());
        Assert.Equal(-(long)Errno.EINVAL, mm.MapFromCache(A, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, cache.Acquire(inode)!, cache, 0, "f", 7));
        Assert.Equal(-(long)Errno.EINVAL, mm.MapFromCache(A, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, cache.Acquire(inode)!, cache, (long)P, "f", 7));
        Assert.Empty(mm.Vmas);
        Assert.Equal(0, _file.Allocated); // refused references were given back
    }

    [Fact]
    public void UnstableFiles_AreNotCached()
    {
        var cache = new FileCache(_file);
        var tmpfs = new Fs.Tmpfs.TmpfsFileSystem(_file);
        Assert.Equal(0, tmpfs.Root.CreateChild("f", StatMode.S_IFREG | 0x1a4, 0, Credentials.For(0, 0), out Inode? f));
        Assert.Equal(3, f!.WriteData(0, "abc"u8));
        Assert.Null(cache.Acquire(f)); // tmpfs files change without notice: never cached
        Assert.Null(cache.Acquire(new LowerLayerFile([]))); // nothing to map
    }
}
