using System.Diagnostics;
using System.Text;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>A 9P client talking to a real, confined `runsc gofer --fd N` over a socketpair:
/// every operation the Sentry relies on works under the seccomp filter and the dropped
/// capabilities, nothing outside the root is reachable, and the gofer exits 0 when the peer
/// closes the connection.</summary>
public sealed class GoferServeTests : IDisposable
{
    private const uint O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40;
    private const int EROFS = 30;
    private readonly string _root = GoferProcess.TempDir();

    public GoferServeTests() => File.WriteAllText(Path.Combine(_root, "marker.txt"), "inside\n");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Starts `runsc gofer ARGS --fd N` (with --launcher: confined through the
    /// generated launcher, as `runsc do` starts it) and negotiates the version.</summary>
    private static (Process Gofer, P9Client Client) Connect(bool launcher, params string[] args)
    {
        if (launcher) args = [.. args, "--launcher"];
        var (ours, gofers) = GoferProcess.SocketPair();
        Process gofer;
        try
        {
            gofer = GoferProcess.Start(["gofer", .. args, "--fd", gofers.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        finally
        {
            Unistd.Close(gofers);
        }
        var client = new P9Client(ours);
        Assert.Equal(0, client.Version());
        return (gofer, client);
    }

    private static string ReadAll(P9Client c, uint fid)
    {
        var buffer = new byte[4096];
        Assert.Equal(0, c.Read(fid, 0, buffer, out int n));
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ServesTheRootUnderTheFilterAndExitsWhenThePeerCloses(bool launcher)
    {
        var (gofer, c) = Connect(launcher, "--root", _root);
        using (gofer)
        {
            using (c)
            {
                uint root = c.AllocateFid();
                Assert.Equal(0, c.Attach(root, "root", 0, "", out _));

                uint marker = c.AllocateFid();
                Assert.Equal(0, c.Walk(root, marker, ["marker.txt"], out _));
                Assert.Equal(0, c.GetAttr(marker, P9Protocol.GetAttrAll, out P9Attr attr));
                Assert.Equal(7UL, attr.Size);
                Assert.Equal(0, c.Lopen(marker, O_RDONLY, out _, out _));
                Assert.Equal("inside\n", ReadAll(c, marker));

                uint dir = c.AllocateFid();
                Assert.Equal(0, c.Walk(root, dir, [], out _));
                Assert.Equal(0, c.Lopen(dir, O_RDONLY, out _, out _));
                var entries = new List<P9Dirent>();
                Assert.Equal(0, c.Readdir(dir, 0, 8192, entries));
                Assert.Contains(entries, e => e.Name == "marker.txt");

                Assert.Equal(0, c.Mkdir(root, "made", 0x1ed, 0, out _));
                uint file = c.AllocateFid();
                Assert.Equal(0, c.Walk(root, file, ["made"], out _));
                Assert.Equal(0, c.Lcreate(file, "new.txt", O_RDWR | O_CREAT, 0x1a4, 0, out _, out _));
                Assert.Equal(0, c.Write(file, 0, "hello"u8, out int written));
                Assert.Equal(5, written);
                Assert.Equal(0, c.Fsync(file, dataOnly: false));
                var chown = new P9SetAttr { Valid = P9Protocol.SetAttrMode | P9Protocol.SetAttrUid | P9Protocol.SetAttrGid, Mode = 0x180, Uid = 1234, Gid = 5678 };
                Assert.Equal(0, c.SetAttr(file, chown));

                Assert.Equal(0, c.Symlink(root, "link", "marker.txt", 0, out _));
                uint link = c.AllocateFid();
                Assert.Equal(0, c.Walk(root, link, ["link"], out _));
                Assert.Equal(0, c.Readlink(link, out string target));
                Assert.Equal("marker.txt", target);
                Assert.Equal(0, c.RenameAt(root, "link", root, "renamed"));
                Assert.Equal(0, c.Link(root, marker, "hard"));
                Assert.Equal(0, c.UnlinkAt(root, "hard", 0));
                Assert.Equal(0, c.Statfs(root, out _));

                uint escape = c.AllocateFid();
                Assert.NotEqual(0, c.Walk(root, escape, ["..", "..", "etc", "passwd"], out _));
            }
            RunResult r = GoferProcess.Finish(gofer);
            Assert.True(r.ExitCode == 0, r.ToString());
        }

        string created = Path.Combine(_root, "made", "new.txt");
        Assert.Equal("hello", File.ReadAllText(created));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(created));
        (uint uid, uint gid) = Owner(created);
        Assert.Equal((1234u, 5678u), (uid, gid));
        Assert.Equal("marker.txt", new FileInfo(Path.Combine(_root, "renamed")).LinkTarget);
        Assert.False(File.Exists(Path.Combine(_root, "hard")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadOnlyGoferRefusesMutations(bool launcher)
    {
        var (gofer, c) = Connect(launcher, "--root", _root, "--read-only");
        using (gofer)
        {
            using (c)
            {
                uint root = c.AllocateFid();
                Assert.Equal(0, c.Attach(root, "root", 0, "", out _));
                Assert.Equal(EROFS, c.Mkdir(root, "made", 0x1ed, 0, out _));
                uint marker = c.AllocateFid();
                Assert.Equal(0, c.Walk(root, marker, ["marker.txt"], out _));
                Assert.Equal(0, c.Lopen(marker, O_RDONLY, out _, out _));
                Assert.Equal("inside\n", ReadAll(c, marker));
            }
            RunResult r = GoferProcess.Finish(gofer);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        Assert.False(Directory.Exists(Path.Combine(_root, "made")));
    }

    private static unsafe (uint Uid, uint Gid) Owner(string path)
    {
        using var handle = File.OpenHandle(path);
        Sandbox.Abi.Stat st;
        HostError.Check(Unistd.Fstat((int)handle.DangerousGetHandle(), &st), "fstat");
        return (st.Uid, st.Gid);
    }
}
