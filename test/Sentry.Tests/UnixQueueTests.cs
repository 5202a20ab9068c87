using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Socket.Unix;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Tests;

/// <summary>The AF_UNIX receive queue: stream reads join messages but stop at descriptors and
/// (with SO_PASSCRED) at other senders' credentials; datagram reads take one message and drop
/// what does not fit; peeks leave everything queued; read messages are handed back so their
/// senders' buffer charges can be released.</summary>
public sealed class UnixQueueTests
{
    private static readonly UCred Alice = new(10, 1000, 1000), Bob = new(20, 1001, 1001);

    private sealed class Counted : FileDescription
    {
        public int Releases;
        public override string Name => "counted";
        protected override void Release() => Releases++;
    }

    private static UnixMessage Message(string text, UCred creds = default, FileDescription[]? rights = null)
    {
        var data = Encoding.ASCII.GetBytes(text);
        return new UnixMessage(data, data.Length) { Creds = creds, Rights = rights, Charge = data.Length };
    }

    private static string Stream(UnixQueue q, int size, bool peek = false, bool passCred = false, List<UnixMessage>? released = null)
    {
        var result = default(UnixReadResult);
        return Stream(q, size, ref result, peek, passCred, released);
    }

    private static string Stream(UnixQueue q, int size, ref UnixReadResult result, bool peek = false, bool passCred = false,
        List<UnixMessage>? released = null)
    {
        var buffer = new byte[size];
        q.ReadStream(new IoBuffers(buffer), peek, passCred, released, ref result);
        return Encoding.ASCII.GetString(buffer, 0, (int)result.Copied);
    }

    [Fact]
    public void StreamRead_JoinsMessages_AndSplitsThemAtTheBufferEnd()
    {
        var q = new UnixQueue();
        q.Enqueue(Message("abc"));
        q.Enqueue(Message("defg"));
        Assert.Equal(7, q.Bytes);
        var released = new List<UnixMessage>();
        Assert.Equal("abcde", Stream(q, 5, released: released));
        Assert.Single(released);
        Assert.Equal(2, q.Bytes);
        Assert.Equal("fg", Stream(q, 10, released: released));
        Assert.Equal(2, released.Count);
        Assert.Equal(0, q.Count);
        Assert.Equal("", Stream(q, 10));
    }

    [Fact]
    public void StreamRead_StopsAfterTheMessageCarryingDescriptors()
    {
        var q = new UnixQueue();
        var file = new Counted();
        q.Enqueue(Message("ab"));
        q.Enqueue(Message("c", rights: [file]));
        q.Enqueue(Message("de"));
        var result = default(UnixReadResult);
        Assert.Equal("abc", Stream(q, 20, ref result));
        Assert.True(result.Barrier);
        Assert.Same(file, Assert.Single(result.Rights!));
        // A later call of the same read (MSG_WAITALL) adds nothing past the barrier.
        Assert.Equal(0, q.ReadStream(new IoBuffers(new byte[20]), false, false, null, ref result));
        Assert.Equal(3, result.Copied);
        Assert.Equal("de", Stream(q, 20));
        Assert.Equal(0, file.Releases);
    }

    [Fact]
    public void StreamRead_GivesDescriptorsToTheFirstReadThatTouchesTheirMessage()
    {
        var q = new UnixQueue();
        var file = new Counted();
        q.Enqueue(Message("xyz", rights: [file]));
        var result = default(UnixReadResult);
        Assert.Equal("x", Stream(q, 1, ref result));
        Assert.NotNull(result.Rights);
        var second = default(UnixReadResult);
        Assert.Equal("yz", Stream(q, 10, ref second));
        Assert.Null(second.Rights);
    }

    [Fact]
    public void StreamRead_WithPassCred_DoesNotJoinDifferentSenders()
    {
        var q = new UnixQueue();
        q.Enqueue(Message("a1", Alice));
        q.Enqueue(Message("a2", Alice));
        q.Enqueue(Message("b1", Bob));
        var result = default(UnixReadResult);
        Assert.Equal("a1a2", Stream(q, 10, ref result, passCred: true));
        Assert.Equal(Alice, result.Creds);
        var next = default(UnixReadResult);
        Assert.Equal("b1", Stream(q, 10, ref next, passCred: true));
        Assert.Equal(Bob, next.Creds);
    }

    [Fact]
    public void StreamRead_WithoutPassCred_JoinsEveryone()
    {
        var q = new UnixQueue();
        q.Enqueue(Message("a", Alice));
        q.Enqueue(Message("b", Bob));
        var result = default(UnixReadResult);
        Assert.Equal("ab", Stream(q, 10, ref result));
        Assert.Null(result.Creds);
    }

    [Fact]
    public void StreamPeek_LeavesTheQueue_AndARepeatedPeekContinues()
    {
        var q = new UnixQueue();
        var file = new Counted();
        q.Enqueue(Message("abc"));
        q.Enqueue(Message("def", rights: [file]));
        var result = default(UnixReadResult);
        Assert.Equal("ab", Stream(q, 2, ref result, peek: true));
        Assert.Equal(6, q.Bytes);
        var more = default(UnixReadResult);
        Assert.Equal("abcdef", Stream(q, 8, ref more, peek: true));
        // A peek hands out its own references to the descriptors.
        Assert.Same(file, Assert.Single(more.Rights!));
        more.Rights![0].DecRef();
        Assert.Equal(0, file.Releases);
        Assert.Equal("abcdef", Stream(q, 8));
    }

    [Fact]
    public void MessageRead_TakesOneMessage_AndDropsWhatDoesNotFit()
    {
        var q = new UnixQueue();
        q.Enqueue(Message("first"));
        q.Enqueue(Message("second"));
        q.Enqueue(Message(""));
        var buffer = new byte[3];
        var released = new List<UnixMessage>();
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: false, released, out var r));
        Assert.Equal(3, r.Copied);
        Assert.Equal(5, r.MessageLength);
        Assert.True(r.Truncated);
        Assert.Equal("fir", Encoding.ASCII.GetString(buffer));
        Assert.Single(released);

        buffer = new byte[10];
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: true, passCred: false, released, out r));
        Assert.Equal(6, r.Copied);
        Assert.False(r.Truncated);
        Assert.Equal(2, q.Count);
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: false, released, out r));
        Assert.Equal("second", Encoding.ASCII.GetString(buffer, 0, 6));

        // A zero-length datagram is a message of its own.
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: false, released, out r));
        Assert.Equal(0, r.Copied);
        Assert.False(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: false, released, out _));
        Assert.Equal(3, released.Count);
    }

    [Fact]
    public void MessageRead_ReportsCredentialsOnlyWithPassCred_AndMovesTheDescriptors()
    {
        var q = new UnixQueue();
        var file = new Counted();
        q.Enqueue(Message("m", Alice, [file]));
        q.Enqueue(Message("n", Bob));
        var buffer = new byte[4];
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: true, null, out var r));
        Assert.Equal(Alice, r.Creds);
        Assert.Same(file, Assert.Single(r.Rights!));
        Assert.True(q.ReadMessage(new IoBuffers(buffer), peek: false, passCred: false, null, out r));
        Assert.Null(r.Creds);
        Assert.Null(r.Rights);
    }

    [Fact]
    public void Drain_EmptiesTheQueue()
    {
        var q = new UnixQueue();
        q.Enqueue(Message("abc"));
        q.Enqueue(Message("de"));
        Stream(q, 1);
        var drained = q.Drain();
        Assert.Equal(2, drained.Count);
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.Bytes);
        Assert.Null(q.Head);
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, (byte)'/', (byte)'s', 0, (byte)'x' }, "/s", null, 5)]
    [InlineData(new byte[] { 1, 0, (byte)'a', (byte)'b' }, "ab", null, 5)]
    [InlineData(new byte[] { 1, 0, 0, (byte)'n', 0 }, null, "\0n\0", 5)]
    public void Address_ParsesPathAndAbstractNames(byte[] sockaddr, string? path, string? key, int returnedLength)
    {
        Assert.Equal(0, UnixAddress.Parse(sockaddr, out var a));
        Assert.Equal(path, a.Path);
        Assert.Equal(key, a.AbstractKey);
        Assert.Equal(returnedLength, a.Sockaddr.Length);
    }

    [Theory]
    [InlineData(new byte[] { 1, 0 })]
    [InlineData(new byte[] { 2, 0, (byte)'x' })]
    [InlineData(new byte[] { 1 })]
    public void Address_RejectsBadOnes(byte[] sockaddr) =>
        Assert.Equal(-(long)Errno.EINVAL, UnixAddress.Parse(sockaddr, out _));

    [Fact]
    public void Address_RejectsMoreThanSockaddrUn()
    {
        var tooLong = new byte[SocketAbi.SockaddrUnSize + 1];
        tooLong[0] = 1;
        tooLong[2] = (byte)'x';
        Assert.Equal(-(long)Errno.EINVAL, UnixAddress.Parse(tooLong, out _));
    }

    [Fact]
    public void AbstractNamespace_BindsOnce_AndAutobindsFiveHexDigits()
    {
        var ns = new UnixAbstractNamespace();
        Assert.True(ns.Autobind(null!, out var a));
        Assert.Equal(8, a.Sockaddr.Length);
        Assert.Equal(0, a.Sockaddr[2]);
        Assert.Matches("^[0-9a-f]{5}$", Encoding.ASCII.GetString(a.Sockaddr, 3, 5));
        Assert.False(ns.TryBind(a.AbstractKey!, null!));
        Assert.True(ns.Autobind(null!, out var b));
        Assert.NotEqual(a.AbstractKey, b.AbstractKey);
    }
}
