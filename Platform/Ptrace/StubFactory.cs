using System.Collections.Concurrent;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Platform.Ptrace;

/// <summary>Makes stub processes by forking a template stub instead of executing the stub image
/// each time. The template is the only stub ever started with execve (from the memfd, through
/// /proc/self/fd, which needs the host's /proc): it is started before the Sentry confines itself
/// (chroot into an empty directory, its own seccomp filter), so that afterwards new address
/// spaces need neither a host path nor an execve, and every stub inherits the template's state
/// (address space cleared down to the stub page, only the MemoryFile open, the stub's seccomp
/// filter, the credentials the template was given) rather than the Sentry's filter.
///
/// ptrace binds a tracee to one tracer thread, so the template is owned by a thread of its own,
/// which serves fork requests: it injects clone(CLONE_PARENT | SIGCHLD) into the template. The
/// child is the Sentry's child (CLONE_PARENT), waits in the clone gadget's pause() loop, and is
/// attached by the thread that asked for it, which becomes its tracer (as for a stub thread).</summary>
internal sealed class StubFactory : IDisposable
{
    private const ulong CLONE_PARENT = 0x8000;

    private readonly BlockingCollection<Request> _requests = [];
    private readonly Thread _thread;
    private PtraceStub? _template;

    /// <summary>The template's pid, also the process group of every stub (a fork keeps its
    /// parent's group): one kill(-group) reaches them all.</summary>
    public int TemplatePid { get; }

    private abstract class Request
    {
        public readonly ManualResetEventSlim Done = new();
        public Exception? Failure;
        public abstract void Run(PtraceStub template);
    }

    private sealed class ForkRequest : Request
    {
        public int Pid;
        public override void Run(PtraceStub template) => Pid = template.ForkProcess(CLONE_PARENT | (ulong)Signals.SIGCHLD);
    }

    private sealed class InjectRequest(SyscallNumber nr, ulong a0, ulong a1, ulong a2) : Request
    {
        public long Result;
        public override void Run(PtraceStub template) => Result = template.Inject(nr, a0, a1, a2);
    }

    public StubFactory(PtracePlatform platform)
    {
        var started = new ManualResetEventSlim();
        Exception? failure = null;
        _thread = new Thread(() =>
        {
            try
            {
                _template = new PtraceStub(platform, spawnedPid: 0);
            }
            catch (Exception e)
            {
                failure = e;
            }
            started.Set();
            if (_template != null) Serve(_template);
        })
        { Name = "stub-template", IsBackground = true };
        _thread.Start();
        started.Wait();
        if (failure != null) throw failure;
        TemplatePid = _template!.Pid;
    }

    private void Serve(PtraceStub template)
    {
        foreach (Request r in _requests.GetConsumingEnumerable())
        {
            try
            {
                r.Run(template);
            }
            catch (Exception e)
            {
                r.Failure = e;
            }
            r.Done.Set();
        }
        // Shutting down: the template goes with its tracer thread, and any fork of it still
        // there (every stub is in the template's process group) with it.
        Unistd.Kill(-TemplatePid, Signals.SIGKILL);
        template.Dispose();
    }

    private T Ask<T>(T request) where T : Request
    {
        try
        {
            _requests.Add(request);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(StubFactory));
        }
        request.Done.Wait();
        request.Done.Dispose();
        if (request.Failure != null) throw new InvalidOperationException($"stub template: {request.Failure.Message}", request.Failure);
        return request;
    }

    /// <summary>A new stub process, a copy of the template, waiting to be attached.</summary>
    public int Fork() => Ask(new ForkRequest()).Pid;

    /// <summary>Runs a host system call in the template (so in every stub forked later), e.g.
    /// to give it the credentials the Sentry is about to take.</summary>
    public long InjectIntoTemplate(SyscallNumber nr, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0) =>
        Ask(new InjectRequest(nr, a0, a1, a2)).Result;

    public void Dispose()
    {
        _requests.CompleteAdding();
        _thread.Join();
        _requests.Dispose();
    }
}
