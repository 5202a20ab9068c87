using Sandbox.Abi;

namespace Sandbox.Gofer.Confinement;

/// <summary>What a rule does with a system call.</summary>
public enum SeccompRuleKind
{
    /// <summary>Allowed whatever the arguments.</summary>
    Allow,

    /// <summary>Allowed when the low 32 bits of argument <see cref="SeccompRule.Arg"/> are one
    /// of <see cref="SeccompRule.Values"/>; refused with EPERM otherwise.</summary>
    AllowIfArgIn,

    /// <summary>Allowed when the low 32 bits of argument <see cref="SeccompRule.Arg"/>, masked
    /// with <see cref="SeccompRule.Values"/>[0], equal <see cref="SeccompRule.Values"/>[1];
    /// refused with EPERM otherwise.</summary>
    AllowIfArgMaskEquals,

    /// <summary>Refused with <see cref="SeccompRule.Errno"/> (listed explicitly so that no
    /// later change of the default can let it through).</summary>
    Deny,
}

/// <summary>One line of a seccomp policy: a syscall, what to do with it and why.</summary>
public sealed record SeccompRule(SyscallNumber Syscall, SeccompRuleKind Kind, string Why)
{
    public int Arg { get; init; }
    public uint[] Values { get; init; } = NoValues;

    private static readonly uint[] NoValues = new uint[0];
    public Errno Errno { get; init; } = Errno.EPERM;
}

/// <summary>A seccomp policy as data: the rules in the order they are checked, and what
/// happens to every other syscall.</summary>
public sealed record SeccompPolicy(IReadOnlyList<SeccompRule> Rules, Errno DefaultErrno);
