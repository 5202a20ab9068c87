using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Random bytes from the host kernel (getrandom(2)). Cheaper to start than the
/// runtime's RandomNumberGenerator, which loads OpenSSL on first use (~10 ms at start-up).</summary>
public static unsafe partial class Entropy
{
    [LibraryImport("libc", EntryPoint = "getrandom", SetLastError = true)]
    private static partial nint GetRandom(byte* buffer, nuint length, uint flags);

    /// <summary>Fills <paramref name="buffer"/> (blocks only until the host pool is initialised).</summary>
    public static void Fill(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = GetRandom(p + done, (nuint)(buffer.Length - done), 0);
                if (n > 0) done += (int)n;
                else if (n < 0 && HostError.Last != 4 /* EINTR */) throw new HostException("getrandom", HostError.Last);
            }
        }
    }

    public static byte[] GetBytes(int count)
    {
        var bytes = new byte[count];
        Fill(bytes);
        return bytes;
    }
}
