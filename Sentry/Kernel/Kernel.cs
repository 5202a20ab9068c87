using Sandbox.Platform;
using Sandbox.Sentry.Memory;

namespace Sandbox.Sentry.Kernel;

/// <summary>What the sandbox was asked to do, independent of how runsc got it.</summary>
public sealed class SandboxConfig
{
    public required string ExecutablePath { get; init; }
    public required IReadOnlyList<string> Argv { get; init; }
    public required IReadOnlyList<string> Envp { get; init; }
    public string Hostname { get; init; } = "runsc";
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public bool Strace { get; init; }
    /// <summary>A connected socket to the Gofer serving the root (read-only, under a tmpfs
    /// overlay); null for a bare tmpfs root.</summary>
    public int? GoferFd { get; init; }
    /// <summary>The guest's initial working directory.</summary>
    public string? WorkingDirectory { get; init; }
    /// <summary>Where --strace lines and the Sentry's own log go.</summary>
    public TextWriter? Log { get; init; }
}

/// <summary>The Sentry's global state: platform, pid allocation, the log.</summary>
public sealed class Kernel : IDisposable
{
    private readonly HashSet<int> _unimplementedLogged = [];
    private int _nextPid;

    public IPlatform Platform { get; }
    public SandboxConfig Config { get; }
    public Logger Log { get; }
    public DateTime BootTime { get; } = DateTime.UtcNow;
    public long BootTicks { get; } = Environment.TickCount64;
    public string Hostname { get; set; }
    public string Domainname { get; set; } = "(none)";

    /// <summary>Live tasks by tid, for /proc. Whoever starts a task adds it; it is removed
    /// when the task has exited.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<int, Task> Tasks { get; } = new();

    /// <summary>File system types mount(2) can create besides tmpfs: name → factory(kernel, options).</summary>
    public Dictionary<string, Func<Kernel, string, Vfs.FileSystem>> FileSystemTypes { get; } = [];

    public Kernel(IPlatform platform, SandboxConfig config)
    {
        Platform = platform;
        Config = config;
        Log = new Logger(config.Log);
        Hostname = config.Hostname;
    }

    public int AllocatePid() => Interlocked.Increment(ref _nextPid);

    /// <summary>Thread groups by pid, while they exist (until reaped).</summary>
    public ThreadGroup? FindGroup(int pid) => Tasks.TryGetValue(pid, out var t) ? t.Group : null;

    /// <summary>Brings every task running in <paramref name="mm"/> out of the guest (it has
    /// platform changes for them to apply).</summary>
    public void InterruptTasksUsing(MemoryManager mm)
    {
        foreach (var t in Tasks.Values)
            if (t.MemoryManager == mm) t.InterruptGuest();
    }

    /// <summary>The vDSO every process maps (clock_gettime and friends without a trap).</summary>
    public Loader.Vdso Vdso => _vdso ??= new Loader.Vdso(Platform.MemoryFile);
    private Loader.Vdso? _vdso;

    /// <summary>Read-only copies of lower-layer files that private mappings share.</summary>
    public Memory.FileCache FileCache => LazyInitializer.EnsureInitialized(ref _fileCache, () => new Memory.FileCache(Platform.MemoryFile));
    private Memory.FileCache? _fileCache;

    /// <summary>AF_UNIX names in the abstract namespace (one per sandbox).</summary>
    public Socket.Unix.UnixAbstractNamespace UnixAbstract { get; } = new();

    /// <summary>The futex table shared by all processes.</summary>
    public FutexTable Futexes { get; } = new();

    /// <summary>The sandbox's init (pid 1): orphans are re-parented to it.</summary>
    public ThreadGroup? Init { get; set; }

    /// <summary>Signalled when pid 1's thread group has exited.</summary>
    public ManualResetEventSlim InitExited { get; } = new(false);

    /// <summary>Logs an unimplemented syscall the first time the sandbox sees it.</summary>
    public void LogUnimplemented(int nr, string name)
    {
        lock (_unimplementedLogged)
            if (!_unimplementedLogged.Add(nr)) return;
        Log.Warning($"unimplemented syscall {name} ({nr}) returns ENOSYS");
    }

    private int _i386Logged;

    /// <summary>Logs, the first time only, that a guest used the i386 system-call ABI.</summary>
    public void LogI386Syscall(string name, long eax)
    {
        if (Interlocked.Exchange(ref _i386Logged, 1) == 0)
            Log.Warning($"unimplemented syscall {name} (eax {eax}) returns ENOSYS; the sandbox offers only the x86-64 ABI");
    }

    /// <summary>Host resources to release with the sandbox (9P connections, ...).</summary>
    public List<IDisposable> Resources { get; } = [];

    private int _runningTasks;
    private readonly ManualResetEventSlim _noTasksRunning = new(true);

    /// <summary>Counts task host threads, so the sandbox can wait for all of them to finish.</summary>
    internal void TaskStarted()
    {
        if (Interlocked.Increment(ref _runningTasks) == 1) _noTasksRunning.Reset();
    }

    internal void TaskFinished()
    {
        if (Interlocked.Decrement(ref _runningTasks) == 0) _noTasksRunning.Set();
    }

    /// <summary>Waits until no task host thread runs any more.</summary>
    public bool WaitForAllTasks(TimeSpan timeout) => _noTasksRunning.Wait(timeout);

    /// <summary>Releases what the kernel made. The platform belongs to whoever created it
    /// (runsc disposes it after the kernel): disposing it here too closed the MemoryFile's
    /// descriptor twice, which at exit could close a descriptor the runtime had just opened
    /// under the same number ("Out of memory." aborts, exit 134) or unmap its memory (139).</summary>
    public void Dispose()
    {
        foreach (var r in Resources) r.Dispose();
        _vdso?.Dispose();
    }
}

/// <summary>The debug log (--debug-log) and strace sink. Thread-safe; a no-op without a writer.</summary>
public sealed class Logger(TextWriter? writer)
{
    private readonly Lock _lock = new();

    public bool Enabled => writer != null;

    public void Line(string line)
    {
        if (writer == null) return;
        lock (_lock)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    public void Info(string message)
    {
        if (writer != null) Line($"I {DateTime.UtcNow:HH:mm:ss.ffffff} {message}");
    }

    public void Warning(string message)
    {
        if (writer != null) Line($"W {DateTime.UtcNow:HH:mm:ss.ffffff} {message}");
    }
}
