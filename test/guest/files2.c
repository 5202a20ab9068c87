// files2: more Linux file semantics -- naming O_TMPFILE files with linkat (in a fresh
// directory, in /tmp itself and on the tmpfs /dev/shm), tmpfs space coming back when the last
// name and descriptor go, preadv2/pwritev2 flags (RWF_APPEND, RWF_NOAPPEND, RWF_NOWAIT,
// RWF_NOSIGNAL, ...), and memfd file seals (F_ADD_SEALS / F_GET_SEALS and what each seal
// refuses).
//
// Usage: files2 [DIR] (default /tmp). Works in a fresh subdirectory DIR/files2-XXXXXX that it
// removes at the end. Prints one line per check ("check NAME: ok" or "check NAME: FAILED
// ...") and then "files2 ok" or "files2 FAILED (n)"; exits 0 only if every check passed. The
// output holds no inode numbers, pids or paths, so it is the same natively and in the sandbox.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020
#endif
#define RWF_ATOMIC_ 0x00000040
#define RWF_NOSIGNAL_ 0x00000100
#define TMPFS_MAGIC_ 0x01021994

#define MiB (1024 * 1024)

static char base[4096];   // our working directory (canonical path)

// ---------------------------------------------------------------- helpers

static int file_is(const char *path, const char *want) {
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return 0;
    buf[n] = 0;
    return strcmp(buf, want) == 0;
}

static int pread_is(int fd, off_t off, const char *want) {
    char buf[256];
    size_t len = strlen(want);
    return pread(fd, buf, len, off) == (ssize_t)len && memcmp(buf, want, len) == 0;
}

static off_t fsize(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : -1;
}

static long fnlink(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_nlink : -1;
}

static long nlink_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_nlink : -1;
}

static void proc_fd(char *buf, size_t cap, int fd) { snprintf(buf, cap, "/proc/self/fd/%d", fd); }

// Blocks of the file system at path in use, in MiB (statfs).
static long used_mib(const char *path) {
    struct statfs sf;
    if (statfs(path, &sf) != 0) return -1;
    return (long)((sf.f_blocks - sf.f_bfree) * (unsigned long long)sf.f_bsize / MiB);
}

static int fill(int fd, size_t bytes) {
    static char chunk[64 * 1024];
    memset(chunk, 'z', sizeof chunk);
    for (size_t done = 0; done < bytes; done += sizeof chunk)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return -1;
    return 0;
}

static int size_ok(const char *path, off_t want) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size == want;
}

static void on_signal(int sig) { (void)sig; }

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

// Arms a 2 s alarm whose handler interrupts (no SA_RESTART): a call that wrongly blocks fails
// with EINTR instead of hanging the fixture.
static void guard(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    alarm(2);
}

// ---------------------------------------------------------------- O_TMPFILE and linkat

// Naming O_TMPFILE files in DIR (LABEL names it in the output).
static void test_tmpfile_in(const char *dir, const char *label) {
    char name[8192], name2[8192], link[64], check[256];
    snprintf(name, sizeof name, "%s/files2-named-%d", dir, getpid());
    snprintf(name2, sizeof name2, "%s/files2-named2-%d", dir, getpid());
    unlink(name);
    unlink(name2);
    struct stat dst, st;
    stat(dir, &dst);

    int t = open(dir, O_TMPFILE | O_RDWR, 0600);
    proc_fd(link, sizeof link, t);
    char target[8192] = {0}, prefix[8192];
    ssize_t n = readlink(link, target, sizeof target - 1);
    snprintf(prefix, sizeof prefix, "%s/#", dir);
    snprintf(check, sizeof check, "tmpfile %s: unnamed, on the directory's device, shown as DIR/#N (deleted)", label);
    EXPECT(check, t >= 0 && fstat(t, &st) == 0 && st.st_dev == dst.st_dev && st.st_nlink == 0 && n > 10
               && strncmp(target, prefix, strlen(prefix)) == 0 && strcmp(target + n - 10, " (deleted)") == 0);
    if (t < 0) return;
    write(t, "hello", 5);
    snprintf(check, sizeof check, "tmpfile %s: linkat AT_EMPTY_PATH names it, with nlink 1 and the data", label);
    errno = 0;
    int r = linkat(t, "", AT_FDCWD, name, AT_EMPTY_PATH);
    EXPECT(check, r == 0 && nlink_of(name) == 1 && file_is(name, "hello") && fnlink(t) == 1
               && pwrite(t, "J", 1, 0) == 1 && file_is(name, "Jello"));
    snprintf(check, sizeof check, "tmpfile %s: once named, it links again", label);
    EXPECT(check, linkat(t, "", AT_FDCWD, name2, AT_EMPTY_PATH) == 0 && fnlink(t) == 2);
    unlink(name2);
    unlink(name);
    snprintf(check, sizeof check, "tmpfile %s: once all names are gone, it cannot be linked ENOENT", label);
    EXPECT_ERR(check, linkat(t, "", AT_FDCWD, name, AT_EMPTY_PATH), ENOENT);
    close(t);
    unlink(name);

    t = open(dir, O_TMPFILE | O_WRONLY, 0640);
    write(t, "proc", 4);
    proc_fd(link, sizeof link, t);
    snprintf(check, sizeof check, "tmpfile %s: linkat /proc/self/fd/N AT_SYMLINK_FOLLOW names it, data, mode, nlink 1", label);
    errno = 0;
    r = linkat(AT_FDCWD, link, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
    EXPECT(check, r == 0 && file_is(name, "proc") && stat(name, &st) == 0 && st.st_nlink == 1
               && (st.st_mode & 07777) == 0640 && S_ISREG(st.st_mode));
    unlink(name);
    close(t);

    t = open(dir, O_TMPFILE | O_RDWR | O_EXCL, 0600);
    snprintf(check, sizeof check, "tmpfile %s: an O_EXCL one cannot be linked (AT_EMPTY_PATH) ENOENT", label);
    errno = 0;
    r = linkat(t, "", AT_FDCWD, name, AT_EMPTY_PATH);
    EXPECT(check, t >= 0 && r == -1 && errno == ENOENT);
    unlink(name);
    proc_fd(link, sizeof link, t);
    snprintf(check, sizeof check, "tmpfile %s: ... nor through /proc/self/fd: ENOENT, no name made", label);
    errno = 0;
    r = linkat(AT_FDCWD, link, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
    EXPECT(check, r == -1 && errno == ENOENT && access(name, F_OK) != 0);
    unlink(name);
    close(t);

    int f = open(name, O_CREAT | O_RDWR, 0644);
    unlink(name);
    snprintf(check, sizeof check, "tmpfile %s: an unlinked ordinary file cannot be linked back ENOENT", label);
    EXPECT_ERR(check, linkat(f, "", AT_FDCWD, name, AT_EMPTY_PATH), ENOENT);
    close(f);
    unlink(name);
}

// tmpfs gives space back when the last name and the last descriptor are gone (measured on
// /dev/shm with statfs; 16 MiB files, a few MiB of slack for other users of the file system).
static void test_tmpfs_space(void) {
    const char *shm = "/dev/shm";
    long before = used_mib(shm);
    int t = open(shm, O_TMPFILE | O_RDWR, 0600);
    int ok = t >= 0 && fill(t, 16 * MiB) == 0;
    long during = used_mib(shm);
    close(t);
    long after = used_mib(shm);
    if (ok && during - before >= 12 && after - before <= 4) pass("tmpfs: closing an O_TMPFILE file gives its space back");
    else fail("tmpfs: closing an O_TMPFILE file gives its space back", "%ld MiB used, %ld after close", during - before, after - before);

    char name[256], other[300];
    snprintf(name, sizeof name, "%s/files2-%d", shm, getpid());
    snprintf(other, sizeof other, "%s.link", name);
    before = used_mib(shm);
    int f = open(name, O_CREAT | O_RDWR | O_TRUNC, 0600);
    fill(f, 16 * MiB);
    int keep = dup(f);
    close(f);
    unlink(name);
    during = used_mib(shm);
    int data = pread_is(keep, 0, "zz");
    close(keep);
    after = used_mib(shm);
    if (data && during - before >= 12 && after - before <= 4) pass("tmpfs: an unlinked open file keeps its data until its last close");
    else fail("tmpfs: an unlinked open file keeps its data until its last close", "data %d, %ld MiB used, %ld after close",
              data, during - before, after - before);

    before = used_mib(shm);
    f = open(name, O_CREAT | O_RDWR | O_TRUNC, 0600);
    fill(f, 16 * MiB);
    close(f);
    link(name, other);
    unlink(name);
    during = used_mib(shm);
    int o = open(other, O_RDONLY);
    data = size_ok(other, 16 * MiB) && pread_is(o, 16 * MiB - 2, "zz");
    close(o);
    unlink(other);
    after = used_mib(shm);
    if (data && during - before >= 12 && after - before <= 4) pass("tmpfs: a closed file's space comes back with its last name");
    else fail("tmpfs: a closed file's space comes back with its last name", "data %d, %ld MiB used, %ld after unlink",
              data, during - before, after - before);
}

// ---------------------------------------------------------------- preadv2 / pwritev2

static void test_rwf(void) {
    struct iovec app = {"APP", 3};
    char rb[16] = {0};
    struct iovec rv = {rb, 3};
    int f = open("rwf", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(f, "0123456789", 10);
    lseek(f, 2, SEEK_SET);
    int plain = pwritev2(f, &app, 1, -1, 0) == 3 && lseek(f, 0, SEEK_CUR) == 5 && pread_is(f, 0, "01APP5");
    lseek(f, 1, SEEK_SET);
    plain = plain && preadv2(f, &rv, 1, -1, 0) == 3 && memcmp(rb, "1AP", 3) == 0 && lseek(f, 0, SEEK_CUR) == 4;
    lseek(f, 2, SEEK_SET);
    EXPECT("rwf: offset -1 uses and advances the file offset; with RWF_APPEND it moves to the end",
           plain && pwritev2(f, &app, 1, -1, RWF_APPEND) == 3 && fsize(f) == 13 && lseek(f, 0, SEEK_CUR) == 13
               && pread_is(f, 0, "01APP56789APP"));
    lseek(f, 4, SEEK_SET);
    EXPECT("rwf: pwritev2 RWF_APPEND at offset 0 appends and leaves the file offset",
           pwritev2(f, &app, 1, 0, RWF_APPEND) == 3 && fsize(f) == 16 && pread_is(f, 10, "APPAPP")
               && lseek(f, 0, SEEK_CUR) == 4);
    EXPECT("rwf: RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOSIGNAL (and RWF_APPEND on a read) are accepted",
           pwritev2(f, &app, 1, 0, RWF_HIPRI) == 3 && pwritev2(f, &app, 1, 0, RWF_DSYNC) == 3
               && pwritev2(f, &app, 1, 0, RWF_SYNC) == 3 && pwritev2(f, &app, 1, 0, RWF_NOSIGNAL_) == 3
               && preadv2(f, &rv, 1, 0, RWF_HIPRI | RWF_NOSIGNAL_) == 3 && preadv2(f, &rv, 1, 0, RWF_APPEND) == 3);
    struct iovec empty = {rb, 0};
    int unknown = pwritev2(f, &app, 1, 0, 0x200) == -1 && errno == EOPNOTSUPP;
    unknown = unknown && preadv2(f, &rv, 1, 0, 0x80000000) == -1 && errno == EOPNOTSUPP;
    unknown = unknown && pwritev2(f, &app, 1, 0, RWF_ATOMIC_) == -1 && errno == EOPNOTSUPP;
    EXPECT("rwf: unknown flags and RWF_ATOMIC EOPNOTSUPP, once there is something to transfer",
           unknown && pwritev2(f, &app, 0, 0, 0x200) == 0 && pwritev2(f, &empty, 1, 0, 0x200) == 0);
    EXPECT_ERR("rwf: a bad descriptor is EBADF before the flags", pwritev2(999, &app, 1, 0, 0x200), EBADF);
    EXPECT_ERR("rwf: RWF_APPEND with RWF_NOAPPEND EINVAL", pwritev2(f, &app, 1, 0, RWF_APPEND | RWF_NOAPPEND), EINVAL);
    close(f);

    int a = open("rwf", O_RDWR | O_APPEND);
    off_t size = fsize(a);
    EXPECT("rwf: O_APPEND pwritev2 RWF_NOAPPEND at offset 0 writes in place",
           pwritev2(a, &app, 1, 0, RWF_NOAPPEND) == 3 && fsize(a) == size && pread_is(a, 0, "APP"));
    lseek(a, 4, SEEK_SET);
    EXPECT("rwf: O_APPEND pwritev2 RWF_NOAPPEND at offset -1 writes at the file offset, which advances",
           pwritev2(a, &app, 1, -1, RWF_NOAPPEND) == 3 && fsize(a) == size && lseek(a, 0, SEEK_CUR) == 7
               && pread_is(a, 4, "APP"));
    close(a);

    // tmpfs files (memfd, /dev/shm) and /proc files do not take RWF_NOWAIT; pipes and
    // /dev/zero do.
    int m = memfd_create("rwf", 0);
    write(m, "abcdef", 6);
    EXPECT_ERR("rwf: preadv2 RWF_NOWAIT on a tmpfs file EOPNOTSUPP", preadv2(m, &rv, 1, 0, RWF_NOWAIT), EOPNOTSUPP);
    EXPECT_ERR("rwf: pwritev2 RWF_NOWAIT on a tmpfs file EOPNOTSUPP", pwritev2(m, &app, 1, 0, RWF_NOWAIT), EOPNOTSUPP);
    EXPECT("rwf: pwritev2 RWF_APPEND on a memfd appends",
           pwritev2(m, &app, 1, 0, RWF_APPEND) == 3 && fsize(m) == 9 && pread_is(m, 0, "abcdefAPP"));
    close(m);
    int z = open("/dev/zero", O_RDONLY), ps = open("/proc/self/stat", O_RDONLY);
    long zr = preadv2(z, &rv, 1, -1, RWF_NOWAIT);
    EXPECT_ERR("rwf: RWF_NOWAIT reads /dev/zero, but a /proc file says EOPNOTSUPP",
               zr == 3 ? preadv2(ps, &rv, 1, -1, RWF_NOWAIT) : -2, EOPNOTSUPP);
    close(z);
    close(ps);

    int p[2];
    pipe(p);
    guard();
    errno = 0;
    long r = preadv2(p[0], &rv, 1, -1, RWF_NOWAIT);
    int e = errno;
    alarm(0);
    int got = pwritev2(p[1], &app, 1, -1, RWF_NOWAIT) == 3 && preadv2(p[0], &rv, 1, -1, RWF_NOWAIT) == 3
              && memcmp(rb, "APP", 3) == 0;
    if (r == -1 && e == EAGAIN && got) pass("rwf: preadv2 RWF_NOWAIT on a pipe: EAGAIN at once while empty, then the data");
    else fail("rwf: preadv2 RWF_NOWAIT on a pipe: EAGAIN at once while empty, then the data", "got %ld errno %s, data %d", r, ename(e), got);
    static char big[1 << 16];
    int room = pwritev2(p[1], &app, 1, -1, RWF_APPEND) == 3;
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    while (write(p[1], big, sizeof big) > 0) {}
    fcntl(p[1], F_SETFL, 0);
    struct iovec bv = {big, 10};
    guard();
    errno = 0;
    r = pwritev2(p[1], &bv, 1, -1, RWF_NOWAIT);
    e = errno;
    alarm(0);
    if (room && r == -1 && e == EAGAIN) pass("rwf: pwritev2 RWF_NOWAIT on a full pipe EAGAIN at once");
    else fail("rwf: pwritev2 RWF_NOWAIT on a full pipe EAGAIN at once", "got %ld errno %s", r, ename(e));
    close(p[0]);

    struct sigaction sa = {0};
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    sigpipes = 0;
    errno = 0;
    r = pwritev2(p[1], &app, 1, -1, 0);
    EXPECT("rwf: pwritev2 to a pipe nobody reads: EPIPE and SIGPIPE", r == -1 && errno == EPIPE && sigpipes == 1);
    sigpipes = 0;
    errno = 0;
    r = pwritev2(p[1], &app, 1, -1, RWF_NOSIGNAL_);
    EXPECT("rwf: ... with RWF_NOSIGNAL: EPIPE without SIGPIPE", r == -1 && errno == EPIPE && sigpipes == 0);
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);
}

// ---------------------------------------------------------------- memfd seals

static void test_seals(void) {
    char path[64];
    struct stat st;
    int plain = memfd_create("plain", 0);
    EXPECT("seals: a memfd without MFD_ALLOW_SEALING has F_SEAL_SEAL (mode 0777, writable)",
           fcntl(plain, F_GET_SEALS) == F_SEAL_SEAL && fstat(plain, &st) == 0 && (st.st_mode & 07777) == 0777
               && write(plain, "x", 1) == 1);
    errno = 0;
    int r1 = fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE), e1 = errno;
    EXPECT_ERR("seals: ... and takes no seal, not even none EPERM", r1 == -1 && e1 == EPERM ? fcntl(plain, F_ADD_SEALS, 0) : -2, EPERM);
    close(plain);

    int m = memfd_create("sealed", MFD_ALLOW_SEALING);
    EXPECT_EQ("seals: a MFD_ALLOW_SEALING memfd starts with none", fcntl(m, F_GET_SEALS), 0);
    errno = 0;
    r1 = fcntl(m, F_ADD_SEALS, 0x100), e1 = errno;
    EXPECT("seals: an unknown seal EINVAL; adding no seal works", r1 == -1 && e1 == EINVAL && fcntl(m, F_ADD_SEALS, 0) == 0);
    ftruncate(m, 8192);
    char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    EXPECT_ERR("seals: F_SEAL_WRITE with a writable shared mapping EBUSY", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    mprotect(w, 4096, PROT_READ);
    EXPECT_ERR("seals: ... even if mprotected read-only EBUSY", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    munmap(w, 4096);
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0);
    EXPECT_ERR("seals: ... or a read-only shared mapping of a writable descriptor EBUSY",
               fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    munmap(r, 4096);
    w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    w[0] = 'm';
    pid_t child = fork();
    if (child == 0) {
        munmap(w, 8192);
        // The parent's mapping still counts.
        _exit(fcntl(m, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EBUSY ? 0 : 1);
    }
    int status = -1;
    waitpid(child, &status, 0);
    EXPECT("seals: ... or another process's shared mapping EBUSY", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(w, 4096);
    EXPECT_ERR("seals: ... or what is left of one EBUSY", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    munmap(w + 4096, 4096);
    proc_fd(path, sizeof path, m);
    int ro = open(path, O_RDONLY);
    r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    EXPECT_ERR("seals: a shared mapping of a read-only descriptor cannot become writable EACCES",
               mprotect(r, 4096, PROT_READ | PROT_WRITE), EACCES);
    char *pw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, m, 0);
    EXPECT_EQ("seals: F_SEAL_WRITE with only private and read-only mappings", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), 0);
    pw[0] = 'p';
    EXPECT("seals: F_GET_SEALS shows it (also through a read-only descriptor); a private mapping still writes its copy",
           fcntl(m, F_GET_SEALS) == F_SEAL_WRITE && fcntl(ro, F_GET_SEALS) == F_SEAL_WRITE && pw[0] == 'p' && r[0] == 'm');
    munmap(pw, 4096);
    munmap(r, 4096);
    EXPECT_ERR("seals: write after F_SEAL_WRITE EPERM", write(m, "x", 1), EPERM);
    EXPECT_ERR("seals: pwrite after F_SEAL_WRITE EPERM", pwrite(m, "x", 1, 0), EPERM);
    struct iovec v = {"x", 1};
    EXPECT_ERR("seals: pwritev2 after F_SEAL_WRITE EPERM (writing nothing works)",
               write(m, "", 0) == 0 ? pwritev2(m, &v, 1, 0, 0) : -2, EPERM);
    EXPECT_ERR("seals: punching a hole after F_SEAL_WRITE EPERM",
               fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), EPERM);
    EXPECT("seals: mmap shared writable after F_SEAL_WRITE EPERM",
           mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0) == MAP_FAILED && errno == EPERM);
    r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0);
    EXPECT("seals: mmap shared read-only after F_SEAL_WRITE works (and reads)",
           r != MAP_FAILED && r[0] == 'm' && pread_is(m, 0, "m"));
    EXPECT_ERR("seals: ... but cannot be made writable EACCES", mprotect(r, 4096, PROT_READ | PROT_WRITE), EACCES);
    munmap(r, 4096);
    EXPECT("seals: F_SEAL_WRITE leaves truncation; F_SEAL_SHRINK | F_SEAL_GROW",
           ftruncate(m, 4096) == 0 && ftruncate(m, 8192) == 0 && fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    EXPECT_ERR("seals: shrinking after F_SEAL_SHRINK EPERM", ftruncate(m, 4096), EPERM);
    EXPECT_ERR("seals: growing after F_SEAL_GROW EPERM (the same size works)",
               ftruncate(m, 8192) == 0 ? ftruncate(m, 16384) : -2, EPERM);
    EXPECT_ERR("seals: open O_TRUNC after F_SEAL_SHRINK EPERM", open(path, O_RDWR | O_TRUNC), EPERM);
    EXPECT_EQ("seals: F_SEAL_SEAL", fcntl(m, F_ADD_SEALS, F_SEAL_SEAL), 0);
    EXPECT_ERR("seals: no seal after F_SEAL_SEAL EPERM", fcntl(m, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), EPERM);
    EXPECT_EQ("seals: F_GET_SEALS has all four", fcntl(m, F_GET_SEALS),
              F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    close(ro);
    close(m);

    int g = memfd_create("grow", MFD_ALLOW_SEALING);
    write(g, "abcd", 4);
    EXPECT_EQ("seals: F_SEAL_GROW alone", fcntl(g, F_ADD_SEALS, F_SEAL_GROW), 0);
    EXPECT_ERR("seals: appending after F_SEAL_GROW EPERM (writing inside works)",
               pwrite(g, "XY", 2, 0) == 2 ? write(g, "x", 1) : -2, EPERM);
    EXPECT_ERR("seals: a write past the end EPERM", pwrite(g, "xyz", 3, 2), EPERM);
    EXPECT("seals: ... none of it written", fsize(g) == 4 && pread_is(g, 0, "XYcd"));
    EXPECT_ERR("seals: fallocate past the end EPERM", fallocate(g, 0, 0, 8192), EPERM);
    EXPECT_ERR("seals: ... even FALLOC_FL_KEEP_SIZE EPERM (shrinking works)",
               ftruncate(g, 2) == 0 ? fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 8192) : -2, EPERM);
    proc_fd(path, sizeof path, g);
    ro = open(path, O_RDONLY);
    EXPECT_ERR("seals: F_ADD_SEALS through a read-only descriptor EPERM", fcntl(ro, F_ADD_SEALS, F_SEAL_SHRINK), EPERM);
    EXPECT_ERR("seals: ... before looking at the seals EPERM", fcntl(ro, F_ADD_SEALS, 0x100), EPERM);
    close(ro);
    int wo = open(path, O_WRONLY);
    EXPECT("seals: F_ADD_SEALS through a write-only descriptor seals the file",
           fcntl(wo, F_ADD_SEALS, F_SEAL_SHRINK) == 0 && fcntl(g, F_GET_SEALS) == (F_SEAL_GROW | F_SEAL_SHRINK));
    close(wo);
    close(g);

    int fw = memfd_create("future", MFD_ALLOW_SEALING);
    ftruncate(fw, 4096);
    char *keep = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0);
    int sealed = fcntl(fw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0;
    keep[0] = 'K';
    EXPECT("seals: F_SEAL_FUTURE_WRITE with a writable mapping, which still writes",
           sealed && fcntl(fw, F_GET_SEALS) == F_SEAL_FUTURE_WRITE && pread_is(fw, 0, "K"));
    EXPECT_ERR("seals: write after F_SEAL_FUTURE_WRITE EPERM", write(fw, "x", 1), EPERM);
    EXPECT("seals: new writable shared mapping after F_SEAL_FUTURE_WRITE EPERM",
           mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0) == MAP_FAILED && errno == EPERM);
    r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fw, 0);
    EXPECT_ERR("seals: ... nor one made writable by mprotect EACCES", mprotect(r, 4096, PROT_READ | PROT_WRITE), EACCES);
    munmap(r, 4096);
    EXPECT_ERR("seals: F_SEAL_WRITE while the old mapping lives EBUSY", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    munmap(keep, 4096);
    EXPECT_EQ("seals: ... and once it is gone", fcntl(fw, F_ADD_SEALS, F_SEAL_WRITE), 0);
    close(fw);

    int nx = memfd_create("noexec", MFD_NOEXEC_SEAL);
    EXPECT("seals: MFD_NOEXEC_SEAL: mode 0666, F_SEAL_EXEC (and sealing allowed)",
           fcntl(nx, F_GET_SEALS) == F_SEAL_EXEC && fstat(nx, &st) == 0 && (st.st_mode & 07777) == 0666);
    EXPECT_ERR("seals: ... chmod +x EPERM (other mode changes work)", fchmod(nx, 0644) == 0 ? fchmod(nx, 0755) : -2, EPERM);
    close(nx);
    EXPECT_ERR("seals: MFD_EXEC | MFD_NOEXEC_SEAL EINVAL", memfd_create("both", MFD_EXEC | MFD_NOEXEC_SEAL), EINVAL);
    int ex = memfd_create("exec", MFD_EXEC | MFD_ALLOW_SEALING);
    EXPECT_EQ("seals: F_SEAL_EXEC on an executable memfd", fcntl(ex, F_ADD_SEALS, F_SEAL_EXEC), 0);
    EXPECT_EQ("seals: ... seals its contents too", fcntl(ex, F_GET_SEALS),
              F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE);
    EXPECT_ERR("seals: ... and its exec bits EPERM", fchmod(ex, 0644), EPERM);
    close(ex);

    char name[256];
    snprintf(name, sizeof name, "/dev/shm/files2-seal-%d", getpid());
    int shf = open(name, O_CREAT | O_RDWR, 0600);
    unlink(name);
    EXPECT_EQ("seals: a tmpfs file has F_SEAL_SEAL", fcntl(shf, F_GET_SEALS), F_SEAL_SEAL);
    EXPECT_ERR("seals: ... and takes no seal EPERM", fcntl(shf, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    close(shf);

    // Files elsewhere have no seals (a tmpfs here would have F_SEAL_SEAL); a read-only
    // descriptor is refused first.
    struct statfs sf;
    statfs(".", &sf);
    int reg = open("plainfile", O_CREAT | O_RDWR, 0644), regro = open("plainfile", O_RDONLY);
    int p[2];
    pipe(p);
    errno = 0;
    long gs = fcntl(reg, F_GET_SEALS);
    int ge = errno;
    errno = 0;
    long as = fcntl(reg, F_ADD_SEALS, F_SEAL_WRITE);
    int ae = errno;
    int ok = sf.f_type == TMPFS_MAGIC_ ? gs == F_SEAL_SEAL && as == -1 && ae == EPERM
                                       : gs == -1 && ge == EINVAL && as == -1 && ae == EINVAL;
    errno = 0;
    long ro_add = fcntl(regro, F_ADD_SEALS, F_SEAL_WRITE);
    int roe = errno;
    errno = 0;
    long pipe_get = fcntl(p[1], F_GET_SEALS);
    int pe = errno;
    if (ok && ro_add == -1 && roe == EPERM && pipe_get == -1 && pe == EINVAL)
        pass("seals: other files have none (a read-only descriptor EPERM first)");
    else
        fail("seals: other files have none (a read-only descriptor EPERM first)",
             "F_GET_SEALS %ld %s, F_ADD_SEALS %ld %s, read-only %ld %s, pipe %ld %s", gs, ename(ge), as, ename(ae),
             ro_add, ename(roe), pipe_get, ename(pe));
    close(reg);
    close(regro);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *parent = argc > 1 ? argv[1] : "/tmp";
    if (make_workdir(parent, "files2", base) != 0) return 2;
    umask(022);

    test_tmpfile_in(base, "in a new directory");
    test_tmpfile_in("/tmp", "in /tmp");
    test_tmpfile_in("/dev/shm", "in /dev/shm (tmpfs)");
    test_tmpfs_space();
    test_rwf();
    test_seals();

    if (chdir("/") != 0) perror("chdir /");
    rm_rf_at(AT_FDCWD, base);
    if (access(base, F_OK) == 0) {
        printf("check cleanup removes the work directory: FAILED\n");
        failures++;
    }
    return finish_count("files2");
}
