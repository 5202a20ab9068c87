// The gofer is Linux-only (openat, getdents64, socketpair).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
