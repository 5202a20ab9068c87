namespace Sandbox.Netstack;

/// <summary>Placeholder until the networking issue: the user-space TCP/IP stack lives here.</summary>
public static class NetstackInfo
{
    public const string Status = "not implemented yet";
}
