using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Kernel;

/// <summary>A task's root and working directory (shared between tasks with CLONE_FS).</summary>
public sealed class FsContext(PathPos root, PathPos cwd)
{
    public PathPos Root { get; set; } = root;
    public PathPos Cwd { get; set; } = cwd;
    public int Umask { get; set; } = 0x12; // 022

    public FsContext Clone() => new(Root, Cwd) { Umask = Umask };
}
