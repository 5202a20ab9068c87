using Sandbox.Abi;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>mount(2) and umount2(2) inside the sandbox's mount namespace: new tmpfs and other
/// registered file systems, bind mounts, and read-only remounts.</summary>
public static partial class Linux
{
    private const ulong MS_RDONLY = 1, MS_REMOUNT = 32, MS_BIND = 4096, MS_REC = 16384;
    private const int MNT_FORCE = 1, MNT_DETACH = 2, MNT_EXPIRE = 4, UMOUNT_NOFOLLOW = 8;

    /// <summary>Implements Linux syscall mount(2).</summary>
    public static long MountCall(Task t, in SyscallArgs a)
    {
        if (t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        ulong flags = a.A3;
        long r = LookupAt(t, AT_FDCWD, a.A1, follow: true, allowEmpty: false, out PathPos target);
        if (r < 0) return r;
        if ((flags & MS_REMOUNT) != 0)
        {
            if (target.Dentry != target.Mount.Root) return -(long)Errno.EINVAL;
            target.Mount.ReadOnly = (flags & MS_RDONLY) != 0;
            return 0;
        }
        if ((flags & MS_BIND) != 0)
        {
            r = LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out PathPos source);
            if (r < 0) return r;
            if (source.Inode.IsDirectory != target.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
            var bind = new Mount(source.Mount.FileSystem, source.Dentry, source.Mount.Source, (flags & MS_RDONLY) != 0);
            t.Kernel.Mounts.Attach(bind, target);
            return 0;
        }
        if (!target.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        r = t.MemoryManager.ReadCString(a.A2, 255, out string type);
        if (r < 0) return r;
        string sourceName = "none";
        if (a.A0 != 0 && t.MemoryManager.ReadCString(a.A0, 4095, out string s) == 0) sourceName = s;
        string data = "";
        if (a.A4 != 0 && t.MemoryManager.ReadCString(a.A4, 4095, out string d) == 0) data = d;
        FileSystem? fs = type switch
        {
            "tmpfs" => NewTmpfs(t, data),
            _ => t.Kernel.FileSystemTypes.TryGetValue(type, out var make) ? make(t.Kernel, data) : null,
        };
        if (fs == null) return -(long)Errno.ENODEV;
        var mount = new Mount(fs, new Dentry("/", null, fs.Root), sourceName, (flags & MS_RDONLY) != 0);
        t.Kernel.Mounts.Attach(mount, target);
        return 0;
    }

    /// <summary>tmpfs options: size=N[k|m|g], mode=OCTAL, uid=, gid=.</summary>
    private static TmpfsFileSystem? NewTmpfs(Task t, string data)
    {
        long size = 16L << 30;
        uint mode = 0x3ff, uid = 0, gid = 0;
        foreach (string opt in data.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = opt.Split('=', 2);
            string v = kv.Length > 1 ? kv[1] : "";
            try
            {
                switch (kv[0])
                {
                    case "size":
                        long mult = v.EndsWith('k') ? 1 << 10 : v.EndsWith('m') ? 1 << 20 : v.EndsWith('g') ? 1 << 30 : 1;
                        size = long.Parse(mult == 1 ? v : v[..^1]) * mult;
                        break;
                    case "mode": mode = Convert.ToUInt32(v, 8) & 0xfff; break;
                    case "uid": uid = uint.Parse(v); break;
                    case "gid": gid = uint.Parse(v); break;
                }
            }
            catch (FormatException) { return null; }
            catch (OverflowException) { return null; }
        }
        return new TmpfsFileSystem(t.Kernel.Platform.MemoryFile, StatMode.S_IFDIR | mode, uid, gid, size);
    }

    /// <summary>Implements Linux syscall umount2(2).</summary>
    public static long Umount2(Task t, in SyscallArgs a)
    {
        if (t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        int flags = (int)a.A1;
        if ((flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW)) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, AT_FDCWD, a.A0, (flags & UMOUNT_NOFOLLOW) == 0, allowEmpty: false, out PathPos target);
        if (r < 0) return r;
        if (target.Dentry != target.Mount.Root || target.Mount.Parent == null) return -(long)Errno.EINVAL;
        return t.Kernel.Mounts.Detach(target.Mount) ? 0 : -(long)Errno.EBUSY;
    }
}
