using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Platform.Ptrace;

/// <summary>Reads the few /proc figures the host keeps for a stub (its threads' run time, its
/// peak RSS) without allocating: open, one read into a stack buffer, close.</summary>
internal static unsafe class ProcStat
{
    /// <summary>The first number in the file at path (a NUL-terminated byte string), or -1
    /// when it cannot be read (the process is gone).</summary>
    public static long FirstNumber(byte[] path)
    {
        Span<byte> buf = stackalloc byte[64];
        int n = Read(path, buf);
        return n <= 0 ? -1 : ParseNumber(buf[..n], 0);
    }

    /// <summary>The number after "key" (e.g. "VmHWM:") in a /proc status file, or -1.</summary>
    public static long Field(byte[] path, ReadOnlySpan<byte> key)
    {
        Span<byte> buf = stackalloc byte[4096];
        int n = Read(path, buf);
        if (n <= 0) return -1;
        int at = buf[..n].IndexOf(key);
        return at < 0 ? -1 : ParseNumber(buf[..n], at + key.Length);
    }

    private static int Read(byte[] path, Span<byte> buf)
    {
        int fd;
        fixed (byte* p = path)
            fd = Files.OpenAt(OpenFlags.AT_FDCWD, p, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0) return -1;
        try
        {
            fixed (byte* b = buf)
                return (int)Unistd.Read(fd, b, (nuint)buf.Length);
        }
        finally
        {
            Unistd.Close(fd);
        }
    }

    private static long ParseNumber(ReadOnlySpan<byte> text, int from)
    {
        int i = from;
        while (i < text.Length && (text[i] == ' ' || text[i] == '\t')) i++;
        long value = 0;
        int start = i;
        while (i < text.Length && text[i] is >= (byte)'0' and <= (byte)'9') value = value * 10 + (text[i++] - '0');
        return i == start ? -1 : value;
    }
}
