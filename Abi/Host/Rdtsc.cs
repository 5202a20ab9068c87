namespace Sandbox.Abi.Host;

/// <summary>Reads the host's time-stamp counter. .NET has no intrinsic for it, so this is a
/// four-instruction function emitted into an executable page of our own.</summary>
public static unsafe class Rdtsc
{
    // rdtsc; shl rdx, 32; or rax, rdx; ret
    private static readonly byte[] Code = [0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];
    private static readonly delegate* unmanaged<ulong> Read = Emit();

    private static delegate* unmanaged<ulong> Emit()
    {
        const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
        nint page = Mman.Mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == Mman.MapFailed) throw new HostException("mmap(rdtsc)", HostError.Last);
        Code.CopyTo(new Span<byte>((void*)page, Code.Length));
        if (Mman.Mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) throw new HostException("mprotect(rdtsc)", HostError.Last);
        return (delegate* unmanaged<ulong>)page;
    }

    public static ulong Now() => Read();
}
