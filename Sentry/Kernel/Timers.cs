using System.Runtime.CompilerServices;
using Sandbox.Abi;
using Sandbox.Sentry.Memory;
using HostTime = Sandbox.Abi.Host.Time;

namespace Sandbox.Sentry.Kernel;

/// <summary>Times in nanoseconds (as Linux's ktime_t): conversions that saturate instead of
/// overflowing, and the host clocks the timers read.</summary>
public static class Ktime
{
    public const long NanosPerSecond = 1_000_000_000, NanosPerMicro = 1000, NanosPerMilli = 1_000_000;

    /// <summary>Seconds beyond which a time no longer fits: it saturates (KTIME_SEC_MAX).</summary>
    private const long MaxSeconds = long.MaxValue / NanosPerSecond;

    /// <summary>Whether a guest timespec is valid for a timer (timespec64_valid).</summary>
    public static bool Valid(in Timespec ts) => ts.Sec >= 0 && ts.Nsec is >= 0 and < NanosPerSecond;

    /// <summary>Whether a guest timeval is valid for setitimer (timeval_valid).</summary>
    public static bool Valid(in Timeval tv) => tv.Sec >= 0 && tv.Usec is >= 0 and < NanosPerSecond / NanosPerMicro;

    public static long FromTimespec(in Timespec ts) => ts.Sec >= MaxSeconds ? long.MaxValue : ts.Sec * NanosPerSecond + ts.Nsec;

    public static long FromTimeval(in Timeval tv) =>
        tv.Sec >= MaxSeconds ? long.MaxValue : tv.Sec * NanosPerSecond + tv.Usec * NanosPerMicro;

    public static Timespec ToTimespec(long ns) => ns <= 0 ? default : new(ns / NanosPerSecond, ns % NanosPerSecond);

    public static Timeval ToTimeval(long ns) =>
        ns <= 0 ? default : new Timeval { Sec = ns / NanosPerSecond, Usec = ns % NanosPerSecond / NanosPerMicro };

    /// <summary>a + b, saturating at the ends of the range.</summary>
    public static long Add(long a, long b)
    {
        long r = unchecked(a + b);
        if (((a ^ r) & (b ^ r)) < 0) return a < 0 ? long.MinValue : long.MaxValue;
        return r;
    }

    /// <summary>A host clock (the guest's clocks are the host's), in nanoseconds.</summary>
    public static unsafe long Now(int clock)
    {
        Timespec ts;
        HostTime.ClockGetTime(clock, &ts);
        return ts.Sec * NanosPerSecond + ts.Nsec;
    }

    /// <summary>Host CLOCK_MONOTONIC: the clock every wall-time timer runs on.</summary>
    public static long Monotonic() => Now(Clocks.CLOCK_MONOTONIC);

    /// <summary>An absolute time on clock (CLOCK_REALTIME, CLOCK_BOOTTIME, ...) as the
    /// CLOCK_MONOTONIC time it corresponds to now.</summary>
    public static long ToMonotonic(int clock, long absolute)
    {
        if (clock == Clocks.CLOCK_MONOTONIC) return absolute;
        long mono = Monotonic();
        return Add(mono, Add(absolute, -Now(clock)));
    }
}

/// <summary>One timer: its next expiry and reload interval on a clock (host CLOCK_MONOTONIC,
/// or a CPU-time clock read by a sampler), fired by the <see cref="TimerService"/> thread.
/// The expiry callback runs on that thread, under the timer's lock, with the number of
/// expirations since the last call (more than 1 when intervals were missed).</summary>
public sealed class IntervalTimer
{
    private readonly object _lock = new();
    private readonly Func<long> _clock;
    private readonly Action<long> _expired;
    private readonly Func<bool>? _alive;
    private long _next, _interval;
    private bool _armed;

    /// <param name="expired">Called with the expiration count; must not throw.</param>
    /// <param name="cpuClock">Null for a wall-time timer; else the CPU clock to sample (polled).</param>
    /// <param name="alive">False once the owner is gone: the timer is then disarmed unfired.</param>
    /// <param name="cpuPollNanos">How often a CPU clock is sampled (0: every 10 ms, about a tick).</param>
    public IntervalTimer(Action<long> expired, Func<long>? cpuClock = null, Func<bool>? alive = null, long cpuPollNanos = 0)
    {
        _expired = expired;
        _clock = cpuClock ?? Ktime.Monotonic;
        IsCpuClock = cpuClock != null;
        _alive = alive;
        CpuPollNanos = cpuPollNanos > 0 ? cpuPollNanos : TimerService.CpuPollNanos;
    }

    /// <summary>CPU clocks cannot be waited for; the service samples them periodically.</summary>
    public bool IsCpuClock { get; }

    /// <summary>The longest time between two samples of a CPU clock.</summary>
    public long CpuPollNanos { get; }

    /// <summary>The timer's clock now.</summary>
    public long Now() => _clock();

    /// <summary>Time left to the next expiry (0 when disarmed; at least 1 ns when armed) and
    /// the interval.</summary>
    public (long Value, long Interval) Get()
    {
        lock (_lock) return GetLocked();
    }

    private (long Value, long Interval) GetLocked() =>
        (_armed ? Math.Max(Ktime.Add(_next, -_clock()), 1) : 0, _interval);

    /// <summary>Arms the timer to expire at value (relative to now, or absolute on the timer's
    /// clock) and then every interval (0: once); disarms it when arm is false. Runs whileLocked
    /// under the timer's lock first (resetting what the owner counts). Returns the old setting.</summary>
    public (long Value, long Interval) Set(bool arm, long value, long interval, bool absolute, Action? whileLocked = null)
    {
        lock (_lock)
        {
            var old = GetLocked();
            whileLocked?.Invoke();
            _interval = Math.Max(interval, 0);
            _armed = arm;
            if (arm)
            {
                _next = absolute ? value : Ktime.Add(_clock(), Math.Max(value, 0));
                TimerService.Arm(this);
            }
            return old;
        }
    }

    /// <summary>Disarms the timer for good (its owner is going away).</summary>
    public void Cancel()
    {
        lock (_lock)
        {
            _armed = false;
            _interval = 0;
            TimerService.Drop(this);
        }
    }

    /// <summary>Fires the timer if it is due. Returns the time (on its clock) until it is next
    /// due, or long.MaxValue once it is disarmed (and no longer polled).</summary>
    internal long Poll()
    {
        lock (_lock)
        {
            if (_armed && _alive != null && !_alive()) _armed = false;
            if (!_armed)
            {
                TimerService.Drop(this);
                return long.MaxValue;
            }
            long now = _clock();
            if (now < _next) return _next - now;
            long count = 1;
            if (_interval > 0)
            {
                long late = now - _next;
                count = Ktime.Add(late / _interval, 1);
                _next = Ktime.Add(now - late % _interval, _interval);
            }
            else
            {
                _armed = false;
                TimerService.Drop(this);
            }
            _expired(count);
            return _armed ? Math.Max(_next - now, 0) : long.MaxValue;
        }
    }
}

/// <summary>The thread that fires every armed <see cref="IntervalTimer"/>: it sleeps until
/// the earliest wall-time expiry, and polls CPU-time timers every 10 ms while any is armed.
/// Each timer's owner (its process, its file) decides what an expiry does.</summary>
public static class TimerService
{
    /// <summary>How often CPU-time clocks are sampled by default (Linux checks them at each tick).</summary>
    internal const long CpuPollNanos = 10 * Ktime.NanosPerMilli;

    /// <summary>The longest sleep: armed timers of dead owners are dropped at least this often.</summary>
    private const long MaxWaitNanos = Ktime.NanosPerSecond;

    private static readonly object Gate = new();
    private static readonly HashSet<IntervalTimer> Armed = [];
    private static Thread? _thread;
    private static bool _kicked;

    /// <summary>Makes sure the timer is polled, and re-plans the sleep (its expiry may be sooner).</summary>
    internal static void Arm(IntervalTimer timer)
    {
        lock (Gate)
        {
            Armed.Add(timer);
            _kicked = true;
            if (_thread == null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "sentry-timers" };
                _thread.Start();
            }
            Monitor.Pulse(Gate);
        }
    }

    internal static void Drop(IntervalTimer timer)
    {
        lock (Gate) Armed.Remove(timer);
    }

    /// <summary>Armed timers, for tests.</summary>
    public static int ArmedCount
    {
        get { lock (Gate) return Armed.Count; }
    }

    private static void Run()
    {
        var timers = new List<IntervalTimer>();
        while (true)
        {
            lock (Gate)
            {
                timers.Clear();
                timers.AddRange(Armed);
                _kicked = false;
            }
            long wait = MaxWaitNanos;
            foreach (var timer in timers)
            {
                long left;
                try
                {
                    left = timer.Poll();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // An owner's callback failed: the thread that fires everyone's timers must
                    // go on. The timer stays armed and is retried at the next poll.
                    System.Diagnostics.Debug.Fail($"timer expiry failed: {e}");
                    left = CpuPollNanos;
                }
                if (timer.IsCpuClock) left = Math.Min(left, timer.CpuPollNanos);
                wait = Math.Min(wait, left);
            }
            int ms = (int)Math.Clamp((wait + Ktime.NanosPerMilli - 1) / Ktime.NanosPerMilli, 1, MaxWaitNanos / Ktime.NanosPerMilli);
            lock (Gate)
            {
                if (!_kicked) Monitor.Wait(Gate, ms);
            }
        }
    }
}

/// <summary>A POSIX timer (timer_create): an <see cref="IntervalTimer"/> whose expiry queues a
/// signal with si_code SI_TIMER for its process or one of its threads. While that signal is
/// still pending, further expirations only count as overruns on it (si_overrun), and
/// timer_getoverrun reports the overruns of the last signal delivered.</summary>
public sealed class PosixTimer
{
    public const int SIGEV_SIGNAL = 0, SIGEV_NONE = 1, SIGEV_THREAD = 2, SIGEV_THREAD_ID = 4;
    public const int SI_TIMER = -2;
    /// <summary>DELAYTIMER_MAX: overrun counts saturate here.</summary>
    public const int DelayTimerMax = int.MaxValue;

    private readonly object _state = new();
    private readonly ThreadGroup _group;
    private readonly Task? _thread;
    private readonly int _notify, _signo;
    private readonly ulong _value;
    /// <summary>A signal of this timer may still be queued; its overrun count so far.</summary>
    private bool _queued;
    private int _queuedOverrun, _overrunLast;

    internal PosixTimer(int id, int clockId, ThreadGroup group, Task? thread, int notify, int signo, ulong value,
        Func<long>? cpuClock, Func<bool> alive)
    {
        Id = id;
        ClockId = clockId;
        _group = group;
        _thread = thread;
        _notify = notify;
        _signo = signo;
        _value = value;
        Timer = new IntervalTimer(Expire, cpuClock, alive);
    }

    public int Id { get; }

    /// <summary>The clock the guest named (absolute settings are converted from it).</summary>
    public int ClockId { get; }

    public IntervalTimer Timer { get; }

    private SignalQueue Queue => _thread?.Pending ?? _group.Pending;

    private bool IsOurs(SigInfo s) => s.Code == SI_TIMER && s.TimerId == Id && s.Signo == _signo;

    private static int Saturate(long n) => (int)Math.Clamp(n, 0, DelayTimerMax);

    private void Expire(long count)
    {
        if (_notify == SIGEV_NONE) return;
        lock (_state)
        {
            if (_queued)
            {
                int overrun = Saturate(_queuedOverrun + count);
                if (Queue.TryUpdate(IsOurs, s => { s.Overrun = overrun; return s; }))
                {
                    _queuedOverrun = overrun;
                    return;
                }
                // The previous signal was delivered in the meantime.
                _queued = false;
                _overrunLast = _queuedOverrun;
            }
            var info = new SigInfo { Signo = _signo, Code = SI_TIMER, TimerId = Id, Overrun = Saturate(count - 1), Value = _value };
            if (_thread != null)
            {
                if (_thread.Exit != null) return;
                Task.SendToThread(_thread, info);
            }
            else
            {
                Task.SendToGroup(_group, info);
            }
            _queued = true;
            _queuedOverrun = info.Overrun;
        }
    }

    /// <summary>timer_getoverrun: the overruns of the last signal delivered.</summary>
    public int Overrun()
    {
        lock (_state)
        {
            if (_queued && !Queue.TryUpdate(IsOurs, s => s))
            {
                _queued = false;
                _overrunLast = _queuedOverrun;
            }
            return _overrunLast;
        }
    }
}

/// <summary>A process's timers: the three interval timers of setitimer/alarm, and its POSIX
/// timers. They belong to the thread group: a child starts without any, expiry never signals
/// a process that has exited (the timers are then dropped), and POSIX timers do not survive
/// execve (noticed by the process's new memory manager).</summary>
public sealed class ProcessTimers
{
    public const int ITIMER_REAL = 0, ITIMER_VIRTUAL = 1, ITIMER_PROF = 2;

    /// <summary>POSIX timers per process, beyond which timer_create says EAGAIN.</summary>
    public const int MaxPosixTimers = 1 << 15;

    private static readonly ConditionalWeakTable<ThreadGroup, ProcessTimers> ByGroup = new();

    private readonly ThreadGroup _group;
    private readonly IntervalTimer[] _itimers;
    private readonly Dictionary<int, PosixTimer> _posix = [];
    private int _nextId;
    private MemoryManager? _image;

    private ProcessTimers(ThreadGroup group)
    {
        _group = group;
        bool Alive() => IsAlive(group);
        _itimers =
        [
            new IntervalTimer(_ => SignalProcess(group, Signals.SIGALRM), null, Alive),
            new IntervalTimer(_ => SignalProcess(group, Signals.SIGVTALRM), () => group.CpuTime().User, Alive),
            new IntervalTimer(_ => SignalProcess(group, Signals.SIGPROF), () => CpuNanos(group), Alive),
        ];
    }

    /// <summary>The timers of t's process (made on first use). POSIX timers made before the
    /// process's last execve are deleted here.</summary>
    public static ProcessTimers Of(Task t)
    {
        var timers = ByGroup.GetValue(t.Group, g => new ProcessTimers(g));
        timers.ForgetOldImage(t.MemoryManager);
        return timers;
    }

    /// <summary>Whether the process can still take signals.</summary>
    public static bool IsAlive(ThreadGroup g) => g.ExitStatus == null && !g.Zombie;

    /// <summary>The process's CPU time, user and system (see <see cref="ThreadGroup.CpuTime"/>),
    /// for ITIMER_PROF, CLOCK_PROCESS_CPUTIME_ID timers and RLIMIT_CPU. The same value
    /// whichever thread samples it.</summary>
    public static long CpuNanos(ThreadGroup g)
    {
        var (user, system) = g.CpuTime();
        return user + system;
    }

    /// <summary>A thread's CPU time, user and system (CLOCK_THREAD_CPUTIME_ID timers).</summary>
    public static long CpuNanos(Task t)
    {
        var (user, system) = t.CpuTime();
        return user + system;
    }

    private static void SignalProcess(ThreadGroup g, int sig)
    {
        if (IsAlive(g)) Task.SendToGroup(g, new SigInfo { Signo = sig, Code = SigCodes.SI_KERNEL });
    }

    /// <summary>ITIMER_REAL, ITIMER_VIRTUAL or ITIMER_PROF.</summary>
    public IntervalTimer Itimer(int which) => _itimers[which];

    /// <summary>RLIMIT_CPU is checked this often (Linux: at each tick; its unit is a second).</summary>
    private const long CpuLimitPollNanos = 100 * Ktime.NanosPerMilli;

    private IntervalTimer? _cpuLimit;

    /// <summary>Arms (or re-arms, after setrlimit) the process's RLIMIT_CPU watch: SIGXCPU when
    /// its CPU time reaches the soft limit, then every second after (the soft limit moves up
    /// by one each time, as on Linux), SIGKILL at the hard limit. Does nothing for a process
    /// without a limit that never had one.</summary>
    public static void WatchCpuLimit(ThreadGroup g)
    {
        if (g.Limits.Get(Rlimit.RLIMIT_CPU).Cur == Rlimit.RLIM_INFINITY && !ByGroup.TryGetValue(g, out _)) return;
        ByGroup.GetValue(g, x => new ProcessTimers(x)).ArmCpuLimit();
    }

    private void ArmCpuLimit()
    {
        IntervalTimer timer;
        lock (_itimers)
        {
            timer = _cpuLimit ??= new IntervalTimer(_ => CpuLimitReached(), () => CpuNanos(_group), () => IsAlive(_group),
                CpuLimitPollNanos);
        }
        long next = NextCpuLimit(_group.Limits.Get(Rlimit.RLIMIT_CPU));
        timer.Set(next != long.MaxValue, next, 0, absolute: true);
    }

    /// <summary>The CPU time (ns) of the next RLIMIT_CPU action, or long.MaxValue for none.</summary>
    private static long NextCpuLimit(RLimit limit) =>
        Math.Min(LimitNanos(limit.Cur), LimitNanos(limit.Max));

    private static long LimitNanos(ulong seconds) =>
        seconds >= long.MaxValue / Ktime.NanosPerSecond ? long.MaxValue : (long)seconds * Ktime.NanosPerSecond;

    /// <summary>On the timer thread, under the watch's lock: Linux's check_process_timers for RLIMIT_CPU.</summary>
    private void CpuLimitReached()
    {
        long used = CpuNanos(_group);
        var limit = _group.Limits.Get(Rlimit.RLIMIT_CPU);
        if (used >= LimitNanos(limit.Max))
        {
            if (IsAlive(_group)) Task.SendToGroup(_group, new SigInfo { Signo = Signals.SIGKILL, Code = SigCodes.SI_KERNEL });
            return;
        }
        if (used >= LimitNanos(limit.Cur))
        {
            SignalProcess(_group, Signals.SIGXCPU);
            if (limit.Cur < limit.Max)
            {
                limit.Cur++;
                _group.Limits.Set(Rlimit.RLIMIT_CPU, limit);
            }
        }
        long next = NextCpuLimit(limit);
        if (next != long.MaxValue) _cpuLimit!.Set(true, next, 0, absolute: true);
    }

    private void ForgetOldImage(MemoryManager mm)
    {
        lock (_posix)
        {
            if (_image == mm) return;
            foreach (var p in _posix.Values) p.Timer.Cancel();
            _posix.Clear();
            _image = mm;
        }
    }

    /// <summary>Makes a POSIX timer; null when the process has too many. When defaultValue is
    /// set the signal's si_value is the timer id (a NULL sigevent).</summary>
    public PosixTimer? Create(Task creator, int clockId, Func<long>? cpuClock, Func<bool>? alsoAlive,
        int notify, int signo, ulong value, bool defaultValue, Task? thread)
    {
        var g = _group;
        var image = creator.MemoryManager;
        bool Alive() => IsAlive(g) && (g.Leader is not { } leader || leader.MemoryManager == image)
            && (alsoAlive == null || alsoAlive());
        lock (_posix)
        {
            if (_posix.Count >= MaxPosixTimers) return null;
            while (_posix.ContainsKey(_nextId)) _nextId = _nextId == int.MaxValue ? 0 : _nextId + 1;
            int id = _nextId;
            _nextId = _nextId == int.MaxValue ? 0 : _nextId + 1;
            var timer = new PosixTimer(id, clockId, g, thread, notify, signo, defaultValue ? (ulong)id : value, cpuClock, Alive);
            _posix[id] = timer;
            return timer;
        }
    }

    public PosixTimer? Find(int id)
    {
        lock (_posix) return _posix.GetValueOrDefault(id);
    }

    /// <summary>timer_delete: false when there is no such timer.</summary>
    public bool Delete(int id)
    {
        PosixTimer? timer;
        lock (_posix)
        {
            if (!_posix.Remove(id, out timer)) return false;
        }
        timer.Timer.Cancel();
        return true;
    }
}
