using System.Buffers.Binary;
using System.Text;

namespace Sandbox.Gofer.P9;

/// <summary>Writes little-endian 9P fields into a caller-provided buffer. Callers size the
/// buffer from the messages' encoded sizes; overflowing it is a programming error
/// (<see cref="ArgumentException"/>).</summary>
public ref struct P9Writer
{
    private readonly Span<byte> _span;
    private int _pos;

    public P9Writer(Span<byte> span)
    {
        _span = span;
        _pos = 0;
    }

    public readonly int Position => _pos;

    private Span<byte> Take(int n)
    {
        if (n > _span.Length - _pos)
        {
            throw new ArgumentException("9P encode buffer too small");
        }
        var s = _span.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public void U8(byte v) => Take(1)[0] = v;
    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
    public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);

    public void Qid(in Qid q)
    {
        U8(q.Type);
        U32(q.Version);
        U64(q.Path);
    }

    /// <summary>Encoded size of a string[s]; throws <see cref="ArgumentException"/> over 65535 bytes.</summary>
    public static int StrSize(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        return n > ushort.MaxValue ? throw new ArgumentException("9P string longer than 65535 bytes") : 2 + n;
    }

    public void Str(string s)
    {
        int n = StrSize(s) - 2;
        U16((ushort)n);
        Encoding.UTF8.GetBytes(s, Take(n));
    }

    public void StrBytes(ReadOnlySpan<byte> s)
    {
        if (s.Length > ushort.MaxValue)
        {
            throw new ArgumentException("9P string longer than 65535 bytes");
        }
        U16((ushort)s.Length);
        s.CopyTo(Take(s.Length));
    }

    public void Bytes(ReadOnlySpan<byte> data) => data.CopyTo(Take(data.Length));

    /// <summary>Reserves <paramref name="n"/> bytes to be filled in place (e.g. read data).</summary>
    public Span<byte> Reserve(int n) => Take(n);
}
