// The ptrace tests spawn stub processes and pin their tracer thread to a CPU; the machine
// has two vCPUs. Run the tests one at a time so that they do not starve each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

// The platform is Linux-only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
