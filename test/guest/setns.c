// setns: the namespace files of /proc/PID/ns and setns(2). Each link reads as "KIND:[N]";
// following it reaches a regular file whose inode number is N and whose descriptor setns
// takes. setns moves the caller between mount namespaces (root and cwd go to the new one's
// root) and fails as Linux does: EBADF, EINVAL for a file that is no namespace or a wrong
// nstype, EINVAL for one's own user namespace, EINVAL for a mount namespace while another
// thread shares our fs, EUSERS for a time namespace while threaded, EPERM without
// capabilities.
//
// Run as root. Natively it first moves into a private mount namespace of its own, so that
// nothing it mounts reaches the host; it mounts only on a fresh directory in /tmp that it
// removes at the end. Prints one line per check (no namespace numbers, which differ) and
// "setns ok" last; the output is the same natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static char base[64], marker[128];

static int sys_setns(int fd, int type) { return (int)syscall(SYS_setns, fd, type); }

// The text of /proc/WHO/ns/NAME, or "" if it cannot be read.
static const char *ns_text(const char *who, const char *name) {
    static char text[8][64];
    static int next;
    char path[128];
    char *out = text[next++ % 8];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", who, name);
    ssize_t n = readlink(path, out, 63);
    out[n > 0 ? n : 0] = 0;
    return out;
}

static void test_links(void) {
    static const char *names[] = {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
                                  "time_for_children", "user", "uts"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *name = names[i];
        char kind[32], path[128], what[160], fdlink[64], fdtext[64];
        snprintf(kind, sizeof kind, "%s", name);
        char *suffix = strstr(kind, "_for_children");
        if (suffix) *suffix = 0;
        const char *text = ns_text("self", name);
        unsigned long long ino = 0;
        char fmt[48];
        snprintf(fmt, sizeof fmt, "%s:[%%llu]", kind);
        int parsed = sscanf(text, fmt, &ino) == 1 && ino > 0;
        snprintf(what, sizeof what, "readlink ns/%s reads %s:[N]", name, kind);
        check(parsed && text[strlen(text) - 1] == ']', what);

        snprintf(path, sizeof path, "/proc/self/ns/%s", name);
        struct stat st, lst;
        snprintf(what, sizeof what, "ns/%s is a link to a regular r--r--r-- file whose inode is N", name);
        check(lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode)
              && (st.st_mode & 0777) == 0444 && st.st_ino == ino, what);

        int fd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", fd);
        ssize_t n = fd >= 0 ? readlink(fdlink, fdtext, sizeof fdtext - 1) : -1;
        fdtext[n > 0 ? n : 0] = 0;
        struct stat fst;
        snprintf(what, sizeof what, "an open ns/%s has the same inode and device; its fd link reads the same", name);
        check(fd >= 0 && fstat(fd, &fst) == 0 && fst.st_ino == st.st_ino && fst.st_dev == st.st_dev
              && strcmp(fdtext, text) == 0, what);
        close(fd);
    }
    check(strcmp(ns_text("self", "pid"), ns_text("self", "pid_for_children")) == 0, "pid_for_children is our pid namespace");

    int fd = open("/proc/self/ns/mnt", O_RDONLY);
    char b[8];
    check_err(read(fd, b, sizeof b), EINVAL, "read of a namespace file");
    check_err(lseek(fd, 0, SEEK_SET), ESPIPE, "lseek of a namespace file");
    close(fd);

    // A child shares our namespaces; its links say so.
    int p[2];
    if (pipe(p) != 0) return;
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[1]);
        read(p[0], &x, 1);
        _exit(0);
    }
    close(p[0]);
    char who[32];
    snprintf(who, sizeof who, "%d", c);
    check(strcmp(ns_text(who, "mnt"), ns_text("self", "mnt")) == 0 && strcmp(ns_text(who, "uts"), ns_text("self", "uts")) == 0,
          "a child's ns links read as ours");
    close(p[1]);
    waitpid(c, NULL, 0);
}

static void test_errors(void) {
    int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    int user = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    int dir = open("/", O_RDONLY | O_CLOEXEC);
    check_err(sys_setns(-1, 0), EBADF, "setns(-1)");
    check_err(sys_setns(999, CLONE_NEWNS), EBADF, "setns of a closed fd");
    check_err(sys_setns(dir, 0), EINVAL, "setns of a directory");
    check_err(sys_setns(dir, CLONE_NEWNS), EINVAL, "setns of a directory with CLONE_NEWNS");
    check_err(sys_setns(mnt, CLONE_NEWUTS), EINVAL, "setns(mnt, CLONE_NEWUTS)");
    check_err(sys_setns(mnt, CLONE_NEWNS | CLONE_NEWUTS), EINVAL, "setns(mnt, CLONE_NEWNS|CLONE_NEWUTS)");
    check_err(sys_setns(mnt, 1), EINVAL, "setns(mnt, 1)");
    check_err(sys_setns(user, 0), EINVAL, "setns into our own user namespace");
    check_err(sys_setns(user, CLONE_NEWUSER), EINVAL, "setns(user, CLONE_NEWUSER) into our own");

    // The other kinds: entering the one we are in is allowed to root.
    static const struct { const char *name; int type; } kinds[] = {
        {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID},
        {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        char path[64], what[96];
        snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i].name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(what, sizeof what, "setns into our own %s namespace", kinds[i].name);
        check_ok(sys_setns(fd, kinds[i].type), what);
        snprintf(what, sizeof what, "setns(%s, 0) into our own", kinds[i].name);
        check_ok(sys_setns(fd, 0), what);
        close(fd);
    }

    // Without capabilities: EPERM (a child that gave up root).
    pid_t c = fork_checks();
    if (c == 0) {
        int uts = open("/proc/self/ns/uts", O_RDONLY);
        if (setresuid(65534, 65534, 65534) != 0) _exit(3);
        check_err(sys_setns(mnt, CLONE_NEWNS), EPERM, "setns(mnt) without CAP_SYS_ADMIN");
        check_err(sys_setns(uts, 0), EPERM, "setns(uts) without CAP_SYS_ADMIN");
        check_err(sys_setns(user, 0), EINVAL, "setns into our own user namespace without capabilities");
        exit_checks();
    }
    reap(c);
    close(mnt);
    close(user);
    close(dir);
}

static int gate[2];

static void *waiter(void *arg) {
    char x;
    (void)arg;
    read(gate[0], &x, 1);
    return NULL;
}

// While a second thread lives (pthreads share the fs): mount namespaces and time
// namespaces cannot be entered.
static void test_threads(void) {
    int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    int time = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
    pthread_t th;
    if (pipe(gate) != 0 || pthread_create(&th, NULL, waiter, NULL) != 0) {
        check(0, "start a thread");
        return;
    }
    check_err(sys_setns(mnt, CLONE_NEWNS), EINVAL, "setns(mnt) while a thread shares our fs");
    check_err(sys_setns(time, CLONE_NEWTIME), EUSERS, "setns(time) while threaded");
    write(gate[1], "x", 1);
    pthread_join(th, NULL);
    close(gate[0]);
    close(gate[1]);
    check_ok(sys_setns(mnt, CLONE_NEWNS), "setns(mnt) once the thread is gone");
    close(mnt);
    close(time);
}

static void test_mount_namespaces(void) {
    char cwd[256];
    const char *first = ns_text("self", "mnt");
    char first_text[64];
    snprintf(first_text, sizeof first_text, "%s", first);
    int a = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

    // Entering our own namespace moves root and cwd to its root.
    if (chdir(base) != 0) failures++;
    check_ok(sys_setns(a, CLONE_NEWNS), "setns into our own mount namespace");
    check(getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "setns leaves us at the namespace's root");
    check(strcmp(ns_text("self", "mnt"), first_text) == 0, "and in the same namespace");

    // A second namespace with a mount of its own.
    if (chdir(base) != 0) failures++;
    check_ok(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
    char second_text[64];
    snprintf(second_text, sizeof second_text, "%s", ns_text("self", "mnt"));
    check(strcmp(second_text, first_text) != 0, "unshare gives another mnt namespace");
    check_ok(mount("none", base, "tmpfs", 0, NULL), "mount a tmpfs in the new namespace");
    int fd = open(marker, O_CREAT | O_WRONLY, 0644);
    check(fd >= 0, "create a file on it");
    close(fd);
    int b = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    struct stat sa, sb;
    check(fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino != sb.st_ino && sa.st_dev == sb.st_dev,
          "the two namespace files: same device, different inodes");

    check_ok(sys_setns(a, CLONE_NEWNS), "setns back into the first namespace");
    check(strcmp(ns_text("self", "mnt"), first_text) == 0, "ns/mnt reads the first namespace again");
    check(access(marker, F_OK) != 0 && errno == ENOENT, "the second namespace's mount is not seen");
    check(getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "cwd is the root");

    check_ok(sys_setns(b, 0), "setns(fd, 0) into the second namespace");
    check(strcmp(ns_text("self", "mnt"), second_text) == 0, "ns/mnt reads the second namespace");
    check(access(marker, F_OK) == 0, "its mount is seen again");

    // A child entering a namespace does not move its parent.
    pid_t c = fork_checks();
    if (c == 0) {
        check_ok(sys_setns(a, CLONE_NEWNS), "a child enters the first namespace");
        check(access(marker, F_OK) != 0, "the child no longer sees the mount");
        exit_checks();
    }
    reap(c);
    check(access(marker, F_OK) == 0, "the parent still does");

    unlink(marker);
    check_ok(umount2(base, 0), "umount the tmpfs");
    check_ok(sys_setns(a, CLONE_NEWNS), "back to the first namespace");
    close(a);
    close(b);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("setns: run me as root\n");
        return 2;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("setns: cannot make a private mount namespace: %s\n", strerrorname_np(errno));
        return 1;
    }
    strcpy(base, "/tmp/setns-XXXXXX");
    if (!mkdtemp(base)) {
        printf("setns: mkdtemp: %s\n", strerrorname_np(errno));
        return 1;
    }
    snprintf(marker, sizeof marker, "%s/marker", base);

    test_links();
    test_errors();
    test_threads();
    test_mount_namespaces();

    if (chdir("/") != 0) failures++;
    umount2(base, MNT_DETACH);
    check(rmdir(base) == 0, "the temporary directory is removed");
    return finish_as("setns: %d checks FAILED\n", "setns ok");
}
