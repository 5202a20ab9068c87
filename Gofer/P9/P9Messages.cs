namespace Sandbox.Gofer.P9;

#pragma warning disable CA1716, CA1720 // message names follow the 9P specification

/// <summary>A 9P2000.L message body: its type, its encoded size and how it reads and writes
/// itself after the size[4] type[1] tag[2] header.</summary>
public interface IP9Message<TSelf>
    where TSelf : struct, IP9Message<TSelf>
{
    static abstract P9MessageType Type { get; }

    /// <summary>Encoded size of the body (without the 7-byte header).</summary>
    int BodySize { get; }

    void Encode(ref P9Writer w);

    /// <summary>Reads the body; throws <see cref="P9FormatException"/> on bad input.</summary>
    static abstract TSelf Decode(ref P9Reader r);
}

// ---- session ----

/// <summary>Tversion: msize[4] version[s].</summary>
public readonly record struct Tversion(uint MSize, string Version) : IP9Message<Tversion>
{
    public static P9MessageType Type => P9MessageType.Tversion;
    public int BodySize => 4 + P9Writer.StrSize(Version);
    public void Encode(ref P9Writer w) { w.U32(MSize); w.Str(Version); }
    public static Tversion Decode(ref P9Reader r) => new(r.U32(), r.Str());
}

/// <summary>Rversion: msize[4] version[s].</summary>
public readonly record struct Rversion(uint MSize, string Version) : IP9Message<Rversion>
{
    public static P9MessageType Type => P9MessageType.Rversion;
    public int BodySize => 4 + P9Writer.StrSize(Version);
    public void Encode(ref P9Writer w) { w.U32(MSize); w.Str(Version); }
    public static Rversion Decode(ref P9Reader r) => new(r.U32(), r.Str());
}

/// <summary>Tauth: afid[4] uname[s] aname[s] n_uname[4].</summary>
public readonly record struct Tauth(uint Afid, string Uname, string Aname, uint NUname) : IP9Message<Tauth>
{
    public static P9MessageType Type => P9MessageType.Tauth;
    public int BodySize => 8 + P9Writer.StrSize(Uname) + P9Writer.StrSize(Aname);
    public void Encode(ref P9Writer w) { w.U32(Afid); w.Str(Uname); w.Str(Aname); w.U32(NUname); }
    public static Tauth Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.Str(), r.U32());
}

/// <summary>Rauth: aqid[13].</summary>
public readonly record struct Rauth(Qid Aqid) : IP9Message<Rauth>
{
    public static P9MessageType Type => P9MessageType.Rauth;
    public int BodySize => Qid.Size;
    public void Encode(ref P9Writer w) => w.Qid(Aqid);
    public static Rauth Decode(ref P9Reader r) => new(r.Qid());
}

/// <summary>Tattach: fid[4] afid[4] uname[s] aname[s] n_uname[4].</summary>
public readonly record struct Tattach(uint Fid, uint Afid, string Uname, string Aname, uint NUname) : IP9Message<Tattach>
{
    public static P9MessageType Type => P9MessageType.Tattach;
    public int BodySize => 12 + P9Writer.StrSize(Uname) + P9Writer.StrSize(Aname);
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U32(Afid); w.Str(Uname); w.Str(Aname); w.U32(NUname); }
    public static Tattach Decode(ref P9Reader r) => new(r.U32(), r.U32(), r.Str(), r.Str(), r.U32());
}

/// <summary>Rattach: qid[13].</summary>
public readonly record struct Rattach(Qid Qid) : IP9Message<Rattach>
{
    public static P9MessageType Type => P9MessageType.Rattach;
    public int BodySize => Qid.Size;
    public void Encode(ref P9Writer w) => w.Qid(Qid);
    public static Rattach Decode(ref P9Reader r) => new(r.Qid());
}

/// <summary>Rlerror: ecode[4], a Linux errno.</summary>
public readonly record struct Rlerror(uint Ecode) : IP9Message<Rlerror>
{
    public static P9MessageType Type => P9MessageType.Rlerror;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Ecode);
    public static Rlerror Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Tflush: oldtag[2].</summary>
public readonly record struct Tflush(ushort OldTag) : IP9Message<Tflush>
{
    public static P9MessageType Type => P9MessageType.Tflush;
    public int BodySize => 2;
    public void Encode(ref P9Writer w) => w.U16(OldTag);
    public static Tflush Decode(ref P9Reader r) => new(r.U16());
}

/// <summary>Rflush: empty.</summary>
public readonly record struct Rflush : IP9Message<Rflush>
{
    public static P9MessageType Type => P9MessageType.Rflush;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rflush Decode(ref P9Reader r) => default;
}

// ---- walking and opening ----

/// <summary>Twalk: fid[4] newfid[4] nwname[2] nwname*(wname[s]); at most 16 names.</summary>
public readonly record struct Twalk(uint Fid, uint NewFid, string[] Names) : IP9Message<Twalk>
{
    public static P9MessageType Type => P9MessageType.Twalk;

    public int BodySize
    {
        get
        {
            int n = 10;
            foreach (var name in Names)
            {
                n += P9Writer.StrSize(name);
            }
            return n;
        }
    }

    public void Encode(ref P9Writer w)
    {
        if (Names.Length > P9Protocol.MaxWalkElements)
        {
            throw new ArgumentException("Twalk takes at most 16 names");
        }
        w.U32(Fid);
        w.U32(NewFid);
        w.U16((ushort)Names.Length);
        foreach (var name in Names)
        {
            w.Str(name);
        }
    }

    public static Twalk Decode(ref P9Reader r)
    {
        uint fid = r.U32(), newFid = r.U32();
        int n = r.U16();
        if (n > P9Protocol.MaxWalkElements)
        {
            throw new P9FormatException("Twalk with more than 16 names");
        }
        var names = n == 0 ? Array.Empty<string>() : new string[n];
        for (int i = 0; i < n; i++)
        {
            names[i] = r.Str();
        }
        return new Twalk(fid, newFid, names);
    }
}

/// <summary>Rwalk: nwqid[2] nwqid*(qid[13]); at most 16 qids.</summary>
public readonly record struct Rwalk(Qid[] Qids) : IP9Message<Rwalk>
{
    public static P9MessageType Type => P9MessageType.Rwalk;
    public int BodySize => 2 + (Qids.Length * Qid.Size);

    public void Encode(ref P9Writer w)
    {
        if (Qids.Length > P9Protocol.MaxWalkElements)
        {
            throw new ArgumentException("Rwalk carries at most 16 qids");
        }
        w.U16((ushort)Qids.Length);
        foreach (var q in Qids)
        {
            w.Qid(q);
        }
    }

    public static Rwalk Decode(ref P9Reader r)
    {
        int n = r.U16();
        if (n > P9Protocol.MaxWalkElements)
        {
            throw new P9FormatException("Rwalk with more than 16 qids");
        }
        var qids = n == 0 ? Array.Empty<Qid>() : new Qid[n];
        for (int i = 0; i < n; i++)
        {
            qids[i] = r.Qid();
        }
        return new Rwalk(qids);
    }
}

/// <summary>Twalkgetattr (an extension, as in gVisor's p9): Twalk's body. The walk must reach
/// every name; the reply carries the attributes of the object reached (basic set). newfid may be
/// NOFID: then nothing is installed, the reply only reports what is there (a lookup or a
/// revalidation that needs no fid saves its Tclunk).</summary>
public readonly record struct Twalkgetattr(uint Fid, uint NewFid, string[] Names) : IP9Message<Twalkgetattr>
{
    public static P9MessageType Type => P9MessageType.Twalkgetattr;

    public int BodySize => new Twalk(Fid, NewFid, Names).BodySize;

    public void Encode(ref P9Writer w) => new Twalk(Fid, NewFid, Names).Encode(ref w);

    public static Twalkgetattr Decode(ref P9Reader r)
    {
        var m = Twalk.Decode(ref r);
        return new Twalkgetattr(m.Fid, m.NewFid, m.Names);
    }
}

/// <summary>Rwalkgetattr: the attribute block of the object reached, then Rwalk's qids (one per name).</summary>
public readonly record struct Rwalkgetattr(P9Attr Attr, Qid[] Qids) : IP9Message<Rwalkgetattr>
{
    public static P9MessageType Type => P9MessageType.Rwalkgetattr;
    public int BodySize => P9Attr.EncodedSize + new Rwalk(Qids).BodySize;

    public void Encode(ref P9Writer w)
    {
        Attr.Encode(ref w);
        new Rwalk(Qids).Encode(ref w);
    }

    public static Rwalkgetattr Decode(ref P9Reader r)
    {
        var attr = P9Attr.Decode(ref r);
        return new Rwalkgetattr(attr, Rwalk.Decode(ref r).Qids);
    }
}

/// <summary>Tlopen: fid[4] flags[4] (Linux open flags).</summary>
public readonly record struct Tlopen(uint Fid, uint Flags) : IP9Message<Tlopen>
{
    public static P9MessageType Type => P9MessageType.Tlopen;
    public int BodySize => 8;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U32(Flags); }
    public static Tlopen Decode(ref P9Reader r) => new(r.U32(), r.U32());
}

/// <summary>Rlopen: qid[13] iounit[4].</summary>
public readonly record struct Rlopen(Qid Qid, uint IoUnit) : IP9Message<Rlopen>
{
    public static P9MessageType Type => P9MessageType.Rlopen;
    public int BodySize => Qid.Size + 4;
    public void Encode(ref P9Writer w) { w.Qid(Qid); w.U32(IoUnit); }
    public static Rlopen Decode(ref P9Reader r) => new(r.Qid(), r.U32());
}

/// <summary>Tlcreate: fid[4] name[s] flags[4] mode[4] gid[4].</summary>
public readonly record struct Tlcreate(uint Fid, string Name, uint Flags, uint Mode, uint Gid) : IP9Message<Tlcreate>
{
    public static P9MessageType Type => P9MessageType.Tlcreate;
    public int BodySize => 16 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(Fid); w.Str(Name); w.U32(Flags); w.U32(Mode); w.U32(Gid); }
    public static Tlcreate Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U32(), r.U32(), r.U32());
}

/// <summary>Rlcreate: qid[13] iounit[4].</summary>
public readonly record struct Rlcreate(Qid Qid, uint IoUnit) : IP9Message<Rlcreate>
{
    public static P9MessageType Type => P9MessageType.Rlcreate;
    public int BodySize => Qid.Size + 4;
    public void Encode(ref P9Writer w) { w.Qid(Qid); w.U32(IoUnit); }
    public static Rlcreate Decode(ref P9Reader r) => new(r.Qid(), r.U32());
}

// ---- data ----

/// <summary>Tread: fid[4] offset[8] count[4].</summary>
public readonly record struct Tread(uint Fid, ulong Offset, uint Count) : IP9Message<Tread>
{
    public static P9MessageType Type => P9MessageType.Tread;
    public int BodySize => 16;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U64(Offset); w.U32(Count); }
    public static Tread Decode(ref P9Reader r) => new(r.U32(), r.U64(), r.U32());
}

/// <summary>Rread: count[4] data[count]. <see cref="Data"/> is a slice of the frame it was decoded from.</summary>
public readonly record struct Rread(ReadOnlyMemory<byte> Data) : IP9Message<Rread>
{
    public static P9MessageType Type => P9MessageType.Rread;
    public int BodySize => 4 + Data.Length;
    public void Encode(ref P9Writer w) { w.U32((uint)Data.Length); w.Bytes(Data.Span); }
    public static Rread Decode(ref P9Reader r) => new(r.Bytes(r.U32()));
}

/// <summary>Twrite: fid[4] offset[8] count[4] data[count].</summary>
public readonly record struct Twrite(uint Fid, ulong Offset, ReadOnlyMemory<byte> Data) : IP9Message<Twrite>
{
    public static P9MessageType Type => P9MessageType.Twrite;
    public int BodySize => 16 + Data.Length;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U64(Offset); w.U32((uint)Data.Length); w.Bytes(Data.Span); }
    public static Twrite Decode(ref P9Reader r) => new(r.U32(), r.U64(), r.Bytes(r.U32()));
}

/// <summary>Rwrite: count[4].</summary>
public readonly record struct Rwrite(uint Count) : IP9Message<Rwrite>
{
    public static P9MessageType Type => P9MessageType.Rwrite;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Count);
    public static Rwrite Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Tclunk: fid[4].</summary>
public readonly record struct Tclunk(uint Fid) : IP9Message<Tclunk>
{
    public static P9MessageType Type => P9MessageType.Tclunk;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Fid);
    public static Tclunk Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Rclunk: empty.</summary>
public readonly record struct Rclunk : IP9Message<Rclunk>
{
    public static P9MessageType Type => P9MessageType.Rclunk;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rclunk Decode(ref P9Reader r) => default;
}

/// <summary>Tremove: fid[4] (the fid is clunked whatever the outcome).</summary>
public readonly record struct Tremove(uint Fid) : IP9Message<Tremove>
{
    public static P9MessageType Type => P9MessageType.Tremove;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Fid);
    public static Tremove Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Rremove: empty.</summary>
public readonly record struct Rremove : IP9Message<Rremove>
{
    public static P9MessageType Type => P9MessageType.Rremove;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rremove Decode(ref P9Reader r) => default;
}

// ---- attributes ----

/// <summary>Tgetattr: fid[4] request_mask[8].</summary>
public readonly record struct Tgetattr(uint Fid, ulong RequestMask) : IP9Message<Tgetattr>
{
    public static P9MessageType Type => P9MessageType.Tgetattr;
    public int BodySize => 12;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U64(RequestMask); }
    public static Tgetattr Decode(ref P9Reader r) => new(r.U32(), r.U64());
}

/// <summary>Rgetattr: the attribute block.</summary>
public readonly record struct Rgetattr(P9Attr Attr) : IP9Message<Rgetattr>
{
    public static P9MessageType Type => P9MessageType.Rgetattr;
    public int BodySize => P9Attr.EncodedSize;
    public void Encode(ref P9Writer w) => Attr.Encode(ref w);
    public static Rgetattr Decode(ref P9Reader r) => new(P9Attr.Decode(ref r));
}

/// <summary>Tsetattr: fid[4] and the settable attribute block.</summary>
public readonly record struct Tsetattr(uint Fid, P9SetAttr Attr) : IP9Message<Tsetattr>
{
    public static P9MessageType Type => P9MessageType.Tsetattr;
    public int BodySize => 4 + P9SetAttr.EncodedSize;
    public void Encode(ref P9Writer w) { w.U32(Fid); Attr.Encode(ref w); }
    public static Tsetattr Decode(ref P9Reader r) => new(r.U32(), P9SetAttr.Decode(ref r));
}

/// <summary>Rsetattr: empty.</summary>
public readonly record struct Rsetattr : IP9Message<Rsetattr>
{
    public static P9MessageType Type => P9MessageType.Rsetattr;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rsetattr Decode(ref P9Reader r) => default;
}

/// <summary>Tstatfs: fid[4].</summary>
public readonly record struct Tstatfs(uint Fid) : IP9Message<Tstatfs>
{
    public static P9MessageType Type => P9MessageType.Tstatfs;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Fid);
    public static Tstatfs Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Rstatfs: the file system block.</summary>
public readonly record struct Rstatfs(P9Statfs Statfs) : IP9Message<Rstatfs>
{
    public static P9MessageType Type => P9MessageType.Rstatfs;
    public int BodySize => P9Statfs.EncodedSize;
    public void Encode(ref P9Writer w) => Statfs.Encode(ref w);
    public static Rstatfs Decode(ref P9Reader r) => new(P9Statfs.Decode(ref r));
}

// ---- directories ----

/// <summary>Treaddir: fid[4] offset[8] count[4].</summary>
public readonly record struct Treaddir(uint Fid, ulong Offset, uint Count) : IP9Message<Treaddir>
{
    public static P9MessageType Type => P9MessageType.Treaddir;
    public int BodySize => 16;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U64(Offset); w.U32(Count); }
    public static Treaddir Decode(ref P9Reader r) => new(r.U32(), r.U64(), r.U32());
}

/// <summary>Rreaddir: count[4] data[count], the data being packed dirents (see <see cref="P9Dirents"/>).</summary>
public readonly record struct Rreaddir(ReadOnlyMemory<byte> Data) : IP9Message<Rreaddir>
{
    public static P9MessageType Type => P9MessageType.Rreaddir;
    public int BodySize => 4 + Data.Length;
    public void Encode(ref P9Writer w) { w.U32((uint)Data.Length); w.Bytes(Data.Span); }
    public static Rreaddir Decode(ref P9Reader r) => new(r.Bytes(r.U32()));
}

/// <summary>Tmkdir: dfid[4] name[s] mode[4] gid[4].</summary>
public readonly record struct Tmkdir(uint DirFid, string Name, uint Mode, uint Gid) : IP9Message<Tmkdir>
{
    public static P9MessageType Type => P9MessageType.Tmkdir;
    public int BodySize => 12 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(DirFid); w.Str(Name); w.U32(Mode); w.U32(Gid); }
    public static Tmkdir Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U32(), r.U32());
}

/// <summary>Rmkdir: qid[13].</summary>
public readonly record struct Rmkdir(Qid Qid) : IP9Message<Rmkdir>
{
    public static P9MessageType Type => P9MessageType.Rmkdir;
    public int BodySize => Qid.Size;
    public void Encode(ref P9Writer w) => w.Qid(Qid);
    public static Rmkdir Decode(ref P9Reader r) => new(r.Qid());
}

/// <summary>Tsymlink: fid[4] name[s] symtgt[s] gid[4].</summary>
public readonly record struct Tsymlink(uint DirFid, string Name, string Target, uint Gid) : IP9Message<Tsymlink>
{
    public static P9MessageType Type => P9MessageType.Tsymlink;
    public int BodySize => 8 + P9Writer.StrSize(Name) + P9Writer.StrSize(Target);
    public void Encode(ref P9Writer w) { w.U32(DirFid); w.Str(Name); w.Str(Target); w.U32(Gid); }
    public static Tsymlink Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.Str(), r.U32());
}

/// <summary>Rsymlink: qid[13].</summary>
public readonly record struct Rsymlink(Qid Qid) : IP9Message<Rsymlink>
{
    public static P9MessageType Type => P9MessageType.Rsymlink;
    public int BodySize => Qid.Size;
    public void Encode(ref P9Writer w) => w.Qid(Qid);
    public static Rsymlink Decode(ref P9Reader r) => new(r.Qid());
}

/// <summary>Tmknod: dfid[4] name[s] mode[4] major[4] minor[4] gid[4].</summary>
public readonly record struct Tmknod(uint DirFid, string Name, uint Mode, uint Major, uint Minor, uint Gid) : IP9Message<Tmknod>
{
    public static P9MessageType Type => P9MessageType.Tmknod;
    public int BodySize => 20 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(DirFid); w.Str(Name); w.U32(Mode); w.U32(Major); w.U32(Minor); w.U32(Gid); }
    public static Tmknod Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U32(), r.U32(), r.U32(), r.U32());
}

/// <summary>Rmknod: qid[13].</summary>
public readonly record struct Rmknod(Qid Qid) : IP9Message<Rmknod>
{
    public static P9MessageType Type => P9MessageType.Rmknod;
    public int BodySize => Qid.Size;
    public void Encode(ref P9Writer w) => w.Qid(Qid);
    public static Rmknod Decode(ref P9Reader r) => new(r.Qid());
}

/// <summary>Treadlink: fid[4].</summary>
public readonly record struct Treadlink(uint Fid) : IP9Message<Treadlink>
{
    public static P9MessageType Type => P9MessageType.Treadlink;
    public int BodySize => 4;
    public void Encode(ref P9Writer w) => w.U32(Fid);
    public static Treadlink Decode(ref P9Reader r) => new(r.U32());
}

/// <summary>Rreadlink: target[s].</summary>
public readonly record struct Rreadlink(string Target) : IP9Message<Rreadlink>
{
    public static P9MessageType Type => P9MessageType.Rreadlink;
    public int BodySize => P9Writer.StrSize(Target);
    public void Encode(ref P9Writer w) => w.Str(Target);
    public static Rreadlink Decode(ref P9Reader r) => new(r.StrLenient());
}

/// <summary>Tlink: dfid[4] fid[4] name[s].</summary>
public readonly record struct Tlink(uint DirFid, uint Fid, string Name) : IP9Message<Tlink>
{
    public static P9MessageType Type => P9MessageType.Tlink;
    public int BodySize => 8 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(DirFid); w.U32(Fid); w.Str(Name); }
    public static Tlink Decode(ref P9Reader r) => new(r.U32(), r.U32(), r.Str());
}

/// <summary>Rlink: empty.</summary>
public readonly record struct Rlink : IP9Message<Rlink>
{
    public static P9MessageType Type => P9MessageType.Rlink;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rlink Decode(ref P9Reader r) => default;
}

/// <summary>Trename: fid[4] dfid[4] name[s] (the older form of Trenameat).</summary>
public readonly record struct Trename(uint Fid, uint DirFid, string Name) : IP9Message<Trename>
{
    public static P9MessageType Type => P9MessageType.Trename;
    public int BodySize => 8 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U32(DirFid); w.Str(Name); }
    public static Trename Decode(ref P9Reader r) => new(r.U32(), r.U32(), r.Str());
}

/// <summary>Rrename: empty.</summary>
public readonly record struct Rrename : IP9Message<Rrename>
{
    public static P9MessageType Type => P9MessageType.Rrename;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rrename Decode(ref P9Reader r) => default;
}

/// <summary>Trenameat: olddirfid[4] oldname[s] newdirfid[4] newname[s].</summary>
public readonly record struct Trenameat(uint OldDirFid, string OldName, uint NewDirFid, string NewName) : IP9Message<Trenameat>
{
    public static P9MessageType Type => P9MessageType.Trenameat;
    public int BodySize => 8 + P9Writer.StrSize(OldName) + P9Writer.StrSize(NewName);
    public void Encode(ref P9Writer w) { w.U32(OldDirFid); w.Str(OldName); w.U32(NewDirFid); w.Str(NewName); }
    public static Trenameat Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U32(), r.Str());
}

/// <summary>Rrenameat: empty.</summary>
public readonly record struct Rrenameat : IP9Message<Rrenameat>
{
    public static P9MessageType Type => P9MessageType.Rrenameat;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rrenameat Decode(ref P9Reader r) => default;
}

/// <summary>Tunlinkat: dirfd[4] name[s] flags[4] (AT_REMOVEDIR).</summary>
public readonly record struct Tunlinkat(uint DirFid, string Name, uint Flags) : IP9Message<Tunlinkat>
{
    public static P9MessageType Type => P9MessageType.Tunlinkat;
    public int BodySize => 8 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(DirFid); w.Str(Name); w.U32(Flags); }
    public static Tunlinkat Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U32());
}

/// <summary>Runlinkat: empty.</summary>
public readonly record struct Runlinkat : IP9Message<Runlinkat>
{
    public static P9MessageType Type => P9MessageType.Runlinkat;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Runlinkat Decode(ref P9Reader r) => default;
}

/// <summary>Tfsync: fid[4] datasync[4].</summary>
public readonly record struct Tfsync(uint Fid, uint DataSync) : IP9Message<Tfsync>
{
    public static P9MessageType Type => P9MessageType.Tfsync;
    public int BodySize => 8;
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U32(DataSync); }
    public static Tfsync Decode(ref P9Reader r) => new(r.U32(), r.U32());
}

/// <summary>Rfsync: empty.</summary>
public readonly record struct Rfsync : IP9Message<Rfsync>
{
    public static P9MessageType Type => P9MessageType.Rfsync;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rfsync Decode(ref P9Reader r) => default;
}

// ---- extended attributes ----

/// <summary>Txattrwalk: fid[4] newfid[4] name[s] (an empty name lists the attributes).</summary>
public readonly record struct Txattrwalk(uint Fid, uint NewFid, string Name) : IP9Message<Txattrwalk>
{
    public static P9MessageType Type => P9MessageType.Txattrwalk;
    public int BodySize => 8 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(Fid); w.U32(NewFid); w.Str(Name); }
    public static Txattrwalk Decode(ref P9Reader r) => new(r.U32(), r.U32(), r.Str());
}

/// <summary>Rxattrwalk: size[8].</summary>
public readonly record struct Rxattrwalk(ulong Size) : IP9Message<Rxattrwalk>
{
    public static P9MessageType Type => P9MessageType.Rxattrwalk;
    public int BodySize => 8;
    public void Encode(ref P9Writer w) => w.U64(Size);
    public static Rxattrwalk Decode(ref P9Reader r) => new(r.U64());
}

/// <summary>Txattrcreate: fid[4] name[s] attr_size[8] flags[4].</summary>
public readonly record struct Txattrcreate(uint Fid, string Name, ulong Size, uint Flags) : IP9Message<Txattrcreate>
{
    public static P9MessageType Type => P9MessageType.Txattrcreate;
    public int BodySize => 16 + P9Writer.StrSize(Name);
    public void Encode(ref P9Writer w) { w.U32(Fid); w.Str(Name); w.U64(Size); w.U32(Flags); }
    public static Txattrcreate Decode(ref P9Reader r) => new(r.U32(), r.Str(), r.U64(), r.U32());
}

/// <summary>Rxattrcreate: empty.</summary>
public readonly record struct Rxattrcreate : IP9Message<Rxattrcreate>
{
    public static P9MessageType Type => P9MessageType.Rxattrcreate;
    public int BodySize => 0;
    public void Encode(ref P9Writer w) { }
    public static Rxattrcreate Decode(ref P9Reader r) => default;
}

// ---- locks ----

/// <summary>Tlock: fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s].</summary>
public readonly record struct Tlock(uint Fid, P9Lock Lock) : IP9Message<Tlock>
{
    public static P9MessageType Type => P9MessageType.Tlock;
    public int BodySize => 29 + P9Writer.StrSize(Lock.ClientId ?? "");

    public void Encode(ref P9Writer w)
    {
        w.U32(Fid);
        w.U8(Lock.Type);
        w.U32(Lock.Flags);
        w.U64(Lock.Start);
        w.U64(Lock.Length);
        w.U32(Lock.ProcId);
        w.Str(Lock.ClientId ?? "");
    }

    public static Tlock Decode(ref P9Reader r) => new(r.U32(), new P9Lock
    {
        Type = r.U8(),
        Flags = r.U32(),
        Start = r.U64(),
        Length = r.U64(),
        ProcId = r.U32(),
        ClientId = r.Str(),
    });
}

/// <summary>Rlock: status[1] (P9Protocol.Lock*).</summary>
public readonly record struct Rlock(byte Status) : IP9Message<Rlock>
{
    public static P9MessageType Type => P9MessageType.Rlock;
    public int BodySize => 1;
    public void Encode(ref P9Writer w) => w.U8(Status);
    public static Rlock Decode(ref P9Reader r) => new(r.U8());
}

/// <summary>Tgetlock: fid[4] type[1] start[8] length[8] proc_id[4] client_id[s] (no flags).</summary>
public readonly record struct Tgetlock(uint Fid, P9Lock Lock) : IP9Message<Tgetlock>
{
    public static P9MessageType Type => P9MessageType.Tgetlock;
    public int BodySize => 25 + P9Writer.StrSize(Lock.ClientId ?? "");

    public void Encode(ref P9Writer w)
    {
        w.U32(Fid);
        P9Lock.EncodeNoFlags(ref w, Lock);
    }

    public static Tgetlock Decode(ref P9Reader r) => new(r.U32(), P9Lock.DecodeNoFlags(ref r));
}

/// <summary>Rgetlock: type[1] start[8] length[8] proc_id[4] client_id[s].</summary>
public readonly record struct Rgetlock(P9Lock Lock) : IP9Message<Rgetlock>
{
    public static P9MessageType Type => P9MessageType.Rgetlock;
    public int BodySize => 21 + P9Writer.StrSize(Lock.ClientId ?? "");
    public void Encode(ref P9Writer w) => P9Lock.EncodeNoFlags(ref w, Lock);
    public static Rgetlock Decode(ref P9Reader r) => new(P9Lock.DecodeNoFlags(ref r));
}
