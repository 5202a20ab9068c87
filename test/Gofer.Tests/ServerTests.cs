using System.Text;
using Sandbox.Abi;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

public class ServerTests
{
    private const int ENOENT = 2, EBADF = 9, EEXIST = 17, ENOTDIR = 20, EINVAL = 22, ENOTEMPTY = 39, EPERM = 1;
    private const uint RDONLY = 0, WRONLY = 1, RDWR = 2;

    private static void Populate(string root)
    {
        File.WriteAllText(Path.Combine(root, "hello.txt"), "hello world");
        Directory.CreateDirectory(Path.Combine(root, "sub"));
        File.WriteAllText(Path.Combine(root, "sub", "inner.txt"), "inner");
    }

    [Fact]
    public void Attach_Walk_GetAttr()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint f = c.AllocateFid();
        Assert.Equal(0, c.Walk(m.RootFid, f, ["sub", "inner.txt"], out var qids));
        Assert.Equal(2, qids.Length);
        Assert.True(qids[0].IsDir);
        Assert.False(qids[1].IsDir);
        Assert.Equal(0, c.GetAttr(f, P9Protocol.GetAttrAll, out var attr));
        Assert.Equal(5ul, attr.Size);
        Assert.Equal(StatMode.S_IFREG, attr.Mode & StatMode.S_IFMT);
        Assert.Equal(1ul, attr.Nlink);
        Assert.Equal(qids[1], attr.Qid);
        Assert.True((attr.Valid & P9Protocol.GetAttrBasic) == P9Protocol.GetAttrBasic);
        Assert.True(attr.MtimeSec > 1_600_000_000);

        // Clone, then walk onto the same fid.
        uint g = c.AllocateFid();
        Assert.Equal(0, c.Walk(m.RootFid, g, [], out qids));
        Assert.Empty(qids);
        Assert.Equal(0, c.Walk(g, g, ["hello.txt"], out qids));
        Assert.Equal(0, c.GetAttr(g, P9Protocol.GetAttrBasic, out attr));
        Assert.Equal(11ul, attr.Size);

        // A partial walk: ENOENT, the qids that resolved, and no new fid.
        uint h = c.AllocateFid();
        Assert.Equal(ENOENT, c.Walk(m.RootFid, h, ["sub", "missing", "x"], out qids));
        Assert.Single(qids);
        Assert.Equal(EBADF, c.GetAttr(h, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(ENOENT, c.Walk(m.RootFid, h, ["missing"], out qids));
        Assert.Empty(qids);
        // A later component failing is a partial Rwalk (ENOENT here); one name at a time gives the exact errno.
        Assert.Equal(ENOENT, c.Walk(m.RootFid, h, ["hello.txt", "x"], out qids));
        Assert.Single(qids);
        uint hello = m.Walk("hello.txt");
        Assert.Equal(ENOTDIR, c.Walk(hello, h, ["x"], out _));
        // Fids in use, unknown fids.
        Assert.Equal(EEXIST, c.Walk(m.RootFid, f, [], out _));
        Assert.Equal(EBADF, c.Walk(999, h, [], out _));
        Assert.Equal(EBADF, c.Clunk(999));
        Assert.Equal(0, c.Clunk(f));
        Assert.Equal(EBADF, c.Clunk(f));
        Assert.Equal(EEXIST, c.Attach(g, "root", 0, "", out _));
    }

    [Fact]
    public void WalkGetAttr_WalksAndStatsInOneRequest()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint f = c.AllocateFid();
        Assert.Equal(0, c.WalkGetAttr(m.RootFid, f, ["sub", "inner.txt"], out var attr));
        Assert.Equal(5ul, attr.Size);
        Assert.Equal(StatMode.S_IFREG, attr.Mode & StatMode.S_IFMT);
        Assert.True((attr.Valid & P9Protocol.GetAttrBasic) == P9Protocol.GetAttrBasic);
        Assert.Equal(0, c.GetAttr(f, P9Protocol.GetAttrBasic, out var again));
        Assert.Equal(attr.Qid, again.Qid);
        Assert.Equal(0, c.Clunk(f));

        // NOFID: the attributes only, nothing installed.
        Assert.Equal(0, c.WalkGetAttr(m.RootFid, P9Protocol.NoFid, ["sub"], out attr));
        Assert.Equal(StatMode.S_IFDIR, attr.Mode & StatMode.S_IFMT);
        Assert.Equal(0, c.WalkGetAttr(m.RootFid, P9Protocol.NoFid, [], out var root));
        Assert.Equal(StatMode.S_IFDIR, root.Mode & StatMode.S_IFMT);
        Assert.Equal(0, c.WalkGetAttr(m.RootFid, P9Protocol.NoFid, ["sub", ".."], out var up));
        Assert.Equal(root.Qid, up.Qid);

        // A walk that stops short is an error (not Twalk's partial success) and installs nothing.
        uint g = c.AllocateFid();
        Assert.Equal(ENOENT, c.WalkGetAttr(m.RootFid, g, ["sub", "missing"], out _));
        Assert.Equal(EBADF, c.GetAttr(g, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(ENOTDIR, c.WalkGetAttr(m.RootFid, g, ["hello.txt", "x"], out _));
        Assert.Equal(EBADF, c.Clunk(g));
        uint h = c.AllocateFid();
        Assert.Equal(0, c.Walk(m.RootFid, h, [], out _));
        Assert.Equal(EEXIST, c.WalkGetAttr(m.RootFid, h, ["sub"], out _));
        Assert.Equal(EBADF, c.WalkGetAttr(999, P9Protocol.NoFid, ["sub"], out _));
        // Plain Twalk still refuses NOFID.
        Assert.Equal(EINVAL, c.Walk(m.RootFid, P9Protocol.NoFid, ["sub"], out _));
    }

    [Fact]
    public void ClunkAndRelease_DoesNotWait_AndReusesTheFidOnlyAfterTheReply()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        var clunked = new List<uint>();
        for (int i = 0; i < 100; i++)
        {
            uint f = c.AllocateFid();
            Assert.Equal(0, c.Walk(m.RootFid, f, ["hello.txt"], out _));
            clunked.Add(f);
        }
        foreach (uint f in clunked)
        {
            c.ClunkAndRelease(f);
        }
        // No reply has been read yet (nobody waited): none of those numbers comes back.
        var fresh = Enumerable.Range(0, 100).Select(_ => c.AllocateFid()).ToList();
        Assert.Empty(fresh.Intersect(clunked));
        foreach (uint f in fresh)
        {
            c.ReleaseFid(f);
        }
        // The next request reads the outstanding replies: every clunk was served, and the
        // numbers are free again.
        foreach (uint f in clunked)
        {
            Assert.Equal(EBADF, c.GetAttr(f, P9Protocol.GetAttrBasic, out _));
        }
        var reused = Enumerable.Range(0, 200).Select(_ => c.AllocateFid()).ToList();
        Assert.Equal(100, reused.Intersect(clunked).Count());

        // Many more than the outstanding bound still all get served.
        for (int i = 0; i < 1000; i++)
        {
            uint f = c.AllocateFid();
            Assert.Equal(0, c.Walk(m.RootFid, f, [], out _));
            c.ClunkAndRelease(f);
        }
        uint last = c.AllocateFid();
        Assert.Equal(0, c.WalkGetAttr(m.RootFid, last, ["sub"], out _));
        Assert.Equal(0, c.Clunk(last));
    }

    [Fact]
    public void LongWalks_AreSplitAt16Names()
    {
        using var m = new Mount();
        var path = Enumerable.Range(0, 20).Select(i => $"d{i}").ToArray();
        Directory.CreateDirectory(Path.Combine([m.Root, .. path]));
        uint f = m.Client.AllocateFid();
        Assert.Equal(0, m.Client.Walk(m.RootFid, f, path, out var qids));
        Assert.Equal(20, qids.Length);
        Assert.All(qids, q => Assert.True(q.IsDir));
        uint g = m.Client.AllocateFid();
        Assert.Equal(ENOENT, m.Client.Walk(m.RootFid, g, [.. path, "nope"], out qids));
        Assert.Equal(20, qids.Length);
        Assert.Equal(EBADF, m.Client.Clunk(g));
    }

    [Fact]
    public void Lopen_Read_Write()
    {
        using var m = new Mount(populate: Populate, msize: 8192);
        var c = m.Client;
        uint f = m.Open((int)RDWR, "hello.txt");
        var buf = new byte[100];
        Assert.Equal(0, c.Read(f, 0, buf, out int n));
        Assert.Equal("hello world", Encoding.UTF8.GetString(buf, 0, n));
        Assert.Equal(0, c.Read(f, 6, buf, out n));
        Assert.Equal("world", Encoding.UTF8.GetString(buf, 0, n));
        Assert.Equal(0, c.Read(f, 1000, buf, out n));
        Assert.Equal(0, n);
        Assert.Equal(0, c.Write(f, 6, "there"u8, out n));
        Assert.Equal(5, n);
        Assert.Equal("hello there", File.ReadAllText(Path.Combine(m.Root, "hello.txt")));

        // Larger than msize: split into many Treads and Twrites.
        var big = new byte[300_000];
        new Random(1).NextBytes(big);
        Assert.Equal(0, c.Write(f, 0, big, out n));
        Assert.Equal(big.Length, n);
        var back = new byte[big.Length + 10];
        Assert.Equal(0, c.Read(f, 0, back, out n));
        Assert.Equal(big.Length, n);
        Assert.Equal(big, back.AsSpan(0, n).ToArray());
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(m.Root, "hello.txt")));

        // Already open; read-only fids refuse writes (EBADF from the host).
        Assert.Equal(EINVAL, c.Lopen(f, RDONLY, out _, out _));
        uint r = m.Open((int)RDONLY, "hello.txt");
        Assert.Equal(EBADF, c.Write(r, 0, "x"u8, out _));
        uint unopened = m.Walk("hello.txt");
        Assert.Equal(EBADF, c.Read(unopened, 0, buf, out _));
        // Directories open read-only only; O_TRUNC truncates.
        uint d = m.Walk("sub");
        Assert.Equal(21, c.Lopen(d, WRONLY, out _, out _));
        uint t = m.Walk("sub", "inner.txt");
        Assert.Equal(0, c.Lopen(t, WRONLY | (uint)OpenFlags.O_TRUNC, out var qid, out _));
        Assert.False(qid.IsDir);
        Assert.Equal(0, new FileInfo(Path.Combine(m.Root, "sub", "inner.txt")).Length);
    }

    [Fact]
    public void Lcreate_Mkdir_Mknod_Link()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint dir = m.Walk();
        Assert.Equal(0, c.Lcreate(dir, "new.txt", RDWR, 0x1A0, 0, out var qid, out _));
        Assert.False(qid.IsDir);
        Assert.Equal(0, c.Write(dir, 0, "abc"u8, out int n));
        Assert.Equal(0, c.GetAttr(dir, P9Protocol.GetAttrBasic, out var attr));
        Assert.Equal(StatMode.S_IFREG | 0x1A0u, attr.Mode);
        Assert.Equal(0, c.Clunk(dir));
        Assert.Equal("abc", File.ReadAllText(Path.Combine(m.Root, "new.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
            File.GetUnixFileMode(Path.Combine(m.Root, "new.txt")));

        uint dir2 = m.Walk();
        Assert.Equal(EEXIST, c.Lcreate(dir2, "new.txt", RDWR | (uint)OpenFlags.O_EXCL, 0x1A4, 0, out _, out _));
        uint file = m.Walk("hello.txt");
        Assert.Equal(ENOTDIR, c.Lcreate(file, "x", RDWR, 0x1A4, 0, out _, out _));

        Assert.Equal(0, c.Mkdir(m.RootFid, "made", 0x1C0, 0, out qid));
        Assert.True(qid.IsDir);
        Assert.True(Directory.Exists(Path.Combine(m.Root, "made")));
        Assert.Equal(EEXIST, c.Mkdir(m.RootFid, "made", 0x1C0, 0, out _));

        Assert.Equal(0, c.Mknod(m.RootFid, "fifo", StatMode.S_IFIFO | 0x1A4, 0, 0, 0, out qid));
        uint fifo = m.Walk("fifo");
        Assert.Equal(0, c.GetAttr(fifo, P9Protocol.GetAttrBasic, out attr));
        Assert.Equal(StatMode.S_IFIFO, attr.Mode & StatMode.S_IFMT);
        Assert.Equal(EPERM, c.Mknod(m.RootFid, "dev", StatMode.S_IFCHR | 0x1A4, 1, 3, 0, out _));
        Assert.Equal(EPERM, c.Lopen(fifo, RDONLY, out _, out _));

        Assert.Equal(0, c.Link(m.RootFid, file, "hard"));
        Assert.Equal(0, c.GetAttr(file, P9Protocol.GetAttrBasic, out attr));
        Assert.Equal(2ul, attr.Nlink);
        Assert.Equal("hello world", File.ReadAllText(Path.Combine(m.Root, "hard")));
        Assert.Equal(EPERM, c.Link(m.RootFid, m.Walk("sub"), "dirlink"));

        // Ownership: the attaching uid and the requested gid (the tests run as root).
        if (Abi.Host.Unistd.GetUid() == 0)
        {
            uint u = c.AllocateFid();
            Assert.Equal(0, c.Attach(u, "user", 1234, "", out _));
            Assert.Equal(0, c.Mkdir(u, "owned", 0x1ED, 4321, out _));
            uint owned = m.Walk("owned");
            Assert.Equal(0, c.GetAttr(owned, P9Protocol.GetAttrBasic, out attr));
            Assert.Equal((1234u, 4321u), (attr.Uid, attr.Gid));
        }
    }

    [Fact]
    public void Readdir_OfAThousandEntries()
    {
        using var m = new Mount(msize: 16384);
        var c = m.Client;
        Assert.Equal(0, c.Mkdir(m.RootFid, "big", 0x1ED, 0, out _));
        uint big = m.Walk("big");
        var expected = new HashSet<string>();
        for (int i = 0; i < 1000; i++)
        {
            string name = $"entry-{i:D4}";
            expected.Add(name);
            uint f = c.AllocateFid();
            Assert.Equal(0, c.Walk(big, f, [], out _));
            Assert.Equal(0, c.Lcreate(f, name, WRONLY, 0x1A4, 0, out _, out _));
            Assert.Equal(0, c.Clunk(f));
            c.ReleaseFid(f);
        }
        Assert.Equal(0, c.Mkdir(big, "zdir", 0x1ED, 0, out _));
        expected.Add("zdir");

        uint d = m.Open((int)(RDONLY | (uint)OpenFlags.O_DIRECTORY), "big");
        var seen = new List<P9Dirent>();
        ulong offset = 0;
        int calls = 0;
        while (true)
        {
            var batch = new List<P9Dirent>();
            Assert.Equal(0, c.Readdir(d, offset, 4096, batch));
            calls++;
            if (batch.Count == 0)
            {
                break;
            }
            seen.AddRange(batch);
            offset = batch[^1].Offset;
        }
        Assert.True(calls > 5, "4096-byte batches need many calls");
        Assert.Equal(expected.Count, seen.Count);
        Assert.Equal(expected, seen.Select(e => e.Name).ToHashSet());
        var zdir = seen.Single(e => e.Name == "zdir");
        Assert.True(zdir.Qid.IsDir);
        Assert.Equal(4, zdir.Type);
        Assert.All(seen.Where(e => e.Name != "zdir"), e => Assert.Equal(8, e.Type));

        // Restarting from an earlier cookie gives the same tail; a tiny count is refused.
        var again = new List<P9Dirent>();
        Assert.Equal(0, c.Readdir(d, seen[99].Offset, 4096, again));
        Assert.Equal(seen[100].Name, again[0].Name);
        Assert.Equal(EINVAL, c.Readdir(d, 0, 10, []));
        uint unopened = m.Walk("big");
        Assert.Equal(EBADF, c.Readdir(unopened, 0, 4096, []));
    }

    [Fact]
    public void Symlink_Readlink()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        Assert.Equal(0, c.Symlink(m.RootFid, "lnk", "sub/inner.txt", 0, out var qid));
        Assert.True(qid.IsSymlink);
        Assert.Equal("sub/inner.txt", new FileInfo(Path.Combine(m.Root, "lnk")).LinkTarget);
        uint l = m.Walk("lnk");
        Assert.Equal(0, c.Readlink(l, out string target));
        Assert.Equal("sub/inner.txt", target);
        Assert.Equal(0, c.GetAttr(l, P9Protocol.GetAttrBasic, out var attr));
        Assert.Equal(StatMode.S_IFLNK, attr.Mode & StatMode.S_IFMT);
        Assert.Equal(EINVAL, c.Readlink(m.Walk("hello.txt"), out _));
        Assert.Equal(EEXIST, c.Symlink(m.RootFid, "lnk", "x", 0, out _));
        Assert.Equal(ENOENT, c.Symlink(m.RootFid, "empty", "", 0, out _));
    }

    [Fact]
    public void Rename_Unlink_Remove()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint sub = m.Walk("sub");
        uint inner = m.Walk("sub", "inner.txt");
        // Move the file to the root under a new name; its fid follows it.
        Assert.Equal(0, c.RenameAt(sub, "inner.txt", m.RootFid, "moved.txt"));
        Assert.True(File.Exists(Path.Combine(m.Root, "moved.txt")));
        Assert.False(File.Exists(Path.Combine(m.Root, "sub", "inner.txt")));
        Assert.Equal(0, c.Lopen(inner, RDONLY, out _, out _));
        var buf = new byte[10];
        Assert.Equal(0, c.Read(inner, 0, buf, out int n));
        Assert.Equal("inner", Encoding.UTF8.GetString(buf, 0, n));
        // ".." from a moved directory is its new parent.
        Directory.CreateDirectory(Path.Combine(m.Root, "sub", "dd"));
        uint dd = m.Walk("sub", "dd");
        Assert.Equal(0, c.RenameAt(sub, "dd", m.RootFid, "dd2"));
        uint viaParent = c.AllocateFid();
        Assert.Equal(0, c.Walk(dd, viaParent, ["..", "hello.txt"], out _));
        Assert.Equal(0, c.UnlinkAt(m.RootFid, "dd2", (uint)OpenFlags.AT_REMOVEDIR));
        Assert.Equal(ENOENT, c.RenameAt(sub, "inner.txt", m.RootFid, "x"));

        // Rename a directory; a fid inside it still re-opens by name.
        File.WriteAllText(Path.Combine(m.Root, "sub", "f"), "f");
        uint f = m.Walk("sub", "f");
        Assert.Equal(0, c.RenameAt(m.RootFid, "sub", m.RootFid, "sub2"));
        Assert.Equal(0, c.Lopen(f, RDONLY, out _, out _));

        Assert.Equal(ENOTEMPTY, c.UnlinkAt(m.RootFid, "sub2", (uint)OpenFlags.AT_REMOVEDIR));
        Assert.Equal(0, c.UnlinkAt(sub, "f", 0));
        Assert.Equal(0, c.UnlinkAt(m.RootFid, "sub2", (uint)OpenFlags.AT_REMOVEDIR));
        Assert.False(Directory.Exists(Path.Combine(m.Root, "sub2")));
        Assert.Equal(ENOENT, c.UnlinkAt(m.RootFid, "nope", 0));
        Assert.Equal(EINVAL, c.UnlinkAt(m.RootFid, "hello.txt", 1));

        uint h = m.Walk("hello.txt");
        Assert.Equal(0, c.Remove(h));
        Assert.False(File.Exists(Path.Combine(m.Root, "hello.txt")));
        Assert.Equal(EBADF, c.Clunk(h)); // Tremove clunks
        uint root2 = m.Walk();
        Assert.Equal(16, c.Remove(root2)); // EBUSY: the root stays
        Assert.True(Directory.Exists(m.Root));
    }

    [Fact]
    public void Statfs_SetAttr_Fsync()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        Assert.Equal(0, c.Statfs(m.RootFid, out var sfs));
        Assert.True(sfs.BSize > 0);
        Assert.True(sfs.Blocks > 0);
        Assert.Equal(255u, sfs.NameLen);

        uint f = m.Walk("hello.txt");
        var sa = new P9SetAttr
        {
            Valid = P9Protocol.SetAttrMode | P9Protocol.SetAttrSize | P9Protocol.SetAttrMtime | P9Protocol.SetAttrMtimeSet | P9Protocol.SetAttrAtime,
            Mode = 0x180,
            Size = 5,
            MtimeSec = 1_000_000_000,
            MtimeNsec = 123,
        };
        Assert.Equal(0, c.SetAttr(f, sa));
        Assert.Equal(0, c.GetAttr(f, P9Protocol.GetAttrAll, out var attr));
        Assert.Equal(StatMode.S_IFREG | 0x180u, attr.Mode);
        Assert.Equal(5ul, attr.Size);
        Assert.Equal((1_000_000_000ul, 123ul), (attr.MtimeSec, attr.MtimeNsec));
        Assert.True(attr.AtimeSec > 1_600_000_000);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(m.Root, "hello.txt")));
        Assert.Equal(21, c.SetAttr(m.Walk("sub"), new P9SetAttr { Valid = P9Protocol.SetAttrSize }));

        Assert.Equal(EBADF, c.Fsync(f, false));
        Assert.Equal(0, c.Lopen(f, RDWR, out _, out _));
        Assert.Equal(0, c.Fsync(f, false));
        Assert.Equal(0, c.Fsync(f, true));
        Assert.Equal(0, c.Fsync(m.RootFid, false));
    }

    [Fact]
    public void Xattrs()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint f = m.Walk("hello.txt");
        uint x = c.AllocateFid();
        Assert.Equal(0, c.Walk(f, x, [], out _));
        var value = "some value"u8.ToArray();
        Assert.Equal(0, c.XattrCreate(x, "user.test", (ulong)value.Length, 0));
        Assert.Equal(0, c.Write(x, 0, value, out int n));
        Assert.Equal(value.Length, n);
        int err = c.Clunk(x);
        if (err == 95)
        {
            return; // the temp file system has no user xattrs
        }
        Assert.Equal(0, err);

        uint r = c.AllocateFid();
        Assert.Equal(0, c.XattrWalk(f, r, "user.test", out ulong size));
        Assert.Equal((ulong)value.Length, size);
        var buf = new byte[64];
        Assert.Equal(0, c.Read(r, 0, buf, out n));
        Assert.Equal(value, buf.AsSpan(0, n).ToArray());
        Assert.Equal(0, c.Clunk(r));

        uint list = c.AllocateFid();
        Assert.Equal(0, c.XattrWalk(f, list, "", out size));
        Assert.Equal(0, c.Read(list, 0, buf, out n));
        Assert.Contains("user.test", Encoding.UTF8.GetString(buf, 0, n).Split('\0'));
        Assert.Equal(0, c.Clunk(list));

        Assert.Equal(61, c.XattrWalk(f, r, "user.missing", out _)); // ENODATA
        // Size 0 removes; a short write is refused at clunk.
        Assert.Equal(0, c.Walk(f, x, [], out _));
        Assert.Equal(0, c.XattrCreate(x, "user.test", 0, 0));
        Assert.Equal(0, c.Clunk(x));
        Assert.Equal(61, c.XattrWalk(f, r, "user.test", out _));
        Assert.Equal(0, c.Walk(f, x, [], out _));
        Assert.Equal(0, c.XattrCreate(x, "user.short", 10, 0));
        Assert.Equal(EINVAL, c.Clunk(x));
        Assert.Equal(7, c.XattrCreate(f, "user.huge", 1 << 20, 0)); // E2BIG
    }

    [Fact]
    public void Locks_AreHeldPerFid()
    {
        using var m = new Mount(populate: Populate);
        var c = m.Client;
        uint a = m.Open((int)RDWR, "hello.txt");
        uint b = m.Open((int)RDWR, "hello.txt");
        var wr = new P9Lock { Type = P9Protocol.LockTypeWrite, Start = 0, Length = 0, ProcId = 1, ClientId = "a" };
        Assert.Equal(0, c.Lock(a, wr, out byte status));
        Assert.Equal(P9Protocol.LockSuccess, status);
        Assert.Equal(0, c.Lock(b, wr with { ProcId = 2, ClientId = "b" }, out status));
        Assert.Equal(P9Protocol.LockBlocked, status);
        var probe = new P9Lock { Type = P9Protocol.LockTypeRead, Start = 3, Length = 1, ProcId = 2, ClientId = "b" };
        Assert.Equal(0, c.GetLock(b, ref probe));
        Assert.Equal(P9Protocol.LockTypeWrite, probe.Type);
        Assert.Equal(0, c.Lock(a, wr with { Type = P9Protocol.LockTypeUnlock }, out status));
        Assert.Equal(P9Protocol.LockSuccess, status);
        probe = new P9Lock { Type = P9Protocol.LockTypeWrite, ClientId = "b" };
        Assert.Equal(0, c.GetLock(b, ref probe));
        Assert.Equal(P9Protocol.LockTypeUnlock, probe.Type);
        Assert.Equal(0, c.Lock(b, wr, out status));
        Assert.Equal(P9Protocol.LockSuccess, status);
        Assert.Equal(EBADF, c.Lock(m.Walk("hello.txt"), wr, out _));
    }

    [Fact]
    public void FidTable_IsBounded()
    {
        using var m = new Mount(maxFids: 4);
        for (int i = 0; i < 3; i++)
        {
            m.Walk();
        }
        uint extra = m.Client.AllocateFid();
        Assert.Equal(23, m.Client.Walk(m.RootFid, extra, [], out _)); // ENFILE
        Assert.Equal(0, m.Client.Walk(m.RootFid, m.RootFid, [], out _)); // walking onto itself needs no new fid
    }

    [Fact]
    public void Flush_IsAnswered()
    {
        using var m = new Mount();
        Assert.Equal(0, m.Client.Flush(5));
    }

    [Fact]
    public void DeadConnection_GivesEio()
    {
        var m = new Mount(populate: Populate);
        uint f = m.Walk("hello.txt");
        Abi.Host.Sockets.Shutdown(m.Dir.ClientFd, Abi.Host.Sockets.SHUT_RDWR);
        Assert.Equal(5, m.Client.GetAttr(f, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(5, m.Client.Read(f, 0, new byte[10], out _));
        Assert.True(m.Client.IsDead);
        m.Dispose();
    }
}
