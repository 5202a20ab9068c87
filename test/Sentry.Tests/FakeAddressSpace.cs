using Sandbox.Abi;
using Sandbox.Platform;

namespace Sandbox.Sentry.Tests;

/// <summary>An <see cref="IAddressSpace"/> that only records what the MemoryManager installs,
/// page by page, the way the host would hold it after the injected mmap/munmap/mprotect.</summary>
public sealed class FakeAddressSpace : IAddressSpace
{
    public readonly record struct Call(string Op, ulong Addr, ulong Length, long FileOffset = 0, int Prot = 0);

    private const ulong Page = Mm.PageSize;

    public List<Call> Calls { get; } = [];

    /// <summary>What is installed: page address → (MemoryFile offset, prot).</summary>
    public SortedDictionary<ulong, (long Offset, int Prot)> Pages { get; } = [];

    public bool Disposed { get; private set; }

    /// <summary>What <see cref="CanChangeFromThisThread"/> answers (a test plays a foreign thread).</summary>
    public bool Changeable { get; set; } = true;

    public bool CanChangeFromThisThread => Changeable && !Disposed;

    public IContext MainContext => throw new NotSupportedException("no context in a fake address space");

    public IPendingThread NewThread() => throw new NotSupportedException("no threads in a fake address space");

    public void Map(ulong addr, ulong length, long fileOffset, int prot)
    {
        Check(addr, length);
        if (fileOffset < 0 || fileOffset % (long)Page != 0) throw new InvalidOperationException($"Map: bad file offset {fileOffset:x}");
        Calls.Add(new Call("map", addr, length, fileOffset, prot));
        for (ulong a = 0; a < length; a += Page) Pages[addr + a] = (fileOffset + (long)a, prot);
    }

    public void Unmap(ulong addr, ulong length)
    {
        Check(addr, length);
        Calls.Add(new Call("unmap", addr, length));
        for (ulong a = 0; a < length; a += Page) Pages.Remove(addr + a);
    }

    public void Protect(ulong addr, ulong length, int prot)
    {
        Check(addr, length);
        Calls.Add(new Call("protect", addr, length, 0, prot));
        // The host's mprotect fails with ENOMEM over a hole; the stub turns that into an exception.
        for (ulong a = 0; a < length; a += Page)
            if (!Pages.ContainsKey(addr + a))
                throw new InvalidOperationException($"Protect over unmapped page {addr + a:x}");
        for (ulong a = 0; a < length; a += Page) Pages[addr + a] = (Pages[addr + a].Offset, prot);
    }

    private void Check(ulong addr, ulong length)
    {
        if (Disposed) throw new ObjectDisposedException(nameof(FakeAddressSpace));
        if (addr % Page != 0 || length % Page != 0 || length == 0 || addr + length < addr)
            throw new InvalidOperationException($"unaligned or empty range {addr:x}+{length:x}");
    }

    public void Dispose() => Disposed = true;
}
