using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Seccomp;

namespace Sandbox.Gofer.Confinement;

/// <summary>A place in a <see cref="BpfProgram"/> that jumps can name before it is marked.</summary>
public sealed class BpfLabel
{
    internal int Position = -1;
}

/// <summary>Assembles a classic BPF program for seccomp: instructions are appended in order,
/// jumps name labels, and <see cref="Build"/> turns labels into the 8-bit forward offsets
/// the kernel wants (failing loudly if one does not fit).</summary>
public sealed class BpfProgram
{
    // Parallel arrays, not a List of tuples: the gofer compiles its filter at start-up, where
    // generic code over value types would first be JIT-compiled.
    private SockFilter[] _insns = new SockFilter[512];
    private BpfLabel?[] _true = new BpfLabel?[512];
    private BpfLabel?[] _false = new BpfLabel?[512];

    public int Count { get; private set; }

    public BpfLabel NewLabel() => new();

    /// <summary>Marks label as the position of the next instruction.</summary>
    public void Mark(BpfLabel label)
    {
        if (label.Position >= 0) throw new InvalidOperationException("BPF label marked twice");
        label.Position = Count;
    }

    /// <summary>A = seccomp_data[offset] (32 bits).</summary>
    public void Load(uint offset) => Add(new SockFilter(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset));

    /// <summary>A &amp;= k.</summary>
    public void And(uint k) => Add(new SockFilter(BPF_ALU | BPF_AND | BPF_K, 0, 0, k));

    /// <summary>return action.</summary>
    public void Return(uint action) => Add(new SockFilter(BPF_RET | BPF_K, 0, 0, action));

    /// <summary>if (A op k) goto whenTrue else goto whenFalse; a null label is the next instruction.</summary>
    public void JumpIf(ushort op, uint k, BpfLabel? whenTrue, BpfLabel? whenFalse) =>
        Add(new SockFilter((ushort)(BPF_JMP | op | BPF_K), 0, 0, k), whenTrue, whenFalse);

    /// <summary>goto target.</summary>
    public void Goto(BpfLabel target) => Add(new SockFilter(BPF_JMP | BPF_JA, 0, 0, 0), target, null);

    private void Add(SockFilter insn, BpfLabel? whenTrue = null, BpfLabel? whenFalse = null)
    {
        if (Count == _insns.Length)
        {
            Array.Resize(ref _insns, 2 * Count);
            Array.Resize(ref _true, 2 * Count);
            Array.Resize(ref _false, 2 * Count);
        }
        _insns[Count] = insn;
        _true[Count] = whenTrue;
        _false[Count] = whenFalse;
        Count++;
    }

    /// <summary>The finished program with every jump resolved.</summary>
    public SockFilter[] Build()
    {
        var result = new SockFilter[Count];
        for (int pc = 0; pc < Count; pc++)
        {
            SockFilter insn = _insns[pc];
            BpfLabel? whenTrue = _true[pc], whenFalse = _false[pc];
            if ((insn.Code & 0x07) == BPF_JMP)
            {
                if ((insn.Code & 0xf0) == BPF_JA)
                {
                    insn = insn with { K = (uint)Offset(pc, whenTrue!, int.MaxValue) };
                }
                else
                {
                    insn = insn with { Jt = (byte)Offset(pc, whenTrue, 255), Jf = (byte)Offset(pc, whenFalse, 255) };
                }
            }
            result[pc] = insn;
        }
        return result;
    }

    private int Offset(int pc, BpfLabel? label, int max)
    {
        if (label is null) return 0;
        if (label.Position < 0) throw new InvalidOperationException($"BPF label used at {pc} was never marked");
        int offset = label.Position - pc - 1;
        if (offset < 0 || offset > max || label.Position >= Count)
        {
            throw new InvalidOperationException($"BPF jump at {pc} to {label.Position} does not fit (offset {offset}, max {max})");
        }
        return offset;
    }
}
