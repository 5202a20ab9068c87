using System.Runtime.InteropServices;

namespace Sandbox.Abi.Host;

/// <summary>The process's host identity and root: credentials and chroot. The credential
/// calls go through glibc on purpose: Linux keeps credentials per thread, and glibc's wrappers
/// apply a change to every thread of the process (its setxid broadcast), which a raw syscall
/// would not.</summary>
public static unsafe partial class Identity
{
    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    public static partial int SetResUid(uint ruid, uint euid, uint suid);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    public static partial int SetResGid(uint rgid, uint egid, uint sgid);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    public static partial int SetGroups(nuint size, uint* list);

    /// <summary>chroot(2); the root directory is shared by every thread (CLONE_FS).</summary>
    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chroot(string path);

    /// <summary>mkdtemp(3): template ends in XXXXXX, replaced in place.</summary>
    [LibraryImport("libc", EntryPoint = "mkdtemp", SetLastError = true)]
    public static partial byte* Mkdtemp(byte* template);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);
}
