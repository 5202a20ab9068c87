using Sandbox.Abi;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

/// <summary>The server never lets a walk, an open or a create leave the served root.</summary>
public class ConfinementTests
{
    private const int ENOENT = 2, ENOTDIR = 20, EINVAL = 22, ELOOP = 40, ESTALE = 116;
    private const uint RDWR = 2;

    private static void Populate(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "sub", "deeper"));
        File.WriteAllText(Path.Combine(root, "file"), "file");
        File.CreateSymbolicLink(Path.Combine(root, "passwd"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(root, "up"), "../../..");
        File.CreateSymbolicLink(Path.Combine(root, "etc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(root, "sentinel-link"), "../sentinel");
    }

    [Fact]
    public void Symlinks_AreNotFollowedByWalk()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        // The walk ends on the link itself...
        uint p = c.AllocateFid();
        Assert.Equal(0, c.Walk(m.RootFid, p, ["passwd"], out var qids));
        Assert.True(qids[0].IsSymlink);
        Assert.Equal(0, c.GetAttr(p, P9Protocol.GetAttrBasic, out var attr));
        Assert.Equal(StatMode.S_IFLNK, attr.Mode & StatMode.S_IFMT);
        Assert.Equal(0, c.Readlink(p, out string target));
        Assert.Equal("/etc/passwd", target);
        // ...which cannot be opened, written or walked through.
        Assert.Equal(ELOOP, c.Lopen(p, 0, out _, out _));
        uint q = c.AllocateFid();
        Assert.Equal(ENOENT, c.Walk(m.RootFid, q, ["etc", "passwd"], out qids));
        Assert.True(Assert.Single(qids).IsSymlink);
        uint etc = m.Walk("etc");
        uint up = m.Walk("up");
        Assert.Equal(ENOTDIR, c.Walk(etc, q, ["passwd"], out _));
        Assert.Equal(ENOTDIR, c.Walk(up, q, ["etc"], out _));
        Assert.Equal(ENOTDIR, c.Walk(up, q, [".."], out _));
        Assert.Equal(ENOTDIR, c.Walk(up, q, ["."], out _));
        uint s = m.Walk("sentinel-link");
        Assert.Equal(ELOOP, c.Lopen(s, RDWR | (uint)OpenFlags.O_TRUNC, out _, out _));
        // Creating over a link to outside neither follows it nor truncates its target.
        uint dir = m.Walk();
        int err = c.Lcreate(dir, "sentinel-link", RDWR | (uint)OpenFlags.O_TRUNC, 0x1A4, 0, out _, out _);
        Assert.True(err is ELOOP or 17, $"Lcreate over a symlink: errno {err}");
        Assert.Equal(0, c.SetAttr(s, new P9SetAttr { Valid = P9Protocol.SetAttrMtime | P9Protocol.SetAttrMtimeSet, MtimeSec = 5 }));
        Assert.Equal(95, c.SetAttr(s, new P9SetAttr { Valid = P9Protocol.SetAttrMode, Mode = 0x1FF }));
        Assert.Equal(22, c.SetAttr(s, new P9SetAttr { Valid = P9Protocol.SetAttrSize }));
        Assert.NotEqual(new DateTime(1970, 1, 1, 0, 0, 5, DateTimeKind.Utc), File.GetLastWriteTimeUtc(Path.Combine(m.Dir.Parent, "sentinel")));
    }

    [Fact]
    public void DotDot_NeverLeavesTheRoot()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        Assert.Equal(0, c.GetAttr(m.RootFid, P9Protocol.GetAttrBasic, out var rootAttr));
        uint f = c.AllocateFid();
        Assert.Equal(0, c.Walk(m.RootFid, f, ["..", "..", "..", ".."], out var qids));
        Assert.All(qids, q => Assert.Equal(rootAttr.Qid, q));
        Assert.Equal(0, c.Clunk(f));
        Assert.Equal(0, c.Walk(m.RootFid, f, ["sub", "deeper", "..", "..", "..", "..", "sub"], out qids));
        Assert.Equal(rootAttr.Qid, qids[4]);
        Assert.Equal(qids[0], qids[6]);
        Assert.Equal(0, c.Clunk(f));
        Assert.Equal(0, c.Walk(m.RootFid, f, [".", "sub", "."], out qids));
        Assert.Equal(qids[1], qids[2]);
        Assert.Equal(0, c.Clunk(f));
        // The served root's parent holds "sentinel": it is not reachable.
        Assert.Equal(ENOENT, c.Walk(m.RootFid, f, ["..", "sentinel"], out _));
        Assert.Equal(ENOENT, c.Walk(m.RootFid, f, ["..", "..", "root", "file"], out _));
        // ".." from a fid inside a directory returns to it, step by step.
        uint deeper = m.Walk("sub", "deeper");
        Assert.Equal(0, c.Walk(deeper, f, ["..", "..", "..", "file"], out qids));
        Assert.Equal(rootAttr.Qid, qids[2]);
    }

    [Fact]
    public void NamesWithSlashes_AreRejected()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint f = c.AllocateFid();
        foreach (string bad in new[] { "sub/deeper", "../sentinel", "/etc", "a\0b", "" })
        {
            Assert.Equal(EINVAL, c.Walk(m.RootFid, f, [bad], out _));
            Assert.Equal(EINVAL, c.Mkdir(m.RootFid, bad, 0x1ED, 0, out _));
            Assert.Equal(EINVAL, c.Symlink(m.RootFid, bad, "x", 0, out _));
            Assert.Equal(EINVAL, c.Mknod(m.RootFid, bad, StatMode.S_IFIFO | 0x1A4, 0, 0, 0, out _));
            Assert.Equal(EINVAL, c.UnlinkAt(m.RootFid, bad, 0));
            Assert.Equal(EINVAL, c.RenameAt(m.RootFid, "file", m.RootFid, bad));
            Assert.Equal(EINVAL, c.RenameAt(m.RootFid, bad, m.RootFid, "x"));
            Assert.Equal(EINVAL, c.Link(m.RootFid, m.Walk("file"), bad));
            uint d = m.Walk();
            Assert.Equal(EINVAL, c.Lcreate(d, bad, RDWR, 0x1A4, 0, out _, out _));
        }
        Assert.Equal(EINVAL, c.Mkdir(m.RootFid, "..", 0x1ED, 0, out _));
        Assert.Equal(EINVAL, c.UnlinkAt(m.RootFid, "..", (uint)OpenFlags.AT_REMOVEDIR));
        Assert.Equal(36, c.Mkdir(m.RootFid, new string('x', 256), 0x1ED, 0, out _)); // ENAMETOOLONG
    }

    [Fact]
    public void FileSwappedForASymlink_IsNotOpened()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint f = m.Walk("file");
        string path = Path.Combine(m.Root, "file");
        File.Delete(path);
        File.CreateSymbolicLink(path, "../sentinel");
        int err = c.Lopen(f, RDWR | (uint)OpenFlags.O_TRUNC, out _, out _);
        Assert.True(err is ELOOP or ESTALE, $"Lopen of a swapped file: errno {err}");
        Assert.NotEqual(0, c.SetAttr(f, new P9SetAttr { Valid = P9Protocol.SetAttrSize, Size = 0 }));
        // A different regular file under the same name is not the walked file either.
        uint g = m.Walk("sub", "deeper");
        File.WriteAllText(Path.Combine(m.Root, "other"), "other");
        uint o = m.Walk("other");
        File.Delete(Path.Combine(m.Root, "other"));
        File.WriteAllText(Path.Combine(m.Root, "other"), "replaced");
        Assert.Equal(ESTALE, c.Lopen(o, 0, out _, out _));
        Assert.Equal(0, c.Clunk(g));
    }
}
