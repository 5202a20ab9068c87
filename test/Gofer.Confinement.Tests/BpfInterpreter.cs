using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement.Tests;

/// <summary>Runs a seccomp BPF program on a struct seccomp_data, as the kernel would, to
/// check what the filter decides without installing it.</summary>
public static class BpfInterpreter
{
    public static uint Run(IReadOnlyList<SockFilter> program, int nr, ulong[]? args = null,
        uint arch = AUDIT_ARCH_X86_64, ulong ip = 0x401000)
    {
        var data = new byte[SECCOMP_DATA_SIZE];
        BitConverter.TryWriteBytes(data.AsSpan(0), nr);
        BitConverter.TryWriteBytes(data.AsSpan(4), arch);
        BitConverter.TryWriteBytes(data.AsSpan(8), ip);
        for (int i = 0; i < 6; i++) BitConverter.TryWriteBytes(data.AsSpan(16 + 8 * i), args is not null && i < args.Length ? args[i] : 0UL);

        uint a = 0;
        for (int pc = 0, steps = 0; pc < program.Count; pc++, steps++)
        {
            if (steps > program.Count) throw new InvalidOperationException("BPF program loops");
            SockFilter insn = program[pc];
            switch (insn.Code)
            {
                case BPF_LD | BPF_W | BPF_ABS:
                    a = BitConverter.ToUInt32(data, (int)insn.K);
                    break;
                case BPF_ALU | BPF_AND | BPF_K:
                    a &= insn.K;
                    break;
                case BPF_RET | BPF_K:
                    return insn.K;
                case BPF_JMP | BPF_JA:
                    pc += (int)insn.K;
                    break;
                case BPF_JMP | BPF_JEQ | BPF_K:
                    pc += a == insn.K ? insn.Jt : insn.Jf;
                    break;
                case BPF_JMP | BPF_JGT | BPF_K:
                    pc += a > insn.K ? insn.Jt : insn.Jf;
                    break;
                case BPF_JMP | BPF_JGE | BPF_K:
                    pc += a >= insn.K ? insn.Jt : insn.Jf;
                    break;
                case BPF_JMP | BPF_JSET | BPF_K:
                    pc += (a & insn.K) != 0 ? insn.Jt : insn.Jf;
                    break;
                default:
                    throw new InvalidOperationException($"instruction 0x{insn.Code:x4} at {pc}");
            }
        }
        throw new InvalidOperationException("fell off the end of the BPF program");
    }
}
