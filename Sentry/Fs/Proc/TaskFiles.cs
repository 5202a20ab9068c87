using System.Globalization;
using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Proc;

/// <summary>Generators for the files in /proc/[pid], in Linux's formats (fs/proc/array.c,
/// task_mmu.c, base.c). Each takes the reader and the task described.</summary>
internal static class TaskFiles
{
    /// <summary>Linux caps what one read of cmdline/environ returns in practice; ARG_MAX-ish.</summary>
    private const ulong MaxArgBytes = 4 << 20;
    private const int TaskCommLen = 16;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Bytes(StringBuilder sb) => Encoding.UTF8.GetBytes(sb.ToString());

    /// <summary>comm as the kernel keeps it: at most 15 bytes.</summary>
    internal static string Comm(Task t)
    {
        string name = t.Name;
        if (Encoding.UTF8.GetByteCount(name) < TaskCommLen) return name;
        var bytes = Encoding.UTF8.GetBytes(name);
        return Encoding.UTF8.GetString(bytes, 0, TaskCommLen - 1);
    }

    public static byte[] Comm(Task reader, Task t) => Bytes(Comm(t) + "\n");

    /// <summary>Writing comm renames a thread of the writer's own process (EINVAL otherwise).
    /// As on Linux, the first 15 bytes are taken as they are, a newline included.</summary>
    public static long WriteComm(Task writer, Task t, ReadOnlySpan<byte> data)
    {
        if (writer.Pid != t.Pid) return -(long)Errno.EINVAL;
        var name = data[..Math.Min(data.Length, TaskCommLen - 1)];
        int nul = name.IndexOf((byte)0);
        if (nul >= 0) name = name[..nul];
        t.Name = Encoding.UTF8.GetString(name);
        return data.Length;
    }

    // ---- cmdline, environ ------------------------------------------------------------------

    private static byte[] ReadGuest(MemoryManager mm, ulong start, ulong end)
    {
        if (end <= start) return [];
        var buf = new byte[(int)Math.Min(end - start, MaxArgBytes)];
        int n = mm.CopyInPartial(start, buf);
        return n == buf.Length ? buf : buf[..n];
    }

    /// <summary>The argv strings, NUL-separated. If the program overwrote the final NUL
    /// (setproctitle), Linux reads on into the environment up to the first NUL.</summary>
    public static byte[] Cmdline(Task reader, Task t)
    {
        var mm = t.MemoryManager;
        byte[] args = ReadGuest(mm, mm.ArgStart, mm.ArgEnd);
        if (args.Length == 0 || args[^1] == 0) return args;
        byte[] all = ReadGuest(mm, mm.ArgStart, Math.Max(mm.EnvEnd, mm.ArgEnd));
        int nul = Array.IndexOf(all, (byte)0, args.Length);
        return nul < 0 ? all : all[..nul];
    }

    public static byte[] Environ(Task reader, Task t) => ReadGuest(t.MemoryManager, t.MemoryManager.EnvStart, t.MemoryManager.EnvEnd);

    // ---- memory statistics -------------------------------------------------------------------

    private readonly record struct VmaView(ulong Start, ulong End, int Prot, bool Shared, string? Name, long MapOffset, ulong MapInode, ulong MapDev)
    {
        public ulong Length => End - Start;
    }

    /// <summary>A copy of the VMAs. Another task may be changing them (no lock is exposed), so
    /// the copy tolerates a torn list: it is a snapshot for display only.</summary>
    private static List<VmaView> Vmas(MemoryManager mm)
    {
        var list = new List<VmaView>();
        var vmas = mm.Vmas;
        for (int i = 0; i < vmas.Count; i++)
        {
            Vma? v;
            try { v = vmas[i]; }
            catch (ArgumentOutOfRangeException) { break; }
            if (v == null || v.End <= v.Start) continue;
            var view = new VmaView(v.Start, v.End, v.Prot, v.Shared, v.Name, v.MapOffset, v.MapInode, v.MapDev);
            // Pieces of one mapping (a stack grown in steps, a heap or mapping whose pages are
            // not contiguous in the MemoryFile) show as one, as Linux's one VMA would.
            if (list.Count > 0 && list[^1] is var prev && prev.End == view.Start && prev.Prot == view.Prot
                && prev.Shared == view.Shared && prev.Name == view.Name && prev.MapInode == view.MapInode && prev.MapDev == view.MapDev
                && (view.MapInode == 0 || prev.MapOffset + (long)prev.Length == view.MapOffset))
            {
                list[^1] = prev with { End = view.End };
                continue;
            }
            list.Add(view);
        }
        return list;
    }

    private sealed class MemStats
    {
        public ulong Size, Exe, Stack, Data, StartCode = ulong.MaxValue, EndCode, StartData = ulong.MaxValue, EndData;

        /// <summary>All of a VMA is backed by the MemoryFile when it is made: count it resident.</summary>
        public ulong Rss => Size;
    }

    private static MemStats Stats(Task t, List<VmaView> vmas)
    {
        var s = new MemStats();
        string? exe = t.MemoryManager.ExecutablePath;
        foreach (var v in vmas)
        {
            s.Size += v.Length;
            bool image = exe != null && v.Name == exe;
            if (v.Name == "[stack]") s.Stack += v.Length;
            else if ((v.Prot & Mm.PROT_WRITE) != 0 && !v.Shared) s.Data += v.Length;
            if (image && (v.Prot & Mm.PROT_EXEC) != 0)
            {
                s.Exe += v.Length;
                s.StartCode = Math.Min(s.StartCode, v.Start);
                s.EndCode = Math.Max(s.EndCode, v.End);
            }
            if (image && (v.Prot & Mm.PROT_WRITE) != 0)
            {
                s.StartData = Math.Min(s.StartData, v.Start);
                s.EndData = Math.Max(s.EndData, v.End);
            }
        }
        if (s.StartCode == ulong.MaxValue) s.StartCode = 0;
        if (s.StartData == ulong.MaxValue) s.StartData = 0;
        return s;
    }

    // ---- stat, statm, status ---------------------------------------------------------------

    /// <summary>Live threads in t's process (at least t itself).</summary>
    private static int Threads(Task t)
    {
        int n = 0;
        foreach (var other in t.Kernel.Tasks.Values)
            if (other.Pid == t.Pid && other.Exit == null) n++;
        return Math.Max(n, 1);
    }

    private static char StateChar(Task reader, Task t) => t.Exit != null ? 'Z' : t == reader ? 'R' : 'S';

    private static string StateName(char c) => c switch
    {
        'R' => "R (running)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    };

    private static (ulong Ignored, ulong Caught) SignalDispositions(Task t)
    {
        ulong ignored = 0, caught = 0;
        for (int sig = 1; sig < t.SignalActions.Length; sig++)
        {
            ulong handler = t.SignalActions[sig].Handler;
            if (handler == 1) ignored |= Task.SignalBit(sig); // SIG_IGN
            else if (handler > 1) caught |= Task.SignalBit(sig);
        }
        return (ignored, caught);
    }

    public static byte[] Stat(Task reader, Task t)
    {
        var mm = t.MemoryManager;
        var vmas = Vmas(mm);
        var m = Stats(t, vmas);
        var (ignored, caught) = SignalDispositions(t);
        ulong rssLimit = t.Limits.Get(Rlimit.RLIMIT_RSS).Cur;
        var sb = new StringBuilder();
        sb.Append(Inv, $"{t.Tid} ({Comm(t)}) {StateChar(reader, t)} {t.ParentPid} {t.ProcessGroup} {t.Session} 0 -1 4194304 ");
        sb.Append(Inv, $"0 0 0 0 0 0 0 0 20 0 {Threads(t)} 0 0 "); // minflt..cstime, priority, nice, threads, itrealvalue, starttime
        sb.Append(Inv, $"{m.Size} {m.Rss / Mm.PageSize} {rssLimit} {m.StartCode} {m.EndCode} {mm.ArgStart} 0 0 ");
        sb.Append(Inv, $"0 {t.SignalMask} {ignored} {caught} 0 0 0 17 0 0 0 0 0 0 ");
        sb.Append(Inv, $"{m.StartData} {m.EndData} {mm.BrkStart} {mm.ArgStart} {mm.ArgEnd} {mm.EnvStart} {mm.EnvEnd} 0\n");
        return Bytes(sb);
    }

    public static byte[] Statm(Task reader, Task t)
    {
        var m = Stats(t, Vmas(t.MemoryManager));
        ulong page = Mm.PageSize;
        return Bytes(string.Create(Inv, $"{m.Size / page} {m.Rss / page} 0 {m.Exe / page} 0 {(m.Data + m.Stack) / page} 0\n"));
    }

    private static string Kb(ulong bytes) => (bytes / 1024).ToString(Inv).PadLeft(8) + " kB";

    private static string Hex16(ulong v) => v.ToString("x16", Inv);

    /// <summary>The CPU mask Linux prints: 32-bit hex words, most significant first, comma-separated.</summary>
    internal static string CpuMask(int cpus)
    {
        int words = Math.Max(1, (cpus + 31) / 32);
        var parts = new string[words];
        for (int w = 0; w < words; w++)
        {
            int bits = Math.Clamp(cpus - w * 32, 0, 32);
            uint mask = bits == 32 ? uint.MaxValue : (1u << bits) - 1;
            parts[words - 1 - w] = words == 1 ? mask.ToString("x", Inv) : mask.ToString("x8", Inv);
        }
        return string.Join(',', parts);
    }

    /// <summary>"0" or "0-N": the CPU list format of cpulist files.</summary>
    internal static string CpuList(int cpus) => cpus <= 1 ? "0" : $"0-{cpus - 1}";

    public static byte[] Status(Task reader, Task t)
    {
        var c = t.Creds;
        var m = Stats(t, Vmas(t.MemoryManager));
        var (ignored, caught) = SignalDispositions(t);
        bool root = c.EffectiveUid == 0;
        const ulong AllCaps = (1UL << 41) - 1; // CAP_LAST_CAP 40
        int fdSize = 64;
        while (fdSize < FdDirectory.OpenFds(t).LastOrDefault() + 1) fdSize *= 2;
        int cpus = Environment.ProcessorCount;
        var sb = new StringBuilder();
        sb.Append(Inv, $"Name:\t{Comm(t).Replace("\\", "\\\\").Replace("\n", "\\n")}\n");
        sb.Append(Inv, $"Umask:\t{Convert.ToString(t.Umask, 8).PadLeft(4, '0')}\n");
        sb.Append(Inv, $"State:\t{StateName(StateChar(reader, t))}\n");
        sb.Append(Inv, $"Tgid:\t{t.Pid}\nNgid:\t0\nPid:\t{t.Tid}\nPPid:\t{t.ParentPid}\nTracerPid:\t0\n");
        sb.Append(Inv, $"Uid:\t{c.RealUid}\t{c.EffectiveUid}\t{c.SavedUid}\t{c.EffectiveUid}\n");
        sb.Append(Inv, $"Gid:\t{c.RealGid}\t{c.EffectiveGid}\t{c.SavedGid}\t{c.EffectiveGid}\n");
        sb.Append(Inv, $"FDSize:\t{fdSize}\n");
        sb.Append("Groups:\t").Append(string.Join(' ', c.Groups)).Append(" \n");
        sb.Append(Inv, $"NStgid:\t{t.Pid}\nNSpid:\t{t.Tid}\nNSpgid:\t{t.ProcessGroup}\nNSsid:\t{t.Session}\n");
        sb.Append(Inv, $"VmPeak:\t{Kb(m.Size)}\nVmSize:\t{Kb(m.Size)}\nVmLck:\t{Kb(0)}\nVmPin:\t{Kb(0)}\n");
        sb.Append(Inv, $"VmHWM:\t{Kb(m.Rss)}\nVmRSS:\t{Kb(m.Rss)}\nRssAnon:\t{Kb(m.Rss)}\nRssFile:\t{Kb(0)}\nRssShmem:\t{Kb(0)}\n");
        sb.Append(Inv, $"VmData:\t{Kb(m.Data)}\nVmStk:\t{Kb(m.Stack)}\nVmExe:\t{Kb(m.Exe)}\nVmLib:\t{Kb(0)}\n");
        sb.Append(Inv, $"VmPTE:\t{Kb(0)}\nVmSwap:\t{Kb(0)}\nHugetlbPages:\t{Kb(0)}\n");
        sb.Append(Inv, $"CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t{Threads(t)}\n");
        sb.Append(Inv, $"SigQ:\t0/{t.Limits.Get(Rlimit.RLIMIT_SIGPENDING).Cur}\n");
        sb.Append(Inv, $"SigPnd:\t{Hex16(0)}\nShdPnd:\t{Hex16(0)}\nSigBlk:\t{Hex16(t.SignalMask)}\n");
        sb.Append(Inv, $"SigIgn:\t{Hex16(ignored)}\nSigCgt:\t{Hex16(caught)}\n");
        sb.Append(Inv, $"CapInh:\t{Hex16(0)}\nCapPrm:\t{Hex16(root ? AllCaps : 0)}\nCapEff:\t{Hex16(root ? AllCaps : 0)}\n");
        sb.Append(Inv, $"CapBnd:\t{Hex16(AllCaps)}\nCapAmb:\t{Hex16(0)}\n");
        sb.Append(Inv, $"NoNewPrivs:\t{(t.NoNewPrivileges ? 1 : 0)}\nSeccomp:\t0\nSeccomp_filters:\t0\n");
        sb.Append(Inv, $"Cpus_allowed:\t{CpuMask(cpus)}\nCpus_allowed_list:\t{CpuList(cpus)}\n");
        sb.Append("Mems_allowed:\t").Append(string.Join(',', Enumerable.Repeat("00000000", 31))).Append(",00000001\n");
        sb.Append("Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
        return Bytes(sb);
    }

    // ---- maps ------------------------------------------------------------------------------

    /// <summary>start-end perms offset dev inode, then the name from column 73 (Linux pads the
    /// header to 72 characters and adds one space).</summary>
    public static byte[] Maps(Task reader, Task t)
    {
        var sb = new StringBuilder();
        foreach (var v in Vmas(t.MemoryManager))
            MapsLine(sb, v);
        // Linux lists the vsyscall page last, outside the VMAs, when the kernel offers one.
        if (t.Kernel.Platform.VsyscallProt is var prot and not 0)
            MapsLine(sb, new VmaView(Vsyscall.VSYSCALL_ADDR, Vsyscall.VSYSCALL_ADDR + Vsyscall.Size, prot, false, "[vsyscall]", 0, 0, 0));
        return Bytes(sb);
    }

    private static void MapsLine(StringBuilder sb, in VmaView v)
    {
        int lineStart = sb.Length;
        sb.Append(Inv, $"{v.Start:x8}-{v.End:x8} ");
        sb.Append((v.Prot & Mm.PROT_READ) != 0 ? 'r' : '-');
        sb.Append((v.Prot & Mm.PROT_WRITE) != 0 ? 'w' : '-');
        sb.Append((v.Prot & Mm.PROT_EXEC) != 0 ? 'x' : '-');
        sb.Append(v.Shared ? 's' : 'p');
        // The device as stat's st_dev gives it for the file, in hex as Linux prints it.
        var (major, minor) = DeviceRegistry.Split(v.MapDev);
        // Only a file's mapping has an offset to show; Linux prints 0 for the rest ([vdso]
        // included, though its image sits a page into what backs it here).
        long offset = v.MapInode == 0 ? 0 : v.MapOffset;
        sb.Append(Inv, $" {offset:x8} {major:x2}:{minor:x2} {v.MapInode} ");
        if (v.Name != null)
        {
            int width = sb.Length - lineStart;
            if (width < 72) sb.Append(' ', 72 - width);
            sb.Append(' ').Append(v.Name.Replace("\n", "\\012"));
        }
        sb.Append('\n');
    }

    // ---- limits ----------------------------------------------------------------------------

    private static readonly (string Name, string? Unit)[] LimitNames =
    [
        ("Max cpu time", "seconds"), ("Max file size", "bytes"), ("Max data size", "bytes"),
        ("Max stack size", "bytes"), ("Max core file size", "bytes"), ("Max resident set", "bytes"),
        ("Max processes", "processes"), ("Max open files", "files"), ("Max locked memory", "bytes"),
        ("Max address space", "bytes"), ("Max file locks", "locks"), ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"), ("Max nice priority", null), ("Max realtime priority", null),
        ("Max realtime timeout", "us"),
    ];

    public static byte[] Limits(Task reader, Task t)
    {
        static string Value(ulong v) => v == Rlimit.RLIM_INFINITY ? "unlimited" : v.ToString(Inv);
        var sb = new StringBuilder();
        sb.Append(Inv, $"{"Limit",-25} {"Soft Limit",-20} {"Hard Limit",-20} {"Units",-10}\n");
        for (int i = 0; i < LimitNames.Length && i < Rlimit.RLIM_NLIMITS; i++)
        {
            var l = t.Limits.Get(i);
            sb.Append(Inv, $"{LimitNames[i].Name,-25} {Value(l.Cur),-20} {Value(l.Max),-20} ");
            if (LimitNames[i].Unit is { } unit) sb.Append(Inv, $"{unit,-10}");
            sb.Append('\n');
        }
        return Bytes(sb);
    }

    // ---- mounts ----------------------------------------------------------------------------

    /// <summary>Escapes what would break the space-separated format, as Linux's mangle().</summary>
    private static string Mangle(string s)
    {
        if (s.AsSpan().IndexOfAny(" \t\n\\") < 0) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char ch in s)
        {
            if (ch is ' ' or '\t' or '\n' or '\\') sb.Append('\\').Append(Convert.ToString(ch, 8).PadLeft(3, '0'));
            else sb.Append(ch);
        }
        return sb.ToString();
    }

    /// <summary>The mounts visible from the task's root, with their paths as it sees them.</summary>
    private static IEnumerable<(Mount Mount, string Path)> VisibleMounts(Task t)
    {
        var ns = t.Mounts;
        var root = t.Fs.Root;
        bool chrooted = root != ns.RootPos;
        foreach (var m in ns.All())
        {
            if (chrooted)
            {
                bool under = false;
                for (var p = m; p != null && !under; p = p.Parent) under = p == root.Mount;
                if (!under) continue;
            }
            yield return (m, MountNamespace.PathOf(new PathPos(m, m.Root), root));
        }
    }

    public static byte[] Mounts(Task reader, Task t)
    {
        var sb = new StringBuilder();
        foreach (var (m, path) in VisibleMounts(t))
            sb.Append(Inv, $"{Mangle(m.Source)} {Mangle(path)} {m.FileSystem.Type} {(m.ReadOnly ? "ro" : "rw")} 0 0\n");
        return Bytes(sb);
    }

    /// <summary>Where a mount's root lies within its file system: "/" except for bind mounts of
    /// a subdirectory, the fourth field of mountinfo.</summary>
    private static string RootWithin(Mount m)
    {
        var parts = new List<string>();
        for (var d = m.Root; d.Parent != null; d = d.Parent) parts.Add(d.Name);
        parts.Reverse();
        return "/" + string.Join('/', parts);
    }

    public static byte[] MountInfo(Task reader, Task t)
    {
        var sb = new StringBuilder();
        foreach (var (m, path) in VisibleMounts(t))
        {
            var (major, minor) = DeviceRegistry.Split(m.FileSystem.DeviceId);
            string opts = m.ReadOnly ? "ro" : "rw";
            sb.Append(Inv, $"{m.Id} {m.Parent?.Id ?? m.Id} {major}:{minor} {Mangle(RootWithin(m))} {Mangle(path)} {opts} - ");
            sb.Append(Inv, $"{m.FileSystem.Type} {Mangle(m.Source)} {opts}\n");
        }
        return Bytes(sb);
    }

    // ---- fdinfo ----------------------------------------------------------------------------

    public static byte[]? FdInfo(Task t, int fd)
    {
        if (t.Fds.Get(fd) is not { } file || !t.Fds.TryGetCloseOnExec(fd, out bool cloexec)) return null;
        long pos = file is InodeFile f ? f.Offset : Math.Max(0, file.Seek(0, 1));
        int flags = file.StatusFlags | (cloexec ? OpenFlags.O_CLOEXEC : 0);
        ulong ino = file.Stat(out Stat st) == 0 ? st.Ino : 0;
        int mntId = file.Path?.Mount.Id ?? Mount.InternalId;
        return Bytes(string.Create(Inv, $"pos:\t{pos}\nflags:\t0{Convert.ToString(flags, 8)}\nmnt_id:\t{mntId}\nino:\t{ino}\n"));
    }
}
