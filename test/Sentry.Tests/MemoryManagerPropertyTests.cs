using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;
using static Sandbox.Abi.Mm;

namespace Sandbox.Sentry.Tests;

/// <summary>Random sequences of mmap/munmap/mprotect/madvise/mremap and guest writes in a
/// 64-page window, checked after every step against a page-by-page model: protections,
/// contents, what the platform has installed, and MemoryFile accounting.</summary>
public sealed unsafe class MemoryManagerPropertyTests
{
    private const ulong P = PageSize;
    private const int WindowPages = 64;
    private const ulong Window = 0x1000_0000;
    // MaxAddress is the window's end (and so is MmapBase, as the constructor sets it): fixed
    // mappings stay in the window and placed ones go top-down from its end.
    private const ulong Max = Window + WindowPages * P;
    private const int Anon = MAP_PRIVATE | MAP_ANONYMOUS;

    private enum Kind { MmapFixed, MmapNoReplace, MmapHint, Munmap, Mprotect, Madvise, Mremap, Write, Count }

    private readonly record struct Op(Kind Kind, int Page, int Pages, int Arg, int Arg2)
    {
        public ulong Addr => Window + (ulong)Page * P;

        public override string ToString() => Kind switch
        {
            Kind.Mremap => $"mremap(w+{Page}, {Pages}p, {Arg2}p, {((Arg & 1) != 0 ? "MAYMOVE" : "0")})",
            Kind.Write => $"write(w+{Page}{((Arg & 1) != 0 ? " end, 2 bytes" : "")}, 0x{Arg2:x2})",
            Kind.Madvise => $"madvise(w+{Page}, {Pages}p, DONTNEED)",
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

    private sealed record PageModel(int Prot, byte First, byte Last);

    /// <summary>Runs ops against a fresh MemoryManager; throws with the op log on the first
    /// disagreement with the model.</summary>
    private static void Run(IReadOnlyList<Op> ops)
    {
        using var file = new MemoryFile(16L << 20);
        var space = new FakeAddressSpace();
        using var mm = new MemoryManager(space, file, Max);
        var model = new SortedDictionary<ulong, PageModel>();
        var log = new StringBuilder();

        void Fail(string what) =>
            throw new InvalidOperationException($"{what}\nafter:\n{log}VMAs:\n{string.Join("\n", mm.Vmas)}");
        void Expect(bool ok, string what) { if (!ok) Fail(what); }

        bool AllMapped(ulong a, int n) => Enumerable.Range(0, n).All(i => model.ContainsKey(a + (ulong)i * P));
        bool AllFree(ulong a, int n) => Enumerable.Range(0, n).All(i => !model.ContainsKey(a + (ulong)i * P));
        void Remove(ulong a, int n) { for (int i = 0; i < n; i++) model.Remove(a + (ulong)i * P); }
        void Zero(ulong a, int n, int prot) { for (int i = 0; i < n; i++) model[a + (ulong)i * P] = new PageModel(prot, 0, 0); }

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
                    if (AllFree(a, n)) Expect(r == (long)a, $"mmap ignored the free hint: returned {r:x}");
                    Zero((ulong)r, n, op.Arg);
                    break;
                case Kind.Munmap:
                    r = mm.Munmap(a, len);
                    Expect(r == 0, $"munmap returned {r}");
                    Remove(a, n);
                    break;
                case Kind.Mprotect:
                    r = mm.Mprotect(a, len, op.Arg);
                    if (AllMapped(a, n))
                    {
                        Expect(r == 0, $"mprotect returned {r}");
                        for (int i = 0; i < n; i++) model[a + (ulong)i * P] = model[a + (ulong)i * P] with { Prot = op.Arg };
                    }
                    else Expect(r == -(long)Errno.ENOMEM, $"mprotect over a hole returned {r}");
                    break;
                case Kind.Madvise:
                    r = mm.Madvise(a, len, MADV_DONTNEED);
                    if (AllMapped(a, n))
                    {
                        Expect(r == 0, $"madvise returned {r}");
                        for (int i = 0; i < n; i++) model[a + (ulong)i * P] = model[a + (ulong)i * P] with { First = 0, Last = 0 };
                    }
                    else Expect(r == -(long)Errno.ENOMEM, $"madvise over a hole returned {r}");
                    break;
                case Kind.Mremap:
                    {
                        int newN = op.Arg2;
                        bool mayMove = (op.Arg & 1) != 0;
                        r = mm.Mremap(a, len, (ulong)newN * P, mayMove ? MREMAP_MAYMOVE : 0, 0);
                        if (!AllMapped(a, n)) { Expect(r == -(long)Errno.EFAULT, $"mremap of a hole returned {r}"); break; }
                        var old = Enumerable.Range(0, n).Select(i => model[a + (ulong)i * P]).ToArray();
                        int lastProt = old[^1].Prot;
                        ulong oldEnd = a + len, newEnd = a + (ulong)newN * P;
                        if (newN <= n)
                        {
                            Expect(r == (long)a, $"shrinking mremap returned {r:x}");
                            Remove(a + (ulong)newN * P, n - newN);
                        }
                        else if (newEnd <= Max && AllFree(oldEnd, newN - n))
                        {
                            Expect(r == (long)a, $"mremap that can grow in place returned {r:x}");
                            Zero(oldEnd, newN - n, lastProt);
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
                            for (int i = 0; i < n; i++) model[to + (ulong)i * P] = old[i];
                            Zero(to + len, newN - n, lastProt);
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
                            bool ok = model.TryGetValue(a, out var pm) && (pm.Prot & PROT_WRITE) != 0;
                            Expect(r == (ok ? 0 : -(long)Errno.EFAULT), $"write returned {r}");
                            if (ok) model[a] = pm! with { First = v };
                        }
                        else
                        {
                            ulong b = a + P;
                            r = mm.CopyOut(a + P - 1, [v, (byte)(v ^ 0xFF)]);
                            bool ok1 = model.TryGetValue(a, out var p1) && (p1.Prot & PROT_WRITE) != 0;
                            bool ok2 = model.TryGetValue(b, out var p2) && (p2.Prot & PROT_WRITE) != 0;
                            Expect(r == (ok1 && ok2 ? 0 : -(long)Errno.EFAULT), $"write across pages returned {r}");
                            if (ok1) model[a] = p1! with { Last = v }; // copied up to the fault
                            if (ok1 && ok2) model[b] = p2! with { First = (byte)(v ^ 0xFF) };
                        }
                        break;
                    }
                default:
                    throw new System.Diagnostics.UnreachableException();
            }
            log.Append(r < 0 && r > -4096 ? ((Errno)(int)-r).ToString() : $"0x{r:x}").Append('\n');

            // The structure: VMAs vs platform vs MemoryFile.
            string? broken = MmChecks.Violation(mm, space, file);
            if (broken != null) Fail(broken);
            // Page by page against the model.
            var vmaPages = new SortedDictionary<ulong, int>();
            foreach (Vma v in mm.Vmas)
                for (ulong x = v.Start; x < v.End; x += P) vmaPages[x] = v.Prot;
            Expect(vmaPages.Keys.SequenceEqual(model.Keys),
                $"mapped pages differ: VMAs {Pages(vmaPages.Keys)} model {Pages(model.Keys)}");
            foreach (var (x, pm) in model)
            {
                Expect(vmaPages[x] == pm.Prot, $"page {x:x}: prot {vmaPages[x]}, model {pm.Prot}");
                Expect(mm.TryTranslateKernel(x, P, out byte* h, out ulong avail) && avail == P, $"page {x:x} not translatable");
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
        }
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
