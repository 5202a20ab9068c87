using Sandbox.Abi;
using Sandbox.Sentry.Vfs;

namespace Sandbox.Sentry.Tests;

/// <summary>A stand-in for a file of the Gofer's read-only lower layer, for the file cache
/// tests: its content changes only together with its mtime (<see cref="Replace"/>), it counts
/// the bytes read from it, and <see cref="Truncate"/> plays the host shrinking it before the
/// sandbox has revalidated (size and mtime still the old ones).</summary>
internal sealed class LowerLayerFile(byte[] content, ulong ino = 7) : Inode(new NoFileSystem(), StatMode.S_IFREG | 0x1ed, 0, 0, ino)
{
    private byte[] _content = content;
    private long _size = content.Length;
    public long BytesRead;
    public override long Size => _size;
    public override bool ContentIsStable => true;

    public override long ReadData(long offset, Span<byte> dst)
    {
        if (offset >= _content.Length) return 0;
        int n = Math.Min(dst.Length, _content.Length - (int)offset);
        _content.AsSpan((int)offset, n).CopyTo(dst);
        BytesRead += n;
        return n;
    }

    public void Replace(byte[] content)
    {
        _content = content;
        _size = content.Length;
        Mtime = new Timespec(Mtime.Sec + 1, 0);
    }

    public void Truncate(int length) => _content = _content[..length];

    public override long Open(Kernel.Task task, PathPos path, int flags, out FileDescription? file) => throw new NotSupportedException();

    private sealed class NoFileSystem : FileSystem
    {
        public override string Type => "test";
        public override long Magic => 0;
        public override Inode Root => throw new NotSupportedException();
    }
}
