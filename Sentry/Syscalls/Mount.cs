using Sandbox.Abi;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Vfs;
using static Sandbox.Abi.OpenFlags;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>mount(2) and umount2(2) in the calling task's mount namespace: new tmpfs and other
/// registered file systems, bind mounts, read-only remounts, and propagation changes (accepted
/// for MS_PRIVATE and MS_SLAVE; every mount is private, see <see cref="MountNamespace"/>).</summary>
public static partial class Linux
{
    private const ulong MS_RDONLY = 1, MS_REMOUNT = 32, MS_BIND = 4096, MS_REC = 16384, MS_SILENT = 32768;
    private const ulong MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20;
    private const ulong MS_PROPAGATION = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED;
    private const int MNT_FORCE = 1, MNT_DETACH = 2, MNT_EXPIRE = 4, UMOUNT_NOFOLLOW = 8;

    private static bool MayMount(Task t) => t.Creds.HasCapability(Abi.Host.Capabilities.CAP_SYS_ADMIN);

    /// <summary>Implements Linux syscall mount(2). The operation is chosen as Linux does, in
    /// this order: remount, bind, propagation change, new mount.</summary>
    public static long MountCall(Task t, in SyscallArgs a)
    {
        ulong flags = a.A3;
        long r = LookupAt(t, AT_FDCWD, a.A1, follow: true, allowEmpty: false, out PathPos target);
        if (r < 0) return r;
        if (!MayMount(t)) return -(long)Errno.EPERM;
        if ((flags & MS_REMOUNT) != 0)
        {
            if (target.Dentry != target.Mount.Root || target.Mount.Namespace != t.Mounts) return -(long)Errno.EINVAL;
            target.Mount.ReadOnly = (flags & MS_RDONLY) != 0;
            return 0;
        }
        if ((flags & MS_BIND) != 0)
        {
            r = LookupAt(t, AT_FDCWD, a.A0, follow: true, allowEmpty: false, out PathPos source);
            if (r < 0) return r;
            if (source.Mount.Namespace != t.Mounts) return -(long)Errno.EINVAL;
            if (target.Mount.Namespace != t.Mounts) return -(long)Errno.ENOENT;
            if (source.Inode.IsDirectory != target.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
            // As on Linux, a new bind mount takes no flags but MS_REC: MS_RDONLY needs a remount.
            var bind = new Mount(source.Mount.FileSystem, source.Dentry, source.Mount.Source, readOnly: false);
            t.Mounts.Attach(bind, target);
            return 0;
        }
        if ((flags & MS_PROPAGATION) != 0)
        {
            // One propagation type at a time, with nothing but MS_REC (and MS_SILENT) beside it.
            ulong propagation = flags & MS_PROPAGATION;
            if ((propagation & (propagation - 1)) != 0 || (flags & ~(MS_PROPAGATION | MS_REC | MS_SILENT)) != 0)
                return -(long)Errno.EINVAL;
            if (target.Dentry != target.Mount.Root || target.Mount.Namespace != t.Mounts) return -(long)Errno.EINVAL;
            // Every mount is private and stays so: MS_PRIVATE, and MS_SLAVE of no master, change
            // nothing; shared and unbindable mounts are not offered.
            return propagation is MS_PRIVATE or MS_SLAVE ? 0 : -(long)Errno.EINVAL;
        }
        if (!target.Inode.IsDirectory) return -(long)Errno.ENOTDIR;
        if (target.Mount.Namespace != t.Mounts) return -(long)Errno.ENOENT;
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
        t.Mounts.Attach(mount, target);
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

    /// <summary>Implements Linux syscall umount2(2). A mount something still uses (an open
    /// file, a task's root or working directory, a mount below it) is busy: EBUSY, unless
    /// MNT_DETACH, which detaches it and everything below it now; they live on, disconnected,
    /// until the last user lets go. MNT_FORCE acts as the plain call (no file system here has
    /// requests to abort). MNT_EXPIRE marks an unused mount (EAGAIN) and unmounts it on the next
    /// such call if it is still unused then.</summary>
    public static long Umount2(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A1;
        if ((flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW)) != 0) return -(long)Errno.EINVAL;
        if ((flags & MNT_EXPIRE) != 0 && (flags & (MNT_FORCE | MNT_DETACH)) != 0) return -(long)Errno.EINVAL;
        long r = LookupAt(t, AT_FDCWD, a.A0, (flags & UMOUNT_NOFOLLOW) == 0, allowEmpty: false, out PathPos target);
        if (r < 0) return r;
        if (!MayMount(t)) return -(long)Errno.EPERM;
        var mount = target.Mount;
        // Only the root of a mount of the caller's own namespace can be unmounted.
        if (target.Dentry != mount.Root || mount.Namespace != t.Mounts) return -(long)Errno.EINVAL;
        // The namespace's root: busy (our root is on it), and it cannot be detached.
        if (mount.Parent == null) return (flags & MNT_DETACH) != 0 ? -(long)Errno.EINVAL : -(long)Errno.EBUSY;
        if ((flags & MNT_EXPIRE) != 0)
        {
            if (MountInUse(t.Kernel, mount)) return -(long)Errno.EBUSY;
            if (!mount.ExpiryMark)
            {
                mount.ExpiryMark = true;
                return -(long)Errno.EAGAIN;
            }
        }
        return t.Mounts.Detach(mount, lazy: (flags & MNT_DETACH) != 0, m => MountInUse(t.Kernel, m));
    }

    /// <summary>Whether a live task has its root or working directory on the mount, or a file
    /// open on it in its descriptor table. (Memory mappings of its files do not count yet: a
    /// mapping holds the inode, not the place it was opened at.)</summary>
    private static bool MountInUse(Kernel.Kernel kernel, Mount mount)
    {
        var tables = new HashSet<FdTable>();
        foreach (var task in kernel.Tasks.Values)
        {
            if (task.Exit != null) continue;
            var fs = task.Fs;
            if (fs.Root.Mount == mount || fs.Cwd.Mount == mount) return true;
            if (!tables.Add(task.Fds)) continue;
            foreach (var (_, file) in task.Fds.Snapshot())
                if (file.Path is { } p && p.Mount == mount) return true;
        }
        return false;
    }
}
