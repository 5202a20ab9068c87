using System.Buffers.Binary;
using Sandbox.Platform.Ptrace;

namespace Sandbox.Platform.Tests;

public sealed class StubElfTests
{
    private const uint PT_LOAD = 1, PF_X = 1, PF_W = 2, PF_R = 4;
    private readonly byte[] _image = StubElf.Build();

    private ushort U16(int at) => BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan(at));
    private uint U32(int at) => BinaryPrimitives.ReadUInt32LittleEndian(_image.AsSpan(at));
    private ulong U64(int at) => BinaryPrimitives.ReadUInt64LittleEndian(_image.AsSpan(at));

    [Fact]
    public void Header_IsAnElf64X86_64Executable()
    {
        Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, _image[..4]);
        Assert.Equal(2, _image[4]); // ELFCLASS64
        Assert.Equal(1, _image[5]); // ELFDATA2LSB
        Assert.Equal(1, _image[6]); // EV_CURRENT
        Assert.Equal(2, U16(16));   // ET_EXEC
        Assert.Equal(0x3e, U16(18)); // EM_X86_64
        Assert.Equal(1u, U32(20));  // e_version
        Assert.Equal(64, U16(52));  // e_ehsize
        Assert.Equal(56, U16(54));  // e_phentsize
    }

    [Fact]
    public void Image_FitsInOnePage()
    {
        Assert.InRange(_image.Length, 64 + 56, (int)StubElf.Size);
        Assert.Equal(0UL, StubElf.Base % 0x1000);
    }

    [Fact]
    public void Entry_IsInsideTheStubPageAndTheFile()
    {
        ulong entry = U64(24);
        Assert.InRange(entry, StubElf.Base, StubElf.Base + StubElf.Size - 1);
        Assert.InRange(entry - StubElf.Base, 64UL + 56, (ulong)_image.Length - 1);
    }

    [Fact]
    public void ProgramHeaders_LoadTheFileAtBase_ReadExecute()
    {
        ulong phoff = U64(32);
        int phnum = U16(56);
        Assert.True(phnum >= 1);
        Assert.True(phoff + (ulong)phnum * 56 <= (ulong)_image.Length);
        var loads = new List<int>();
        for (int i = 0; i < phnum; i++)
        {
            int ph = (int)phoff + i * 56;
            if (U32(ph) == PT_LOAD) loads.Add(ph);
        }
        int load = Assert.Single(loads);
        uint flags = U32(load + 4);
        Assert.Equal(PF_R | PF_X, flags & (PF_R | PF_W | PF_X));
        Assert.Equal(0UL, U64(load + 8));               // p_offset
        Assert.Equal(StubElf.Base, U64(load + 16));     // p_vaddr
        Assert.Equal((ulong)_image.Length, U64(load + 32)); // p_filesz
        Assert.InRange(U64(load + 40), (ulong)_image.Length, StubElf.Size); // p_memsz
    }

    [Fact]
    public void SyscallGadget_IsSyscallThenInt3()
    {
        Assert.InRange(StubElf.SyscallGadget, StubElf.Base, StubElf.Base + (ulong)_image.Length - 3);
        int at = (int)(StubElf.SyscallGadget - StubElf.Base);
        Assert.Equal(new byte[] { 0x0F, 0x05, 0xCC }, _image[at..(at + 3)]);
    }

    [Fact]
    public void CloneGadget_StartsWithSyscall()
    {
        int at = (int)(StubElf.CloneGadget - StubElf.Base);
        Assert.InRange(at, 64 + 56, _image.Length - 2);
        Assert.Equal(new byte[] { 0x0F, 0x05 }, _image[at..(at + 2)]);
    }

    [Fact]
    public void Build_IsDeterministic()
    {
        Assert.Equal(_image, StubElf.Build());
    }
}
