using Sandbox.Abi;
using Sandbox.Sentry.Kernel;

namespace Sandbox.Sentry.Vfs;

/// <summary>Character devices by (major, minor): opening a device node on any file system
/// (devfs, or a mknod'ed node in tmpfs) asks here for the description.</summary>
public static class DeviceRegistry
{
    public delegate long Opener(Task task, PathPos path, int flags, out FileDescription? file);

    private static readonly Dictionary<(uint, uint), Opener> Devices = [];

    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfff) << 8) | (minor & 0xff) | ((ulong)(minor & ~0xffu) << 12) | ((ulong)(major & ~0xfffu) << 32);

    public static (uint Major, uint Minor) Split(ulong dev) =>
        ((uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL)), (uint)((dev & 0xff) | ((dev >> 12) & ~0xffUL)));

    public static void Register(uint major, uint minor, Opener opener)
    {
        lock (Devices) Devices[(major, minor)] = opener;
    }

    public static long Open(Task task, PathPos path, ulong rdev, int flags, out FileDescription? file)
    {
        Opener? opener;
        lock (Devices) Devices.TryGetValue(Split(rdev), out opener);
        if (opener == null)
        {
            file = null;
            return -(long)Errno.ENXIO;
        }
        return opener(task, path, flags, out file);
    }
}
