using System.Text;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

public sealed unsafe class MemoryManagerTests : IDisposable
{
    private const ulong P = PageSize;
    private const ulong Max = 0x7ff0_0000_0000;
    private const ulong Base = 0x7f00_0000_0000; // MmapBase in these tests
    private const ulong A = 0x1000_0000;         // a free area for fixed mappings
    private const int Anon = MAP_PRIVATE | MAP_ANONYMOUS;
    private const int RW = PROT_READ | PROT_WRITE;

    private readonly MemoryFile _file = new(64L << 20);
    private readonly FakeAddressSpace _space = new();
    private readonly MemoryManager _mm;

    public MemoryManagerTests()
    {
        _mm = new MemoryManager(_space, _file, Max) { MmapBase = Base };
    }

    public void Dispose()
    {
        MmChecks.AssertConsistent(_mm, _space, _file);
        _mm.Dispose();
        _file.Dispose();
    }

    private static long Err(Errno e) => -(long)e;

    private long MapFixed(ulong addr, ulong len, int prot = RW) =>
        _mm.Mmap(addr, len, prot, Anon | MAP_FIXED);

    private void Fill(ulong addr, int len, byte value)
    {
        var buf = new byte[len];
        Array.Fill(buf, value);
        Assert.Equal(0, _mm.CopyOut(addr, buf));
    }

    /// <summary>Reads guest memory ignoring protections (the kernel's view).</summary>
    private byte[] Peek(ulong addr, int len)
    {
        var buf = new byte[len];
        int done = 0;
        while (done < len)
        {
            Assert.True(_mm.TryTranslateKernel(addr + (ulong)done, (ulong)(len - done), out byte* p, out ulong n), $"{addr + (ulong)done:x} unmapped");
            new ReadOnlySpan<byte>(p, (int)n).CopyTo(buf.AsSpan(done));
            done += (int)n;
        }
        return buf;
    }

    private static bool AllZero(byte[] b) => b.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    // ---- mmap -----------------------------------------------------------------------------

    [Fact]
    public void Mmap_PlacesTopDownBelowMmapBase()
    {
        Assert.Equal((long)(Base - 2 * P), _mm.Mmap(0, 2 * P, RW, Anon));
        Assert.Equal((long)(Base - 3 * P), _mm.Mmap(0, 1, PROT_READ, Anon)); // length rounded up
        Assert.Equal((long)(Base - 8 * P), _mm.Mmap(0, 5 * P, RW, Anon));
        Assert.Equal([Base - 8 * P, Base - 3 * P, Base - 2 * P], _mm.Vmas.Select(v => v.Start));
        Assert.Equal(8 * (long)P, _file.Allocated);
        Assert.Contains(_space.Calls, c => c is { Op: "map", Addr: Base - 3 * P, Length: P, Prot: PROT_READ });
    }

    [Fact]
    public void Mmap_FillsTheHighestGapThatFits()
    {
        MapFixed(Base - P, P);
        MapFixed(Base - 4 * P, P);
        // Gap of two pages at [Base-3P, Base-P).
        Assert.Equal((long)(Base - 7 * P), _mm.Mmap(0, 3 * P, RW, Anon));
        Assert.Equal((long)(Base - 3 * P), _mm.Mmap(0, 2 * P, RW, Anon));
        Assert.Equal((long)(Base - 8 * P), _mm.Mmap(0, P, RW, Anon));
    }

    [Fact]
    public void Mmap_HonoursAFreeHint()
    {
        Assert.Equal((long)A, _mm.Mmap(A, 2 * P, RW, Anon));
        // An unaligned hint is rounded down.
        Assert.Equal((long)(A + 4 * P), _mm.Mmap(A + 4 * P + 123, P, RW, Anon));
    }

    [Fact]
    public void Mmap_IgnoresAHintThatIsTaken()
    {
        MapFixed(A, 2 * P);
        long r = _mm.Mmap(A + P, P, RW, Anon);
        Assert.Equal((long)(Base - P), r);
        Assert.Equal(2 * (long)P, (long)_mm.Find(A)!.Length);
    }

    [Fact]
    public void Mmap_IgnoresAHintBelowMinAddress()
    {
        long r = _mm.Mmap(0x1000, P, RW, Anon);
        Assert.Equal((long)(Base - P), r);
    }

    [Fact]
    public void Mmap_ReturnsZeroedMemory()
    {
        long r = _mm.Mmap(0, 3 * P, RW, Anon);
        Fill((ulong)r, (int)(3 * P), 0xCC);
        Assert.Equal(0, _mm.Munmap((ulong)r, 3 * P));
        long again = _mm.Mmap(0, 3 * P, RW, Anon);
        Assert.Equal(r, again);
        Assert.True(AllZero(Peek((ulong)again, (int)(3 * P))));
    }

    [Fact]
    public void MapFixed_ReplacesTheMiddleOfAMapping()
    {
        Assert.Equal((long)A, MapFixed(A, 4 * P));
        Fill(A, (int)(4 * P), 0x11);
        Assert.Equal((long)(A + P), MapFixed(A + P, 2 * P, PROT_READ));

        Assert.Equal(
            [(A, A + P, RW), (A + P, A + 3 * P, PROT_READ), (A + 3 * P, A + 4 * P, RW)],
            _mm.Vmas.Select(v => (v.Start, v.End, v.Prot)));
        Assert.Equal(0x11, Peek(A + P - 1, 1)[0]);
        Assert.True(AllZero(Peek(A + P, (int)(2 * P))), "MAP_FIXED must give fresh zero pages");
        Assert.Equal(0x11, Peek(A + 3 * P, 1)[0]);
        Assert.Equal(4 * (long)P, _file.Allocated);
    }

    [Fact]
    public void MapFixedNoReplace_OverAMapping_IsEExist()
    {
        MapFixed(A + P, P);
        Fill(A + P, 4, 0x22);
        Assert.Equal(Err(Errno.EEXIST), _mm.Mmap(A, 2 * P, RW, Anon | MAP_FIXED_NOREPLACE));
        Assert.Equal(Err(Errno.EEXIST), _mm.Mmap(A + P, P, RW, Anon | MAP_FIXED_NOREPLACE));
        Assert.Equal(0x22, Peek(A + P, 1)[0]);
        Assert.Single(_mm.Vmas);
        // Where it is free, it maps exactly there.
        Assert.Equal((long)(A + 2 * P), _mm.Mmap(A + 2 * P, P, RW, Anon | MAP_FIXED_NOREPLACE));
        Assert.Equal((long)(A - P), _mm.Mmap(A - P, P, RW, Anon | MAP_FIXED_NOREPLACE));
    }

    /// <summary>Linux: "if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED" and then EEXIST on
    /// any overlap, so MAP_FIXED does not turn NOREPLACE into a replacing mapping.</summary>
    [Fact]
    public void MapFixedNoReplace_WithMapFixed_StillRefusesToReplace()
    {
        MapFixed(A, P);
        Fill(A, 4, 0x33);
        Assert.Equal(Err(Errno.EEXIST), _mm.Mmap(A, P, RW, Anon | MAP_FIXED | MAP_FIXED_NOREPLACE));
        Assert.Equal(0x33, Peek(A, 1)[0]);
    }

    [Fact]
    public void Mmap_BadArguments()
    {
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(0, 0, RW, Anon));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(A + 1, P, RW, Anon | MAP_FIXED));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(A + 1, P, RW, Anon | MAP_FIXED_NOREPLACE));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(0, P, RW, MAP_ANONYMOUS)); // neither private nor shared
        Assert.Equal(Err(Errno.EINVAL), _mm.Mmap(0, P, 0x10, Anon));
        Assert.Equal(Err(Errno.EPERM), _mm.Mmap(0x1000, P, RW, Anon | MAP_FIXED));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mmap(Max - P, 2 * P, RW, Anon | MAP_FIXED));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mmap(0, Max + P, RW, Anon));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mmap(0, ulong.MaxValue - 10, RW, Anon));
        Assert.Empty(_mm.Vmas);
        Assert.Empty(_space.Calls);
    }

    [Fact]
    public void Mmap_WhenNothingFits_IsENoMem()
    {
        _mm.MmapBase = MemoryManager.MinAddress + 4 * P;
        Assert.Equal((long)MemoryManager.MinAddress, _mm.Mmap(0, 4 * P, RW, Anon));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mmap(0, P, RW, Anon));
    }

    /// <summary>A mapping may straddle MmapBase (MAP_FIXED, or mremap growing in place);
    /// top-down placement must still not return memory inside it.</summary>
    [Fact]
    public void Mmap_DoesNotOverlapAMappingThatStraddlesMmapBase()
    {
        MapFixed(Base - P, 2 * P);
        Fill(Base - P, 8, 0x44);
        long r = _mm.Mmap(0, P, RW, Anon);
        Assert.True((ulong)r + P <= Base - P, $"mmap returned {r:x}, inside the mapping at {Base - P:x}-{Base + P:x}");
        Assert.Equal(0x44, Peek(Base - P, 1)[0]);
    }

    [Fact]
    public void Mmap_Shared_IsRecorded()
    {
        long r = _mm.Mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
        Assert.True(_mm.Find((ulong)r)!.Shared);
        long q = _mm.Mmap(0, P, RW, Anon);
        Assert.False(_mm.Find((ulong)q)!.Shared);
    }

    // ---- munmap ---------------------------------------------------------------------------

    [Fact]
    public void Munmap_OfTheMiddle_SplitsTheVma()
    {
        MapFixed(A, 3 * P);
        Fill(A, (int)(3 * P), 0x55);
        long off = _mm.Find(A)!.FileOffset;
        Assert.Equal(0, _mm.Munmap(A + P, P));

        Assert.Equal([(A, A + P), (A + 2 * P, A + 3 * P)], _mm.Vmas.Select(v => (v.Start, v.End)));
        Assert.Equal(off, _mm.Vmas[0].FileOffset);
        Assert.Equal(off + 2 * (long)P, _mm.Vmas[1].FileOffset);
        Assert.Equal(2 * (long)P, _file.Allocated);
        Assert.Equal(new FakeAddressSpace.Call("unmap", A + P, P), _space.Calls[^1]);
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A + P, new byte[1]));
        Assert.Equal(0x55, Peek(A + 2 * P, 1)[0]);
        Assert.Null(_mm.Find(A + P));
    }

    [Fact]
    public void Munmap_AcrossVmasAndHoles()
    {
        MapFixed(A, P);
        MapFixed(A + 2 * P, 2 * P, PROT_READ);
        MapFixed(A + 5 * P, P);
        Assert.Equal(0, _mm.Munmap(A + P, 4 * P + 1)); // length rounds up to 5 pages
        Assert.Equal([(A, A + P)], _mm.Vmas.Select(v => (v.Start, v.End)));
        Assert.Equal((long)P, _file.Allocated);
    }

    [Fact]
    public void Munmap_Errors()
    {
        MapFixed(A, P);
        Assert.Equal(Err(Errno.EINVAL), _mm.Munmap(A + 1, P));
        Assert.Equal(Err(Errno.EINVAL), _mm.Munmap(A, 0));
        Assert.Equal(Err(Errno.EINVAL), _mm.Munmap(Max - P, 2 * P));
        Assert.Single(_mm.Vmas);
    }

    [Fact]
    public void Munmap_OfAHole_SucceedsWithoutTouchingThePlatform()
    {
        MapFixed(A, P);
        int calls = _space.Calls.Count;
        Assert.Equal(0, _mm.Munmap(A + P, 10 * P));
        Assert.Equal(calls, _space.Calls.Count);
    }

    // ---- mprotect -------------------------------------------------------------------------

    [Fact]
    public void Mprotect_OfPart_SplitsAndSetsProt()
    {
        MapFixed(A, 4 * P);
        long off = _mm.Find(A)!.FileOffset;
        Assert.Equal(0, _mm.Mprotect(A + P, 2 * P, PROT_READ));

        Assert.Equal(
            [(A, A + P, RW, off), (A + P, A + 3 * P, PROT_READ, off + (long)P), (A + 3 * P, A + 4 * P, RW, off + 3 * (long)P)],
            _mm.Vmas.Select(v => (v.Start, v.End, v.Prot, v.FileOffset)));
        Assert.Equal(new FakeAddressSpace.Call("protect", A + P, 2 * P, 0, PROT_READ), _space.Calls[^1]);
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(A + P, new byte[1]));
        Assert.Equal(0, _mm.CopyOut(A, new byte[1]));
        Assert.Equal(4 * (long)P, _file.Allocated);
    }

    [Fact]
    public void Mprotect_AcrossTwoVmas()
    {
        MapFixed(A, 2 * P, PROT_READ);
        MapFixed(A + 2 * P, 2 * P, RW);
        Assert.Equal(0, _mm.Mprotect(A + P, 2 * P, PROT_NONE));
        Assert.Equal([PROT_READ, PROT_NONE, PROT_NONE, RW], _mm.Vmas.Select(v => v.Prot));
        Assert.Equal([A, A + P, A + 2 * P, A + 3 * P], _mm.Vmas.Select(v => v.Start));
    }

    [Fact]
    public void Mprotect_OverAHole_IsENoMemAndChangesNothing()
    {
        MapFixed(A, P);
        MapFixed(A + 2 * P, P);
        int calls = _space.Calls.Count;
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mprotect(A, 3 * P, PROT_READ));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mprotect(A + P, P, PROT_READ));
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mprotect(A + 10 * P, P, PROT_READ));
        Assert.All(_mm.Vmas, v => Assert.Equal(RW, v.Prot));
        Assert.Equal(2, _mm.Vmas.Count);
        Assert.Equal(calls, _space.Calls.Count);
    }

    [Fact]
    public void Mprotect_Errors()
    {
        MapFixed(A, P);
        Assert.Equal(Err(Errno.EINVAL), _mm.Mprotect(A + 1, P, PROT_READ));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mprotect(A, P, 0x100));
        Assert.Equal(0, _mm.Mprotect(A, 0, PROT_READ));
        Assert.Equal(RW, _mm.Find(A)!.Prot);
    }

    [Fact]
    public void Mprotect_RoundsTheLengthUp()
    {
        MapFixed(A, 2 * P);
        Assert.Equal(0, _mm.Mprotect(A, 1, PROT_READ));
        Assert.Equal([(A, PROT_READ), (A + P, RW)], _mm.Vmas.Select(v => (v.Start, v.Prot)));
    }

    // ---- madvise --------------------------------------------------------------------------

    [Fact]
    public void MadviseDontneed_Zeroes()
    {
        MapFixed(A, 2 * P);
        Fill(A, (int)(2 * P), 0x66);
        Assert.Equal(0, _mm.Madvise(A, P, MADV_DONTNEED));
        var buf = new byte[2 * P];
        Assert.Equal(0, _mm.CopyIn(A, buf));
        Assert.True(AllZero(buf[..(int)P]), "MADV_DONTNEED pages must read back as zero");
        Assert.All(buf[(int)P..], b => Assert.Equal(0x66, b));
        Assert.Equal(2 * (long)P, _file.Allocated);
    }

    [Fact]
    public void MadviseDontneed_AcrossVmas()
    {
        MapFixed(A, P, RW);
        MapFixed(A + P, P, PROT_READ | PROT_EXEC);
        Fill(A, (int)P, 1);
        _ = _mm.Mprotect(A + P, P, RW);
        Fill(A + P, (int)P, 2);
        Assert.Equal(0, _mm.Madvise(A, 2 * P, MADV_DONTNEED));
        Assert.True(AllZero(Peek(A, (int)(2 * P))));
    }

    /// <summary>madvise(2): after MADV_DONTNEED, shared anonymous mappings repopulate "from the
    /// up-to-date contents of the underlying mapped file"; only private ones become zero-fill.</summary>
    [Fact]
    public void MadviseDontneed_OnASharedMapping_KeepsContents()
    {
        long r = _mm.Mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
        Fill((ulong)r, 16, 0x42);
        Assert.Equal(0, _mm.Madvise((ulong)r, P, MADV_DONTNEED));
        Assert.Equal(0x42, Peek((ulong)r, 1)[0]);
    }

    /// <summary>Linux refuses MADV_FREE on shared mappings and MADV_REMOVE on private anonymous
    /// ones (EINVAL) instead of discarding their contents.</summary>
    [Fact]
    public void MadviseFreeAndRemove_OnTheWrongKindOfMapping_AreEInval()
    {
        long shared = _mm.Mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
        long priv = _mm.Mmap(0, P, RW, Anon);
        Fill((ulong)shared, 16, 0x42);
        Fill((ulong)priv, 16, 0x43);
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise((ulong)shared, P, MADV_FREE));
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise((ulong)priv, P, MADV_REMOVE));
        Assert.Equal(0x42, Peek((ulong)shared, 1)[0]);
        Assert.Equal(0x43, Peek((ulong)priv, 1)[0]);
    }

    [Fact]
    public void Madvise_OtherAdvice_KeepsContents()
    {
        MapFixed(A, P);
        Fill(A, 16, 0x77);
        Assert.Equal(0, _mm.Madvise(A, P, MADV_WILLNEED));
        Assert.Equal(0, _mm.Madvise(A, P, MADV_NORMAL));
        Assert.Equal(0x77, Peek(A, 1)[0]);
    }

    [Fact]
    public void Madvise_Errors()
    {
        MapFixed(A, P);
        Assert.Equal(Err(Errno.ENOMEM), _mm.Madvise(A, 2 * P, MADV_DONTNEED));
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise(A + 1, P, MADV_DONTNEED));
        Assert.Equal(Err(Errno.EINVAL), _mm.Madvise(A, P, 12345));
    }

    // ---- mremap ---------------------------------------------------------------------------

    [Fact]
    public void Mremap_GrowsInPlace()
    {
        MapFixed(A, P);
        Fill(A, (int)P, 0x88);
        Assert.Equal((long)A, _mm.Mremap(A, P, 3 * P, 0, 0));
        Assert.All(Peek(A, (int)P), b => Assert.Equal(0x88, b));
        Assert.True(AllZero(Peek(A + P, (int)(2 * P))));
        Assert.Equal(3 * (long)P, _file.Allocated);
        Vma v = Assert.Single(_mm.Vmas); // grew contiguously in the file: still one VMA
        Assert.Equal((A, A + 3 * P, RW), (v.Start, v.End, v.Prot));
        Assert.Equal(0, _mm.CopyOut(A + 3 * P - 1, new byte[] { 1 }));
    }

    [Fact]
    public void Mremap_Grow_WhenBlockedWithoutMayMove_IsENoMem()
    {
        MapFixed(A, P);
        MapFixed(A + 2 * P, P);
        Assert.Equal(Err(Errno.ENOMEM), _mm.Mremap(A, P, 3 * P, 0, 0));
        Assert.Equal(2, _mm.Vmas.Count);
        Assert.Equal(2 * (long)P, _file.Allocated);
    }

    [Fact]
    public void Mremap_Grow_WhenBlocked_MovesAndKeepsTheContents()
    {
        MapFixed(A, 2 * P, PROT_READ | PROT_WRITE | PROT_EXEC);
        MapFixed(A + 2 * P, P);
        var data = Enumerable.Range(0, (int)(2 * P)).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(0, _mm.CopyOut(A, data));

        long r = _mm.Mremap(A, 2 * P, 5 * P, MREMAP_MAYMOVE, 0);

        Assert.True(r > 0 && (ulong)r != A, $"mremap returned {r:x}");
        ulong to = (ulong)r;
        Assert.Equal(data, Peek(to, data.Length));
        Assert.True(AllZero(Peek(to + 2 * P, (int)(3 * P))));
        Assert.Null(_mm.Find(A));
        Assert.Null(_mm.Find(A + P));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A, new byte[1]));
        Assert.All(_mm.Vmas.Where(v => v.Start >= to), v => Assert.Equal(PROT_READ | PROT_WRITE | PROT_EXEC, v.Prot));
        Assert.Equal(6 * (long)P, _file.Allocated);
        Assert.Contains(_space.Calls, c => c is { Op: "unmap", Addr: A, Length: 2 * P });
    }

    [Fact]
    public void Mremap_Shrinks()
    {
        MapFixed(A, 3 * P);
        Fill(A, (int)P, 0x99);
        Assert.Equal((long)A, _mm.Mremap(A, 3 * P, P, 0, 0));
        Assert.Equal([(A, A + P)], _mm.Vmas.Select(v => (v.Start, v.End)));
        Assert.Equal((long)P, _file.Allocated);
        Assert.Equal(new FakeAddressSpace.Call("unmap", A + P, 2 * P), _space.Calls[^1]);
        Assert.Equal(0x99, Peek(A, 1)[0]);
    }

    [Fact]
    public void Mremap_SameSize_IsANoOp()
    {
        MapFixed(A, 2 * P);
        int calls = _space.Calls.Count;
        Assert.Equal((long)A, _mm.Mremap(A, 2 * P, 2 * P, MREMAP_MAYMOVE, 0));
        Assert.Equal(calls, _space.Calls.Count);
    }

    [Fact]
    public void Mremap_Fixed_MovesToTheGivenAddressReplacingWhatIsThere()
    {
        MapFixed(A, 2 * P);
        Fill(A, (int)(2 * P), 0xAB);
        ulong to = A + 16 * P;
        MapFixed(to, 4 * P, PROT_READ);
        Assert.Equal((long)to, _mm.Mremap(A, 2 * P, 3 * P, MREMAP_MAYMOVE | MREMAP_FIXED, to));
        Assert.Null(_mm.Find(A));
        Assert.All(Peek(to, (int)(2 * P)), b => Assert.Equal(0xAB, b));
        Assert.True(AllZero(Peek(to + 2 * P, (int)P)));
        Assert.Equal(RW, _mm.Find(to)!.Prot);
        Assert.Equal(RW, _mm.Find(to + 2 * P)!.Prot);
        Assert.Equal(PROT_READ, _mm.Find(to + 3 * P)!.Prot); // the rest of the old target stays
        Assert.Null(_mm.Find(to + 4 * P));
        Assert.Equal(4 * (long)P, _file.Allocated); // 3 moved/grown + 1 left of the old target
    }

    [Fact]
    public void Mremap_Errors()
    {
        MapFixed(A, 2 * P);
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A + 1, P, 2 * P, MREMAP_MAYMOVE, 0));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A, P, 0, MREMAP_MAYMOVE, 0));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A, P, 2 * P, MREMAP_FIXED, A + 8 * P));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A, P, 2 * P, 0x100, 0));
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, A + P)); // overlap
        Assert.Equal(Err(Errno.EINVAL), _mm.Mremap(A, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, A + 8 * P + 1));
        Assert.Equal(Err(Errno.EFAULT), _mm.Mremap(A + 4 * P, P, 2 * P, MREMAP_MAYMOVE, 0));
        Assert.Equal(Err(Errno.EFAULT), _mm.Mremap(A, 3 * P, 4 * P, MREMAP_MAYMOVE, 0)); // runs past the mapping
        Assert.Equal([(A, A + 2 * P)], _mm.Vmas.Select(v => (v.Start, v.End)));
    }

    /// <summary>A guest-chosen new_address near the top of the 64-bit range must give EINVAL
    /// (Linux: new_addr > TASK_SIZE - new_len), not wrap around the bounds check and reach the
    /// platform, whose injected munmap fails and throws out of the syscall handler.</summary>
    [Fact]
    public void Mremap_FixedAddressThatWrapsAround_IsEInval()
    {
        MapFixed(A, P);
        Fill(A, 4, 0x21);
        long r = 0;
        var e = Record.Exception(() => r = _mm.Mremap(A, P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0xffff_ffff_ffff_f000));
        Assert.Null(e);
        Assert.Equal(Err(Errno.EINVAL), r);
        Assert.Equal(0x21, Peek(A, 1)[0]);
        Assert.Equal([(A, A + P)], _mm.Vmas.Select(v => (v.Start, v.End)));
    }

    // ---- brk ------------------------------------------------------------------------------

    [Fact]
    public void Brk_GrowsAndShrinks()
    {
        ulong start = A;
        _mm.SetBrkStart(start);
        Assert.Equal(start, _mm.SetBrk(0)); // the query glibc makes
        Assert.Equal(start + 100, _mm.SetBrk(start + 100));
        Vma heap = Assert.Single(_mm.Vmas);
        Assert.Equal((start, start + P, RW, "[heap]"), (heap.Start, heap.End, heap.Prot, heap.Name));
        Fill(start, 100, 0x42);

        Assert.Equal(start + 3 * P, _mm.SetBrk(start + 3 * P));
        heap = Assert.Single(_mm.Vmas); // grows as one VMA
        Assert.Equal(start + 3 * P, heap.End);
        Assert.Equal(0x42, Peek(start, 1)[0]);
        Assert.Equal(3 * (long)P, _file.Allocated);

        Assert.Equal(start + P + 1, _mm.SetBrk(start + P + 1));
        Assert.Equal(start + 2 * P, Assert.Single(_mm.Vmas).End);
        Assert.Equal(2 * (long)P, _file.Allocated);
        Assert.Equal(start + P + 1, _mm.Brk);

        Assert.Equal(start, _mm.SetBrk(start));
        Assert.Empty(_mm.Vmas);
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void Brk_BelowItsStart_IsRefused()
    {
        _mm.SetBrkStart(A);
        _mm.SetBrk(A + P);
        Assert.Equal(A + P, _mm.SetBrk(A - P));
        Assert.Equal(A + P, _mm.SetBrk(A - 1));
        Assert.Equal(A + P, _mm.Brk);
        Assert.Single(_mm.Vmas);
    }

    [Fact]
    public void Brk_IntoAMapping_IsRefused()
    {
        _mm.SetBrkStart(A);
        MapFixed(A + 2 * P, P, PROT_READ);
        Assert.Equal(A + P, _mm.SetBrk(A + P));
        Assert.Equal(A + P, _mm.SetBrk(A + 3 * P));
        Assert.Equal(PROT_READ, _mm.Find(A + 2 * P)!.Prot);
        Assert.Equal(A + P, _mm.SetBrk(Max + P));
    }

    // ---- copy-in / copy-out ---------------------------------------------------------------

    [Fact]
    public void Copy_RoundTrips()
    {
        MapFixed(A, 2 * P);
        var data = Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray();
        Assert.Equal(0, _mm.CopyOut(A + P - 1000, data)); // crosses a page
        var back = new byte[data.Length];
        Assert.Equal(0, _mm.CopyIn(A + P - 1000, back));
        Assert.Equal(data, back);

        Assert.Equal(0, _mm.CopyOut(A + 8, new Timespec(12, 34)));
        Assert.Equal(0, _mm.CopyIn(A + 8, out Timespec ts));
        Assert.Equal((12L, 34L), (ts.Sec, ts.Nsec));
    }

    [Fact]
    public void Copy_Unmapped_IsEFault()
    {
        MapFixed(A, P);
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A + P, new byte[1]));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(A + P, new byte[1]));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(0, new byte[1]));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(ulong.MaxValue - 3, new byte[8]));
        // Straddling the end: fails, after copying what it could.
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A + P - 4, new byte[8]));
        Assert.Equal(4, _mm.CopyInPartial(A + P - 4, new byte[8]));
        Assert.Equal(4, _mm.CopyOutPartial(A + P - 4, new byte[8]));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A + P - 8, out Timespec _));
    }

    [Fact]
    public void Copy_ProtNone_IsEFault()
    {
        MapFixed(A, P, PROT_NONE);
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyIn(A, new byte[1]));
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(A, new byte[1]));
    }

    [Fact]
    public void CopyOut_ReadOnly_IsEFault_ButCopyInWorks()
    {
        MapFixed(A, P, PROT_READ);
        Assert.Equal(Err(Errno.EFAULT), _mm.CopyOut(A, new byte[] { 1 }));
        Assert.Equal(0, Peek(A, 1)[0]);
        Assert.Equal(0, _mm.CopyIn(A, new byte[16]));
    }

    [Fact]
    public void CopyIn_WriteOnly_Works()
    {
        // On x86 every mapping that is not PROT_NONE is readable.
        MapFixed(A, P, PROT_WRITE);
        Assert.Equal(0, _mm.CopyOut(A, new byte[] { 5 }));
        var b = new byte[1];
        Assert.Equal(0, _mm.CopyIn(A, b));
        Assert.Equal(5, b[0]);
    }

    [Fact]
    public void Copy_AcrossAdjacentVmasWithDifferentBacking()
    {
        MapFixed(A, P);
        _mm.Mmap(0, P, RW, Anon); // takes the file page right after A's
        MapFixed(A + P, P);       // so this one cannot extend A's VMA
        Assert.Equal(2, _mm.Vmas.Count(v => v.Start < A + 2 * P));
        var data = Enumerable.Range(0, 200).Select(i => (byte)(i + 1)).ToArray();
        Assert.Equal(0, _mm.CopyOut(A + P - 100, data));
        var back = new byte[200];
        Assert.Equal(0, _mm.CopyIn(A + P - 100, back));
        Assert.Equal(data, back);
    }

    [Fact]
    public void Kernel_Translation_IgnoresProtections()
    {
        MapFixed(A, P, PROT_NONE);
        Assert.False(_mm.TryTranslate(A, 1, false, out _, out _));
        Assert.True(_mm.TryTranslateKernel(A, 10, out byte* p, out ulong n));
        Assert.Equal(10UL, n);
        Assert.True(p == _file.Base + _mm.Find(A)!.FileOffset);
        Assert.False(_mm.TryTranslateKernel(A + P, 1, out _, out _));
    }

    // ---- strings and iovecs ---------------------------------------------------------------

    private void Put(ulong addr, string s) => Assert.Equal(0, _mm.CopyOut(addr, Encoding.UTF8.GetBytes(s)));

    [Fact]
    public void ReadCString_ReadsUpToTheNul()
    {
        MapFixed(A, P);
        Put(A, "/etc/passwd\0junk");
        Assert.Equal(0, _mm.ReadCString(A, 4095, out string s));
        Assert.Equal("/etc/passwd", s);
        Assert.Equal(0, _mm.ReadCString(A + 11, 10, out s));
        Assert.Equal("", s);
    }

    [Fact]
    public void ReadCString_Unmapped_IsEFault()
    {
        MapFixed(A, P);
        Assert.Equal(Err(Errno.EFAULT), _mm.ReadCString(A + P, 100, out _));
        // Runs off the end of the mapping without a NUL.
        Fill(A + P - 8, 8, (byte)'x');
        Assert.Equal(Err(Errno.EFAULT), _mm.ReadCString(A + P - 8, 100, out _));
    }

    [Fact]
    public void ReadCString_ProtNone_IsEFault()
    {
        MapFixed(A, P, PROT_NONE);
        Assert.Equal(Err(Errno.EFAULT), _mm.ReadCString(A, 100, out _));
    }

    [Fact]
    public void ReadCString_TooLong_IsENameTooLong()
    {
        MapFixed(A, 2 * P);
        Put(A, new string('a', 10) + "\0");
        Assert.Equal(0, _mm.ReadCString(A, 10, out string s)); // exactly the limit
        Assert.Equal(10, s.Length);
        Assert.Equal(Err(Errno.ENAMETOOLONG), _mm.ReadCString(A, 9, out _));
        Fill(A, (int)(2 * P), (byte)'b');
        Assert.Equal(Err(Errno.ENAMETOOLONG), _mm.ReadCString(A, 4095, out _));
    }

    [Fact]
    public void ReadCString_AcrossVmas()
    {
        MapFixed(A, P);
        _mm.Mmap(0, P, RW, Anon);
        MapFixed(A + P, P, PROT_READ | PROT_WRITE);
        Put(A + P - 3, "abcdef\0");
        Assert.Equal(0, _mm.ReadCString(A + P - 3, 100, out string s));
        Assert.Equal("abcdef", s);
    }

    [Fact]
    public void Gather_AcrossTwoVmas_GivesTwoIovecs()
    {
        MapFixed(A, P);
        _mm.Mmap(0, P, RW, Anon); // breaks file contiguity
        MapFixed(A + P, P);
        long off0 = _mm.Find(A)!.FileOffset, off1 = _mm.Find(A + P)!.FileOffset;
        Assert.NotEqual(off0 + (long)P, off1);

        Span<Iovec> iov = stackalloc Iovec[4];
        int n = _mm.Gather(A + 100, 2 * P - 200, write: true, iov, out ulong total);
        Assert.Equal(2, n);
        Assert.Equal(2 * P - 200, total);
        Assert.Equal((ulong)(_file.Base + off0 + 100), iov[0].Base);
        Assert.Equal(P - 100, iov[0].Len);
        Assert.Equal((ulong)(_file.Base + off1), iov[1].Base);
        Assert.Equal(P - 100, iov[1].Len);
    }

    [Fact]
    public void Gather_ContiguousBacking_MergesIntoOneIovec()
    {
        MapFixed(A, 2 * P);
        _mm.Mprotect(A + P, P, PROT_READ); // two VMAs, one contiguous file range
        Span<Iovec> iov = stackalloc Iovec[4];
        Assert.Equal(1, _mm.Gather(A, 2 * P, write: false, iov, out ulong total));
        Assert.Equal(2 * P, total);
        // For writing, the read-only half is not accessible: it stops there.
        Assert.Equal(1, _mm.Gather(A, 2 * P, write: true, iov, out total));
        Assert.Equal(P, total);
    }

    [Fact]
    public void Gather_StopsAtAHoleOrWhenOutOfEntries()
    {
        MapFixed(A, P);
        _mm.Mmap(0, P, RW, Anon);
        MapFixed(A + P, P);
        Span<Iovec> iov = stackalloc Iovec[1];
        Assert.Equal(1, _mm.Gather(A, 2 * P, false, iov, out ulong total));
        Assert.Equal(P, total);
        Span<Iovec> more = stackalloc Iovec[4];
        Assert.Equal(2, _mm.Gather(A, 3 * P, false, more, out total));
        Assert.Equal(2 * P, total);
        Assert.Equal(0, _mm.Gather(A + 2 * P, P, false, more, out total));
        Assert.Equal(0UL, total);
    }

    // ---- lifetime -------------------------------------------------------------------------

    [Fact]
    public void Dispose_FreesEverythingAndTheAddressSpace()
    {
        var file = new MemoryFile(16L << 20);
        var space = new FakeAddressSpace();
        var mm = new MemoryManager(space, file, Max);
        mm.Mmap(0, 3 * P, RW, Anon);
        mm.MapFixed(A, 2 * P, PROT_READ, "image");
        Assert.Equal(5 * (long)P, file.Allocated);
        mm.Dispose();
        Assert.Equal(0, file.Allocated);
        Assert.Empty(mm.Vmas);
        Assert.True(space.Disposed);
        file.Dispose();
    }

    [Fact]
    public void MapFixed_ForTheLoader_NamesTheVma()
    {
        Vma v = _mm.MapFixed(A, 2 * P, PROT_READ | PROT_EXEC, "/bin/true");
        Assert.Equal(("/bin/true", A, A + 2 * P), (v.Name, v.Start, v.End));
        // The loader writes through the kernel view even into read-only segments.
        Assert.True(_mm.TryTranslateKernel(A, 4, out byte* p, out _));
        p[0] = 0xC3;
        Assert.Equal(0xC3, Peek(A, 1)[0]);
    }
}
