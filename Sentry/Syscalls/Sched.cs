using System.Runtime.CompilerServices;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>Scheduling: nice values, policies and priorities, CPU affinity, I/O priorities,
/// getcpu, membarrier. The Sentry does not schedule guest threads itself (each runs on a host
/// thread the host schedules), so these calls keep Linux's per-thread attributes and permission
/// rules without changing host scheduling.</summary>
public static partial class Linux
{
    /// <summary>getpriority/setpriority selectors.</summary>
    private static class PrioWhich
    {
        public const int PROCESS = 0, PGRP = 1, USER = 2;
    }

    /// <summary>Scheduling policies (include/uapi/linux/sched.h).</summary>
    private static class SchedPolicy
    {
        public const int OTHER = 0, FIFO = 1, RR = 2, BATCH = 3, IDLE = 5, DEADLINE = 6;
        public const int RESET_ON_FORK = 0x40000000;
        public const int MaxRtPriority = 99;
    }

    private const int MinNice = -20, MaxNice = 19;

    /// <summary>The SCHED_RR time slice (kernel.sched_rr_timeslice_ms's default).</summary>
    private const long RrTimesliceNs = 100_000_000;

    /// <summary>Implements Linux syscall getpriority(2). Like the raw Linux call it returns
    /// 20 - nice (1..40; the C library converts), the highest over the matched threads.</summary>
    public static long Getpriority(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0, who = (int)a.A1;
        if (which is < PrioWhich.PROCESS or > PrioWhich.USER) return -(long)Errno.EINVAL;
        long result = -(long)Errno.ESRCH;
        foreach (var p in PriorityTargets(t, which, who))
            result = Math.Max(result, 20 - p.Sched.Nice);
        return result;
    }

    /// <summary>Implements Linux syscall setpriority(2): the nice value is clamped to -20..19.
    /// Each matched thread must be owned by the caller's euid (or the caller has CAP_SYS_NICE:
    /// EPERM); lowering a nice value needs CAP_SYS_NICE or room under the target's RLIMIT_NICE
    /// (EACCES).</summary>
    public static long Setpriority(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0, who = (int)a.A1;
        int nice = Math.Clamp((int)a.A2, MinNice, MaxNice);
        if (which is < PrioWhich.PROCESS or > PrioWhich.USER) return -(long)Errno.EINVAL;
        var c = t.Creds;
        bool privileged = c.HasCapability(CredCaps.SYS_NICE);
        long error = -(long)Errno.ESRCH;
        foreach (var p in PriorityTargets(t, which, who))
        {
            var pc = p.Creds;
            if (pc.RealUid != c.EffectiveUid && pc.EffectiveUid != c.EffectiveUid && !privileged)
            {
                error = -(long)Errno.EPERM;
                continue;
            }
            if (nice < p.Sched.Nice && !privileged && !NiceAllowedByLimit(p, nice))
            {
                error = -(long)Errno.EACCES;
                continue;
            }
            if (error == -(long)Errno.ESRCH) error = 0;
            p.Sched.Nice = nice;
        }
        return error;
    }

    /// <summary>RLIMIT_NICE allows nice values down to 20 - limit.</summary>
    private static bool NiceAllowedByLimit(Task p, int nice) =>
        (ulong)(20 - nice) <= p.Limits.Get(Rlimit.RLIMIT_NICE).Cur;

    /// <summary>The threads a PRIO_* selector names: one thread, a process group's threads, or
    /// every thread whose real uid is who (0 = the caller's own).</summary>
    private static List<Task> PriorityTargets(Task t, int which, int who)
    {
        var found = new List<Task>();
        switch (which)
        {
            case PrioWhich.PROCESS:
                if (TaskByIdOrSelf(t, who) is { } p) found.Add(p);
                break;
            case PrioWhich.PGRP:
                {
                    int pgrp = who == 0 ? t.ProcessGroup : who;
                    foreach (var task in t.Kernel.Tasks.Values)
                        if (!task.Group.Reaped && task.Group.ProcessGroup == pgrp) found.Add(task);
                    break;
                }
            default:
                {
                    uint uid = who == 0 ? t.Creds.RealUid : (uint)who;
                    foreach (var task in t.Kernel.Tasks.Values)
                        if (!task.Group.Reaped && task.Creds.RealUid == uid) found.Add(task);
                    break;
                }
        }
        return found;
    }

    /// <summary>Implements Linux syscall sched_setscheduler(2).</summary>
    public static long SchedSetscheduler(Task t, in SyscallArgs a)
    {
        int policy = (int)a.A1;
        if (policy < 0) return -(long)Errno.EINVAL;
        return SetScheduler(t, (int)a.A0, policy, a.A2);
    }

    /// <summary>Implements Linux syscall sched_setparam(2): sched_setscheduler keeping the policy.</summary>
    public static long SchedSetparam(Task t, in SyscallArgs a) => SetScheduler(t, (int)a.A0, -1, a.A1);

    /// <summary>Linux's rules (kernel/sched/syscalls.c): FIFO and RR take priorities 1..99, the
    /// other policies 0; SCHED_DEADLINE needs sched_setattr (EINVAL here). Without
    /// CAP_SYS_NICE a thread may only change threads of its own euid and may not enter a
    /// real-time policy or raise its priority beyond RLIMIT_RTPRIO, nor clear
    /// SCHED_RESET_ON_FORK (EPERM). policy -1 keeps the current policy (sched_setparam).</summary>
    private static long SetScheduler(Task t, int pid, int policy, ulong paramAddr)
    {
        if (paramAddr == 0 || pid < 0) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(paramAddr, out int priority) < 0) return -(long)Errno.EFAULT;
        if (TaskByIdOrSelf(t, pid) is not { } p) return -(long)Errno.ESRCH;
        var s = p.Sched;
        bool resetOnFork;
        if (policy < 0)
        {
            policy = s.Policy;
            resetOnFork = s.ResetOnFork;
        }
        else
        {
            resetOnFork = (policy & SchedPolicy.RESET_ON_FORK) != 0;
            policy &= ~SchedPolicy.RESET_ON_FORK;
        }
        if (policy is not (SchedPolicy.OTHER or SchedPolicy.FIFO or SchedPolicy.RR or SchedPolicy.BATCH or SchedPolicy.IDLE)) return -(long)Errno.EINVAL;
        bool realtime = policy is SchedPolicy.FIFO or SchedPolicy.RR;
        if (priority is < 0 or > SchedPolicy.MaxRtPriority || realtime != (priority != 0)) return -(long)Errno.EINVAL;

        var c = t.Creds;
        if (!c.HasCapability(CredCaps.SYS_NICE))
        {
            if (realtime)
            {
                ulong rtLimit = p.Limits.Get(Rlimit.RLIMIT_RTPRIO).Cur;
                if (policy != s.Policy && rtLimit == 0) return -(long)Errno.EPERM;
                if (priority > s.Priority && (ulong)priority > rtLimit) return -(long)Errno.EPERM;
            }
            // Leaving SchedPolicy.IDLE counts as lowering the nice value to the current one.
            if (s.Policy == SchedPolicy.IDLE && policy != SchedPolicy.IDLE && !NiceAllowedByLimit(p, s.Nice)) return -(long)Errno.EPERM;
            var pc = p.Creds;
            if (c.EffectiveUid != pc.EffectiveUid && c.EffectiveUid != pc.RealUid) return -(long)Errno.EPERM;
            if (s.ResetOnFork && !resetOnFork) return -(long)Errno.EPERM;
        }
        s.Policy = policy;
        s.Priority = priority;
        s.ResetOnFork = resetOnFork;
        return 0;
    }

    /// <summary>Implements Linux syscall sched_getscheduler(2).</summary>
    public static long SchedGetscheduler(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0;
        if (pid < 0) return -(long)Errno.EINVAL;
        if (TaskByIdOrSelf(t, pid) is not { } p) return -(long)Errno.ESRCH;
        return p.Sched.Policy | (p.Sched.ResetOnFork ? SchedPolicy.RESET_ON_FORK : 0);
    }

    /// <summary>Implements Linux syscall sched_getparam(2).</summary>
    public static long SchedGetparam(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0;
        if (a.A1 == 0 || pid < 0) return -(long)Errno.EINVAL;
        if (TaskByIdOrSelf(t, pid) is not { } p) return -(long)Errno.ESRCH;
        int priority = p.Sched.Policy is SchedPolicy.FIFO or SchedPolicy.RR ? p.Sched.Priority : 0;
        return t.MemoryManager.CopyOut(a.A1, priority);
    }

    /// <summary>Implements Linux syscall sched_get_priority_max(2).</summary>
    public static long SchedGetPriorityMax(Task t, in SyscallArgs a) => (int)a.A0 switch
    {
        SchedPolicy.FIFO or SchedPolicy.RR => SchedPolicy.MaxRtPriority,
        SchedPolicy.OTHER or SchedPolicy.BATCH or SchedPolicy.IDLE or SchedPolicy.DEADLINE => 0,
        _ => -(long)Errno.EINVAL,
    };

    /// <summary>Implements Linux syscall sched_get_priority_min(2).</summary>
    public static long SchedGetPriorityMin(Task t, in SyscallArgs a) => (int)a.A0 switch
    {
        SchedPolicy.FIFO or SchedPolicy.RR => 1,
        SchedPolicy.OTHER or SchedPolicy.BATCH or SchedPolicy.IDLE or SchedPolicy.DEADLINE => 0,
        _ => -(long)Errno.EINVAL,
    };

    /// <summary>Implements Linux syscall sched_rr_get_interval(2): 100 ms for SCHED_RR, 0 for
    /// SCHED_FIFO (no time slice), and 0 for the fair policies, as current Linux reports
    /// (EEVDF's 0.75 ms base slice rounds down to 0 jiffies).</summary>
    public static long SchedRrGetInterval(Task t, in SyscallArgs a)
    {
        int pid = (int)a.A0;
        if (pid < 0) return -(long)Errno.EINVAL;
        if (TaskByIdOrSelf(t, pid) is not { } p) return -(long)Errno.ESRCH;
        long ns = p.Sched.Policy == SchedPolicy.RR ? RrTimesliceNs : 0;
        return t.MemoryManager.CopyOut(a.A1, new Timespec(ns / 1_000_000_000, ns % 1_000_000_000));
    }

    /// <summary>The CPUs the sandbox reports: as many as the host gives it.</summary>
    private static int SandboxCpus => Math.Clamp(Environment.ProcessorCount, 1, 64);

    private static ulong SandboxCpuMask => SandboxCpus == 64 ? ulong.MaxValue : (1UL << SandboxCpus) - 1;

    /// <summary>Implements Linux syscall sched_getaffinity(2) for any thread of the sandbox: its
    /// mask within the sandbox's CPUs. Returns the bytes written, as the raw Linux call does.</summary>
    public static long SchedGetaffinity(Task t, in SyscallArgs a)
    {
        ulong len = a.A1;
        // Linux: the buffer must hold nr_cpu_ids bits and be a multiple of sizeof(long).
        if (len * 8 < (ulong)SandboxCpus || (len & 7) != 0) return -(long)Errno.EINVAL;
        if (TaskByIdOrSelf(t, (int)a.A0) is not { } p) return -(long)Errno.ESRCH;
        long r = t.MemoryManager.CopyOut(a.A2, p.Sched.Affinity & SandboxCpuMask);
        return r < 0 ? r : sizeof(ulong);
    }

    /// <summary>Implements Linux syscall sched_setaffinity(2) for any thread of the sandbox. The
    /// caller's euid must be the target's real or effective uid, or it needs CAP_SYS_NICE
    /// (EPERM); the mask must name a sandbox CPU (EINVAL). A shorter buffer leaves the higher
    /// CPUs clear. The mask is recorded for sched_getaffinity; placement is the Sentry's
    /// business.</summary>
    public static long SchedSetaffinity(Task t, in SyscallArgs a)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        bytes.Clear();
        int len = (int)Math.Min(a.A1, sizeof(ulong));
        if (t.MemoryManager.CopyIn(a.A2, bytes[..len]) < 0) return -(long)Errno.EFAULT;
        ulong mask = BitConverter.ToUInt64(bytes);
        if (TaskByIdOrSelf(t, (int)a.A0) is not { } p) return -(long)Errno.ESRCH;
        var c = t.Creds;
        var pc = p.Creds;
        if (c.EffectiveUid != pc.EffectiveUid && c.EffectiveUid != pc.RealUid && !c.HasCapability(CredCaps.SYS_NICE))
            return -(long)Errno.EPERM;
        if ((mask & SandboxCpuMask) == 0) return -(long)Errno.EINVAL;
        p.Sched.Affinity = mask & SandboxCpuMask;
        return 0;
    }

    /// <summary>ioprio_get/ioprio_set selectors and classes (include/uapi/linux/ioprio.h).</summary>
    private static class Ioprio
    {
        public const int WHO_PROCESS = 1, WHO_PGRP = 2, WHO_USER = 3;
        public const int CLASS_NONE = 0, CLASS_RT = 1, CLASS_BE = 2, CLASS_IDLE = 3;
        public const int ClassShift = 13, LevelMask = 7;

        public static int Value(int ioClass, int level) => (ioClass << ClassShift) | level;
    }

    /// <summary>Implements Linux syscall ioprio_get(2): one thread's value as set (0, class
    /// none, if never set); for a process group or a user, the highest priority among the
    /// matched threads (the numerically lowest value), where class none counts as the class of
    /// the thread's CPU policy (best effort, real time or idle) at level (nice + 20) / 5.</summary>
    public static long IoprioGet(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0, who = (int)a.A1;
        if (which is < Ioprio.WHO_PROCESS or > Ioprio.WHO_USER) return -(long)Errno.EINVAL;
        if (which == Ioprio.WHO_PROCESS)
            return TaskByIdOrSelf(t, who) is { } p ? p.Sched.IoPriority : -(long)Errno.ESRCH;
        long best = -(long)Errno.ESRCH;
        foreach (var p in PriorityTargets(t, which == Ioprio.WHO_PGRP ? PrioWhich.PGRP : PrioWhich.USER, who))
        {
            int value = EffectiveIoPriority(p.Sched);
            best = best < 0 ? value : Math.Min(best, value);
        }
        return best;
    }

    private static int EffectiveIoPriority(SchedAttributes s)
    {
        if ((s.IoPriority >> Ioprio.ClassShift) != Ioprio.CLASS_NONE) return s.IoPriority;
        int ioClass = s.Policy switch
        {
            SchedPolicy.FIFO or SchedPolicy.RR => Ioprio.CLASS_RT,
            SchedPolicy.IDLE => Ioprio.CLASS_IDLE,
            _ => Ioprio.CLASS_BE,
        };
        return Ioprio.Value(ioClass, (s.Nice + 20) / 5);
    }

    /// <summary>Implements Linux syscall ioprio_set(2). The value's class must be none (level
    /// 0), real time (CAP_SYS_ADMIN or CAP_SYS_NICE, else EPERM), best effort or idle (EINVAL
    /// otherwise); bits above 16 are ignored. Each matched thread must have the caller's real
    /// or effective uid as its real uid, or the caller needs CAP_SYS_NICE (EPERM, which stops
    /// the walk). The value is recorded: the Sentry does no block I/O scheduling of its own.</summary>
    public static long IoprioSet(Task t, in SyscallArgs a)
    {
        int which = (int)a.A0, who = (int)a.A1, value = (int)a.A2;
        int ioClass = (value >> Ioprio.ClassShift) & 7;
        var c = t.Creds;
        switch (ioClass)
        {
            case Ioprio.CLASS_NONE:
                if ((value & Ioprio.LevelMask) != 0) return -(long)Errno.EINVAL;
                break;
            case Ioprio.CLASS_RT:
                if (!c.HasCapability(CredCaps.SYS_ADMIN) && !c.HasCapability(CredCaps.SYS_NICE)) return -(long)Errno.EPERM;
                break;
            case Ioprio.CLASS_BE:
            case Ioprio.CLASS_IDLE:
                break;
            default:
                return -(long)Errno.EINVAL;
        }
        if (which is < Ioprio.WHO_PROCESS or > Ioprio.WHO_USER) return -(long)Errno.EINVAL;
        List<Task> targets;
        if (which == Ioprio.WHO_PROCESS)
            targets = TaskByIdOrSelf(t, who) is { } one ? [one] : [];
        else
            targets = PriorityTargets(t, which == Ioprio.WHO_PGRP ? PrioWhich.PGRP : PrioWhich.USER, who);
        if (targets.Count == 0) return -(long)Errno.ESRCH;
        bool privileged = c.HasCapability(CredCaps.SYS_NICE);
        foreach (var p in targets)
        {
            uint owner = p.Creds.RealUid;
            if (owner != c.RealUid && owner != c.EffectiveUid && !privileged) return -(long)Errno.EPERM;
            p.Sched.IoPriority = value & 0xffff;
        }
        return 0;
    }

    /// <summary>Implements Linux syscall getcpu(2): the host CPU the task's host thread runs on
    /// (the Sentry keeps a guest thread and its tracer on one CPU), folded into the CPUs the
    /// sandbox reports; NUMA node 0. The third argument (tcache) is unused, as on Linux.</summary>
    public static long Getcpu(Task t, in SyscallArgs a)
    {
        int cpu = Abi.Host.Sched.GetCpu();
        if (cpu < 0) cpu = 0;
        cpu %= SandboxCpus;
        if (a.A0 != 0 && t.MemoryManager.CopyOut(a.A0, (uint)cpu) < 0) return -(long)Errno.EFAULT;
        if (a.A1 != 0 && t.MemoryManager.CopyOut(a.A1, 0u) < 0) return -(long)Errno.EFAULT;
        return 0;
    }

    /// <summary>membarrier(2) commands (include/uapi/linux/membarrier.h).</summary>
    private static class MembarrierCmd
    {
        public const int QUERY = 0, GLOBAL = 1, GLOBAL_EXPEDITED = 2, REGISTER_GLOBAL_EXPEDITED = 4;
        public const int PRIVATE_EXPEDITED = 8, REGISTER_PRIVATE_EXPEDITED = 16, GET_REGISTRATIONS = 512;

        /// <summary>What QUERY reports. The SYNC_CORE and RSEQ variants are not offered.</summary>
        public const int Supported = GLOBAL | GLOBAL_EXPEDITED | REGISTER_GLOBAL_EXPEDITED | PRIVATE_EXPEDITED
            | REGISTER_PRIVATE_EXPEDITED | GET_REGISTRATIONS;
    }

    /// <summary>Implements Linux syscall membarrier(2) with Linux's argument checking and
    /// registration rules: PRIVATE_EXPEDITED before REGISTER_PRIVATE_EXPEDITED is EPERM;
    /// registrations belong to the address space, fork copies them, execve drops them.
    ///
    /// The barrier itself is not forced. The calling thread is stopped in the Sentry (its trap
    /// was a full barrier on its own CPU), but the caller's other threads are host threads of
    /// the same stub process and may be running guest code on other CPUs at this moment; nothing
    /// here makes them execute a memory barrier. In practice the ptrace round trip of this call
    /// (tens of microseconds) is far longer than a store buffer takes to drain, which is what
    /// membarrier users (userspace RCU, managed runtimes' FlushProcessWriteBuffers) rely on, but
    /// it is not the guarantee Linux gives. A faithful implementation needs a platform hook: a
    /// host membarrier(MEMBARRIER_CMD_GLOBAL) from the Sentry, or MEMBARRIER_CMD_PRIVATE_EXPEDITED
    /// injected into the stub process.</summary>
    public static long Membarrier(Task t, in SyscallArgs a)
    {
        int cmd = (int)a.A0;
        uint flags = (uint)a.A1;
        if (flags != 0) return -(long)Errno.EINVAL;
        var registered = Task.MembarrierRegistrations.GetValue(t.MemoryManager, _ => new StrongBox<int>());
        switch (cmd)
        {
            case MembarrierCmd.QUERY:
                return MembarrierCmd.Supported;
            case MembarrierCmd.GLOBAL:
            case MembarrierCmd.GLOBAL_EXPEDITED:
                Interlocked.MemoryBarrier();
                return 0;
            case MembarrierCmd.REGISTER_GLOBAL_EXPEDITED:
            case MembarrierCmd.REGISTER_PRIVATE_EXPEDITED:
                lock (registered) registered.Value |= cmd;
                return 0;
            case MembarrierCmd.PRIVATE_EXPEDITED:
                lock (registered)
                    if ((registered.Value & MembarrierCmd.REGISTER_PRIVATE_EXPEDITED) == 0) return -(long)Errno.EPERM;
                Interlocked.MemoryBarrier();
                return 0;
            case MembarrierCmd.GET_REGISTRATIONS:
                lock (registered) return registered.Value;
            default:
                return -(long)Errno.EINVAL;
        }
    }
}
