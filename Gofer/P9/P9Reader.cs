using System.Buffers.Binary;
using System.Text;

namespace Sandbox.Gofer.P9;

/// <summary>Reads little-endian 9P fields from a frame. Every read is bounded by the frame:
/// running past its end, a string that is not UTF-8 or a count over a protocol limit throws
/// <see cref="P9FormatException"/>, never anything else, and never allocates more than the frame
/// holds.</summary>
public ref struct P9Reader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private const int QidSize = 13;

    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _pos;

    public P9Reader(ReadOnlyMemory<byte> memory)
    {
        _memory = memory;
        _span = memory.Span;
        _pos = 0;
    }

    public readonly int Position => _pos;
    public readonly int Remaining => _span.Length - _pos;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > _span.Length - _pos)
        {
            throw new P9FormatException("9P message truncated");
        }
        var s = _span.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public Qid Qid()
    {
        var s = Take(QidSize);
        return new Qid(s[0], BinaryPrimitives.ReadUInt32LittleEndian(s[1..]), BinaryPrimitives.ReadUInt64LittleEndian(s[5..]));
    }

    /// <summary>The raw bytes of a string[s] (length-prefixed, not NUL-terminated).</summary>
    public ReadOnlySpan<byte> StrBytes() => Take(U16());

    /// <summary>A string[s] that must be valid UTF-8.</summary>
    public string Str()
    {
        var bytes = StrBytes();
        if (bytes.IsEmpty)
        {
            return "";
        }
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (ArgumentException e)
        {
            throw new P9FormatException("9P string is not UTF-8", e);
        }
    }

    /// <summary>A string[s] in which bytes that are not UTF-8 become U+FFFD (for host file names
    /// in Rreaddir, which are arbitrary bytes).</summary>
    public string StrLenient()
    {
        var bytes = StrBytes();
        return bytes.IsEmpty ? "" : Encoding.UTF8.GetString(bytes);
    }

    /// <summary>The next <paramref name="count"/> bytes as a slice of the frame (no copy).</summary>
    public ReadOnlyMemory<byte> Bytes(uint count)
    {
        if (count > (uint)Remaining)
        {
            throw new P9FormatException("9P count runs past the end of the message");
        }
        var m = _memory.Slice(_pos, (int)count);
        _pos += (int)count;
        return m;
    }

    /// <summary>Throws unless the whole frame has been consumed.</summary>
    public readonly void End()
    {
        if (_pos != _span.Length)
        {
            throw new P9FormatException("trailing bytes after 9P message");
        }
    }
}
