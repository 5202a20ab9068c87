using System.Buffers.Binary;
using Sandbox.Abi.Host;
using static Sandbox.Abi.Host.Namespaces;
using OpenFlags = Sandbox.Abi.OpenFlags;
using Sys = Sandbox.Abi.SyscallNumber;

namespace Sandbox.Gofer.Confinement;

/// <summary>The host files the re-executed gofer needs to start and run: directories bound
/// whole (read-only) and single paths made resolvable with their symlink chains.</summary>
/// <param name="Directories">Outermost directories to bind at their host paths: the app's,
/// the .NET root (or the runtime's directory when self-contained), the executable's, and
/// those of the shared libraries the process has mapped (libc, libstdc++, ...).</param>
/// <param name="Paths">Paths to reproduce exactly, symlinks included: the ELF interpreter
/// named by the executable (/lib64/ld-linux-x86-64.so.2 is a chain of links on merged-/usr hosts).</param>
/// <param name="DotnetRoot">The .NET root of a framework-dependent app, for DOTNET_ROOT.</param>
internal sealed record RuntimeFiles(List<string> Directories, List<string> Paths, string? DotnetRoot)
{
    public bool IsCovered(string path) => Directories.Any(d => IsUnder(path, d));

    public static bool IsUnder(string path, string dir) =>
        path == dir || path.StartsWith(dir.TrimEnd('/') + "/", StringComparison.Ordinal);

    public static RuntimeFiles Find(string exe)
    {
        var dirs = new List<string> { GoferSandbox.Canonical(AppContext.BaseDirectory, "application directory") };
        // DOTNET_ROOT/shared/Microsoft.NETCore.App/VERSION/ for a framework-dependent app.
        string fx = Path.TrimEndingDirectorySeparator(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory());
        string? shared = Path.GetDirectoryName(Path.GetDirectoryName(fx));
        string? dotnetRoot = null;
        if (shared is not null && Path.GetFileName(shared) == "shared" && Path.GetDirectoryName(shared) is { } root)
        {
            dotnetRoot = GoferSandbox.Canonical(root, ".NET root");
            dirs.Add(dotnetRoot);
        }
        else
        {
            dirs.Add(GoferSandbox.Canonical(fx, ".NET runtime directory"));
        }
        dirs.Add(Path.GetDirectoryName(exe)!);
        dirs.AddRange(MappedFiles().Select(f => Path.GetDirectoryName(f)!));
        // The outermost directories, each once, in order (List.Sort: LINQ's Order would JIT-compile).
        var outermost = new List<string>();
        foreach (string d in dirs)
        {
            if (outermost.Contains(d)) continue;
            bool nested = false;
            foreach (string o in dirs) nested |= o != d && IsUnder(d, o);
            if (!nested) outermost.Add(d);
        }
        outermost.Sort(StringComparer.Ordinal);
        dirs = outermost;
        foreach (string d in dirs)
        {
            if (d == "/" || IsUnder(d, GoferSandbox.ServedRootPath) || IsUnder(d, "/proc"))
            {
                throw new ConfinementException($"the .NET runtime's files in {d} cannot be mapped into the gofer's root");
            }
        }
        string? interp = ElfInterpreter(exe);
        return new RuntimeFiles(dirs, interp is null ? [] : [interp], dotnetRoot);
    }

    /// <summary>The regular files mapped into this process (shared libraries, assemblies):
    /// the path field of /proc/self/maps (the sixth, which may hold spaces).</summary>
    private static IEnumerable<string> MappedFiles()
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        byte[] maps = HostPaths.ReadAll("/proc/self/maps") ?? throw new ConfinementException("cannot read /proc/self/maps");
        ReadOnlySpan<byte> rest = maps;
        while (!rest.IsEmpty)
        {
            int eol = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = eol < 0 ? rest : rest[..eol];
            rest = eol < 0 ? default : rest[(eol + 1)..];
            // address perms offset dev inode, then spaces up to the path.
            int field = 0, i = 0;
            while (field < 5 && i < line.Length)
            {
                while (i < line.Length && line[i] != (byte)' ') i++;
                while (i < line.Length && line[i] == (byte)' ') i++;
                field++;
            }
            if (field < 5 || i >= line.Length || line[i] != (byte)'/') continue;
            string path = System.Text.Encoding.UTF8.GetString(line[i..]).TrimEnd();
            if (path.EndsWith(" (deleted)", StringComparison.Ordinal)) continue;
            if (path.StartsWith("/dev/", StringComparison.Ordinal) || path.StartsWith("/memfd:", StringComparison.Ordinal)) continue;
            files.Add(path);
        }
        files.RemoveWhere(f => !HostPaths.IsFile(f));
        return files;
    }

    /// <summary>PT_INTERP of an ELF64 executable, or null for a static one.</summary>
    private static string? ElfInterpreter(string exe)
    {
        int fd = HostPaths.OpenRead(exe);
        if (fd < 0) throw new ConfinementException($"cannot read {exe}");
        try
        {
            Span<byte> header = stackalloc byte[64];
            if (HostPaths.ReadAt(fd, 0, header) < 64 || header[0] != 0x7f || header[1] != (byte)'E' || header[4] != 2) return null;
            long phoff = BinaryPrimitives.ReadInt64LittleEndian(header[0x20..]);
            int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(header[0x36..]);
            int phnum = BinaryPrimitives.ReadUInt16LittleEndian(header[0x38..]);
            Span<byte> ph = stackalloc byte[56];
            for (int i = 0; i < phnum; i++)
            {
                if (HostPaths.ReadAt(fd, phoff + (long)i * phentsize, ph) < 56) return null;
                if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 3) continue; // PT_INTERP
                long offset = BinaryPrimitives.ReadInt64LittleEndian(ph[8..]);
                long size = BinaryPrimitives.ReadInt64LittleEndian(ph[0x20..]);
                if (size is <= 1 or > 4096) return null;
                byte[] name = new byte[size];
                if (HostPaths.ReadAt(fd, offset, name) < size) return null;
                return System.Text.Encoding.UTF8.GetString(name).TrimEnd('\0');
            }
            return null;
        }
        finally
        {
            Unistd.Close(fd);
        }
    }
}

public static partial class GoferSandbox
{
    /// <summary>Steps that make host path resolvable in the scaffold exactly as on the host:
    /// every symlink on the way is recreated (and its target exposed in turn), directories are
    /// created, and the final file is bind-mounted read-only. Parts already inside a bound
    /// directory are only walked, to follow links that leave it. The host is looked at now.</summary>
    private static void Expose(ConfinementPlan p, int scaffold, string path, Func<string, bool> covered, int depth)
    {
        if (depth > 40) throw new ConfinementException($"too many symlinks exposing {path}");
        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string current = "";
        for (int i = 0; i < parts.Length; i++)
        {
            string next = $"{current}/{parts[i]}";
            bool last = i == parts.Length - 1;
            if (HostPaths.LinkTarget(next) is string target)
            {
                if (!covered(next))
                {
                    p.CallIgnoring(Abi.Errno.EEXIST, Sys.symlinkat, $"symlink {next}", p.Str(target), Slot(scaffold), p.Str(next.TrimStart('/')));
                }
                string rest = string.Join('/', parts[(i + 1)..]);
                string resolved = Normalize((target.StartsWith('/') ? target : $"{current}/{target}") + (rest.Length > 0 ? "/" + rest : ""));
                Expose(p, scaffold, resolved, covered, depth + 1);
                return;
            }
            if (covered(next))
            {
                current = next;
                continue;
            }
            if (HostPaths.IsDirectory(next))
            {
                p.CallIgnoring(Abi.Errno.EEXIST, Sys.mkdirat, $"mkdir {next} in the scaffold", Slot(scaffold), p.Str(next.TrimStart('/')), 0x1ed);
            }
            else if (last && HostPaths.IsFile(next))
            {
                int tree = p.CallInto(Sys.open_tree, $"open_tree({next})", -100, p.Str(next), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                SetAttr(p, tree, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, next);
                int file = p.CallInto(Sys.openat, $"creating {next} in the scaffold", Slot(scaffold), p.Str(next.TrimStart('/')),
                    OpenFlags.O_CREAT | OpenFlags.O_WRONLY | OpenFlags.O_CLOEXEC, 0x1a4);
                p.Call(Sys.close, "close", Slot(file));
                p.Call(Sys.move_mount, $"mounting {next}", Slot(tree), p.Str(""), Slot(scaffold), p.Str(next.TrimStart('/')), MOVE_MOUNT_F_EMPTY_PATH);
                p.Call(Sys.close, "close", Slot(tree));
            }
            else
            {
                throw new ConfinementException($"{next} (needed to start the runtime) does not exist");
            }
            current = next;
        }
    }

    /// <summary>Removes "." and ".." lexically; correct here because every directory before a
    /// ".." has already been resolved to a real directory.</summary>
    private static string Normalize(string path)
    {
        var stack = new List<string>();
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                if (stack.Count > 0) stack.RemoveAt(stack.Count - 1);
                continue;
            }
            stack.Add(part);
        }
        return "/" + string.Join('/', stack);
    }
}
