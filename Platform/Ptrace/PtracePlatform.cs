using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Platform.Ptrace;

/// <summary>The ptrace platform: each address space is a stub process whose every system call
/// is intercepted with PTRACE_SYSEMU and emulated by the Sentry.</summary>
public sealed unsafe class PtracePlatform : IPlatform
{
    private int _stubFd;
    private int _nextCpu;

    public string Name => "ptrace";
    public MemoryFile MemoryFile { get; }
    public ulong MaxUserAddress => StubElf.Base;

    /// <summary>Guests run in host processes, so they have the host's vsyscall page (its calls
    /// trapped to the Sentry by <see cref="StubSeccomp"/>), with the host's permissions.</summary>
    public int VsyscallProt { get; } = HostVsyscallProt();

    /// <summary>The path handed to posix_spawn: the stub image lives in a memfd, so nothing
    /// is written to the host file system.</summary>
    internal string StubPath { get; }

    public PtracePlatform()
    {
        MemoryFile = new MemoryFile();
        _stubFd = HostError.Check(Mman.MemfdCreate("runsc-stub", Mm.MFD_CLOEXEC), "memfd_create(stub)");
        byte[] image = StubElf.Build();
        fixed (byte* p = image)
        {
            if (Unistd.Write(_stubFd, p, (nuint)image.Length) != image.Length)
                throw new HostException("write(stub)", HostError.Last);
        }
        StubPath = $"/proc/self/fd/{_stubFd}";
        _factory = new StubFactory(this);
        // The image was needed once, for the template.
        Unistd.Close(_stubFd);
        _stubFd = -1;
    }

    private readonly StubFactory _factory;

    public IAddressSpace NewAddressSpace()
    {
        PinCurrentThread();
        return new PtraceStub(this, _factory.Fork());
    }

    /// <summary>Gives every stub made from now on the host credentials uid/gid (no supplementary
    /// groups, so no capabilities when uid is not 0) while they stay traceable by a Sentry that
    /// takes the same credentials: the template stub switches, its forks inherit. Called before
    /// the Sentry drops its own privileges: afterwards it could not trace a root-owned stub.</summary>
    public void SetStubCredentials(uint uid, uint gid)
    {
        const int PR_SET_DUMPABLE = 4;
        Check(_factory.InjectIntoTemplate(SyscallNumber.setgroups, 0, 0), "setgroups");
        Check(_factory.InjectIntoTemplate(SyscallNumber.setresgid, gid, gid, gid), "setresgid");
        Check(_factory.InjectIntoTemplate(SyscallNumber.setresuid, uid, uid, uid), "setresuid");
        // A credential change makes a process non-dumpable, and the Sentry, without
        // CAP_SYS_PTRACE, could then not attach to the forks.
        Check(_factory.InjectIntoTemplate(SyscallNumber.prctl, PR_SET_DUMPABLE, 1), "prctl(PR_SET_DUMPABLE)");

        static void Check(long r, string call)
        {
            if (r < 0) throw new HostException($"{call} in the stub template", (int)-r);
        }
    }

    /// <summary>Pins the calling (tracer) thread to one CPU; the stub it spawns inherits the
    /// mask, so tracer and tracee share a CPU (a cross-CPU wake-up costs ~7x more here).</summary>
    private void PinCurrentThread()
    {
        ulong allowed;
        if (Sched.GetAffinity(0, sizeof(ulong), &allowed) != 0 || allowed == 0) return;
        int count = System.Numerics.BitOperations.PopCount(allowed);
        int pick = Interlocked.Increment(ref _nextCpu) % count;
        for (int cpu = 0; cpu < 64; cpu++)
        {
            if ((allowed & (1UL << cpu)) == 0) continue;
            if (pick-- == 0)
            {
                ulong mask = 1UL << cpu;
                Sched.SetAffinity(0, sizeof(ulong), &mask);
                return;
            }
        }
    }

    /// <summary>The protection of "[vsyscall]" in the host's /proc/self/maps; 0 if absent
    /// (vsyscall=none) or unreadable.</summary>
    private static int HostVsyscallProt()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                if (!line.EndsWith("[vsyscall]", StringComparison.Ordinal)) continue;
                string[] f = line.Split(' ', 3);
                if (f.Length < 2 || f[1].Length < 3) return 0;
                return (f[1][0] == 'r' ? Mm.PROT_READ : 0) | (f[1][1] == 'w' ? Mm.PROT_WRITE : 0) | (f[1][2] == 'x' ? Mm.PROT_EXEC : 0);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No /proc: guests are not offered the page.
        }
        return 0;
    }

    internal static byte[] CString(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private int _disposed;

    /// <summary>Once only (see <see cref="MemoryFile.Dispose"/>).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _factory.Dispose();
        MemoryFile.Dispose();
    }
}
