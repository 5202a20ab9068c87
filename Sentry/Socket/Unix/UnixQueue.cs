using Sandbox.Abi;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Socket.Unix;

/// <summary>One unit of a receive queue: a datagram or packet, or the data of one stream send
/// (or one piece of a large one). Descriptors and credentials travel with it.</summary>
public sealed class UnixMessage(byte[] data, int length)
{
    public byte[] Data { get; } = data;
    public int Length { get; } = length;
    /// <summary>Bytes a stream reader has already taken from the front.</summary>
    public int Offset { get; set; }
    public int Remaining => Length - Offset;

    /// <summary>SCM_RIGHTS: descriptions in flight; the message holds one reference to each.</summary>
    public FileDescription[]? Rights { get; set; }
    /// <summary>Who sent it (pid, uid, gid), for SCM_CREDENTIALS.</summary>
    public UCred Creds { get; init; }
    /// <summary>The sender's address (sockaddr bytes) when it had one.</summary>
    public byte[]? From { get; init; }
    /// <summary>Whose send buffer the message is charged to, and how much; given back when the
    /// message has been read.</summary>
    public UnixSocket? Sender { get; init; }
    public int Charge { get; init; }
}

/// <summary>What a read produced besides the bytes: descriptors and credentials to hand to
/// the reader, the sender's address, and whether a datagram was cut short.</summary>
public struct UnixReadResult
{
    /// <summary>Bytes copied into the reader's buffers.</summary>
    public long Copied;
    /// <summary>The whole datagram's length (MSG_TRUNC reports it).</summary>
    public long MessageLength;
    public bool Truncated;
    /// <summary>The reader owns one reference to each.</summary>
    public FileDescription[]? Rights;
    public UCred? Creds;
    public byte[]? From;
    /// <summary>A stream read stopped at a barrier (descriptors, or another sender's
    /// credentials) rather than for want of data or room.</summary>
    public bool Barrier;
}

/// <summary>A socket's receive queue. Datagram and packet reads take one message at a time,
/// dropping what does not fit; stream reads join messages, but stop after one that carried
/// descriptors and, with SO_PASSCRED, before one from other credentials, as Linux does. Not
/// thread-safe: the owner locks. Fully read messages are listed in <c>released</c> so that
/// their senders' buffer charges can be given back.</summary>
public sealed class UnixQueue
{
    private readonly Queue<UnixMessage> _messages = new();

    public int Count => _messages.Count;

    /// <summary>Unread payload bytes in all messages.</summary>
    public long Bytes { get; private set; }

    public UnixMessage? Head => _messages.TryPeek(out var m) ? m : null;

    public void Enqueue(UnixMessage m)
    {
        _messages.Enqueue(m);
        Bytes += m.Remaining;
    }

    /// <summary>Empties the queue (the socket is going away); the caller drops the rights.</summary>
    public List<UnixMessage> Drain()
    {
        var all = new List<UnixMessage>(_messages);
        _messages.Clear();
        Bytes = 0;
        return all;
    }

    /// <summary>Reads one datagram or packet into dst: what fits is copied, the rest dropped
    /// (unless peek leaves the message queued). False when the queue is empty.</summary>
    public bool ReadMessage(IoBuffers dst, bool peek, bool passCred, List<UnixMessage>? released, out UnixReadResult result)
    {
        result = default;
        if (!_messages.TryPeek(out var m)) return false;
        int n = (int)Math.Min(dst.Length, m.Remaining);
        result.Copied = n == 0 ? 0 : dst.CopyOut(0, m.Data.AsSpan(m.Offset, n));
        result.MessageLength = m.Remaining;
        result.Truncated = m.Remaining > dst.Length;
        result.From = m.From;
        if (passCred) result.Creds = m.Creds;
        if (peek)
        {
            result.Rights = DuplicateRights(m.Rights);
            return true;
        }
        _messages.Dequeue();
        Bytes -= m.Remaining;
        result.Rights = m.Rights;
        m.Rights = null;
        released?.Add(m);
        return true;
    }

    /// <summary>Reads stream data into dst, message after message, continuing at
    /// result.Copied: one recv calls again after waiting when MSG_WAITALL wants more, and
    /// result carries what the earlier calls saw. Returns the bytes copied by this call.</summary>
    public long ReadStream(IoBuffers dst, bool peek, bool passCred, List<UnixMessage>? released, ref UnixReadResult result)
    {
        long pos = result.Copied;
        if (result.Barrier) return 0;
        if (peek)
        {
            // A peek leaves the queue alone; a repeated one skips what it has already seen.
            long skip = pos;
            foreach (var m in _messages)
            {
                if (pos >= dst.Length) break;
                if (skip >= m.Remaining) { skip -= m.Remaining; continue; }
                if (!Admit(m, passCred, pos, ref result)) break;
                int n = (int)Math.Min(dst.Length - pos, m.Remaining - skip);
                int copied = dst.CopyOut(pos, m.Data.AsSpan(m.Offset + (int)skip, n));
                pos += copied;
                skip = 0;
                if (m.Rights != null)
                {
                    result.Rights = DuplicateRights(m.Rights);
                    result.Barrier = true;
                }
                if (copied < n || result.Barrier) break;
            }
        }
        else
        {
            while (pos < dst.Length && _messages.TryPeek(out var m))
            {
                if (!Admit(m, passCred, pos, ref result)) break;
                int n = (int)Math.Min(dst.Length - pos, m.Remaining);
                int copied = dst.CopyOut(pos, m.Data.AsSpan(m.Offset, n));
                pos += copied;
                m.Offset += copied;
                Bytes -= copied;
                if (m.Rights != null)
                {
                    // The descriptors go to the first read that touches their message.
                    result.Rights = m.Rights;
                    m.Rights = null;
                    result.Barrier = true;
                }
                if (m.Remaining == 0)
                {
                    _messages.Dequeue();
                    released?.Add(m);
                }
                if (copied < n || result.Barrier) break;
            }
        }
        long done = pos - result.Copied;
        result.Copied = pos;
        return done;
    }

    /// <summary>Whether m may join the read so far. Once a read reports credentials (the reader
    /// has SO_PASSCRED), Linux never joins data from other credentials into it.</summary>
    private static bool Admit(UnixMessage m, bool passCred, long copiedSoFar, ref UnixReadResult result)
    {
        if (copiedSoFar == 0 && result.From == null) result.From = m.From;
        if (result.Creds is { } seen)
        {
            if (seen == m.Creds || copiedSoFar == 0) return true;
            result.Barrier = true;
            return false;
        }
        if (passCred) result.Creds = m.Creds;
        return true;
    }

    private static FileDescription[]? DuplicateRights(FileDescription[]? rights)
    {
        if (rights == null) return null;
        foreach (var f in rights) f.IncRef();
        return [.. rights];
    }
}
