using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Sandbox.Abi;
using Sandbox.Sentry.Kernel;
using Sandbox.Sentry.Vfs;
using static Sandbox.Sentry.Kernel.Events;

namespace Sandbox.Sentry.Fs;

/// <summary>inotify: watches on inodes and the events that changes made inside the sandbox
/// produce. A file's events go to watches on the file (without a name) and on its directory
/// (with the file's name). Changes made behind the Sentry's back (on the host) are not seen.</summary>
public static class Inotify
{
    public const uint IN_ACCESS = 0x1, IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_CLOSE_WRITE = 0x8, IN_CLOSE_NOWRITE = 0x10;
    public const uint IN_OPEN = 0x20, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80, IN_CREATE = 0x100, IN_DELETE = 0x200;
    public const uint IN_DELETE_SELF = 0x400, IN_MOVE_SELF = 0x800, IN_UNMOUNT = 0x2000, IN_Q_OVERFLOW = 0x4000;
    public const uint IN_IGNORED = 0x8000, IN_ONLYDIR = 0x01000000, IN_DONT_FOLLOW = 0x02000000, IN_EXCL_UNLINK = 0x04000000;
    public const uint IN_MASK_CREATE = 0x10000000, IN_MASK_ADD = 0x20000000, IN_ISDIR = 0x40000000, IN_ONESHOT = 0x80000000;
    public const uint IN_ALL_EVENTS = 0xfff;

    internal sealed class Watch(InotifyFile owner, int wd, Inode inode, uint mask)
    {
        public readonly InotifyFile Owner = owner;
        public readonly int Wd = wd;
        public readonly Inode Inode = inode;
        public uint Mask = mask;
    }

    private static readonly ConditionalWeakTable<Inode, List<Watch>> Watches = new();
    private static int _watchCount;
    private static int _nextCookie;

    /// <summary>False while nobody watches anything: the hooks cost one read then.</summary>
    public static bool Active => Volatile.Read(ref _watchCount) > 0;

    internal static void Add(Watch w)
    {
        var list = Watches.GetOrCreateValue(w.Inode);
        lock (list) list.Add(w);
        Interlocked.Increment(ref _watchCount);
    }

    internal static void Remove(Watch w)
    {
        if (!Watches.TryGetValue(w.Inode, out var list)) return;
        lock (list)
            if (list.Remove(w)) Interlocked.Decrement(ref _watchCount);
    }

    internal static Watch? Find(InotifyFile owner, Inode inode)
    {
        if (!Watches.TryGetValue(inode, out var list)) return null;
        lock (list) return list.Find(w => w.Owner == owner);
    }

    public static uint NewCookie() => (uint)Interlocked.Increment(ref _nextCookie);

    /// <summary>Reports an event on inode itself (name null) or on a directory about a child.</summary>
    public static void Notify(Inode inode, uint mask, string? name = null, uint cookie = 0)
    {
        if (!Active || !Watches.TryGetValue(inode, out var list)) return;
        Watch[] targets;
        lock (list) targets = [.. list];
        foreach (var w in targets)
        {
            if ((w.Mask & mask & IN_ALL_EVENTS) == 0 && (mask & (IN_IGNORED | IN_DELETE_SELF)) == 0) continue;
            w.Owner.Queue(w.Wd, mask, cookie, name);
            if ((w.Mask & IN_ONESHOT) != 0) w.Owner.RemoveWatch(w, sendIgnored: true);
        }
    }

    /// <summary>An event on an open file: to the file's watchers and its directory's.</summary>
    public static void FileEvent(PathPos? path, uint mask)
    {
        if (!Active || path is not { } p) return;
        uint dir = p.Inode.IsDirectory ? IN_ISDIR : 0;
        Notify(p.Inode, mask | dir);
        if (p.Dentry.Parent is { } parent) Notify(parent.Inode, mask | dir, p.Dentry.Name);
    }
}

/// <summary>An inotify instance: its watches and its queue of encoded struct inotify_event.</summary>
public sealed class InotifyFile : FileDescription
{
    private const int MaxQueued = 16384;
    private readonly Dictionary<int, Inotify.Watch> _watches = [];
    private readonly LinkedList<byte[]> _events = new();
    private int _nextWd = 1;

    public InotifyFile(int flags)
    {
        Flags = OpenFlags.O_RDONLY | flags;
    }

    public override string Name => "anon_inode:inotify";

    /// <summary>An anonymous file has no positions: pread/pwrite say ESPIPE.</summary>
    public override bool Positional => false;
    public WaitQueue Waiters { get; } = new();
    public override WaitQueue? EventQueue => Waiters;

    public long AddWatch(Inode inode, uint mask)
    {
        lock (_watches)
        {
            var existing = Inotify.Find(this, inode);
            if (existing != null)
            {
                if ((mask & Inotify.IN_MASK_CREATE) != 0) return -(long)Errno.EEXIST;
                existing.Mask = (mask & Inotify.IN_MASK_ADD) != 0 ? existing.Mask | mask : mask;
                return existing.Wd;
            }
            var w = new Inotify.Watch(this, _nextWd++, inode, mask);
            _watches[w.Wd] = w;
            Inotify.Add(w);
            return w.Wd;
        }
    }

    public long RemoveWatch(int wd)
    {
        Inotify.Watch? w;
        lock (_watches)
            if (!_watches.TryGetValue(wd, out w)) return -(long)Errno.EINVAL;
        RemoveWatch(w, sendIgnored: true);
        return 0;
    }

    internal void RemoveWatch(Inotify.Watch w, bool sendIgnored)
    {
        lock (_watches)
            if (!_watches.Remove(w.Wd)) return;
        Inotify.Remove(w);
        if (sendIgnored) Queue(w.Wd, Inotify.IN_IGNORED, 0, null);
    }

    /// <summary>Appends an event (coalescing an identical last one, as Linux does).</summary>
    internal void Queue(int wd, uint mask, uint cookie, string? name)
    {
        byte[] nameBytes = name == null ? [] : Encoding.UTF8.GetBytes(name);
        int nameLen = name == null ? 0 : (nameBytes.Length + 1 + 15) & ~15;
        var ev = new byte[16 + nameLen];
        BinaryPrimitives.WriteInt32LittleEndian(ev, wd);
        BinaryPrimitives.WriteUInt32LittleEndian(ev.AsSpan(4), mask);
        BinaryPrimitives.WriteUInt32LittleEndian(ev.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt32LittleEndian(ev.AsSpan(12), (uint)nameLen);
        nameBytes.CopyTo(ev, 16);
        lock (_events)
        {
            if (_events.Last?.Value is { } last && last.AsSpan().SequenceEqual(ev)) return;
            if (_events.Count >= MaxQueued) return;
            _events.AddLast(ev);
        }
        Waiters.Notify(POLLIN);
    }

    public override uint Readiness(uint mask)
    {
        lock (_events) return _events.Count > 0 ? mask & (POLLIN | POLLRDNORM) : 0;
    }

    private long TryRead(Kernel.Task task, ulong addr, long length)
    {
        lock (_events)
        {
            if (_events.Count == 0) return -(long)Errno.EAGAIN;
            if (_events.First!.Value.Length > length) return -(long)Errno.EINVAL;
            long done = 0;
            while (_events.First is { } node && done + node.Value.Length <= length)
            {
                if (task.MemoryManager.CopyOut(addr + (ulong)done, node.Value) < 0) return done > 0 ? done : -(long)Errno.EFAULT;
                done += node.Value.Length;
                _events.RemoveFirst();
            }
            return done;
        }
    }

    public override long Read(Kernel.Task task, ReadOnlySpan<Iovec> iovecs, long offset)
    {
        if (iovecs.Length == 0) return 0;
        ulong addr = iovecs[0].Base;
        long length = (long)iovecs[0].Len;
        if ((Flags & OpenFlags.O_NONBLOCK) != 0) return TryRead(task, addr, length);
        return task.BlockOn(Waiters, POLLIN, () => TryRead(task, addr, length));
    }

    public override long Ioctl(Kernel.Task task, uint request, ulong arg)
    {
        if (request != Abi.Ioctl.FIONREAD) return -(long)Errno.ENOTTY;
        int n;
        lock (_events) n = _events.Sum(e => e.Length);
        return task.MemoryManager.CopyOut(arg, n);
    }

    protected override void Release()
    {
        Inotify.Watch[] all;
        lock (_watches) all = [.. _watches.Values];
        foreach (var w in all) RemoveWatch(w, sendIgnored: false);
    }

    public override long Stat(out Stat stat)
    {
        stat = new Stat { Mode = 0x180, Nlink = 1, Blksize = 4096 };
        return 0;
    }
}
