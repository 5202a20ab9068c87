using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Namespaces;
using Errno = Sandbox.Abi.Errno;
using OpenFlags = Sandbox.Abi.OpenFlags;
using StatMode = Sandbox.Abi.StatMode;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Gofer.Confinement;

/// <summary>What the gofer serves: a root directory, bind mounts inside it, and whether
/// the whole tree is read-only.</summary>
public sealed record GoferSandboxSpec(string RootDir, IReadOnlyList<BindMount> Binds, bool ReadOnly)
{
    /// <summary>Descriptors (besides 0, 1, 2) that must survive into the confined process, such
    /// as the 9P socket; every other one is made close-on-exec, so that nothing inherited by
    /// accident (a directory outside the root, say) survives.</summary>
    public IReadOnlyList<int> KeepFds { get; init; } = [];

    /// <summary>The gofer is killed (SIGKILL) when the thread that started it exits
    /// (PR_SET_PDEATHSIG), so that it can never outlive its runsc, even stuck in a request.</summary>
    public bool DieWithParent { get; init; }

    /// <summary>The gofer's real uid, when not its caller's: that of a parent about to drop
    /// privileges (runsc, whose Sentry runs as nobody once started). Linux delivers the death
    /// signal (<see cref="DieWithParent"/>) only if the dying parent may signal the gofer, and
    /// a real uid in common grants that; the effective and saved uids, with the gofer's file
    /// access and kept capabilities, stay. The exec then counts as a privilege change, which
    /// clears the death signal: the confined gofer sets it again (<see cref="EnterConfined"/>).</summary>
    public uint? RealUid { get; init; }
}

/// <summary>Confines the gofer process: a private mount namespace whose root is a small,
/// read-only scaffold holding only the served tree and what the .NET runtime must still
/// read, no capabilities beyond <see cref="GoferCapabilities.Kept"/>, then (by the caller,
/// last) the seccomp filter.
///
/// Why the process re-executes itself once: namespaces, root directory and capabilities are
/// per-thread in Linux, and a .NET process already runs several threads (finalizer, tiered
/// JIT, signal handling, thread pool) before Main. unshare(CLONE_NEWNS), pivot_root and capset
/// on the main thread would leave every other thread on the host's root with full
/// capabilities. So the main thread builds the confinement for itself and then calls
/// execve: the new image, and every thread its runtime starts, begins inside it.
///
/// Two ways to get there, running the same steps (<see cref="BuildPlan"/>: the confinement
/// as a list of system calls computed from the host's view): a stand-alone `runsc gofer`
/// runs them on its main thread and re-executes itself (<see cref="ConfinementPlan.Execute"/>),
/// two .NET start-ups; runsc compiles them into a small generated program
/// (<see cref="ConfinementLauncher"/>) whose execve starts `runsc gofer` already confined:
/// one .NET start-up, on the critical path of `runsc do`. Either way the confined process
/// checks the confinement is in force before serving (<see cref="EnterConfined"/>).
///
/// Layout seen by the confined gofer:
/// <code>
/// /                      tmpfs, read-only, nodev, nosuid, noexec
/// /gofer-root            the served tree (root dir + bind mounts), nodev, nosuid[, read-only]
/// /proc/PID, /proc/self  the gofer's own /proc/PID only (the runtime and /proc/self/fd/N)
/// DOTNET_ROOT, app dir   the .NET runtime and runsc itself, read-only, at their host paths
/// library dirs, ld.so    the directories of the shared libraries the process has mapped
///                        (libc, libstdc++, ...) and the ELF interpreter with its symlink chain
/// </code>
/// The runtime stays reachable because it loads assemblies and native libraries lazily:
/// pivoting straight into the container's root would make those loads fail, or load a
/// DLL the container planted at the runtime's path. Nothing else of the host is visible.</summary>
public static partial class GoferSandbox
{
    /// <summary>Set in the environment of the confined gofer (re-executed or started by the launcher).</summary>
    public const string ConfinedVariable = "RUNSC_GOFER_CONFINED";

    /// <summary>Where the served tree is in the confined gofer's root.</summary>
    public const string ServedRootPath = "/gofer-root";

    /// <summary>Whether this process is the confined gofer (re-executed or started by the launcher).</summary>
    public static bool IsReexecuted => Environment.GetEnvironmentVariable(ConfinedVariable) == "1";

    /// <summary>Confines the process to spec and returns an O_PATH|O_DIRECTORY descriptor of
    /// the served root. The first call re-executes the process (same argv) inside the
    /// confinement and does not return; in the re-executed process (or one that
    /// <see cref="ConfinementLauncher"/> started) it checks the confinement is in force and
    /// returns the descriptor. Descriptors the caller needs in the new image must not be
    /// close-on-exec.</summary>
    public static int Confine(GoferSandboxSpec spec)
    {
        if (!IsReexecuted) ConfineAndReexec(spec);
        return EnterConfined();
    }

    /// <summary>Builds the confinement on the calling thread and re-executes the process in it.</summary>
    [DoesNotReturn]
    public static void ConfineAndReexec(GoferSandboxSpec spec)
    {
        string exe = ReadlinkString("/proc/self/exe") ?? throw Fail("readlink(/proc/self/exe)");
        var env = new List<string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
        BuildPlan(spec, exe, ReadCmdline(), env).Execute();
        throw new ConfinementException($"re-executing {exe} inside the confinement: execve returned");
    }

    /// <summary>The confinement as a list of system calls: everything that needs the host's
    /// view (canonical paths, the runtime's files, symlink chains, what is a directory) is
    /// read now, by the caller, while the steps only act on it. The steps, in order: a private
    /// mount namespace; detached copies of the served tree, the bind sources, the runtime's
    /// directories and /proc/self; the scaffold tmpfs on "/" holding them; pivot_root into it
    /// and the old root detached; capabilities dropped to <see cref="GoferCapabilities.Kept"/>
    /// (bounding set, ambient, then effective/permitted/inheritable); no_new_privs; every
    /// descriptor but 0-2 and spec.KeepFds close-on-exec; and last, execve of exe with argv
    /// and env (<see cref="ConfinedVariable"/>, DOTNET_ROOT and diagnostics set as the
    /// confined gofer needs them). Whichever process runs the plan becomes the confined gofer:
    /// this one (<see cref="ConfinementPlan.Execute"/>) or a generated launcher
    /// (<see cref="ConfinementLauncher"/>), which saves the gofer one .NET start-up.</summary>
    public static ConfinementPlan BuildPlan(GoferSandboxSpec spec, string exe, IReadOnlyList<string> argv, IReadOnlyList<string> env)
    {
        // Everything that needs the host's view is read before the view changes. (No LINQ or
        // tuples here: runsc builds the plan on the critical path of `runsc do`, and generic
        // code over value types is not precompiled, it would be JIT-compiled.)
        string rootDir = Canonical(spec.RootDir, "root directory");
        var binds = spec.Binds;
        var sources = new string[binds.Count];
        for (int i = 0; i < sources.Length; i++) sources[i] = Canonical(binds[i].Source, "bind mount source");
        RuntimeFiles runtime = RuntimeFiles.Find(exe);
        var dirs = runtime.Directories;
        var p = new ConfinementPlan();
        const long AtFdCwd = -100;

        const int PR_SET_PDEATHSIG = 1, SIGKILL = 9;
        if (spec.DieWithParent) p.Call(Sys.prctl, "prctl(PR_SET_PDEATHSIG, SIGKILL)", PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (spec.RealUid is uint ruid) p.Call(Sys.setresuid, $"setresuid({ruid}, -1, -1)", ruid, uint.MaxValue, uint.MaxValue);
        p.Call(Sys.unshare, "unshare(CLONE_NEWNS) (the gofer must start as root, with CAP_SYS_ADMIN)", CLONE_NEWNS);
        p.Call(Sys.mount, "making / private (mount MS_REC|MS_PRIVATE)", 0, p.Str("/"), 0, (long)(MS_REC | MS_PRIVATE), 0);

        // Detached copies of everything the new root will hold, taken while the host's tree is visible.
        const uint Clone = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
        int rootTree = p.CallInto(Sys.open_tree, $"open_tree({rootDir})", AtFdCwd, p.Str(rootDir), Clone | AT_RECURSIVE);
        var bindTrees = new int[sources.Length];
        for (int i = 0; i < sources.Length; i++)
        {
            bindTrees[i] = p.CallInto(Sys.open_tree, $"open_tree({sources[i]})", AtFdCwd, p.Str(sources[i]), Clone | AT_RECURSIVE);
        }
        var runtimeTrees = new int[dirs.Count];
        for (int i = 0; i < dirs.Count; i++)
        {
            runtimeTrees[i] = p.CallInto(Sys.open_tree, $"open_tree({dirs[i]})", AtFdCwd, p.Str(dirs[i]), Clone | AT_RECURSIVE);
        }
        // /proc/self resolves to /proc/PID of whichever process runs the plan (the gofer-to-be).
        int procTree = p.CallInto(Sys.open_tree, "open_tree(/proc/self)", AtFdCwd, p.Str("/proc/self"), Clone);

        const ulong Hardened = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        SetAttr(p, rootTree, Hardened | (spec.ReadOnly ? MOUNT_ATTR_RDONLY : 0), rootDir);
        for (int i = 0; i < bindTrees.Length; i++)
        {
            SetAttr(p, bindTrees[i], Hardened | (spec.ReadOnly || binds[i].ReadOnly ? MOUNT_ATTR_RDONLY : 0), sources[i]);
        }
        for (int i = 0; i < dirs.Count; i++) SetAttr(p, runtimeTrees[i], Hardened | MOUNT_ATTR_RDONLY, dirs[i]);
        SetAttr(p, procTree, Hardened | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC, "/proc/self");

        // The scaffold: a small tmpfs stacked on "/" of the private namespace.
        int fsfd = p.CallInto(Sys.fsopen, "fsopen(tmpfs)", p.Str("tmpfs"), FSOPEN_CLOEXEC);
        p.Call(Sys.fsconfig, "fsconfig(tmpfs mode)", Slot(fsfd), FSCONFIG_SET_STRING, p.Str("mode"), p.Str("0755"), 0);
        p.Call(Sys.fsconfig, "fsconfig(tmpfs size)", Slot(fsfd), FSCONFIG_SET_STRING, p.Str("size"), p.Str("1m"), 0);
        p.Call(Sys.fsconfig, "fsconfig(FSCONFIG_CMD_CREATE)", Slot(fsfd), FSCONFIG_CMD_CREATE, 0, 0, 0);
        int scaffold = p.CallInto(Sys.fsmount, "fsmount(tmpfs)", Slot(fsfd), FSMOUNT_CLOEXEC, (long)(Hardened | MOUNT_ATTR_NOEXEC));
        p.Call(Sys.move_mount, "move_mount(tmpfs onto /)", Slot(scaffold), p.Str(""), AtFdCwd, p.Str("/"), MOVE_MOUNT_F_EMPTY_PATH);

        string served = ServedRootPath.TrimStart('/');
        MkdirAll(p, scaffold, served);
        p.Call(Sys.move_mount, $"mounting {rootDir}", Slot(rootTree), p.Str(""), Slot(scaffold), p.Str(served), MOVE_MOUNT_F_EMPTY_PATH);
        for (int i = 0; i < bindTrees.Length; i++)
        {
            BindMount bind = binds[i];
            int target = BindTarget(p, rootTree, bind, HostPaths.IsDirectory(sources[i]), mayCreate: !spec.ReadOnly);
            p.Call(Sys.move_mount, $"bind mounting {sources[i]} on {bind.Destination}",
                Slot(bindTrees[i]), p.Str(""), Slot(target), p.Str(""), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
            p.Call(Sys.close, "close", Slot(target));
        }
        for (int i = 0; i < dirs.Count; i++)
        {
            string dir = dirs[i].TrimStart('/');
            MkdirAll(p, scaffold, dir);
            p.Call(Sys.move_mount, $"mounting {dirs[i]}", Slot(runtimeTrees[i]), p.Str(""), Slot(scaffold), p.Str(dir), MOVE_MOUNT_F_EMPTY_PATH);
        }
        foreach (string path in runtime.Paths) Expose(p, scaffold, path, runtime.IsCovered, depth: 0);
        // /proc/PID and the /proc/self link to it; PID is known only to the process that runs the plan.
        MkdirAll(p, scaffold, "proc");
        int procDir = p.CallInto(Sys.openat, "opening /proc in the scaffold", Slot(scaffold), p.Str("proc"),
            OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
        int pid = p.PidString();
        p.CallIgnoring(Errno.EEXIST, Sys.mkdirat, "mkdir proc/PID in the scaffold", Slot(procDir), Slot(pid), 0x1ed);
        p.Call(Sys.move_mount, "mounting /proc/self", Slot(procTree), p.Str(""), Slot(procDir), Slot(pid), MOVE_MOUNT_F_EMPTY_PATH);
        p.Call(Sys.symlinkat, "symlink /proc/self", Slot(pid), Slot(procDir), p.Str("self"));
        p.Call(Sys.close, "close", Slot(procDir));
        int readOnly = MountAttr(p, MOUNT_ATTR_RDONLY);
        p.Call(Sys.mount_setattr, "making the scaffold read-only", Slot(scaffold), p.Str(""), AT_EMPTY_PATH, At(readOnly), MountAttrSize);

        // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the scaffold.
        p.Call(Sys.fchdir, "fchdir(scaffold)", Slot(scaffold));
        p.Call(Sys.pivot_root, "pivot_root", p.Str("."), p.Str("."));
        p.Call(Sys.umount2, "detaching the old root", p.Str("."), MNT_DETACH);
        p.Call(Sys.chdir, "chdir(/)", p.Str("/"));

        GoferCapabilities.PlanDrop(p);
        p.Call(Sys.prctl, "prctl(PR_SET_NO_NEW_PRIVS)", Seccomp.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

        // Only 0, 1, 2 and spec.KeepFds survive execve (nothing inherited by accident, such as a
        // directory outside the root).
        var keep = new int[spec.KeepFds.Count];
        for (int i = 0; i < keep.Length; i++)
        {
            int fd = spec.KeepFds[i], j = i;
            for (; j > 0 && keep[j - 1] > fd; j--) keep[j] = keep[j - 1];
            keep[j] = fd;
        }
        uint next = 3;
        foreach (int fd in keep)
        {
            if (fd < next) continue;
            if (fd > next) p.Call(Sys.close_range, "close_range", next, fd - 1, Exec.CLOSE_RANGE_CLOEXEC);
            next = (uint)fd + 1;
        }
        p.Call(Sys.close_range, "close_range", next, uint.MaxValue, Exec.CLOSE_RANGE_CLOEXEC);
        p.Call(Sys.execve, $"re-executing {exe} inside the confinement",
            p.Str(exe), p.StringArray(argv), p.StringArray(ConfinedEnvironment(env, runtime.DotnetRoot, spec.DieWithParent ? Environment.ProcessId : 0)));
        return p;
    }

    /// <summary>In the re-executed gofer: checks the confinement is in force and opens the served root.</summary>
    public static int EnterConfined()
    {
        Environment.SetEnvironmentVariable(ConfinedVariable, null);
        StayWithParent();
        string? problem = GoferCapabilities.CheckDropped();
        if (problem is null)
        {
            int slash = Openat(-100, "/", OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
            long type = slash < 0 ? -1 : FilesystemType(slash);
            if (slash >= 0) Unistd.Close(slash);
            if (type != TMPFS_MAGIC) problem = "/ is not the gofer's scaffold";
        }
        if (problem is not null)
        {
            throw new ConfinementException($"{ConfinedVariable} is set but the process is not confined: {problem}");
        }
        return Check(Openat(-100, ServedRootPath, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0),
            $"opening the served root {ServedRootPath}");
    }

    /// <summary>Set in the environment of a confined gofer that must die with its parent: the parent's pid.</summary>
    private const string ParentVariable = "RUNSC_GOFER_PARENT";

    /// <summary>Arms the death signal again after the exec (an exec that changes privileges,
    /// see <see cref="GoferSandboxSpec.RealUid"/>, clears it), and exits if the parent is
    /// already gone, which the signal would no longer tell.</summary>
    private static void StayWithParent()
    {
        string? parent = Environment.GetEnvironmentVariable(ParentVariable);
        Environment.SetEnvironmentVariable(ParentVariable, null);
        if (parent is null || !int.TryParse(parent, out int pid)) return;
        const int PR_SET_PDEATHSIG = 1, SIGKILL = 9;
        Capabilities.Prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (Sched.GetPpid() != pid) Environment.Exit(1);
    }

    /// <summary>The confined gofer's environment: env with <see cref="ConfinedVariable"/> set,
    /// DOTNET_ROOT pointing at the runtime bound into the scaffold, and no diagnostics.</summary>
    private static List<string> ConfinedEnvironment(IReadOnlyList<string> env, string? dotnetRoot, int parent)
    {
        string[] replaced = [ConfinedVariable, ParentVariable, "DOTNET_ROOT", "DOTNET_EnableDiagnostics"];
        var result = new List<string>();
        foreach (string e in env)
        {
            int eq = e.IndexOf('=');
            string key = eq < 0 ? e : e[..eq];
            if (!replaced.Contains(key)) result.Add(e);
        }
        result.Add($"{ConfinedVariable}=1");
        if (parent != 0) result.Add($"{ParentVariable}={parent}");
        if (dotnetRoot is not null) result.Add($"DOTNET_ROOT={dotnetRoot}");
        // No diagnostics IPC socket or debugger pipes: nothing may attach to the gofer.
        result.Add("DOTNET_EnableDiagnostics=0");
        return result;
    }

    private static List<string> ReadCmdline()
    {
        byte[] raw = File.ReadAllBytes("/proc/self/cmdline");
        var argv = System.Text.Encoding.UTF8.GetString(raw).Split('\0').ToList();
        if (argv.Count > 0 && argv[^1].Length == 0) argv.RemoveAt(argv.Count - 1);
        return argv;
    }

    /// <summary>The path with every symlink resolved, as the kernel names it.</summary>
    internal static string Canonical(string path, string what)
    {
        int fd = Openat(-100, path, OpenFlags.O_PATH | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0) throw Fail($"{what} {path}");
        try
        {
            return ReadlinkString($"/proc/self/fd/{fd}") ?? throw Fail($"resolving {path}");
        }
        finally
        {
            Unistd.Close(fd);
        }
    }

    private const int MountAttrSize = 32; // struct mount_attr

    private static PlanArg Slot(int slot) => ConfinementPlan.SlotValue(slot);

    private static PlanArg At(int offset) => ConfinementPlan.At(offset);

    /// <summary>A struct mount_attr setting attrs, in the plan's data.</summary>
    private static int MountAttr(ConfinementPlan p, ulong attrs)
    {
        int at = p.Reserve(MountAttrSize, 8);
        p.WriteUInt64(at, attrs);
        return at;
    }

    private static void SetAttr(ConfinementPlan p, int tree, ulong attrs, string what) =>
        p.Call(Sys.mount_setattr, $"mount_setattr({what})", Slot(tree), p.Str(""), AT_EMPTY_PATH | AT_RECURSIVE,
            At(MountAttr(p, attrs)), MountAttrSize);

    private static void MkdirAll(ConfinementPlan p, int dirSlot, string relative)
    {
        string prefix = "";
        foreach (string part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            prefix = prefix.Length == 0 ? part : $"{prefix}/{part}";
            p.CallIgnoring(Errno.EEXIST, Sys.mkdirat, $"mkdir {prefix} in the scaffold", Slot(dirSlot), p.Str(prefix), 0x1ed);
        }
    }

    /// <summary>Steps that leave an O_PATH descriptor of a bind mount's destination inside the
    /// served tree in the returned slot. Symlinks resolve as if the tree were "/" (openat2
    /// RESOLVE_IN_ROOT), each time a component is looked up; when allowed, every missing
    /// component is created (a directory, or an empty file for the last one when the source
    /// is a file): mkdirat/mknodat fail with EEXIST on a name that exists, whatever it is,
    /// which then resolves (or fails to) like any other.</summary>
    private static int BindTarget(ConfinementPlan p, int rootTree, BindMount bind, bool sourceIsDir, bool mayCreate)
    {
        const long Resolve = (long)(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        const int Path = OpenFlags.O_PATH | OpenFlags.O_CLOEXEC;
        string[] parts = bind.Destination.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ConfinementException($"bind mount destination {bind.Destination}: cannot cover the root");
        for (int i = 0; mayCreate && i < parts.Length; i++)
        {
            string parentPath = i == 0 ? "." : string.Join('/', parts[..i]);
            int how = OpenHow(p, Path | OpenFlags.O_DIRECTORY, 0, Resolve);
            int parent = p.CallInto(Sys.openat2, $"bind mount destination {bind.Destination}", Slot(rootTree), p.Str(parentPath), At(how), OpenHowSize);
            bool last = i == parts.Length - 1;
            if (!last || sourceIsDir)
            {
                p.CallIgnoring(Errno.EEXIST, Sys.mkdirat, $"creating {bind.Destination}", Slot(parent), p.Str(parts[i]), 0x1ed);
            }
            else
            {
                p.CallIgnoring(Errno.EEXIST, Sys.mknodat, $"creating {bind.Destination}", Slot(parent), p.Str(parts[i]),
                    StatMode.S_IFREG | 0x1a4, 0);
            }
            p.Call(Sys.close, "close", Slot(parent));
        }
        int target = OpenHow(p, Path, 0, Resolve);
        return p.CallInto(Sys.openat2, $"bind mount destination {bind.Destination} in the root",
            Slot(rootTree), p.Str(string.Join('/', parts)), At(target), OpenHowSize);
    }

    private const int OpenHowSize = 24; // struct open_how

    private static int OpenHow(ConfinementPlan p, long flags, long mode, long resolve)
    {
        int at = p.Reserve(OpenHowSize, 8);
        p.WriteUInt64(at, (ulong)flags);
        p.WriteUInt64(at + 8, (ulong)mode);
        p.WriteUInt64(at + 16, (ulong)resolve);
        return at;
    }

    private static int Check(int result, string what) => result < 0 ? throw Fail(what) : result;

    private static ConfinementException Fail(string what) =>
        new($"{what}: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(HostError.Last)}");
}
