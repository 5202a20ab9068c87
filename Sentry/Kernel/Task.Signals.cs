using Sandbox.Abi;

namespace Sandbox.Sentry.Kernel;

/// <summary>Signal state. For now it is recorded only; delivery comes with the signals work.</summary>
public sealed partial class Task
{
    /// <summary>rt_sigaction state, indexed by signal number (0 unused).</summary>
    public KernelSigaction[] SignalActions { get; } = new KernelSigaction[Signals.SIGRTMAX + 1];

    /// <summary>Blocked signals; bit (sig-1). SIGKILL and SIGSTOP can never be blocked.</summary>
    public ulong SignalMask { get; set; }

    /// <summary>Puts back the mask a ppoll/pselect/sigsuspend replaced. When the wait was
    /// interrupted by a signal the old mask is restored only after the handler runs, so the
    /// signal the temporary mask let through is delivered first.</summary>
    public void RestoreMaskAfterSignal(ulong old, bool interrupted)
    {
        if (interrupted) SavedMaskForHandler = old;
        else SignalMask = old;
    }

    /// <summary>A mask to restore once the pending handler frame has been set up.</summary>
    public ulong? SavedMaskForHandler { get; set; }

    public static ulong SignalBit(int sig) => 1UL << (sig - 1);

    public static readonly ulong UnblockableSignals = SignalBit(Signals.SIGKILL) | SignalBit(Signals.SIGSTOP);
}
