using Sandbox.Abi.Host;

namespace Sandbox.Runsc;

/// <summary>A running `runsc gofer` serving one directory over a socketpair: the Sentry keeps
/// one end, the Gofer the other. Disposing closes the Sentry's end (if the Sentry has not
/// taken it) and reaps the Gofer, which exits when its peer is gone.</summary>
public sealed unsafe class Gofer : IDisposable
{
    private const int GoferSocketFd = 3;
    private readonly int _pid;

    private Gofer(int pid, int sentryFd)
    {
        _pid = pid;
        SentryFd = sentryFd;
    }

    /// <summary>The Sentry's end of the 9P connection (owned by the P9 client once handed over).</summary>
    public int SentryFd { get; }

    public static Gofer Start(string rootDir, IReadOnlyList<string> envp)
    {
        int* sv = stackalloc int[2];
        if (Sockets.SocketPair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, sv) != 0)
            throw new HostException("socketpair", HostError.Last);
        string self = Environment.ProcessPath ?? throw new HostException("locating runsc", 2);
        int pid = HostProcess.Start(self, ["runsc-gofer", "gofer", "--root", rootDir, "--fd", GoferSocketFd.ToString(), "--read-only"],
            envp, (sv[1], GoferSocketFd));
        Unistd.Close(sv[1]);
        return new Gofer(pid, sv[0]);
    }

    public void Dispose() => HostProcess.Wait(_pid);
}
