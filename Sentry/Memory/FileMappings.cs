using System.Runtime.CompilerServices;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Memory;

/// <summary>The address spaces with shared mappings of one file's pages (<see cref="IMappablePages"/>),
/// so that a file that shrinks can take the pages past its new end away from them: an access
/// there then raises SIGBUS, as on Linux. Address spaces are held weakly; a stale entry costs
/// one look through its VMAs.</summary>
public sealed class FileMappings
{
    private readonly ConditionalWeakTable<MemoryManager, object> _users = new();

    /// <summary>Records that mm maps some of the pages (idempotent).</summary>
    public void Add(MemoryManager mm) => _users.TryAdd(mm, this);

    /// <summary>The file is now <paramref name="size"/> bytes long: every mapping drops the
    /// pages wholly past it. Called without the file's own lock held (the address spaces
    /// take their locks, and then the file's to read its size).</summary>
    public void FileShrunk(IMappablePages pages, long size)
    {
        long firstGone = (size + (long)Abi.Mm.PageSize - 1) / (long)Abi.Mm.PageSize;
        foreach (var (mm, _) in _users) mm.DropFilePages(pages, firstGone);
    }
}
