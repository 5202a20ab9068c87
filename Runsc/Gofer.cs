using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Gofer.Confinement;
using CultureInfo = System.Globalization.CultureInfo;

namespace Sandbox.Runsc;

/// <summary>A running `runsc gofer` serving one directory over a socketpair. runsc keeps its
/// own end and hands the Sentry a duplicate; disposing shuts the connection down (whether or
/// not the Sentry ever used it), so the Gofer always sees its peer go and exits. A gofer
/// started through the launcher also dies with runsc's thread that started it
/// (PR_SET_PDEATHSIG), should runsc be killed; disposing waits for it to exit.</summary>
public sealed unsafe class Gofer : IDisposable
{
    private const int GoferSocketFd = 3;
    private readonly int _pid;
    private readonly int _ownFd;
    private bool _disposed;

    private Gofer(int pid, int ownFd, int sentryFd)
    {
        _pid = pid;
        _ownFd = ownFd;
        SentryFd = sentryFd;
    }

    /// <summary>The Sentry's end of the 9P connection (a duplicate the P9 client takes over).</summary>
    public int SentryFd { get; }

    public string RootDir { get; private init; } = "/";

    /// <summary>Starts `runsc gofer` serving rootDir (read-only) on a new socketpair, already
    /// confined: the confinement plan is computed here and run by the generated launcher, whose
    /// execve starts the gofer inside it (see <see cref="ConfinementLauncher"/>). If the plan
    /// cannot be computed, the gofer is started unconfined and confines itself (re-executing),
    /// so that it reports the problem itself, as a stand-alone `runsc gofer` would.</summary>
    public static Gofer Start(string rootDir, IReadOnlyList<string> envp)
    {
        int* sv = stackalloc int[2];
        if (Sockets.SocketPair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0, sv) != 0)
            throw new HostException("socketpair", HostError.Last);
        int pid;
        try
        {
            string self = Environment.ProcessPath ?? throw new HostException("locating runsc", 2);
            string[] argv = ["runsc-gofer", "gofer", "--root", rootDir, "--fd", GoferSocketFd.ToString(CultureInfo.InvariantCulture), "--read-only"];
            var spec = new GoferSandboxSpec(rootDir, [], ReadOnly: true)
            {
                KeepFds = [GoferSocketFd],
                DieWithParent = true,
                // runsc, the Sentry, drops to this uid once started (SentryConfinement).
                RealUid = Files.GetEuid() == 0 ? SentryConfinement.UnprivilegedId : null,
            };
            try
            {
                pid = StartConfined(spec, self, argv, envp, (sv[1], GoferSocketFd));
            }
            catch (ConfinementException)
            {
                pid = HostProcess.Start(self, argv, envp, (sv[1], GoferSocketFd));
            }
        }
        catch
        {
            Unistd.Close(sv[0]);
            Unistd.Close(sv[1]);
            throw;
        }
        Unistd.Close(sv[1]);
        int sentryFd = Unistd.Fcntl(sv[0], Fcntl.F_DUPFD_CLOEXEC, 3);
        if (sentryFd < 0) throw new HostException("dup(gofer socket)", HostError.Last);
        return new Gofer(pid, sv[0], sentryFd) { RootDir = rootDir };
    }

    /// <summary>Starts the gofer exe with argv and env inside the confinement spec describes:
    /// computes the plan, spawns the launcher running it, and returns the launcher's pid (the
    /// gofer's, once the launcher execs it). Throws <see cref="ConfinementException"/> when the
    /// plan cannot be computed; a step that fails in the launcher makes it print the problem
    /// and exit 1.</summary>
    public static int StartConfined(GoferSandboxSpec spec, string exe, IReadOnlyList<string> argv, IReadOnlyList<string> env,
        params (int From, int To)[] fds)
    {
        ConfinementPlan plan = GoferSandbox.BuildPlan(spec, exe, argv, env);
        return HostProcess.StartImage("runsc-gofer-launcher", ConfinementLauncher.Build(plan), fds);
    }

    /// <summary>This process's environment as KEY=VALUE strings.</summary>
    public static List<string> CurrentEnvironment()
    {
        var envp = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) envp.Add($"{e.Key}={e.Value}");
        return envp;
    }

    /// <summary>Starts the Gofer for a `runsc do` command line as early as possible (its start-up
    /// then overlaps runsc's own), when the root directory can be told from the arguments.</summary>
    public static Gofer? StartEarly(string[] args)
    {
        int i = Array.IndexOf(args, "do");
        if (i < 0) return null;
        string root = "/";
        for (i++; i < args.Length && args[i].StartsWith('-') && args[i] != "--"; i++)
        {
            if (args[i] == "--root" && i + 1 < args.Length) root = args[++i];
            else if (args[i].StartsWith("--root=", StringComparison.Ordinal)) root = args[i]["--root=".Length..];
            else if (args[i] is "--debug-log" or "--platform" or "--uid" or "--gid") i++;
        }
        try
        {
            string full = Path.GetFullPath(root);
            if (!Directory.Exists(full)) return null;
            return Start(full, CurrentEnvironment());
        }
        catch (Exception e) when (e is HostException or IOException or ArgumentException)
        {
            return null; // `do` itself will report the problem
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Sockets.Shutdown(_ownFd, Sockets.SHUT_RDWR);
        Unistd.Close(_ownFd);
        // Waited for even though a launched gofer would die with runsc (PR_SET_PDEATHSIG): the
        // few milliseconds buy the guarantee that no process of the sandbox outlives runsc,
        // not even as a zombie waiting for its new parent to reap it.
        HostProcess.Wait(_pid);
    }
}
