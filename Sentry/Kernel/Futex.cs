using Sandbox.Abi;

namespace Sandbox.Sentry.Kernel;

/// <summary>The futex table: tasks waiting on a 32-bit word, keyed by the word's MemoryFile
/// offset (so waiters on shared memory meet across processes, and private words of different
/// processes never collide).</summary>
public sealed class FutexTable
{
    private sealed class Waiter(Task task, long key, uint bitset)
    {
        public readonly Task Task = task;
        public long Key = key;
        public readonly uint Bitset = bitset;
        public bool Woken;
    }

    private readonly Dictionary<long, List<Waiter>> _queues = [];

    /// <summary>FUTEX_WAIT(_BITSET): sleeps while *addr == expected.</summary>
    public unsafe long Wait(Task t, ulong addr, uint expected, uint bitset, long deadlineMs)
    {
        if (bitset == 0) return -(long)Errno.EINVAL;
        if ((addr & 3) != 0) return -(long)Errno.EINVAL;
        if (!t.MemoryManager.TryTranslate(addr, 4, write: false, out byte* p, out _) || !t.MemoryManager.TryFileOffset(addr, out long key))
            return -(long)Errno.EFAULT;
        var w = new Waiter(t, key, bitset);
        lock (_queues)
        {
            if (Volatile.Read(ref *(uint*)p) != expected) return -(long)Errno.EAGAIN;
            Queue(key).Add(w);
        }
        try
        {
            while (true)
            {
                t.Blocker.Reset();
                lock (_queues) if (w.Woken) return 0;
                if (t.InterruptPending) return -(long)Errno.EINTR;
                if (!t.Blocker.Wait(deadlineMs)) return -(long)Errno.ETIMEDOUT;
            }
        }
        finally
        {
            lock (_queues)
                if (!w.Woken && _queues.TryGetValue(w.Key, out var q)) q.Remove(w);
        }
    }

    private List<Waiter> Queue(long key)
    {
        if (!_queues.TryGetValue(key, out var q)) _queues[key] = q = [];
        return q;
    }

    /// <summary>FUTEX_WAKE(_BITSET): wakes up to n waiters on addr.</summary>
    public long Wake(Task t, ulong addr, int n, uint bitset)
    {
        if (bitset == 0) return -(long)Errno.EINVAL;
        if (!t.MemoryManager.TryFileOffset(addr, out long key)) return -(long)Errno.EFAULT;
        lock (_queues) return WakeLocked(key, n, bitset);
    }

    private int WakeLocked(long key, int n, uint bitset)
    {
        if (!_queues.TryGetValue(key, out var q)) return 0;
        int woken = 0;
        for (int i = 0; i < q.Count && woken < n;)
        {
            var w = q[i];
            if ((w.Bitset & bitset) == 0) { i++; continue; }
            q.RemoveAt(i);
            w.Woken = true;
            w.Task.Blocker.Wake(0);
            woken++;
        }
        if (q.Count == 0) _queues.Remove(key);
        return woken;
    }

    /// <summary>FUTEX_(CMP_)REQUEUE: wakes n, moves up to n2 more to addr2.</summary>
    public unsafe long Requeue(Task t, ulong addr, ulong addr2, int n, int n2, uint? expected)
    {
        if (n < 0 || n2 < 0) return -(long)Errno.EINVAL;
        if (!t.MemoryManager.TryFileOffset(addr, out long key) || !t.MemoryManager.TryFileOffset(addr2, out long key2))
            return -(long)Errno.EFAULT;
        lock (_queues)
        {
            if (expected is { } e)
            {
                if (!t.MemoryManager.TryTranslate(addr, 4, false, out byte* p, out _)) return -(long)Errno.EFAULT;
                if (Volatile.Read(ref *(uint*)p) != e) return -(long)Errno.EAGAIN;
            }
            int woken = WakeLocked(key, n, uint.MaxValue);
            int moved = 0;
            if (key != key2 && _queues.TryGetValue(key, out var q))
            {
                var target = Queue(key2);
                while (q.Count > 0 && moved < n2)
                {
                    var w = q[0];
                    q.RemoveAt(0);
                    w.Key = key2;
                    target.Add(w);
                    moved++;
                }
                if (q.Count == 0) _queues.Remove(key);
            }
            return woken + moved;
        }
    }

    /// <summary>FUTEX_WAKE_OP: atomically updates *addr2, wakes n on addr and, if the old
    /// value of *addr2 passes the comparison, n2 on addr2.</summary>
    public unsafe long WakeOp(Task t, ulong addr, ulong addr2, int n, int n2, uint op)
    {
        if (!t.MemoryManager.TryFileOffset(addr, out long key) || !t.MemoryManager.TryFileOffset(addr2, out long key2))
            return -(long)Errno.EFAULT;
        if (!t.MemoryManager.TryTranslate(addr2, 4, write: true, out byte* p2, out _)) return -(long)Errno.EFAULT;
        int opType = (int)(op >> 28) & 7, cmp = (int)(op >> 24) & 15;
        int oparg = (int)(op << 8) >> 20, cmparg = (int)(op << 20) >> 20;
        if (((op >> 28) & 8) != 0) oparg = 1 << (oparg & 31);
        lock (_queues)
        {
            ref int word = ref *(int*)p2;
            int old, next;
            do
            {
                old = Volatile.Read(ref word);
                next = opType switch { 0 => oparg, 1 => old + oparg, 2 => old | oparg, 3 => old & ~oparg, 4 => old ^ oparg, _ => int.MinValue };
                if (opType > 4) return -(long)Errno.ENOSYS;
            } while (Interlocked.CompareExchange(ref word, next, old) != old);
            int woken = WakeLocked(key, n, uint.MaxValue);
            bool pass = cmp switch { 0 => old == cmparg, 1 => old != cmparg, 2 => old < cmparg, 3 => old <= cmparg, 4 => old > cmparg, 5 => old >= cmparg, _ => false };
            if (cmp > 5) return -(long)Errno.ENOSYS;
            if (pass) woken += WakeLocked(key2, n2, uint.MaxValue);
            return woken;
        }
    }
}
