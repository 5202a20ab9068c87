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

    /// <summary>Why the last failed execve failed, in words, when the errno alone does not say
    /// (ENOEXEC: what is wrong with the image; ENOENT: a missing interpreter; EACCES: a
    /// directory); null otherwise. runsc prints it for the first program.</summary>
    public string? ExecFailureReason { get; private set; }

    /// <summary>Implements execve/execveat. Returns 0 (the registers then belong to the new
    /// image) or -errno with the old image untouched.</summary>
    public long Execve(PathPos start, string path, bool followFinal, List<string> argv, List<string> envp)
    {
        Kernel.Log.Info($"[{Tid}] exec: start");
        ExecFailureReason = null;
        long r = PrepareImage(start, path, followFinal, argv, 0, out LoadedFile? file, out ElfImage? elf, out string execPath);
        if (r < 0) return r;
        using var image = file!;
        Kernel.Log.Info($"[{Tid}] exec: image read");

        // Point of no return: other threads go, then the old address space.
        // Another thread's execve, or the process's exit, ends this thread instead.
        if (!KillOtherThreads()) return -(long)Errno.EINTR;
        if (Tid != Group.Pid) BecomeLeader();
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
                image, Kernel.Vdso, Limits.Get(Rlimit.RLIMIT_STACK).Cur);
        }
        catch (ElfFormatException e)
        {
            mm.Dispose();
            return ExecFailed(execPath, Errno.ENOEXEC, e.Message);
        }

        mm.ExecutablePath = _resolvedExecutable ?? execPath;
        Kernel.Log.Info($"[{Tid}] exec: image loaded");
        var oldMm = MemoryManager;
        var oldContext = Context;
        long oldCpu = oldContext.GuestCpuNanos();
        MemoryManager = mm;
        Context = addressSpace.MainContext;
        BankGuestCpu(oldCpu);
        // Our old platform thread goes first: whoever releases the old address space last
        // disposes it, and a stub process is only reaped once all its threads have been.
        // (A vfork parent, or threads still on their way out, may still use it.)
        oldContext.Exit();
        if (oldMm.RemoveUser()) oldMm.Dispose();
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
            Group.SignalVforkDone();
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
        if (inode.IsDirectory) return ExecFailed(path, Errno.EACCES, "Is a directory");
        if (!inode.IsRegular) return -(long)Errno.EACCES;
        if (!Permissions.Allowed(Creds, inode, AccessMode.X_OK) || (inode.Mode & 0x49) == 0) return -(long)Errno.EACCES;
        r = ReadForExec(pos, out LoadedFile? loaded);
        if (r < 0) return r;
        r = Inspect(loaded!, path, argv, out string? scriptInterpreter, out elf);
        if (r < 0 || scriptInterpreter != null)
        {
            loaded!.Dispose();
            if (r < 0) return r;
            r = PrepareImage(Fs.Root, scriptInterpreter!, true, argv, depth + 1, out file, out elf, out execPath);
            if (r < 0)
            {
                ExecFailureReason = r == -(long)Errno.ENOENT && ExecFailureReason == null
                    ? $"its interpreter {scriptInterpreter} was not found"
                    : $"its interpreter {scriptInterpreter} cannot be executed" + (ExecFailureReason is { } why ? $": {why}" : "");
            }
            return r;
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
            if (line.Length == 0) return ExecFailed(path, Errno.ENOEXEC, "#! line names no interpreter");
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
        catch (ElfFormatException e)
        {
            return ExecFailed(path, Errno.ENOEXEC, e.Message);
        }
        if (elf.Interpreter != null)
        {
            using var interpreter = ReadWholeFile(elf.Interpreter);
            // Linux's answer when the interpreter is missing
            if (interpreter == null) return ExecFailed(path, Errno.ENOENT, $"its interpreter {elf.Interpreter} was not found");
        }
        return 0;
    }

    /// <summary>Records (and logs) why an execve fails; returns -errno.</summary>
    private long ExecFailed(string path, Errno errno, string reason)
    {
        ExecFailureReason = reason;
        Kernel.Log.Info($"[{Tid}] execve {path}: {reason} ({errno})");
        return -(long)errno;
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
            file = new LoadedFile(Kernel.FileCache, cached, resolved, pos.Inode.Ino, pos.Inode.FileSystem.DeviceId);
            if (file.FillHeaders()) return 0;
            file.Dispose(); // unreadable: the copy below reports why
        }
        long r = pos.Inode.ReadAll(out byte[] data);
        if (r < 0) return r;
        file = new LoadedFile(data, resolved, pos.Inode.Ino, pos.Inode.FileSystem.DeviceId);
        return 0;
    }

    /// <summary>execve from a thread other than the leader, once the others are gone (the end
    /// of Linux's de_thread): the old leader, already ended (its clear_child_tid and robust
    /// futexes done, no status reported: the process lives on), is released silently, and
    /// this thread takes its place, with the pid as its tid. Its own tid is freed. The
    /// parent's view does not change: same pid, same thread group, status on the last exit.</summary>
    private void BecomeLeader()
    {
        int oldTid = Tid;
        Kernel.Log.Info($"[{oldTid}] exec: becomes the leader, tid {Group.Pid}");
        Tid = Group.Pid;
        Kernel.Tasks[Tid] = this;
        Kernel.Tasks.TryRemove(new KeyValuePair<int, Task>(oldTid, this));
    }

    /// <summary>execve from a multi-threaded process: every other thread ends first. A thread
    /// that another one was cloning at that moment joins the group late: it is asked too.
    /// False when this thread must end instead: another thread's execve got there first
    /// (two waiting for each other would never end), or the process is exiting.</summary>
    private bool KillOtherThreads()
    {
        var g = Group;
        lock (g)
        {
            if (g.Execer != null && g.Execer != this) return false;
            g.Execer = this;
        }
        try
        {
            while (true)
            {
                if (ExitRequested) return false;
                bool waiting = false;
                foreach (var t in g.Tasks)
                {
                    if (t == this || t.Exit != null) continue;
                    if (!t._exitThisThread) t.KillThread();
                    waiting = true;
                }
                if (!waiting) return true;
                Thread.Sleep(1);
            }
        }
        finally
        {
            lock (g) g.Execer = null;
        }
    }
}
