using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>ptrace(2) and waitpid(2) on the host.</summary>
public static partial class Ptrace
{
    public const int PTRACE_TRACEME = 0, PTRACE_PEEKDATA = 2, PTRACE_POKEDATA = 5, PTRACE_CONT = 7, PTRACE_KILL = 8;
    public const int PTRACE_SINGLESTEP = 9, PTRACE_GETREGS = 12, PTRACE_SETREGS = 13, PTRACE_GETFPREGS = 14;
    public const int PTRACE_SETFPREGS = 15, PTRACE_ATTACH = 16, PTRACE_DETACH = 17, PTRACE_SYSCALL = 24;
    public const int PTRACE_SYSEMU = 31, PTRACE_SETOPTIONS = 0x4200, PTRACE_GETSIGINFO = 0x4202;
    public const int PTRACE_GETREGSET = 0x4204, PTRACE_SETREGSET = 0x4205, PTRACE_SEIZE = 0x4206, PTRACE_INTERRUPT = 0x4207;
    public const int PTRACE_O_TRACESYSGOOD = 1, PTRACE_O_EXITKILL = 0x100000;
    public const int WNOHANG = 1, WUNTRACED = 2, __WALL = 0x40000000;

    [LibraryImport("libc", EntryPoint = "ptrace", SetLastError = true)]
    public static partial long Call(long request, int pid, nint addr, nint data);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static unsafe partial int WaitPid(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "wait4", SetLastError = true)]
    public static unsafe partial int Wait4(int pid, int* status, int options, Rusage* usage);

    public static bool WIfExited(int s) => (s & 0x7f) == 0;
    public static int WExitStatus(int s) => (s >> 8) & 0xff;
    public static bool WIfSignaled(int s) => ((s & 0x7f) + 1) >> 1 > 0 && (s & 0x7f) != 0x7f && (s & 0x7f) != 0;
    public static int WTermSig(int s) => s & 0x7f;
    public static bool WIfStopped(int s) => (s & 0xff) == 0x7f;
    public static int WStopSig(int s) => (s >> 8) & 0xff;
}
