using System.Text;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Loader;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>execve: the new image is read through the VFS, loaded into a fresh address space
/// (a new stub process), and the task keeps only what exec keeps.</summary>
public sealed partial class Task
{
    private const int MaxInterpreterDepth = 4;

    /// <summary>The absolute path of the image being executed (for /proc/self/exe).</summary>
    private string? _resolvedExecutable;
    private ulong _resolvedInode;

    /// <summary>Implements execve/execveat. Returns 0 (the registers then belong to the new
    /// image) or -errno with the old image untouched.</summary>
    public long Execve(PathPos start, string path, bool followFinal, List<string> argv, List<string> envp)
    {
        Kernel.Log.Info($"[{Tid}] exec: start");
        long r = PrepareImage(start, path, followFinal, argv, 0, out LoadedFile? file, out ElfImage? elf, out string execPath);
        if (r < 0) return r;
        using var image = file!;
        Kernel.Log.Info($"[{Tid}] exec: image read");

        // Point of no return: other threads go, then the old address space.
        KillOtherThreads();
        IAddressSpace addressSpace;
        try
        {
            addressSpace = Kernel.Platform.NewAddressSpace();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Kernel.Log.Warning($"[{Tid}] execve could not create an address space: {e.Message}");
            return -(long)Errno.ENOMEM;
        }
        Kernel.Log.Info($"[{Tid}] exec: address space ready");
        var mm = new MemoryManager(addressSpace, Kernel.Platform.MemoryFile, Kernel.Platform.MaxUserAddress);
        LoadResult load;
        try
        {
            load = ElfLoader.Load(mm, image.Data, elf!, argv, envp, execPath,
                new AuxCredentials(Creds.RealUid, Creds.EffectiveUid, Creds.RealGid, Creds.EffectiveGid), ReadWholeFile,
                image, Kernel.Vdso);
        }
        catch (ElfFormatException e)
        {
            mm.Dispose();
            Kernel.Log.Info($"[{Tid}] execve {execPath}: {e.Message}");
            return -(long)Errno.ENOEXEC;
        }

        mm.ExecutablePath = _resolvedExecutable ?? execPath;
        Kernel.Log.Info($"[{Tid}] exec: image loaded");
        var oldMm = MemoryManager;
        var oldContext = Context;
        long oldCpu = oldContext.GuestCpuNanos();
        MemoryManager = mm;
        Context = addressSpace.MainContext;
        BankGuestCpu(oldCpu);
        if (oldMm.RemoveUser()) oldMm.Dispose();
        else oldContext.Exit(); // a vfork parent still runs in the old address space
        NotePeakRss(oldMm.AddressSpace);
        Kernel.Log.Info($"[{Tid}] exec: old address space released");

        Regs = Context.InitialRegisters;
        Regs.Rip = load.Entry;
        Regs.Rsp = load.StackPointer;
        if (Fds.RemoveUser()) { /* we were the only user: keep it */ Fds.AddUser(); }
        else { var own = Fds.Fork(); Fds = own; }
        Fds.CloseOnExec();
        if (Group.Handlers != null && Group.Tasks.Count == 1) Group.Handlers = Group.Handlers.Clone();
        Group.Handlers!.ResetForExec();
        AltStackFlags = SS_DISABLE;
        AltStackSp = AltStackSize = 0;
        ClearChildTid = 0;
        RobustListHead = 0;
        Creds = Creds.ForExec();
        Dumpable = Creds.EffectiveUid == Creds.RealUid && Creds.EffectiveGid == Creds.RealGid;
        Name = System.IO.Path.GetFileName(execPath);
        if (Name.Length > 15) Name = Name[..15];
        if (Group.VforkParentWaiting)
        {
            Group.VforkParentWaiting = false;
            Group.VforkDone.Set();
        }
        return 0;
    }

    /// <summary>Resolves and reads the program, following #! interpreters (argv rewritten as
    /// Linux does: interpreter, optional argument, script path, the original arguments).</summary>
    private long PrepareImage(PathPos start, string path, bool followFinal, List<string> argv, int depth,
        out LoadedFile? file, out ElfImage? elf, out string execPath)
    {
        file = null;
        elf = null;
        execPath = path;
        _resolvedExecutable = null;
        if (depth > MaxInterpreterDepth) return -(long)Errno.ELOOP;
        long r = PathResolver.Resolve(this, start, path, followFinal, out PathPos pos);
        if (r < 0) return r;
        var inode = pos.Inode;
        if (inode.IsDirectory) return -(long)Errno.EACCES;
        if (!inode.IsRegular) return -(long)Errno.EACCES;
        if (!Permissions.Allowed(Creds, inode, AccessMode.X_OK) || (inode.Mode & 0x49) == 0) return -(long)Errno.EACCES;
        r = ReadForExec(pos, out LoadedFile? loaded);
        if (r < 0) return r;
        r = Inspect(loaded!, path, argv, out string? scriptInterpreter, out elf);
        if (r < 0 || scriptInterpreter != null)
        {
            loaded!.Dispose();
            return r < 0 ? r : PrepareImage(Fs.Root, scriptInterpreter!, true, argv, depth + 1, out file, out elf, out execPath);
        }
        file = loaded; // the caller disposes it
        execPath = path;
        _resolvedExecutable = MountNamespace.PathOf(pos, Fs.Root);
        _resolvedInode = inode.Ino;
        return 0;
    }

    /// <summary>Looks at a program's first bytes: a #! script (argv rewritten as Linux does,
    /// the interpreter's path returned) or an ELF image whose interpreter exists.</summary>
    private long Inspect(LoadedFile loaded, string path, List<string> argv, out string? scriptInterpreter, out ElfImage? elf)
    {
        scriptInterpreter = null;
        elf = null;
        ReadOnlySpan<byte> data = loaded.Data;
        if (data.Length >= 2 && data[0] == '#' && data[1] == '!')
        {
            int nl = data.IndexOf((byte)'\n');
            string line = Encoding.UTF8.GetString(data[2..(nl < 0 ? Math.Min(data.Length, 256) : Math.Min(nl, 256))]).Trim();
            if (line.Length == 0) return -(long)Errno.ENOEXEC;
            int space = line.IndexOfAny([' ', '\t']);
            string interp = space < 0 ? line : line[..space];
            string? arg = space < 0 ? null : line[(space + 1)..].Trim();
            var newArgv = new List<string> { interp };
            if (!string.IsNullOrEmpty(arg)) newArgv.Add(arg);
            newArgv.Add(path);
            newArgv.AddRange(argv.Skip(1));
            argv.Clear();
            argv.AddRange(newArgv);
            scriptInterpreter = interp;
            return 0;
        }
        try
        {
            elf = ElfImage.Parse(data);
        }
        catch (ElfFormatException)
        {
            return -(long)Errno.ENOEXEC;
        }
        if (elf.Interpreter != null)
        {
            using var interpreter = ReadWholeFile(elf.Interpreter);
            if (interpreter == null) return -(long)Errno.ENOENT; // Linux's answer when the interpreter is missing
        }
        return 0;
    }

    /// <summary>Reads a file through the VFS for the loader (the ELF interpreter); null if it
    /// cannot be read.</summary>
    internal LoadedFile? ReadWholeFile(string path)
    {
        if (PathResolver.Resolve(this, Fs.Root, path, followFinal: true, out PathPos pos) < 0 || !pos.Inode.IsRegular) return null;
        return ReadForExec(pos, out LoadedFile? file) < 0 ? null : file;
    }

    /// <summary>A program's bytes: the file cache's pages for lower-layer files (later mapped,
    /// not copied), otherwise a copy read through the VFS.</summary>
    private long ReadForExec(PathPos pos, out LoadedFile? file)
    {
        file = null;
        string resolved = MountNamespace.PathOf(pos, Fs.Root);
        if (Kernel.FileCache.Acquire(pos.Inode) is { } cached)
        {
            file = new LoadedFile(Kernel.FileCache, cached, resolved, pos.Inode.Ino);
            return 0;
        }
        long r = pos.Inode.ReadAll(out byte[] data);
        if (r < 0) return r;
        file = new LoadedFile(data, resolved, pos.Inode.Ino);
        return 0;
    }

    /// <summary>execve from a multi-threaded process: every other thread ends first.</summary>
    private void KillOtherThreads()
    {
        var others = Group.Tasks.Where(t => t != this).ToList();
        if (others.Count == 0) return;
        foreach (var t in others) t.KillThread();
        while (Group.Tasks.Any(t => t != this && t.Exit == null)) Thread.Sleep(1);
    }
}
