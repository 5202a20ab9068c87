using Sandbox.Gofer.Server;

namespace Sandbox.Gofer.Confinement;

/// <summary>The hand-off from the confined gofer to the 9P server.</summary>
public static class GoferServe
{
    /// <summary>Serves 9P2000.L for the tree at rootFd on the connected socket connectedFd
    /// until the peer closes it.</summary>
    public static void Serve(int rootFd, bool readOnly, int connectedFd) =>
        new P9Server(rootFd, readOnly).Serve(connectedFd);
}
