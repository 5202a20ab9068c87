using System.Reflection;
using System.Text;
using Sandbox.Abi.Host;
using Sandbox.Gofer.Confinement;
using Sandbox.Platform.Ptrace;

namespace Sandbox.Runsc;

/// <summary>Confines the Sentry once it has started (DESIGN decision 3): after this it holds no
/// host path, no capability and no privileged identity, and its system calls pass its own
/// seccomp allowlist (<see cref="SentrySeccompPolicy"/>). In order:
/// <list type="number">
/// <item>Everything the .NET runtime would still read from disk is loaded now: the assemblies
/// the program references (transitively) and the ones exception traces use. After the chroot a
/// lazy load would fail.</item>
/// <item>The stub template takes the unprivileged identity first (a stub forked later must be
/// traceable by the unprivileged Sentry).</item>
/// <item>chroot into an empty directory that is removed as soon as it is the root: nothing can
/// ever be created in it, and nothing of the host is reachable by path. The root directory is
/// per process (every .NET thread shares it, CLONE_FS), so one chroot confines all threads.</item>
/// <item>uid and gid <see cref="UnprivilegedId"/> (the sandbox's own) and no supplementary groups, through glibc, which
/// applies them to every thread: leaving uid 0 clears every thread's capabilities.</item>
/// <item>no_new_privs and the seccomp filter, synchronised to every thread (TSYNC).</item>
/// </list>
/// Not root: no chroot or identity change is possible; only the seccomp filter is installed.</summary>
public static class SentryConfinement
{
    /// <summary>Where the sandboxes' host uids start: far above the ids of users, of systemd's
    /// dynamic users and of the subordinate ranges container tools hand out.</summary>
    public const uint FirstSandboxId = 3_000_000_000;

    /// <summary>The host uid and gid of this sandbox's confined Sentry and of its stubs: one of
    /// its own (FirstSandboxId + runsc's pid, unique among the sandboxes alive), not "nobody",
    /// so that no other sandbox and no host daemon running as nobody shares it: signals,
    /// ptrace and /proc/PID/mem between processes of different uids need privileges neither
    /// side has.</summary>
    public static uint UnprivilegedId { get; } = FirstSandboxId + (uint)Environment.ProcessId;

    /// <summary>Loads every assembly the Sentry may still need (call early, off the critical
    /// path: it overlaps the Gofer's start).</summary>
    public static int LoadAssemblies()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<Assembly>();
        pending.Push(Assembly.GetEntryAssembly() ?? typeof(SentryConfinement).Assembly);
        // Not referenced, loaded by the runtime when an exception's stack trace is printed.
        foreach (string name in (string[])["System.Diagnostics.StackTrace", "System.Reflection.Metadata", "System.Collections.Immutable"])
        {
            Push(new AssemblyName(name));
        }
        while (pending.TryPop(out Assembly? assembly))
        {
            foreach (AssemblyName reference in assembly.GetReferencedAssemblies()) Push(reference);
        }
        return seen.Count;

        void Push(AssemblyName name)
        {
            if (!seen.Add(name.Name ?? name.FullName)) return;
            try
            {
                pending.Push(Assembly.Load(name));
            }
            catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
            {
                // Referenced but never shipped (a facade of another platform): never loaded either.
            }
        }
    }

    /// <summary>Confines this process; returns a one-line account for the debug log. Throws
    /// <see cref="ConfinementException"/> if a step fails (the sandbox must not run unconfined).</summary>
    public static string Enter(PtracePlatform platform)
    {
        // Read once now: later they would need files (/etc/localtime) the chroot hides.
        _ = TimeZoneInfo.Local;
        Sentry.SandboxRunner.CaptureHostFacts();
        bool root = Files.GetEuid() == 0;
        var account = new StringBuilder("sentry confined:");
        RemoveDiagnosticsSocket();
        if (root)
        {
            platform.SetStubCredentials(UnprivilegedId, UnprivilegedId);
            ChrootIntoEmptyDirectory();
            DropIdentity();
            account.Append($" chroot into an empty directory, uid/gid {UnprivilegedId}, no capabilities;");
        }
        else
        {
            account.Append(" not root, so no chroot or identity change;");
        }
        var program = SeccompFilter.Compile(SentrySeccompPolicy.Create());
        SeccompFilter.Install(program);
        account.Append($" seccomp allowlist of {program.Length} instructions on every thread");
        CheckInForce(root);
        return account.ToString();
    }

    /// <summary>Removes the .NET runtime's diagnostics socket of this process
    /// ($TMPDIR/dotnet-diagnostic-PID-STARTTIME-socket, STARTTIME field 22 of /proc/self/stat):
    /// the confined Sentry could not remove it at exit, and no tool may attach to the Sentry
    /// by that path in the meantime. The runtime keeps its listening descriptor.</summary>
    private static void RemoveDiagnosticsSocket()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state): the start time, field 22, is fields[19].
            string dir = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
            File.Delete(Path.Combine(dir, $"dotnet-diagnostic-{Environment.ProcessId}-{fields[19]}-socket"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            // No /proc or no socket (DOTNET_EnableDiagnostics=0): nothing to remove.
        }
    }

    /// <summary>chroot into a fresh directory, then removes it: an empty, deleted root to
    /// which nothing can be added and from which nothing of the host can be named.</summary>
    private static unsafe void ChrootIntoEmptyDirectory()
    {
        // Made wherever this host lets runsc make one: TMPDIR (or /tmp), else the usual tmpfs.
        string? dir = null;
        foreach (string parent in (string[])[Path.GetTempPath(), "/dev/shm", "/run"])
        {
            byte[] template = Encoding.UTF8.GetBytes(Path.Combine(parent, "runsc-sentry-root.XXXXXX") + "\0");
            fixed (byte* t = template)
            {
                if (Identity.Mkdtemp(t) == null) continue;
            }
            dir = Encoding.UTF8.GetString(template, 0, template.Length - 1);
            break;
        }
        if (dir == null) throw Fail("mkdtemp(an empty root in TMPDIR, /dev/shm or /run)");
        try
        {
            if (Namespaces.Chdir(dir) != 0) throw Fail($"chdir({dir})");
        }
        finally
        {
            // Removed whatever happens; the working directory keeps it alive until the chroot.
            Identity.Rmdir(dir);
        }
        if (Identity.Chroot(".") != 0) throw Fail("chroot(an empty directory)");
        if (Namespaces.Chdir("/") != 0) throw Fail("chdir(/)");
    }

    private static unsafe void DropIdentity()
    {
        uint id = UnprivilegedId;
        if (Identity.SetGroups(0, null) != 0) throw Fail("setgroups(none)");
        if (Identity.SetResGid(id, id, id) != 0) throw Fail("setresgid");
        if (Identity.SetResUid(id, id, id) != 0) throw Fail("setresuid");
    }

    /// <summary>Checks what was just done holds: the identity and capabilities are gone and a
    /// call outside the allowlist is refused.</summary>
    private static void CheckInForce(bool root)
    {
        if (root && (Unistd.GetUid() != UnprivilegedId || Files.GetEuid() != UnprivilegedId))
            throw new ConfinementException("the Sentry still has its host identity after setresuid");
        var caps = Capabilities.Get();
        if (root && (caps.Effective | caps.Permitted) != 0)
            throw new ConfinementException($"the Sentry still holds capabilities 0x{caps.Effective | caps.Permitted:x}");
        if (Namespaces.Openat(-100, "/", Sandbox.Abi.OpenFlags.O_PATH, 0) is int fd and >= 0)
        {
            Unistd.Close(fd);
            throw new ConfinementException("openat is still allowed in the Sentry after its seccomp filter");
        }
    }

    private static ConfinementException Fail(string call) =>
        new($"confining the Sentry: {new HostException(call, HostError.Last).Message}");
}
