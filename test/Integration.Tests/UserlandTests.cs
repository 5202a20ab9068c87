using System.Text;

namespace Sandbox.Integration.Tests;

/// <summary>Debian's own dynamically linked userland (bash, coreutils, tar and gzip, python3,
/// perl, sqlite3, gcc, git) doing real work in the sandbox: each command runs natively and
/// sandboxed with the same arguments and environment, and the exit code and stdout must be
/// the same (after sorting wherever only directory order may differ).</summary>
/// <remarks>Inputs are generated on the host under out/userland-tmp/ before the run (the host
/// tree is the sandbox's copy-on-write root, so they are visible inside); whatever a command
/// writes goes to a directory it makes itself with mktemp -d: the sandbox's overlay, or a
/// host temp directory for the native run.</remarks>
public sealed class UserlandTests : IDisposable
{
    private const string Bash = "/bin/bash";
    private const string Python = "/usr/bin/python3";

    private readonly DirectoryInfo _work;

    public UserlandTests()
    {
        string parent = Path.Combine(Repo.Root, "out", "userland-tmp");
        Directory.CreateDirectory(parent);
        _work = Directory.CreateDirectory(Path.Combine(parent, Path.GetRandomFileName()));
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>A Debian program the test needs; if it is missing, names the package that
    /// build.sh's prereqs must install.</summary>
    private static string Need(string path, string package)
    {
        Assert.True(File.Exists(path), $"{path} is missing: build.sh must `apt-get install -y {package}`");
        return path;
    }

    /// <summary>Runs PROGRAM ARGS natively and sandboxed; requires exit code <paramref name="exitCode"/>
    /// natively, the same exit code sandboxed and (optionally sorted) identical stdout, and no
    /// stub process left behind.</summary>
    private static RunResult SameAsNative(string program, string[] args, IReadOnlyDictionary<string, string>? env = null,
        int exitCode = 0, bool sortLines = false, string[]? nativeArgs = null, TimeSpan? timeout = null)
    {
        var native = Runner.Native(program, nativeArgs ?? args, env, timeout);
        Expect.ExitCode(native, exitCode, "native " + program);
        var sandboxed = Runner.Sandboxed(program, args, env, timeout: timeout);

        Assert.True(native.ExitCode == sandboxed.ExitCode,
            $"exit codes differ: native {native.ExitCode}, sandboxed {sandboxed.ExitCode}\n\nsandboxed run: {sandboxed}");
        if (sortLines)
        {
            Expect.SameLines(Sorted(native.Stdout), Sorted(sandboxed.Stdout), native, sandboxed);
        }
        else
        {
            Expect.SameStdout(native, sandboxed);
        }
        Assert.Empty(Stubs.Orphaned());
        return sandboxed;
    }

    private static RunResult BashSameAsNative(string script, params string[] scriptArgs) =>
        SameAsNative(Bash, ["-c", script, "bash", .. scriptArgs]);

    private static RunResult PythonSameAsNative(string program, params string[] programArgs) =>
        SameAsNative(Need(Python, "python3"), ["-c", program, .. programArgs]);

    private static List<string> Sorted(string text)
    {
        var lines = Expect.Lines(text);
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>Writes a deterministic text file of <paramref name="count"/> lines drawn from a
    /// small vocabulary, so that sort and uniq have repeats to find.</summary>
    private string WriteWords(string name, int count)
    {
        string[] words = ["apple", "Banana", "cherry", "date", "elder", "fig", "grape", "10", "9", "-3",
            "zeta", "alpha beta", "  leading", "trailing  ", "mixed Case", "émigré", "naïve", ""];
        var random = new Random(20240102);
        var text = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            text.Append(words[random.Next(words.Length)]);
            if (random.Next(4) == 0) text.Append(random.Next(100));
            text.Append('\n');
        }
        string path = Path.Combine(_work.FullName, name);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    // ---- bash and coreutils ------------------------------------------------------------

    [Fact]
    public void LsLaUsrBin_PipedToWc_CountsTheSameLines()
    {
        var sandboxed = BashSameAsNative("/bin/ls -la /usr/bin | wc -l");
        Assert.True(int.Parse(sandboxed.Stdout.Trim()) > 100, sandboxed.ToString());
    }

    [Fact]
    public void LsLaUsrBin_PrintsTheSameListing() =>
        // Modes, link counts, owners, sizes, dates and symlink targets all come from the host.
        SameAsNative("/bin/ls", ["-la", "--time-style=full-iso", "/usr/bin"]);

    [Fact]
    public void BashBraceExpansionLoop_PipedToTail()
    {
        var sandboxed = BashSameAsNative("for i in {1..200}; do echo $i; done | tail -1");
        Assert.Equal("200\n", sandboxed.Stdout);
    }

    [Fact]
    public void Sort_OfAGeneratedFile_IsIdentical()
    {
        string input = WriteWords("words.txt", 20000);
        SameAsNative("/usr/bin/sort", [input]);
        SameAsNative("/usr/bin/sort", ["-n", "-r", "-s", input]);
        BashSameAsNative("sort -u \"$1\" | md5sum; sort -t a -k 2 \"$1\" | tail -5", input);
    }

    [Fact]
    public void UniqC_OfASortedGeneratedFile_IsIdentical()
    {
        string input = WriteWords("words.txt", 20000);
        var sandboxed = BashSameAsNative("sort \"$1\" | uniq -c | sort -k1,1nr -k2", input);
        Assert.True(Expect.Lines(sandboxed.Stdout).Count > 50, sandboxed.ToString());
    }

    [Fact]
    public void Sha256sum_OfA10MBFile_IsIdentical()
    {
        string path = Path.Combine(_work.FullName, "big.bin");
        var bytes = new byte[10 * 1024 * 1024];
        new Random(42).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);

        SameAsNative("/usr/bin/sha256sum", [path]);
        // The same bytes through a pipe between two sandboxed processes.
        BashSameAsNative("cat \"$1\" | sha256sum; wc -c < \"$1\"", path);
    }

    [Fact]
    public void TarCzfThenXzf_InASandboxTempDir_RoundTrips()
    {
        // tar -z forks and execs gzip on a pipe, both ways. Every file gets a fixed mtime, so
        // the verbose listings (mode, owner, size, date, name) agree; directory order may not.
        const string script = """
            set -e
            d=$(mktemp -d)
            cd "$d"
            mkdir -p src/sub src/empty
            for i in $(seq 1 40); do seq 1 $((i * 50)) > src/sub/f$i.txt; done
            cp -r /usr/share/doc/bash src/bash-doc
            ln -s sub/f1.txt src/link
            find src -exec touch -h -d @1700000000 {} +
            tar czf a.tgz src
            gzip -t a.tgz
            tar tzvf a.tgz
            mkdir x
            tar xzf a.tgz -C x
            diff -r src x/src
            cd x
            find src -printf '%p %y %m %s %T@ %l\n'
            find src -type f -exec sha256sum {} +
            """;
        var sandboxed = SameAsNative(Bash, ["-c", script], sortLines: true);
        Assert.Contains("src/sub/f40.txt", sandboxed.Stdout);
        Assert.Contains("src/link -> sub/f1.txt", sandboxed.Stdout);
    }

    [Fact]
    public void FindXargsZcat_OverUsrShareDoc_CountsTheSameBytes()
    {
        var sandboxed = BashSameAsNative("find /usr/share/doc -name '*.gz' | xargs zcat | wc -c");
        Assert.True(long.Parse(sandboxed.Stdout.Trim()) > 1000, sandboxed.ToString());
    }

    // ---- python3 -----------------------------------------------------------------------

    [Fact]
    public void Python_JsonReHashlibSqlite3_DoRealWork()
    {
        const string program = """
            import json, re, hashlib, sqlite3
            data = [{"id": i, "name": f"item{i}", "tags": ["x" * (i % 7), "y"], "f": i / 7} for i in range(5000)]
            text = json.dumps(data, sort_keys=True, indent=1)
            assert json.loads(text) == data
            ids = [int(m) for m in re.findall(r'"id": (\d+)', text)]
            words = re.sub(r"[^a-z]+", " ", text).split()
            print(len(ids), sum(ids), len(words), re.search(r"item(4\d{3})", text[len(text) // 2:]).group(1))
            print(hashlib.sha256(text.encode()).hexdigest())
            print(hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), hashlib.md5(b"abc").hexdigest())
            db = sqlite3.connect(":memory:")
            db.execute("create table t (id integer primary key, name text, n integer, tag text)")
            with db:
                db.executemany("insert into t values (?, ?, ?, ?)", [(d["id"], d["name"], d["id"] * 3 % 101, d["tags"][0]) for d in data])
            db.execute("create index tn on t(n)")
            print(db.execute("select count(*), sum(n), max(name), count(distinct tag) from t").fetchone())
            print(db.execute("select n, count(*) from t where n > 95 group by n order by n").fetchall())
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_EightThreadsWithALock_CountExactly()
    {
        const string program = """
            import threading
            lock = threading.Lock()
            total = 0
            seen = set()
            barrier = threading.Barrier(8)
            def work(k):
                global total
                barrier.wait()
                for _ in range(5000):
                    with lock:
                        total += k
                with lock:
                    seen.add(threading.get_ident())
            threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 9)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(total, len(seen), threading.active_count())
            done = threading.Event()
            cond = threading.Condition()
            box = []
            def producer():
                for i in range(100):
                    with cond:
                        box.append(i)
                        cond.notify()
                done.set()
            def consumer(out):
                got = 0
                while got < 100:
                    with cond:
                        cond.wait_for(lambda: box)
                        got += len(box)
                        out.extend(box)
                        box.clear()
            out = []
            c = threading.Thread(target=consumer, args=(out,)); c.start()
            p = threading.Thread(target=producer); p.start()
            p.join(); c.join()
            print(done.is_set(), sum(out), len(out))
            """;
        PythonSameAsNative(program);
    }

    /// <summary>A process ends while its other threads wait (a pool's workers in a futex
    /// wait, daemon threads asleep): Linux kills them all at once and the parent's wait
    /// returns. Each of these once hung forever (the exiting stub was waited for while one of
    /// its own threads, still traced, was never reaped); the timeout turns a regression into
    /// a failure.</summary>
    [Fact]
    public void Python_ExitWhileThreadsWait_EndsAtOnce()
    {
        const string script = """
            for i in 1 2 3 4 5; do
                python3 -c "import concurrent.futures as cf,os; ex=cf.ThreadPoolExecutor(4); [ex.submit(abs,0) for _ in range(8)]; os._exit(0)"
                echo "pool $i: $?"
            done
            python3 -c "
            import threading, time, queue, os
            q = queue.Queue()
            for f in (lambda: time.sleep(100), q.get, threading.Event().wait):
                threading.Thread(target=f, daemon=True).start()
            time.sleep(0.05)
            print('daemons left behind')"
            echo "daemons: $?"
            python3 -c "
            import threading, time, os
            threading.Thread(target=time.sleep, args=(100,)).start()
            threading.Thread(target=lambda: os._exit(7)).start()
            time.sleep(100)"
            echo "os._exit from a thread: $?"
            echo done
            """;
        var sandboxed = SameAsNative(Bash, ["-c", script], timeout: TimeSpan.FromSeconds(40));
        Assert.EndsWith("os._exit from a thread: 7\ndone\n", sandboxed.Stdout);
    }

    /// <summary>The same as the sandbox's first process: its end must not leave tasks behind
    /// that the sandbox then waits 10 s for.</summary>
    [Fact]
    public void Python_PoolExitAsPid1_LeavesNoTaskBehind()
    {
        var sandboxed = SameAsNative(Need(Python, "python3"),
            ["-c", "import concurrent.futures as cf,os; ex=cf.ThreadPoolExecutor(4); [ex.submit(abs,0) for _ in range(8)]; print('exiting', flush=True); os._exit(3)"],
            exitCode: 3, timeout: TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("did not finish", sandboxed.DebugLog ?? "");
    }

    [Fact]
    public void Python_SubprocessRunLs_CapturesItsOutput()
    {
        const string program = """
            import subprocess
            r = subprocess.run(["ls", "/"], capture_output=True, text=True)
            print("rc", r.returncode)
            print(r.stdout, end="")
            r = subprocess.run("echo out; echo err >&2; exit 5", shell=True, capture_output=True, text=True)
            print(r.returncode, repr(r.stdout), repr(r.stderr))
            r = subprocess.run(["tr", "a-z", "A-Z"], input="piped through tr\n", capture_output=True, text=True, check=True)
            print(r.stdout, end="")
            """;
        // The sandbox's root lists /dev, /proc, /sys and /tmp of its own, which the host has too.
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_MultiprocessingPool4Map()
    {
        const string program = """
            import multiprocessing, os
            def sq(x):
                return x * x, os.getpid()
            if __name__ == "__main__":
                with multiprocessing.Pool(4) as pool:
                    results = pool.map(sq, range(2000), chunksize=10)
                print(sum(r[0] for r in results), len(results))
                print(os.getpid() not in {r[1] for r in results}, 1 <= len({r[1] for r in results}) <= 4)
                with multiprocessing.Pool(4) as pool:
                    print(sorted(pool.imap_unordered(abs, range(-5, 5))))
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_AsyncioRun_WorksOverItsSocketpair()
    {
        // The event loop's self-pipe is a socketpair; unix servers and connections, and a
        // subprocess's pipes, all go through it.
        PythonSameAsNative("import asyncio; print(asyncio.run(asyncio.sleep(0,42)))");
        const string program = """
            import asyncio, os, tempfile
            async def handle(reader, writer):
                while line := await reader.readline():
                    writer.write(line.upper())
                    await writer.drain()
                writer.close()
            async def main(path):
                server = await asyncio.start_unix_server(handle, path)
                reader, writer = await asyncio.open_unix_connection(path)
                for word in ("alpha", "beta", "x" * 50000):
                    writer.write(word.encode() + b"\n")
                    await writer.drain()
                    line = await reader.readline()
                    print(line[:20], len(line))
                writer.write_eof()
                print(await reader.read())
                writer.close()
                server.close()
                await server.wait_closed()
                proc = await asyncio.create_subprocess_exec("/bin/echo", "from a subprocess", stdout=asyncio.subprocess.PIPE)
                print(await proc.communicate(), proc.returncode)
                r1, r2 = await asyncio.gather(asyncio.sleep(0.05, "a"), asyncio.sleep(0.01, "b"))
                print(r1, r2)
            with tempfile.TemporaryDirectory() as d:
                asyncio.run(main(os.path.join(d, "sock")))
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_MultiprocessingManager_ServesOverANamedUnixSocket()
    {
        // The manager listens on a socket in a temporary directory; its forked server process
        // authenticates the connection and serves it on a thread. (A manager shut down while
        // server threads are still blocked on clients can hang without fix-exit's "a process
        // whose threads are blocked finishes dying"; here the proxy is gone by then.)
        PythonSameAsNative("import multiprocessing as m; print(m.Manager().list([1,2]))");
    }

    [Fact]
    public void Python_PassesDescriptorsOverUnixSockets()
    {
        // SCM_RIGHTS between processes: multiprocessing.reduction directly, and the forkserver,
        // which receives its children's descriptors that way.
        const string program = """
            import multiprocessing as mp, os, socket
            from multiprocessing import reduction
            if __name__ == "__main__":
                a, b = socket.socketpair()
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    a.close()
                    fd = reduction.recv_handle(b)
                    os._exit(0 if os.read(fd, 100) == b"through the socket" else 1)
                b.close()
                reduction.send_handle(a, r, pid)
                os.close(r)
                os.write(w, b"through the socket")
                print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
                ctx = mp.get_context("forkserver")
                with ctx.Pool(2) as pool:
                    print(pool.map(abs, range(-4, 4)))
                s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                s2.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                s1.send(b"who")
                msg, anc, flags, addr = s2.recvmsg(10, socket.CMSG_SPACE(12))
                import struct
                pid_, uid, gid = struct.unpack("iII", anc[0][2])
                print(msg, pid_ == os.getpid(), uid == os.getuid(), gid == os.getgid())
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_OtherSocketFamilies_FailCleanly_AndGetaddrinfoReadsEtcHosts()
    {
        // Only AF_UNIX exists in the sandbox for now: other families give EAFNOSUPPORT, which
        // Python reports as an OSError; name lookups of localhost need no socket.
        const string program = """
            import socket
            for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM),
                                 (socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW)):
                try:
                    socket.socket(family, kind).close()
                    print(family.name, "created")
                except OSError as e:
                    print(family.name, e.errno, e.strerror)
            """;
        var sandboxed = Runner.Sandboxed(Need(Python, "python3"), ["-c", program]);
        Expect.ExitCode(sandboxed, 0, "sandboxed");
        Assert.Equal(
            "AF_INET 97 Address family not supported by protocol\n" +
            "AF_INET6 97 Address family not supported by protocol\n" +
            "AF_NETLINK 97 Address family not supported by protocol\n" +
            "AF_PACKET 97 Address family not supported by protocol\n",
            sandboxed.Stdout);
        // The sandbox writes its own /etc/hosts (with ::1), so only what the host's surely
        // has too is compared.
        PythonSameAsNative("""
            import socket
            print("127.0.0.1" in {a[4][0] for a in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)})
            print(socket.gethostbyname("localhost"))
            """);
    }

    [Fact]
    public void Python_ListdirTempfileCopytree()
    {
        const string program = """
            import os, tempfile, shutil, stat
            print(sorted(os.listdir("/usr/lib/python3.11"))[:20])
            with tempfile.TemporaryDirectory() as d:
                src = os.path.join(d, "src")
                os.makedirs(os.path.join(src, "a", "b"))
                for i in range(30):
                    with open(os.path.join(src, "a" if i % 2 else "a/b", f"f{i}.txt"), "w") as f:
                        f.write(str(i) * (i + 1))
                os.chmod(os.path.join(src, "a", "f1.txt"), 0o640)
                os.symlink("a/f1.txt", os.path.join(src, "link"))
                dst = shutil.copytree(src, os.path.join(d, "dst"), symlinks=True)
                for root, dirs, files in os.walk(dst):
                    dirs.sort()
                    print(os.path.relpath(root, dst), sorted(files))
                print(sorted(os.listdir(dst)), os.readlink(os.path.join(dst, "link")))
                print(open(os.path.join(dst, "link")).read(), oct(stat.S_IMODE(os.stat(os.path.join(dst, "a", "f1.txt")).st_mode)))
                with tempfile.NamedTemporaryFile("w+", dir=d, suffix=".txt") as t:
                    t.write("named\n"); t.flush(); t.seek(0)
                    print(t.read(), end=""); print(os.path.dirname(t.name) == d, t.name.endswith(".txt"))
                shutil.rmtree(src)
                os.rename(dst, src)
                print(sorted(os.listdir(d)), sum(len(f) for _, _, f in os.walk(src)))
                shutil.make_archive(os.path.join(d, "arc"), "zip", src)
                shutil.unpack_archive(os.path.join(d, "arc.zip"), os.path.join(d, "un"))
                print(sorted(os.listdir(os.path.join(d, "un", "a"))))
            print(os.path.exists(d))
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_SleepAndAlarmHandler()
    {
        // An alarm handler runs during time.sleep (which then sleeps on, PEP 475), during
        // signal.pause, and interrupts a blocking read of a pipe by raising.
        const string program = """
            import os, signal, time
            hits = []
            def handler(sig, frame):
                hits.append(sig)
            signal.signal(signal.SIGALRM, handler)
            t0 = time.monotonic()
            signal.alarm(1)
            time.sleep(1.5)
            el = time.monotonic() - t0
            print("sleep", hits, 1.45 < el < 4)
            t0 = time.monotonic(); time.sleep(0.3); el = time.monotonic() - t0
            print("short sleep", 0.29 < el < 2)
            signal.alarm(1)
            signal.pause()
            print("pause", hits)
            class Timeout(Exception): pass
            def raiser(sig, frame): raise Timeout()
            signal.signal(signal.SIGALRM, raiser)
            r, w = os.pipe()
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            try:
                os.read(r, 1)
                print("read returned")
            except Timeout:
                print("read interrupted")
            print("remaining", signal.alarm(0))
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_MmapOfAFile()
    {
        const string program = """
            import mmap, os, tempfile
            fd, path = tempfile.mkstemp()
            os.write(fd, b"\0" * 65536)
            with mmap.mmap(fd, 65536) as m:
                m[0:5] = b"hello"
                m[65531:65536] = b"world"
                m.flush()
                print(m[:5], m.find(b"world"), len(m))
            with open(path, "rb") as f:
                data = f.read()
            print(data[:5], data[-5:], len(data))
            with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as r:
                print(r[:5], r.rfind(b"world"))
            with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as c:
                c[:5] = b"COPY!"
                print(c[:5])
            print(open(path, "rb").read(5))
            os.close(fd)
            os.unlink(path)
            anon = mmap.mmap(-1, 1 << 20)
            anon[-3:] = b"end"
            pid = os.fork()
            if pid == 0:
                anon[:5] = b"child"
                os._exit(0)
            os.waitpid(pid, 0)
            print(anon[:5], anon[-3:], len(anon))
            with open("/etc/os-release", "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
                print(m.readline(), m.size() == os.path.getsize("/etc/os-release"))
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Python_MmapSharedFile_IsCoherentWithWriteAndOtherMappings()
    {
        // MAP_SHARED file pages are the page cache: write() shows through an existing mapping,
        // msync writes back only what the mapping changed, and a second mapping of the same
        // file (in this process or another one) sees the same bytes.
        const string program = """
            import mmap, os, subprocess, sys, tempfile
            fd, path = tempfile.mkstemp()
            os.write(fd, b"\0" * 8192)
            m = mmap.mmap(fd, 8192)
            m[0:5] = b"hello"
            print("pread sees the mapping's store:", os.pread(fd, 5, 0))
            os.pwrite(fd, b"WRITE", 100)
            print("mapping sees pwrite:", m[100:105])
            m.flush()
            print("pwrite survives msync:", os.pread(fd, 5, 100))
            second = mmap.mmap(fd, 8192)
            m[200:203] = b"one"
            print("second mapping sees the first's store:", second[200:203])
            child = f"import mmap, os; m = mmap.mmap(os.open({path!r}, os.O_RDWR), 8192); print('other process sees:', m[200:203]); m[300:303] = b'two'"
            print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout, end="")
            print("mapping sees the other process's store:", m[300:303])
            m.close(); second.close()
            with open(path, "rb") as f:
                data = f.read()
            print(data[0:5], data[100:105], data[200:203], data[300:303])
            os.unlink(path)
            """;
        PythonSameAsNative(program);
    }

    // ---- perl, sqlite3, gcc, git -------------------------------------------------------

    [Fact]
    public void Perl_RegexOverAFile()
    {
        const string program = """
            my (%ports, %protos, $lines);
            open(my $f, "<", $ARGV[0]) or die "open: $!";
            while (<$f>) {
                $lines++;
                next if /^\s*(#|$)/;
                if (/^(\S+)\s+(\d+)\/(tcp|udp)(?:\s+([^#]*?))?\s*(?:#.*)?$/) {
                    $ports{$2}++; $protos{$3}++;
                }
            }
            close $f;
            my @top = sort { $ports{$b} <=> $ports{$a} || $a <=> $b } keys %ports;
            printf "%d lines, %d ports, tcp=%d udp=%d, top: %s\n", $lines, scalar(@top), $protos{tcp}, $protos{udp}, join(",", @top[0..4]);
            my $s = join "", map { chr(65 + ($_ * 7) % 26) } 0..99999;
            my @m = ($s =~ /(H[O-V]+)/g);
            (my $t = $s) =~ s/([AEIOU])(?=[B-D])/lc $1/ge;
            print scalar(@m), " ", length($t), " ", substr($t, 0, 30), "\n";
            """;
        SameAsNative("/usr/bin/perl", ["-e", program, "/etc/services"]);
    }

    [Fact]
    public void Sqlite3Cli_Inserts10000RowsInATransaction()
    {
        string sql = Path.Combine(_work.FullName, "insert.sql");
        var text = new StringBuilder("create table t (id integer primary key, name text, n integer);\nbegin;\n");
        for (int i = 1; i <= 10000; i++)
        {
            text.Append($"insert into t (name, n) values ('row{i}', {(long)i * i % 9973});\n");
        }
        text.Append("commit;\n");
        File.WriteAllText(sql, text.ToString());

        const string script = """
            set -e
            d=$(mktemp -d)
            sqlite3 "$d/t.db" < "$1"
            sqlite3 "$d/t.db" "pragma integrity_check; select count(*), sum(n), max(name) from t;
                select name from t where n = (select max(n) from t) order by id;
                pragma journal_mode=wal; update t set n = n + 1 where id % 2 = 0; select sum(n) from t;"
            sqlite3 "$d/t.db" "select count(*) from t where n % 2 = 1;"
            ls "$d"
            """;
        Need("/usr/bin/sqlite3", "sqlite3");
        var sandboxed = BashSameAsNative(script, sql);
        Assert.Contains("10000|", sandboxed.Stdout);
    }

    [Fact]
    public void Sqlite3_WalDatabase_SharedByTwoProcesses_LosesNoRows()
    {
        // WAL mode: each connection maps the -shm index file MAP_SHARED and relies on seeing the
        // other process's updates to it. A python connection stays open while the sqlite3 CLI
        // reads and inserts; neither may miss the other's commits.
        Need("/usr/bin/sqlite3", "sqlite3");
        const string program = """
            import os, sqlite3, subprocess, tempfile
            db = os.path.join(tempfile.mkdtemp(), "w.db")
            c = sqlite3.connect(db, isolation_level=None)
            print(c.execute("pragma journal_mode=wal").fetchone())
            c.execute("create table t (x)")
            for i in range(5):
                c.execute("begin")
                c.executemany("insert into t values (?)", [(j,) for j in range(100)])
                c.execute("commit")
                r = subprocess.run(["sqlite3", db, "select count(*) from t; insert into t values (-1);"], capture_output=True, text=True)
                print("sqlite3:", r.returncode, r.stdout.strip(), r.stderr.strip())
                print("python:", c.execute("select count(*) from t").fetchone())
            print(c.execute("pragma integrity_check").fetchone())
            """;
        PythonSameAsNative(program);
    }

    [Fact]
    public void Gcc_CompilesAndRunsHello()
    {
        // gcc runs cc1, as and collect2 (which runs ld) as subprocesses, all inside the sandbox.
        Need("/usr/bin/gcc", "gcc");
        string source = Path.Combine(Repo.Root, "test", "guest", "userland_hello.c");
        const string script = "gcc -O2 \"$1\" -o \"$2\" -lm && \"$2\" zulu alpha mike; echo \"rc=$?\"";
        string nativeOut = Path.Combine(_work.FullName, "h");
        var sandboxed = SameAsNative(Bash, ["-c", script, "bash", source, "/tmp/h"],
            nativeArgs: ["-c", script, "bash", source, nativeOut]);
        Assert.Contains("hello, world: sum=332833500", sandboxed.Stdout);
        Assert.EndsWith("rc=4\n", sandboxed.Stdout);
    }

    /// <summary>Compiles a C source on the host (the binary lands under out/userland-tmp, which
    /// the sandbox sees through its root) and returns the output path.</summary>
    private string CompileHere(string name, string source, params string[] gccArgs)
    {
        string src = Path.Combine(_work.FullName, name + ".c");
        File.WriteAllText(src, source);
        string output = Path.Combine(_work.FullName, name);
        var gcc = Runner.Run(Need("/usr/bin/gcc", "gcc"), ["-O2", "-o", output, src, .. gccArgs]);
        Expect.ExitCode(gcc, 0, "gcc " + name);
        return output;
    }

    [Fact]
    public void ExecutableStack_NestedFunctions_InTheProgramAndInLibraries()
    {
        // A nested function that uses a local variable is called through a trampoline GCC writes
        // on the stack, so the program (PT_GNU_STACK with PF_X: exec makes the stack executable)
        // or the library (ld.so makes it executable with mprotect(PROT_GROWSDOWN), which must
        // reach the whole stack) needs an executable stack.
        string tramp = CompileHere("tramp", """
            #include <stdio.h>
            static int apply(int (*f)(int), int x) { return f(x); }
            int main(void) { int k = 5; int add(int x) { return x + k; } printf("%d\n", apply(add, 10)); return 0; }
            """);
        var run = SameAsNative(tramp, []);
        Assert.Equal("15\n", run.Stdout);
        const string library = """
            // The trampoline is made 2 MiB down the stack, far from the page ld.so names.
            int deep(int k, int depth) {
                volatile char pad[1024];
                pad[0] = 0;
                if (depth > 0) return deep(k, depth - 1) + pad[0];
                int add(int x) { return x + k; }
                int (*volatile p)(int) = add;
                return p(1);
            }
            int f(int k) { return deep(k, 2048); }
            """;
        string lib = CompileHere("libdeepstack.so", library, "-shared", "-fPIC");
        string linked = CompileHere("linked", """
            #include <stdio.h>
            int f(int k);
            int main(void) { printf("linked: %d\n", f(41)); return 0; }
            """, lib, "-Wl,-rpath," + _work.FullName);
        run = SameAsNative(linked, []);
        Assert.Equal("linked: 42\n", run.Stdout);
        string opened = CompileHere("opened", $$"""
            #include <dlfcn.h>
            #include <stdio.h>
            int main(void) {
                void *h = dlopen("{{lib}}", RTLD_NOW);
                if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
                int (*f)(int) = (int (*)(int))dlsym(h, "f");
                printf("dlopen: %d\n", f(41));
                return 0;
            }
            """, "-ldl");
        run = SameAsNative(opened, []);
        Assert.Equal("dlopen: 42\n", run.Stdout);
    }

    [Fact]
    public void StackLimit_FromUlimit_LetsTheStackGrow()
    {
        // 40 MiB of recursion: fine with ulimit -s 65536 and unlimited, SIGSEGV with 8 MiB.
        string deep = CompileHere("deep", """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            int r(int n) { volatile char b[1024]; memset((char *)b, n, sizeof b); return n ? r(n - 1) + b[5] : 0; }
            int main(int argc, char **argv) { printf("%d\n", r(atoi(argv[1])) != -1); return 0; }
            """);
        var run = BashSameAsNative(
            "(ulimit -Ss 65536; \"$1\" 40000); (ulimit -Ss unlimited; \"$1\" 40000); (ulimit -Ss 8192; \"$1\" 40000); echo \"rc=$?\"", deep);
        Assert.Equal("1\n1\nrc=139\n", run.Stdout);
    }

    [Fact]
    public void Git_InitAddCommitLog_GivesTheSameHashes()
    {
        Need("/usr/bin/git", "git");
        var env = new Dictionary<string, string>
        {
            ["GIT_AUTHOR_NAME"] = "Sandbox Test",
            ["GIT_AUTHOR_EMAIL"] = "test@example.com",
            ["GIT_COMMITTER_NAME"] = "Sandbox Test",
            ["GIT_COMMITTER_EMAIL"] = "test@example.com",
            ["GIT_AUTHOR_DATE"] = "2024-01-02T03:04:05Z",
            ["GIT_COMMITTER_DATE"] = "2024-01-02T03:04:05Z",
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_CONFIG_GLOBAL"] = "/dev/null",
            ["HOME"] = "/nonexistent",
        };
        const string script = """
            set -e
            umask 022
            d=$(mktemp -d)
            cd "$d"
            git init -q -b main .
            echo one > a.txt
            mkdir sub
            seq 1 1000 > sub/n.txt
            printf '#!/bin/sh\necho hi\n' > run.sh
            chmod +x run.sh
            git add .
            git commit -q -m first
            echo two >> a.txt
            git rm -q sub/n.txt
            ln -s a.txt b
            git add -A
            git commit -q -m second
            git log --oneline
            git status --short
            git rev-parse HEAD HEAD^{tree}
            git cat-file -p HEAD~1:sub/n.txt | tail -1
            git ls-tree -r HEAD
            git diff --stat HEAD~1 HEAD
            git fsck --strict
            git gc -q
            git count-objects -v | grep -v size
            git log --format='%H %an %ad %s' --date=iso-strict
            """;
        var sandboxed = SameAsNative(Bash, ["-c", script], env);
        Assert.Contains(" second\n", sandboxed.Stdout);
    }
}
