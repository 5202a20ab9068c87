using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Abi.Host;

namespace Sandbox.Runsc;

/// <summary>Starts helper processes (the Gofer) with posix_spawn rather than the runtime's
/// Process class, whose SIGCHLD handling would also reap the Sentry's ptrace stubs.</summary>
public static unsafe class HostProcess
{
    /// <summary>Starts path with argv and envp; each (from, to) pair makes the parent's fd
    /// `from` the child's fd `to`. Returns the pid.</summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, params (int From, int To)[] fds)
    {
        byte* attr = stackalloc byte[Spawn.AttrSize];
        byte* actions = stackalloc byte[Spawn.FileActionsSize];
        byte* sigset = stackalloc byte[Spawn.SigsetSize];
        Spawn.AttrInit(attr);
        Spawn.FileActionsInit(actions);
        // Pinned argv and envp strings (an array: List<GCHandle> would be JIT-compiled on the
        // critical path of `runsc do`).
        var pinned = new GCHandle[argv.Count + envp.Count + 1];
        int pinnedCount = 0;
        try
        {
            Spawn.SigEmptySet(sigset);
            Spawn.AttrSetSigmask(attr, sigset);
            Spawn.AttrSetFlags(attr, Spawn.POSIX_SPAWN_SETSIGMASK);
            foreach (var (from, to) in fds) Spawn.FileActionsAddDup2(actions, from, to);

            byte* Pin(string s)
            {
                var h = GCHandle.Alloc(Encoding.UTF8.GetBytes(s + "\0"), GCHandleType.Pinned);
                pinned[pinnedCount++] = h;
                return (byte*)h.AddrOfPinnedObject();
            }
            var args = new nint[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++) args[i] = (nint)Pin(argv[i]);
            var env = new nint[envp.Count + 1];
            for (int i = 0; i < envp.Count; i++) env[i] = (nint)Pin(envp[i]);
            int pid;
            fixed (nint* a = args, e = env)
            {
                int rc = Spawn.PosixSpawn(&pid, Pin(path), actions, attr, (byte**)a, (byte**)e);
                if (rc != 0) throw new HostException($"posix_spawn({path})", rc);
            }
            return pid;
        }
        finally
        {
            for (int i = 0; i < pinnedCount; i++) pinned[i].Free();
            Spawn.FileActionsDestroy(actions);
            Spawn.AttrDestroy(attr);
        }
    }

    /// <summary>Starts the program image (a static ELF generated in memory) from a memfd, with
    /// argv [argv0] and an empty environment; fds as for <see cref="Start"/>. Returns the pid.</summary>
    public static int StartImage(string argv0, byte[] image, params (int From, int To)[] fds)
    {
        int fd = HostError.Check(Mman.MemfdCreate(argv0, (uint)Sandbox.Abi.Mm.MFD_CLOEXEC), "memfd_create");
        try
        {
            fixed (byte* p = image)
            {
                for (int done = 0; done < image.Length;)
                {
                    nint n = Unistd.Write(fd, p + done, (nuint)(image.Length - done));
                    if (n < 0 && HostError.Last == 4) continue;
                    if (n <= 0) throw new HostException("write(memfd)", HostError.Last);
                    done += (int)n;
                }
            }
            // Exec through /proc/self/fd: the descriptor is close-on-exec, so the program does
            // not inherit it (posix_spawn returns once the exec happened).
            return Start($"/proc/self/fd/{fd}", [argv0], [], fds);
        }
        finally
        {
            Unistd.Close(fd);
        }
    }

    /// <summary>Waits for a child started by <see cref="Start"/>; returns its wait status.</summary>
    public static int Wait(int pid)
    {
        int status;
        while (Ptrace.WaitPid(pid, &status, 0) < 0)
            if (HostError.Last != 4) return -1;
        return status;
    }

    /// <summary>Reaps whatever children are left when runsc is done, so that none outlives it,
    /// not even as a zombie for its new parent to reap. Every child runsc made (the Gofer,
    /// the stubs) has been waited for by now; one still alive (a stub that was never let go)
    /// is killed first. The usual case costs one waitpid.</summary>
    public static void ReapRemainingChildren()
    {
        int status;
        while (true)
        {
            int r = Ptrace.WaitPid(-1, &status, Ptrace.WNOHANG | Ptrace.__WALL);
            if (r > 0) continue;
            if (r < 0 && HostError.Last == 4) continue;
            if (r < 0) return; // ECHILD: none left
            break; // some child is still alive
        }
        // Found through /proc when it can be seen; a confined runsc (chrooted) sees none, and
        // can only wait for the children it told to go.
        int self = Environment.ProcessId;
        IEnumerable<string> processes = Directory.Exists("/proc") ? Directory.EnumerateDirectories("/proc") : [];
        foreach (string dir in processes)
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            // pid (comm) state ppid ...: comm may hold spaces, so count from its closing parenthesis.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], out int ppid) && ppid == self) Unistd.Kill(pid, Sandbox.Abi.Signals.SIGKILL);
        }
        long deadline = Environment.TickCount64 + 2000;
        while (Environment.TickCount64 < deadline)
        {
            int r = Ptrace.WaitPid(-1, &status, Ptrace.__WALL);
            if (r < 0 && HostError.Last != 4) return;
        }
    }
}
