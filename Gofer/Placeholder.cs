namespace Sandbox.Gofer;

/// <summary>Placeholder until the VFS/Gofer issue: the 9P2000.L server and codec live here.</summary>
public static class GoferInfo
{
    public const string Status = "not implemented yet";
}
