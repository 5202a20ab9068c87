using Sandbox.Abi.Host;

namespace Sandbox.Sentry.Kernel;

/// <summary>Host threads for guest tasks. Each task runs on a host thread of its own, which is
/// also the ptrace tracer of its stub thread; creating one (a 16 MiB stack, registration with
/// the runtime) is a large part of what clone and fork cost. A thread whose task has ended
/// parks for a while and runs the next task instead of exiting.</summary>
internal static unsafe class HostThreads
{
    /// <summary>Guest tasks get a large host stack: deep Sentry paths run on it.</summary>
    private const int StackSize = 16 << 20;
    private const int MaxParked = 64;

    /// <summary>Long enough to cover bursts of short-lived processes and threads.</summary>
    private static readonly TimeSpan ParkTime = TimeSpan.FromSeconds(10);

    private static readonly List<Worker> Parked = [];

    /// <summary>Runs work on a host thread, with the CPU affinity of the calling thread (a new
    /// guest thread runs on the CPU of the stub it shares with its creator).</summary>
    public static void Start(string name, Action work)
    {
        ulong mask = 0;
        if (Sched.GetAffinity(0, sizeof(ulong), &mask) != 0) mask = 0;
        Worker? worker = null;
        lock (Parked)
        {
            if (Parked.Count > 0)
            {
                worker = Parked[^1];
                Parked.RemoveAt(Parked.Count - 1);
            }
        }
        if (worker != null)
        {
            worker.Give(work, mask);
            return;
        }
        worker = new Worker();
        worker.Give(work, mask);
        new Thread(worker.Loop, StackSize) { Name = name, IsBackground = true }.Start();
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _given = new(0);
        private Action? _work;
        private ulong _mask;

        public void Give(Action work, ulong mask)
        {
            _work = work;
            _mask = mask;
            _given.Release();
        }

        public void Loop()
        {
            while (true)
            {
                if (!_given.Wait(ParkTime))
                {
                    lock (Parked)
                    {
                        // Still parked: nobody will give it work; leave. Otherwise a Start has
                        // just taken it and its Give is on the way.
                        if (Parked.Remove(this)) return;
                    }
                    _given.Wait();
                }
                Action work = _work!;
                _work = null;
                ulong mask = _mask;
                if (mask != 0) Sched.SetAffinity(0, sizeof(ulong), &mask);
                work(); // the task's own code catches what a guest can cause
                lock (Parked)
                {
                    if (Parked.Count >= MaxParked) return;
                    Parked.Add(this);
                }
            }
        }
    }
}
