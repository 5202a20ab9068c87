using System.Buffers.Binary;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

/// <summary>The client against a scripted peer: bad replies give EIO, never an exception or a hang.</summary>
public unsafe class ClientTests
{
    private const int EIO = 5;

    /// <summary>Reads one request frame from <paramref name="fd"/>; returns its type and tag.</summary>
    private static (P9MessageType Type, ushort Tag) ReadRequest(int fd)
    {
        var header = new byte[4];
        ReadExact(fd, header);
        var rest = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header) - 4];
        ReadExact(fd, rest);
        return ((P9MessageType)rest[0], BinaryPrimitives.ReadUInt16LittleEndian(rest.AsSpan(1)));
    }

    private static void ReadExact(int fd, byte[] buf)
    {
        int off = 0;
        while (off < buf.Length)
        {
            fixed (byte* p = buf)
            {
                nint n = Sockets.Recv(fd, p + off, (nuint)(buf.Length - off), 0);
                Assert.True(n > 0, "peer closed");
                off += (int)n;
            }
        }
    }

    private static void Write(int fd, byte[] data)
    {
        fixed (byte* p = data)
        {
            Assert.Equal(data.Length, (int)Sockets.Send(fd, p, (nuint)data.Length, Sockets.MSG_NOSIGNAL));
        }
    }

    private static byte[] Frame<T>(ushort tag, T msg)
        where T : struct, IP9Message<T>
    {
        var buf = new byte[P9Codec.FrameSize(msg)];
        P9Codec.Encode(buf, tag, msg);
        return buf;
    }

    [Fact]
    public void VersionAndErrors_FromAScriptedServer()
    {
        var (a, b) = Host.SocketPair();
        using var client = new P9Client(a);
        var server = new Thread(() =>
        {
            var (type, tag) = ReadRequest(b);
            Assert.Equal((P9MessageType.Tversion, P9Protocol.NoTag), (type, tag));
            Write(b, Frame(tag, new Rversion(65536, P9Protocol.Version)));
            (_, tag) = ReadRequest(b);
            Write(b, Frame(tag, new Rlerror(13)));                  // EACCES
            (_, tag) = ReadRequest(b);
            Write(b, Frame(tag, default(Rclunk)));                   // wrong reply type
            (_, tag) = ReadRequest(b);
            Write(b, Frame(tag, new Rlerror(0)));                    // an error without an errno
            (_, tag) = ReadRequest(b);
            Write(b, Frame(tag, new Rread(new byte[100])));          // more than asked for
            (_, tag) = ReadRequest(b);
            Write(b, [3, 0, 0, 0]);                                  // broken framing
        });
        server.Start();
        Assert.Equal(0, client.Version(1 << 20));
        Assert.Equal(65536u, client.MSize);
        Assert.Equal(13, client.GetAttr(1, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(EIO, client.GetAttr(1, P9Protocol.GetAttrBasic, out _));
        Assert.Equal(EIO, client.Clunk(1));
        Assert.Equal(EIO, client.Read(1, 0, new byte[10], out _));
        Assert.False(client.IsDead);
        Assert.Equal(EIO, client.Clunk(1));
        Assert.True(client.IsDead);
        Assert.Equal(EIO, client.Statfs(1, out _));
        server.Join();
        Host.Close(b);
    }

    [Fact]
    public void ClientOverASocket_TalksToTheServer()
    {
        using var dir = new ServedDir(populate: root => File.WriteAllText(Path.Combine(root, "f"), "over a Socket"));
        var socket = new System.Net.Sockets.Socket(new System.Net.Sockets.SafeSocketHandle(Unistd.Dup(dir.ClientFd), ownsHandle: true));
        using var client = new P9Client(socket);
        Assert.Equal(0, client.Version(65536));
        uint root = client.AllocateFid(), f = client.AllocateFid();
        Assert.NotEqual(root, f);
        Assert.Equal(0, client.Attach(root, "u", 0, "", out _));
        Assert.Equal(0, client.Walk(root, f, ["f"], out _));
        Assert.Equal(0, client.Lopen(f, 0, out _, out _));
        var buf = new byte[64];
        Assert.Equal(0, client.Read(f, 0, buf, out int n));
        Assert.Equal("over a Socket", System.Text.Encoding.UTF8.GetString(buf, 0, n));
        Assert.Equal(0, client.Clunk(f));
        client.ReleaseFid(f);
        Assert.Equal(f, client.AllocateFid());
    }

    [Fact]
    public void Version_RefusesOtherProtocols()
    {
        var (a, b) = Host.SocketPair();
        using var client = new P9Client(a);
        var server = new Thread(() =>
        {
            var (_, tag) = ReadRequest(b);
            Write(b, Frame(tag, new Rversion(8192, "unknown")));
        });
        server.Start();
        Assert.Equal(93, client.Version()); // EPROTONOSUPPORT
        server.Join();
        Host.Close(b);
    }

    [Fact]
    public void Dispose_WhileCallsWait_ReturnsEioEverywhere()
    {
        var (a, b) = Host.SocketPair();
        var client = new P9Client(a);
        int started = 0;
        var results = new int[8];
        var callers = Enumerable.Range(0, 8).Select(i => new Thread(() =>
        {
            Interlocked.Increment(ref started);
            results[i] = client.GetAttr((uint)i, P9Protocol.GetAttrBasic, out _); // the peer never answers
        })).ToList();
        callers.ForEach(t => t.Start());
        SpinWait.SpinUntil(() => Volatile.Read(ref started) == 8);
        Thread.Sleep(50);
        client.Dispose();
        Assert.All(callers, t => Assert.True(t.Join(TimeSpan.FromSeconds(10))));
        Assert.All(results, r => Assert.Equal(EIO, r));
        Assert.Equal(EIO, client.Clunk(1));
        Host.Close(b);
    }

    [Fact]
    public void RepliesOutOfOrder_ReachTheirCallers()
    {
        var (a, b) = Host.SocketPair();
        using var client = new P9Client(a);
        const int N = 16;
        var server = new Thread(() =>
        {
            var tags = new List<ushort>();
            for (int i = 0; i < N; i++)
            {
                tags.Add(ReadRequest(b).Tag);
            }
            tags.Reverse(); // answer the last first; each reply carries its tag as the errno
            foreach (ushort tag in tags)
            {
                Write(b, Frame(tag, new Rlerror(1000u + tag)));
            }
        });
        server.Start();
        var results = new int[N];
        var callers = Enumerable.Range(0, N).Select(i => new Thread(() => results[i] = client.Fsync((uint)i, false))).ToList();
        callers.ForEach(t => t.Start());
        callers.ForEach(t => t.Join());
        server.Join();
        Assert.Equal(N, results.Distinct().Count());
        Assert.All(results, r => Assert.InRange(r, 1000, 1000 + N - 1));
        Host.Close(b);
    }
}
