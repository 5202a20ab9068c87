using System.Globalization;
using Sandbox.Abi;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement;

/// <summary>Prints a seccomp BPF program one line per instruction, in the style of
/// seccomp-tools' dump: <c>0000: A = arch</c>, <c>0001: if (A != 0xc000003e) goto 0003</c>,
/// with syscall names where A holds the syscall number.</summary>
public static class BpfDisassembler
{
    public static IEnumerable<string> Disassemble(IReadOnlyList<SockFilter> program)
    {
        uint?[] source = SourceOfA(program);
        for (int pc = 0; pc < program.Count; pc++)
        {
            SockFilter insn = program[pc];
            uint? loaded = source[pc];
            string text = insn.Code switch
            {
                BPF_LD | BPF_W | BPF_ABS => $"A = {Field(insn.K)}",
                BPF_ALU | BPF_AND | BPF_K => $"A &= {Hex(insn.K)}",
                BPF_RET | BPF_K => $"return {Action(insn.K)}",
                BPF_JMP | BPF_JA => $"goto {Target(pc, insn.K)}",
                BPF_JMP | BPF_JEQ | BPF_K => Conditional(pc, insn, "==", "!=", Value(loaded, insn.K)),
                BPF_JMP | BPF_JGT | BPF_K => Conditional(pc, insn, ">", "<=", Value(loaded, insn.K)),
                BPF_JMP | BPF_JGE | BPF_K => Conditional(pc, insn, ">=", "<", Value(loaded, insn.K)),
                BPF_JMP | BPF_JSET | BPF_K => insn.Jf == 0
                    ? $"if (A & {Hex(insn.K)}) goto {Target(pc, insn.Jt)}"
                    : insn.Jt == 0
                        ? $"if (!(A & {Hex(insn.K)})) goto {Target(pc, insn.Jf)}"
                        : $"if (A & {Hex(insn.K)}) goto {Target(pc, insn.Jt)} else goto {Target(pc, insn.Jf)}",
                _ => $"<code 0x{insn.Code:x4} jt {insn.Jt} jf {insn.Jf} k {Hex(insn.K)}>",
            };
            yield return $"{pc:D4}: {text}";
        }
    }

    private const uint Unknown = uint.MaxValue;

    /// <summary>For each instruction, the seccomp_data offset A holds when it runs, if every
    /// path reaching it agrees (null otherwise). Jumps only go forward, so one pass suffices.</summary>
    private static uint?[] SourceOfA(IReadOnlyList<SockFilter> program)
    {
        var state = new uint?[program.Count]; // null: not reached yet
        void Flow(long to, uint value)
        {
            if (to < 0 || to >= program.Count) return;
            state[to] = state[to] is null || state[to] == value ? value : Unknown;
        }
        if (program.Count > 0) state[0] = Unknown;
        for (int pc = 0; pc < program.Count; pc++)
        {
            SockFilter insn = program[pc];
            uint a = state[pc] ?? Unknown;
            switch (insn.Code & 0x07)
            {
                case BPF_LD when insn.Code == (BPF_LD | BPF_W | BPF_ABS):
                    Flow(pc + 1, insn.K);
                    break;
                case BPF_RET:
                    break;
                case BPF_JMP when (insn.Code & 0xf0) == BPF_JA:
                    Flow(pc + 1L + insn.K, a);
                    break;
                case BPF_JMP:
                    Flow(pc + 1 + insn.Jt, a);
                    Flow(pc + 1 + insn.Jf, a);
                    break;
                default:
                    Flow(pc + 1, Unknown);
                    break;
            }
        }
        return [.. state.Select(s => s == Unknown ? null : s)];
    }

    private static string Conditional(int pc, SockFilter insn, string op, string negated, string value) =>
        insn.Jt == 0
            ? $"if (A {negated} {value}) goto {Target(pc, insn.Jf)}"
            : insn.Jf == 0
                ? $"if (A {op} {value}) goto {Target(pc, insn.Jt)}"
                : $"if (A {op} {value}) goto {Target(pc, insn.Jt)} else goto {Target(pc, insn.Jf)}";

    private static string Target(int pc, uint offset) => (pc + 1 + offset).ToString("D4", CultureInfo.InvariantCulture);

    private static string Field(uint offset) => offset switch
    {
        SECCOMP_DATA_NR => "sys_number",
        SECCOMP_DATA_ARCH => "arch",
        SECCOMP_DATA_IP => "instruction_pointer",
        SECCOMP_DATA_IP + 4 => "instruction_pointer >> 32",
        >= SECCOMP_DATA_ARGS and < SECCOMP_DATA_SIZE when offset % 8 == 0 => $"args[{(offset - SECCOMP_DATA_ARGS) / 8}]",
        >= SECCOMP_DATA_ARGS and < SECCOMP_DATA_SIZE when offset % 8 == 4 => $"args[{(offset - SECCOMP_DATA_ARGS) / 8}] >> 32",
        _ => $"data[{offset}]",
    };

    private static string Value(uint? loaded, uint k) => loaded switch
    {
        SECCOMP_DATA_NR when k < SyscallNumbers.Count && Enum.IsDefined(typeof(SyscallNumber), (int)k) => ((SyscallNumber)(int)k).ToString(),
        _ when k < 10 => k.ToString(CultureInfo.InvariantCulture),
        _ => Hex(k),
    };

    private static string Hex(uint k) => "0x" + k.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>A seccomp return value by name: ALLOW, ERRNO(EPERM), KILL_PROCESS, ...</summary>
    public static string Action(uint ret)
    {
        uint data = ret & SECCOMP_RET_DATA;
        return (ret & SECCOMP_RET_ACTION_FULL) switch
        {
            SECCOMP_RET_ALLOW => "ALLOW",
            SECCOMP_RET_KILL_PROCESS => "KILL_PROCESS",
            SECCOMP_RET_KILL_THREAD => "KILL",
            SECCOMP_RET_LOG => "LOG",
            SECCOMP_RET_TRAP => $"TRAP({data})",
            SECCOMP_RET_TRACE => $"TRACE({data})",
            SECCOMP_RET_USER_NOTIF => "USER_NOTIF",
            SECCOMP_RET_ERRNO => Enum.IsDefined(typeof(Errno), (int)data) ? $"ERRNO({(Errno)(int)data})" : $"ERRNO({data})",
            _ => Hex(ret),
        };
    }
}
