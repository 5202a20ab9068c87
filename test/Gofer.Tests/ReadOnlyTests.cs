using Sandbox.Abi;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

public class ReadOnlyTests
{
    private const int EROFS = 30;

    [Fact]
    public void EveryMutation_GivesErofs()
    {
        using var m = new Mount(readOnly: true, populate: root =>
        {
            File.WriteAllText(Path.Combine(root, "file"), "content");
            Directory.CreateDirectory(Path.Combine(root, "dir"));
        });
        var c = m.Client;
        string before = Snapshot(m.Root);
        uint file = m.Walk("file");
        uint dir = m.Walk();
        Assert.Equal(EROFS, c.Lcreate(dir, "new", 2, 0x1A4, 0, out _, out _));
        Assert.Equal(EROFS, c.Lopen(file, 1, out _, out _));
        Assert.Equal(EROFS, c.Lopen(file, 2, out _, out _));
        Assert.Equal(EROFS, c.Lopen(file, (uint)OpenFlags.O_TRUNC, out _, out _));
        Assert.Equal(EROFS, c.Mkdir(m.RootFid, "d", 0x1ED, 0, out _));
        Assert.Equal(EROFS, c.Symlink(m.RootFid, "l", "file", 0, out _));
        Assert.Equal(EROFS, c.Mknod(m.RootFid, "n", StatMode.S_IFIFO | 0x1A4, 0, 0, 0, out _));
        Assert.Equal(EROFS, c.SetAttr(file, new P9SetAttr { Valid = P9Protocol.SetAttrMode, Mode = 0x1FF }));
        Assert.Equal(EROFS, c.SetAttr(file, new P9SetAttr { Valid = P9Protocol.SetAttrSize }));
        Assert.Equal(EROFS, c.UnlinkAt(m.RootFid, "file", 0));
        Assert.Equal(EROFS, c.RenameAt(m.RootFid, "file", m.RootFid, "renamed"));
        Assert.Equal(EROFS, c.Link(m.RootFid, file, "hard"));
        Assert.Equal(EROFS, c.XattrCreate(file, "user.x", 1, 0));
        uint victim = m.Walk("file");
        Assert.Equal(EROFS, c.Remove(victim));

        // Reads still work; writes through a read-only open are refused too.
        Assert.Equal(0, c.Lopen(file, 0, out _, out _));
        var buf = new byte[16];
        Assert.Equal(0, c.Read(file, 0, buf, out int n));
        Assert.Equal("content"u8.ToArray(), buf.AsSpan(0, n).ToArray());
        Assert.Equal(EROFS, c.Write(file, 0, "x"u8, out _));
        Assert.Equal(0, c.GetAttr(file, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(0, c.Statfs(file, out _));
        uint d = m.Open((int)OpenFlags.O_DIRECTORY, "dir");
        Assert.Equal(0, c.Readdir(d, 0, 4096, []));
        Assert.Equal(before, Snapshot(m.Root));
    }

    private static string Snapshot(string root) => string.Join("\n",
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order().Select(p =>
            $"{p} {(File.Exists(p) ? File.ReadAllText(p) : "<dir>")} {File.GetUnixFileMode(p)} {File.GetLastWriteTimeUtc(p):O}"));
}
