using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Tests;

/// <summary>Host-fd donation: Rlopen of a regular file opened O_RDONLY carries a read-only host
/// descriptor (SCM_RIGHTS) the client can pread; other opens carry none.</summary>
public sealed unsafe class FdDonationTests
{
    private const string Content = "donated bytes, read without a Tread";

    private static void Populate(string root)
    {
        File.WriteAllText(Path.Combine(root, "file"), Content);
        Directory.CreateDirectory(Path.Combine(root, "dir"));
    }

    [Fact]
    public void ReadOnlyOpen_OfARegularFile_DonatesAReadableDescriptor()
    {
        using var m = new Mount(populate: Populate);
        uint fid = m.Walk("file");
        Assert.Equal(0, m.Client.Lopen(fid, OpenFlags.O_RDONLY, out _, out _, out int hostFd));
        Assert.True(hostFd >= 0, "no descriptor came with Rlopen");
        try
        {
            var buffer = new byte[256];
            nint n;
            fixed (byte* p = buffer) n = Unistd.Pread(hostFd, p, (nuint)buffer.Length, 0);
            Assert.Equal(Content, Encoding.UTF8.GetString(buffer, 0, (int)n));

            // Read-only: a write through it fails (EBADF), so the client gains no write access.
            fixed (byte* p = buffer) Assert.True(Unistd.Pwrite(hostFd, p, 1, 0) < 0);
            Assert.Equal((int)Errno.EBADF, HostError.Last);
        }
        finally
        {
            Unistd.Close(hostFd);
        }
        // The protocol goes on normally after a frame that carried a descriptor.
        var data = new byte[64];
        Assert.Equal(0, m.Client.Read(fid, 0, data, out int count));
        Assert.Equal(Content, Encoding.UTF8.GetString(data, 0, count));
    }

    [Theory]
    [InlineData(OpenFlags.O_RDWR, "file")]
    [InlineData(OpenFlags.O_WRONLY, "file")]
    [InlineData(OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY, "dir")]
    public void OtherOpens_DonateNothing(int flags, string name)
    {
        using var m = new Mount(populate: Populate);
        uint fid = m.Walk(name);
        Assert.Equal(0, m.Client.Lopen(fid, (uint)flags, out _, out _, out int hostFd));
        Assert.Equal(-1, hostFd);
    }

    [Fact]
    public void ManyConcurrentOpens_EachGetTheirOwnFilesDescriptor()
    {
        // Replies carrying descriptors interleave with others on one connection: each
        // descriptor must reach the caller of its own Rlopen.
        using var m = new Mount(populate: root =>
        {
            for (int i = 0; i < 32; i++) File.WriteAllText(Path.Combine(root, $"f{i}"), $"file number {i}");
        });
        Parallel.For(0, 32, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            for (int round = 0; round < 10; round++)
            {
                uint fid = m.Walk($"f{i}");
                Assert.Equal(0, m.Client.Lopen(fid, OpenFlags.O_RDONLY, out _, out _, out int hostFd));
                Assert.True(hostFd >= 0);
                var buffer = new byte[64];
                nint n;
                fixed (byte* p = buffer) n = Unistd.Pread(hostFd, p, (nuint)buffer.Length, 0);
                Unistd.Close(hostFd);
                Assert.Equal($"file number {i}", Encoding.UTF8.GetString(buffer, 0, (int)n));
                Assert.Equal(0, m.Client.Clunk(fid));
                m.Client.ReleaseFid(fid);
            }
        });
    }
}
