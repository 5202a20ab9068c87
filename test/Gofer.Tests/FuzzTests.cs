using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

/// <summary>A raw byte connection to a served directory: whatever is sent, the server must answer
/// with well-formed R-messages or close the connection, never throw, and never touch anything
/// outside its root.</summary>
internal sealed unsafe class RawSession : IDisposable
{
    private readonly ServedDir _dir;
    private readonly Thread _reader;
    private readonly MemoryStream _received = new();

    public RawSession()
    {
        _dir = new ServedDir(populate: root =>
        {
            File.WriteAllText(Path.Combine(root, "f"), "file content");
            Directory.CreateDirectory(Path.Combine(root, "d"));
            File.CreateSymbolicLink(Path.Combine(root, "out"), "../sentinel");
        });
        _reader = new Thread(() =>
        {
            var buf = new byte[65536];
            while (true)
            {
                nint n;
                fixed (byte* p = buf)
                {
                    n = Sockets.Recv(_dir.ClientFd, p, (nuint)buf.Length, 0);
                }
                if (n <= 0)
                {
                    break;
                }
                lock (_received)
                {
                    _received.Write(buf, 0, (int)n);
                }
            }
        })
        { IsBackground = true };
        _reader.Start();
    }

    public void Send(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int off = 0;
            while (off < data.Length)
            {
                nint n = Sockets.Send(_dir.ClientFd, p + off, (nuint)(data.Length - off), Sockets.MSG_NOSIGNAL);
                if (n <= 0)
                {
                    return; // the server closed the connection: allowed
                }
                off += (int)n;
            }
        }
    }

    /// <summary>Waits until the server has sent at least <paramref name="frames"/> whole replies: as a
    /// real client waits for Rlopen before it reads, since the server may serve requests concurrently.</summary>
    public void AwaitReplies(int frames)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            int count = 0;
            lock (_received)
            {
                byte[] bytes = _received.ToArray();
                for (int pos = 0; bytes.Length - pos >= 4;)
                {
                    uint size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos));
                    if (size < 4 || size > bytes.Length - pos) break;
                    pos += (int)size;
                    count++;
                }
            }
            if (count >= frames) return;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"only {count} of {frames} replies came");
            Thread.Sleep(2);
        }
    }

    /// <summary>Closes our sending side, waits for the server to finish, and returns its replies.</summary>
    public List<(P9MessageType Type, ushort Tag, byte[] Frame)> Finish()
    {
        Sockets.Shutdown(_dir.ClientFd, Sockets.SHUT_WR);
        Assert.True(_reader.Join(TimeSpan.FromSeconds(20)), "the server neither answered nor closed");
        Assert.True(_dir.WaitServerExit(TimeSpan.FromSeconds(20)), "Serve did not return");
        var replies = new List<(P9MessageType, ushort, byte[])>();
        var bytes = _received.ToArray();
        int pos = 0;
        while (pos < bytes.Length)
        {
            Assert.True(bytes.Length - pos >= P9Protocol.HeaderSize, "truncated reply header");
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos));
            Assert.InRange(size, (uint)P9Protocol.HeaderSize, (uint)(bytes.Length - pos));
            var frame = bytes.AsSpan(pos, (int)size).ToArray();
            var type = (P9MessageType)frame[4];
            Assert.True(Enum.IsDefined(type) && ((byte)type & 1) == 1, $"reply of type {(byte)type}");
            if (type == P9MessageType.Rlerror)
            {
                uint ecode = P9Codec.Decode<Rlerror>(frame, out _).Ecode;
                Assert.InRange(ecode, 1u, 4095u);
            }
            replies.Add((type, BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(5)), frame));
            pos += (int)size;
        }
        _dir.AssertOutsideUntouched();
        return replies;
    }

    public void Dispose() => _dir.Dispose();
}

public class FuzzTests
{
    private static byte[] Frame<T>(ushort tag, T msg)
        where T : struct, IP9Message<T>
    {
        var buf = new byte[P9Codec.FrameSize(msg)];
        P9Codec.Encode(buf, tag, msg);
        return buf;
    }

    /// <summary>Version, attach fid 1 to the root, walk fid 2 to "f" and open it read-write, fid 4 to "d".</summary>
    private static readonly byte[][] Prefix =
    [
        Frame(P9Protocol.NoTag, new Tversion(65536, P9Protocol.Version)),
        Frame(1, new Tattach(1, P9Protocol.NoFid, "root", "", 0)),
        Frame(2, new Twalk(1, 2, ["f"])),
        Frame(3, new Tlopen(2, 2)),
        Frame(4, new Twalk(1, 4, ["d"])),
    ];

    /// <summary>Valid requests of every kind, many aimed at the outside, for mutation.</summary>
    private static readonly byte[][] Templates =
    [
        Frame(10, new Twalk(1, 3, ["..", "..", "sentinel"])),
        Frame(11, new Twalk(1, 3, ["out"])),
        Frame(12, new Twalk(4, 5, ["..", "f"])),
        Frame(13, new Tlopen(3, 2 | 0x200)),
        Frame(14, new Tlcreate(4, "new", 0x42, 0x1A4, 0)),
        Frame(15, new Tlcreate(1, "out", 0x242, 0x1A4, 0)),
        Frame(16, new Tread(2, 0, 100)),
        Frame(17, new Twrite(2, 3, "xyz"u8.ToArray())),
        Frame(18, new Tclunk(3)),
        Frame(19, new Tremove(5)),
        Frame(20, new Tgetattr(2, P9Protocol.GetAttrAll)),
        Frame(21, new Tsetattr(3, new P9SetAttr { Valid = 0x1FF, Mode = 0x1FF, Size = 1, AtimeSec = 1, MtimeSec = 2 })),
        Frame(22, new Treaddir(4, 0, 4096)),
        Frame(23, new Tmkdir(1, "..", 0x1ED, 0)),
        Frame(24, new Tsymlink(4, "s", "../../sentinel", 0)),
        Frame(25, new Tmknod(4, "n", 0x11A4, 0, 0, 0)),
        Frame(26, new Treadlink(3)),
        Frame(27, new Tlink(1, 2, "hard")),
        Frame(28, new Trename(2, 4, "moved")),
        Frame(29, new Trenameat(1, "f", 4, "g")),
        Frame(30, new Tunlinkat(1, "out", 0)),
        Frame(31, new Tstatfs(1)),
        Frame(32, new Tfsync(2, 1)),
        Frame(33, new Txattrwalk(2, 6, "")),
        Frame(34, new Txattrcreate(2, "user.a", 4, 0)),
        Frame(35, new Tlock(2, new P9Lock { Type = 1, ClientId = "c" })),
        Frame(36, new Tgetlock(2, new P9Lock { Type = 1, ClientId = "c" })),
        Frame(37, new Tflush(16)),
        Frame(38, new Tauth(7, "u", "a", 0)),
        Frame(39, new Tversion(4096, "9P2000")),
    ];

    private static byte[] Mutate(byte[] template, int kind, int position, uint value)
    {
        var f = (byte[])template.Clone();
        int bodyLen = f.Length - P9Protocol.HeaderSize;
        int at = bodyLen == 0 ? P9Protocol.HeaderSize : P9Protocol.HeaderSize + (int)((uint)position % (uint)bodyLen);
        switch (kind % 7)
        {
            case 0: // a bad size field (sometimes tiny, sometimes huge)
                BinaryPrimitives.WriteUInt32LittleEndian(f, (value & 3) switch { 0 => value % 7, 1 => 0xFFFFFFFF, _ => value % 70000 });
                break;
            case 1: // an unknown or unexpected type
                f[4] = (byte)value;
                break;
            case 2: // a bad fid, offset or count
                if (at + 4 <= f.Length)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(at), (value & 1) == 0 ? value % 8 : value | 0x80000000);
                }
                break;
            case 3: // a truncated body (truncated strings and fields), size kept consistent
                f = f[..at];
                BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)f.Length);
                break;
            case 4: // trailing garbage, size kept consistent
                f = [.. f, (byte)value, (byte)(value >> 8), (byte)(value >> 16)];
                BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)f.Length);
                break;
            case 5: // a bad string length or name count
                if (at + 2 <= f.Length)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(at), (ushort)value);
                }
                break;
            default: // a byte flipped, e.g. a name character turned into '/', '.' or NUL
                f[at] = (value & 3) switch { 0 => (byte)'/', 1 => (byte)'.', 2 => 0, _ => (byte)value };
                break;
        }
        return f;
    }

    private static bool RunMutated((int Template, int Kind, int Position, uint Value)[] ops)
    {
        using var s = new RawSession();
        foreach (var frame in Prefix)
        {
            s.Send(frame);
        }
        foreach (var (t, kind, pos, value) in ops)
        {
            s.Send(Mutate(Templates[(int)((uint)t % (uint)Templates.Length)], kind, pos, value));
        }
        var replies = s.Finish();
        Assert.True(replies.Count >= 1 && replies[0].Type == P9MessageType.Rversion, "the valid prefix is answered");
        return true;
    }

    [Fact]
    public void MutatedFrames_GetErrorsOrAClosedConnection_FsCheck()
    {
        var op =
            from t in Gen.Choose(0, Templates.Length - 1)
            from kind in Gen.Choose(0, 6)
            from pos in ArbMap.Default.GeneratorFor<int>()
            from value in ArbMap.Default.GeneratorFor<uint>()
            select (t, kind, pos, value);
        var property = Prop.ForAll(Gen.ArrayOf(op).ToArbitrary(), ops => RunMutated(ops));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(150), property);
    }

    [Fact]
    public void RandomBytes_GetErrorsOrAClosedConnection_FsCheck()
    {
        var property = Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), ArbMap.Default.ArbFor<bool>(), (byte[] bytes, bool versioned) =>
        {
            using var s = new RawSession();
            if (versioned)
            {
                s.Send(Prefix[0]);
                s.Send(Prefix[1]);
            }
            s.Send(bytes ?? []);
            s.Finish();
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), property);
    }

    [Fact]
    public void ValidTemplates_AreAllAnswered()
    {
        using var s = new RawSession();
        foreach (var frame in Prefix.Concat(Templates))
        {
            s.Send(frame);
        }
        var replies = s.Finish();
        Assert.Equal(Prefix.Length + Templates.Length, replies.Count);
    }

    private static uint Error((P9MessageType Type, ushort Tag, byte[] Frame) reply)
    {
        Assert.Equal(P9MessageType.Rlerror, reply.Type);
        return P9Codec.Decode<Rlerror>(reply.Frame, out _).Ecode;
    }

    [Fact]
    public void SpecificHostileFrames()
    {
        using (var s = new RawSession())
        {
            s.Send(Prefix[0]);
            s.Send(Prefix[1]);
            s.Send(Prefix[2]);
            s.Send(Prefix[3]);
            s.AwaitReplies(4); // the file is open before it is read
            s.Send(Frame(5, new Tread(2, 0, uint.MaxValue)));         // huge count: clamped to msize
            s.Send(Frame(6, new Tread(77, 0, 10)));                   // unknown fid
            s.Send([7, 0, 0, 0, 0, 8, 0]);                           // unknown type 0
            s.Send(Frame(9, new Twalk(1, 8, [.. Enumerable.Repeat("d", 16)])));
            var w17 = Frame(10, new Twalk(1, 8, [.. Enumerable.Repeat("d", 16)]));
            w17[15] = 17;                                            // nwname 17
            s.Send(w17);
            s.Send(Frame(11, new Tread(2, ulong.MaxValue, 10)));      // offset past long.MaxValue
            s.Send([0xFF, 0xFF, 0xFF, 0xFF, 116, 12, 0]);             // size 4 GiB: the connection closes
            s.Send(Frame(13, new Tclunk(1)));                         // never read
            var replies = s.Finish().ToDictionary(r => r.Tag);
            Assert.Equal(10, replies.Count); // everything before the oversized frame, nothing after
            Assert.Equal(P9MessageType.Rread, replies[5].Type);
            Assert.Equal(12 + P9Protocol.ReadOverhead, replies[5].Frame.Length);
            Assert.Equal(9u, Error(replies[6]));
            Assert.Equal(95u, Error(replies[8]));
            Assert.Equal(P9MessageType.Rwalk, replies[9].Type); // 16 x "d": d/d fails, a partial Rwalk of one qid
            Assert.Single(P9Codec.Decode<Rwalk>(replies[9].Frame, out _).Qids);
            Assert.Equal(22u, Error(replies[10]));
            Assert.Equal(22u, Error(replies[11]));
        }
    }
}
