namespace Sandbox.Gofer.P9;

/// <summary>9P2000.L message types, numbered as in Linux's include/net/9p/9p.h.</summary>
public enum P9MessageType : byte
{
    Tlerror = 6,
    Rlerror = 7,
    Tstatfs = 8,
    Rstatfs = 9,
    Tlopen = 12,
    Rlopen = 13,
    Tlcreate = 14,
    Rlcreate = 15,
    Tsymlink = 16,
    Rsymlink = 17,
    Tmknod = 18,
    Rmknod = 19,
    Trename = 20,
    Rrename = 21,
    Treadlink = 22,
    Rreadlink = 23,
    Tgetattr = 24,
    Rgetattr = 25,
    Tsetattr = 26,
    Rsetattr = 27,
    Txattrwalk = 30,
    Rxattrwalk = 31,
    Txattrcreate = 32,
    Rxattrcreate = 33,
    Treaddir = 40,
    Rreaddir = 41,
    Tfsync = 50,
    Rfsync = 51,
    Tlock = 52,
    Rlock = 53,
    Tgetlock = 54,
    Rgetlock = 55,
    Tlink = 70,
    Rlink = 71,
    Tmkdir = 72,
    Rmkdir = 73,
    Trenameat = 74,
    Rrenameat = 75,
    Tunlinkat = 76,
    Runlinkat = 77,
    Tversion = 100,
    Rversion = 101,
    Tauth = 102,
    Rauth = 103,
    Tattach = 104,
    Rattach = 105,
    Tflush = 108,
    Rflush = 109,
    Twalk = 110,
    Rwalk = 111,
    Tread = 116,
    Rread = 117,
    Twrite = 118,
    Rwrite = 119,
    Tclunk = 120,
    Rclunk = 121,
    Tremove = 122,
    Rremove = 123,

    // Extensions of this implementation (numbered as gVisor's p9 numbers its own).

    /// <summary>Twalk and Tgetattr of the last object in one round trip.</summary>
    Twalkgetattr = 128,
    Rwalkgetattr = 129,
}

/// <summary>Protocol constants of 9P2000.L.</summary>
public static class P9Protocol
{
    /// <summary>The version string this implementation speaks.</summary>
    public const string Version = "9P2000.L";
    /// <summary>size[4] type[1] tag[2].</summary>
    public const int HeaderSize = 7;
    /// <summary>The tag of Tversion.</summary>
    public const ushort NoTag = 0xFFFF;
    /// <summary>"No fid" (Tattach's afid when there is no authentication).</summary>
    public const uint NoFid = 0xFFFFFFFF;
    /// <summary>Tattach's n_uname when there is no numeric user.</summary>
    public const uint NoUid = 0xFFFFFFFF;
    /// <summary>Most names in one Twalk (MAXWELEM).</summary>
    public const int MaxWalkElements = 16;
    /// <summary>Rread/Rreaddir overhead: header + count[4].</summary>
    public const int ReadOverhead = HeaderSize + 4;
    /// <summary>Twrite overhead: header + fid[4] offset[8] count[4].</summary>
    public const int WriteOverhead = HeaderSize + 4 + 8 + 4;
    /// <summary>The smallest msize either side accepts.</summary>
    public const uint MinMSize = 4096;
    /// <summary>The msize used until Tversion has negotiated one.</summary>
    public const uint DefaultMSize = 8192;

    // Tgetattr request mask / Rgetattr valid mask (P9_STATS_*).
    public const ulong GetAttrMode = 0x1, GetAttrNlink = 0x2, GetAttrUid = 0x4, GetAttrGid = 0x8;
    public const ulong GetAttrRdev = 0x10, GetAttrAtime = 0x20, GetAttrMtime = 0x40, GetAttrCtime = 0x80;
    public const ulong GetAttrIno = 0x100, GetAttrSize = 0x200, GetAttrBlocks = 0x400, GetAttrBtime = 0x800;
    public const ulong GetAttrGen = 0x1000, GetAttrDataVersion = 0x2000;
    public const ulong GetAttrBasic = 0x7ff, GetAttrAll = 0x3fff;

    // Tsetattr valid mask (P9_ATTR_*).
    public const uint SetAttrMode = 0x1, SetAttrUid = 0x2, SetAttrGid = 0x4, SetAttrSize = 0x8;
    public const uint SetAttrAtime = 0x10, SetAttrMtime = 0x20, SetAttrCtime = 0x40;
    /// <summary>With SetAttrAtime/SetAttrMtime: use the given time; without: "now".</summary>
    public const uint SetAttrAtimeSet = 0x80, SetAttrMtimeSet = 0x100;

    // Tlock / Tgetlock.
    public const byte LockTypeRead = 0, LockTypeWrite = 1, LockTypeUnlock = 2;
    public const uint LockFlagBlock = 1, LockFlagReclaim = 2;
    public const byte LockSuccess = 0, LockBlocked = 1, LockError = 2, LockGrace = 3;

    // Txattrcreate flags (Linux XATTR_*).
    public const uint XattrCreate = 1, XattrReplace = 2;
}
