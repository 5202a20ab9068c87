using Sandbox.Gofer.P9;

namespace Sandbox.Gofer.Tests;

public class ConcurrencyTests
{
    [Fact]
    public void EightThreads_ReadConcurrently_AndGetTheirOwnData()
    {
        var content = new byte[4 << 20];
        new Random(42).NextBytes(content);
        using var m = new Mount(populate: root => File.WriteAllBytes(Path.Combine(root, "data"), content), msize: 65536);
        var c = m.Client;
        uint shared = m.Open(0, "data");
        var errors = new List<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            uint own = c.AllocateFid();
            if (c.Walk(m.RootFid, own, ["data"], out _) != 0 || c.Lopen(own, 0, out _, out _) != 0)
            {
                lock (errors)
                {
                    errors.Add($"thread {t}: open failed");
                }
                return;
            }
            var buf = new byte[200_000];
            for (int i = 0; i < 60; i++)
            {
                int offset = rng.Next(content.Length);
                int len = rng.Next(1, buf.Length);
                uint fid = (i & 1) == 0 ? own : shared;
                int err = c.Read(fid, (ulong)offset, buf.AsSpan(0, len), out int n);
                int expected = Math.Min(len, content.Length - offset);
                if (err != 0 || n != expected || !buf.AsSpan(0, n).SequenceEqual(content.AsSpan(offset, n)))
                {
                    lock (errors)
                    {
                        errors.Add($"thread {t} read {i}: err {err}, {n} of {expected} bytes at {offset}");
                    }
                    return;
                }
            }
            c.Clunk(own);
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Empty(errors);
    }

    [Fact]
    public void ConcurrentWalksAndClunks_DoNotInterfere()
    {
        using var m = new Mount(populate: root =>
        {
            for (int i = 0; i < 8; i++)
            {
                Directory.CreateDirectory(Path.Combine(root, $"d{i}", "x"));
            }
        });
        var c = m.Client;
        var failures = 0;
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int i = 0; i < 200; i++)
            {
                uint f = c.AllocateFid();
                if (c.Walk(m.RootFid, f, [$"d{t}", "x", "..", "..", $"d{t}"], out var qids) != 0 ||
                    c.GetAttr(f, P9Protocol.GetAttrBasic, out var attr) != 0 || attr.Qid != qids[4] || c.Clunk(f) != 0)
                {
                    Interlocked.Increment(ref failures);
                }
                c.ReleaseFid(f);
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Equal(0, failures);
    }
}
