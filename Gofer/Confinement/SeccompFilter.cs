using Sandbox.Abi;
using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement;

/// <summary>Compiles a <see cref="SeccompPolicy"/> into a seccomp BPF program, checks that a
/// program is well formed, and installs one on every thread of the process.
///
/// Layout of the program:
/// <code>
/// 0000: A = arch
/// 0001: if (A != 0xc000003e) goto 0004      (any other ABI is killed)
/// 0002: A = sys_number
/// 0003: if (A &lt; 0x40000000) goto 0005     (x32 syscalls share the arch value: killed)
/// 0004: return KILL_PROCESS
/// 0005: if (A != read) goto 0007            (one block per rule, in policy order)
/// 0006: return ALLOW
/// ...
/// NNNN: return ERRNO(EPERM)                 (the default)
/// </code>
/// Each rule's block is entered only on its syscall number and ends in a return, so A still
/// holds the number when the next block starts, and no jump is ever longer than one block.
/// The kernel (5.11+) caches the verdict of the rules that do not look at arguments.</summary>
public static class SeccompFilter
{
    /// <summary>Index of the instruction that kills the process on a foreign ABI.</summary>
    public const int KillIndex = 4;

    public static SockFilter[] Compile(SeccompPolicy policy)
    {
        CheckPolicy(policy);
        var p = new BpfProgram();
        var kill = p.NewLabel();
        var native = p.NewLabel();
        p.Load(SECCOMP_DATA_ARCH);
        p.JumpIf(BPF_JEQ, AUDIT_ARCH_X86_64, null, kill);
        p.Load(SECCOMP_DATA_NR);
        p.JumpIf(BPF_JGE, X32_SYSCALL_BIT, null, native);
        p.Mark(kill);
        p.Return(SECCOMP_RET_KILL_PROCESS);
        p.Mark(native);

        uint eperm = ErrnoAction(Abi.Errno.EPERM);
        foreach (SeccompRule rule in policy.Rules)
        {
            var next = p.NewLabel();
            p.JumpIf(BPF_JEQ, (uint)rule.Syscall, null, next);
            uint argLow = SECCOMP_DATA_ARGS + 8 * (uint)rule.Arg;
            switch (rule.Kind)
            {
                case SeccompRuleKind.Allow:
                    p.Return(SECCOMP_RET_ALLOW);
                    break;
                case SeccompRuleKind.Deny:
                    p.Return(ErrnoAction(rule.Errno));
                    break;
                case SeccompRuleKind.AllowIfArgIn:
                    p.Load(argLow);
                    foreach (uint v in rule.Values) // an array: no generic enumerator to JIT-compile in the gofer
                    {
                        var notThis = p.NewLabel();
                        p.JumpIf(BPF_JEQ, v, null, notThis);
                        p.Return(SECCOMP_RET_ALLOW);
                        p.Mark(notThis);
                    }
                    p.Return(eperm);
                    break;
                case SeccompRuleKind.AllowIfArgMaskEquals:
                    var refuse = p.NewLabel();
                    p.Load(argLow);
                    p.And(rule.Values[0]);
                    p.JumpIf(BPF_JEQ, rule.Values[1], null, refuse);
                    p.Return(SECCOMP_RET_ALLOW);
                    p.Mark(refuse);
                    p.Return(eperm);
                    break;
                default:
                    throw new ArgumentException($"unknown seccomp rule kind {rule.Kind}");
            }
            p.Mark(next);
        }
        p.Return(ErrnoAction(policy.DefaultErrno));
        return p.Build();
    }

    private static uint ErrnoAction(Errno e) => SECCOMP_RET_ERRNO | ((uint)e & SECCOMP_RET_DATA);

    /// <summary>Rejects policies that name a syscall twice or carry malformed argument checks.</summary>
    public static void CheckPolicy(SeccompPolicy policy)
    {
        var seen = new bool[SyscallNumbers.Count];
        foreach (SeccompRule rule in policy.Rules)
        {
            if ((int)rule.Syscall < 0 || (int)rule.Syscall >= SyscallNumbers.Count)
            {
                throw new ArgumentException($"seccomp policy: {rule.Syscall} is not an x86-64 syscall number");
            }
            if (seen[(int)rule.Syscall])
            {
                throw new ArgumentException($"seccomp policy names {rule.Syscall} twice");
            }
            seen[(int)rule.Syscall] = true;
            bool argsOk = rule.Kind switch
            {
                SeccompRuleKind.AllowIfArgIn => rule.Values.Length > 0 && rule.Arg is >= 0 and < 6,
                SeccompRuleKind.AllowIfArgMaskEquals => rule.Values.Length == 2 && rule.Arg is >= 0 and < 6,
                _ => true,
            };
            if (!argsOk)
            {
                throw new ArgumentException($"seccomp policy: malformed argument check for {rule.Syscall}");
            }
        }
    }

    /// <summary>Everything wrong with a program, empty when it is well formed: a length the
    /// kernel accepts, only the instructions seccomp allows, loads inside seccomp_data, every
    /// jump inside the program, a return at the end, and the architecture checked first
    /// with a mismatch killing the process. (An array, as everywhere on the gofer's start-up
    /// path: IReadOnlyList&lt;SockFilter&gt; would JIT-compile its interface methods first.)</summary>
    public static List<string> Verify(SockFilter[] program)
    {
        var problems = new List<string>();
        if (program.Length is < 1 or > BPF_MAXINSNS)
        {
            problems.Add($"length {program.Length} is outside 1..{BPF_MAXINSNS}");
            return problems;
        }
        for (int pc = 0; pc < program.Length; pc++)
        {
            SockFilter i = program[pc];
            switch (i.Code)
            {
                case BPF_LD | BPF_W | BPF_ABS:
                    if (i.K % 4 != 0 || i.K >= SECCOMP_DATA_SIZE) problems.Add($"{pc:D4}: load outside seccomp_data ({i.K})");
                    break;
                case BPF_ALU | BPF_AND | BPF_K:
                case BPF_RET | BPF_K:
                    break;
                case BPF_JMP | BPF_JA:
                    if (pc + 1L + i.K >= program.Length) problems.Add($"{pc:D4}: goto past the end");
                    break;
                case BPF_JMP | BPF_JEQ | BPF_K:
                case BPF_JMP | BPF_JGT | BPF_K:
                case BPF_JMP | BPF_JGE | BPF_K:
                case BPF_JMP | BPF_JSET | BPF_K:
                    if (pc + 1 + i.Jt >= program.Length || pc + 1 + i.Jf >= program.Length)
                    {
                        problems.Add($"{pc:D4}: conditional jump past the end");
                    }
                    break;
                default:
                    problems.Add($"{pc:D4}: instruction 0x{i.Code:x4} is not one this filter uses");
                    break;
            }
        }
        if (program[^1].Code != (BPF_RET | BPF_K)) problems.Add("the last instruction is not a return");
        bool archFirst = program.Length > 2
            && program[0] == new SockFilter(BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_DATA_ARCH)
            && program[1].Code == (BPF_JMP | BPF_JEQ | BPF_K) && program[1].K == AUDIT_ARCH_X86_64 && program[1].Jt == 0;
        if (!archFirst)
        {
            problems.Add("the program does not start by checking the architecture is x86-64");
        }
        else
        {
            int mismatch = 2 + program[1].Jf;
            if (mismatch >= program.Length || program[mismatch] != new SockFilter(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS))
            {
                problems.Add("a foreign architecture does not kill the process");
            }
        }
        return problems;
    }

    /// <summary>The program in readable form, one line per instruction.</summary>
    public static IEnumerable<string> Dump(IReadOnlyList<SockFilter> program) => BpfDisassembler.Disassemble(program);

    /// <summary>Installs program on every thread of the process: no_new_privs, then
    /// seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC).</summary>
    public static void Install(SockFilter[] program)
    {
        List<string> problems = Verify(program);
        if (problems.Count > 0) throw new ConfinementException($"refusing a malformed seccomp program: {problems[0]}");
        try
        {
            Seccomp.SetNoNewPrivs();
        }
        catch (HostException e)
        {
            throw new ConfinementException(e.Message);
        }
        long r = SetModeFilter(SECCOMP_FILTER_FLAG_TSYNC, program);
        if (r < 0) throw new ConfinementException($"seccomp(SECCOMP_SET_MODE_FILTER): {new HostException("seccomp", HostError.Last).Message}");
        if (r > 0) throw new ConfinementException($"seccomp: thread {r} could not be given the filter (TSYNC)");
    }
}
