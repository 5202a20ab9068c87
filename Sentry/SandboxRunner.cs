using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform;
using Sandbox.Sentry.Fs;
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

    /// <summary>Runs the configured program; returns its exit status. Throws
    /// <see cref="ElfFormatException"/> before anything starts if the file cannot be executed.</summary>
    public static ExitStatus Run(SandboxConfig config, IPlatform platform)
    {
        // Until the Gofer exists, the Sentry reads the executable itself from the host.
        byte[] file = File.ReadAllBytes(config.ExecutablePath);
        ElfImage elf = ElfImage.Parse(file);
        if (elf.Interpreter != null)
            throw new ElfFormatException($"dynamically linked (interpreter {elf.Interpreter}); only static executables are supported yet");

        using var kernel = new Kernel.Kernel(platform, config);
        ExitStatus status = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { status = RunInit(kernel, file, elf); }
            catch (Exception e) { failure = e; }
        }, TaskThreadStackSize)
        { Name = "task-1", IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure != null) throw new SandboxException("the Sentry failed: " + failure.Message, failure);
        return status;
    }

    private static ExitStatus RunInit(Kernel.Kernel kernel, byte[] file, ElfImage elf)
    {
        var config = kernel.Config;
        IAddressSpace addressSpace = kernel.Platform.NewAddressSpace();
        using var mm = new MemoryManager(addressSpace, kernel.Platform.MemoryFile, kernel.Platform.MaxUserAddress);
        var creds = Credentials.For(config.Uid, config.Gid);
        var load = ElfLoader.Load(mm, file, elf, config.Argv, config.Envp, config.ExecutablePath,
            new AuxCredentials(config.Uid, config.Uid, config.Gid, config.Gid));
        var fds = new FdTable();
        DonateStdio(fds);
        kernel.Mounts = BuildMounts(kernel);
        var fs = new FsContext(kernel.Mounts.RootPos, kernel.Mounts.RootPos);
        var task = new Task(kernel, mm, fds, fs, addressSpace.MainContext, creds, Path.GetFileName(config.ExecutablePath));
        task.Regs.Rip = load.Entry;
        task.Regs.Rsp = load.StackPointer;
        kernel.Log.Info($"[{task.Tid}] starting {config.ExecutablePath} entry=0x{load.Entry:x} sp=0x{load.StackPointer:x}");
        try
        {
            var status = task.Run();
            kernel.Log.Info($"[{task.Tid}] exited: code={status.Code} signal={status.Signal}");
            return status;
        }
        finally
        {
            fds.CloseAll();
        }
    }

    /// <summary>The sandbox's file tree: a tmpfs root with the usual top-level directories.</summary>
    private static MountNamespace BuildMounts(Kernel.Kernel kernel)
    {
        var rootFs = new TmpfsFileSystem(kernel.Platform.MemoryFile, StatMode.S_IFDIR | 0x1ed /* 0755 */);
        var root = new Mount(rootFs, new Dentry("/", null, rootFs.Root), "none", readOnly: false);
        var creds = Credentials.For(0, 0);
        foreach (var (name, mode) in new[] { ("tmp", 0x3ffu /* 01777 */), ("dev", 0x1edu), ("proc", 0x16du), ("sys", 0x16du) })
            rootFs.Root.CreateChild(name, StatMode.S_IFDIR | mode, 0, creds, out _);
        return new MountNamespace(root);
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
            var file = new HostFile(dup, fd, flags & (OpenFlags.O_ACCMODE | OpenFlags.O_APPEND | OpenFlags.O_NONBLOCK));
            fds.Replace(fd, file, cloexec: false);
            file.DecRef(); // the table holds the only reference now
        }
    }
}

/// <summary>The sandbox could not run: the message is meant for the user.</summary>
public sealed class SandboxException(string message, Exception? inner = null) : Exception(message, inner);
