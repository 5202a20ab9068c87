using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Abi;
using Sandbox.Abi.Host;

namespace Sandbox.Gofer.Confinement;

/// <summary>How an argument of a planned system call is found when the call runs.</summary>
public enum PlanArgKind
{
    /// <summary>The value itself.</summary>
    Immediate,
    /// <summary>The address of a byte offset in the plan's data (a string, a struct, an argv array).</summary>
    Address,
    /// <summary>The 8 bytes stored at a data offset: a slot, which holds the result of an earlier call.</summary>
    Slot,
}

/// <summary>One argument of a planned system call.</summary>
public readonly record struct PlanArg(PlanArgKind Kind, long Value)
{
    public static implicit operator PlanArg(long value) => new(PlanArgKind.Immediate, value);
}

/// <summary>What one step of a plan does.</summary>
public enum PlanOpKind
{
    /// <summary>A system call; a result in [-4095, -1] is a failure unless it is -<see cref="PlanOp.IgnoredErrno"/>.</summary>
    Syscall,
    /// <summary>getpid(), written in decimal (NUL-terminated) into the buffer at
    /// <see cref="PlanOp.Data"/>; the string's address goes into slot <see cref="PlanOp.Into"/>.</summary>
    PidString,
    /// <summary>On the two struct __user_cap_data_struct at <see cref="PlanOp.Data"/> (as capget
    /// filled them): permitted &amp;= <see cref="PlanOp.Mask"/>, effective = permitted, inheritable = 0.</summary>
    KeepCapabilities,
}

/// <summary>One step: a system call with its arguments, the slot its result goes to (or -1),
/// an errno that counts as success, and what it does, for the error message.</summary>
public sealed record PlanOp(PlanOpKind Kind, SyscallNumber Number, PlanArg[] Args, int Into, int IgnoredErrno, string What)
{
    public int Data { get; init; }
    public ulong Mask { get; init; }
}

/// <summary>A list of system calls computed in advance, with the data they point at: the
/// gofer's confinement as <see cref="GoferSandbox.BuildPlan"/> computes it. A plan runs either
/// in this process (<see cref="Execute"/>, the re-execution path of a stand-alone `runsc gofer`)
/// or as a generated static program (<see cref="ConfinementLauncher"/>) that runsc spawns; the
/// last step is execve, so whatever runs it is replaced by the confined gofer. Both run the
/// same steps in the same order, so the two paths confine identically.
///
/// Data is position-independent: pointers inside it (argv and envp arrays) are recorded as
/// fix-ups and written once its address is known.</summary>
public sealed class ConfinementPlan
{
    // No tuples or other value types in generic collections here: runsc builds plans on the
    // critical path of `runsc do`, and such instantiations of framework generics are not
    // precompiled (ReadyToRun), they would be JIT-compiled first.
    private readonly ByteBuilder _data = new();
    private readonly Dictionary<string, int> _strings = new(StringComparer.Ordinal);
    private readonly ByteBuilder _pointers = new(); // pairs of int32: where, and the offset it points at
    private readonly List<PlanOp> _ops = [];
    private static readonly PlanArg[] NoArgs = new PlanArg[0];

    public IReadOnlyList<PlanOp> Ops => _ops;
    public int DataLength => _data.Count;

    /// <summary>How many pointers the data holds (see <see cref="Pointer"/>).</summary>
    public int PointerCount => _pointers.Count / 8;

    /// <summary>Pointer i: the data offset that holds it and the data offset it points at.</summary>
    public void Pointer(int i, out int at, out int target)
    {
        at = BinaryPrimitives.ReadInt32LittleEndian(_pointers.Span[(8 * i)..]);
        target = BinaryPrimitives.ReadInt32LittleEndian(_pointers.Span[(8 * i + 4)..]);
    }

    /// <summary>A copy of the data, pointers not yet fixed up.</summary>
    public byte[] DataImage() => _data.Span.ToArray();

    public static PlanArg At(int offset) => new(PlanArgKind.Address, offset);
    public static PlanArg SlotValue(int slot) => new(PlanArgKind.Slot, slot);

    /// <summary>A NUL-terminated UTF-8 string in the data (shared between equal strings).</summary>
    public PlanArg Str(string s)
    {
        if (!_strings.TryGetValue(s, out int at))
        {
            at = Append(Encoding.UTF8.GetBytes(s + "\0"), 1);
            _strings[s] = at;
        }
        return At(at);
    }

    /// <summary>Bytes in the data, aligned; returns their offset.</summary>
    public int Append(ReadOnlySpan<byte> bytes, int align) => _data.Append(bytes, align);

    /// <summary>Zeroed bytes in the data; returns their offset.</summary>
    public int Reserve(int size, int align) => Append(new byte[size], align);

    /// <summary>A slot for a call's result (8 bytes, initially 0).</summary>
    public int NewSlot() => Reserve(8, 8);

    /// <summary>A NULL-terminated array of pointers to strings (argv, envp).</summary>
    public PlanArg StringArray(IReadOnlyList<string> strings)
    {
        var targets = new int[strings.Count];
        for (int i = 0; i < targets.Length; i++) targets[i] = (int)Str(strings[i]).Value;
        int array = Reserve(8 * (targets.Length + 1), 8);
        Span<byte> pair = stackalloc byte[8];
        for (int i = 0; i < targets.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(pair, array + 8 * i);
            BinaryPrimitives.WriteInt32LittleEndian(pair[4..], targets[i]);
            _pointers.Append(pair, 1);
        }
        return At(array);
    }

    /// <summary>Adds a system call whose result no later call needs.</summary>
    public void Call(SyscallNumber nr, string what, params PlanArg[] args) => Add(nr, what, into: false, ignoredErrno: 0, args);

    /// <summary>Adds a system call whose result (a descriptor) later calls use; returns its slot.</summary>
    public int CallInto(SyscallNumber nr, string what, params PlanArg[] args) => Add(nr, what, into: true, ignoredErrno: 0, args);

    /// <summary>Adds a system call for which failing with ignoredErrno is as good as success.</summary>
    public void CallIgnoring(Errno ignoredErrno, SyscallNumber nr, string what, params PlanArg[] args) =>
        Add(nr, what, into: false, (int)ignoredErrno, args);

    private int Add(SyscallNumber nr, string what, bool into, int ignoredErrno, PlanArg[] args)
    {
        if (args.Length > 6) throw new ArgumentException("a system call takes at most six arguments", nameof(args));
        int slot = into ? NewSlot() : -1;
        _ops.Add(new PlanOp(PlanOpKind.Syscall, nr, args, slot, ignoredErrno, what));
        return slot;
    }

    /// <summary>Adds getpid() formatted as a decimal string; returns the slot holding its address.</summary>
    public int PidString()
    {
        int buffer = Reserve(24, 8);
        int slot = NewSlot();
        _ops.Add(new PlanOp(PlanOpKind.PidString, SyscallNumber.getpid, NoArgs, slot, 0, "getpid") { Data = buffer });
        return slot;
    }

    /// <summary>Adds the masking of two struct __user_cap_data_struct at data (see <see cref="PlanOpKind.KeepCapabilities"/>).</summary>
    public void KeepCapabilities(int data, ulong mask) =>
        _ops.Add(new PlanOp(PlanOpKind.KeepCapabilities, 0, NoArgs, -1, 0, "keeping capabilities") { Data = data, Mask = mask });

    /// <summary>Runs the plan on the calling thread. The last step, execve, does not return;
    /// a failing step throws <see cref="ConfinementException"/> naming it.</summary>
    public unsafe void Execute()
    {
        byte[] data = DataImage();
        fixed (byte* b = data)
        {
            for (int i = 0; i < PointerCount; i++)
            {
                Pointer(i, out int at, out int target);
                *(ulong*)(b + at) = (ulong)(b + target);
            }
            foreach (PlanOp op in _ops)
            {
                switch (op.Kind)
                {
                    case PlanOpKind.PidString:
                        {
                            string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
                            byte* end = b + op.Data + 23; // the last byte stays NUL
                            byte* start = end - pid.Length;
                            for (int i = 0; i < pid.Length; i++) start[i] = (byte)pid[i];
                            *(ulong*)(b + op.Into) = (ulong)start;
                            break;
                        }
                    case PlanOpKind.KeepCapabilities:
                        {
                            uint* caps = (uint*)(b + op.Data);
                            for (int word = 0; word < 2; word++)
                            {
                                uint permitted = caps[3 * word + 1] & (uint)(op.Mask >> (32 * word));
                                caps[3 * word] = permitted;
                                caps[3 * word + 1] = permitted;
                                caps[3 * word + 2] = 0;
                            }
                            break;
                        }
                    default:
                        {
                            nint* a = stackalloc nint[6];
                            for (int i = 0; i < 6; i++) a[i] = i < op.Args.Length ? Resolve(b, op.Args[i]) : 0;
                            long r = Seccomp.RawSyscall((long)op.Number, a[0], a[1], a[2], a[3], a[4], a[5]);
                            if (r == -1)
                            {
                                int errno = HostError.Last;
                                if (errno != 0 && errno == op.IgnoredErrno) break;
                                throw new ConfinementException($"{op.What}: {Marshal.GetPInvokeErrorMessage(errno)}");
                            }
                            if (op.Into >= 0) *(long*)(b + op.Into) = r;
                            break;
                        }
                }
            }
        }
        throw new ConfinementException("the confinement plan does not end with execve");
    }

    private static unsafe nint Resolve(byte* data, PlanArg arg) => arg.Kind switch
    {
        PlanArgKind.Address => (nint)(data + arg.Value),
        PlanArgKind.Slot => (nint)(*(long*)(data + arg.Value)),
        _ => (nint)arg.Value,
    };

    /// <summary>The plan as text, one step per line (for tests and debugging).</summary>
    public IEnumerable<string> Describe()
    {
        foreach (PlanOp op in _ops)
        {
            string args = string.Join(", ", op.Args.Select(a => a.Kind switch
            {
                PlanArgKind.Address => DescribeData((int)a.Value),
                PlanArgKind.Slot => $"[{a.Value}]",
                _ => a.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }));
            string name = op.Kind == PlanOpKind.Syscall ? op.Number.ToString() : op.Kind.ToString();
            yield return $"{(op.Into >= 0 ? $"[{op.Into}] = " : "")}{name}({args}){(op.IgnoredErrno != 0 ? $" ignoring {(Errno)op.IgnoredErrno}" : "")}";
        }
    }

    private string DescribeData(int offset)
    {
        foreach (var (s, at) in _strings)
        {
            if (at == offset) return $"\"{s}\"";
        }
        return $"&{offset}";
    }

    /// <summary>Writes little-endian values into reserved data (structs the calls take).</summary>
    public void WriteUInt64(int offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(_data.Span[offset..], value);

    public void WriteUInt32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_data.Span[offset..], value);
}

/// <summary>A growable byte array (List&lt;byte&gt; without the generic instantiation to JIT).</summary>
internal sealed class ByteBuilder
{
    private byte[] _bytes = new byte[256];

    public int Count { get; private set; }

    public Span<byte> Span => _bytes.AsSpan(0, Count);

    /// <summary>Appends bytes after zero padding to a multiple of align; returns their offset.</summary>
    public int Append(ReadOnlySpan<byte> bytes, int align)
    {
        int at = (Count + align - 1) / align * align;
        Grow(at + bytes.Length);
        _bytes.AsSpan(Count, at - Count).Clear();
        bytes.CopyTo(_bytes.AsSpan(at));
        Count = at + bytes.Length;
        return at;
    }

    public void Add(byte b)
    {
        Grow(Count + 1);
        _bytes[Count++] = b;
    }

    private void Grow(int size)
    {
        if (size <= _bytes.Length) return;
        var grown = new byte[Math.Max(size, 2 * _bytes.Length)];
        _bytes.AsSpan(0, Count).CopyTo(grown);
        _bytes = grown;
    }
}
