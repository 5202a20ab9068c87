using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>execve(2): replacing the process image (the gofer re-executes itself once its
/// confinement is in place so that every runtime thread starts inside it).</summary>
public static unsafe partial class Exec
{
    public const uint CLOSE_RANGE_UNSHARE = 2, CLOSE_RANGE_CLOEXEC = 4;
    private const long SYS_close_range = 436;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a0, nint a1, nint a2);

    /// <summary>close_range(2): with CLOSE_RANGE_CLOEXEC, marks [first, last] close-on-exec instead of closing.</summary>
    public static int CloseRange(uint first, uint last, uint flags) =>
        (int)Syscall(SYS_close_range, (nint)first, (nint)last, (nint)flags);

    /// <summary>Marks every descriptor close-on-exec except 0, 1, 2 and those in keep, so that
    /// nothing inherited by accident (a directory outside a new root, say) survives execve.</summary>
    public static void CloseOnExecAllBut(IEnumerable<int> keep)
    {
        uint next = 3;
        foreach (int fd in keep.Where(f => f >= 3).Distinct().Order())
        {
            if (fd > next) HostError.Check(CloseRange(next, (uint)fd - 1, CLOSE_RANGE_CLOEXEC), "close_range");
            next = (uint)fd + 1;
        }
        HostError.Check(CloseRange(next, uint.MaxValue, CLOSE_RANGE_CLOEXEC), "close_range");
    }

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    private static partial int Execve(byte* path, byte** argv, byte** envp);

    /// <summary>Replaces the process image; returns only on failure, with the errno.</summary>
    public static int Execve(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        var handles = new List<GCHandle>();
        try
        {
            byte* Pin(string s)
            {
                byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
                System.Text.Encoding.UTF8.GetBytes(s, bytes);
                var h = GCHandle.Alloc(bytes, GCHandleType.Pinned);
                handles.Add(h);
                return (byte*)h.AddrOfPinnedObject();
            }
            byte** args = stackalloc byte*[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++) args[i] = Pin(argv[i]);
            args[argv.Count] = null;
            byte** env = (byte**)NativeMemory.Alloc((nuint)(envp.Count + 1), (nuint)sizeof(byte*));
            try
            {
                for (int i = 0; i < envp.Count; i++) env[i] = Pin(envp[i]);
                env[envp.Count] = null;
                Execve(Pin(path), args, env);
                return HostError.Last;
            }
            finally
            {
                NativeMemory.Free(env);
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }
}
