using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>The file cache reads a file as it is used: a fault fills the missing pages of the
/// window around it (once, for every mapping and process) and installs the filled run; the
/// rest of a mapping stays unread and uninstalled.</summary>
public sealed unsafe class FileCacheLazyTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong A = 0x1000_0000;
    private const ulong B = 0x2000_0000;
    private static readonly ulong Window = (ulong)FileCache.FillWindowPages * P;

    private readonly MemoryFile _file = new(256L << 20);

    public void Dispose() => _file.Dispose();

    private static byte[] Pattern(int length, byte seed)
    {
        var b = new byte[length];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(seed + i * 13 + i / 4096);
        return b;
    }

    private MemoryManager NewMm(FakeAddressSpace space) => new(space, _file, Max);

    private static FileCache.Entry Map(MemoryManager mm, FileCache cache, Inode inode, ulong addr, ulong length, long offset = 0, int prot = PROT_READ)
    {
        var entry = cache.Acquire(inode);
        Assert.NotNull(entry);
        Assert.Equal((long)addr, mm.MapFromCache(addr, length, prot, MAP_PRIVATE | MAP_FIXED, entry!, cache, offset, "file", inode.Ino));
        return entry!;
    }

    /// <summary>The guest's view: the installed page's bytes (null if nothing is installed there).</summary>
    private byte[]? Installed(FakeAddressSpace space, ulong addr)
    {
        if (!space.Pages.TryGetValue(addr, out var page)) return null;
        return new ReadOnlySpan<byte>(_file.Base + page.Offset, (int)P).ToArray();
    }

    private static IEnumerable<ulong> InstalledIn(FakeAddressSpace space, ulong start, ulong end) =>
        space.Pages.Keys.Where(a => a >= start && a < end);

    [Fact]
    public void AMappingLargerThanTheWindow_IsReadAndInstalledOnlyWhereTouched()
    {
        int pages = 5 * FileCache.FillWindowPages + 3;
        byte[] content = Pattern(pages * (int)P - 100, 1);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file);
        var space = new FakeAddressSpace();
        using var mm = NewMm(space);
        var entry = Map(mm, cache, inode, A, (ulong)pages * P);
        Assert.Equal(0, inode.BytesRead);
        Assert.Empty(InstalledIn(space, A, A + (ulong)pages * P));

        // A fault in the third window reads and installs that window only.
        ulong at = A + 2 * Window + 5 * P + 17;
        Assert.Equal(FaultResult.Retry, mm.HandleFault(at));
        Assert.Equal((long)Window, inode.BytesRead);
        Assert.Equal(FileCache.FillWindowPages, entry.FilledPages);
        Assert.Equal(Enumerable.Range(0, FileCache.FillWindowPages).Select(k => A + 2 * Window + (ulong)k * P), InstalledIn(space, A, A + (ulong)pages * P));
        ulong page = A + 2 * Window + 5 * P;
        Assert.Equal(content.AsSpan((int)(page - A), (int)P).ToArray(), Installed(space, page));

        // The last, partial window: up to the end of the file, zero past it in the last page.
        ulong last = A + (ulong)(pages - 1) * P;
        Assert.Equal(FaultResult.Retry, mm.HandleFault(last + 8));
        Assert.Equal((long)Window + 3 * (long)P - 100, inode.BytesRead);
        byte[] tail = Installed(space, last)!;
        Assert.Equal(content.AsSpan((int)(last - A)).ToArray(), tail[..((int)P - 100)]);
        Assert.True(tail[((int)P - 100)..].All(b => b == 0));
        Assert.Null(Installed(space, A));
        Assert.Null(MmChecks.Violation(mm, space, _file, accounting: false));
    }

    [Fact]
    public void APageFilledOnce_ServesEveryMappingAndProcess()
    {
        int pages = 3 * FileCache.FillWindowPages;
        byte[] content = Pattern(pages * (int)P, 2);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file);
        var space1 = new FakeAddressSpace();
        var space2 = new FakeAddressSpace();
        using var mm1 = NewMm(space1);
        using var mm2 = NewMm(space2);
        Map(mm1, cache, inode, A, (ulong)pages * P);
        Assert.Equal(FaultResult.Retry, mm1.HandleFault(A + Window));
        long read = inode.BytesRead;

        // A later mapping installs what is filled at once; its faults elsewhere share the entry.
        Map(mm2, cache, inode, B, (ulong)pages * P);
        Assert.Equal(space1.Pages[A + Window].Offset, space2.Pages[B + Window].Offset);
        Assert.Equal(FileCache.FillWindowPages, InstalledIn(space2, B, B + (ulong)pages * P).Count());
        Assert.Equal(read, inode.BytesRead);

        // A second mapping in the same process, at another file offset, and the Sentry's own read.
        Map(mm1, cache, inode, B, Window, offset: (long)Window);
        Assert.Equal(space1.Pages[A + Window].Offset, space1.Pages[B].Offset);
        var bytes = new byte[3 * P];
        Assert.Equal(0, mm2.CopyIn(B + Window - P, bytes)); // crosses into an unread window
        Assert.Equal(content.AsSpan((int)(Window - P), bytes.Length).ToArray(), bytes);
        Assert.Equal(read + (long)Window, inode.BytesRead);
        Assert.Equal(FaultResult.Retry, mm1.HandleFault(A));
        Assert.Equal(read + (long)Window, inode.BytesRead); // read by mm2's copy-in already
        Assert.Null(MmChecks.Violation(mm1, space1, _file, accounting: false));
        Assert.Null(MmChecks.Violation(mm2, space2, _file, accounting: false));
    }

    [Fact]
    public void APrivateWrite_IsNotSeenByOtherMappings_NorByAForkedParent()
    {
        byte[] content = Pattern(2 * FileCache.FillWindowPages * (int)P, 3);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file);
        var space1 = new FakeAddressSpace();
        var space2 = new FakeAddressSpace();
        using var mm1 = NewMm(space1);
        using var mm2 = NewMm(space2);
        Map(mm1, cache, inode, A, (ulong)content.Length);
        Map(mm2, cache, inode, A, (ulong)content.Length);

        // mprotect on pages nobody has read yet: a private copy of the file's bytes.
        ulong target = A + Window + 3 * P;
        Assert.Equal(0, mm1.Mprotect(target, P, PROT_READ | PROT_WRITE));
        Assert.Equal(content.AsSpan((int)(target - A), (int)P).ToArray(), Installed(space1, target));
        Assert.Equal(0, mm1.CopyOut(target, new byte[] { 0xAB, 0xCD }));
        Assert.Equal(FaultResult.Retry, mm2.HandleFault(target));
        Assert.Equal(content.AsSpan((int)(target - A), (int)P).ToArray(), Installed(space2, target));
        Assert.Equal(0xAB, Installed(space1, target)![0]);

        // A forked child of mm2 writing its copy leaves mm2 (and the cache) as they were.
        var child = mm2.ForkCopy();
        var childSpace = new FakeAddressSpace();
        child.Install(childSpace);
        Assert.Equal(space2.Pages[target].Offset, childSpace.Pages[target].Offset);
        Assert.Equal(0, child.Mprotect(target, P, PROT_READ | PROT_WRITE));
        Assert.Equal(0, child.CopyOut(target, new byte[] { 0x11 }));
        Assert.Equal(0x11, Installed(childSpace, target)![0]);
        Assert.Equal(content[(int)(target - A)], Installed(space2, target)![0]);
        // The child's untouched, uninstalled pages fault in from the same cache.
        Assert.Equal(FaultResult.Retry, child.HandleFault(A));
        Assert.Equal(FaultResult.Retry, mm2.HandleFault(A));
        Assert.Equal(space2.Pages[A].Offset, childSpace.Pages[A].Offset);
        Assert.Null(MmChecks.Violation(child, childSpace, _file, accounting: false));
        child.Dispose();
    }

    [Fact]
    public void InstalledPages_KeepTheMappingsProtection_AndAWriteToThemIsTheGuestsFault()
    {
        byte[] content = Pattern(4 * (int)P, 4);
        var cache = new FileCache(_file);
        var space = new FakeAddressSpace();
        using var mm = NewMm(space);
        Map(mm, cache, new LowerLayerFile(content), A, 4 * P);
        Assert.Equal(0, mm.Mprotect(A, 4 * P, PROT_READ | PROT_EXEC)); // nothing installed to change yet
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A + P));
        Assert.Equal(PROT_READ | PROT_EXEC, space.Pages[A + P].Prot);
        // Installed now: a fault there is a protection fault (SIGSEGV), not another fill.
        Assert.Equal(FaultResult.Unhandled, mm.HandleFault(A + P));
        Assert.Equal(-(long)Errno.EFAULT, mm.CopyOut(A, new byte[] { 1 }));
        Assert.Null(MmChecks.Violation(mm, space, _file));
    }

    [Fact]
    public void AFileThatShrankOnTheHost_IsASigbusPastItsNewEnd()
    {
        int pages = 2 * FileCache.FillWindowPages;
        byte[] content = Pattern(pages * (int)P, 5);
        var inode = new LowerLayerFile(content);
        var cache = new FileCache(_file);
        var space = new FakeAddressSpace();
        using var mm = NewMm(space);
        Map(mm, cache, inode, A, (ulong)pages * P);
        inode.Truncate((int)Window + 2 * (int)P + 10);

        // Whole pages before the new end are still the file's; the page the end cuts, and
        // those after, are gone: SIGBUS for the guest, EFAULT for the Sentry.
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A + Window + P));
        Assert.Equal(content.AsSpan((int)(Window + P), (int)P).ToArray(), Installed(space, A + Window + P));
        Assert.Equal(FaultResult.Bus, mm.HandleFault(A + Window + 2 * P));
        Assert.Equal(FaultResult.Bus, mm.HandleFault(A + Window + 9 * P));
        Assert.Null(Installed(space, A + Window + 2 * P));
        Assert.Equal(-(long)Errno.EFAULT, mm.CopyIn(A + Window + 3 * P, new byte[8]));
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A)); // the first window is unaffected
        Assert.Null(MmChecks.Violation(mm, space, _file, accounting: false));
    }

    [Fact]
    public void AReplacedFile_NeverServesStalePagesToANewMapping()
    {
        byte[] before = Pattern(3 * FileCache.FillWindowPages * (int)P, 6);
        var inode = new LowerLayerFile(before);
        var cache = new FileCache(_file, budget: 0);
        var space = new FakeAddressSpace();
        using var mm = NewMm(space);
        Map(mm, cache, inode, A, (ulong)before.Length);
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A));
        byte[] after = Pattern(before.Length, 7);
        inode.Replace(after);

        Map(mm, cache, inode, B, (ulong)after.Length);
        Assert.Empty(InstalledIn(space, B, B + (ulong)after.Length)); // nothing of the old entry
        Assert.Equal(FaultResult.Retry, mm.HandleFault(B));
        Assert.Equal(after.AsSpan(0, (int)P).ToArray(), Installed(space, B));
        Assert.Equal(before.AsSpan(0, (int)P).ToArray(), Installed(space, A)); // what it read
        Assert.Equal(0, mm.Munmap(A, (ulong)before.Length));
        Assert.Equal(0, mm.Munmap(B, (ulong)after.Length));
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void MovedAndSplitMappings_FillAndInstallAtTheirNewPlace()
    {
        int pages = 2 * FileCache.FillWindowPages;
        byte[] content = Pattern(pages * (int)P, 8);
        var cache = new FileCache(_file, budget: 0);
        var space = new FakeAddressSpace();
        using var mm = NewMm(space);
        Map(mm, cache, new LowerLayerFile(content), A, (ulong)pages * P);
        Assert.Equal(FaultResult.Retry, mm.HandleFault(A));
        Assert.Equal(0, mm.Munmap(A + 4 * P, P)); // splits the installed run
        Assert.Equal((long)B, mm.Mremap(A + 5 * P, (ulong)pages * P - 5 * P, (ulong)pages * P - 5 * P, MREMAP_MAYMOVE | MREMAP_FIXED, B));
        Assert.Equal(content.AsSpan(5 * (int)P, (int)P).ToArray(), Installed(space, B));
        ulong lazy = B + Window; // file page 5 + window: not read yet
        Assert.Null(Installed(space, lazy));
        Assert.Equal(FaultResult.Retry, mm.HandleFault(lazy));
        Assert.Equal(content.AsSpan((int)(5 * P + Window), (int)P).ToArray(), Installed(space, lazy));
        Assert.Null(MmChecks.Violation(mm, space, _file, accounting: false)); // the cache holds the unmapped page too
        Assert.Equal(0, mm.Munmap(A, (ulong)pages * P));
        Assert.Equal(0, mm.Munmap(B, (ulong)pages * P));
        Assert.Equal(0, _file.Allocated);
    }
}
