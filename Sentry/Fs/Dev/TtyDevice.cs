using Sandbox.Abi;
using Sandbox.Abi.Host;
using Sandbox.Sentry.Vfs;
using Task = Sandbox.Sentry.Kernel.Task;

namespace Sandbox.Sentry.Fs.Dev;

/// <summary>/dev/tty (5,0) and /dev/console (5,1): the controlling terminal, which is the
/// terminal runsc was started on (the first of its stdin, stdout, stderr that is a terminal);
/// without one, ENXIO as on Linux. The description shares that host terminal.</summary>
public static unsafe class TtyDevice
{
    public static void Register()
    {
        DeviceRegistry.Register(5, 0, Open);
        DeviceRegistry.Register(5, 1, Open);
    }

    private static bool IsTerminal(int hostFd)
    {
        KernelTermios t;
        return Unistd.Ioctl(hostFd, Ioctl.TCGETS, &t) == 0;
    }

    private static long Open(Task task, PathPos path, int flags, out FileDescription? file)
    {
        file = null;
        for (int hostFd = 0; hostFd <= 2; hostFd++)
        {
            if (!IsTerminal(hostFd)) continue;
            int dup = Unistd.Fcntl(hostFd, Fcntl.F_DUPFD_CLOEXEC, 3);
            if (dup < 0) return -HostError.Last;
            file = new HostFile(dup, hostFd, flags & (OpenFlags.O_ACCMODE | OpenFlags.O_APPEND | OpenFlags.O_NONBLOCK)) { Path = path };
            return 0;
        }
        return -(long)Errno.ENXIO;
    }
}
