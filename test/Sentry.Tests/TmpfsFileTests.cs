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
}
