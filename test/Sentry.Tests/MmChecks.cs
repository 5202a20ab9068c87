using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Sentry.Memory;

namespace Sandbox.Sentry.Tests;

/// <summary>Invariants that must hold between the VMA list, the platform's view and the
/// MemoryFile after any sequence of memory operations.</summary>
public static class MmChecks
{
    private const ulong Page = Mm.PageSize;

    /// <summary>Returns a description of the first broken invariant, or null. Without
    /// <paramref name="accounting"/> the MemoryFile may hold other address spaces' pages too.</summary>
    public static string? Violation(MemoryManager mm, FakeAddressSpace space, MemoryFile file, bool accounting = true)
    {
        var vmas = mm.Vmas;
        ulong mapped = 0;
        var offsets = new HashSet<long>();
        var objects = new HashSet<MemoryManager.SharedPages>(ReferenceEqualityComparer.Instance);
        var expected = new SortedDictionary<ulong, (long, int)>();
        for (int i = 0; i < vmas.Count; i++)
        {
            Vma v = vmas[i];
            if (v.Start % Page != 0 || v.End % Page != 0 || v.FileOffset % (long)Page != 0)
                return $"VMA {v} is not page aligned";
            if (v.Start >= v.End) return $"VMA {v} is empty";
            if (v.Start < MemoryManager.MinAddress || v.End > mm.MaxAddress) return $"VMA {v} outside the user range";
            if (i > 0 && vmas[i - 1].End > v.Start) return $"VMAs {vmas[i - 1]} and {v} are unsorted or overlap";
            if (v.Cow && !v.OwnsPages) return $"VMA {v} is copy-on-write but has no pages of its own";
            if (!v.Installed) continue; // no pages: nothing held, nothing installed
            if (v.FileOffset < 0 || v.FileOffset + (long)v.Length > file.Size) return $"VMA {v} outside the MemoryFile";
            // A shared memory object holds all its pages while any piece maps some of them.
            if (v.Shared && v.Backing is { } obj && objects.Add(obj)) mapped += (ulong)obj.Length;
            for (ulong a = v.Start; a < v.End; a += Page)
            {
                // Only shared pages (an mremap duplicate) and a file's (its own, or the file cache's) may back two guest pages.
                if (offsets.Add(v.OffsetOf(a))) mapped += v.Shared && v.Backing != null ? 0 : Page;
                else if (!v.Shared && !v.FileOwned && !v.FromFileCache) return $"file page {v.OffsetOf(a):x} backs two guest pages (at {a:x})";
                expected[a] = (v.OffsetOf(a), v.InstalledProt);
            }
        }
        if (accounting && (long)mapped != file.Allocated) return $"MemoryFile.Allocated {file.Allocated:x} != mapped bytes {mapped:x}";
        foreach (var (a, want) in expected)
        {
            if (!space.Pages.TryGetValue(a, out var got)) return $"page {a:x} is in a VMA but not installed";
            if (got != want) return $"page {a:x} installed as (off {got.Offset:x}, prot {got.Prot}) but VMA says (off {want.Item1:x}, prot {want.Item2})";
        }
        foreach (var a in space.Pages.Keys)
            if (!expected.ContainsKey(a)) return $"page {a:x} is installed but in no VMA";
        return null;
    }

    public static void AssertConsistent(MemoryManager mm, FakeAddressSpace space, MemoryFile file)
    {
        string? v = Violation(mm, space, file);
        Assert.True(v == null, v + "\nVMAs:\n" + string.Join("\n", mm.Vmas));
    }
}
