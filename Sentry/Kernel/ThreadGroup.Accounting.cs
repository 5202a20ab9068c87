namespace Sandbox.Sentry.Kernel;

/// <summary>A process's resource usage: the CPU time of its finished threads (live ones are
/// sampled, see <see cref="Task.CpuTime"/>), its peak RSS, and what its reaped children (and
/// their reaped descendants) used, as Linux's signal_struct keeps them for getrusage, times
/// and wait4.</summary>
public sealed partial class ThreadGroup
{
    /// <summary>CPU time of the group's finished threads, in ns (updated under the task list's lock).</summary>
    public long UserNanos { get; private set; }
    public long SystemNanos { get; private set; }

    /// <summary>CPU time of reaped children, including what they had from their own reaped children.</summary>
    public long ChildUserNanos => Volatile.Read(ref _childUser);
    public long ChildSystemNanos => Volatile.Read(ref _childSystem);

    /// <summary>Peak RSS in KiB of the address spaces the process left or ended with, and the
    /// largest of its reaped children's (ru_maxrss of RUSAGE_SELF and RUSAGE_CHILDREN).</summary>
    public long MaxRssKb => Volatile.Read(ref _maxRss);
    public long ChildMaxRssKb => Volatile.Read(ref _childMaxRss);

    private long _childUser, _childSystem, _maxRss, _childMaxRss;

    /// <summary>The group's user and system time so far, in ns: its finished threads' and
    /// its live threads' (a zombie has only the former).</summary>
    public (long User, long System) CpuTime()
    {
        long user, system;
        Task[] live;
        lock (_tasks)
        {
            user = UserNanos;
            system = SystemNanos;
            live = [.. _tasks];
        }
        // A thread that exits meanwhile still reports its frozen figures, which the totals
        // taken above do not hold yet: it counts once.
        foreach (var t in live)
        {
            var (u, s) = t.CpuTime();
            user += u;
            system += s;
        }
        return (user, system);
    }

    internal void NoteMaxRss(long kb) => Max(ref _maxRss, kb);

    /// <summary>wait4 reaped child: its usage and its children's become this group's
    /// children's usage (Linux's __exit_signal/wait_task_zombie accounting).</summary>
    internal void AddReapedChild(ThreadGroup child)
    {
        var (user, system) = child.CpuTime();
        Interlocked.Add(ref _childUser, user + child.ChildUserNanos);
        Interlocked.Add(ref _childSystem, system + child.ChildSystemNanos);
        Max(ref _childMaxRss, Math.Max(child.MaxRssKb, child.ChildMaxRssKb));
    }

    private static void Max(ref long field, long value)
    {
        long seen = Volatile.Read(ref field);
        while (value > seen)
        {
            long before = Interlocked.CompareExchange(ref field, value, seen);
            if (before == seen) return;
            seen = before;
        }
    }
}
