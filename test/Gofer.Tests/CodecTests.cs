using FsCheck;
using FsCheck.Fluent;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

public class CodecTests
{
    private static readonly HashSet<P9MessageType> Covered = [];

    private static byte[] Encode<T>(ushort tag, in T msg)
        where T : struct, IP9Message<T>
    {
        var buf = new byte[P9Codec.FrameSize(msg)];
        Assert.Equal(buf.Length, P9Codec.Encode(buf, tag, msg));
        return buf;
    }

    /// <summary>Encodes, decodes, re-encodes (bytes must match) and checks that every strict
    /// prefix of the body is rejected with P9FormatException.</summary>
    private static T RoundTrip<T>(T msg)
        where T : struct, IP9Message<T>
    {
        lock (Covered)
        {
            Covered.Add(T.Type);
        }
        var bytes = Encode(0x1234, msg);
        Assert.Equal((uint)bytes.Length, BitConverter.ToUInt32(bytes, 0));
        Assert.Equal((byte)T.Type, bytes[4]);
        var decoded = P9Codec.Decode<T>(bytes, out ushort tag);
        Assert.Equal(0x1234, tag);
        Assert.Equal(bytes, Encode(0x1234, decoded));
        var body = bytes.AsMemory(P9Protocol.HeaderSize);
        for (int cut = 0; cut < body.Length; cut++)
        {
            var prefix = body[..cut];
            Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<T>(prefix));
        }
        var longer = new byte[body.Length + 1];
        body.CopyTo(longer);
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<T>(longer));
        return decoded;
    }

    private static readonly Qid Q1 = new(Qid.TypeDir, 7, 0x0102030405060708);
    private static readonly Qid Q2 = new(Qid.TypeSymlink, 0xFFFFFFFF, ulong.MaxValue);

    private static P9Attr SampleAttr() => new()
    {
        Valid = P9Protocol.GetAttrAll,
        Qid = Q1,
        Mode = 0x41ED,
        Uid = 1000,
        Gid = 1001,
        Nlink = 3,
        Rdev = 0x0801,
        Size = 1L << 40,
        BlkSize = 4096,
        Blocks = 8,
        AtimeSec = 1,
        AtimeNsec = 2,
        MtimeSec = 3,
        MtimeNsec = 4,
        CtimeSec = 5,
        CtimeNsec = 6,
        BtimeSec = 7,
        BtimeNsec = 8,
        Gen = 9,
        DataVersion = 10,
    };

    private static P9Lock SampleLock() => new()
    {
        Type = P9Protocol.LockTypeWrite,
        Flags = P9Protocol.LockFlagBlock,
        Start = 10,
        Length = 20,
        ProcId = 42,
        ClientId = "client-é",
    };

    [Fact]
    public void EveryMessageType_RoundTrips()
    {
        Assert.Equal(new Tversion(8192, "9P2000.L"), RoundTrip(new Tversion(8192, "9P2000.L")));
        Assert.Equal(new Rversion(4096, "unknown"), RoundTrip(new Rversion(4096, "unknown")));
        Assert.Equal(new Tauth(5, "u", "a", 1000), RoundTrip(new Tauth(5, "u", "a", 1000)));
        Assert.Equal(new Rauth(Q1), RoundTrip(new Rauth(Q1)));
        Assert.Equal(new Tattach(1, P9Protocol.NoFid, "root", "/", 0), RoundTrip(new Tattach(1, P9Protocol.NoFid, "root", "/", 0)));
        Assert.Equal(new Rattach(Q2), RoundTrip(new Rattach(Q2)));
        Assert.Equal(new Rlerror(2), RoundTrip(new Rlerror(2)));
        Assert.Equal(new Tflush(9), RoundTrip(new Tflush(9)));
        RoundTrip(default(Rflush));

        var walk = RoundTrip(new Twalk(1, 2, ["a", "bé", "..", ""]));
        Assert.Equal((1u, 2u), (walk.Fid, walk.NewFid));
        Assert.Equal(["a", "bé", "..", ""], walk.Names);
        Assert.Empty(RoundTrip(new Twalk(1, 2, [])).Names);
        Assert.Equal([Q1, Q2], RoundTrip(new Rwalk([Q1, Q2])).Qids);
        var wga = RoundTrip(new Twalkgetattr(1, P9Protocol.NoFid, ["a", "b"]));
        Assert.Equal((1u, P9Protocol.NoFid), (wga.Fid, wga.NewFid));
        Assert.Equal(["a", "b"], wga.Names);
        var rwga = RoundTrip(new Rwalkgetattr(SampleAttr(), [Q1, Q2]));
        Assert.Equal(SampleAttr(), rwga.Attr);
        Assert.Equal([Q1, Q2], rwga.Qids);

        Assert.Equal(new Tlopen(3, 0x8002), RoundTrip(new Tlopen(3, 0x8002)));
        Assert.Equal(new Rlopen(Q1, 8192), RoundTrip(new Rlopen(Q1, 8192)));
        Assert.Equal(new Tlcreate(3, "f", 0x42, 0x1A4, 100), RoundTrip(new Tlcreate(3, "f", 0x42, 0x1A4, 100)));
        Assert.Equal(new Rlcreate(Q2, 0), RoundTrip(new Rlcreate(Q2, 0)));
        Assert.Equal(new Tread(3, ulong.MaxValue, 4096), RoundTrip(new Tread(3, ulong.MaxValue, 4096)));
        Assert.Equal("data"u8.ToArray(), RoundTrip(new Rread("data"u8.ToArray())).Data.ToArray());
        var tw = RoundTrip(new Twrite(3, 77, new byte[] { 1, 2, 3 }));
        Assert.Equal((3u, 77ul), (tw.Fid, tw.Offset));
        Assert.Equal(new byte[] { 1, 2, 3 }, tw.Data.ToArray());
        Assert.Equal(new Rwrite(3), RoundTrip(new Rwrite(3)));
        Assert.Equal(new Tclunk(3), RoundTrip(new Tclunk(3)));
        RoundTrip(default(Rclunk));
        Assert.Equal(new Tremove(3), RoundTrip(new Tremove(3)));
        RoundTrip(default(Rremove));

        Assert.Equal(new Tgetattr(3, P9Protocol.GetAttrAll), RoundTrip(new Tgetattr(3, P9Protocol.GetAttrAll)));
        Assert.Equal(new Rgetattr(SampleAttr()), RoundTrip(new Rgetattr(SampleAttr())));
        var sa = new P9SetAttr { Valid = 0x1FF, Mode = 0x1ED, Uid = 1, Gid = 2, Size = 3, AtimeSec = 4, AtimeNsec = 5, MtimeSec = 6, MtimeNsec = 7 };
        Assert.Equal(new Tsetattr(3, sa), RoundTrip(new Tsetattr(3, sa)));
        RoundTrip(default(Rsetattr));
        Assert.Equal(new Tstatfs(3), RoundTrip(new Tstatfs(3)));
        var sf = new P9Statfs { Type = 0xEF53, BSize = 4096, Blocks = 1, BFree = 2, BAvail = 3, Files = 4, FFree = 5, FsId = 6, NameLen = 255 };
        Assert.Equal(new Rstatfs(sf), RoundTrip(new Rstatfs(sf)));

        Assert.Equal(new Treaddir(3, 99, 8192), RoundTrip(new Treaddir(3, 99, 8192)));
        Assert.Equal(new byte[] { 9, 8 }, RoundTrip(new Rreaddir(new byte[] { 9, 8 })).Data.ToArray());
        Assert.Equal(new Tmkdir(3, "d", 0x1ED, 5), RoundTrip(new Tmkdir(3, "d", 0x1ED, 5)));
        Assert.Equal(new Rmkdir(Q1), RoundTrip(new Rmkdir(Q1)));
        Assert.Equal(new Tsymlink(3, "l", "../t", 5), RoundTrip(new Tsymlink(3, "l", "../t", 5)));
        Assert.Equal(new Rsymlink(Q2), RoundTrip(new Rsymlink(Q2)));
        Assert.Equal(new Tmknod(3, "n", 0x11A4, 1, 2, 5), RoundTrip(new Tmknod(3, "n", 0x11A4, 1, 2, 5)));
        Assert.Equal(new Rmknod(Q1), RoundTrip(new Rmknod(Q1)));
        Assert.Equal(new Treadlink(3), RoundTrip(new Treadlink(3)));
        Assert.Equal(new Rreadlink("/etc/passwd"), RoundTrip(new Rreadlink("/etc/passwd")));
        Assert.Equal(new Tlink(3, 4, "h"), RoundTrip(new Tlink(3, 4, "h")));
        RoundTrip(default(Rlink));
        Assert.Equal(new Trename(3, 4, "r"), RoundTrip(new Trename(3, 4, "r")));
        RoundTrip(default(Rrename));
        Assert.Equal(new Trenameat(3, "a", 4, "b"), RoundTrip(new Trenameat(3, "a", 4, "b")));
        RoundTrip(default(Rrenameat));
        Assert.Equal(new Tunlinkat(3, "u", 0x200), RoundTrip(new Tunlinkat(3, "u", 0x200)));
        RoundTrip(default(Runlinkat));
        Assert.Equal(new Tfsync(3, 1), RoundTrip(new Tfsync(3, 1)));
        RoundTrip(default(Rfsync));

        Assert.Equal(new Txattrwalk(3, 4, "user.x"), RoundTrip(new Txattrwalk(3, 4, "user.x")));
        Assert.Equal(new Rxattrwalk(12), RoundTrip(new Rxattrwalk(12)));
        Assert.Equal(new Txattrcreate(3, "user.x", 12, 1), RoundTrip(new Txattrcreate(3, "user.x", 12, 1)));
        RoundTrip(default(Rxattrcreate));

        Assert.Equal(new Tlock(3, SampleLock()), RoundTrip(new Tlock(3, SampleLock())));
        Assert.Equal(new Rlock(P9Protocol.LockBlocked), RoundTrip(new Rlock(P9Protocol.LockBlocked)));
        var noFlags = SampleLock() with { Flags = 0 };
        Assert.Equal(new Tgetlock(3, noFlags), RoundTrip(new Tgetlock(3, noFlags)));
        Assert.Equal(new Rgetlock(noFlags), RoundTrip(new Rgetlock(noFlags)));

        var missing = Enum.GetValues<P9MessageType>().Where(t => t != P9MessageType.Tlerror && !Covered.Contains(t)).ToArray();
        Assert.Empty(missing);
    }

    [Fact]
    public void Numbering_MatchesLinux()
    {
        Assert.Equal(7, (int)P9MessageType.Rlerror);
        Assert.Equal(8, (int)P9MessageType.Tstatfs);
        Assert.Equal(12, (int)P9MessageType.Tlopen);
        Assert.Equal(24, (int)P9MessageType.Tgetattr);
        Assert.Equal(40, (int)P9MessageType.Treaddir);
        Assert.Equal(74, (int)P9MessageType.Trenameat);
        Assert.Equal(100, (int)P9MessageType.Tversion);
        Assert.Equal(110, (int)P9MessageType.Twalk);
        Assert.Equal(122, (int)P9MessageType.Tremove);
        // Tread fid=1 offset=2 count=3 tag=0xABCD, byte by byte.
        byte[] expected = [23, 0, 0, 0, 116, 0xCD, 0xAB, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0];
        Assert.Equal(expected, Encode(0xABCD, new Tread(1, 2, 3)));
    }

    [Fact]
    public void Dirents_RoundTrip()
    {
        var buf = new byte[4096];
        int pos = 0;
        P9Dirent[] entries = [new(Q1, 1, 4, "dir"), new(Q2, 2, 10, "lnk"), new(new Qid(0, 0, 5), ulong.MaxValue, 8, "fé")];
        foreach (var e in entries)
        {
            Assert.True(P9Dirents.TryEncode(buf, ref pos, e));
        }
        var small = new byte[10];
        int spos = 0;
        Assert.False(P9Dirents.TryEncode(small, ref spos, entries[0]));
        Assert.Equal(0, spos);
        var decoded = new List<P9Dirent>();
        P9Dirents.Decode(buf.AsMemory(0, pos), decoded);
        Assert.Equal(entries, decoded);
        Assert.Throws<P9FormatException>(() => P9Dirents.Decode(buf.AsMemory(0, pos - 1), []));
    }

    [Fact]
    public void HostileCounts_AreRejectedWithoutAllocating()
    {
        // Twalk claiming 65535 names, Rwalk 65535 qids, Rread/Twrite 4 GiB of data, a 65535-byte string.
        byte[] walk = [1, 0, 0, 0, 2, 0, 0, 0, 0xFF, 0xFF];
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Twalk>(walk));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Rwalk>(new byte[] { 0xFF, 0xFF }));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Rread>(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 1 }));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Twrite>(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF }));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Treadlink>(new byte[] { 1, 0, 0, 0, 5 }));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Rreadlink>(new byte[] { 0xFF, 0xFF, 0x41 }));
        // 17 names is one too many even when they are all there.
        var w = new byte[10 + (17 * 3)];
        w[8] = 17;
        for (int i = 0; i < 17; i++)
        {
            w[10 + (i * 3)] = 1;
            w[12 + (i * 3)] = (byte)'a';
        }
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Twalk>(w));
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Tclunk>(new byte[] { 1, 0, 0 }));
        // Invalid UTF-8 in a name is a format error, not a silently different name.
        Assert.Throws<P9FormatException>(() => P9Codec.DecodeBody<Txattrwalk>(new byte[] { 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0xFF }));
        // Header checks.
        Assert.Throws<P9FormatException>(() => P9Codec.Decode<Tclunk>(new byte[] { 11, 0, 0, 0, 121, 0, 0, 1, 0, 0, 0 }, out _));
        Assert.Throws<P9FormatException>(() => P9Codec.Decode<Tclunk>(new byte[] { 12, 0, 0, 0, 120, 0, 0, 1, 0, 0, 0 }, out _));
        Assert.Throws<P9FormatException>(() => P9Codec.Decode<Tclunk>(new byte[] { 1, 0 }, out _));
    }

    private static readonly Func<ReadOnlyMemory<byte>, object>[] Decoders =
    [
        b => P9Codec.DecodeBody<Tversion>(b), b => P9Codec.DecodeBody<Rversion>(b), b => P9Codec.DecodeBody<Tauth>(b),
        b => P9Codec.DecodeBody<Rauth>(b), b => P9Codec.DecodeBody<Tattach>(b), b => P9Codec.DecodeBody<Rattach>(b),
        b => P9Codec.DecodeBody<Rlerror>(b), b => P9Codec.DecodeBody<Tflush>(b), b => P9Codec.DecodeBody<Rflush>(b),
        b => P9Codec.DecodeBody<Twalk>(b), b => P9Codec.DecodeBody<Rwalk>(b), b => P9Codec.DecodeBody<Tlopen>(b),
        b => P9Codec.DecodeBody<Rlopen>(b), b => P9Codec.DecodeBody<Tlcreate>(b), b => P9Codec.DecodeBody<Rlcreate>(b),
        b => P9Codec.DecodeBody<Tread>(b), b => P9Codec.DecodeBody<Rread>(b), b => P9Codec.DecodeBody<Twrite>(b),
        b => P9Codec.DecodeBody<Rwrite>(b), b => P9Codec.DecodeBody<Tclunk>(b), b => P9Codec.DecodeBody<Tremove>(b),
        b => P9Codec.DecodeBody<Tgetattr>(b), b => P9Codec.DecodeBody<Rgetattr>(b), b => P9Codec.DecodeBody<Tsetattr>(b),
        b => P9Codec.DecodeBody<Tstatfs>(b), b => P9Codec.DecodeBody<Rstatfs>(b), b => P9Codec.DecodeBody<Treaddir>(b),
        b => P9Codec.DecodeBody<Rreaddir>(b), b => P9Codec.DecodeBody<Tmkdir>(b), b => P9Codec.DecodeBody<Rmkdir>(b),
        b => P9Codec.DecodeBody<Tsymlink>(b), b => P9Codec.DecodeBody<Tmknod>(b), b => P9Codec.DecodeBody<Treadlink>(b),
        b => P9Codec.DecodeBody<Rreadlink>(b), b => P9Codec.DecodeBody<Tlink>(b), b => P9Codec.DecodeBody<Trename>(b),
        b => P9Codec.DecodeBody<Trenameat>(b), b => P9Codec.DecodeBody<Tunlinkat>(b), b => P9Codec.DecodeBody<Tfsync>(b),
        b => P9Codec.DecodeBody<Txattrwalk>(b), b => P9Codec.DecodeBody<Rxattrwalk>(b), b => P9Codec.DecodeBody<Txattrcreate>(b),
        b => P9Codec.DecodeBody<Tlock>(b), b => P9Codec.DecodeBody<Rlock>(b), b => P9Codec.DecodeBody<Tgetlock>(b),
        b => P9Codec.DecodeBody<Rgetlock>(b),
        b => { var l = new List<P9Dirent>(); P9Dirents.Decode(b, l); return l; },
    ];

    private static bool DecodesOrRejects(byte[] bytes)
    {
        foreach (var decode in Decoders)
        {
            try
            {
                decode(bytes);
            }
            catch (P9FormatException)
            {
            }
        }
        return true;
    }

    [Fact]
    public void RandomBodies_DecodeOrRaiseFormatErrors_FsCheck()
    {
        var property = Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), (byte[] bytes) => DecodesOrRejects(bytes ?? []));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), property);
    }

    private static readonly Gen<string> Names = Gen.Elements("a", "", "..", "é", "x/y", "name with spaces", new string('n', 300), "日本");

    [Fact]
    public void RandomFields_RoundTrip_FsCheck()
    {
        var gen =
            from fid in ArbMap.Default.GeneratorFor<uint>()
            from off in ArbMap.Default.GeneratorFor<ulong>()
            from mode in ArbMap.Default.GeneratorFor<uint>()
            from name in Names
            from target in Names
            select (fid, off, mode, name, target);
        var property = Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (fid, off, mode, name, target) = t;
            Assert.Equal(new Tlcreate(fid, name, mode, mode ^ 1, fid ^ 2), RoundTrip(new Tlcreate(fid, name, mode, mode ^ 1, fid ^ 2)));
            Assert.Equal(new Tsymlink(fid, name, target, mode), RoundTrip(new Tsymlink(fid, name, target, mode)));
            Assert.Equal(new Trenameat(fid, name, mode, target), RoundTrip(new Trenameat(fid, name, mode, target)));
            var attr = SampleAttr() with { Size = off, Mode = mode, Qid = new Qid((byte)fid, mode, off) };
            Assert.Equal(new Rgetattr(attr), RoundTrip(new Rgetattr(attr)));
            var sa = new P9SetAttr { Valid = mode, Size = off, MtimeNsec = off ^ 7 };
            Assert.Equal(new Tsetattr(fid, sa), RoundTrip(new Tsetattr(fid, sa)));
            Assert.Equal([name, target], RoundTrip(new Twalk(fid, mode, [name, target])).Names);
            var lk = SampleLock() with { Start = off, ClientId = name };
            Assert.Equal(new Tlock(fid, lk), RoundTrip(new Tlock(fid, lk)));
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), property);
    }
}
