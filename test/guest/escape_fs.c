// escape_fs: tries to leave the sandbox's root file system. Run as
//   runsc do --root DIR /escape_fs SENTINEL HOSTDIR PID...
// where DIR (HOSTDIR is its host path) holds hostile entries the test made (see
// EscapeFsTests.cs), SENTINEL is the host path of a file outside DIR whose content the
// guest must never see, and PIDs are host process ids (runsc's own, the test's) that
// /proc must not show. The attempts: ".." chains from "/" and from deep directories,
// symlinks (absolute and relative) that point above the root or at host paths, /proc/self/root
// and /proc/self/cwd with "..", /proc/<host pid>, bind mounts whose symlinks leave them,
// open_by_handle_at with a forged handle, the chroot-and-climb escape, and the guest's
// descriptors (none may be a host socket such as the Gofer's).
//
// Prints one line per attempt ("check NAME: ok" or "check NAME: FAILED ...", plus "info"
// lines) and then "escape_fs ok" or "escape_fs FAILED (n)"; exits 0 only if every check
// passed. Refuses to run (exit 2) unless it is pid 1, i.e. inside the sandbox: natively
// its mount and chroot calls would change the host.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#define MARKER "sandbox-root-marker" // a file only DIR's root has
#define SENTINEL_NAME "sentinel"     // a file only DIR's parent on the host has
#define PARENT_ONLY "root"           // DIR's own name, an entry of its host parent

static struct stat root_st;

static void info(const char *fmt, ...) {
    va_list ap;
    printf("info ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

// Whether directory FD lists NAME.
static int fd_lists(int fd, const char *name) {
    int dup = openat(fd, ".", O_RDONLY | O_DIRECTORY);
    if (dup < 0) return 0;
    DIR *d = fdopendir(dup);
    if (!d) {
        close(dup);
        return 0;
    }
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, name) == 0) found = 1;
    closedir(d);
    return found;
}

// Checks that PATH (resolved from DIRFD) is the sandbox's root: the same inode as "/",
// listing the marker and neither of the host parent's entries.
static void expect_root_at(const char *name, int dirfd, const char *path) {
    errno = 0;
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        fail(name, "open %s: %s", path, ename(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail(name, "fstat %s: %s", path, ename(errno));
    } else if (st.st_dev != root_st.st_dev || st.st_ino != root_st.st_ino) {
        fail(name, "%s is not the root's inode", path);
    } else if (!fd_lists(fd, MARKER)) {
        fail(name, "%s does not list " MARKER, path);
    } else if (fd_lists(fd, SENTINEL_NAME) || fd_lists(fd, PARENT_ONLY)) {
        fail(name, "%s lists an entry of the host directory above the root", path);
    } else {
        pass(name);
    }
    close(fd);
}

static void expect_root(const char *name, const char *path) { expect_root_at(name, AT_FDCWD, path); }

// PATH and REF name the same inode.
static void expect_same(const char *name, const char *path, const char *ref) {
    struct stat a, b;
    errno = 0;
    if (stat(path, &a) != 0) fail(name, "stat %s: %s", path, ename(errno));
    else if (stat(ref, &b) != 0) fail(name, "stat %s: %s", ref, ename(errno));
    else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) fail(name, "%s is not %s", path, ref);
    else pass(name);
}

// Opening PATH must fail with ENOENT (it names something outside the sandbox).
static void expect_absent(const char *name, const char *path) {
    errno = 0;
    int fd = open(path, O_RDONLY);
    int e = errno;
    if (fd >= 0) {
        // Do not print what it holds: the test looks for the sentinel's content in our output.
        fail(name, "open %s succeeded", path);
        close(fd);
    } else if (e != ENOENT) {
        fail(name, "open %s: %s, expected ENOENT", path, ename(e));
    } else {
        pass(name);
    }
}

// Whether FILE's content contains NEEDLE.
static int file_contains(const char *file, const char *needle) {
    int fd = open(file, O_RDONLY);
    if (fd < 0) return -1;
    static char buf[1 << 16];
    ssize_t total = 0, n;
    while (total < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
    close(fd);
    buf[total] = 0;
    return strstr(buf, needle) != NULL;
}

static void dotdot_chains(void) {
    expect_root("/ is the sandbox root", "/");
    expect_root("/..", "/..");
    expect_root("/../../../../../../../..", "/../../../../../../../..");
    expect_root("/d1/../../..", "/d1/../../..");

    if (chdir("/d1/d2/d3/d4/d5") != 0) {
        fail("chdir /d1/d2/d3/d4/d5", "%s", ename(errno));
        return;
    }
    expect_root("../ x10 from /d1/d2/d3/d4/d5", "../../../../../../../../../..");
    if (chdir("../../../../../../../../../..") != 0) {
        fail("chdir ../ x10 from the deep dir", "%s", ename(errno));
    } else {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0) pass("getcwd after climbing is /");
        else fail("getcwd after climbing is /", "got %s", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
        expect_root(". after climbing", ".");
    }
    int deep = open("/d1/d2/d3/d4/d5", O_PATH | O_DIRECTORY);
    expect_root_at("openat(deep fd, ../ x10)", deep, "../../../../../../../../../..");
    close(deep);
    if (chdir("/") != 0) fail("chdir /", "%s", ename(errno));
}

static void symlinks(const char *sentinel, const char *hostdir) {
    char target[4096];
    ssize_t n = readlink("/evil", target, sizeof target - 1);
    if (n > 0) target[n] = 0;
    if (n > 0 && strcmp(target, "/../../../etc/shadow") == 0) pass("/evil is the hostile symlink");
    else fail("/evil is the hostile symlink", "readlink: %s", n < 0 ? ename(errno) : target);
    expect_absent("/evil -> /../../../etc/shadow", "/evil");
    expect_absent("/etc/shadow (absent from DIR)", "/etc/shadow");
    expect_absent("/abs-sentinel -> host path of the sentinel", "/abs-sentinel");
    expect_absent("/rel-sentinel -> ../" SENTINEL_NAME, "/rel-sentinel");
    expect_absent("/d1/d2/d3/up-sentinel -> ../ x8 " SENTINEL_NAME, "/d1/d2/d3/up-sentinel");
    expect_absent("the sentinel's host path", sentinel);
    expect_absent("/../" SENTINEL_NAME, "/../" SENTINEL_NAME);
    expect_absent("/d1/../../" SENTINEL_NAME, "/d1/../../" SENTINEL_NAME);
    char path[4096];
    snprintf(path, sizeof path, "%s/" MARKER, hostdir);
    expect_absent("DIR's host path", path);
    expect_absent("/abs-parent -> DIR's host parent", "/abs-parent/" SENTINEL_NAME);
    expect_root("/rel-parent -> ..", "/rel-parent");
    expect_root("/abs-root-dotdot -> /..", "/abs-root-dotdot");
    expect_root("/d1/d2/d3/up -> ../ x8", "/d1/d2/d3/up");
    expect_root("/d1/d2/d3/up/d1/d2/d3/up/..", "/d1/d2/d3/up/d1/d2/d3/up/..");
    expect_root("/procroot-up -> /proc/self/root/../../..", "/procroot-up");
    errno = 0;
    int fd = open("/loop", O_RDONLY);
    if (fd < 0 && errno == ELOOP) pass("/loop -> loop is ELOOP");
    else fail("/loop -> loop is ELOOP", "fd %d errno %s", fd, ename(errno));
    if (fd >= 0) close(fd);
}

static void proc_self(const char *sentinel, const char *hostdir) {
    char link[4096];
    ssize_t n = readlink("/proc/self/root", link, sizeof link - 1);
    if (n >= 0) link[n] = 0;
    if (n == 1 && strcmp(link, "/") == 0) pass("readlink /proc/self/root is /");
    else fail("readlink /proc/self/root is /", "got %s", n < 0 ? ename(errno) : link);
    expect_root("/proc/self/root", "/proc/self/root");
    expect_root("/proc/self/root/..", "/proc/self/root/..");
    expect_root("/proc/self/root/../../..", "/proc/self/root/../../..");
    expect_root("/proc/1/root/..", "/proc/1/root/..");
    expect_root("/proc/self/cwd/../..", "/proc/self/cwd/../..");
    expect_absent("/proc/self/root/../" SENTINEL_NAME, "/proc/self/root/../" SENTINEL_NAME);
    char path[4096];
    snprintf(path, sizeof path, "/proc/self/root%s", sentinel);
    expect_absent("/proc/self/root + the sentinel's host path", path);

    int rootfd = open("/", O_PATH | O_DIRECTORY);
    snprintf(path, sizeof path, "/proc/self/fd/%d/..", rootfd);
    expect_root("/proc/self/fd/<fd of />/..", path);
    close(rootfd);

    n = readlink("/proc/self/exe", link, sizeof link - 1);
    if (n >= 0) link[n] = 0;
    if (n >= 0 && strcmp(link, "/escape_fs") == 0) pass("readlink /proc/self/exe is /escape_fs");
    else fail("readlink /proc/self/exe is /escape_fs", "got %s", n < 0 ? ename(errno) : link);

    // The mount tables must not reveal where DIR is on the host.
    const char *tables[] = {"/proc/self/mounts", "/proc/self/mountinfo"};
    for (int i = 0; i < 2; i++) {
        int r = file_contains(tables[i], hostdir);
        char name[128];
        snprintf(name, sizeof name, "%s does not name DIR's host path", tables[i]);
        if (r == 0) pass(name);
        else fail(name, r < 0 ? "cannot read it: %s" : "it does", ename(errno));
    }
}

static void host_pids(int count, char **pids) {
    for (int i = 0; i < count; i++) {
        long pid = strtol(pids[i], NULL, 10);
        if (pid <= 1 || pid == getpid()) {
            info("host pid %ld skipped (also a sandbox pid)", pid);
            continue;
        }
        const char *suffixes[] = {"", "/root", "/root/..", "/cwd", "/exe", "/cmdline", "/environ", "/fd", "/fd/3", "/maps", "/mem"};
        for (size_t s = 0; s < sizeof suffixes / sizeof *suffixes; s++) {
            char path[128], name[192];
            snprintf(path, sizeof path, "/proc/%ld%s", pid, suffixes[s]);
            snprintf(name, sizeof name, "/proc/<host pid %s>%s", i == 0 ? "of runsc" : "of the test", suffixes[s]);
            struct stat st;
            errno = 0;
            int r = lstat(path, &st);
            if (r != 0 && errno == ENOENT) pass(name);
            else fail(name, "lstat %s: %s", path, r == 0 ? "exists" : ename(errno));
        }
    }
    // Every pid directory in /proc is a sandbox task: none of the host pids.
    DIR *d = opendir("/proc");
    if (!d) {
        fail("readdir /proc", "%s", ename(errno));
        return;
    }
    int bad = 0, tasks = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name) continue;
        tasks++;
        for (int i = 0; i < count; i++)
            if (pid == strtol(pids[i], NULL, 10) && pid != getpid()) bad++;
    }
    closedir(d);
    if (bad == 0 && tasks >= 1) pass("readdir /proc lists no host pid");
    else fail("readdir /proc lists no host pid", "%d host pids among %d", bad, tasks);
}

static const char *type_name(mode_t m) {
    switch (m & S_IFMT) {
    case S_IFREG: return "regular";
    case S_IFDIR: return "directory";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "symlink";
    case S_IFSOCK: return "socket";
    }
    return "?";
}

static void descriptors(void) {
    for (int fd = 0; fd <= 2; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0) info("fd %d is a %s", fd, type_name(st.st_mode));
        else info("fd %d: %s", fd, ename(errno));
    }
    int open_fds = 0, sockets = 0;
    for (int fd = 3; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) < 0) continue;
        open_fds++;
        struct stat st;
        if (fstat(fd, &st) != 0) {
            fail("fstat an inherited fd", "fd %d: %s", fd, ename(errno));
            continue;
        }
        info("fd %d is open: a %s", fd, type_name(st.st_mode));
        if (S_ISSOCK(st.st_mode)) sockets++;
        char path[64], link[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n >= 0) {
            link[n] = 0;
            info("fd %d -> %s", fd, link);
            if (strncmp(link, "socket:", 7) == 0) sockets++;
        }
    }
    info("%d descriptors open in 3..1023", open_fds);
    if (sockets == 0) pass("no descriptor in 3..1023 is a socket");
    else fail("no descriptor in 3..1023 is a socket", "%d socket(s)", sockets);

    // Nor does /proc/self/fd list any socket.
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        fail("readdir /proc/self/fd", "%s", ename(errno));
        return;
    }
    int listed_sockets = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], link[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) continue;
        link[n] = 0;
        if (strncmp(link, "socket:", 7) == 0 && atoi(e->d_name) > 2) listed_sockets++;
    }
    closedir(d);
    if (listed_sockets == 0) pass("/proc/self/fd lists no socket above 2");
    else fail("/proc/self/fd lists no socket above 2", "%d", listed_sockets);
}

// The "shocker" escape: a forged file handle for inode 2 (an ext4 root) opened relative
// to our root. It must fail, or give the sandbox's root rather than the host's.
static void file_handles(void) {
    struct {
        struct file_handle h;
        unsigned char bytes[128];
    } fh;
    memset(&fh, 0, sizeof fh);
    fh.h.handle_bytes = 8;
    fh.h.handle_type = 1; // FILEID_INO32_GEN
    unsigned int ino_gen[2] = {2, 0};
    memcpy(fh.h.f_handle, ino_gen, sizeof ino_gen);
    int rootfd = open("/", O_RDONLY | O_DIRECTORY);
    errno = 0;
    int fd = (int)syscall(SYS_open_by_handle_at, rootfd, &fh.h, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        info("open_by_handle_at(forged inode 2): %s", ename(errno));
        pass("open_by_handle_at with a forged handle does not reach the host");
    } else {
        expect_root_at("open_by_handle_at with a forged handle does not reach the host", fd, ".");
        close(fd);
    }

    memset(&fh, 0, sizeof fh);
    fh.h.handle_bytes = sizeof fh.bytes;
    int mount_id = 0;
    errno = 0;
    int r = (int)syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh.h, &mount_id, 0);
    if (r != 0) {
        info("name_to_handle_at(/): %s", ename(errno));
    } else {
        fd = (int)syscall(SYS_open_by_handle_at, rootfd, &fh.h, O_RDONLY | O_DIRECTORY);
        if (fd < 0) {
            info("open_by_handle_at(handle of /): %s", ename(errno));
        } else {
            expect_root_at("open_by_handle_at(handle of /) is the sandbox root", fd, ".");
            close(fd);
        }
    }
    close(rootfd);
}

// A bind mount of a directory whose symlinks point above it; and of "/" itself.
static void bind_mounts(void) {
    if (mkdir("/tmp/bind", 0755) != 0 || mkdir("/tmp/rootbind", 0755) != 0) {
        fail("mkdir /tmp/bind, /tmp/rootbind", "%s", ename(errno));
        return;
    }
    errno = 0;
    if (mount("/d1", "/tmp/bind", NULL, MS_BIND, NULL) != 0) {
        info("mount --bind /d1 /tmp/bind: %s (bind mounts not available)", ename(errno));
        return;
    }
    pass("mount --bind /d1 /tmp/bind");
    expect_root("/tmp/bind/d2/d3/up (symlink leaving the bind mount)", "/tmp/bind/d2/d3/up");
    expect_absent("/tmp/bind/d2/d3/up-sentinel", "/tmp/bind/d2/d3/up-sentinel");
    expect_root("/tmp/bind/../..", "/tmp/bind/../..");
    expect_root("/tmp/bind/d2/../../../../..", "/tmp/bind/d2/../../../../..");
    expect_same("/tmp/bind/.. is /tmp", "/tmp/bind/..", "/tmp");

    errno = 0;
    if (mount("/", "/tmp/rootbind", NULL, MS_BIND, NULL) != 0) {
        fail("mount --bind / /tmp/rootbind", "%s", ename(errno));
        return;
    }
    pass("mount --bind / /tmp/rootbind");
    expect_root("/tmp/rootbind/../..", "/tmp/rootbind/../..");
    expect_absent("/tmp/rootbind/../../" SENTINEL_NAME, "/tmp/rootbind/../../" SENTINEL_NAME);
    // rel-parent -> ".." leaves the mount's root for the mount point's parent, as on Linux.
    expect_same("/tmp/rootbind/rel-parent is /tmp", "/tmp/rootbind/rel-parent", "/tmp");
    expect_root("/tmp/rootbind/d1/d2/d3/up", "/tmp/rootbind/d1/d2/d3/up");
    expect_absent("/tmp/rootbind/rel-sentinel", "/tmp/rootbind/rel-sentinel");
}

// The classic chroot escape: chroot into a subdirectory while the cwd stays above it,
// then climb with "..". In the sandbox the climb must stop at the sandbox's root. Runs in
// a child so that the rest of the program keeps its root.
static void chroot_climb(void) {
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        fail("fork for the chroot escape", "%s", ename(errno));
        return;
    }
    if (child == 0) {
        failures = 0;
        if (chdir("/") != 0 || mkdir("/jail", 0755) != 0 || mkdir("/jail/inner", 0755) != 0) {
            fail("prepare /jail", "%s", ename(errno));
            fflush(stdout);
            _exit(1);
        }
        errno = 0;
        if (chroot("/jail") != 0) {
            info("chroot(/jail): %s (no chroot escape to try)", ename(errno));
            _exit(0);
        }
        pass("chroot(/jail) with the cwd left outside");
        for (int i = 0; i < 64; i++)
            if (chdir("..") != 0) break;
        // The cwd escaped the jail (as on Linux) but only up to the sandbox's root.
        int dot = open(".", O_RDONLY | O_DIRECTORY);
        if (dot >= 0 && fd_lists(dot, MARKER) && !fd_lists(dot, SENTINEL_NAME) &&
            !fd_lists(dot, PARENT_ONLY))
            pass("climbing out of the chroot stops at the sandbox root");
        else fail("climbing out of the chroot stops at the sandbox root", "%s", ename(errno));
        if (dot >= 0) close(dot);
        expect_absent("../" SENTINEL_NAME " after the climb", "../" SENTINEL_NAME);
        if (chroot(".") == 0) {
            expect_absent("/" SENTINEL_NAME " after chroot(.)", "/" SENTINEL_NAME);
            expect_absent("/../" SENTINEL_NAME " after chroot(.)", "/../" SENTINEL_NAME);
            int root = open("/", O_RDONLY | O_DIRECTORY);
            if (root >= 0 && fd_lists(root, MARKER) && !fd_lists(root, SENTINEL_NAME)) pass("/ after chroot(.) is the sandbox root");
            else fail("/ after chroot(.) is the sandbox root", "%s", ename(errno));
            if (root >= 0) close(root);
        } else {
            fail("chroot(.) after the climb", "%s", ename(errno));
        }
        fflush(stdout);
        _exit(failures > 100 ? 100 : failures);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) fail("wait for the chroot child", "%s", ename(errno));
    else if (!WIFEXITED(status)) fail("the chroot child exits", "status 0x%x", status);
    else failures += WEXITSTATUS(status);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: escape_fs SENTINEL HOSTDIR [PID...]\n");
        return 2;
    }
    if (getpid() != 1) {
        fprintf(stderr, "escape_fs: refusing to run: not pid 1, so probably not sandboxed\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (chdir("/") != 0 || stat("/", &root_st) != 0) {
        fail("stat /", "%s", ename(errno));
        return 1;
    }
    dotdot_chains();
    symlinks(argv[1], argv[2]);
    proc_self(argv[1], argv[2]);
    host_pids(argc - 3, argv + 3);
    descriptors();
    file_handles();
    bind_mounts();
    chroot_climb();

    return finish_count("escape_fs");
}
