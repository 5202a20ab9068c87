using System.Buffers.Binary;
using System.Text;

namespace Sandbox.Gofer.P9;

/// <summary>Frames 9P messages: size[4] type[1] tag[2] body.</summary>
public static class P9Codec
{
    /// <summary>Encoded size of a whole frame holding <paramref name="msg"/>.</summary>
    public static int FrameSize<T>(in T msg)
        where T : struct, IP9Message<T> => P9Protocol.HeaderSize + msg.BodySize;

    /// <summary>Writes a whole frame into <paramref name="dest"/> and returns its length.</summary>
    public static int Encode<T>(Span<byte> dest, ushort tag, in T msg)
        where T : struct, IP9Message<T>
    {
        int size = FrameSize(msg);
        var w = new P9Writer(dest[..size]);
        w.U32((uint)size);
        w.U8((byte)T.Type);
        w.U16(tag);
        msg.Encode(ref w);
        if (w.Position != size)
        {
            throw new InvalidOperationException($"{T.Type}: body size {msg.BodySize} does not match what Encode wrote");
        }
        return size;
    }

    /// <summary>Reads the header of a frame of at least 7 bytes.</summary>
    public static void ReadHeader(ReadOnlySpan<byte> frame, out uint size, out P9MessageType type, out ushort tag)
    {
        if (frame.Length < P9Protocol.HeaderSize)
        {
            throw new P9FormatException("9P frame shorter than its header");
        }
        size = BinaryPrimitives.ReadUInt32LittleEndian(frame);
        type = (P9MessageType)frame[4];
        tag = BinaryPrimitives.ReadUInt16LittleEndian(frame[5..]);
    }

    /// <summary>Decodes the body of a whole frame as <typeparamref name="T"/>: the frame's size
    /// field must equal its length, its type must be T's, and the body must be consumed exactly.
    /// Throws <see cref="P9FormatException"/> otherwise.</summary>
    public static T Decode<T>(ReadOnlyMemory<byte> frame, out ushort tag)
        where T : struct, IP9Message<T>
    {
        ReadHeader(frame.Span, out uint size, out var type, out tag);
        if (size != (uint)frame.Length)
        {
            throw new P9FormatException("9P size field does not match the frame");
        }
        if (type != T.Type)
        {
            throw new P9FormatException($"expected {T.Type}, got message type {(byte)type}");
        }
        return DecodeBody<T>(frame[P9Protocol.HeaderSize..]);
    }

    /// <summary>Decodes a body (the frame after its header), consuming it exactly.</summary>
    public static T DecodeBody<T>(ReadOnlyMemory<byte> body)
        where T : struct, IP9Message<T>
    {
        var r = new P9Reader(body);
        var msg = T.Decode(ref r);
        r.End();
        return msg;
    }
}

/// <summary>The packed dirents of Rreaddir: qid[13] offset[8] type[1] name[s] each.</summary>
public static class P9Dirents
{
    /// <summary>Encoded size of one dirent whose name has <paramref name="nameBytes"/> UTF-8 bytes.</summary>
    public static int Size(int nameBytes) => P9Dirent.FixedSize + nameBytes;

    /// <summary>Appends one dirent with a raw name; returns false (writing nothing) if it does not fit.</summary>
    public static bool TryEncode(Span<byte> dest, ref int pos, in Qid qid, ulong offset, byte type, ReadOnlySpan<byte> name)
    {
        int n = Size(name.Length);
        if (name.Length > ushort.MaxValue || n > dest.Length - pos)
        {
            return false;
        }
        var w = new P9Writer(dest.Slice(pos, n));
        w.Qid(qid);
        w.U64(offset);
        w.U8(type);
        w.StrBytes(name);
        pos += n;
        return true;
    }

    /// <summary>Appends one dirent; returns false (writing nothing) if it does not fit.</summary>
    public static bool TryEncode(Span<byte> dest, ref int pos, in P9Dirent d)
    {
        int nameBytes = Encoding.UTF8.GetByteCount(d.Name);
        if (nameBytes > ushort.MaxValue || Size(nameBytes) > dest.Length - pos)
        {
            return false;
        }
        var w = new P9Writer(dest.Slice(pos, Size(nameBytes)));
        w.Qid(d.Qid);
        w.U64(d.Offset);
        w.U8(d.Type);
        w.Str(d.Name);
        pos += Size(nameBytes);
        return true;
    }

    /// <summary>Decodes all dirents of an Rreaddir payload into <paramref name="entries"/>. Names
    /// that are not UTF-8 get U+FFFD. Throws <see cref="P9FormatException"/> on a truncated entry.</summary>
    public static void Decode(ReadOnlyMemory<byte> data, List<P9Dirent> entries)
    {
        var r = new P9Reader(data);
        while (r.Remaining > 0)
        {
            var qid = r.Qid();
            ulong offset = r.U64();
            byte type = r.U8();
            entries.Add(new P9Dirent(qid, offset, type, r.StrLenient()));
        }
    }
}
