using Sandbox.Abi;
using Sandbox.Sentry.Syscalls;

namespace Sandbox.Sentry.Kernel;

/// <summary>Syscall dispatch: table lookup, the handler, --strace, the result into rax.</summary>
public sealed partial class Task
{
    private void HandleSyscall()
    {
        long nr = (long)Regs.OrigRax;
        var args = new SyscallArgs(Regs.Rdi, Regs.Rsi, Regs.Rdx, Regs.R10, Regs.R8, Regs.R9);
        SyscallEntry entry = SyscallTable.Lookup(nr);
        bool strace = Kernel.Config.Strace;
        long result;
        if (entry.Handler == null)
        {
            Kernel.LogUnimplemented((int)nr, entry.Name);
            result = -(long)Errno.ENOSYS;
        }
        else
        {
            // exit and exit_group never return: trace them first.
            if (strace && nr is (long)SyscallNumber.exit or (long)SyscallNumber.exit_group)
                Kernel.Log.Line(Strace.Strace.Format(this, entry, args, null));
            try
            {
                result = entry.Handler(this, args);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A Sentry bug must not take the sandbox down: the guest gets EIO, the log the stack.
                Kernel.Log.Warning($"[{Tid}] {entry.Name} failed inside the Sentry: {e}");
                result = -(long)Errno.EIO;
            }
            if (Exit != null) return;
        }
        if (strace) Kernel.Log.Line(Strace.Strace.Format(this, entry, args, result));
        Regs.Rax = (ulong)result;
    }
}
