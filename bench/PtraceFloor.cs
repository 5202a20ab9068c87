using System.Diagnostics;
using System.Globalization;
using Sandbox.Abi;
using Sandbox.Platform;
using Sandbox.Platform.Ptrace;

namespace Sandbox.Bench;

/// <summary>The floor under our getppid figure, measured in the same run: the ptrace platform
/// alone (Platform/Ptrace: a real stub; PtraceThread.Switch's PTRACE_SETREGS, PTRACE_SYSEMU,
/// waitpid, PTRACE_GETREGS; tracer and stub on one CPU) serving a guest that loops on getppid,
/// each call answered at once with no Sentry behind it. What ours costs above this is the
/// Sentry's own work per system call.</summary>
public static class PtraceFloor
{
    /// <summary>The option that makes this program measure the floor once and print
    /// "ns_per_call N" (see Program.cs).</summary>
    public const string Flag = "--ptrace-floor";

    /// <summary>Runs the measurement in runs fresh processes of this program
    /// (<see cref="RunHere"/>), as our getppid figure comes from a fresh runsc: the harness
    /// itself runs many processes and threads besides.</summary>
    public static Measurement NsPerCall(int iterations, int runs, string cwd)
    {
        var samples = new List<double>();
        string self = Environment.ProcessPath ?? "";
        for (int i = 0; i < runs; i++)
        {
            RunResult r = ProcessRunner.Run([self, Flag, iterations.ToString(CultureInfo.InvariantCulture)],
                TimeSpan.FromMinutes(2), cwd);
            if (!r.Ok) return Measurement.Failed($"ptrace floor: {r.Describe()}");
            double? ns = Benchmarks.ParseFigure(r.Stdout, "ns_per_call");
            if (ns is null) return Measurement.Failed("ptrace floor: no ns_per_call line");
            samples.Add(ns.Value);
        }
        return new Measurement(samples, null, $"{runs} runs × {iterations:N0} calls, each in a fresh process");
    }

    /// <summary>One measurement in this process, on a thread of its own (the stub's tracer);
    /// prints "ns_per_call N". Returns the exit status.</summary>
    public static int RunHere(int iterations)
    {
        double ns = 0;
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try { ns = OneRun(iterations); }
            catch (Exception e) { failure = e; }
        });
        t.Start();
        t.Join();
        if (failure != null)
        {
            Console.Error.WriteLine($"ptrace floor: {failure.Message}");
            return 1;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ns_per_call {ns:F2}"));
        return 0;
    }

    private static double OneRun(int iterations)
    {
        using var platform = new PtracePlatform();
        IAddressSpace space = platform.NewAddressSpace(); // pins this thread and its stub to one CPU
        try
        {
            // loop: mov eax, SYS_getppid (110); syscall; jmp loop
            byte[] code = [0xB8, 110, 0, 0, 0, 0x0F, 0x05, 0xEB, 0xF7];
            const ulong CodeAddress = 0x400000, Page = 0x1000;
            long offset = platform.MemoryFile.Allocate((long)Page);
            code.CopyTo(platform.MemoryFile.Slice(offset, code.Length));
            space.Map(CodeAddress, Page, offset, Mm.PROT_READ | Mm.PROT_EXEC);
            IContext context = space.MainContext;
            UserRegs regs = context.InitialRegisters;
            regs.Rip = CodeAddress;
            Serve(context, ref regs, 1000); // warm-up: JIT, caches
            var clock = Stopwatch.StartNew();
            Serve(context, ref regs, iterations);
            return clock.Elapsed.TotalNanoseconds / iterations;
        }
        finally
        {
            space.Dispose();
        }
    }

    /// <summary>Serves n system calls of the guest, each answered 1 (getppid).</summary>
    private static void Serve(IContext context, ref UserRegs regs, int n)
    {
        for (int k = 0; k < n; k++)
        {
            if (context.Switch(ref regs, out _) != SwitchReason.Syscall)
                throw new InvalidOperationException("the guest did not make a system call");
            regs.Rax = 1;
        }
    }
}
