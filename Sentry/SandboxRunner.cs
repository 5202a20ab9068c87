using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform;
using Sandbox.Gofer.P9;
using Sandbox.Sentry.Fs;
using Sandbox.Sentry.Fs.Gofer;
using Sandbox.Sentry.Fs.Overlay;
using Sandbox.Sentry.Fs.Tmpfs;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Loader;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry;

/// <summary>Boots a sandbox: loads the first program as pid 1 on a dedicated host thread (the
/// thread that will trace its stub), donates stdio, runs it to completion.</summary>
public static class SandboxRunner
{
    /// <summary>Guest threads get a large host stack: deep Sentry paths run on it.</summary>
    private const int TaskThreadStackSize = 16 << 20;

    /// <summary>Reads the few host files the sandbox shows its guests (/proc/cpuinfo), while
    /// the host is still visible: call before the Sentry confines itself (chroot).</summary>
    public static void CaptureHostFacts() => Fs.Proc.SystemFiles.ReadHostCpuInfo();

    /// <summary>Runs the configured program; returns its exit status. Throws
    /// <see cref="ExecFailedException"/> if the program cannot be executed,
    /// <see cref="ElfFormatException"/> if a bare-tmpfs sandbox cannot load it, and
    /// <see cref="SandboxException"/> if the Sentry fails.</summary>
    public static ExitStatus Run(SandboxConfig config, IPlatform platform)
    {
        using var kernel = new Kernel.Kernel(platform, config);
        ExitStatus status = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { status = RunInit(kernel); }
            catch (Exception e) { failure = e; }
        }, TaskThreadStackSize)
        { Name = "task-1", IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure is ElfFormatException or SandboxException or ExecFailedException) throw failure;
        if (failure != null) throw new SandboxException("the Sentry failed: " + failure.Message, failure);
        return status;
    }

    private static ExitStatus RunInit(Kernel.Kernel kernel)
    {
        var config = kernel.Config;
        // What needs no file goes first, while the Gofer is still starting.
        IAddressSpace addressSpace = kernel.Platform.NewAddressSpace();
        Task? task = null;
        try
        {
            _ = kernel.Vdso;
            kernel.Log.Info("boot: first address space and vDSO ready");
            // So do the file systems that need no Gofer, the descriptor table and the memory manager
            // (their first use costs type loading and JIT compilation, better spent while waiting).
            var fileSystems = new BootFileSystems(kernel);
            var fds = new FdTable();
            DonateStdio(fds);
            var mm = new MemoryManager(addressSpace, kernel.Platform.MemoryFile, kernel.Platform.MaxUserAddress);
            var creds = Credentials.For(config.Uid, config.Gid);
            kernel.Log.Info("boot: file systems without the Gofer ready");
            kernel.Log.Info("boot: building the mount tree (waits for the Gofer)");
            var mounts = BuildMounts(kernel, fileSystems);
            kernel.Log.Info("boot: mount tree ready");
            var fs = new FsContext(mounts.RootPos, mounts.RootPos);
            task = new Task(kernel, mm, fds, fs, mounts, addressSpace.MainContext, creds, Path.GetFileName(config.ExecutablePath));
            if (config.WorkingDirectory is { } cwd && PathResolver.Resolve(task, fs.Root, cwd, true, out PathPos cwdPos) == 0
                && cwdPos.Inode.IsDirectory)
                fs.Cwd = cwdPos;
            if (config.GoferFd != null) WriteEtcFiles(task, kernel.Hostname);

            if (config.GoferFd != null)
            {
                // The first program is started exactly as execve would: through the sandbox's own
                // file tree, with #! scripts and dynamic executables handled the same way. A
                // relative path starts at the working directory, as for execve.
                long r = task.Execve(fs.Cwd, config.ExecutablePath, followFinal: true, [.. config.Argv], [.. config.Envp]);
                if (r < 0) throw new ExecFailedException(config.ExecutablePath, (Errno)(-r), task.ExecFailureReason);
            }
            else
            {
                byte[] file = ReadExecutable(task, config.ExecutablePath);
                ElfImage elf = ElfImage.Parse(file);
                var load = ElfLoader.Load(mm, file, elf, config.Argv, config.Envp, config.ExecutablePath,
                    new AuxCredentials(config.Uid, config.Uid, config.Gid, config.Gid), task.ReadWholeFile,
                    stackLimit: task.Limits.Get(Rlimit.RLIMIT_STACK).Cur);
                task.Regs.Rip = load.Entry;
                task.Regs.Rsp = load.StackPointer;
            }
        }
        catch
        {
            // No program to run: kill and reap the first stub (that of the image execve
            // loaded, if it got that far), or it would outlive runsc as a zombie.
            if (task != null) task.MemoryManager.Dispose();
            else addressSpace.Dispose();
            throw;
        }
        kernel.Init = task.Group;
        kernel.Log.Info($"[{task.Tid}] starting {config.ExecutablePath} entry=0x{task.Regs.Rip:x} sp=0x{task.Regs.Rsp:x}");
        try
        {
            var status = task.Run();
            kernel.Log.Info($"[{task.Tid}] exited: code={status.Code} signal={status.Signal}");
            // pid 1 is gone: every other task was told to die; wait for their stubs to go.
            if (!kernel.WaitForAllTasks(TimeSpan.FromSeconds(10)))
                kernel.Log.Warning("some tasks did not finish within 10 s of pid 1's exit");
            return status;
        }
        finally
        {
            kernel.InitExited.Set();
        }
    }

    /// <summary>The guest sees its own host name in /etc/hostname and /etc/hosts (written to
    /// the overlay's upper layer; the host's files are untouched).</summary>
    private static void WriteEtcFiles(Task task, string hostname)
    {
        WriteGuestFile(task, "/etc/hostname", $"{hostname}\n");
        WriteGuestFile(task, "/etc/hosts",
            $"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n");
    }

    private static void WriteGuestFile(Task task, string path, string content)
    {
        if (PathResolver.ResolveParent(task, task.Fs.Root, path, out PathPos dir, out string name, out _) < 0) return;
        if (dir.Dentry.Child(name, out _) == 0) dir.Inode.RemoveChild(name, rmdir: false);
        dir.Dentry.Invalidate(name, deleted: true);
        if (dir.Inode.CreateChild(name, StatMode.S_IFREG | 0x1a4 /* 0644 */, 0, Credentials.For(0, 0), out Inode? file) < 0) return;
        file!.WriteData(0, System.Text.Encoding.UTF8.GetBytes(content));
    }

    /// <summary>Reads the program through the sandbox's own file tree, as execve would. Without
    /// a Gofer (a bare tmpfs root) the Sentry reads it from the host instead.</summary>
    private static byte[] ReadExecutable(Task task, string path)
    {
        if (task.Kernel.Config.GoferFd == null) return File.ReadAllBytes(path);
        long r = PathResolver.Resolve(task, task.Fs.Root, path, followFinal: true, out PathPos pos);
        if (r < 0) throw new ExecFailedException(path, (Errno)(-r), null);
        if (pos.Inode.IsDirectory) throw new ExecFailedException(path, Errno.EACCES, "Is a directory");
        if (!pos.Inode.IsRegular || !Permissions.Allowed(task.Creds, pos.Inode, AccessMode.X_OK))
            throw new ExecFailedException(path, Errno.EACCES, null);
        r = pos.Inode.ReadAll(out byte[] data);
        if (r < 0) throw new ExecFailedException(path, (Errno)(-r), "read failed");
        return data;
    }

    /// <summary>The file systems of the mount tree that need no Gofer: the tmpfs that is the
    /// root (or the overlay's upper layer over the Gofer's tree), devfs, the tmpfs for /dev/shm,
    /// procfs and sysfs.</summary>
    private sealed class BootFileSystems(Kernel.Kernel kernel)
    {
        public TmpfsFileSystem Upper { get; } = new(kernel.Platform.MemoryFile, StatMode.S_IFDIR | 0x1ed /* 0755 */);
        public TmpfsFileSystem Dev { get; } = Fs.Dev.Devfs.Create(kernel.Platform.MemoryFile);
        public TmpfsFileSystem Shm { get; } = new(kernel.Platform.MemoryFile);
        public Fs.Proc.ProcFileSystem Proc { get; } = new(kernel);
        public FileSystem Sys { get; } = Fs.Sys.Sysfs.Create();
    }

    /// <summary>The root file system: the Gofer's tree (read-only) under a tmpfs overlay when a
    /// Gofer serves one; otherwise a bare tmpfs.</summary>
    private static FileSystem MakeRootFileSystem(Kernel.Kernel kernel, TmpfsFileSystem upper)
    {
        if (kernel.Config.GoferFd is not { } fd) return upper;
        var client = new P9Client(fd);
        kernel.Resources.Add(client);
        var gofer = new GoferFileSystem(client, readOnly: true);
        return new OverlayFileSystem(upper, gofer.Root);
    }

    /// <summary>The sandbox's file tree: a tmpfs root with the usual top-level directories.</summary>
    private static MountNamespace BuildMounts(Kernel.Kernel kernel, BootFileSystems fileSystems)
    {
        FileSystem rootFs = MakeRootFileSystem(kernel, fileSystems.Upper);
        var root = new Mount(rootFs, new Dentry("/", null, rootFs.Root), "none", readOnly: false);
        var creds = Credentials.For(0, 0);
        foreach (var (name, mode) in new[] { ("dev", 0x1edu), ("proc", 0x16du), ("sys", 0x16du) })
            rootFs.Root.CreateChild(name, StatMode.S_IFDIR | mode, 0, creds, out _);
        // A bare tmpfs root needs a /tmp; over the host's tree, /tmp is the host's (copy-on-write).
        if (rootFs is TmpfsFileSystem) rootFs.Root.CreateChild("tmp", StatMode.S_IFDIR | 0x3ff /* 01777 */, 0, creds, out _);
        var ns = new MountNamespace(root);

        // devfs on /dev, a tmpfs on /dev/shm, procfs on /proc, sysfs (read-only) on /sys.
        Mount? MountAt(Mount parent, string name, FileSystem fs, string source, bool readOnly = false)
        {
            if (parent.Root.Child(name, out Dentry? at) < 0 || !at!.Inode.IsDirectory)
            {
                kernel.Log.Warning($"no directory {name} to mount {fs.Type} on");
                return null;
            }
            var mount = new Mount(fs, new Dentry("/", null, fs.Root), source, readOnly);
            ns.Attach(mount, new PathPos(parent, at));
            return mount;
        }
        kernel.FileSystemTypes["proc"] = (k, _) => new Fs.Proc.ProcFileSystem(k);
        kernel.FileSystemTypes["sysfs"] = (_, _) => Fs.Sys.Sysfs.Create();
        kernel.FileSystemTypes["devtmpfs"] = (k, _) => Fs.Dev.Devfs.Create(k.Platform.MemoryFile);
        var dev = MountAt(root, "dev", fileSystems.Dev, "tmpfs");
        if (dev != null) MountAt(dev, "shm", fileSystems.Shm, "shm");
        MountAt(root, "proc", fileSystems.Proc, "proc");
        MountAt(root, "sys", fileSystems.Sys, "sysfs", readOnly: true);
        return ns;
    }

    /// <summary>Host fds 0-2 become guest fds 0-2, each a duplicate sharing the host open file
    /// description (and so its offset). A closed host fd stays closed in the guest.</summary>
    private static void DonateStdio(FdTable fds)
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            int flags = Unistd.Fcntl(fd, Fcntl.F_GETFL, 0);
            if (flags < 0) continue;
            int dup = Unistd.Fcntl(fd, Fcntl.F_DUPFD_CLOEXEC, 3);
            if (dup < 0) continue;
            var file = new HostFile(dup, fd, flags);
            fds.Replace(fd, file, cloexec: false);
            file.DecRef(); // the table holds the only reference now
        }
    }
}

/// <summary>The first program could not be executed: execve's errno, and the Sentry's reason
/// in words when the errno alone does not say (see <see cref="Task.ExecFailureReason"/>).</summary>
public sealed class ExecFailedException(string path, Errno errno, string? reason)
    : Exception($"{path}: {reason ?? errno.ToString()}")
{
    public string Path { get; } = path;
    public Errno Errno { get; } = errno;
    public string? Reason { get; } = reason;
}

/// <summary>The sandbox could not run: the message is meant for the user.</summary>
public sealed class SandboxException(string message, Exception? inner = null) : Exception(message, inner);
