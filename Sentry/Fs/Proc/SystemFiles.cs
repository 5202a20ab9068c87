using System.Globalization;
using System.Text;
using Sandbox.Abi;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

/// <summary>The system-wide files at the top of /proc and under /proc/sys, in Linux's formats.</summary>
internal static class SystemFiles
{
    private const int ClockTicks = 100; // USER_HZ
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Populate(ProcFileSystem proc, StaticDirectory root)
    {
        var kernel = proc.Kernel;
        root.File("cpuinfo", _ => proc.CpuInfo);
        root.Text("filesystems", string.Join('\n', ProcFileSystem.FileSystemTypes) + "\n");
        root.File("loadavg", _ => LoadAvg(proc));
        root.File("meminfo", _ => MemInfo(proc));
        root.File("stat", _ => Stat(proc));
        root.File("uptime", _ => Uptime(proc));
        root.Text("version", $"Linux version {Syscalls.Linux.KernelRelease} (runsc@sandbox) (gcc version 12.2.0) {Syscalls.Linux.KernelVersion}\n");

        var sys = root.Dir("sys");
        var k = sys.Dir("kernel");
        k.File("hostname", _ => Line(kernel.Hostname), 0x1a4 /* 0644 */, (w, data) => SetName(w, data, n => kernel.Hostname = n));
        k.File("domainname", _ => Line(kernel.Domainname), 0x1a4, (w, data) => SetName(w, data, n => kernel.Domainname = n));
        k.Text("osrelease", Syscalls.Linux.KernelRelease + "\n");
        k.Text("ostype", "Linux\n");
        k.Text("version", Syscalls.Linux.KernelVersion + "\n");
        k.Text("pid_max", "4194304\n");
        k.Text("threads-max", "127408\n");
        k.Text("ngroups_max", "65536\n");
        k.Text("cap_last_cap", "40\n");
        k.Text("overflowuid", "65534\n");
        k.Text("overflowgid", "65534\n");
        var random = k.Dir("random");
        random.Text("boot_id", proc.BootId + "\n");
        random.File("uuid", _ => Line(Guid.NewGuid().ToString("D")));
        random.Text("entropy_avail", "256\n");
        random.Text("poolsize", "256\n");
        var vm = sys.Dir("vm");
        vm.Text("overcommit_memory", "0\n");
        vm.Text("overcommit_ratio", "50\n");
        vm.Text("max_map_count", "65530\n");
        vm.Text("mmap_min_addr", "65536\n");
        var fs = sys.Dir("fs");
        fs.File("file-max", _ => Line(Math.Max(8192, TotalMemory() / 1024 / 10).ToString(Inv)));
        fs.Text("nr_open", "1048576\n");
        fs.Text("pipe-max-size", Pipe.MaxCapacity + "\n");
    }

    private static byte[] Line(string s) => Encoding.UTF8.GetBytes(s + "\n");

    /// <summary>sethostname-like write: the text up to a newline, at most 64 bytes.</summary>
    private static long SetName(Task writer, ReadOnlySpan<byte> data, Action<string> set)
    {
        var name = data;
        int nl = name.IndexOf((byte)'\n');
        if (nl >= 0) name = name[..nl];
        if (name.Length > 64) return -(long)Errno.EINVAL;
        set(Encoding.UTF8.GetString(name));
        return data.Length;
    }

    /// <summary>The host's /proc/cpuinfo, read once per process (before the Sentry confines
    /// itself: see SandboxRunner.CaptureHostFacts); a minimal one if it cannot be read.</summary>
    public static byte[] ReadHostCpuInfo() => LazyInitializer.EnsureInitialized(ref s_hostCpuInfo, ReadHostCpuInfoNow);

    private static byte[]? s_hostCpuInfo;

    private static byte[] ReadHostCpuInfoNow()
    {
        try
        {
            byte[] data = File.ReadAllBytes("/proc/cpuinfo");
            if (data.Length > 0) return data;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        var sb = new StringBuilder();
        for (int i = 0; i < Environment.ProcessorCount; i++)
            sb.Append(Inv, $"processor\t: {i}\nvendor_id\t: unknown\nmodel name\t: unknown\n\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The memory the sandbox reports as total, as sysinfo(2) does.</summary>
    private static ulong TotalMemory() => (ulong)Math.Max(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, 0);

    private static long UptimeCentiseconds(ProcFileSystem proc) => Math.Max(0, (Environment.TickCount64 - proc.Kernel.BootTicks) / 10);

    private static byte[] Uptime(ProcFileSystem proc)
    {
        long up = UptimeCentiseconds(proc);
        long idle = Math.Max(0, up * Environment.ProcessorCount - CpuBusyCentiseconds());
        return Line(string.Create(Inv, $"{up / 100}.{up % 100:D2} {idle / 100}.{idle % 100:D2}"));
    }

    /// <summary>CPU time the sandbox process has used, in centiseconds.</summary>
    private static long CpuBusyCentiseconds()
    {
        // getrusage, not Process (which reads /proc/self/stat, out of sight of the confined Sentry).
        return (long)Environment.CpuUsage.TotalTime.TotalMilliseconds / 10;
    }

    private static byte[] LoadAvg(ProcFileSystem proc)
    {
        var tasks = proc.LiveTasks();
        int last = tasks.Count > 0 ? tasks[^1].Tid : 0;
        return Line(string.Create(Inv, $"0.00 0.00 0.00 1/{tasks.Count} {last}"));
    }

    /// <summary>/proc/stat: CPU times in USER_HZ ticks (the sandbox's own CPU time, split evenly),
    /// boot time and process counts.</summary>
    private static byte[] Stat(ProcFileSystem proc)
    {
        int cpus = Environment.ProcessorCount;
        var usage = Environment.CpuUsage;
        long user = (long)usage.UserTime.TotalMilliseconds / 10;
        long system = (long)usage.PrivilegedTime.TotalMilliseconds / 10;
        long idle = Math.Max(0, UptimeCentiseconds(proc) * cpus - user - system);
        var sb = new StringBuilder();
        void Cpu(string name, long u, long s, long i) => sb.Append(Inv, $"{name} {u} 0 {s} {i} 0 0 0 0 0 0\n");
        Cpu("cpu ", user, system, idle);
        for (int c = 0; c < cpus; c++) Cpu($"cpu{c}", user / cpus, system / cpus, idle / cpus);
        var tasks = proc.LiveTasks();
        long btime = new DateTimeOffset(proc.Kernel.BootTime, TimeSpan.Zero).ToUnixTimeSeconds();
        sb.Append("intr 0\nctxt 0\n");
        sb.Append(Inv, $"btime {btime}\nprocesses {(tasks.Count > 0 ? tasks[^1].Tid : 0)}\nprocs_running 1\nprocs_blocked 0\n");
        sb.Append("softirq 0 0 0 0 0 0 0 0 0 0 0\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>/proc/meminfo: total as sysinfo(2) reports it, used = the MemoryFile's allocation.</summary>
    private static byte[] MemInfo(ProcFileSystem proc)
    {
        ulong total = TotalMemory() / 1024;
        ulong used = (ulong)Math.Max(0, proc.Kernel.Platform.MemoryFile.Allocated) / 1024;
        ulong free = total > used ? total - used : 0;
        var sb = new StringBuilder();
        void Kb(string name, ulong kb) => sb.Append((name + ":").PadRight(16)).Append(kb.ToString(Inv).PadLeft(8)).Append(" kB\n");
        void Count(string name, ulong n) => sb.Append((name + ":").PadRight(16)).Append(n.ToString(Inv).PadLeft(8)).Append('\n');
        Kb("MemTotal", total);
        Kb("MemFree", free);
        Kb("MemAvailable", free);
        Kb("Buffers", 0);
        Kb("Cached", 0);
        Kb("SwapCached", 0);
        Kb("Active", used);
        Kb("Inactive", 0);
        Kb("Active(anon)", used);
        Kb("Inactive(anon)", 0);
        Kb("Active(file)", 0);
        Kb("Inactive(file)", 0);
        Kb("Unevictable", 0);
        Kb("Mlocked", 0);
        Kb("SwapTotal", 0);
        Kb("SwapFree", 0);
        Kb("Dirty", 0);
        Kb("Writeback", 0);
        Kb("AnonPages", used);
        Kb("Mapped", 0);
        Kb("Shmem", 0);
        Kb("KReclaimable", 0);
        Kb("Slab", 0);
        Kb("SReclaimable", 0);
        Kb("SUnreclaim", 0);
        Kb("KernelStack", 0);
        Kb("PageTables", 0);
        Kb("NFS_Unstable", 0);
        Kb("Bounce", 0);
        Kb("WritebackTmp", 0);
        Kb("CommitLimit", total);
        Kb("Committed_AS", used);
        Kb("VmallocTotal", 34359738367);
        Kb("VmallocUsed", 0);
        Kb("VmallocChunk", 0);
        Kb("Percpu", 0);
        Kb("AnonHugePages", 0);
        Kb("ShmemHugePages", 0);
        Kb("ShmemPmdMapped", 0);
        Kb("FileHugePages", 0);
        Kb("FilePmdMapped", 0);
        Count("HugePages_Total", 0);
        Count("HugePages_Free", 0);
        Count("HugePages_Rsvd", 0);
        Count("HugePages_Surp", 0);
        Kb("Hugepagesize", 2048);
        Kb("Hugetlb", 0);
        Kb("DirectMap4k", 0);
        Kb("DirectMap2M", 0);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}
