// Sandboxed runs are heavy (a Sentry, ptrace stubs and a gofer each) and the machine has
// two vCPUs: run the tests one at a time so that they do not starve each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

// The sandbox and its guests are Linux-only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
