using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>Host file descriptor calls used for donated stdio and the Sentry's own files.</summary>
public static unsafe partial class Unistd
{
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "pread64", SetLastError = true)]
    public static partial nint Pread(int fd, byte* buf, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite64", SetLastError = true)]
    public static partial nint Pwrite(int fd, byte* buf, nuint count, long offset);

    /// <summary>pread until count bytes are in, the end of the file, or an error (EINTR
    /// retried): the bytes read, or -errno when an error came before any byte.</summary>
    public static long PreadFully(int fd, byte* buf, int count, long offset)
    {
        int done = 0;
        while (done < count)
        {
            nint n = Pread(fd, buf + done, (nuint)(count - done), offset + done);
            if (n < 0)
            {
                int errno = HostError.Last;
                if (errno == (int)Errno.EINTR) continue;
                return done > 0 ? done : -errno;
            }
            if (n == 0) break;
            done += (int)n;
        }
        return done;
    }

    /// <summary>pwrite until count bytes are out or an error (EINTR retried): the bytes written.</summary>
    public static int PwriteFully(int fd, byte* buf, int count, long offset)
    {
        int done = 0;
        while (done < count)
        {
            nint n = Pwrite(fd, buf + done, (nuint)(count - done), offset + done);
            if (n <= 0)
            {
                if (n < 0 && HostError.Last == (int)Errno.EINTR) continue;
                break;
            }
            done += (int)n;
        }
        return done;
    }

    [LibraryImport("libc", EntryPoint = "readv", SetLastError = true)]
    public static partial nint Readv(int fd, Iovec* iov, int iovcnt);

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(int fd, Iovec* iov, int iovcnt);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    public static partial int Dup(int fd);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(int fd, Stat* st);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, nint arg);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "gethostname", SetLastError = true)]
    public static partial int GetHostname(byte* name, nuint len);

    /// <summary>gethostname(2) as a string, as System.Net.Dns.GetHostName returns it but without
    /// the name-resolution telemetry and metrics that the first call of the latter sets up
    /// (about 20 ms of start-up).</summary>
    public static string HostName()
    {
        byte* name = stackalloc byte[256];
        if (GetHostname(name, 256) != 0) throw new HostException("gethostname", HostError.Last);
        name[255] = 0;
        return new string((sbyte*)name);
    }

    /// <summary>_exit(2): ends the process at once (exit_group), without the runtime's shutdown.</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void Exit(int status);

    [LibraryImport("libc", EntryPoint = "getuid")]
    public static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "getgid")]
    public static partial uint GetGid();
}
