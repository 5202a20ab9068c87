using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.P9;
using Sandbox.Gofer.Server;

namespace Sandbox.Gofer.Tests;

/// <summary>Host helpers for the tests.</summary>
internal static unsafe class Host
{
    public static (int A, int B) SocketPair()
    {
        int* sv = stackalloc int[2];
        Assert.Equal(0, Sockets.SocketPair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, sv));
        return (sv[0], sv[1]);
    }

    public static int OpenPath(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            int fd = Files.OpenAt(OpenFlags.AT_FDCWD, p, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
            Assert.True(fd >= 0, $"open {path}: errno {HostError.Last}");
            return fd;
        }
    }

    public static void Close(int fd) => Unistd.Close(fd);

    public static void ShutdownWrite(int fd) => Sockets.Shutdown(fd, Sockets.SHUT_WR);
}

/// <summary>A temporary directory tree <c>Parent/root</c> (with <c>Parent/sentinel</c> beside
/// the served root) served by a <see cref="P9Server"/> on its own thread over a socketpair.</summary>
internal sealed class ServedDir : IDisposable
{
    public const string SentinelText = "outside the served root";

    private readonly int _rootFd;
    private readonly Thread _thread;
    private Exception? _serverError;

    public ServedDir(bool readOnly = false, Action<string>? populate = null, int maxFids = 1 << 20)
    {
        Parent = Directory.CreateTempSubdirectory("gofer-test-").FullName;
        Root = Path.Combine(Parent, "root");
        Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Parent, "sentinel"), SentinelText);
        populate?.Invoke(Root);
        _rootFd = Host.OpenPath(Root);
        Server = new P9Server(_rootFd, readOnly) { MaxFids = maxFids };
        (ClientFd, ServerFd) = Host.SocketPair();
        _thread = new Thread(() =>
        {
            try
            {
                Server.Serve(ServerFd);
            }
            catch (Exception e)
            {
                _serverError = e;
            }
        })
        { IsBackground = true, Name = "9p-test-server" };
        _thread.Start();
    }

    public string Parent { get; }
    public string Root { get; }
    public P9Server Server { get; }
    public int ClientFd { get; }
    public int ServerFd { get; }

    /// <summary>Waits for Serve to return; false on timeout. Rethrows what Serve threw.</summary>
    public bool WaitServerExit(TimeSpan timeout)
    {
        bool done = _thread.Join(timeout);
        if (_serverError is not null)
        {
            throw new InvalidOperationException("P9Server.Serve threw", _serverError);
        }
        return done;
    }

    /// <summary>Asserts that nothing beside the served root changed.</summary>
    public void AssertOutsideUntouched()
    {
        var names = Directory.EnumerateFileSystemEntries(Parent).Select(p => Path.GetFileName(p)!).Order().ToArray();
        Assert.Equal(["root", "sentinel"], names);
        Assert.Equal(SentinelText, File.ReadAllText(Path.Combine(Parent, "sentinel")));
    }

    public void Dispose()
    {
        Host.ShutdownWrite(ClientFd);
        Sockets.Shutdown(ClientFd, Sockets.SHUT_RDWR);
        bool exited = WaitServerExit(TimeSpan.FromSeconds(10));
        Host.Close(ServerFd);
        Host.Close(ClientFd);
        Host.Close(_rootFd);
        try
        {
            Directory.Delete(Parent, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        Assert.True(exited, "P9Server.Serve did not return after the peer closed");
    }
}

/// <summary>A served directory with a connected, versioned and attached <see cref="P9Client"/>.</summary>
internal sealed class Mount : IDisposable
{
    public Mount(bool readOnly = false, Action<string>? populate = null, uint msize = 1 << 20, int maxFids = 1 << 20)
    {
        Dir = new ServedDir(readOnly, populate, maxFids);
        int fd = Unistd.Dup(Dir.ClientFd);
        Client = new P9Client(fd);
        Assert.Equal(0, Client.Version(msize));
        RootFid = Client.AllocateFid();
        Assert.Equal(0, Client.Attach(RootFid, "root", 0, "", out var qid));
        Assert.True(qid.IsDir);
    }

    public ServedDir Dir { get; }
    public P9Client Client { get; }
    public uint RootFid { get; }
    public string Root => Dir.Root;

    /// <summary>Walks from the root to a new fid, asserting success.</summary>
    public uint Walk(params string[] names)
    {
        uint fid = Client.AllocateFid();
        int err = Client.Walk(RootFid, fid, names, out var qids);
        Assert.True(err == 0, $"walk {string.Join('/', names)}: errno {err}");
        Assert.Equal(names.Length, qids.Length);
        return fid;
    }

    /// <summary>Walks and opens with <paramref name="flags"/>.</summary>
    public uint Open(int flags, params string[] names)
    {
        uint fid = Walk(names);
        Assert.Equal(0, Client.Lopen(fid, (uint)flags, out _, out _));
        return fid;
    }

    public void Dispose()
    {
        Client.Dispose();
        Dir.AssertOutsideUntouched();
        Dir.Dispose();
    }
}
