namespace Sandbox.Gofer.P9;

/// <summary>Rgetattr's attribute block. <see cref="Valid"/> says which fields the server filled
/// (P9.GetAttr* bits).</summary>
public record struct P9Attr
{
    /// <summary>Encoded size: valid[8] qid[13] mode[4] uid[4] gid[4] and 15 fields of 8 bytes.</summary>
    public const int EncodedSize = 8 + Qid.Size + 12 + 15 * 8;

    public ulong Valid;
    public Qid Qid;
    public uint Mode, Uid, Gid;
    public ulong Nlink, Rdev, Size, BlkSize, Blocks;
    public ulong AtimeSec, AtimeNsec, MtimeSec, MtimeNsec, CtimeSec, CtimeNsec, BtimeSec, BtimeNsec;
    public ulong Gen, DataVersion;

    internal void Encode(ref P9Writer w)
    {
        w.U64(Valid);
        w.Qid(Qid);
        w.U32(Mode);
        w.U32(Uid);
        w.U32(Gid);
        w.U64(Nlink);
        w.U64(Rdev);
        w.U64(Size);
        w.U64(BlkSize);
        w.U64(Blocks);
        w.U64(AtimeSec);
        w.U64(AtimeNsec);
        w.U64(MtimeSec);
        w.U64(MtimeNsec);
        w.U64(CtimeSec);
        w.U64(CtimeNsec);
        w.U64(BtimeSec);
        w.U64(BtimeNsec);
        w.U64(Gen);
        w.U64(DataVersion);
    }

    internal static P9Attr Decode(ref P9Reader r) => new()
    {
        Valid = r.U64(),
        Qid = r.Qid(),
        Mode = r.U32(),
        Uid = r.U32(),
        Gid = r.U32(),
        Nlink = r.U64(),
        Rdev = r.U64(),
        Size = r.U64(),
        BlkSize = r.U64(),
        Blocks = r.U64(),
        AtimeSec = r.U64(),
        AtimeNsec = r.U64(),
        MtimeSec = r.U64(),
        MtimeNsec = r.U64(),
        CtimeSec = r.U64(),
        CtimeNsec = r.U64(),
        BtimeSec = r.U64(),
        BtimeNsec = r.U64(),
        Gen = r.U64(),
        DataVersion = r.U64(),
    };
}

/// <summary>Tsetattr's attribute block. <see cref="Valid"/> says which fields to apply
/// (P9.SetAttr* bits); ATIME/MTIME without the matching *_SET bit mean "now".</summary>
public record struct P9SetAttr
{
    /// <summary>Encoded size: valid[4] mode[4] uid[4] gid[4] size[8] and four times of 8 bytes.</summary>
    public const int EncodedSize = 16 + 8 + 32;

    public uint Valid, Mode, Uid, Gid;
    public ulong Size, AtimeSec, AtimeNsec, MtimeSec, MtimeNsec;

    internal readonly void Encode(ref P9Writer w)
    {
        w.U32(Valid);
        w.U32(Mode);
        w.U32(Uid);
        w.U32(Gid);
        w.U64(Size);
        w.U64(AtimeSec);
        w.U64(AtimeNsec);
        w.U64(MtimeSec);
        w.U64(MtimeNsec);
    }

    internal static P9SetAttr Decode(ref P9Reader r) => new()
    {
        Valid = r.U32(),
        Mode = r.U32(),
        Uid = r.U32(),
        Gid = r.U32(),
        Size = r.U64(),
        AtimeSec = r.U64(),
        AtimeNsec = r.U64(),
        MtimeSec = r.U64(),
        MtimeNsec = r.U64(),
    };
}

/// <summary>One directory entry of Rreaddir: qid[13] offset[8] type[1] name[s]. <see cref="Offset"/>
/// is the cookie to pass to the next Treaddir to continue after this entry; <see cref="Type"/> is
/// a Linux DT_* value. A class, so that List&lt;P9Dirent&gt; runs the framework's precompiled shared
/// code instead of being compiled by the JIT in each new process.</summary>
public sealed record P9Dirent(Qid Qid, ulong Offset, byte Type, string Name)
{
    /// <summary>Encoded size without the name's bytes.</summary>
    public const int FixedSize = Qid.Size + 8 + 1 + 2;
}

/// <summary>Rstatfs: type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4].</summary>
public record struct P9Statfs
{
    public const int EncodedSize = 4 + 4 + 6 * 8 + 4;

    public uint Type, BSize;
    public ulong Blocks, BFree, BAvail, Files, FFree, FsId;
    public uint NameLen;

    internal readonly void Encode(ref P9Writer w)
    {
        w.U32(Type);
        w.U32(BSize);
        w.U64(Blocks);
        w.U64(BFree);
        w.U64(BAvail);
        w.U64(Files);
        w.U64(FFree);
        w.U64(FsId);
        w.U32(NameLen);
    }

    internal static P9Statfs Decode(ref P9Reader r) => new()
    {
        Type = r.U32(),
        BSize = r.U32(),
        Blocks = r.U64(),
        BFree = r.U64(),
        BAvail = r.U64(),
        Files = r.U64(),
        FFree = r.U64(),
        FsId = r.U64(),
        NameLen = r.U32(),
    };
}

/// <summary>A POSIX record lock as Tlock/Tgetlock/Rgetlock carry it. <see cref="Type"/> is
/// P9.LockType*; <see cref="Flags"/> (P9.LockFlag*) is only sent by Tlock; <see cref="Length"/>
/// 0 means "to the end of the file".</summary>
public record struct P9Lock
{
    public byte Type;
    public uint Flags;
    public ulong Start, Length;
    public uint ProcId;
    public string ClientId;

    public P9Lock()
    {
        ClientId = "";
    }

    /// <summary>type[1] start[8] length[8] proc_id[4] client_id[s], as Tgetlock and Rgetlock carry it.</summary>
    internal static void EncodeNoFlags(ref P9Writer w, in P9Lock l)
    {
        w.U8(l.Type);
        w.U64(l.Start);
        w.U64(l.Length);
        w.U32(l.ProcId);
        w.Str(l.ClientId ?? "");
    }

    internal static P9Lock DecodeNoFlags(ref P9Reader r) => new()
    {
        Type = r.U8(),
        Start = r.U64(),
        Length = r.U64(),
        ProcId = r.U32(),
        ClientId = r.Str(),
    };
}
