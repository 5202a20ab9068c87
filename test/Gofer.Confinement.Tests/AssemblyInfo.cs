// The tests start confined gofers that inherit one end of a socketpair: run them one at a
// time so that no other test's child inherits a descriptor it should not hold.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

// Namespaces, capabilities and seccomp are Linux-only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
