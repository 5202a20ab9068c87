// files3: the rest of issue 3's file syscalls -- extended attributes on tmpfs (user. and
// trusted., create/replace flags, sizes, lists, removal, symlinks), sendfile,
// copy_file_range, splice and tee, the generic ioctls (FIONREAD, FIOCLEX, FIONCLEX, FIONBIO,
// FIOASYNC), posix_fadvise and readahead, futimesat, utime, utimes, creat, sync, the old
// getdents, symlinkat/readlinkat and newfstatat through a directory fd, F_OFD_SETLKW waiting for another description's lock, and openat2's
// RESOLVE_NO_XDEV and RESOLVE_NO_MAGICLINKS; permission checks: sticky directories,
// supplementary groups, owner bits before other bits, directory search, root's override.
//
// Run as root (trusted. attributes need CAP_SYS_ADMIN). Works in fresh subdirectories of /tmp
// and of /dev/shm (tmpfs natively and in the sandbox) that it removes at the end. Prints one
// line per check and "files3 ok" last; the output is the same natively and in the sandbox.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>
#include "check.h"

static char tmp[64], shm[64];

static int make_file(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0) return -1;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int contents_are(int fd, const char *want) {
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0) return 0;
    buf[n] = 0;
    return strcmp(buf, want) == 0;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

// ---------------------------------------------------------------- xattrs

static void test_xattrs(void) {
    char f[128], l[128], buf[64];
    path_in(f, sizeof f, shm, "xf");
    path_in(l, sizeof l, shm, "xl");
    int fd = make_file(f, "x");
    symlink("xf", l);

    EXPECT_ERR("getxattr: absent attribute ENODATA", getxattr(f, "user.none", buf, sizeof buf), ENODATA);
    EXPECT_EQ("setxattr: user.a", setxattr(f, "user.a", "hello", 5, 0), 0);
    EXPECT_EQ("getxattr: size query with size 0", getxattr(f, "user.a", NULL, 0), 5);
    memset(buf, 0, sizeof buf);
    EXPECT("getxattr: reads the value", getxattr(f, "user.a", buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0);
    EXPECT_ERR("getxattr: buffer too small ERANGE", getxattr(f, "user.a", buf, 2), ERANGE);
    EXPECT_ERR("setxattr: XATTR_CREATE over an existing one EEXIST", setxattr(f, "user.a", "x", 1, XATTR_CREATE), EEXIST);
    EXPECT_ERR("setxattr: XATTR_REPLACE of an absent one ENODATA", setxattr(f, "user.b", "x", 1, XATTR_REPLACE), ENODATA);
    EXPECT_EQ("setxattr: XATTR_REPLACE", setxattr(f, "user.a", "hi", 2, XATTR_REPLACE), 0);
    EXPECT("getxattr: the replaced value", getxattr(f, "user.a", buf, sizeof buf) == 2 && memcmp(buf, "hi", 2) == 0);
    EXPECT_EQ("setxattr: an empty value", setxattr(f, "user.empty", "", 0, 0), 0);
    EXPECT_EQ("getxattr: an empty value has size 0", getxattr(f, "user.empty", buf, sizeof buf), 0);
    EXPECT_EQ("fsetxattr: trusted.t as root", fsetxattr(fd, "trusted.t", "T", 1, 0), 0);
    EXPECT("fgetxattr: trusted.t", fgetxattr(fd, "trusted.t", buf, sizeof buf) == 1 && buf[0] == 'T');
    EXPECT_ERR("setxattr: unknown namespace EOPNOTSUPP", setxattr(f, "bogus.x", "x", 1, 0), EOPNOTSUPP);
    EXPECT_ERR("setxattr: bad flags EINVAL", setxattr(f, "user.c", "x", 1, 4), EINVAL);

    char list[256];
    ssize_t n = listxattr(f, list, sizeof list);
    int a = 0, e = 0, t = 0, count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
        count++;
        a |= strcmp(list + i, "user.a") == 0;
        e |= strcmp(list + i, "user.empty") == 0;
        t |= strcmp(list + i, "trusted.t") == 0;
    }
    EXPECT("listxattr: user.a, user.empty and trusted.t", n > 0 && a && e && t && count == 3);
    EXPECT_EQ("listxattr: size query", listxattr(f, NULL, 0), n);
    EXPECT_ERR("listxattr: buffer too small ERANGE", listxattr(f, list, 3), ERANGE);
    EXPECT("flistxattr: the same list", flistxattr(fd, list, sizeof list) == n);

    EXPECT_EQ("removexattr: user.a", removexattr(f, "user.a"), 0);
    EXPECT_ERR("removexattr: again ENODATA", removexattr(f, "user.a"), ENODATA);
    EXPECT_ERR("getxattr: removed ENODATA", getxattr(f, "user.a", buf, sizeof buf), ENODATA);
    EXPECT_EQ("fremovexattr: trusted.t", fremovexattr(fd, "trusted.t"), 0);

    // Through a symlink: the l* calls look at the link, whose user. attributes are refused.
    EXPECT("getxattr follows a symlink", getxattr(l, "user.empty", buf, sizeof buf) == 0);
    EXPECT_ERR("lgetxattr: the link itself has none", lgetxattr(l, "user.empty", buf, sizeof buf), ENODATA);
    EXPECT_ERR("lsetxattr: user. on a symlink EPERM", lsetxattr(l, "user.x", "x", 1, 0), EPERM);
    EXPECT_EQ("lsetxattr: trusted. on a symlink", lsetxattr(l, "trusted.x", "x", 1, 0), 0);
    EXPECT("llistxattr: the link's own", llistxattr(l, list, sizeof list) == 10 && strcmp(list, "trusted.x") == 0);

    // Permissions: another user may not write user. attributes of a file it cannot write.
    pid_t c = fork_checks();
    if (c == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(3);
        EXPECT_ERR("setxattr: user. without write permission EACCES", setxattr(f, "user.z", "z", 1, 0), EACCES);
        EXPECT("getxattr: user. with read permission", getxattr(f, "user.empty", buf, sizeof buf) == 0);
        EXPECT_ERR("getxattr: trusted. unprivileged is not there", getxattr(f, "trusted.t", buf, sizeof buf), ENODATA);
        exit_checks();
    }
    reap(c);

    close(fd);
    unlink(l);
    unlink(f);
}

// ---------------------------------------------------------------- copying between files

static void test_copies(void) {
    char src[128], dst[128];
    path_in(src, sizeof src, tmp, "src");
    path_in(dst, sizeof dst, tmp, "dst");
    int in = make_file(src, "0123456789abcdef");
    int out = make_file(dst, "");

    // sendfile: from the file's offset (advancing it), or from *offset (leaving it alone).
    lseek(in, 4, SEEK_SET);
    EXPECT_EQ("sendfile: from the file offset", sendfile(out, in, NULL, 4), 4);
    EXPECT_EQ("sendfile: the input offset advanced", lseek(in, 0, SEEK_CUR), 8);
    off_t off = 10;
    EXPECT_EQ("sendfile: from an explicit offset", sendfile(out, in, &off, 100), 6);
    EXPECT("sendfile: the offset variable advanced, the file's did not", off == 16 && lseek(in, 0, SEEK_CUR) == 8);
    EXPECT("sendfile: the output", contents_are(out, "4567abcdef"));
    EXPECT_EQ("sendfile: at end of file 0", sendfile(out, in, &off, 10), 0);
    int p[2];
    if (pipe(p) != 0) return;
    off = 0;
    EXPECT_EQ("sendfile: into a pipe", sendfile(p[1], in, &off, 5), 5);
    char buf[64] = {0};
    EXPECT("sendfile: the pipe reads it", read(p[0], buf, sizeof buf) == 5 && memcmp(buf, "01234", 5) == 0);
    int ro = open(src, O_RDONLY);
    EXPECT_ERR("sendfile: to a read-only fd EBADF", sendfile(ro, in, NULL, 1), EBADF);
    close(ro);

    // copy_file_range.
    ftruncate(out, 0);
    loff_t ioff = 2, ooff = 3;
    EXPECT_EQ("copy_file_range: with offsets", copy_file_range(in, &ioff, out, &ooff, 5, 0), 5);
    EXPECT("copy_file_range: offsets advanced", ioff == 7 && ooff == 8);
    char want[16] = {0, 0, 0, '2', '3', '4', '5', '6'};
    pread(out, buf, 8, 0);
    EXPECT("copy_file_range: the bytes, a hole before them", memcmp(buf, want, 8) == 0);
    EXPECT_ERR("copy_file_range: flags EINVAL", copy_file_range(in, NULL, out, NULL, 1, 1), EINVAL);
    EXPECT_ERR("copy_file_range: from a pipe EINVAL", copy_file_range(p[0], NULL, out, NULL, 1, 0), EINVAL);

    // splice: file -> pipe -> file; tee duplicates pipe data.
    off = 10;
    EXPECT_EQ("splice: file to pipe", splice(in, &off, p[1], NULL, 6, 0), 6);
    int q[2];
    if (pipe(q) != 0) return;
    EXPECT_EQ("tee: pipe to pipe", tee(p[0], q[1], 100, 0), 6);
    ftruncate(out, 0);
    loff_t o2 = 0;
    EXPECT_EQ("splice: pipe to file", splice(p[0], NULL, out, &o2, 100, 0), 6);
    EXPECT("splice: the file has it", contents_are(out, "abcdef"));
    memset(buf, 0, sizeof buf);
    EXPECT("tee: the copy is in the other pipe", read(q[0], buf, sizeof buf) == 6 && strcmp(buf, "abcdef") == 0);
    EXPECT_ERR("splice: neither end a pipe EINVAL", splice(in, NULL, out, NULL, 1, 0), EINVAL);
    EXPECT_ERR("tee: from a file EINVAL", tee(in, q[1], 1, 0), EINVAL);
    EXPECT_ERR("splice: offset for a pipe ESPIPE", splice(p[0], &o2, out, NULL, 1, 0), ESPIPE);

    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    close(in);
    close(out);
    unlink(src);
    unlink(dst);
}

// ---------------------------------------------------------------- ioctl, fadvise, readahead

static void test_ioctls(void) {
    char f[128];
    path_in(f, sizeof f, tmp, "io");
    int fd = make_file(f, "0123456789");
    int n = -1;
    lseek(fd, 3, SEEK_SET);
    EXPECT("FIONREAD on a file: bytes after the offset", ioctl(fd, FIONREAD, &n) == 0 && n == 7);
    int p[2];
    if (pipe(p) != 0) return;
    write(p[1], "abc", 3);
    EXPECT("FIONREAD on a pipe: bytes queued", ioctl(p[0], FIONREAD, &n) == 0 && n == 3);

    EXPECT("FIOCLEX sets FD_CLOEXEC", ioctl(fd, FIOCLEX) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    EXPECT("FIONCLEX clears it", ioctl(fd, FIONCLEX) == 0 && fcntl(fd, F_GETFD) == 0);
    int on = 1, off = 0;
    EXPECT("FIONBIO on sets O_NONBLOCK", ioctl(p[0], FIONBIO, &on) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK));
    char b[8];
    read(p[0], b, sizeof b);
    EXPECT_ERR("FIONBIO: an empty pipe then says EAGAIN", read(p[0], b, sizeof b), EAGAIN);
    EXPECT("FIONBIO off clears it", ioctl(p[0], FIONBIO, &off) == 0 && !(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    EXPECT("FIOASYNC on sets O_ASYNC", ioctl(p[0], FIOASYNC, &on) == 0 && (fcntl(p[0], F_GETFL) & O_ASYNC));
    EXPECT("FIOASYNC off clears it", ioctl(p[0], FIOASYNC, &off) == 0 && !(fcntl(p[0], F_GETFL) & O_ASYNC));
    EXPECT_ERR("FIONBIO with a bad pointer EFAULT", ioctl(p[0], FIONBIO, (int *)8), EFAULT);
    EXPECT_ERR("FIOCLEX on a closed fd EBADF", ioctl(999, FIOCLEX), EBADF);

    EXPECT_EQ("posix_fadvise: WILLNEED", posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED), 0);
    EXPECT_EQ("posix_fadvise: SEQUENTIAL", posix_fadvise(fd, 0, 10, POSIX_FADV_SEQUENTIAL), 0);
    EXPECT_EQ("posix_fadvise: DONTNEED", posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    EXPECT_EQ("posix_fadvise: bad advice EINVAL", posix_fadvise(fd, 0, 0, 99), EINVAL);
    EXPECT_EQ("posix_fadvise: negative length EINVAL", posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL), EINVAL);
    EXPECT_EQ("posix_fadvise: on a pipe ESPIPE", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL), ESPIPE);
    EXPECT_EQ("posix_fadvise: closed fd EBADF", posix_fadvise(999, 0, 0, POSIX_FADV_NORMAL), EBADF);
    EXPECT_EQ("readahead: a file", readahead(fd, 0, 4096), 0);
    EXPECT_ERR("readahead: a pipe EINVAL", readahead(p[0], 0, 10), EINVAL);
    int wo = open(f, O_WRONLY);
    EXPECT_ERR("readahead: write-only EBADF", readahead(wo, 0, 10), EBADF);
    close(wo);

    close(p[0]);
    close(p[1]);
    close(fd);
    unlink(f);
}

// ---------------------------------------------------------------- *at calls

static void test_at_calls(void) {
    int dfd = open(tmp, O_RDONLY | O_DIRECTORY);
    int fd = openat(dfd, "atf", O_CREAT | O_WRONLY, 0644);
    close(fd);
    EXPECT_EQ("symlinkat: relative to a directory fd", symlinkat("atf", dfd, "atl"), 0);
    char buf[64] = {0};
    EXPECT("readlinkat: reads it", readlinkat(dfd, "atl", buf, sizeof buf) == 3 && strcmp(buf, "atf") == 0);
    EXPECT_ERR("symlinkat: existing name EEXIST", symlinkat("x", dfd, "atf"), EEXIST);
    struct stat st;
    EXPECT("newfstatat: follows the link", syscall(SYS_newfstatat, dfd, "atl", &st, 0) == 0 && S_ISREG(st.st_mode));
    EXPECT("newfstatat: AT_SYMLINK_NOFOLLOW", syscall(SYS_newfstatat, dfd, "atl", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
    EXPECT_ERR("newfstatat: bad flags EINVAL", syscall(SYS_newfstatat, dfd, "atl", &st, 0x1), EINVAL);

    struct timeval tv[2] = {{1000000000, 500000}, {1100000000, 250000}};
    EXPECT_EQ("futimesat: relative to a directory fd", syscall(SYS_futimesat, dfd, "atf", tv), 0);
    EXPECT("futimesat: the times, in microseconds", fstatat(dfd, "atf", &st, 0) == 0
           && st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 500000000
           && st.st_mtim.tv_sec == 1100000000 && st.st_mtim.tv_nsec == 250000000);
    tv[1].tv_usec = 1000000;
    EXPECT_ERR("futimesat: microseconds out of range EINVAL", syscall(SYS_futimesat, dfd, "atf", tv), EINVAL);
    EXPECT_ERR("futimesat: missing file ENOENT", syscall(SYS_futimesat, dfd, "nope", NULL), ENOENT);

    // utime and utimes (whole seconds, microseconds); a null times argument means now.
    char path[128];
    path_in(path, sizeof path, tmp, "atf");
    struct utimbuf ub = {.actime = 1200000000, .modtime = 1300000000};
    EXPECT_EQ("utime: sets both times", syscall(SYS_utime, path, &ub), 0);
    EXPECT("utime: whole seconds", stat(path, &st) == 0 && st.st_atim.tv_sec == 1200000000 && st.st_atim.tv_nsec == 0
           && st.st_mtim.tv_sec == 1300000000 && st.st_mtim.tv_nsec == 0);
    struct timeval utv[2] = {{1250000000, 7}, {1350000000, 9}};
    EXPECT_EQ("utimes: sets both times", syscall(SYS_utimes, path, utv), 0);
    EXPECT("utimes: microseconds", stat(path, &st) == 0 && st.st_atim.tv_nsec == 7000 && st.st_mtim.tv_sec == 1350000000
           && st.st_mtim.tv_nsec == 9000);
    EXPECT_EQ("utime: null means now", syscall(SYS_utime, path, NULL), 0);
    EXPECT("utime: now is later than what was set", stat(path, &st) == 0 && st.st_mtim.tv_sec > 1600000000);
    EXPECT_ERR("utime: bad pointer EFAULT", syscall(SYS_utime, path, (void *)8), EFAULT);

    // creat is open(O_CREAT|O_WRONLY|O_TRUNC).
    int cfd = creat(path, 0600);
    char c;
    EXPECT("creat: truncates and opens write-only", cfd >= 0 && fstat(cfd, &st) == 0 && st.st_size == 0 && write(cfd, "z", 1) == 1);
    EXPECT_ERR("creat: the descriptor is not readable EBADF", read(cfd, &c, 1), EBADF);
    close(cfd);

    EXPECT_EQ("sync: returns 0", syscall(SYS_sync), 0);

    // The old getdents: linux_dirent records, d_type in the record's last byte.
    int sub = openat(dfd, "dents", O_RDONLY | O_DIRECTORY);
    if (sub < 0 && mkdirat(dfd, "dents", 0755) == 0) sub = openat(dfd, "dents", O_RDONLY | O_DIRECTORY);
    close(openat(sub, "file", O_CREAT | O_WRONLY, 0644));
    mkdirat(sub, "dir", 0755);
    char dbuf[1024];
    int found_file = 0, found_dir = 0, dots = 0, total = 0;
    long n;
    while ((n = syscall(SYS_getdents, sub, dbuf, sizeof dbuf)) > 0) {
        for (long off = 0; off < n;) {
            unsigned short reclen = *(unsigned short *)(dbuf + off + 16);
            const char *name = dbuf + off + 18;
            unsigned char type = (unsigned char)dbuf[off + reclen - 1];
            total++;
            if (strcmp(name, "file") == 0 && type == DT_REG) found_file = 1;
            if (strcmp(name, "dir") == 0 && type == DT_DIR) found_dir = 1;
            if ((strcmp(name, ".") == 0 || strcmp(name, "..") == 0) && type == DT_DIR) dots++;
            off += reclen;
        }
    }
    EXPECT("getdents: the old record format, with d_type", n == 0 && found_file && found_dir && dots == 2 && total == 4);
    EXPECT_ERR("getdents: on a file ENOTDIR", syscall(SYS_getdents, cfd = open(path, O_RDONLY), dbuf, sizeof dbuf), ENOTDIR);
    close(cfd);
    char tiny[8];
    lseek(sub, 0, SEEK_SET);
    EXPECT_ERR("getdents: buffer too small EINVAL", syscall(SYS_getdents, sub, tiny, sizeof tiny), EINVAL);
    unlinkat(sub, "file", 0);
    unlinkat(sub, "dir", AT_REMOVEDIR);
    close(sub);
    unlinkat(dfd, "dents", AT_REMOVEDIR);

    unlinkat(dfd, "atl", 0);
    unlinkat(dfd, "atf", 0);
    close(dfd);
}

// ---------------------------------------------------------------- OFD lock waits

static void test_ofd_wait(void) {
    char f[128];
    path_in(f, sizeof f, tmp, "lk");
    int a = make_file(f, "locked");
    int b = open(f, O_RDWR);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    EXPECT_EQ("F_OFD_SETLK: the first description locks", fcntl(a, F_OFD_SETLK, &fl), 0);
    EXPECT_ERR("F_OFD_SETLK: the second is refused EAGAIN", fcntl(b, F_OFD_SETLK, &fl), EAGAIN);

    // A child holds a pipe; it releases our first lock when told, after we start waiting.
    int go[2], done[2];
    if (pipe(go) != 0 || pipe(done) != 0) return;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        read(go[0], &x, 1);
        struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
        fcntl(a, F_OFD_SETLK, &un); // the description is shared with the parent
        _exit(0);
    }
    // Our lock request blocks until the child unlocks the description.
    write(go[1], "x", 1);
    EXPECT_EQ("F_OFD_SETLKW: waits for the other description's lock to go", fcntl(b, F_OFD_SETLKW, &fl), 0);
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    EXPECT("F_OFD_GETLK: the first description now sees the second's lock",
           fcntl(a, F_OFD_GETLK, &probe) == 0 && probe.l_type == F_WRLCK && probe.l_pid == -1);
    waitpid(c, NULL, 0);
    struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_pid = 1};
    EXPECT_ERR("F_OFD_SETLKW: l_pid not 0 EINVAL", fcntl(b, F_OFD_SETLKW, &bad), EINVAL);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
    close(a);
    close(b);
    unlink(f);
}

// ---------------------------------------------------------------- openat2 resolve flags

static long openat2_(int dfd, const char *path, unsigned long long resolve) {
    struct open_how how = {.flags = O_RDONLY, .resolve = resolve};
    return syscall(SYS_openat2, dfd, path, &how, sizeof how);
}

static void test_resolve(void) {
    int root = open("/", O_RDONLY | O_DIRECTORY);
    long fd = openat2_(root, "proc/self/status", 0);
    EXPECT("openat2: crossing into /proc", fd >= 0);
    if (fd >= 0) close((int)fd);
    EXPECT_ERR("openat2: RESOLVE_NO_XDEV into /proc EXDEV", openat2_(root, "proc/self/status", RESOLVE_NO_XDEV), EXDEV);
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR("openat2: RESOLVE_NO_XDEV up out of /proc EXDEV", openat2_(procfd, "../tmp", RESOLVE_NO_XDEV), EXDEV);
    fd = openat2_(procfd, "/tmp", RESOLVE_NO_XDEV);
    EXPECT("openat2: RESOLVE_NO_XDEV allows an absolute path argument", fd >= 0);
    if (fd >= 0) close((int)fd);
    int devfd = open("/dev", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR("openat2: RESOLVE_NO_XDEV absolute symlink (/dev/fd) to another mount EXDEV", openat2_(devfd, "fd/0", RESOLVE_NO_XDEV), EXDEV);
    close(devfd);
    EXPECT_ERR("openat2: RESOLVE_NO_XDEV magic link to another mount EXDEV", openat2_(procfd, "thread-self/root", RESOLVE_NO_XDEV), EXDEV);
    fd = openat2_(root, "/tmp", RESOLVE_NO_XDEV);
    EXPECT("openat2: RESOLVE_NO_XDEV absolute path on the root's own mount", fd >= 0);
    if (fd >= 0) close((int)fd);
    fd = openat2_(procfd, "self/status", RESOLVE_NO_XDEV);
    EXPECT("openat2: RESOLVE_NO_XDEV within one mount", fd >= 0);
    if (fd >= 0) close((int)fd);

    char link[64];
    snprintf(link, sizeof link, "self/fd/%d", root);
    fd = openat2_(procfd, link, RESOLVE_NO_SYMLINKS);
    EXPECT("openat2: RESOLVE_NO_SYMLINKS refuses self", fd == -1 && errno == ELOOP);
    EXPECT_ERR("openat2: RESOLVE_NO_MAGICLINKS refuses /proc/self/fd/N ELOOP",
               openat2_(procfd, "thread-self/fd/0", RESOLVE_NO_MAGICLINKS), ELOOP);
    EXPECT_ERR("openat2: RESOLVE_NO_MAGICLINKS refuses /proc/self/exe ELOOP", openat2_(procfd, "thread-self/exe", RESOLVE_NO_MAGICLINKS), ELOOP);
    fd = openat2_(procfd, "thread-self/status", RESOLVE_NO_MAGICLINKS);
    EXPECT("openat2: RESOLVE_NO_MAGICLINKS follows ordinary links (/proc/thread-self)", fd >= 0);
    if (fd >= 0) close((int)fd);
    close(procfd);
    close(root);
}

// ---------------------------------------------------------------- permissions

// Runs fn in a child with the given uid, gid and supplementary groups; its failures count here.
static void as_user(uid_t uid, gid_t gid, int ngroups, const gid_t *groups, void (*fn)(void)) {
    pid_t c = fork_checks();
    if (c == 0) {
        if (setgroups((size_t)ngroups, groups) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(3);
        fn();
        exit_checks();
    }
    reap(c);
}

static char pdir[160];

static void in_pdir(char *out, const char *name) { snprintf(out, 200, "%s/%s", pdir, name); }

static void user_a_creates(void) {
    char f[200];
    in_pdir(f, "sticky/a");
    int fd = open(f, O_CREAT | O_EXCL | O_WRONLY, 0666);
    EXPECT("sticky: user A creates a file in a 01777 directory", fd >= 0 && fchmod(fd, 0666) == 0);
    close(fd);
}

static void user_b_in_sticky(void) {
    char f[200], g[200];
    in_pdir(f, "sticky/a");
    in_pdir(g, "sticky/b");
    EXPECT_ERR("sticky: user B may not unlink A's file EPERM", unlink(f), EPERM);
    EXPECT_ERR("sticky: user B may not rename A's file EPERM", rename(f, g), EPERM);
    int fd = open(g, O_CREAT | O_EXCL | O_WRONLY, 0644);
    EXPECT("sticky: user B creates its own file", fd >= 0);
    close(fd);
    EXPECT_EQ("sticky: user B unlinks its own file", unlink(g), 0);
    fd = open(f, O_WRONLY);
    EXPECT("sticky: user B may still write A's 0666 file", fd >= 0);
    close(fd);
}

static void member_reads(void) {
    char f[200];
    in_pdir(f, "group");
    int fd = open(f, O_RDONLY);
    EXPECT("groups: a supplementary group member reads a 0640 file of that group", fd >= 0);
    close(fd);
    EXPECT_ERR("groups: but may not write it EACCES", open(f, O_WRONLY), EACCES);
    in_pdir(f, "owner-denied");
    EXPECT_ERR("owner bits win: the owner of a 0077 file may not read it EACCES", open(f, O_RDONLY), EACCES);
    in_pdir(f, "private/file");
    EXPECT_ERR("search: a file in a 0700 directory of another user EACCES", open(f, O_RDONLY), EACCES);
    struct stat st;
    EXPECT_ERR("search: stat there EACCES", stat(f, &st), EACCES);
}

static void stranger_reads(void) {
    char f[200];
    in_pdir(f, "group");
    EXPECT_ERR("groups: without the group a 0640 file is EACCES", open(f, O_RDONLY), EACCES);
    in_pdir(f, "owner-denied");
    int fd = open(f, O_RDONLY);
    EXPECT("other bits: a stranger reads the 0077 file", fd >= 0);
    close(fd);
}

static void test_permissions(void) {
    snprintf(pdir, sizeof pdir, "%s/perm", tmp);
    mkdir(pdir, 0755);
    char d[200], f[200];
    in_pdir(d, "sticky");
    mkdir(d, 0755);
    chmod(d, 01777);
    as_user(1001, 1001, 0, NULL, user_a_creates);
    as_user(1002, 1002, 0, NULL, user_b_in_sticky);
    in_pdir(f, "sticky/a");
    EXPECT_EQ("sticky: root unlinks anyone's file", unlink(f), 0);

    in_pdir(f, "group");
    close(make_file(f, "g"));
    chown(f, 0, 2000);
    chmod(f, 0640);
    in_pdir(f, "owner-denied");
    close(make_file(f, "o"));
    chown(f, 1001, 1001);
    chmod(f, 0077);
    in_pdir(d, "private");
    mkdir(d, 0700);
    in_pdir(f, "private/file");
    close(make_file(f, "p"));
    chmod(f, 0644);
    gid_t groups[] = {3000, 2000};
    as_user(1001, 1001, 2, groups, member_reads);
    as_user(1003, 1003, 0, NULL, stranger_reads);

    // Root's override: reading and writing regardless of mode, executing only if some x bit is set.
    in_pdir(f, "none");
    close(make_file(f, "n"));
    chmod(f, 0);
    int fd = open(f, O_RDWR);
    EXPECT("root: opens a mode 0000 file read-write", fd >= 0);
    close(fd);
    EXPECT_ERR("root: X_OK on a file with no x bit EACCES", access(f, X_OK), EACCES);
    chmod(f, 0010);
    EXPECT_EQ("root: X_OK once one x bit is set", access(f, X_OK), 0);
    unlink(f);

    in_pdir(f, "private/file");
    unlink(f);
    in_pdir(f, "group");
    unlink(f);
    in_pdir(f, "owner-denied");
    unlink(f);
    in_pdir(d, "private");
    rmdir(d);
    in_pdir(d, "sticky");
    rmdir(d);
    rmdir(pdir);
}

static void rm_dir(const char *dir) {
    if (rmdir(dir) != 0) {
        printf("check remove %s: FAILED (%s)\n", strncmp(dir, "/tmp", 4) == 0 ? "the /tmp directory" : "the /dev/shm directory",
               ename(errno));
        failures++;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("files3: run me as root\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    strcpy(tmp, "/tmp/files3-XXXXXX");
    strcpy(shm, "/dev/shm/files3-XXXXXX");
    if (!mkdtemp(tmp) || !mkdtemp(shm)) {
        perror("mkdtemp");
        return 2;
    }
    chmod(shm, 0755);
    chmod(tmp, 0755);
    umask(022);

    test_xattrs();
    test_copies();
    test_ioctls();
    test_at_calls();
    test_ofd_wait();
    test_resolve();
    test_permissions();

    rm_dir(tmp);
    rm_dir(shm);
    return finish_count("files3");
}
