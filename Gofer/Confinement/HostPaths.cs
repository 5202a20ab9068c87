using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Confinement;

/// <summary>What the confinement plan needs to know about host paths, straight from the
/// system calls. runsc computes the plan on the critical path of `runsc do`, before anything
/// else in the process touches files: the first use of FileStream, StreamReader or FileInfo
/// costs milliseconds of type loading there, these calls almost nothing.</summary>
internal static unsafe class HostPaths
{
    private const int AtFdCwd = -100, EINTR = 4;

    /// <summary>The file type bits of path (symlinks followed), or 0 if it cannot be reached.</summary>
    public static uint Type(string path)
    {
        StatxBuf st;
        fixed (byte* p = CString(path))
        {
            if (Files.StatxAt(AtFdCwd, p, 0, Files.STATX_TYPE, &st) != 0) return 0;
        }
        return st.Mode & StatMode.S_IFMT;
    }

    public static bool IsDirectory(string path) => Type(path) == StatMode.S_IFDIR;

    /// <summary>A regular file (symlinks followed), as File.Exists would say.</summary>
    public static bool IsFile(string path)
    {
        uint type = Type(path);
        return type != 0 && type != StatMode.S_IFDIR;
    }

    /// <summary>The target of path if it is a symlink, else null.</summary>
    public static string? LinkTarget(string path)
    {
        byte* buf = stackalloc byte[4096];
        nint n;
        fixed (byte* p = CString(path))
        {
            n = Files.ReadlinkAt(AtFdCwd, p, buf, 4096);
        }
        return n < 0 ? null : Encoding.UTF8.GetString(buf, (int)n);
    }

    /// <summary>The whole content of a (small) file, such as /proc/self/maps; null if unreadable.</summary>
    public static byte[]? ReadAll(string path)
    {
        int fd;
        fixed (byte* p = CString(path))
        {
            fd = Files.OpenAt(AtFdCwd, p, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC, 0);
        }
        if (fd < 0) return null;
        try
        {
            byte[] data = new byte[64 << 10];
            int length = 0;
            while (true)
            {
                if (length == data.Length) Array.Resize(ref data, 2 * data.Length);
                nint n;
                fixed (byte* b = data)
                {
                    n = Unistd.Read(fd, b + length, (nuint)(data.Length - length));
                }
                if (n < 0 && HostError.Last == EINTR) continue;
                if (n < 0) return null;
                if (n == 0) break;
                length += (int)n;
            }
            Array.Resize(ref data, length);
            return data;
        }
        finally
        {
            Unistd.Close(fd);
        }
    }

    /// <summary>Reads up to buffer.Length bytes at offset; returns how many (0 on error or at the end).</summary>
    public static int ReadAt(int fd, long offset, Span<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            nint n = Unistd.Pread(fd, b, (nuint)buffer.Length, offset);
            return n < 0 ? 0 : (int)n;
        }
    }

    /// <summary>Opens path read-only, or -1.</summary>
    public static int OpenRead(string path)
    {
        fixed (byte* p = CString(path))
        {
            return Files.OpenAt(AtFdCwd, p, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC, 0);
        }
    }

    private static byte[] CString(string s)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
