using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>A task's root and working directory (shared between tasks with CLONE_FS).</summary>
public sealed class FsContext(PathPos root, PathPos cwd)
{
    public PathPos Root { get; set; } = root;
    public PathPos Cwd { get; set; } = cwd;
    public int Umask { get; set; } = 0x12; // 022

    public FsContext Clone() => new(Root, Cwd) { Umask = Umask };

    /// <summary>A copy whose root and working directory are on the given mounts' copies (for
    /// a new mount namespace made by <see cref="MountNamespace.Copy"/>).</summary>
    public FsContext Translate(IReadOnlyDictionary<Mount, Mount> map) =>
        new(MountNamespace.Translate(Root, map), MountNamespace.Translate(Cwd, map)) { Umask = Umask };
}
