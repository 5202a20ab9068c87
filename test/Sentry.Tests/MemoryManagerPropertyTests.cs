using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>Random sequences of mmap/munmap/mprotect/madvise/mremap, guest writes and faults,
/// and forks in a 64-page window, checked after every step against a page-by-page model:
/// protections, contents, stack (grows-down) and fork attributes, what the platform has
/// installed, and MemoryFile accounting. Stacks grow on a fault or a write below them, within
/// the stack limit and the guard gap; a fork's child must hold the parent's pages except the
/// MADV_DONTFORK ones, with zeros in the MADV_WIPEONFORK ones.</summary>
public sealed unsafe class MemoryManagerPropertyTests
{
    private const ulong P = PageSize;
    private const int WindowPages = 64;
    private const ulong Window = 0x1000_0000;
    // MaxAddress is the window's end (and so is MmapBase, as the constructor sets it): fixed
    // mappings stay in the window and placed ones go top-down from its end.
    private const ulong Max = Window + WindowPages * P;
    private const int Anon = MAP_PRIVATE | MAP_ANONYMOUS;
    /// <summary>RLIMIT_STACK in these runs: small enough to be reached inside the window.</summary>
    private const ulong StackLimit = 24 * P;
    private const ulong Gap = MemoryManager.StackGuardGap;
    private const ulong Slack = 1UL << 20; // how much further than asked a stack grows
    private static readonly int[] ForkAdvice = [MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK];

    private enum Kind { MmapFixed, MmapNoReplace, MmapHint, MmapGrowsDown, Munmap, Mprotect, Madvise, MadviseFork, Mremap, Write, Fault, Fork, Count }

    private readonly record struct Op(Kind Kind, int Page, int Pages, int Arg, int Arg2)
    {
        public ulong Addr => Window + (ulong)Page * P;

        public override string ToString() => Kind switch
        {
            Kind.Mremap => $"mremap(w+{Page}, {Pages}p, {Arg2}p, {((Arg & 1) != 0 ? "MAYMOVE" : "0")})",
            Kind.Write => $"write(w+{Page}{((Arg & 1) != 0 ? " end, 2 bytes" : "")}, 0x{Arg2:x2})",
            Kind.Madvise => $"madvise(w+{Page}, {Pages}p, DONTNEED)",
            Kind.MadviseFork => $"madvise(w+{Page}, {Pages}p, {ForkAdvice[Arg % 4] switch { MADV_DONTFORK => "DONTFORK", MADV_DOFORK => "DOFORK", MADV_WIPEONFORK => "WIPEONFORK", _ => "KEEPONFORK" }})",
            Kind.Mprotect => $"mprotect(w+{Page}, {Pages}p, prot {Arg}{((Arg2 & 7) == 0 ? "|GROWSDOWN" : "")})",
            Kind.Fault => $"fault(w+{Page})",
            Kind.Fork => "fork",
            _ => $"{Kind}(w+{Page}, {Pages}p, prot {Arg})",
        };
    }

    /// <summary>Five ints make an op; any int array decodes, so FsCheck can shrink freely.</summary>
    private static List<Op> Decode(int[] xs)
    {
        var ops = new List<Op>();
        for (int i = 0; i + 4 < xs.Length; i += 5)
        {
            static int M(int v, int m) => (int)((uint)v % (uint)m);
            var kind = (Kind)M(xs[i], (int)Kind.Count);
            int page = M(xs[i + 1], WindowPages);
            int pages = 1 + M(xs[i + 2], 8);
            ops.Add(new Op(kind, page, pages, M(xs[i + 3], 8), kind == Kind.Mremap ? 1 + M(xs[i + 4], 10) : M(xs[i + 4], 256)));
        }
        return ops;
    }

    private static Op RandomOp(Random rng)
    {
        var kind = (Kind)rng.Next((int)Kind.Count);
        return new Op(kind, rng.Next(WindowPages), 1 + rng.Next(8), rng.Next(8), kind == Kind.Mremap ? 1 + rng.Next(10) : rng.Next(256));
    }

    private sealed record PageModel(int Prot, byte First, byte Last, bool GrowsDown = false, bool DontFork = false, bool Wipe = false)
    {
        /// <summary>Pages Linux would hold in one VMA with this one (contents aside).</summary>
        public bool Alike(PageModel o) => Prot == o.Prot && GrowsDown == o.GrowsDown && DontFork == o.DontFork && Wipe == o.Wipe;

        public PageModel Zeroed() => this with { First = 0, Last = 0 };
    }

    /// <summary>Runs ops against a fresh MemoryManager; throws with the op log on the first
    /// disagreement with the model.</summary>
    private static void Run(IReadOnlyList<Op> ops)
    {
        using var file = new MemoryFile(16L << 20);
        var space = new FakeAddressSpace();
        // Every piece with data is shared copy-on-write at fork (none copied there).
        using var mm = new MemoryManager(space, file, Max) { StackLimit = StackLimit, ForkCopyLimit = 0 };
        // The last fork's child lives on while the parent goes on; it writes one page at the fork.
        MemoryManager? live = null;
        FakeAddressSpace? liveSpace = null;
        var liveModel = new SortedDictionary<ulong, PageModel>();
        var model = new SortedDictionary<ulong, PageModel>();
        var log = new StringBuilder();

        void Fail(string what) =>
            throw new InvalidOperationException($"{what}\nafter:\n{log}VMAs:\n{string.Join("\n", mm.Vmas)}");
        void Expect(bool ok, string what) { if (!ok) Fail(what); }

        bool AllMapped(ulong a, int n) => Enumerable.Range(0, n).All(i => model.ContainsKey(a + (ulong)i * P));
        bool AllFree(ulong a, int n) => Enumerable.Range(0, n).All(i => !model.ContainsKey(a + (ulong)i * P));
        void Remove(ulong a, int n) { for (int i = 0; i < n; i++) model.Remove(a + (ulong)i * P); }
        void Zero(ulong a, int n, int prot) { for (int i = 0; i < n; i++) model[a + (ulong)i * P] = new PageModel(prot, 0, 0); }
        ulong? Above(ulong a) { foreach (ulong k in model.Keys) if (k >= a) return k; return null; }
        ulong? Below(ulong a) { ulong? b = null; foreach (ulong k in model.Keys) { if (k >= a) break; b = k; } return b; }
        // Placement keeps the guard gap below a stack free: [a, +n pages) must end below it.
        bool ClearOfGaps(ulong a, int n) => Above(a + (ulong)n * P) is not { } next || !model[next].GrowsDown || next - (ulong)n * P - a >= Gap;
        // A stack grows over the page at addr when a guest access there faults.
        bool Grow(ulong addr)
        {
            ulong page = addr & ~(P - 1);
            if (model.ContainsKey(page) || Above(page) is not { } start || !model[start].GrowsDown) return false;
            var like = model[start];
            ulong top = start;
            while (model.TryGetValue(top, out var q) && q.Alike(like)) top += P;
            if (top - page > StackLimit) return false;
            ulong floor = MemoryManager.MinAddress;
            if (Below(page) is { } b)
            {
                floor = b + P;
                if (!model[b].GrowsDown && model[b].Prot != PROT_NONE) floor += Gap;
            }
            if (page < floor) return false;
            ulong lowest = Math.Max(floor, top - StackLimit);
            ulong newStart = page - Math.Min(Math.Min(top - start, Slack), page - lowest);
            for (ulong x = newStart; x < start; x += P) model[x] = like.Zeroed();
            return true;
        }

        foreach (Op op in ops)
        {
            log.Append("  ").Append(op).Append(" = ");
            ulong a = op.Addr;
            int n = Math.Min(op.Pages, WindowPages - op.Page); // stay in the window
            ulong len = (ulong)n * P;
            long r;
            switch (op.Kind)
            {
                case Kind.MmapFixed:
                    r = mm.Mmap(a, len, op.Arg, Anon | MAP_FIXED);
                    Expect(r == (long)a, $"MAP_FIXED returned {r:x}");
                    Zero(a, n, op.Arg);
                    break;
                case Kind.MmapNoReplace:
                    r = mm.Mmap(a, len, op.Arg, Anon | MAP_FIXED_NOREPLACE);
                    if (AllFree(a, n)) { Expect(r == (long)a, $"MAP_FIXED_NOREPLACE over free returned {r:x}"); Zero(a, n, op.Arg); }
                    else Expect(r == -(long)Errno.EEXIST, $"MAP_FIXED_NOREPLACE over a mapping returned {r:x}");
                    break;
                case Kind.MmapHint:
                    r = mm.Mmap(a, len, op.Arg, Anon);
                    Expect(r > 0 && (ulong)r % P == 0 && (ulong)r >= MemoryManager.MinAddress && (ulong)r + len <= Max, $"mmap returned {r:x}");
                    Expect(AllFree((ulong)r, n), $"mmap returned {r:x}, which overlaps a mapping");
                    Expect(ClearOfGaps((ulong)r, n), $"mmap returned {r:x}, in the guard gap below a stack");
                    if (AllFree(a, n) && ClearOfGaps(a, n)) Expect(r == (long)a, $"mmap ignored the free hint: returned {r:x}");
                    Zero((ulong)r, n, op.Arg);
                    break;
                case Kind.MmapGrowsDown:
                    r = mm.Mmap(a, len, op.Arg, Anon | MAP_FIXED | MAP_GROWSDOWN);
                    Expect(r == (long)a, $"MAP_FIXED|MAP_GROWSDOWN returned {r:x}");
                    for (int i = 0; i < n; i++) model[a + (ulong)i * P] = new PageModel(op.Arg, 0, 0, GrowsDown: true);
                    break;
                case Kind.Munmap:
                    r = mm.Munmap(a, len);
                    Expect(r == 0, $"munmap returned {r}");
                    Remove(a, n);
                    break;
                case Kind.Mprotect:
                    {
                        bool growsDown = (op.Arg2 & 7) == 0;
                        r = mm.Mprotect(a, len, op.Arg | (growsDown ? PROT_GROWSDOWN : 0));
                        ulong from = a, end = a + len;
                        if (growsDown)
                        {
                            // Down to the start of the stack the range begins in (or below).
                            if (Above(a) is not { } first || first >= end) { Expect(r == -(long)Errno.ENOMEM, $"mprotect GROWSDOWN of nothing returned {r}"); break; }
                            if (!model[first].GrowsDown) { Expect(r == -(long)Errno.EINVAL, $"mprotect GROWSDOWN of a non-stack returned {r}"); break; }
                            from = first;
                            while (model.TryGetValue(from - P, out var q) && q.GrowsDown) from -= P;
                        }
                        int pages = (int)((end - from) / P);
                        if (AllMapped(from, pages))
                        {
                            Expect(r == 0, $"mprotect returned {r}");
                            for (int i = 0; i < pages; i++) model[from + (ulong)i * P] = model[from + (ulong)i * P] with { Prot = op.Arg };
                        }
                        else Expect(r == -(long)Errno.ENOMEM, $"mprotect over a hole returned {r}");
                        break;
                    }
                case Kind.Madvise:
                    r = mm.Madvise(a, len, MADV_DONTNEED);
                    if (AllMapped(a, n))
                    {
                        Expect(r == 0, $"madvise returned {r}");
                        for (int i = 0; i < n; i++) model[a + (ulong)i * P] = model[a + (ulong)i * P] with { First = 0, Last = 0 };
                    }
                    else Expect(r == -(long)Errno.ENOMEM, $"madvise over a hole returned {r}");
                    break;
                case Kind.MadviseFork:
                    {
                        int advice = ForkAdvice[op.Arg % 4];
                        r = mm.Madvise(a, len, advice);
                        // The mapped pages take the advice; a hole makes it ENOMEM all the same.
                        Expect(r == (AllMapped(a, n) ? 0 : -(long)Errno.ENOMEM), $"madvise returned {r}");
                        for (int i = 0; i < n; i++)
                        {
                            ulong x = a + (ulong)i * P;
                            if (!model.TryGetValue(x, out var pm)) continue;
                            model[x] = advice switch
                            {
                                MADV_DONTFORK => pm with { DontFork = true },
                                MADV_DOFORK => pm with { DontFork = false },
                                MADV_WIPEONFORK => pm with { Wipe = true },
                                _ => pm with { Wipe = false },
                            };
                        }
                        break;
                    }
                case Kind.Mremap:
                    {
                        int newN = op.Arg2;
                        bool mayMove = (op.Arg & 1) != 0;
                        r = mm.Mremap(a, len, (ulong)newN * P, mayMove ? MREMAP_MAYMOVE : 0, 0);
                        // The old address must be mapped; a shrink then just unmaps the tail.
                        if (!model.ContainsKey(a)) { Expect(r == -(long)Errno.EFAULT, $"mremap of a hole returned {r}"); break; }
                        if (newN <= n)
                        {
                            Expect(r == (long)a, $"shrinking mremap returned {r:x}");
                            Remove(a + (ulong)newN * P, n - newN);
                            break;
                        }
                        // Growing needs the old range to be one mapping (alike pages, no hole).
                        if (!AllMapped(a, n) || Enumerable.Range(1, n - 1).Any(i => !model[a + (ulong)i * P].Alike(model[a])))
                        {
                            Expect(r == -(long)Errno.EFAULT, $"growing mremap across mappings returned {r}");
                            break;
                        }
                        var old = Enumerable.Range(0, n).Select(i => model[a + (ulong)i * P]).ToArray();
                        var lastPage = old[^1].Zeroed();
                        ulong oldEnd = a + len, newEnd = a + (ulong)newN * P;
                        if (newEnd <= Max && AllFree(oldEnd, newN - n))
                        {
                            Expect(r == (long)a, $"mremap that can grow in place returned {r:x}");
                            for (int i = 0; i < newN - n; i++) model[oldEnd + (ulong)i * P] = lastPage;
                        }
                        else if (!mayMove)
                        {
                            Expect(r == -(long)Errno.ENOMEM, $"mremap without MAYMOVE returned {r:x}");
                        }
                        else
                        {
                            Expect(r > 0 && (ulong)r % P == 0 && (ulong)r >= MemoryManager.MinAddress && (ulong)r + (ulong)newN * P <= Max,
                                $"moving mremap returned {r:x}");
                            ulong to = (ulong)r;
                            Expect(AllFree(to, newN), $"mremap moved to {to:x}, over a mapping");
                            Remove(a, n);
                            Expect(ClearOfGaps(to, newN), $"mremap moved to {to:x}, in the guard gap below a stack");
                            for (int i = 0; i < n; i++) model[to + (ulong)i * P] = old[i];
                            for (int i = 0; i < newN - n; i++) model[to + len + (ulong)i * P] = lastPage;
                        }
                        break;
                    }
                case Kind.Write:
                    {
                        // One byte at the page's start, or two bytes across its end into the next page.
                        bool across = (op.Arg & 1) != 0;
                        byte v = (byte)op.Arg2;
                        if (!across)
                        {
                            r = mm.CopyOut(a, [v]);
                            Grow(a); // the Sentry's write faults like the guest's would
                            bool ok = model.TryGetValue(a, out var pm) && (pm.Prot & PROT_WRITE) != 0;
                            Expect(r == (ok ? 0 : -(long)Errno.EFAULT), $"write returned {r}");
                            if (ok) model[a] = pm! with { First = v };
                        }
                        else
                        {
                            ulong b = a + P;
                            r = mm.CopyOut(a + P - 1, [v, (byte)(v ^ 0xFF)]);
                            Grow(a);
                            bool ok1 = model.TryGetValue(a, out var p1) && (p1.Prot & PROT_WRITE) != 0;
                            if (ok1) Grow(b); // reached only if the first byte was written
                            bool ok2 = model.TryGetValue(b, out var p2) && (p2.Prot & PROT_WRITE) != 0;
                            Expect(r == (ok1 && ok2 ? 0 : -(long)Errno.EFAULT), $"write across pages returned {r}");
                            if (ok1) model[a] = p1! with { Last = v }; // copied up to the fault
                            if (ok1 && ok2) model[b] = p2! with { First = (byte)(v ^ 0xFF) };
                        }
                        break;
                    }
                case Kind.Fault:
                    {
                        // A guest access to a page without pages: a stack grows over it, or it is the guest's SIGSEGV.
                        // A write to pages a fork shared is resolved too (copied, or taken over).
                        bool mapped = model.ContainsKey(a & ~(P - 1));
                        bool cow = mm.Find(a) is { Cow: true } cv && (cv.Prot & PROT_WRITE) != 0;
                        var result = mm.HandleFault(a + 8);
                        r = (long)result;
                        bool grew = !mapped && Grow(a + 8);
                        Expect(result == (grew || cow ? FaultResult.Retry : FaultResult.Unhandled), $"fault returned {result}");
                        if (cow) Expect(mm.HandleFault(a + 8) == FaultResult.Unhandled, "a second fault on a page made writable was resolved again");
                        break;
                    }
                case Kind.Fork:
                    {
                        var child = mm.ForkCopy();
                        var childSpace = new FakeAddressSpace();
                        child.Install(childSpace);
                        r = 0;
                        try
                        {
                            string? childBroken = MmChecks.Violation(child, childSpace, file, accounting: false);
                            if (childBroken != null) Fail("child: " + childBroken);
                            var childPages = new SortedDictionary<ulong, Vma>();
                            foreach (Vma v in child.Vmas)
                                for (ulong x = v.Start; x < v.End; x += P) childPages[x] = v;
                            var want = model.Where(kv => !kv.Value.DontFork).Select(kv => kv.Key);
                            Expect(childPages.Keys.SequenceEqual(want), $"child's pages {Pages(childPages.Keys)}, model {Pages(want)}");
                            foreach (var (x, pm) in model)
                            {
                                if (pm.DontFork) continue;
                                Vma cv = childPages[x];
                                Expect(cv.Prot == pm.Prot && cv.GrowsDown == pm.GrowsDown && cv.WipeOnFork == pm.Wipe,
                                    $"child page {x:x}: {cv}, model {pm}");
                                Expect(child.TryTranslateKernel(x, P, out byte* h, out _, write: false), $"child page {x:x} not translatable");
                                var (first, last) = pm.Wipe ? ((byte)0, (byte)0) : (pm.First, pm.Last);
                                Expect(h[0] == first && h[P - 1] == last,
                                    $"child page {x:x}: contents ({h[0]:x2}, {h[P - 1]:x2}), model ({first:x2}, {last:x2})");
                            }
                        }
                        catch
                        {
                            child.Dispose();
                            throw;
                        }
                        live?.Dispose();
                        live = child;
                        liveSpace = childSpace;
                        liveModel.Clear();
                        foreach (var (x, pm) in model)
                            if (!pm.DontFork) liveModel[x] = pm.Wipe ? pm.Zeroed() : pm;
                        // The child writes the page at the op's address (its own copy from now on).
                        if (liveModel.TryGetValue(a, out var lp) && (lp.Prot & PROT_WRITE) != 0)
                        {
                            byte cb = (byte)(op.Arg2 ^ 0x5A);
                            Expect(live.CopyOut(a, [cb]) == 0, "the child's write failed");
                            liveModel[a] = lp with { First = cb };
                        }
                        break;
                    }
                default:
                    throw new System.Diagnostics.UnreachableException();
            }
            log.Append(r < 0 && r > -4096 ? ((Errno)(int)-r).ToString() : $"0x{r:x}").Append('\n');

            // The structure: VMAs vs platform vs MemoryFile.
            space.Changeable = false; // the probes below must not grow a stack
            string? broken = MmChecks.Violation(mm, space, file, accounting: live == null);
            if (broken != null) Fail(broken);
            if (live != null)
            {
                // The child's memory is what it was at the fork, plus its own write.
                string? childBroken = MmChecks.Violation(live, liveSpace!, file, accounting: false);
                if (childBroken != null) Fail("live child: " + childBroken);
                foreach (var (x, pm) in liveModel)
                {
                    Expect(live.TryTranslateKernel(x, P, out byte* h, out _, write: false), $"live child page {x:x} not translatable");
                    Expect(h[0] == pm.First && h[P - 1] == pm.Last,
                        $"live child page {x:x}: contents ({h[0]:x2}, {h[P - 1]:x2}), model ({pm.First:x2}, {pm.Last:x2})");
                }
            }
            // Page by page against the model.
            var vmaPages = new SortedDictionary<ulong, int>();
            foreach (Vma v in mm.Vmas)
                for (ulong x = v.Start; x < v.End; x += P) vmaPages[x] = v.Prot;
            Expect(vmaPages.Keys.SequenceEqual(model.Keys),
                $"mapped pages differ: VMAs {Pages(vmaPages.Keys)} model {Pages(model.Keys)}");
            var flags = new Dictionary<ulong, (bool, bool, bool)>();
            foreach (Vma v in mm.Vmas)
                for (ulong x = v.Start; x < v.End; x += P) flags[x] = (v.GrowsDown, v.DontFork, v.WipeOnFork);
            foreach (var (x, pm) in model)
            {
                Expect(vmaPages[x] == pm.Prot, $"page {x:x}: prot {vmaPages[x]}, model {pm.Prot}");
                Expect(flags[x] == (pm.GrowsDown, pm.DontFork, pm.Wipe), $"page {x:x}: (growsdown, dontfork, wipe) {flags[x]}, model {pm}");
                Expect(mm.TryTranslateKernel(x, P, out byte* h, out ulong avail, write: false) && avail == P, $"page {x:x} not translatable");
                Expect(h[0] == pm.First && h[P - 1] == pm.Last,
                    $"page {x:x}: contents ({h[0]:x2}, {h[P - 1]:x2}), model ({pm.First:x2}, {pm.Last:x2})");
                byte[] probe = new byte[1];
                long rd = mm.CopyIn(x, probe);
                Expect(rd == (pm.Prot != PROT_NONE ? 0 : -(long)Errno.EFAULT), $"page {x:x} prot {pm.Prot}: CopyIn returned {rd}");
            }
            for (int i = 0; i < WindowPages; i++)
            {
                ulong x = Window + (ulong)i * P;
                if (!model.ContainsKey(x)) Expect(mm.CopyIn(x, new byte[1]) == -(long)Errno.EFAULT, $"unmapped page {x:x} readable");
            }
            space.Changeable = true;
        }
        live?.Dispose();
        string? atEnd = MmChecks.Violation(mm, space, file);
        if (atEnd != null) Fail("after the last child: " + atEnd);
    }

    private static string Pages(IEnumerable<ulong> pages) =>
        string.Join(",", pages.Select(x => x >= Window ? $"w+{(x - Window) / P}" : $"{x:x}"));

    [Fact]
    public void RandomOps_AgreeWithThePageModel_FsCheck()
    {
        var property = Prop.ForAll(ArbMap.Default.ArbFor<int[]>(), (int[] xs) => Run(Decode(xs)));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300).WithEndSize(400), property);
    }

    [Fact]
    public void RandomOps_AgreeWithThePageModel_LongSequences()
    {
        for (int seed = 1; seed <= 20; seed++)
        {
            var rng = new Random(seed);
            var ops = Enumerable.Range(0, 250).Select(_ => RandomOp(rng)).ToList();
            try
            {
                Run(ops);
            }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException($"seed {seed}: {e.Message}", e);
            }
        }
    }
}
