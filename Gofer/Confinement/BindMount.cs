namespace Sandbox.Gofer.Confinement;

/// <summary>A host path bind-mounted inside the served root (an OCI "bind" mount).</summary>
/// <param name="Source">Host path of a file or directory.</param>
/// <param name="Destination">Path inside the served root; symlinks in it are resolved inside
/// the root, never on the host.</param>
/// <param name="ReadOnly">Mount it read-only (it is anyway when the whole root is).</param>
public sealed record BindMount(string Source, string Destination, bool ReadOnly = false)
{
    /// <summary>Parses SRC:DST[:ro|rw], as `runsc gofer --bind` takes it.</summary>
    public static BindMount Parse(string spec)
    {
        string[] parts = spec.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw new FormatException($"--bind '{spec}': expected SRC:DST[:ro|rw]");
        }
        bool readOnly = parts.Length == 3 && parts[2] switch
        {
            "ro" => true,
            "rw" => false,
            _ => throw new FormatException($"--bind '{spec}': the mode must be ro or rw, not '{parts[2]}'"),
        };
        if (!parts[1].StartsWith('/')) throw new FormatException($"--bind '{spec}': DST must be absolute");
        return new BindMount(parts[0], parts[1], readOnly);
    }
}
