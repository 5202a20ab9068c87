using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Namespaces;
using OpenFlags = Sandbox.Abi.OpenFlags;

namespace Sandbox.Gofer.Confinement;

/// <summary>What the gofer serves: a root directory, bind mounts inside it, and whether
/// the whole tree is read-only.</summary>
public sealed record GoferSandboxSpec(string RootDir, IReadOnlyList<BindMount> Binds, bool ReadOnly)
{
    /// <summary>Descriptors (besides 0, 1, 2) that must survive into the confined process, such
    /// as the 9P socket; every other one is made close-on-exec, so that nothing inherited by
    /// accident (a directory outside the root, say) survives.</summary>
    public IReadOnlyList<int> KeepFds { get; init; } = [];
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
    /// <summary>Set in the environment of the re-executed gofer.</summary>
    public const string ConfinedVariable = "RUNSC_GOFER_CONFINED";

    /// <summary>Where the served tree is in the confined gofer's root.</summary>
    public const string ServedRootPath = "/gofer-root";

    /// <summary>Whether this process is the re-executed, confined gofer.</summary>
    public static bool IsReexecuted => Environment.GetEnvironmentVariable(ConfinedVariable) == "1";

    /// <summary>Confines the process to spec and returns an O_PATH|O_DIRECTORY descriptor of
    /// the served root. The first call re-executes the process (same argv) inside the
    /// confinement and does not return; in the re-executed process it checks the
    /// confinement is in force and returns the descriptor. Descriptors the caller needs in
    /// the new image must not be close-on-exec.</summary>
    public static int Confine(GoferSandboxSpec spec)
    {
        if (!IsReexecuted) ConfineAndReexec(spec);
        return EnterConfined();
    }

    /// <summary>Builds the confinement on the calling thread and re-executes the process in it.</summary>
    [DoesNotReturn]
    public static void ConfineAndReexec(GoferSandboxSpec spec)
    {
        // Everything that needs the host's view is read before the view changes.
        string exe = ReadlinkString("/proc/self/exe") ?? throw Fail("readlink(/proc/self/exe)");
        List<string> argv = ReadCmdline();
        string rootDir = Canonical(spec.RootDir, "root directory");
        var sources = spec.Binds.Select(b => (Bind: b, Path: Canonical(b.Source, $"bind mount source"))).ToList();
        RuntimeFiles runtime = RuntimeFiles.Find(exe);
        int pid = Environment.ProcessId;

        Check(Unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS) (the gofer must start as root, with CAP_SYS_ADMIN)");
        Check(Mount(null, "/", null, MS_REC | MS_PRIVATE, 0), "making / private (mount MS_REC|MS_PRIVATE)");

        // Detached copies of everything the new root will hold, taken while the host's tree is visible.
        const uint Clone = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
        int rootTree = Check(OpenTree(-100, rootDir, Clone | AT_RECURSIVE), $"open_tree({rootDir})");
        var bindTrees = sources.Select(s => Check(OpenTree(-100, s.Path, Clone | AT_RECURSIVE), $"open_tree({s.Path})")).ToList();
        var runtimeTrees = runtime.Directories.Select(d => Check(OpenTree(-100, d, Clone | AT_RECURSIVE), $"open_tree({d})")).ToList();
        int procTree = Check(OpenTree(-100, $"/proc/{pid}", Clone), $"open_tree(/proc/{pid})");

        const ulong Hardened = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        SetAttr(rootTree, Hardened | (spec.ReadOnly ? MOUNT_ATTR_RDONLY : 0), rootDir);
        for (int i = 0; i < bindTrees.Count; i++)
        {
            SetAttr(bindTrees[i], Hardened | (spec.ReadOnly || sources[i].Bind.ReadOnly ? MOUNT_ATTR_RDONLY : 0), sources[i].Path);
        }
        foreach (var (tree, dir) in runtimeTrees.Zip(runtime.Directories)) SetAttr(tree, Hardened | MOUNT_ATTR_RDONLY, dir);
        SetAttr(procTree, Hardened | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC, "/proc/self");

        // The scaffold: a small tmpfs stacked on "/" of the private namespace.
        int fsfd = Check(FsOpen("tmpfs", FSOPEN_CLOEXEC), "fsopen(tmpfs)");
        Check(FsConfig(fsfd, FSCONFIG_SET_STRING, "mode", "0755"), "fsconfig(tmpfs mode)");
        Check(FsConfig(fsfd, FSCONFIG_SET_STRING, "size", "1m"), "fsconfig(tmpfs size)");
        Check(FsConfig(fsfd, FSCONFIG_CMD_CREATE, null, null), "fsconfig(FSCONFIG_CMD_CREATE)");
        int scaffold = Check(FsMount(fsfd, FSMOUNT_CLOEXEC, Hardened | MOUNT_ATTR_NOEXEC), "fsmount(tmpfs)");
        Check(MoveMount(scaffold, "", -100, "/", MOVE_MOUNT_F_EMPTY_PATH), "move_mount(tmpfs onto /)");

        string served = ServedRootPath.TrimStart('/');
        MkdirAll(scaffold, served);
        Check(MoveMount(rootTree, "", scaffold, served, MOVE_MOUNT_F_EMPTY_PATH), $"mounting {rootDir}");
        for (int i = 0; i < bindTrees.Count; i++)
        {
            var (bind, path) = sources[i];
            int target = BindTarget(rootTree, bind, Directory.Exists(path), mayCreate: !spec.ReadOnly);
            Check(MoveMount(bindTrees[i], "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
                $"bind mounting {path} on {bind.Destination}");
            Unistd.Close(target);
        }
        foreach (var (tree, dir) in runtimeTrees.Zip(runtime.Directories))
        {
            MkdirAll(scaffold, dir.TrimStart('/'));
            Check(MoveMount(tree, "", scaffold, dir.TrimStart('/'), MOVE_MOUNT_F_EMPTY_PATH), $"mounting {dir}");
        }
        foreach (string path in runtime.Paths) Expose(scaffold, path, runtime.IsCovered, depth: 0);
        MkdirAll(scaffold, $"proc/{pid}");
        Check(MoveMount(procTree, "", scaffold, $"proc/{pid}", MOVE_MOUNT_F_EMPTY_PATH), $"mounting /proc/{pid}");
        Check(Symlinkat(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), scaffold, "proc/self"), "symlink /proc/self");
        Check(MountSetattr(scaffold, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0), "making the scaffold read-only");

        // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the scaffold.
        Check(Fchdir(scaffold), "fchdir(scaffold)");
        Check(PivotRoot(".", "."), "pivot_root");
        Check(Umount2(".", MNT_DETACH), "detaching the old root");
        Check(Chdir("/"), "chdir(/)");

        GoferCapabilities.DropAllButKept();
        try
        {
            Seccomp.SetNoNewPrivs();
        }
        catch (HostException e)
        {
            throw new ConfinementException(e.Message);
        }

        try
        {
            Exec.CloseOnExecAllBut(spec.KeepFds);
        }
        catch (HostException e)
        {
            throw new ConfinementException(e.Message);
        }
        int errno = Exec.Execve(exe, argv, ReexecEnvironment(runtime.DotnetRoot));
        throw new ConfinementException($"re-executing {exe} inside the confinement: {new HostException("execve", errno).Message}");
    }

    /// <summary>In the re-executed gofer: checks the confinement is in force and opens the served root.</summary>
    public static int EnterConfined()
    {
        Environment.SetEnvironmentVariable(ConfinedVariable, null);
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

    private static List<string> ReexecEnvironment(string? dotnetRoot)
    {
        string[] replaced = [ConfinedVariable, "DOTNET_ROOT", "DOTNET_EnableDiagnostics"];
        var env = new List<string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            string key = (string)e.Key;
            if (!replaced.Contains(key)) env.Add($"{key}={e.Value}");
        }
        env.Add($"{ConfinedVariable}=1");
        if (dotnetRoot is not null) env.Add($"DOTNET_ROOT={dotnetRoot}");
        // No diagnostics IPC socket or debugger pipes: nothing may attach to the gofer.
        env.Add("DOTNET_EnableDiagnostics=0");
        return env;
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

    private static void SetAttr(int tree, ulong attrs, string what) =>
        Check(MountSetattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs, 0), $"mount_setattr({what})");

    private static void MkdirAll(int dirfd, string relative)
    {
        string prefix = "";
        foreach (string part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            prefix = prefix.Length == 0 ? part : $"{prefix}/{part}";
            Mkdirat(dirfd, prefix, 0x1ed).IgnoreExists($"mkdir {prefix} in the scaffold");
        }
    }

    /// <summary>An O_PATH descriptor of a bind mount's destination inside the served tree,
    /// resolving symlinks as if the tree were "/" (openat2 RESOLVE_IN_ROOT), creating the
    /// missing components when allowed.</summary>
    private static int BindTarget(int rootFd, BindMount bind, bool sourceIsDir, bool mayCreate)
    {
        const ulong Resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        const int Path = OpenFlags.O_PATH | OpenFlags.O_CLOEXEC;
        string[] parts = bind.Destination.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ConfinementException($"bind mount destination {bind.Destination}: cannot cover the root");
        for (int i = 0; i < parts.Length; i++)
        {
            string prefix = string.Join('/', parts[..(i + 1)]);
            int fd = Openat2(rootFd, prefix, Path, 0, Resolve);
            if (fd >= 0)
            {
                if (i == parts.Length - 1) return fd;
                Unistd.Close(fd);
                continue;
            }
            if (HostError.Last != (int)Abi.Errno.ENOENT || !mayCreate)
            {
                throw Fail($"bind mount destination {bind.Destination} in the root");
            }
            string parentPath = i == 0 ? "." : string.Join('/', parts[..i]);
            int parent = Check(Openat2(rootFd, parentPath, Path | OpenFlags.O_DIRECTORY, 0, Resolve), $"bind mount destination {bind.Destination}");
            try
            {
                bool last = i == parts.Length - 1;
                if (!last || sourceIsDir)
                {
                    Check(Mkdirat(parent, parts[i], 0x1ed), $"creating {bind.Destination}");
                }
                else
                {
                    int created = Check(Openat(parent, parts[i],
                        OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_WRONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0x1a4),
                        $"creating {bind.Destination}");
                    Unistd.Close(created);
                }
            }
            finally
            {
                Unistd.Close(parent);
            }
            i--; // open what was just created
        }
        throw new ConfinementException($"bind mount destination {bind.Destination}: unreachable");
    }

    private static int Check(int result, string what) => result < 0 ? throw Fail(what) : result;

    private static ConfinementException Fail(string what) =>
        new($"{what}: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(HostError.Last)}");
}
