using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Platform;

namespace Sandbox.Platform.Tests;

public sealed class MemoryFileTests : IDisposable
{
    private const long Page = (long)Mm.PageSize;
    private const long Size = 64L << 20;
    private readonly MemoryFile _file = new(Size);

    public void Dispose() => _file.Dispose();

    [Fact]
    public void Constructor_MapsTheWholeFile()
    {
        Assert.Equal(Size, _file.Size);
        Assert.True(_file.Fd >= 0);
        unsafe { Assert.True(_file.Base != null); }
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void Allocate_ReturnsPageAlignedDistinctRanges()
    {
        var ranges = new List<(long Off, long Len)>();
        foreach (long len in new long[] { 1, Page, Page + 1, 3 * Page, 100, 5 * Page - 7 })
        {
            long off = _file.Allocate(len);
            Assert.Equal(0, off % Page);
            Assert.InRange(off, 0, Size - len);
            ranges.Add((off, (long)MemoryFile.AlignUp((ulong)len)));
        }
        for (int i = 0; i < ranges.Count; i++)
            for (int j = i + 1; j < ranges.Count; j++)
                Assert.False(ranges[i].Off < ranges[j].Off + ranges[j].Len && ranges[j].Off < ranges[i].Off + ranges[i].Len,
                    $"ranges {ranges[i]} and {ranges[j]} overlap");
    }

    [Fact]
    public void Allocate_RoundsTheLengthUpToPages()
    {
        long a = _file.Allocate(1);
        long b = _file.Allocate(1);
        Assert.Equal(Page, Math.Abs(b - a));
        Assert.Equal(2 * Page, _file.Allocated);
    }

    [Fact]
    public void Allocated_TracksAllocateFreeAndTryAllocateAt()
    {
        long a = _file.Allocate(3 * Page);
        Assert.Equal(3 * Page, _file.Allocated);
        long b = _file.Allocate(Page + 1);
        Assert.Equal(5 * Page, _file.Allocated);
        _file.Free(a, 3 * Page);
        Assert.Equal(2 * Page, _file.Allocated);
        Assert.True(_file.TryAllocateAt(a, Page));
        Assert.Equal(3 * Page, _file.Allocated);
        _file.Free(b, Page + 1); // rounded the same way as the allocation
        _file.Free(a, Page);
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void Free_ThenAllocate_ReusesTheRangeAndItReadsAsZero()
    {
        long a = _file.Allocate(2 * Page);
        long guard = _file.Allocate(Page); // keeps a below the bump pointer
        _file.Slice(a, (int)(2 * Page)).Fill(0xAB);
        Assert.Equal(0xAB, _file.Slice(a + Page + 17, 1)[0]);

        _file.Free(a, 2 * Page);
        long again = _file.Allocate(2 * Page);

        Assert.Equal(a, again);
        Assert.True(_file.Slice(again, (int)(2 * Page)).IndexOfAnyExcept((byte)0) < 0, "reused pages are not zero");
        _file.Free(guard, Page);
    }

    [Fact]
    public void Free_OfTheTopRange_LowersTheBumpSoTheNextAllocationReusesIt()
    {
        long a = _file.Allocate(Page);
        _file.Slice(a, 8).Fill(0x11);
        _file.Free(a, Page);
        Assert.Equal(a, _file.Allocate(Page));
        Assert.Equal(0, _file.Slice(a, 8).IndexOfAnyExcept((byte)0) + 1);
    }

    [Fact]
    public void Decommit_ZeroesButKeepsTheRangeAllocated()
    {
        long a = _file.Allocate(2 * Page);
        _file.Slice(a, (int)(2 * Page)).Fill(0x5A);
        _file.Decommit(a + Page, Page);
        Assert.Equal(0x5A, _file.Slice(a + Page - 1, 1)[0]);
        Assert.True(_file.Slice(a + Page, (int)Page).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(2 * Page, _file.Allocated);
    }

    [Fact]
    public void Free_CoalescesWithThePreviousRange()
    {
        long a = _file.Allocate(Page), b = _file.Allocate(Page), guard = _file.Allocate(Page);
        Assert.Equal(a + Page, b);
        _file.Free(a, Page);
        _file.Free(b, Page);
        // Only a merged free range [a, a+2p) can hold two pages below the guard.
        Assert.Equal(a, _file.Allocate(2 * Page));
        Assert.True(guard > a);
    }

    [Fact]
    public void Free_CoalescesWithTheNextRange()
    {
        long a = _file.Allocate(Page), b = _file.Allocate(Page), guard = _file.Allocate(Page);
        _file.Free(b, Page);
        _file.Free(a, Page);
        Assert.Equal(a, _file.Allocate(2 * Page));
        Assert.True(guard > b);
    }

    [Fact]
    public void Free_CoalescesOnBothSides()
    {
        long a = _file.Allocate(Page), b = _file.Allocate(Page), c = _file.Allocate(Page), guard = _file.Allocate(Page);
        _file.Free(a, Page);
        _file.Free(c, Page);
        _file.Free(b, Page);
        Assert.Equal(a, _file.Allocate(3 * Page));
        Assert.True(guard > c);
    }

    [Fact]
    public void Free_CoalescingDownToTheBump_ReturnsEverything()
    {
        long a = _file.Allocate(Page), b = _file.Allocate(Page), c = _file.Allocate(Page);
        _file.Free(a, Page);
        _file.Free(c, Page); // top: the bump drops to c
        _file.Free(b, Page); // merges with a and reaches the bump: all free again
        Assert.Equal(0, _file.Allocated);
        // The whole file is available again as one range.
        long all = _file.Allocate(Size - a);
        Assert.Equal(a, all);
    }

    [Fact]
    public void Allocate_SplitsALargerFreeRange()
    {
        long a = _file.Allocate(4 * Page), guard = _file.Allocate(Page);
        _file.Free(a, 4 * Page);
        long x = _file.Allocate(Page);
        long y = _file.Allocate(3 * Page);
        Assert.Equal(a, x);
        Assert.Equal(a + Page, y);
        Assert.True(guard > y);
    }

    [Fact]
    public void TryAllocateAt_TheBump_Succeeds()
    {
        long a = _file.Allocate(Page);
        Assert.True(_file.TryAllocateAt(a + Page, 2 * Page));
        Assert.Equal(3 * Page, _file.Allocated);
        // Those pages are now taken: the next allocation comes after them.
        Assert.Equal(a + 3 * Page, _file.Allocate(Page));
    }

    [Fact]
    public void TryAllocateAt_AnAllocatedRange_Fails()
    {
        long a = _file.Allocate(2 * Page);
        Assert.False(_file.TryAllocateAt(a, Page));
        Assert.False(_file.TryAllocateAt(a + Page, Page));
        Assert.Equal(2 * Page, _file.Allocated);
    }

    [Fact]
    public void TryAllocateAt_TheStartOfAFreeRange_TakesItsPrefix()
    {
        long a = _file.Allocate(3 * Page), guard = _file.Allocate(Page);
        _file.Free(a, 3 * Page);
        Assert.True(_file.TryAllocateAt(a, Page));
        // The rest of the free range is still available right after it.
        Assert.True(_file.TryAllocateAt(a + Page, 2 * Page));
        Assert.Equal(4 * Page, _file.Allocated);
        Assert.True(guard > a);
    }

    [Fact]
    public void TryAllocateAt_AFreeRangeTooShort_Fails()
    {
        long a = _file.Allocate(Page), guard = _file.Allocate(Page);
        _file.Free(a, Page);
        Assert.False(_file.TryAllocateAt(a, 2 * Page)); // would run into guard
        Assert.Equal(Page, _file.Allocated);
        Assert.True(guard > a);
    }

    [Fact]
    public void TryAllocateAt_PastTheEndOfTheFile_Fails()
    {
        Assert.False(_file.TryAllocateAt(0, Size + Page));
        Assert.Equal(0, _file.Allocated);
    }

    [Fact]
    public void Allocate_BeyondTheFileSize_Throws()
    {
        _file.Allocate(Size - Page);
        Assert.Throws<OutOfMemoryException>(() => _file.Allocate(2 * Page));
        Assert.Equal(Size - Page, _file.Allocated);
        _file.Allocate(Page); // exactly fills the file
        Assert.Equal(Size, _file.Allocated);
    }

    [Fact]
    public void Slice_ReadsAndWritesTheSharedMapping()
    {
        long a = _file.Allocate(Page);
        _file.Slice(a, 4).Fill(0x42);
        // The memfd itself sees the bytes: the Sentry's view is the file.
        var buf = new byte[4];
        using var fs = new FileStream($"/proc/self/fd/{_file.Fd}", FileMode.Open, FileAccess.Read);
        fs.Seek(a, SeekOrigin.Begin);
        fs.ReadExactly(buf);
        Assert.Equal(new byte[] { 0x42, 0x42, 0x42, 0x42 }, buf);
    }

    [Fact]
    public void AlignUp_RoundsToPages()
    {
        Assert.Equal(0UL, MemoryFile.AlignUp(0));
        Assert.Equal(Mm.PageSize, MemoryFile.AlignUp(1));
        Assert.Equal(Mm.PageSize, MemoryFile.AlignUp(Mm.PageSize));
        Assert.Equal(2 * Mm.PageSize, MemoryFile.AlignUp(Mm.PageSize + 1));
    }

    /// <summary>Random allocate/free sequences against a model: ranges never overlap, stay in
    /// the file, are page aligned, read as zero when handed out, and Allocated is their sum.</summary>
    [Fact]
    public void RandomAllocateFree_MatchesAModel()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            using var file = new MemoryFile(4L << 20);
            var rng = new Random(seed);
            var live = new List<(long Off, long Len)>();
            for (int step = 0; step < 300; step++)
            {
                int choice = rng.Next(3);
                if (live.Count > 0 && (choice == 0 || live.Count > 40))
                {
                    int i = rng.Next(live.Count);
                    var (off, len) = live[i];
                    file.Slice(off, (int)len).Fill(0xEE); // dirty it before it goes back
                    file.Free(off, len);
                    live.RemoveAt(i);
                }
                else
                {
                    long len = rng.Next(1, 8) * Page;
                    long off;
                    if (choice == 1 && live.Count > 0)
                    {
                        // Try to grow just after an existing range.
                        var (o, l) = live[rng.Next(live.Count)];
                        off = o + l;
                        bool free = off + len <= file.Size && live.TrueForAll(r => off + len <= r.Off || r.Off + r.Len <= off);
                        bool got = file.TryAllocateAt(off, len);
                        if (!free) Assert.False(got, $"seed {seed} step {step}: TryAllocateAt({off:x}, {len:x}) took a used range");
                        if (!got) continue;
                    }
                    else
                    {
                        off = file.Allocate(len);
                    }
                    Assert.Equal(0, off % Page);
                    Assert.InRange(off + len, len, file.Size);
                    foreach (var r in live)
                        Assert.False(off < r.Off + r.Len && r.Off < off + len,
                            $"seed {seed} step {step}: [{off:x}+{len:x}) overlaps live [{r.Off:x}+{r.Len:x})");
                    Assert.True(file.Slice(off, (int)len).IndexOfAnyExcept((byte)0) < 0,
                        $"seed {seed} step {step}: allocated range at {off:x} is not zero");
                    live.Add((off, len));
                }
                Assert.Equal(live.Sum(r => r.Len), file.Allocated);
            }
        }
    }

    /// <summary>The allocator as it was written first (a SortedDictionary of free ranges),
    /// to check the array-based one hands out exactly the same ranges.</summary>
    private sealed class ReferenceAllocator(long size)
    {
        private readonly SortedDictionary<long, long> _free = new();
        private long _bump;

        public long Allocate(long length)
        {
            foreach (var (off, len) in _free)
            {
                if (len < length) continue;
                _free.Remove(off);
                if (len > length) _free[off + length] = len - length;
                return off;
            }
            if (_bump + length > size) return -1;
            long result = _bump;
            _bump += length;
            return result;
        }

        public bool TryAllocateAt(long offset, long length)
        {
            if (offset == _bump && _bump + length <= size)
            {
                _bump += length;
                return true;
            }
            if (_free.TryGetValue(offset, out long len) && len >= length)
            {
                _free.Remove(offset);
                if (len > length) _free[offset + length] = len - length;
                return true;
            }
            return false;
        }

        public void Free(long offset, long length)
        {
            long prevOff = -1;
            foreach (var (o, _) in _free)
            {
                if (o >= offset) break;
                prevOff = o;
            }
            if (prevOff >= 0 && prevOff + _free[prevOff] == offset)
            {
                offset = prevOff;
                length += _free[prevOff];
                _free.Remove(prevOff);
            }
            if (_free.TryGetValue(offset + length, out long nextLen))
            {
                _free.Remove(offset + length);
                length += nextLen;
            }
            if (offset + length == _bump) _bump = offset;
            else _free[offset] = length;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AllocatorHandsOutTheSameRangesAsTheReference(int seed)
    {
        var random = new Random(seed);
        var reference = new ReferenceAllocator(Size);
        var live = new List<(long Off, long Len)>();
        for (int step = 0; step < 3000; step++)
        {
            int op = random.Next(10);
            if (op < 5 || live.Count == 0)
            {
                long len = random.Next(1, 9) * Page;
                long expected = reference.Allocate(len);
                if (expected < 0) continue;
                Assert.Equal(expected, _file.Allocate(len));
                live.Add((expected, len));
            }
            else if (op < 9)
            {
                int i = random.Next(live.Count);
                var (off, len) = live[i];
                live.RemoveAt(i);
                reference.Free(off, len);
                _file.Free(off, len);
            }
            else
            {
                // Where a freed range or the end of the allocated space might be.
                long off = live.Count > 0 && random.Next(2) == 0 ? live[random.Next(live.Count)].Off : random.Next(0, 64) * Page;
                long len = random.Next(1, 4) * Page;
                bool expected = reference.TryAllocateAt(off, len);
                Assert.Equal(expected, _file.TryAllocateAt(off, len));
                if (expected) live.Add((off, len));
            }
        }
        Assert.Equal(live.Sum(r => r.Len), _file.Allocated);
    }
}

/// <summary>Tests that depend on which descriptor numbers are free run alone.</summary>
[CollectionDefinition(nameof(SerialDescriptorTests), DisableParallelization = true)]
public sealed class SerialDescriptorCollection;

[Collection(nameof(SerialDescriptorTests))]
public sealed class SerialDescriptorTests
{
    private const long Page = (long)Mm.PageSize;

    /// <summary>Disposes once, hands the freed descriptor number to someone else, disposes
    /// again: that descriptor must survive.</summary>
    private static void SecondDisposeLeavesReusedNumberAlone(IDisposable owner, int fd)
    {
        owner.Dispose();
        // The number is handed out again (F_DUPFD: the lowest free one from fd up).
        int other = Unistd.Fcntl(0, 0 /* F_DUPFD */, fd);
        try
        {
            Assert.Equal(fd, other);
            owner.Dispose();
            Assert.True(Unistd.Fcntl(other, 1 /* F_GETFD */, 0) >= 0, "a second Dispose closed a descriptor it no longer owns");
        }
        finally
        {
            Unistd.Close(other);
        }
    }

    [Fact]
    public void MemoryFile_DisposeTwice_LeavesAReusedDescriptorNumberAlone()
    {
        var file = new MemoryFile(Page * 16);
        SecondDisposeLeavesReusedNumberAlone(file, file.Fd);
    }

    [Fact]
    public void PtracePlatform_DisposeTwice_LeavesReusedDescriptorNumbersAlone()
    {
        var platform = new Ptrace.PtracePlatform();
        SecondDisposeLeavesReusedNumberAlone(platform, platform.MemoryFile.Fd);
    }
}
