namespace Sandbox.Gofer.P9;

/// <summary>A 9P frame does not decode: truncated, over-long, a bad count or string. The only
/// exception the codec throws on input; the server answers it with Rlerror(EINVAL) and the
/// client turns it into EIO.</summary>
public sealed class P9FormatException : Exception
{
    public P9FormatException()
        : base("malformed 9P message")
    {
    }

    public P9FormatException(string message)
        : base(message)
    {
    }

    public P9FormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
