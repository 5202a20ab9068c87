// The Sentry is Linux-only (its MemoryFile is a memfd).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
