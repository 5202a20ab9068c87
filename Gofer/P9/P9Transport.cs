using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.P9;

/// <summary>A connected stream the 9P client and server exchange frames over.</summary>
internal abstract class P9Transport : IDisposable
{
    /// <summary>Reads at least one byte; returns 0 at end of stream, negative on error.</summary>
    public abstract int Receive(Span<byte> buffer);

    /// <summary>Writes all of <paramref name="data"/>; false if the connection is gone.</summary>
    public abstract bool SendAll(ReadOnlySpan<byte> data);

    /// <summary>Writes all of <paramref name="data"/> with a host descriptor attached to its first
    /// byte (SCM_RIGHTS); transports that cannot pass descriptors send the data alone.</summary>
    public virtual bool SendAll(ReadOnlySpan<byte> data, int passFd) => SendAll(data);

    /// <summary>The descriptor that arrived with the bytes read since the last call, or -1
    /// (extra ones are closed). Frames are read exactly, never two in one read, and a sender
    /// attaches a descriptor to one whole frame, so it belongs to the frame just read.</summary>
    public virtual int TakeReceivedFd() => -1;

    /// <summary>Shuts the connection down both ways, waking a blocked <see cref="Receive"/>.</summary>
    public abstract void Shutdown();

    public abstract void Dispose();

    /// <summary>Fills <paramref name="buffer"/> completely; false on end of stream or error.</summary>
    public bool ReceiveExact(Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = Receive(buffer);
            if (n <= 0)
            {
                return false;
            }
            buffer = buffer[n..];
        }
        return true;
    }
}

/// <summary>A raw stream-socket fd, read and written with recv/send(MSG_NOSIGNAL). The fd sits
/// in a SafeHandle so that Dispose never closes it under a call still using it (which could
/// then touch a reused fd number).</summary>
internal sealed unsafe class FdTransport(int fd, bool ownsFd) : P9Transport
{
    private const int EINTR = 4;
    private readonly SafeFileHandle _handle = new(fd, ownsFd);

    /// <summary>Descriptors received and not yet taken (only the one reader touches it).</summary>
    private readonly List<int> _received = [];

    public override int TakeReceivedFd()
    {
        if (_received.Count == 0) return -1;
        int fd = _received[0];
        for (int i = 1; i < _received.Count; i++) Unistd.Close(_received[i]);
        _received.Clear();
        return fd;
    }

    public override bool SendAll(ReadOnlySpan<byte> data, int passFd)
    {
        if (passFd < 0 || data.IsEmpty) return SendAll(data);
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            fixed (byte* p = data)
            {
                nint n;
                do n = Sockets.SendWithFd(fd, p, (nuint)data.Length, passFd, Sockets.MSG_NOSIGNAL);
                while (n < 0 && HostError.Last == EINTR);
                if (n < 0) return false;
                // The descriptor went with the first byte; the rest is plain data.
                return n == data.Length || SendAll(data[(int)n..]);
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public override int Receive(Span<byte> buffer)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    nint n = Sockets.RecvWithFds(fd, p, (nuint)buffer.Length, 0, _received);
                    if (n >= 0)
                    {
                        return (int)n;
                    }
                    if (HostError.Last != EINTR)
                    {
                        return -1;
                    }
                }
            }
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public override bool SendAll(ReadOnlySpan<byte> data)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            fixed (byte* p = data)
            {
                int off = 0;
                while (off < data.Length)
                {
                    nint n = Sockets.Send(fd, p + off, (nuint)(data.Length - off), Sockets.MSG_NOSIGNAL);
                    if (n < 0)
                    {
                        if (HostError.Last == EINTR)
                        {
                            continue;
                        }
                        return false;
                    }
                    off += (int)n;
                }
                return true;
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public override void Shutdown()
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            Sockets.Shutdown((int)_handle.DangerousGetHandle(), Sockets.SHUT_RDWR);
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Closes the fd (if owned) once no call is using it.</summary>
    public override void Dispose() => _handle.Dispose();
}

/// <summary>A <see cref="Socket"/>, used with its synchronous calls only.</summary>
internal sealed class SocketTransport(Socket socket) : P9Transport
{
    public override int Receive(Span<byte> buffer)
    {
        try
        {
            return socket.Receive(buffer, SocketFlags.None);
        }
        catch (SocketException)
        {
            return -1;
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
    }

    public override bool SendAll(ReadOnlySpan<byte> data)
    {
        try
        {
            while (!data.IsEmpty)
            {
                int n = socket.Send(data, SocketFlags.None);
                if (n <= 0)
                {
                    return false;
                }
                data = data[n..];
            }
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public override void Shutdown()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override void Dispose() => socket.Dispose();
}
