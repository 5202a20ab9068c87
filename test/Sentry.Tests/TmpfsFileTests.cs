using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.Fcntl;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>tmpfs files: their pages go back to the MemoryFile with the last name and the last
/// open description; seals refuse writes and F_SEAL_WRITE sees every shared mapping that may
/// write; a shared mapping from a read-only descriptor cannot become writable.</summary>
public sealed class TmpfsFileTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const int RW = PROT_READ | PROT_WRITE;

    private readonly MemoryFile _file = new(64L << 20);
    private readonly TmpfsFileSystem _fs;
    private readonly Mount _mount;

    public TmpfsFileTests()
    {
        _fs = new TmpfsFileSystem(_file);
        _mount = new Mount(_fs, new Dentry("/", null, _fs.Root), "tmpfs", readOnly: false);
    }

    public void Dispose() => _file.Dispose();

    private static readonly Credentials Root = Credentials.For(0, 0);

    private TmpfsFile Create(string name)
    {
        Assert.Equal(0, _fs.Root.CreateChild(name, StatMode.S_IFREG | 0x1a4, 0, Root, out Inode? inode));
        return (TmpfsFile)inode!;
    }

    private FileDescription Open(TmpfsFile file, string name)
    {
        Assert.Equal(0, file.Open(null!, new PathPos(_mount, new Dentry(name, _mount.Root, file)), OpenFlags.O_RDWR, out FileDescription? f));
        return f!;
    }

    private static void Write(TmpfsFile file, int bytes) =>
        Assert.Equal(bytes, file.Write(IoBuffers.Source(new byte[bytes]), 0));

    [Fact]
    public void Unlink_OfAClosedFile_FreesItsPages()
    {
        var file = Create("f");
        Write(file, 1 << 20);
        Assert.True(_file.Allocated >= 1 << 20);

        Assert.Equal(0, _fs.Root.RemoveChild("f", rmdir: false));

        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void Unlink_OfAnOpenFile_FreesItsPagesAtTheLastClose()
    {
        var file = Create("f");
        var a = Open(file, "f");
        var b = Open(file, "f");
        Write(file, 1 << 20);
        Assert.Equal(0, _fs.Root.RemoveChild("f", rmdir: false));

        a.DecRef();
        Assert.Equal(1 << 20, file.Size);
        Assert.True(_file.Allocated >= 1 << 20);
        b.DecRef();

        Assert.Equal(0, _file.Allocated);
        Assert.Equal(-(long)Errno.ENOENT, file.Open(null!, new PathPos(_mount, _mount.Root), OpenFlags.O_RDONLY, out _));
    }

    [Fact]
    public void Close_OfAFileWithAName_KeepsItsPages()
    {
        var file = Create("f");
        var a = Open(file, "f");
        Write(file, 3 * (int)P);
        a.DecRef();

        Assert.True(_file.Allocated >= 3 * (long)P);
        Assert.Equal(3 * (long)P, file.Size);
    }

    [Fact]
    public void SharedMapping_KeepsThePagesOfAnUnlinkedFile()
    {
        var file = Create("f");
        var a = Open(file, "f");
        file.Truncate((long)P);
        var mm = new MemoryManager(new FakeAddressSpace(), _file, Max);
        Assert.True(mm.MmapFile(0, P, RW, MAP_SHARED, file, 0, "f") > 0);
        Assert.Equal(0, _fs.Root.RemoveChild("f", rmdir: false));
        a.DecRef();

        // The mapping still points at the file's page: it must not be freed under it.
        Assert.True(_file.Allocated >= (long)P);
        mm.Dispose();
    }

    [Fact]
    public void AddSeals_OnAPlainTmpfsFile_IsRefused()
    {
        var file = Create("f");

        Assert.Equal(F_SEAL_SEAL, file.Seals);
        Assert.Equal(-(long)Errno.EPERM, file.AddSeals(F_SEAL_WRITE, () => false));
    }

    [Fact]
    public void SealWrite_RefusesWritesAndGrowSealRefusesExtending()
    {
        var file = Create("f");
        file.InitSeals(0);
        Write(file, 10);

        Assert.Equal(0, file.AddSeals(F_SEAL_GROW, () => false));
        Assert.Equal(-(long)Errno.EPERM, file.Write(IoBuffers.Source(new byte[2]), 9));
        Assert.Equal(-(long)Errno.EPERM, file.Truncate(11));
        Assert.Equal(2, file.Write(IoBuffers.Source(new byte[2]), 8));

        Assert.Equal(0, file.AddSeals(F_SEAL_WRITE, () => false));
        Assert.Equal(-(long)Errno.EPERM, file.Write(IoBuffers.Source(new byte[1]), 0));
        Assert.Equal(0, file.Truncate(5));
        Assert.Equal(F_SEAL_GROW | F_SEAL_WRITE, file.Seals);
    }

    [Fact]
    public void SealWrite_WithAMappingThatMayWrite_IsBusy()
    {
        var file = Create("f");
        file.InitSeals(0);

        Assert.Equal(-(long)Errno.EBUSY, file.AddSeals(F_SEAL_WRITE, () => true));
        Assert.Equal(0, file.Seals);
    }

    [Fact]
    public void MapsWritably_SeesEveryPieceAndForkedCopies()
    {
        var file = Create("f");
        file.Truncate(2 * (long)P);
        var mm = new MemoryManager(new FakeAddressSpace(), _file, Max);
        long at = mm.MmapFile(0, 2 * P, PROT_READ, MAP_SHARED, file, 0, "f");
        Assert.True(at > 0);
        // Read-only now, but mprotect could make it writable: it counts.
        Assert.True(mm.MapsWritably(file));
        var child = mm.ForkCopy();
        Assert.Equal(0, mm.Munmap((ulong)at, P));
        Assert.True(mm.MapsWritably(file));
        Assert.Equal(0, mm.Munmap((ulong)at + P, P));
        Assert.False(mm.MapsWritably(file));
        Assert.True(child.MapsWritably(file));
        child.Dispose();
        mm.Dispose();
    }

    [Fact]
    public void SharedMapping_ThatMayNotWrite_RefusesMprotectWrite()
    {
        var file = Create("f");
        file.Truncate(2 * (long)P);
        var mm = new MemoryManager(new FakeAddressSpace(), _file, Max);
        long at = mm.MmapFile(0, 2 * P, PROT_READ, MAP_SHARED, file, 0, "f", denyWrite: true);

        Assert.False(mm.MapsWritably(file));
        Assert.Equal(-(long)Errno.EACCES, mm.Mprotect((ulong)at, 2 * P, RW));
        Assert.Equal(0, mm.Mprotect((ulong)at, P, PROT_READ | PROT_EXEC));
        mm.Dispose();
    }
    // ---- reads: runs of pages, holes, EOF, faults -------------------------------------------

    private const ulong A = 0x1000_0000; // where the guest buffers go

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 7 + seed + (i >> 12));
        return b;
    }

    private MemoryManager NewGuest(ulong length, int prot = RW)
    {
        var mm = new MemoryManager(new FakeAddressSpace(), _file, Max);
        Assert.Equal((long)A, mm.Mmap(A, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED));
        return mm;
    }

    /// <summary>Reads through a guest buffer at A (prefilled with 0xaa, so zeros must be stored).</summary>
    private static long ReadGuest(MemoryManager mm, TmpfsFile file, long offset, int length, out byte[] got, params int[] iovecSplits)
    {
        var junk = new byte[length];
        Array.Fill(junk, (byte)0xaa);
        mm.CopyOutPartial(A, junk);
        Span<Iovec> iov = stackalloc Iovec[iovecSplits.Length + 1];
        ulong at = A;
        int prev = 0;
        for (int i = 0; i <= iovecSplits.Length; i++)
        {
            int end = i < iovecSplits.Length ? iovecSplits[i] : length;
            iov[i] = new Iovec { Base = at, Len = (ulong)(end - prev) };
            at += (ulong)(end - prev);
            prev = end;
        }
        long n = file.Read(new IoBuffers(mm, iov), offset);
        got = new byte[Math.Max(n, 0)];
        if (n > 0) Assert.Equal((int)n, mm.CopyInPartial(A, got));
        return n;
    }

    [Fact]
    public void Read_AcrossPagesAndIovecs_ReturnsWhatWasWritten()
    {
        var file = Create("f");
        var data = Pattern(5 * (int)P + 123, 1);
        Assert.Equal(data.Length, file.Write(IoBuffers.Source(data), 0));
        var mm = NewGuest(8 * P);

        foreach (var (offset, length) in new[] { (0, data.Length), (1, 4096), (4095, 2), (100, 3 * (int)P), (4 * (int)P + 5, 1000) })
        {
            Assert.Equal(length, ReadGuest(mm, file, offset, length, out var got));
            Assert.Equal(data.AsSpan(offset, length).ToArray(), got);
        }
        // Several iovecs, split inside pages and on a page boundary.
        Assert.Equal(3 * (int)P, ReadGuest(mm, file, 10, 3 * (int)P, out var split, 1, 4096, 5000));
        Assert.Equal(data.AsSpan(10, 3 * (int)P).ToArray(), split);
        mm.Dispose();
    }

    [Fact]
    public void Read_OfPagesThatAreNotContiguousInTheMemoryFile_ReturnsWhatWasWritten()
    {
        // Two files written a page at a time in turn: each gets its pages in separate chunks of
        // the MemoryFile, so a read of one crosses from one run of pages to the next.
        var a = Create("a");
        var b = Create("b");
        var dataA = Pattern(40 * (int)P, 3);
        var dataB = Pattern(40 * (int)P, 5);
        for (int page = 0; page < 40; page++)
        {
            Assert.Equal((long)P, a.Write(IoBuffers.Source(dataA.AsSpan(page * (int)P, (int)P)), page * (long)P));
            Assert.Equal((long)P, b.Write(IoBuffers.Source(dataB.AsSpan(page * (int)P, (int)P)), page * (long)P));
        }
        var mm = NewGuest(41 * P);

        Assert.Equal(dataA.Length - 7, ReadGuest(mm, a, 7, dataA.Length, out var gotA));
        Assert.Equal(dataA.AsSpan(7).ToArray(), gotA);
        Assert.Equal(dataB.Length, ReadGuest(mm, b, 0, dataB.Length, out var gotB));
        Assert.Equal(dataB, gotB);
        var kernel = new byte[dataA.Length];
        Assert.Equal(dataA.Length, a.ReadData(0, kernel));
        Assert.Equal(dataA, kernel);
        mm.Dispose();
    }

    [Fact]
    public void Read_OfASparseFile_ReadsHolesAsZeros()
    {
        var file = Create("f");
        // Holes inside a page run, a whole 2 MiB stretch without pages, and a tail hole.
        file.Truncate(5L << 20);
        var one = Pattern(100, 9);
        var two = Pattern((int)P + 10, 11);
        Assert.Equal(one.Length, file.Write(IoBuffers.Source(one), 3 * (long)P + 50));
        Assert.Equal(two.Length, file.Write(IoBuffers.Source(two), (3L << 20) - 5));
        var expected = new byte[5 << 20];
        one.CopyTo(expected, 3 * (int)P + 50);
        two.CopyTo(expected, (3 << 20) - 5);
        var mm = NewGuest(5UL << 20);

        Assert.Equal(expected.Length, ReadGuest(mm, file, 0, expected.Length, out var got));
        Assert.Equal(expected, got);
        Assert.Equal(3 * (int)P, ReadGuest(mm, file, 1, 3 * (int)P, out var head));
        Assert.Equal(expected.AsSpan(1, 3 * (int)P).ToArray(), head);
        var kernel = new byte[expected.Length];
        Array.Fill(kernel, (byte)0xaa);
        Assert.Equal(expected.Length, file.ReadData(0, kernel));
        Assert.Equal(expected, kernel);
        Assert.Equal(4 * (P / 512), (ulong)file.BlocksUsed);
        mm.Dispose();
    }

    [Fact]
    public void Read_AfterShrinkAndRegrow_ReadsTheDroppedTailAsZeros()
    {
        var file = Create("f");
        var data = Pattern(40 * (int)P, 13);
        Assert.Equal(data.Length, file.Write(IoBuffers.Source(data), 0));
        Assert.Equal(48 * (long)P, _file.Allocated); // pages come 16 at a time
        Assert.Equal(0, file.Truncate((long)P + 10));
        Assert.Equal(10 * (long)P, _file.Allocated); // 38 pages given back, 8 spare kept
        Assert.Equal(0, file.Truncate(4 * (long)P));
        var expected = new byte[4 * (int)P];
        data.AsSpan(0, (int)P + 10).CopyTo(expected);
        var mm = NewGuest(4 * P);

        Assert.Equal(expected.Length, ReadGuest(mm, file, 0, expected.Length, out var got));
        Assert.Equal(expected, got);
        Assert.Equal(2 * (P / 512), (ulong)file.BlocksUsed);
        mm.Dispose();
    }

    [Fact]
    public void Read_AtOrPastTheEnd_IsShortOrEmpty()
    {
        var file = Create("f");
        var data = Pattern((int)P + 300, 17);
        Assert.Equal(data.Length, file.Write(IoBuffers.Source(data), 0));
        var mm = NewGuest(4 * P);

        Assert.Equal(400, ReadGuest(mm, file, data.Length - 400, 3 * (int)P, out var tail));
        Assert.Equal(data.AsSpan(data.Length - 400).ToArray(), tail);
        Assert.Equal(0, ReadGuest(mm, file, data.Length, 10, out _));
        Assert.Equal(0, ReadGuest(mm, file, 10L << 20, 10, out _));
        Assert.Equal(0, file.ReadData(data.Length + 1, new byte[10]));
        mm.Dispose();
    }

    [Fact]
    public void Read_IntoAPartlyUnmappedBuffer_StopsAtTheFirstBadByte()
    {
        var file = Create("f");
        file.Truncate(8 * (long)P);
        var data = Pattern(3 * (int)P, 19);
        Assert.Equal(data.Length, file.Write(IoBuffers.Source(data), 0)); // pages 3..7 stay holes
        var mm = NewGuest(2 * P); // [A, A+2P) mapped, A+2P unmapped

        // Data pages: the bytes up to the unmapped page arrive, the count says how many.
        Assert.Equal(2 * (long)P, ReadGuest(mm, file, 100, 3 * (int)P, out var got));
        Assert.Equal(data.AsSpan(100, 2 * (int)P).ToArray(), got);
        // A hole: the same for the zeros.
        Assert.Equal(2 * (long)P, ReadGuest(mm, file, 4 * (long)P, 3 * (int)P, out var zeros));
        Assert.True(zeros.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        // Nothing writable at all: EFAULT, for data and for holes.
        Span<Iovec> bad = [new Iovec { Base = A + 2 * P, Len = P }];
        Assert.Equal(-(long)Errno.EFAULT, file.Read(new IoBuffers(mm, bad), 0));
        Assert.Equal(-(long)Errno.EFAULT, file.Read(new IoBuffers(mm, bad), 5 * (long)P));
        // A read-only buffer is not writable either.
        Assert.Equal(0, mm.Mprotect(A, 2 * P, PROT_READ));
        Span<Iovec> readOnly = [new Iovec { Base = A, Len = P }];
        Assert.Equal(-(long)Errno.EFAULT, file.Read(new IoBuffers(mm, readOnly), 0));
        mm.Dispose();
    }

    [Fact]
    public void SeekDataAndHole_FollowThePages()
    {
        var file = Create("f");
        file.Truncate(3L << 20);
        Assert.Equal(1, file.Write(IoBuffers.Source(new byte[] { 1 }), (2L << 20) + 5));

        Assert.Equal(2L << 20, file.SeekDataOrHole(0, data: true));
        Assert.Equal(0, file.SeekDataOrHole(0, data: false));
        Assert.Equal((2L << 20) + (long)P, file.SeekDataOrHole(2L << 20, data: false));
        Assert.Equal(-(long)Errno.ENXIO, file.SeekDataOrHole((2L << 20) + (long)P, data: true));
    }
}
