using System.Buffers.Binary;
using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using Sandbox.Sentry.Vfs;
using HostTime = Sandbox.Abi.Host.Time;

namespace Sandbox.Sentry.Loader;

/// <summary>The sandbox's vDSO: a one-page ELF shared object built here, and a data page
/// ("vvar") beside it that the Sentry keeps current. clock_gettime, gettimeofday, time and
/// getcpu then run in the guest without a trap: time is the TSC scaled by the vvar's
/// parameters, read under a sequence lock; other clocks fall back to the real syscall.
/// Both pages are shared read-only by every process.</summary>
public sealed unsafe class Vdso : IMappablePages, IDisposable
{
    private const int Page = 4096;
    private const int CodeOffset = 0x400;
    // vvar layout: 0 seq (u32), 8 base_tsc, 16 mult (ns per tick, 32.32), 24 realtime ns, 32 monotonic ns.
    private const int SeqOff = 0, TscOff = 8, MultOff = 16, RealOff = 24, MonoOff = 32;

    /// <summary>The machine code (see the assembly in the comments of each entry point). The
    /// first instruction, <c>lea r9, [rip + vvar]</c>, gets its displacement patched in.</summary>
    private static readonly byte[] Code =
    [
        // now_ns (0x00): seqlock read of vvar; rax = base[rdi] + ((rdtsc - base_tsc) * mult >> 32)
        0x4C, 0x8D, 0x0D, 0x00, 0x00, 0x00, 0x00, 0x45, 0x8B, 0x01, 0x41, 0xF7, 0xC0, 0x01, 0x00, 0x00, 0x00, 0x75, 0xF4,
        0x0F, 0xAE, 0xE8, 0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0x49, 0x2B, 0x41, 0x08, 0x49, 0xF7, 0x61,
        0x10, 0x48, 0x0F, 0xAC, 0xD0, 0x20, 0x49, 0x03, 0x04, 0x39, 0x0F, 0xAE, 0xE8, 0x45, 0x3B, 0x01, 0x75, 0xCF, 0xC3,
        // clock_gettime (0x39): REALTIME(_COARSE) and MONOTONIC/RAW/COARSE/BOOTTIME here, else syscall 228
        0x83, 0xFF, 0x00, 0x74, 0x21, 0x83, 0xFF, 0x05, 0x74, 0x1C, 0x83, 0xFF, 0x01, 0x74, 0x1F, 0x83, 0xFF, 0x04, 0x74,
        0x1A, 0x83, 0xFF, 0x06, 0x74, 0x15, 0x83, 0xFF, 0x07, 0x74, 0x10, 0xB8, 0xE4, 0x00, 0x00, 0x00, 0x0F, 0x05, 0xC3,
        0x57, 0xBF, 0x18, 0x00, 0x00, 0x00, 0xEB, 0x06, 0x57, 0xBF, 0x20, 0x00, 0x00, 0x00, 0xE8, 0x8E, 0xFF, 0xFF, 0xFF,
        0x5F, 0x31, 0xD2, 0xB9, 0x00, 0xCA, 0x9A, 0x3B, 0x48, 0xF7, 0xF1, 0x48, 0x89, 0x06, 0x48, 0x89, 0x56, 0x08, 0x31,
        0xC0, 0xC3,
        // gettimeofday (0x87)
        0x48, 0x85, 0xFF, 0x74, 0x2C, 0x56, 0x57, 0xBF, 0x18, 0x00, 0x00, 0x00, 0xE8, 0x68, 0xFF, 0xFF, 0xFF, 0x5F, 0x5E,
        0x31, 0xD2, 0xB9, 0x00, 0xCA, 0x9A, 0x3B, 0x48, 0xF7, 0xF1, 0x48, 0x89, 0x07, 0x48, 0x89, 0xD0, 0x31, 0xD2, 0xB9,
        0xE8, 0x03, 0x00, 0x00, 0x48, 0xF7, 0xF1, 0x48, 0x89, 0x47, 0x08, 0x48, 0x85, 0xF6, 0x74, 0x07, 0x48, 0xC7, 0x06,
        0x00, 0x00, 0x00, 0x00, 0x31, 0xC0, 0xC3,
        // time (0xC7)
        0x57, 0xBF, 0x18, 0x00, 0x00, 0x00, 0xE8, 0x2E, 0xFF, 0xFF, 0xFF, 0x5F, 0x31, 0xD2, 0xB9, 0x00, 0xCA, 0x9A, 0x3B,
        0x48, 0xF7, 0xF1, 0x48, 0x85, 0xFF, 0x74, 0x03, 0x48, 0x89, 0x07, 0xC3,
        // getcpu (0xE6): rdtscp's TSC_AUX holds cpu | node << 12
        0x0F, 0x01, 0xF9, 0x48, 0x85, 0xFF, 0x74, 0x09, 0x89, 0xC8, 0x25, 0xFF, 0x0F, 0x00, 0x00, 0x89, 0x07, 0x48, 0x85,
        0xF6, 0x74, 0x05, 0xC1, 0xE9, 0x0C, 0x89, 0x0E, 0x31, 0xC0, 0xC3,
        // clock_getres (0x104): the syscall
        0xB8, 0xE5, 0x00, 0x00, 0x00, 0x0F, 0x05, 0xC3,
    ];

    private static readonly (string Name, int Offset, int Size)[] Symbols =
    [
        ("__vdso_clock_gettime", 0x39, 0x4E), ("__vdso_gettimeofday", 0x87, 0x40), ("__vdso_time", 0xC7, 0x1F),
        ("__vdso_getcpu", 0xE6, 0x1E), ("__vdso_clock_getres", 0x104, 0x08),
    ];

    private readonly MemoryFile _memory;
    private readonly long _offset; // vvar at _offset, the image at _offset + Page
    private readonly ulong _tsc0;
    private readonly long _mono0;
    private long _lastMono;

    public Vdso(MemoryFile memory)
    {
        _memory = memory;
        _offset = memory.Allocate(2 * Page);
        BuildImage().CopyTo(memory.Slice(_offset + Page, Page));
        (_tsc0, _mono0) = Sample(out _);
        // A first rate from a short spin; every update refines it against the host clocks.
        long spinUntil = _mono0 + 1_000_000;
        ulong tsc;
        long mono, real;
        do { (tsc, mono) = Sample(out real); } while (mono < spinUntil);
        Publish(tsc, mono, real, Mult(tsc, mono));
        // A thread of its own that sleeps between updates, not a Timer: each timer tick would
        // wake a thread-pool worker that then spins (sched_yield) looking for more work, on
        // whatever CPU, every 10 ms, taking time from the tracer and stub sharing that CPU.
        new Thread(UpdateEvery10Ms) { Name = "vdso-clock", IsBackground = true }.Start();
    }

    private void UpdateEvery10Ms()
    {
        while (!Volatile.Read(ref _disposed))
        {
            Thread.Sleep(10);
            Update();
        }
    }

    /// <summary>Pages: 0 is the vvar, 1 the vDSO image.</summary>
    public long PinPage(long pageIndex) => _offset + pageIndex * Page;

    /// <summary>The vvar page and the image.</summary>
    public long Size => 2 * Page;

    /// <summary>Never shrinks: nobody needs telling.</summary>
    public FileMappings Mappings { get; } = new();

    /// <summary>A (TSC, monotonic, realtime) triple taken close together: a sample whose
    /// clock reads were interrupted (the TSC moved too far around them) is taken again, since
    /// a badly paired sample would skew the rate.</summary>
    private static (ulong Tsc, long Mono) Sample(out long real)
    {
        ulong best = ulong.MaxValue, tsc = 0;
        long mono = 0;
        real = 0;
        for (int attempt = 0; attempt < 20; attempt++)
        {
            Timespec m, r;
            ulong before = Rdtsc.Now();
            HostTime.ClockGetTime(Clocks.CLOCK_MONOTONIC, &m);
            HostTime.ClockGetTime(Clocks.CLOCK_REALTIME, &r);
            ulong after = Rdtsc.Now();
            if (after - before < best)
            {
                best = after - before;
                tsc = before + (after - before) / 2;
                mono = m.Sec * 1_000_000_000 + m.Nsec;
                real = r.Sec * 1_000_000_000 + r.Nsec;
            }
            if (best < 20_000) break; // a few microseconds: good enough
        }
        return (tsc, mono);
    }

    private ulong Mult(ulong tsc, long mono)
    {
        ulong ticks = tsc - _tsc0;
        return ticks == 0 ? 1UL << 32 : (ulong)(((UInt128)(ulong)(mono - _mono0) << 32) / ticks);
    }

    private readonly Lock _lock = new();
    private bool _disposed;

    private void Update()
    {
        // Under the lock, so that Dispose (before the MemoryFile is unmapped) waits for a
        // running update and no update starts after it.
        lock (_lock)
        {
            if (_disposed) return;
            var (tsc, mono) = Sample(out long real);
            Publish(tsc, mono, real, Mult(tsc, mono));
        }
    }

    /// <summary>Writes new parameters under the sequence lock. Monotonic time never goes back:
    /// a new base below what the old parameters already showed is raised to it.</summary>
    private void Publish(ulong tsc, long mono, long real, ulong mult)
    {
        byte* v = _memory.Base + _offset;
        ref uint seq = ref *(uint*)(v + SeqOff);
        long shown = ReadMono(v, tsc);
        if (mono < shown) { real += shown - mono; mono = shown; }
        if (mono < _lastMono) mono = _lastMono;
        _lastMono = mono;
        Volatile.Write(ref seq, seq + 1);
        Interlocked.MemoryBarrier();
        *(ulong*)(v + TscOff) = tsc;
        *(ulong*)(v + MultOff) = mult;
        *(long*)(v + RealOff) = real;
        *(long*)(v + MonoOff) = mono;
        Interlocked.MemoryBarrier();
        Volatile.Write(ref seq, seq + 1);
    }

    private static long ReadMono(byte* v, ulong tsc)
    {
        ulong baseTsc = *(ulong*)(v + TscOff), mult = *(ulong*)(v + MultOff);
        if (mult == 0) return 0;
        return *(long*)(v + MonoOff) + (long)(ulong)(((UInt128)(tsc - baseTsc) * mult) >> 32);
    }

    /// <summary>ELF header, PT_LOAD + PT_DYNAMIC, dynamic section, SysV hash, symbols, strings,
    /// and the code at 0x400, all in one page linked at address 0.</summary>
    private static byte[] BuildImage()
    {
        var img = new byte[Page];
        var s = img.AsSpan();
        const int PhOff = 64, DynOff = 0xB0, HashOff = 0x120, SymOff = 0x148, StrOff = 0x1D8;
        var strings = new StringBuilder("\0linux-vdso.so.1\0");
        var nameOffsets = new List<int>();
        foreach (var (name, _, _) in Symbols) { nameOffsets.Add(strings.Length); strings.Append(name).Append('\0'); }
        byte[] strBytes = Encoding.ASCII.GetBytes(strings.ToString());

        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F'; s[4] = 2; s[5] = 1; s[6] = 1;
        W16(s, 16, 3); W16(s, 18, 62); W32(s, 20, 1);              // ET_DYN, EM_X86_64, EV_CURRENT
        W64(s, 32, PhOff); W16(s, 52, 64); W16(s, 54, 56); W16(s, 56, 2);
        // PT_LOAD R+X covering the page; PT_DYNAMIC.
        W32(s, PhOff, 1); W32(s, PhOff + 4, 5); W64(s, PhOff + 32, Page); W64(s, PhOff + 40, Page); W64(s, PhOff + 48, Page);
        W32(s, PhOff + 56, 2); W32(s, PhOff + 60, 4); W64(s, PhOff + 64, DynOff); W64(s, PhOff + 72, DynOff);
        W64(s, PhOff + 88, 7 * 16); W64(s, PhOff + 96, 7 * 16); W64(s, PhOff + 104, 8);
        (long Tag, long Value)[] dynamic = [(4, HashOff), (5, StrOff), (6, SymOff), (10, strBytes.Length), (11, 24), (14, 1), (0, 0)];
        for (int i = 0; i < dynamic.Length; i++) { W64(s, DynOff + i * 16, (ulong)dynamic[i].Tag); W64(s, DynOff + i * 16 + 8, (ulong)dynamic[i].Value); }
        // One bucket chaining every symbol: bucket[0] = n, chain[k] = k - 1.
        int nsyms = Symbols.Length + 1;
        W32(s, HashOff, 1); W32(s, HashOff + 4, (uint)nsyms); W32(s, HashOff + 8, (uint)(nsyms - 1));
        for (int k = 0; k < nsyms; k++) W32(s, HashOff + 12 + k * 4, (uint)Math.Max(k - 1, 0));
        for (int k = 0; k < Symbols.Length; k++)
        {
            int e = SymOff + (k + 1) * 24;
            W32(s, e, (uint)nameOffsets[k]);
            s[e + 4] = 0x12; // STB_GLOBAL, STT_FUNC
            W16(s, e + 6, 1); // any defined section index
            W64(s, e + 8, (ulong)(CodeOffset + Symbols[k].Offset));
            W64(s, e + 16, (ulong)Symbols[k].Size);
        }
        strBytes.CopyTo(s[StrOff..]);
        Code.CopyTo(s[CodeOffset..]);
        // lea r9, [rip + vvar]: the vvar page starts one page below the image.
        int disp = -(Page + CodeOffset + 7);
        BinaryPrimitives.WriteInt32LittleEndian(s[(CodeOffset + 3)..], disp);
        return img;
    }

    private static void W16(Span<byte> s, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[o..], v);
    private static void W32(Span<byte> s, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[o..], v);
    private static void W64(Span<byte> s, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[o..], v);

    public void Dispose()
    {
        lock (_lock)
        {
            // The updater thread sees it within 10 ms and ends; Update checks it under the lock.
            _disposed = true;
        }
    }
}
