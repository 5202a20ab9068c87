using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Syscalls;

/// <summary>System information, randomness and resource limits.</summary>
public static partial class Linux
{
    /// <summary>The kernel version the sandbox reports.</summary>
    public const string KernelRelease = "6.1.0";
    public const string KernelVersion = "#1 SMP PREEMPT_DYNAMIC runsc";

    /// <summary>Implements Linux syscall uname(2).</summary>
    public static long Uname(Task t, in SyscallArgs a)
    {
        Span<byte> buf = stackalloc byte[Utsname.Size];
        buf.Clear();
        string[] fields = ["Linux", t.Kernel.Hostname, KernelRelease, KernelVersion, "x86_64", t.Kernel.Domainname];
        for (int i = 0; i < fields.Length; i++)
        {
            var dst = buf.Slice(i * Utsname.FieldLength, Utsname.FieldLength - 1);
            Encoding.UTF8.GetBytes(fields[i].AsSpan(0, Math.Min(fields[i].Length, dst.Length)), dst);
        }
        return t.MemoryManager.CopyOut(a.A0, buf);
    }

    /// <summary>Implements Linux syscall sysinfo(2).</summary>
    public static long Sysinfo(Task t, in SyscallArgs a)
    {
        var gc = GC.GetGCMemoryInfo();
        ulong total = (ulong)Math.Max(gc.TotalAvailableMemoryBytes, 0);
        ulong used = (ulong)t.Kernel.Platform.MemoryFile.Allocated;
        var info = new SysInfo
        {
            Uptime = (Environment.TickCount64 - t.Kernel.BootTicks) / 1000,
            TotalRam = total,
            FreeRam = total > used ? total - used : 0,
            Procs = 1,
            MemUnit = 1,
        };
        return t.MemoryManager.CopyOut(a.A0, info);
    }

    /// <summary>Implements Linux syscall getrandom(2). The Sentry's CSPRNG never blocks.</summary>
    public static long Getrandom(Task t, in SyscallArgs a)
    {
        int flags = (int)a.A2;
        if ((flags & ~(GetRandomFlags.GRND_NONBLOCK | GetRandomFlags.GRND_RANDOM | GetRandomFlags.GRND_INSECURE)) != 0)
            return -(long)Errno.EINVAL;
        if ((flags & GetRandomFlags.GRND_RANDOM) != 0 && (flags & GetRandomFlags.GRND_INSECURE) != 0)
            return -(long)Errno.EINVAL;
        // Linux returns at most 32 MiB per call.
        int length = (int)Math.Min(a.A1, 32u << 20);
        Span<byte> chunk = stackalloc byte[256];
        int done = 0;
        while (done < length)
        {
            var part = chunk[..Math.Min(chunk.Length, length - done)];
            Sandbox.Abi.Host.Entropy.Fill(part);
            int copied = t.MemoryManager.CopyOutPartial(a.A0 + (ulong)done, part);
            done += copied;
            if (copied < part.Length) return done > 0 ? done : -(long)Errno.EFAULT;
        }
        return done;
    }

    /// <summary>Implements Linux syscall prlimit64(2) for the calling process.</summary>
    public static long Prlimit64(Task t, in SyscallArgs a)
    {
        if ((int)a.A0 != 0 && (int)a.A0 != t.Pid) return -(long)Errno.ESRCH;
        int resource = (int)a.A1;
        if (resource < 0 || resource >= Rlimit.RLIM_NLIMITS) return -(long)Errno.EINVAL;
        RLimit old = t.Limits.Get(resource);
        if (a.A2 != 0)
        {
            if (t.MemoryManager.CopyIn(a.A2, out RLimit next) < 0) return -(long)Errno.EFAULT;
            long r = SetLimit(t, resource, next);
            if (r < 0) return r;
        }
        return a.A3 != 0 ? t.MemoryManager.CopyOut(a.A3, old) : 0;
    }

    /// <summary>Implements Linux syscall getrlimit(2).</summary>
    public static long Getrlimit(Task t, in SyscallArgs a)
    {
        int resource = (int)a.A0;
        if (resource < 0 || resource >= Rlimit.RLIM_NLIMITS) return -(long)Errno.EINVAL;
        return t.MemoryManager.CopyOut(a.A1, t.Limits.Get(resource));
    }

    /// <summary>Implements Linux syscall setrlimit(2).</summary>
    public static long Setrlimit(Task t, in SyscallArgs a)
    {
        int resource = (int)a.A0;
        if (resource < 0 || resource >= Rlimit.RLIM_NLIMITS) return -(long)Errno.EINVAL;
        if (t.MemoryManager.CopyIn(a.A1, out RLimit next) < 0) return -(long)Errno.EFAULT;
        return SetLimit(t, resource, next);
    }

    /// <summary>Linux's rules: soft ≤ hard; raising the hard limit needs CAP_SYS_RESOURCE
    /// (root in the sandbox); RLIMIT_NOFILE cannot exceed fs.nr_open.</summary>
    private static long SetLimit(Task t, int resource, RLimit next)
    {
        const ulong NrOpen = 1 << 20;
        if (next.Cur > next.Max) return -(long)Errno.EINVAL;
        RLimit old = t.Limits.Get(resource);
        if (next.Max > old.Max && t.Creds.EffectiveUid != 0) return -(long)Errno.EPERM;
        if (resource == Rlimit.RLIMIT_NOFILE)
        {
            if (next.Max > NrOpen) return -(long)Errno.EPERM;
            t.Fds.Limit = (int)Math.Min(next.Cur, NrOpen);
        }
        // How far the stack may grow from now on (the layout stays the one exec chose).
        if (resource == Rlimit.RLIMIT_STACK) t.MemoryManager.StackLimit = next.Cur;
        t.Limits.Set(resource, next);
        if (resource == Rlimit.RLIMIT_CPU) ProcessTimers.WatchCpuLimit(t.Group);
        return 0;
    }
}
