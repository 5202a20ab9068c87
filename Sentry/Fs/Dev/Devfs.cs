using Sandbox.Platform;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.StatMode;

namespace Sandbox.Sentry.Fs.Dev;

/// <summary>/dev: a tmpfs (as devtmpfs is on Linux, and /dev in containers) populated with the
/// standard device nodes, the /proc/self/fd links, and the shm and pts directories. The
/// devices live in <see cref="DeviceRegistry"/>, so nodes made with mknod elsewhere work too.</summary>
public static class Devfs
{
    /// <summary>/dev holds only nodes and links: a small limit is plenty.</summary>
    public const long SizeLimit = 64L << 20;

    /// <summary>Registers the character devices the Sentry implements (idempotent).</summary>
    public static void RegisterDevices()
    {
        MemoryDevice.Register();
        TtyDevice.Register();
    }

    public static TmpfsFileSystem Create(MemoryFile memory)
    {
        RegisterDevices();
        var fs = new TmpfsFileSystem(memory, S_IFDIR | 0x1ed /* 0755 */, sizeLimit: SizeLimit);
        var dev = fs.Root;
        var root = Credentials.For(0, 0);
        void Char(string name, uint major, uint minor, uint perm) =>
            dev.CreateChild(name, S_IFCHR | perm, DeviceRegistry.MakeDev(major, minor), root, out _);
        Char("null", 1, 3, 0x1b6 /* 0666 */);
        Char("zero", 1, 5, 0x1b6);
        Char("full", 1, 7, 0x1b6);
        Char("random", 1, 8, 0x1b6);
        Char("urandom", 1, 9, 0x1b6);
        Char("tty", 5, 0, 0x1b6);
        Char("console", 5, 1, 0x180 /* 0600 */);
        dev.CreateSymlink("fd", "/proc/self/fd", root, out _);
        dev.CreateSymlink("stdin", "/proc/self/fd/0", root, out _);
        dev.CreateSymlink("stdout", "/proc/self/fd/1", root, out _);
        dev.CreateSymlink("stderr", "/proc/self/fd/2", root, out _);
        dev.CreateChild("shm", S_IFDIR | 0x3ff /* 01777 */, 0, root, out _);
        dev.CreateChild("pts", S_IFDIR | 0x1ed, 0, root, out _);
        return fs;
    }
}
