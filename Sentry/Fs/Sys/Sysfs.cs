using Sandbox.Sentry.Fs.Proc;

namespace Sandbox.Sentry.Fs.Sys;

/// <summary>sysfs: the few files programs read to size themselves (the CPU lists glibc's
/// get_nprocs and runtimes read) and an empty /sys/fs/cgroup.</summary>
public static class Sysfs
{
    public const long SysfsMagic = 0x62656572;

    public static SyntheticFileSystem Create()
    {
        var fs = new SyntheticFileSystem("sysfs", SysfsMagic);
        var root = new StaticDirectory(fs, 0x1ed /* 0755 */);
        fs.SetRoot(root);

        int cpus = Environment.ProcessorCount;
        string list = (cpus <= 1 ? "0" : $"0-{cpus - 1}") + "\n";
        var cpu = root.Dir("devices", 0x1ed).Dir("system", 0x1ed).Dir("cpu", 0x1ed);
        cpu.Text("online", list);
        cpu.Text("possible", list);
        cpu.Text("present", list);
        for (int i = 0; i < cpus; i++) cpu.Dir($"cpu{i}", 0x1ed);

        root.Dir("fs", 0x1ed).Dir("cgroup", 0x1ed);
        root.Dir("kernel", 0x1ed);
        root.Dir("class", 0x1ed);
        root.Dir("bus", 0x1ed);
        return fs;
    }
}
