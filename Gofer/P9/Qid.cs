namespace Sandbox.Gofer.P9;

/// <summary>A 9P qid: the server's identity of a file (type[1] version[4] path[8]).</summary>
public readonly record struct Qid(byte Type, uint Version, ulong Path)
{
    /// <summary>Encoded size.</summary>
    public const int Size = 13;

    public const byte TypeDir = 0x80, TypeAppend = 0x40, TypeExclusive = 0x20, TypeMount = 0x10;
    public const byte TypeAuth = 0x08, TypeTemporary = 0x04, TypeSymlink = 0x02, TypeFile = 0x00;

    public bool IsDir => (Type & TypeDir) != 0;
    public bool IsSymlink => (Type & TypeSymlink) != 0;
}
