// mntns: mount namespaces and umount2. Mounts made in a namespace made by clone(CLONE_NEWNS),
// clone3 or unshare(CLONE_NEWNS) stay there; /proc/PID/mountinfo shows each task's own; the
// caller's root and cwd move to the new namespace's copies; unshare(CLONE_NEWNS) needs
// CAP_SYS_ADMIN; umount2 says EBUSY for a mount with an open file, a cwd or a mount below it,
// detaches it with MNT_DETACH, says EINVAL for a place that is not a mount point; proc can be
// mounted again; a bind mount ignores MS_RDONLY until a remount makes it read-only (EROFS);
// a tmpfs with size= says ENOSPC when full.
//
// Run as root. Natively this runs on the host, so before mounting anything it moves into a
// mount namespace of its own and makes every mount there private (nothing can propagate back
// to the host), and it only mounts under a fresh directory in /tmp that it removes at the end.
// Prints one line per check and "mntns ok" last; the output is the same natively and in the
// sandbox. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static char base[64], dir_a[128], dir_b[128], file_f[160], link_l[128];

static dev_t dev_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_dev : (dev_t)-1;
}

// Whether path is a mount point as stat sees it: on another device than its parent.
static int mounted(const char *path) { return dev_of(path) != dev_of(base); }

// Whether /proc/WHO/mountinfo lists a mount at path (its fifth field).
static int listed(const char *who, const char *path) {
    char name[64], line[4096];
    snprintf(name, sizeof name, "/proc/%s/mountinfo", who);
    FILE *f = fopen(name, "r");
    if (!f) return -1;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (int i = 0; i < 4 && p; i++) p = strchr(p + 1, ' ');
        if (!p) continue;
        size_t n = strlen(path);
        if (strncmp(p + 1, path, n) == 0 && p[1 + n] == ' ') found = 1;
    }
    fclose(f);
    return found;
}

static int mount_tmpfs(const char *at) { return mount("tmpfs", at, "tmpfs", 0, "size=1m"); }

// ---- new namespaces: what the child mounts, the parent does not see ---------------------

static void child_mounts_and_exits(void) {
    int m = mount_tmpfs(dir_a);
    int fd = open(file_f, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
    // The parent reads these through the exit status: 0 when the child saw its own mount.
    _exit(m == 0 && mounted(dir_a) && listed("self", dir_a) == 1 ? 0 : 1);
}

static void test_clone_newns(void) {
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) child_mounts_and_exits();
    int status = -1;
    check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "clone(CLONE_NEWNS): the child mounts a tmpfs and sees it");
    check(!mounted(dir_a), "clone(CLONE_NEWNS): the parent does not see the child's mount");
    check(access(file_f, F_OK) != 0, "clone(CLONE_NEWNS): the child's file went to its tmpfs");
    check(listed("self", dir_a) == 0, "clone(CLONE_NEWNS): the parent's mountinfo does not list it");
}

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void test_clone3_newns(void) {
    struct clone_args_v0 args = {.flags = CLONE_NEWNS, .exit_signal = SIGCHLD};
    fflush(stdout);
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) child_mounts_and_exits();
    int status = -1;
    check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "clone3(CLONE_NEWNS): the child mounts a tmpfs and sees it");
    check(!mounted(dir_a), "clone3(CLONE_NEWNS): the parent does not see the child's mount");
    struct clone_args_v0 both = {.flags = CLONE_NEWNS | CLONE_FS, .exit_signal = SIGCHLD};
    check_err(syscall(SYS_clone3, &both, sizeof both), EINVAL, "clone3(CLONE_NEWNS | CLONE_FS)");
}

// unshare in a child that stays alive: the parent looks at its /proc/PID/mountinfo.
static void test_unshare_proc(void) {
    int up[2], down[2];
    if (pipe(up) || pipe(down)) { check(0, "pipes"); return; }
    pid_t c = fork_checks();
    if (c == 0) {
        check_ok(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS) in a child");
        check_ok(mount_tmpfs(dir_a), "the child mounts a tmpfs after unshare");
        check(mounted(dir_a) && listed("self", dir_a) == 1, "the child sees its mount and its mountinfo lists it");
        fflush(stdout);
        char x = 'r';
        if (write(up[1], &x, 1) != 1 || read(down[0], &x, 1) != 1) failures++;
        _exit(failures ? 1 : 0);
    }
    char x, pidname[16];
    snprintf(pidname, sizeof pidname, "%d", c);
    check(read(up[0], &x, 1) == 1, "the child is ready");
    check(listed(pidname, dir_a) == 1, "/proc/CHILD/mountinfo shows the child's namespace");
    check(listed("self", dir_a) == 0, "/proc/self/mountinfo shows our own");
    check(!mounted(dir_a), "the parent does not see the mount made after unshare");
    if (write(down[1], "x", 1) != 1) failures++;
    reap(c);
    close(up[0]); close(up[1]); close(down[0]); close(down[1]);
}

// A mount of ours, umounted in a copy, stays here; the cwd moves to the copy, an fd does not.
static void child_umounts_copy(void) {
    int fd = open(file_f, O_RDONLY);
    check_ok(chdir(dir_a), "chdir into our mount before unshare");
    check_ok(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
    char cwd[256];
    check(getcwd(cwd, sizeof cwd) && strcmp(cwd, dir_a) == 0, "getcwd after unshare is unchanged");
    check_err(umount2(dir_a, 0), EBUSY, "the cwd moved to the new namespace's copy: umount2");
    check_ok(chdir(base), "chdir out of it");
    // The fd was opened on the mount of the old namespace: the copy is not busy.
    check_ok(umount2(dir_a, 0), "umount2 of the copy with an fd open on the original");
    check(!mounted(dir_a) && listed("self", dir_a) == 0, "the copy is gone from the new namespace");
    char buf[8] = {0};
    check(fd >= 0 && pread(fd, buf, sizeof buf, 0) == 4 && memcmp(buf, "data", 4) == 0,
          "the fd still reads the original mount's file");
    if (fd >= 0) close(fd);
}

static void test_unshare_umount_copy(void) {
    check_ok(mount_tmpfs(dir_a), "mount a tmpfs here");
    int fd = open(file_f, O_CREAT | O_WRONLY, 0644);
    check(fd >= 0 && write(fd, "data", 4) == 4, "write a file on it");
    if (fd >= 0) close(fd);
    in_child(child_umounts_copy);
    check(mounted(dir_a) && listed("self", dir_a) == 1, "the umount in the child's namespace left ours mounted");
    check_ok(umount2(dir_a, 0), "umount2 our tmpfs");
}

static void unprivileged(void) {
    check_ok(setuid(65534), "setuid(65534) drops every capability");
    check_err(unshare(CLONE_NEWNS), EPERM, "unshare(CLONE_NEWNS) without CAP_SYS_ADMIN");
    check_err(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0), EPERM, "clone(CLONE_NEWNS) without CAP_SYS_ADMIN");
    check_err(mount_tmpfs(dir_a), EPERM, "mount without CAP_SYS_ADMIN");
    check_err(umount2(base, 0), EPERM, "umount2 without CAP_SYS_ADMIN");
    check_ok(unshare(CLONE_FS | CLONE_FILES | CLONE_SYSVSEM), "unshare(CLONE_FS | CLONE_FILES | CLONE_SYSVSEM) unprivileged");
}

static void test_unshare_flags(void) {
    check_err(unshare(CLONE_SETTLS), EINVAL, "unshare with a flag that is not unshareable");
    check_ok(unshare(0), "unshare(0)");
    check_ok(unshare(CLONE_FS | CLONE_FILES), "unshare(CLONE_FS | CLONE_FILES)");
    in_child(unprivileged);
}

// ---- umount2 -------------------------------------------------------------------------------

static void cwd_holder(int ready, int done) {
    if (chdir(dir_a) == 0 && write(ready, "r", 1) == 1) {
        char x;
        if (read(done, &x, 1) < 0) _exit(1);
    }
    _exit(0);
}

static void test_umount(void) {
    check_err(umount2(base, 0), EINVAL, "umount2 of a directory that is not a mount point");
    check_err(umount2(dir_a, 0), EINVAL, "umount2 of an unmounted place");
    check_err(umount2("/nonexistent-mntns", 0), ENOENT, "umount2 of a missing path");
    check_err(umount2(dir_a, 0x100), EINVAL, "umount2 with an unknown flag");
    check_err(umount2(dir_a, MNT_EXPIRE | MNT_DETACH), EINVAL, "umount2(MNT_EXPIRE | MNT_DETACH)");

    check_ok(mount_tmpfs(dir_a), "mount a tmpfs");
    int fd = open(file_f, O_CREAT | O_RDWR, 0644);
    check(fd >= 0 && write(fd, "busy", 4) == 4, "open a file on it");
    check_err(umount2(dir_a, 0), EBUSY, "umount2 with a file open on the mount");
    check_err(umount2(dir_a, MNT_FORCE), EBUSY, "umount2(MNT_FORCE) with a file open on the mount");
    check_err(umount2(dir_a, MNT_EXPIRE), EBUSY, "umount2(MNT_EXPIRE) with a file open on the mount");
    close(fd);

    check_ok(chdir(dir_a), "chdir into the mount");
    check_err(umount2(dir_a, 0), EBUSY, "umount2 with our cwd inside");
    check_ok(chdir(base), "chdir out again");

    int ready[2], done[2];
    if (pipe(ready) || pipe(done)) { check(0, "pipes"); return; }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) cwd_holder(ready[1], done[0]);
    char x;
    check(read(ready[0], &x, 1) == 1, "a child's cwd is inside");
    check_err(umount2(dir_a, 0), EBUSY, "umount2 with another process's cwd inside");
    if (write(done[1], "x", 1) != 1) failures++;
    reap(c);
    close(ready[0]); close(ready[1]); close(done[0]); close(done[1]);

    check_ok(mkdir(dir_b, 0755), "mkdir in the mount");
    check_ok(mount_tmpfs(dir_b), "mount a tmpfs below it");
    check_err(umount2(dir_a, 0), EBUSY, "umount2 with a mount below");
    check_ok(umount2(dir_b, 0), "umount2 the one below");
    check_ok(umount2(dir_a, 0), "umount2 once unused");
    check(!mounted(dir_a), "it is gone");

    check_ok(mount_tmpfs(dir_a), "mount a tmpfs again");
    check_ok(symlink(dir_a, link_l), "a symlink to the mount point");
    check_err(umount2(link_l, UMOUNT_NOFOLLOW), EINVAL, "umount2(UMOUNT_NOFOLLOW) of the symlink");
    check_err(umount2(dir_a, MNT_EXPIRE), EAGAIN, "umount2(MNT_EXPIRE) the first time (it only marks the mount)");
    check_ok(umount2(dir_a, MNT_EXPIRE), "the second umount2(MNT_EXPIRE) unmounts it");
    check_ok(mount_tmpfs(dir_a), "mount a tmpfs again");
    check_ok(umount2(link_l, 0), "umount2 through the symlink");
    unlink(link_l);

    check_ok(mount_tmpfs(dir_a), "mount a tmpfs for MNT_DETACH");
    check_ok(mkdir(dir_b, 0755), "mkdir in it");
    check_ok(mount_tmpfs(dir_b), "mount a tmpfs below it");
    fd = open(file_f, O_CREAT | O_RDWR, 0644);
    check(fd >= 0 && write(fd, "lazy", 4) == 4, "open a file on it");
    check_ok(umount2(dir_a, MNT_DETACH), "umount2(MNT_DETACH) with a file open and a mount below");
    check(!mounted(dir_a) && listed("self", dir_a) == 0 && listed("self", dir_b) == 0,
          "both are gone from the tree");
    char buf[8] = {0};
    check(fd >= 0 && pread(fd, buf, sizeof buf, 0) == 4 && memcmp(buf, "lazy", 4) == 0,
          "the open file still works after the detach");
    check(access(file_f, F_OK) != 0, "its name is gone from the path");
    if (fd >= 0) close(fd);
    check_err(umount2(dir_a, MNT_DETACH), EINVAL, "umount2(MNT_DETACH) again");
}

// ---- kinds of mounts: proc, bind (read-only by remount), tmpfs size limits -----------------

static void test_mount_kinds(void) {
    char path[200], text[64], want[32];
    check_ok(mount("proc", dir_a, "proc", 0, NULL), "mount proc");
    snprintf(path, sizeof path, "%s/self", dir_a);
    ssize_t n = readlink(path, text, sizeof text - 1);
    text[n > 0 ? n : 0] = 0;
    snprintf(want, sizeof want, "%d", getpid());
    check(strcmp(text, want) == 0, "the new proc's self is our pid");
    check(listed("self", dir_a) == 1, "mountinfo lists the new proc");
    check_ok(umount2(dir_a, 0), "umount proc");

    // A bind mount shows the same files; MS_RDONLY when making it is ignored (as on Linux), a
    // remount with MS_BIND|MS_RDONLY makes it read-only, and the original stays writable.
    snprintf(path, sizeof path, "%s/src", base);
    mkdir(path, 0755);
    char inner[220], through[220];
    snprintf(inner, sizeof inner, "%s/file", path);
    snprintf(through, sizeof through, "%s/file", dir_a);
    int fd = open(inner, O_CREAT | O_WRONLY, 0644);
    close(fd);
    check_ok(mount(path, dir_a, NULL, MS_BIND | MS_RDONLY, NULL), "bind mount with MS_RDONLY");
    fd = open(through, O_WRONLY);
    check(fd >= 0, "MS_RDONLY is ignored when the bind mount is made");
    close(fd);
    check_ok(mount(NULL, dir_a, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), "remount it MS_BIND|MS_RDONLY");
    check_err(open(through, O_WRONLY), EROFS, "writing through the read-only bind mount");
    check_err(unlink(through), EROFS, "unlinking through it");
    fd = open(inner, O_WRONLY);
    check(fd >= 0, "the original place stays writable");
    close(fd);
    check_ok(umount2(dir_a, 0), "umount the bind mount");
    unlink(inner);
    rmdir(path);

    // tmpfs size=: writes past it fail with ENOSPC.
    check_ok(mount("tmpfs", dir_a, "tmpfs", 0, "size=64k"), "mount a 64 KiB tmpfs");
    snprintf(path, sizeof path, "%s/big", dir_a);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    static char chunk[16384];
    long written = 0;
    ssize_t w;
    while ((w = write(fd, chunk, sizeof chunk)) > 0 && written < (1 << 20)) written += w;
    int e = errno;
    check(w == -1 && e == ENOSPC && written == 64 * 1024, "a 64 KiB tmpfs takes 64 KiB, then ENOSPC");
    close(fd);
    unlink(path);
    check_ok(umount2(dir_a, 0), "umount the small tmpfs");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("mntns: run me as root\n");
        return 2;
    }
    // Our own namespace, all private, before any mount: nothing reaches the host.
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("mntns: cannot make a private mount namespace: %s\n", strerrorname_np(errno));
        return 1;
    }
    check(1, "a private mount namespace of our own");
    strcpy(base, "/tmp/mntns-XXXXXX");
    if (!mkdtemp(base)) {
        printf("mntns: mkdtemp: %s\n", strerrorname_np(errno));
        return 1;
    }
    chmod(base, 0755);
    snprintf(dir_a, sizeof dir_a, "%s/a", base);
    snprintf(dir_b, sizeof dir_b, "%s/b", dir_a);
    snprintf(file_f, sizeof file_f, "%s/f", dir_a);
    snprintf(link_l, sizeof link_l, "%s/l", base);
    mkdir(dir_a, 0755);
    if (chdir(base) != 0) return 1;

    test_clone_newns();
    test_clone3_newns();
    test_unshare_proc();
    test_unshare_umount_copy();
    test_unshare_flags();
    test_umount();
    test_mount_kinds();

    // Clean up: nothing should be mounted any more; lazily detach whatever still is.
    if (chdir("/") != 0) failures++;
    umount2(dir_b, MNT_DETACH);
    umount2(dir_a, MNT_DETACH);
    unlink(file_f);
    rmdir(dir_b);
    unlink(link_l);
    rmdir(dir_a);
    check(rmdir(base) == 0, "the temporary directory is removed");

    return finish_as("mntns: %d checks FAILED\n", "mntns ok");
}
