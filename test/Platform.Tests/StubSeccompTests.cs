using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sandbox.Abi;
using Sandbox.Gofer.Confinement.Tests;
using Sandbox.Platform.Ptrace;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Platform.Tests;

/// <summary>The stub's seccomp filter as data: well formed, trapping exactly the vsyscall page,
/// and embedded in the stub image where the stub's seccomp() call points.</summary>
public sealed class StubSeccompTests
{
    private static readonly SockFilter[] Program = StubSeccomp.Program.ToArray();
    private const uint AUDIT_ARCH_I386 = 0x40000003;

    private static uint Decide(ulong ip, int nr = (int)SyscallNumber.gettimeofday, uint arch = AUDIT_ARCH_X86_64) =>
        BpfInterpreter.Run(Program, nr, arch: arch, ip: ip);

    [Fact]
    public void ProgramIsWellFormed()
    {
        Assert.InRange(Program.Length, 1, BPF_MAXINSNS);
        Assert.Equal((ushort)(BPF_RET | BPF_K), Program[^1].Code);
        for (int pc = 0; pc < Program.Length; pc++)
        {
            SockFilter i = Program[pc];
            switch (i.Code & 0x07)
            {
                case BPF_JMP:
                    Assert.NotEqual((ushort)(BPF_JMP | BPF_JA), i.Code); // only conditional, forward jumps
                    Assert.True(pc + 1 + i.Jt < Program.Length && pc + 1 + i.Jf < Program.Length, $"jump at {pc} leaves the program");
                    break;
                case BPF_LD:
                    Assert.Equal((ushort)(BPF_LD | BPF_W | BPF_ABS), i.Code);
                    Assert.True(i.K % 4 == 0 && i.K < SECCOMP_DATA_SIZE, $"load at {pc} outside seccomp_data");
                    break;
                case BPF_RET:
                    Assert.Contains(i.K, new[] { SECCOMP_RET_ALLOW, SECCOMP_RET_TRAP, SECCOMP_RET_KILL_PROCESS });
                    break;
                case BPF_ALU:
                    break;
                default:
                    Assert.Fail($"unexpected instruction class at {pc}: 0x{i.Code:x4}");
                    break;
            }
        }
    }

    [Theory]
    [InlineData(Vsyscall.Gettimeofday)]
    [InlineData(Vsyscall.Time)]
    [InlineData(Vsyscall.Getcpu)]
    [InlineData(Vsyscall.VSYSCALL_ADDR + 0xfff)]
    public void CallsFromTheVsyscallPage_Trap(ulong ip)
    {
        Assert.Equal(SECCOMP_RET_TRAP, Decide(ip));
        Assert.Equal(SECCOMP_RET_TRAP, Decide(ip, (int)SyscallNumber.getcpu));
    }

    [Theory]
    [InlineData(Vsyscall.VSYSCALL_ADDR - 1)]
    [InlineData(Vsyscall.VSYSCALL_ADDR + Vsyscall.Size)]
    [InlineData(0x0000_0000_ff60_0000UL)]   // the page's low half alone
    [InlineData(0xffff_fffe_ff60_0000UL)]   // and its high half with another low one
    [InlineData(0x40_0000UL)]
    [InlineData(0UL)]
    public void CallsFromAnywhereElse_AreAllowed(ulong ip) => Assert.Equal(SECCOMP_RET_ALLOW, Decide(ip));

    [Fact]
    public void TheSentrysInjectedCalls_AreAllowed()
    {
        foreach (SyscallNumber nr in new[] { SyscallNumber.mmap, SyscallNumber.munmap, SyscallNumber.mprotect, SyscallNumber.exit })
            Assert.Equal(SECCOMP_RET_ALLOW, Decide(StubElf.SyscallGadget, (int)nr));
        Assert.Equal(SECCOMP_RET_ALLOW, Decide(StubElf.CloneGadget, (int)SyscallNumber.clone));
    }

    [Fact]
    public void AForeignArchitecture_KillsTheStub()
    {
        Assert.Equal(new SockFilter(BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_DATA_ARCH), Program[0]);
        Assert.Equal(SECCOMP_RET_KILL_PROCESS, Decide(StubElf.SyscallGadget, 20, AUDIT_ARCH_I386));
        Assert.Equal(SECCOMP_RET_KILL_PROCESS, Decide(Vsyscall.Gettimeofday, 20, AUDIT_ARCH_I386));
    }

    [Fact]
    public void VsyscallRecognition_MatchesWhatTheKernelReports()
    {
        Assert.True(StubSeccomp.InVsyscallPage(Vsyscall.Getcpu));
        Assert.False(StubSeccomp.InVsyscallPage(Vsyscall.VSYSCALL_ADDR + Vsyscall.Size));
        Assert.False(StubSeccomp.InVsyscallPage(Vsyscall.VSYSCALL_ADDR - 1));
        Assert.True(StubSeccomp.IsVsyscall((int)SyscallNumber.gettimeofday));
        Assert.True(StubSeccomp.IsVsyscall((int)SyscallNumber.time));
        Assert.True(StubSeccomp.IsVsyscall((int)SyscallNumber.getcpu));
        Assert.False(StubSeccomp.IsVsyscall((int)SyscallNumber.getpid));
    }

    [Fact]
    public void Image_HoldsTheFilterWhereItsFprogPoints()
    {
        byte[] image = StubElf.Build();
        int fprog = (int)(StubElf.SeccompFprogAddress - StubElf.Base);
        Assert.InRange(fprog, 0, image.Length - 16);
        Assert.Equal(0, fprog % 8);
        Assert.Equal(Program.Length, BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(fprog)));
        Assert.Equal(StubElf.SeccompFilterAddress, BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(fprog + 8)));

        int filter = (int)(StubElf.SeccompFilterAddress - StubElf.Base);
        int size = Program.Length * 8;
        Assert.InRange(filter, 0, image.Length - size);
        Assert.Equal(MemoryMarshal.AsBytes(Program.AsSpan()).ToArray(), image[filter..(filter + size)]);
    }
}
