// files: Linux file-system semantics through the VFS -- open flags, offsets, O_APPEND,
// rename/unlink of open files, sparse files and SEEK_DATA/SEEK_HOLE, large directories
// and getdents64, mkdir/rmdir/link/symlink errors, renameat2, openat2 resolve flags,
// O_TMPFILE, truncate/fallocate, timestamps, modes, access, cwd handling, FIFOs, statx,
// statfs.
//
// Usage: files DIR. Works in a fresh subdirectory DIR/files-XXXXXX that it removes at the
// end. Prints one line per check ("check NAME: ok" or "check NAME: FAILED ...") and then
// "files ok" or "files FAILED (n)"; exits 0 only if every check passed. The output holds
// no inode numbers, times, pids or paths, so it is the same natively and in the sandbox.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define MiB (1024 * 1024)

static char base[4096];     // the absolute path of our working directory (canonical)
static int basefd = -1;     // an O_PATH|O_DIRECTORY descriptor for it

// ---------------------------------------------------------------- small helpers

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    ssize_t n = write(fd, data, strlen(data));
    close(fd);
    return n == (ssize_t)strlen(data) ? 0 : -1;
}

// Reads the whole file (up to cap-1 bytes) into buf, NUL-terminated; -1 on error.
static ssize_t read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t total = 0, n;
    while ((size_t)total < cap - 1 && (n = read(fd, buf + total, cap - 1 - total)) > 0) total += n;
    close(fd);
    buf[total] = 0;
    return total;
}

static int file_is(const char *path, const char *want) {
    char buf[256];
    return read_file(path, buf, sizeof buf) >= 0 && strcmp(buf, want) == 0;
}

// pread of exactly len bytes equal to want.
static int pread_is(int fd, off_t off, const char *want, size_t len) {
    char buf[256];
    return pread(fd, buf, len, off) == (ssize_t)len && memcmp(buf, want, len) == 0;
}

static int all_zero(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static int same_inode(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static mode_t mode_of(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode : (mode_t)-1;
}

static off_t size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static nlink_t nlink_of(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_nlink : (nlink_t)-1;
}

static nlink_t fnlink(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_nlink : (nlink_t)-1;
}

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static long sys_renameat2(const char *from, const char *to, unsigned flags) {
    return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

// ---------------------------------------------------------------- offsets and flags

static void test_append(void) {
    int a = open("append", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    int b = open("append", O_WRONLY | O_APPEND);
    EXPECT("append: open two descriptors", a >= 0 && b >= 0);
    int ok = write(a, "aa", 2) == 2 && write(b, "bb", 2) == 2 && write(a, "cc", 2) == 2;
    EXPECT("append: writes from two fds interleave at the end", ok && file_is("append", "aabbcc"));
    EXPECT_EQ("append: offset after write is the new end", lseek(a, 0, SEEK_CUR), 6);
    lseek(a, 0, SEEK_SET);
    EXPECT("append: write after lseek(0) still appends",
           write(a, "dd", 2) == 2 && file_is("append", "aabbccdd"));
    EXPECT("append: pwrite on O_APPEND appends (Linux)",
           pwrite(b, "ee", 2, 0) == 2 && file_is("append", "aabbccddee"));
    int flags = fcntl(a, F_GETFL);
    EXPECT("append: F_GETFL shows O_APPEND", flags != -1 && (flags & O_APPEND));
    EXPECT_OK("append: F_SETFL clears O_APPEND", fcntl(a, F_SETFL, flags & ~O_APPEND));
    lseek(a, 0, SEEK_SET);
    EXPECT("append: without O_APPEND write lands at offset",
           write(a, "XY", 2) == 2 && file_is("append", "XYbbccddee"));
    close(a);
    close(b);
}

static void test_offsets(void) {
    write_file("offsets", "0123456789");
    char buf[8] = {0};
    int fd = open("offsets", O_RDONLY);
    int fd2 = dup(fd);
    EXPECT("offsets: open and dup", fd >= 0 && fd2 >= 0);
    EXPECT("offsets: read 3 on fd", read(fd, buf, 3) == 3 && memcmp(buf, "012", 3) == 0);
    EXPECT("offsets: dup shares the offset", read(fd2, buf, 3) == 3 && memcmp(buf, "345", 3) == 0);
    EXPECT_EQ("offsets: lseek SEEK_CUR on original sees 6", lseek(fd, 0, SEEK_CUR), 6);
    int fd3 = open("offsets", O_RDONLY);
    EXPECT("offsets: second open has its own offset", read(fd3, buf, 3) == 3 && memcmp(buf, "012", 3) == 0);
    EXPECT_EQ("offsets: first offset unaffected by second open", lseek(fd, 0, SEEK_CUR), 6);
    EXPECT_EQ("offsets: SEEK_END", lseek(fd, -2, SEEK_END), 8);
    EXPECT_ERR("offsets: negative lseek EINVAL", lseek(fd, -20, SEEK_CUR), EINVAL);
    EXPECT_ERR("offsets: bad whence EINVAL", lseek(fd, 0, 42), EINVAL);
    EXPECT_EQ("offsets: seek past end allowed", lseek(fd, 100, SEEK_SET), 100);
    EXPECT_EQ("offsets: read past end returns 0", read(fd, buf, 3), 0);
    EXPECT_EQ("offsets: pread past end returns 0", pread(fd, buf, 3, 50), 0);
    pread(fd, buf, 2, 1);
    EXPECT_EQ("offsets: pread does not move offset", lseek(fd, 0, SEEK_CUR), 100);
    EXPECT_ERR("offsets: pread negative offset EINVAL", pread(fd, buf, 1, -1), EINVAL);
    EXPECT_ERR("offsets: write on O_RDONLY EBADF", write(fd, "x", 1), EBADF);
    close(fd);
    close(fd2);
    close(fd3);

    fd = open("offsets", O_WRONLY);
    EXPECT_ERR("offsets: read on O_WRONLY EBADF", read(fd, buf, 1), EBADF);
    EXPECT("offsets: pwrite past end extends with zeros",
           pwrite(fd, "Z", 1, 14) == 1 && size_of("offsets") == 15);
    close(fd);
    char data[32];
    EXPECT("offsets: gap reads as zeros",
           read_file("offsets", data, sizeof data) == 15 && memcmp(data, "0123456789\0\0\0\0Z", 15) == 0);

    int p[2];
    pipe(p);
    EXPECT_ERR("offsets: lseek on pipe ESPIPE", lseek(p[0], 0, SEEK_CUR), ESPIPE);
    EXPECT_ERR("offsets: pread on pipe ESPIPE", pread(p[0], buf, 1, 0), ESPIPE);
    EXPECT_ERR("offsets: fsync on pipe EINVAL", fsync(p[1]), EINVAL);
    close(p[0]);
    close(p[1]);
}

static void test_vectored(void) {
    int fd = open("vec", O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct iovec w[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
    EXPECT_EQ("vectored: writev gathers", writev(fd, w, 3), 8);
    char x[2], y[4], z[8] = {0};
    struct iovec r[3] = {{x, 2}, {y, 4}, {z, 8}};
    lseek(fd, 0, SEEK_SET);
    ssize_t n = readv(fd, r, 3);
    EXPECT("vectored: readv scatters",
           n == 8 && memcmp(x, "ab", 2) == 0 && memcmp(y, "cdef", 4) == 0 && memcmp(z, "gh", 2) == 0);
    struct iovec pw[2] = {{"12", 2}, {"34", 2}};
    EXPECT_EQ("vectored: pwritev at offset", pwritev(fd, pw, 2, 2), 4);
    EXPECT_EQ("vectored: pwritev keeps offset", lseek(fd, 0, SEEK_CUR), 8);
    char a[3] = {0}, b[3] = {0};
    struct iovec pr[2] = {{a, 3}, {b, 3}};
    n = preadv(fd, pr, 2, 1);
    EXPECT("vectored: preadv at offset",
           n == 6 && memcmp(a, "b12", 3) == 0 && memcmp(b, "34g", 3) == 0);
    EXPECT_EQ("vectored: preadv keeps offset", lseek(fd, 0, SEEK_CUR), 8);
    struct iovec bad[1] = {{x, (size_t)-1}};
    EXPECT_ERR("vectored: iov_len overflow EINVAL", readv(fd, bad, 1), EINVAL);
    static struct iovec many[1025];
    for (int i = 0; i < 1025; i++) many[i] = (struct iovec){x, 1};
    EXPECT_ERR("vectored: iovcnt > IOV_MAX EINVAL", readv(fd, many, 1025), EINVAL);
    close(fd);
}

static void test_excl_trunc(void) {
    write_file("excl", "content");
    EXPECT_ERR("excl: O_CREAT|O_EXCL on existing EEXIST",
               open("excl", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    symlink("nowhere", "excl-dangling");
    EXPECT_ERR("excl: O_CREAT|O_EXCL on dangling symlink EEXIST",
               open("excl-dangling", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    int fd = open("excl-new", O_WRONLY | O_CREAT | O_EXCL, 0600);
    EXPECT("excl: O_CREAT|O_EXCL on new name creates", fd >= 0 && (mode_of("excl-new") & 07777) == 0600);
    close(fd);
    fd = open("excl-dangling", O_WRONLY | O_CREAT, 0644);
    EXPECT("excl: O_CREAT through dangling symlink creates the target",
           fd >= 0 && S_ISREG(mode_of("nowhere")));
    close(fd);
    EXPECT("excl: file content untouched by failed O_EXCL", file_is("excl", "content"));

    fd = open("excl", O_WRONLY | O_TRUNC);
    EXPECT("trunc: O_WRONLY|O_TRUNC empties the file", fd >= 0 && size_of("excl") == 0);
    close(fd);
    write_file("excl", "content");
    fd = open("excl", O_RDONLY | O_TRUNC);
    EXPECT("trunc: O_RDONLY|O_TRUNC truncates too (Linux)", fd >= 0 && size_of("excl") == 0);
    close(fd);
    write_file("excl", "content");
    fd = open("excl", O_RDONLY);
    EXPECT("trunc: plain open keeps content", fd >= 0 && size_of("excl") == 7);
    close(fd);
    EXPECT_ERR("trunc: O_TRUNC on a directory EISDIR", open(".", O_RDONLY | O_TRUNC), EISDIR);

    fd = creat("created", 0644);
    char c;
    EXPECT("creat: creates write-only", fd >= 0 && S_ISREG(mode_of("created")));
    EXPECT_ERR("creat: fd is write-only", read(fd, &c, 1), EBADF);
    close(fd);

    fd = open("excl", O_RDONLY | O_CLOEXEC);
    EXPECT("cloexec: O_CLOEXEC sets FD_CLOEXEC", fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    close(fd);
    fd = open("excl", O_RDONLY);
    EXPECT_EQ("cloexec: without O_CLOEXEC no flag", fcntl(fd, F_GETFD), 0);
    close(fd);

    EXPECT_ERR("open: empty path ENOENT", open("", O_RDONLY), ENOENT);
    EXPECT_ERR("open: missing file ENOENT", open("does-not-exist", O_RDONLY), ENOENT);
    EXPECT_ERR("open: missing parent ENOENT", open("no-dir/x", O_RDONLY | O_CREAT, 0644), ENOENT);
    EXPECT_ERR("open: file as directory ENOTDIR", open("excl/x", O_RDONLY), ENOTDIR);
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = 0;
    EXPECT_ERR("open: 256-byte component ENAMETOOLONG", open(longname, O_RDONLY | O_CREAT, 0644), ENAMETOOLONG);
    longname[255] = 0;
    fd = open(longname, O_RDONLY | O_CREAT, 0644);
    EXPECT("open: 255-byte component works", fd >= 0);
    close(fd);
    unlink(longname);
}

static void test_open_dirs(void) {
    mkdir("odir", 0755);
    write_file("ofile", "x");
    EXPECT_ERR("open: O_DIRECTORY on a file ENOTDIR", open("ofile", O_RDONLY | O_DIRECTORY), ENOTDIR);
    EXPECT_ERR("open: directory O_WRONLY EISDIR", open("odir", O_WRONLY), EISDIR);
    EXPECT_ERR("open: directory O_RDWR EISDIR", open("odir", O_RDWR), EISDIR);
    EXPECT_ERR("open: O_CREAT on existing directory EISDIR", open("odir", O_RDONLY | O_CREAT, 0644), EISDIR);
    int fd = open("odir", O_RDONLY | O_DIRECTORY);
    char c;
    EXPECT("open: directory O_RDONLY|O_DIRECTORY", fd >= 0);
    EXPECT_ERR("open: read on a directory EISDIR", read(fd, &c, 1), EISDIR);
    close(fd);

    fd = open("ofile", O_PATH);
    struct stat st;
    EXPECT("o_path: open a file", fd >= 0);
    EXPECT_ERR("o_path: read EBADF", read(fd, &c, 1), EBADF);
    EXPECT_ERR("o_path: write EBADF", write(fd, "x", 1), EBADF);
    EXPECT("o_path: fstat works", fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 1);
    EXPECT_ERR("o_path: ftruncate EBADF", ftruncate(fd, 0), EBADF);
    EXPECT("o_path: F_GETFL shows O_PATH", (fcntl(fd, F_GETFL) & O_PATH) == O_PATH);
    close(fd);
    fd = open("odir", O_PATH | O_DIRECTORY);
    int sub = openat(fd, "inner", O_WRONLY | O_CREAT, 0644);
    EXPECT("o_path: openat relative to O_PATH directory", fd >= 0 && sub >= 0 && S_ISREG(mode_of("odir/inner")));
    EXPECT("o_path: fstatat AT_EMPTY_PATH", fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
    close(sub);
    close(fd);
}

// ---------------------------------------------------------------- rename / unlink of open files

static void test_open_file_lifetime(void) {
    char buf[16] = {0};
    write_file("victim", "first");
    write_file("replacement", "second");
    int fd = open("victim", O_RDONLY);
    EXPECT_OK("rename-open: rename over an open file", rename("replacement", "victim"));
    EXPECT("rename-open: old fd still reads old content", pread_is(fd, 0, "first", 5));
    EXPECT("rename-open: new name has new content", file_is("victim", "second"));
    EXPECT_EQ("rename-open: old inode has nlink 0", fnlink(fd), 0);
    EXPECT_ERR("rename-open: source name is gone", access("replacement", F_OK), ENOENT);
    close(fd);

    write_file("doomed", "");
    fd = open("doomed", O_RDWR);
    EXPECT_OK("unlink-open: unlink an open file", unlink("doomed"));
    EXPECT_ERR("unlink-open: name is gone", open("doomed", O_RDONLY), ENOENT);
    EXPECT_EQ("unlink-open: still writable", write(fd, "xyz", 3), 3);
    EXPECT("unlink-open: still readable", pread_is(fd, 0, "xyz", 3));
    struct stat st;
    EXPECT("unlink-open: fstat nlink 0 and size 3", fstat(fd, &st) == 0 && st.st_nlink == 0 && st.st_size == 3);
    EXPECT("unlink-open: ftruncate works", ftruncate(fd, 1) == 0 && fstat(fd, &st) == 0 && st.st_size == 1);
    EXPECT("unlink-open: same name can be created anew",
           write_file("doomed", "new") == 0 && file_is("doomed", "new") && pread(fd, buf, 16, 0) == 1);
    close(fd);
}

// ---------------------------------------------------------------- sparse files

static void test_sparse(void) {
    int fd = open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT("sparse: write at 0 and at 1 MiB",
           pwrite(fd, "AAAAAAAAAA", 10, 0) == 10 && pwrite(fd, "BBBBBBBBBB", 10, MiB) == 10);
    off_t size = MiB + 10;
    EXPECT_EQ("sparse: size is 1 MiB + 10", size_of("sparse"), size);
    EXPECT_EQ("sparse: SEEK_DATA(0) == 0", lseek(fd, 0, SEEK_DATA), 0);
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    EXPECT("sparse: SEEK_HOLE(0) past the first data, before 1 MiB", hole >= 10 && hole < MiB);
    if (hole >= 10 && hole < MiB) {
        EXPECT_EQ("sparse: SEEK_DATA(first hole) == 1 MiB", lseek(fd, hole, SEEK_DATA), MiB);
        EXPECT_EQ("sparse: SEEK_DATA(first hole + 1) == 1 MiB", lseek(fd, hole + 1, SEEK_DATA), MiB);
        EXPECT_EQ("sparse: SEEK_DATA moved the offset", lseek(fd, 0, SEEK_CUR), MiB);
    }
    EXPECT_EQ("sparse: SEEK_HOLE(1 MiB) is EOF", lseek(fd, MiB, SEEK_HOLE), size);
    EXPECT_EQ("sparse: SEEK_DATA(size - 1)", lseek(fd, size - 1, SEEK_DATA), size - 1);
    EXPECT_ERR("sparse: SEEK_DATA(size) ENXIO", lseek(fd, size, SEEK_DATA), ENXIO);
    EXPECT_ERR("sparse: SEEK_HOLE(size) ENXIO", lseek(fd, size, SEEK_HOLE), ENXIO);
    EXPECT_ERR("sparse: SEEK_DATA(negative) ENXIO", lseek(fd, -1, SEEK_DATA), ENXIO);
    char buf[100];
    memset(buf, 1, sizeof buf);
    EXPECT("sparse: hole reads as zeros", pread(fd, buf, sizeof buf, 500000) == sizeof buf && all_zero(buf, sizeof buf));
    EXPECT("sparse: data after the hole", pread_is(fd, MiB, "BBBBBBBBBB", 10));
    close(fd);

    fd = open("empty", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT_ERR("sparse: SEEK_DATA on empty file ENXIO", lseek(fd, 0, SEEK_DATA), ENXIO);
    EXPECT_ERR("sparse: SEEK_HOLE on empty file ENXIO", lseek(fd, 0, SEEK_HOLE), ENXIO);
    close(fd);
}

// ---------------------------------------------------------------- big directory / getdents64

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

#define MANY 10000

// Reads the directory with getdents64 and a small buffer. Counts entries into seen[] (by
// number for names "fNNNNN"), dots and others. Returns 0 or -1 with errno.
static int scan_dir(int fd, unsigned char *seen, int *dots, int *others, int *bad_type) {
    char buf[256];
    *dots = *others = *bad_type = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) return -1;
        if (n == 0) return 0;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) {
                (*dots)++;
                if (d->d_type != DT_DIR) (*bad_type)++;
            } else if (d->d_name[0] == 'f' && strlen(d->d_name) == 6) {
                int i = atoi(d->d_name + 1);
                if (i >= 0 && i < MANY && seen[i] < 255) seen[i]++;
                if (d->d_type != DT_REG) (*bad_type)++;
            } else {
                (*others)++;
            }
            off += d->d_reclen;
        }
    }
}

static int count_seen(const unsigned char *seen, int *dup) {
    int once = 0;
    *dup = 0;
    for (int i = 0; i < MANY; i++) {
        if (seen[i] == 1) once++;
        if (seen[i] > 1) (*dup)++;
    }
    return once;
}

static void test_getdents(void) {
    static unsigned char seen[MANY];
    EXPECT_OK("getdents: mkdir many", mkdir("many", 0755));
    int created = 0;
    char name[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "many/f%05d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            created++;
            close(fd);
        }
    }
    EXPECT_EQ("getdents: created 10000 files", created, MANY);

    int fd = open("many", O_RDONLY | O_DIRECTORY);
    int dots, others, bad_type, dup;
    memset(seen, 0, sizeof seen);
    int r = scan_dir(fd, seen, &dots, &others, &bad_type);
    int once = count_seen(seen, &dup);
    EXPECT("getdents: loop with a 256-byte buffer ends cleanly", r == 0);
    EXPECT_EQ("getdents: every name seen exactly once", once, MANY);
    EXPECT_EQ("getdents: no name seen twice", dup, 0);
    EXPECT_EQ("getdents: . and .. once each", dots, 2);
    EXPECT_EQ("getdents: no unexpected names", others, 0);
    EXPECT_EQ("getdents: d_type DT_REG / DT_DIR", bad_type, 0);
    EXPECT_EQ("getdents: at the end returns 0", syscall(SYS_getdents64, fd, name, sizeof name), 0);

    EXPECT_EQ("getdents: lseek(0) rewinds", lseek(fd, 0, SEEK_SET), 0);
    memset(seen, 0, sizeof seen);
    r = scan_dir(fd, seen, &dots, &others, &bad_type);
    once = count_seen(seen, &dup);
    EXPECT("getdents: second pass sees everything again", r == 0 && once == MANY && dup == 0 && dots == 2);

    lseek(fd, 0, SEEK_SET);
    char tiny[16];
    EXPECT_ERR("getdents: buffer too small EINVAL", syscall(SYS_getdents64, fd, tiny, sizeof tiny), EINVAL);
    close(fd);

    // Removing entries while reading: every entry that was there at the start and not
    // removed is still seen exactly once (removal of already-read ones must not disturb).
    fd = open("many", O_RDONLY | O_DIRECTORY);
    char buf[1024];
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    int removed = 0;
    for (int i = 0; i < MANY; i += 2) {
        snprintf(name, sizeof name, "many/f%05d", i);
        if (unlink(name) == 0) removed++;
    }
    memset(seen, 0, sizeof seen);
    for (long off = 0; off < n;) {
        struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
        if (d->d_name[0] == 'f') seen[atoi(d->d_name + 1)]++;
        off += d->d_reclen;
    }
    int dots2, others2, bad2;
    r = scan_dir(fd, seen, &dots2, &others2, &bad2);
    int odd_once = 0, odd_missing = 0;
    for (int i = 1; i < MANY; i += 2) {
        if (seen[i] == 1) odd_once++;
        if (seen[i] != 1) odd_missing++;
    }
    EXPECT_EQ("getdents: removed half", removed, MANY / 2);
    EXPECT("getdents: survivors seen exactly once while unlinking", r == 0 && odd_once == MANY / 2 && odd_missing == 0);
    close(fd);

    int unlinked = 0;
    for (int i = 1; i < MANY; i += 2) {
        snprintf(name, sizeof name, "many/f%05d", i);
        if (unlink(name) == 0) unlinked++;
    }
    EXPECT_EQ("getdents: unlinked the rest", unlinked, MANY / 2);
    fd = open("many", O_RDONLY | O_DIRECTORY);
    memset(seen, 0, sizeof seen);
    r = scan_dir(fd, seen, &dots, &others, &bad_type);
    once = count_seen(seen, &dup);
    EXPECT("getdents: empty directory lists only . and ..", r == 0 && once == 0 && dots == 2 && others == 0);
    close(fd);
    EXPECT_OK("getdents: rmdir emptied directory", rmdir("many"));

    fd = open("ofile", O_RDONLY);
    EXPECT_ERR("getdents: on a file ENOTDIR", syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
    close(fd);
    EXPECT_ERR("getdents: bad fd EBADF", syscall(SYS_getdents64, 9999, buf, sizeof buf), EBADF);
}

// ---------------------------------------------------------------- mkdir / rmdir / unlink

static void test_mkdir_rmdir(void) {
    EXPECT_OK("mkdir: new directory", mkdir("d", 0777));
    EXPECT_EQ("mkdir: mode honours umask 022", mode_of("d") & 07777, 0755);
    EXPECT_EQ("mkdir: new directory has nlink 2", nlink_of("d"), 2);
    EXPECT_ERR("mkdir: existing EEXIST", mkdir("d", 0755), EEXIST);
    EXPECT_ERR("mkdir: existing file EEXIST", mkdir("ofile", 0755), EEXIST);
    EXPECT_ERR("mkdir: missing parent ENOENT", mkdir("nonexistent/x", 0755), ENOENT);
    EXPECT_ERR("mkdir: parent is a file ENOTDIR", mkdir("ofile/x", 0755), ENOTDIR);
    EXPECT_OK("mkdir: trailing slash allowed", mkdir("d/sub/", 0755));
    EXPECT_EQ("mkdir: subdirectory raises parent nlink to 3", nlink_of("d"), 3);
    EXPECT_OK("mkdirat: relative to a dirfd", mkdirat(basefd, "d/sub2", 0700));
    EXPECT_EQ("mkdirat: mode 0700", mode_of("d/sub2") & 07777, 0700);
    write_file("d/file", "x");
    EXPECT_EQ("mkdir: files do not count in nlink", nlink_of("d"), 4);
    EXPECT_ERR("rmdir: not empty ENOTEMPTY", rmdir("d"), ENOTEMPTY);
    EXPECT_ERR("rmdir: on a file ENOTDIR", rmdir("d/file"), ENOTDIR);
    EXPECT_ERR("rmdir: missing ENOENT", rmdir("d/missing"), ENOENT);
    EXPECT_ERR("rmdir: . EINVAL", rmdir("d/sub/."), EINVAL);
    EXPECT_ERR("rmdir: .. ENOTEMPTY", rmdir("d/sub/.."), ENOTEMPTY);
    EXPECT_ERR("rmdir: path through a file ENOTDIR", rmdir("d/file/x"), ENOTDIR);
    EXPECT_ERR("unlink: directory EISDIR", unlink("d/sub"), EISDIR);
    EXPECT_ERR("unlink: missing ENOENT", unlink("d/missing"), ENOENT);
    EXPECT_ERR("unlink: trailing slash on file ENOTDIR", unlink("d/file/"), ENOTDIR);
    EXPECT_ERR("unlinkat: AT_REMOVEDIR on a file ENOTDIR", unlinkat(basefd, "d/file", AT_REMOVEDIR), ENOTDIR);
    EXPECT_ERR("unlinkat: bad flag EINVAL", unlinkat(basefd, "d/file", 0x1), EINVAL);
    EXPECT_OK("unlinkat: AT_REMOVEDIR on a directory", unlinkat(basefd, "d/sub2", AT_REMOVEDIR));
    EXPECT_OK("rmdir: trailing slash allowed", rmdir("d/sub/"));
    EXPECT_EQ("rmdir: parent nlink drops", nlink_of("d"), 2);
    EXPECT_OK("unlink: file", unlink("d/file"));
    EXPECT_OK("rmdir: now empty", rmdir("d"));
    EXPECT_ERR("rmdir: gone", access("d", F_OK), ENOENT);
}

// ---------------------------------------------------------------- symlinks

static void test_symlinks(void) {
    char buf[64];
    write_file("target-file", "target data");
    EXPECT_OK("symlink: create", symlink("target-file", "sl"));
    ssize_t n = readlink("sl", buf, sizeof buf);
    EXPECT("symlink: readlink returns the target, not NUL-terminated",
           n == 11 && memcmp(buf, "target-file", 11) == 0);
    EXPECT_EQ("symlink: readlink with short buffer truncates", readlink("sl", buf, 4), 4);
    EXPECT_EQ("symlink: readlinkat via dirfd", readlinkat(basefd, "sl", buf, sizeof buf), 11);
    struct stat st, lst;
    EXPECT("symlink: lstat sees a link of size strlen(target)",
           lstat("sl", &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_size == 11);
    EXPECT("symlink: stat follows to the file",
           stat("sl", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 11 && st.st_ino != lst.st_ino);
    EXPECT("symlink: open follows", file_is("sl", "target data"));
    EXPECT_ERR("symlink: readlink on a file EINVAL", readlink("target-file", buf, sizeof buf), EINVAL);
    EXPECT_ERR("symlink: readlink missing ENOENT", readlink("nope", buf, sizeof buf), ENOENT);
    EXPECT_ERR("symlink: over an existing name EEXIST", symlink("x", "target-file"), EEXIST);
    EXPECT_ERR("symlink: empty target ENOENT", symlink("", "sl-empty"), ENOENT);
    EXPECT_OK("symlink: dangling", symlink("missing-target", "dangling"));
    EXPECT_ERR("symlink: stat on dangling ENOENT", stat("dangling", &st), ENOENT);
    EXPECT("symlink: lstat on dangling works", lstat("dangling", &st) == 0 && S_ISLNK(st.st_mode));

    mkdir("realdir", 0755);
    write_file("realdir/inner", "inner");
    symlink("realdir", "sldir");
    EXPECT("symlink: intermediate component followed", file_is("sldir/inner", "inner"));
    EXPECT("symlink: trailing slash follows to the directory", lstat("sldir/", &st) == 0 && S_ISDIR(st.st_mode));
    symlink("/", "slroot");
    EXPECT("symlink: absolute target", stat("slroot", &st) == 0 && S_ISDIR(st.st_mode) && same_inode("slroot", "/"));
    symlink("../target-file", "realdir/up");
    EXPECT("symlink: relative target resolves from the link's directory", file_is("realdir/up", "target data"));

    EXPECT("symlink-loop: create a pair", symlink("loop2", "loop1") == 0 && symlink("loop1", "loop2") == 0);
    EXPECT_ERR("symlink-loop: open ELOOP", open("loop1", O_RDONLY), ELOOP);
    EXPECT_ERR("symlink-loop: stat ELOOP", stat("loop1", &st), ELOOP);
    EXPECT_ERR("symlink-loop: as a directory ELOOP", open("loop1/x", O_RDONLY), ELOOP);
    EXPECT("symlink-loop: lstat fine", lstat("loop1", &st) == 0 && S_ISLNK(st.st_mode));
    symlink("self", "self");
    EXPECT_ERR("symlink-loop: self loop ELOOP", open("self", O_RDONLY), ELOOP);
    // A chain of 40 links resolves, 41 does not (MAXSYMLINKS = 40).
    char from[32], to[32];
    write_file("chain-end", "end");
    for (int i = 0; i <= 40; i++) {
        snprintf(from, sizeof from, "chain%02d", i);
        if (i == 0) snprintf(to, sizeof to, "chain-end");
        else snprintf(to, sizeof to, "chain%02d", i - 1);
        symlink(to, from);
    }
    EXPECT("symlink-chain: 40 links resolve", file_is("chain39", "end"));
    EXPECT_ERR("symlink-chain: 41 links ELOOP", open("chain40", O_RDONLY), ELOOP);

    EXPECT_ERR("nofollow: O_NOFOLLOW on a symlink ELOOP", open("sl", O_RDONLY | O_NOFOLLOW), ELOOP);
    int fd = open("sldir/inner", O_RDONLY | O_NOFOLLOW);
    EXPECT("nofollow: only the last component is affected", fd >= 0);
    close(fd);
    fd = open("sl", O_PATH | O_NOFOLLOW);
    EXPECT("nofollow: O_PATH|O_NOFOLLOW opens the link itself",
           fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode));
    EXPECT_EQ("nofollow: readlinkat on the O_PATH link fd", readlinkat(fd, "", buf, sizeof buf), 11);
    close(fd);
    EXPECT_ERR("nofollow: O_NOFOLLOW|O_CREAT on dangling symlink ELOOP",
               open("dangling", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644), ELOOP);
    EXPECT("nofollow: fstatat AT_SYMLINK_NOFOLLOW",
           fstatat(basefd, "sl", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));

    EXPECT_ERR("trailing-slash: open file/ ENOTDIR", open("target-file/", O_RDONLY), ENOTDIR);
    EXPECT_ERR("trailing-slash: stat file/ ENOTDIR", stat("target-file/", &st), ENOTDIR);
    EXPECT_ERR("trailing-slash: lstat symlink-to-file/ ENOTDIR", lstat("sl/", &st), ENOTDIR);
    EXPECT_ERR("trailing-slash: O_CREAT new/ EISDIR", open("newfile/", O_WRONLY | O_CREAT, 0644), EISDIR);
    EXPECT_ERR("trailing-slash: file/. ENOTDIR", stat("target-file/.", &st), ENOTDIR);
    EXPECT_ERR("trailing-slash: file/.. ENOTDIR", stat("target-file/..", &st), ENOTDIR);
    EXPECT("trailing-slash: dir/ works", stat("realdir/", &st) == 0 && S_ISDIR(st.st_mode));
}

// ---------------------------------------------------------------- hard links

static void test_links(void) {
    write_file("lfile", "linked");
    EXPECT_EQ("link: new file nlink 1", nlink_of("lfile"), 1);
    EXPECT_OK("link: create", link("lfile", "lfile2"));
    EXPECT("link: both names nlink 2", nlink_of("lfile") == 2 && nlink_of("lfile2") == 2);
    EXPECT("link: same inode", same_inode("lfile", "lfile2"));
    EXPECT_OK("linkat: via dirfds", linkat(basefd, "lfile", basefd, "lfile3", 0));
    EXPECT_EQ("link: nlink 3", nlink_of("lfile"), 3);
    int fd = open("lfile2", O_WRONLY | O_APPEND);
    write(fd, "!", 1);
    close(fd);
    EXPECT("link: write through one name visible through the other", file_is("lfile", "linked!"));
    EXPECT_ERR("link: existing name EEXIST", link("lfile", "lfile2"), EEXIST);
    EXPECT_ERR("link: directory EPERM", link("realdir", "realdir-link"), EPERM);
    EXPECT_ERR("link: missing source ENOENT", link("nope", "nope2"), ENOENT);
    EXPECT_OK("link: unlink one name", unlink("lfile3"));
    EXPECT_EQ("link: nlink back to 2", nlink_of("lfile"), 2);
    EXPECT_OK("link: of a symlink links the symlink", link("sl", "sl-hard"));
    EXPECT("link: hard link to symlink is a symlink", S_ISLNK(mode_of("sl-hard")) && nlink_of("sl") == 2);
    EXPECT_OK("linkat: AT_SYMLINK_FOLLOW links the target", linkat(AT_FDCWD, "sl", AT_FDCWD, "sl-follow", AT_SYMLINK_FOLLOW));
    EXPECT("linkat: followed link is the regular file", S_ISREG(mode_of("sl-follow")) && same_inode("sl-follow", "target-file"));
    EXPECT_ERR("linkat: bad flag EINVAL", linkat(AT_FDCWD, "lfile", AT_FDCWD, "lfile9", 0x1), EINVAL);
}

// ---------------------------------------------------------------- rename

static void test_rename(void) {
    mkdir("r", 0755);
    mkdir("r/a", 0755);
    mkdir("r/a/b", 0755);
    mkdir("r/full", 0755);
    write_file("r/full/x", "x");
    mkdir("r/empty", 0755);
    write_file("r/f1", "one");
    write_file("r/f2", "two");
    EXPECT_ERR("rename: directory into its own subdirectory EINVAL", rename("r/a", "r/a/b/c"), EINVAL);
    EXPECT_ERR("rename: directory onto its own subdirectory EINVAL", rename("r/a", "r/a/b"), EINVAL);
    EXPECT_ERR("rename: directory onto non-empty directory ENOTEMPTY", rename("r/a", "r/full"), ENOTEMPTY);
    EXPECT_ERR("rename: file onto directory EISDIR", rename("r/f1", "r/empty"), EISDIR);
    EXPECT_ERR("rename: directory onto file ENOTDIR", rename("r/empty", "r/f1"), ENOTDIR);
    EXPECT_ERR("rename: missing source ENOENT", rename("r/nope", "r/nope2"), ENOENT);
    EXPECT_ERR("rename: missing target parent ENOENT", rename("r/f1", "r/nodir/f1"), ENOENT);
    EXPECT_ERR("rename: . EBUSY", rename("r/a/.", "r/x"), EBUSY);
    EXPECT_OK("rename: file to itself is a no-op", rename("r/f1", "r/f1"));
    EXPECT("rename: file still there", file_is("r/f1", "one"));
    link("r/f1", "r/f1-link");
    EXPECT_OK("rename: onto another link of the same inode does nothing", rename("r/f1", "r/f1-link"));
    EXPECT("rename: both links remain", access("r/f1", F_OK) == 0 && access("r/f1-link", F_OK) == 0);
    EXPECT_OK("rename: directory onto empty directory", rename("r/a", "r/empty"));
    EXPECT("rename: moved directory keeps its children", access("r/empty/b", F_OK) == 0 && access("r/a", F_OK) != 0);
    EXPECT_OK("rename: directory to a new parent", rename("r/empty", "r/full/moved"));
    EXPECT_EQ("rename: new parent nlink counts the moved directory", nlink_of("r/full"), 3);
    EXPECT("rename: moved directory's .. is the new parent", same_inode("r/full/moved/..", "r/full"));
    EXPECT_OK("rename: file over file", rename("r/f2", "r/f1"));
    EXPECT("rename: target has source content", file_is("r/f1", "two") && access("r/f2", F_OK) != 0);
    EXPECT_EQ("rename: replaced inode keeps its other link", nlink_of("r/f1-link"), 1);
    EXPECT_OK("renameat: via dirfds", renameat(basefd, "r/f1", basefd, "r/f3"));
    EXPECT_OK("rename: symlink renames the link itself", rename("sl-hard", "r/sl-moved"));
    EXPECT("rename: moved symlink still a symlink", S_ISLNK(mode_of("r/sl-moved")));

    write_file("r/n1", "n1");
    write_file("r/n2", "n2");
    EXPECT_ERR("renameat2: RENAME_NOREPLACE onto existing EEXIST", sys_renameat2("r/n1", "r/n2", RENAME_NOREPLACE), EEXIST);
    EXPECT("renameat2: NOREPLACE failure leaves both", file_is("r/n1", "n1") && file_is("r/n2", "n2"));
    EXPECT_OK("renameat2: RENAME_NOREPLACE onto new name", sys_renameat2("r/n1", "r/n3", RENAME_NOREPLACE));
    EXPECT_OK("renameat2: RENAME_EXCHANGE of two files", sys_renameat2("r/n2", "r/n3", RENAME_EXCHANGE));
    EXPECT("renameat2: RENAME_EXCHANGE swapped contents", file_is("r/n2", "n1") && file_is("r/n3", "n2"));
    mkdir("r/xd", 0755);
    write_file("r/xd/inside", "in");
    EXPECT_OK("renameat2: RENAME_EXCHANGE file with directory", sys_renameat2("r/n2", "r/xd", RENAME_EXCHANGE));
    EXPECT("renameat2: exchanged file/directory",
           file_is("r/xd", "n1") && file_is("r/n2/inside", "in"));
    EXPECT_ERR("renameat2: RENAME_EXCHANGE with missing target ENOENT", sys_renameat2("r/n3", "r/none", RENAME_EXCHANGE), ENOENT);
    EXPECT_ERR("renameat2: NOREPLACE|EXCHANGE EINVAL", sys_renameat2("r/n3", "r/xd", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
    EXPECT_ERR("renameat2: unknown flag EINVAL", sys_renameat2("r/n3", "r/xd", 0x100), EINVAL);
}

// ---------------------------------------------------------------- openat2

static void test_openat2(void) {
    mkdir("o2", 0755);
    mkdir("o2/root", 0755);
    mkdir("o2/root/sub", 0755);
    write_file("o2/root/file", "inroot");
    write_file("o2/outside", "outside");
    symlink("../outside", "o2/root/escape");
    symlink("/file", "o2/root/abs");
    symlink("file", "o2/root/rel");
    symlink("sub", "o2/root/subl");
    int dfd = open("o2/root", O_RDONLY | O_DIRECTORY);
    EXPECT("openat2: open the root directory", dfd >= 0);
    char buf[32] = {0};

    long fd = sys_openat2(dfd, "file", O_RDONLY, 0, 0);
    EXPECT("openat2: plain open", fd >= 0 && read(fd, buf, sizeof buf) == 6 && memcmp(buf, "inroot", 6) == 0);
    close(fd);
    EXPECT_ERR("openat2: RESOLVE_BENEATH rejects ../x EXDEV", sys_openat2(dfd, "../outside", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERR("openat2: RESOLVE_BENEATH rejects absolute EXDEV", sys_openat2(dfd, "/tmp", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERR("openat2: RESOLVE_BENEATH rejects escaping symlink EXDEV", sys_openat2(dfd, "escape", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERR("openat2: RESOLVE_BENEATH rejects absolute symlink EXDEV", sys_openat2(dfd, "abs", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    fd = sys_openat2(dfd, "sub/../file", O_RDONLY, 0, RESOLVE_BENEATH);
    EXPECT("openat2: RESOLVE_BENEATH allows sub/../file", fd >= 0);
    close(fd);
    fd = sys_openat2(dfd, "rel", O_RDONLY, 0, RESOLVE_BENEATH);
    EXPECT("openat2: RESOLVE_BENEATH allows a relative symlink inside", fd >= 0);
    close(fd);
    EXPECT_ERR("openat2: RESOLVE_NO_SYMLINKS on a symlink ELOOP", sys_openat2(dfd, "rel", O_RDONLY, 0, RESOLVE_NO_SYMLINKS), ELOOP);
    EXPECT_ERR("openat2: RESOLVE_NO_SYMLINKS on an intermediate symlink ELOOP",
               sys_openat2(dfd, "subl/x", O_RDONLY | O_CREAT, 0644, RESOLVE_NO_SYMLINKS), ELOOP);
    fd = sys_openat2(dfd, "rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
    EXPECT("openat2: RESOLVE_NO_SYMLINKS with O_PATH|O_NOFOLLOW opens the link", fd >= 0);
    close(fd);
    fd = sys_openat2(dfd, "/file", O_RDONLY, 0, RESOLVE_IN_ROOT);
    memset(buf, 0, sizeof buf);
    EXPECT("openat2: RESOLVE_IN_ROOT treats / as the dirfd",
           fd >= 0 && read(fd, buf, sizeof buf) == 6 && memcmp(buf, "inroot", 6) == 0);
    close(fd);
    fd = sys_openat2(dfd, "../../../file", O_RDONLY, 0, RESOLVE_IN_ROOT);
    EXPECT("openat2: RESOLVE_IN_ROOT clamps .. at the root", fd >= 0 && pread_is(fd, 0, "inroot", 6));
    close(fd);
    fd = sys_openat2(dfd, "abs", O_RDONLY, 0, RESOLVE_IN_ROOT);
    EXPECT("openat2: RESOLVE_IN_ROOT resolves absolute symlinks in the root", fd >= 0 && pread_is(fd, 0, "inroot", 6));
    close(fd);
    EXPECT_ERR("openat2: RESOLVE_IN_ROOT escaping symlink lands inside ENOENT",
               sys_openat2(dfd, "escape", O_RDONLY, 0, RESOLVE_IN_ROOT), ENOENT);
    fd = sys_openat2(dfd, "created", O_WRONLY | O_CREAT | O_EXCL, 0600, RESOLVE_BENEATH);
    EXPECT("openat2: O_CREAT with mode", fd >= 0 && (mode_of("o2/root/created") & 07777) == 0600);
    close(fd);
    EXPECT_ERR("openat2: mode without O_CREAT EINVAL", sys_openat2(dfd, "file", O_RDONLY, 0644, 0), EINVAL);
    EXPECT_ERR("openat2: unknown resolve bit EINVAL", sys_openat2(dfd, "file", O_RDONLY, 0, 1ULL << 40), EINVAL);
    EXPECT_ERR("openat2: unknown open flag EINVAL", sys_openat2(dfd, "file", O_RDONLY | (1ULL << 40), 0, 0), EINVAL);
    EXPECT_ERR("openat2: BENEATH|IN_ROOT EINVAL", sys_openat2(dfd, "file", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT), EINVAL);
    struct open_how how = {.flags = O_RDONLY};
    EXPECT_ERR("openat2: size too small EINVAL", syscall(SYS_openat2, dfd, "file", &how, 8), EINVAL);
    struct {
        struct open_how how;
        uint64_t extra;
    } big = {{.flags = O_RDONLY}, 0};
    fd = syscall(SYS_openat2, dfd, "file", &big, sizeof big);
    EXPECT("openat2: larger struct with zero tail accepted", fd >= 0);
    close(fd);
    big.extra = 1;
    EXPECT_ERR("openat2: larger struct with nonzero tail E2BIG", syscall(SYS_openat2, dfd, "file", &big, sizeof big), E2BIG);
    close(dfd);
}

// ---------------------------------------------------------------- O_TMPFILE

static void test_tmpfile(void) {
    mkdir("tmpf", 0755);
    int fd = open("tmpf", O_TMPFILE | O_RDWR, 0600);
    struct stat st;
    EXPECT("tmpfile: O_TMPFILE open works", fd >= 0);
    EXPECT("tmpfile: regular file with nlink 0 and mode 0600",
           fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0 && (st.st_mode & 07777) == 0600);
    EXPECT("tmpfile: read back what was written", write(fd, "tmp", 3) == 3 && pread_is(fd, 0, "tmp", 3));
    int dots = 0, others = 0, bad = 0;
    static unsigned char seen[MANY];
    int dfd = open("tmpf", O_RDONLY | O_DIRECTORY);
    scan_dir(dfd, seen, &dots, &others, &bad);
    close(dfd);
    EXPECT("tmpfile: does not appear in the directory", others == 0 && dots == 2);
    close(fd);
    EXPECT_ERR("tmpfile: O_TMPFILE read-only EINVAL", open("tmpf", O_TMPFILE | O_RDONLY, 0600), EINVAL);
    EXPECT_ERR("tmpfile: O_TMPFILE on a file ENOTDIR", open("ofile", O_TMPFILE | O_RDWR, 0600), ENOTDIR);
    EXPECT_OK("tmpfile: directory still removable", rmdir("tmpf"));
}

// ---------------------------------------------------------------- truncate / fallocate

static void test_truncate(void) {
    char buf[16];
    write_file("tr", "hello");
    EXPECT_OK("truncate: grow to 10", truncate("tr", 10));
    EXPECT("truncate: grown part reads zeros",
           read_file("tr", buf, sizeof buf) == 10 && memcmp(buf, "hello", 5) == 0 && all_zero(buf + 5, 5));
    EXPECT_OK("truncate: shrink to 2", truncate("tr", 2));
    EXPECT("truncate: shrunk content", file_is("tr", "he"));
    EXPECT_OK("truncate: grow again to 5", truncate("tr", 5));
    EXPECT("truncate: old bytes do not come back",
           read_file("tr", buf, sizeof buf) == 5 && memcmp(buf, "he\0\0\0", 5) == 0);
    int fd = open("tr", O_RDWR);
    EXPECT_OK("ftruncate: to 0", ftruncate(fd, 0));
    EXPECT_EQ("ftruncate: size 0", size_of("tr"), 0);
    EXPECT_EQ("ftruncate: offset unchanged", lseek(fd, 0, SEEK_CUR), 0);
    lseek(fd, 4, SEEK_SET);
    write(fd, "x", 1);
    EXPECT("ftruncate: write past end after shrink leaves a zero gap",
           read_file("tr", buf, sizeof buf) == 5 && memcmp(buf, "\0\0\0\0x", 5) == 0);
    EXPECT_ERR("ftruncate: negative length EINVAL", ftruncate(fd, -1), EINVAL);
    close(fd);
    fd = open("tr", O_RDONLY);
    EXPECT_ERR("ftruncate: O_RDONLY fd EINVAL", ftruncate(fd, 0), EINVAL);
    close(fd);
    EXPECT_ERR("truncate: negative length EINVAL", truncate("tr", -1), EINVAL);
    EXPECT_ERR("truncate: directory EISDIR", truncate("realdir", 0), EISDIR);
    EXPECT_ERR("truncate: missing ENOENT", truncate("nope", 0), ENOENT);
    symlink("tr", "tr-link");
    EXPECT_OK("truncate: through a symlink", truncate("tr-link", 1));
    EXPECT_EQ("truncate: symlink target truncated", size_of("tr"), 1);

    fd = open("fa", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT_OK("fallocate: allocate 8192", fallocate(fd, 0, 0, 8192));
    EXPECT_EQ("fallocate: size grows", size_of("fa"), 8192);
    char big[8192];
    memset(big, 1, sizeof big);
    EXPECT("fallocate: allocated range reads zeros", pread(fd, big, sizeof big, 0) == 8192 && all_zero(big, 8192));
    EXPECT_OK("fallocate: KEEP_SIZE beyond end", fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192));
    EXPECT_EQ("fallocate: KEEP_SIZE keeps the size", size_of("fa"), 8192);
    EXPECT_OK("fallocate: inside the file does not change size", fallocate(fd, 0, 100, 100));
    EXPECT_EQ("fallocate: size still 8192", size_of("fa"), 8192);
    memset(big, 'q', sizeof big);
    pwrite(fd, big, sizeof big, 0);
    EXPECT_OK("fallocate: PUNCH_HOLE|KEEP_SIZE", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
    EXPECT("fallocate: punched range reads zeros, rest intact",
           pread(fd, big, sizeof big, 0) == 8192 && all_zero(big, 4096) && big[4096] == 'q' && big[8191] == 'q');
    EXPECT_ERR("fallocate: PUNCH_HOLE without KEEP_SIZE EOPNOTSUPP", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
    EXPECT_ERR("fallocate: zero length EINVAL", fallocate(fd, 0, 0, 0), EINVAL);
    EXPECT_ERR("fallocate: negative offset EINVAL", fallocate(fd, 0, -1, 10), EINVAL);
    close(fd);
    fd = open("fa", O_RDONLY);
    EXPECT_ERR("fallocate: O_RDONLY fd EBADF", fallocate(fd, 0, 0, 10), EBADF);
    close(fd);

    fd = open("fa", O_RDWR);
    EXPECT_OK("fsync: regular file", fsync(fd));
    EXPECT_OK("fdatasync: regular file", fdatasync(fd));
    EXPECT_OK("syncfs: regular file", syncfs(fd));
    EXPECT_OK("sync_file_range: regular file", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    close(fd);
    fd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_OK("fsync: directory", fsync(fd));
    close(fd);
    EXPECT_ERR("fsync: bad fd EBADF", fsync(9999), EBADF);
}

// ---------------------------------------------------------------- times

static void test_times(void) {
    write_file("tm", "t");
    struct timespec ts[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
    struct stat st;
    EXPECT_OK("utimensat: explicit times", utimensat(AT_FDCWD, "tm", ts, 0));
    EXPECT("utimensat: stat shows both times to the nanosecond",
           stat("tm", &st) == 0 && st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789 &&
               st.st_mtim.tv_sec == 1200000000 && st.st_mtim.tv_nsec == 987654321);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1300000000, 5}};
    EXPECT_OK("utimensat: UTIME_OMIT for atime", utimensat(AT_FDCWD, "tm", omit, 0));
    EXPECT("utimensat: atime kept, mtime changed",
           stat("tm", &st) == 0 && st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789 &&
               st.st_mtim.tv_sec == 1300000000 && st.st_mtim.tv_nsec == 5);
    time_t before = time(NULL);
    struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    EXPECT_OK("utimensat: UTIME_NOW for mtime", utimensat(AT_FDCWD, "tm", now, 0));
    EXPECT("utimensat: mtime is now, atime kept",
           stat("tm", &st) == 0 && st.st_mtim.tv_sec >= before - 2 && st.st_mtim.tv_sec <= time(NULL) + 2 &&
               st.st_atim.tv_sec == 1000000000);
    EXPECT("stat: ctime is recent after a change", st.st_ctim.tv_sec >= before - 2 && st.st_ctim.tv_sec <= time(NULL) + 2);
    EXPECT_OK("utimensat: NULL sets both to now", utimensat(AT_FDCWD, "tm", NULL, 0));
    EXPECT("utimensat: both now", stat("tm", &st) == 0 && st.st_atim.tv_sec >= before - 2 && st.st_mtim.tv_sec >= before - 2);
    struct timespec badns[2] = {{0, 1000000000}, {0, 0}};
    EXPECT_ERR("utimensat: tv_nsec out of range EINVAL", utimensat(AT_FDCWD, "tm", badns, 0), EINVAL);
    EXPECT_ERR("utimensat: missing file ENOENT", utimensat(AT_FDCWD, "nope", ts, 0), ENOENT);
    int fd = open("tm", O_RDONLY);
    struct timespec fts[2] = {{1100000000, 0}, {1100000001, 0}};
    EXPECT_OK("futimens: on fd", futimens(fd, fts));
    EXPECT("futimens: stat shows them", fstat(fd, &st) == 0 && st.st_atim.tv_sec == 1100000000 && st.st_mtim.tv_sec == 1100000001);
    close(fd);
    struct timeval tv[2] = {{900000000, 250000}, {900000001, 750000}};
    EXPECT_OK("utimes: microseconds", utimes("tm", tv));
    EXPECT("utimes: stat shows microseconds as nanoseconds",
           stat("tm", &st) == 0 && st.st_atim.tv_sec == 900000000 && st.st_atim.tv_nsec == 250000000 &&
               st.st_mtim.tv_sec == 900000001 && st.st_mtim.tv_nsec == 750000000);
    symlink("tm", "tm-link");
    struct stat before_target;
    stat("tm", &before_target);
    EXPECT_OK("utimensat: AT_SYMLINK_NOFOLLOW on a symlink", utimensat(AT_FDCWD, "tm-link", ts, AT_SYMLINK_NOFOLLOW));
    EXPECT("utimensat: link changed, target not",
           lstat("tm-link", &st) == 0 && st.st_mtim.tv_sec == 1200000000 && stat("tm", &st) == 0 &&
               st.st_mtim.tv_sec == before_target.st_mtim.tv_sec);

    // Writing updates mtime; reading does not change it.
    utimensat(AT_FDCWD, "tm", ts, 0);
    fd = open("tm", O_WRONLY);
    write(fd, "w", 1);
    close(fd);
    EXPECT("times: write updates mtime", stat("tm", &st) == 0 && st.st_mtim.tv_sec >= before - 2);
    utimensat(AT_FDCWD, "realdir", ts, 0);
    write_file("realdir/new-entry", "");
    EXPECT("times: creating an entry updates the directory mtime",
           stat("realdir", &st) == 0 && st.st_mtim.tv_sec >= before - 2);
}

// ---------------------------------------------------------------- modes, owners, access

static void test_modes(void) {
    write_file("md", "m");
    struct stat st;
    EXPECT_OK("chmod: 0640", chmod("md", 0640));
    EXPECT_EQ("chmod: stat shows 0640", mode_of("md") & 07777, 0640);
    EXPECT("chmod: still a regular file", S_ISREG(mode_of("md")));
    int fd = open("md", O_RDONLY);
    EXPECT_OK("fchmod: 0600", fchmod(fd, 0600));
    EXPECT("fchmod: fstat shows 0600", fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600);
    close(fd);
    EXPECT_OK("fchmodat: 0444", fchmodat(basefd, "md", 0444, 0));
    EXPECT_EQ("fchmodat: stat shows 0444", mode_of("md") & 07777, 0444);
    symlink("md", "md-link");
    EXPECT_OK("chmod: through a symlink", chmod("md-link", 0604));
    EXPECT("chmod: changes the target, not the link", (mode_of("md") & 07777) == 0604 && S_ISLNK(mode_of("md-link")));
    mkdir("sticky", 0755);
    EXPECT_OK("chmod: directory 01777", chmod("sticky", 01777));
    EXPECT_EQ("chmod: sticky bit kept", mode_of("sticky") & 07777, 01777);
    EXPECT_OK("chmod: extra bits ignored", chmod("md", 0100644 | 0));
    EXPECT("chmod: type bits unchanged", S_ISREG(mode_of("md")) && (mode_of("md") & 07777) == 0644);
    EXPECT_ERR("chmod: missing ENOENT", chmod("nope", 0644), ENOENT);

    uid_t uid = geteuid();
    gid_t gid = getegid();
    EXPECT_OK("chown: to the current owner", chown("md", uid, gid));
    EXPECT_OK("chown: -1 -1 is a no-op", chown("md", (uid_t)-1, (gid_t)-1));
    EXPECT("chown: owner unchanged", stat("md", &st) == 0 && st.st_uid == uid && st.st_gid == gid);
    if (uid == 0) {
        EXPECT_OK("chown: root gives the file away", chown("md", 1234, 5678));
        EXPECT("chown: stat shows the new owner", stat("md", &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678);
        chmod("md", 04755);
        EXPECT_OK("chown: again with setuid set", chown("md", 1235, (gid_t)-1));
        EXPECT_EQ("chown: clears the setuid bit", mode_of("md") & 07777, 0755);
        symlink("md", "md-link2");
        EXPECT_OK("lchown: symlink itself", lchown("md-link2", 4321, 8765));
        EXPECT("lchown: link owner changed, target not",
               lstat("md-link2", &st) == 0 && st.st_uid == 4321 && stat("md", &st) == 0 && st.st_uid == 1235);
        fd = open("md", O_RDONLY);
        EXPECT_OK("fchown: on fd", fchown(fd, 0, 0));
        EXPECT("fchown: fstat shows it", fstat(fd, &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
        close(fd);
        EXPECT_OK("fchownat: AT_SYMLINK_NOFOLLOW", fchownat(basefd, "md-link2", 0, 0, AT_SYMLINK_NOFOLLOW));
        chown("md", uid, gid);
    } else {
        EXPECT_ERR("chown: non-root cannot give away EPERM", chown("md", 1234, 5678), EPERM);
    }
    EXPECT_ERR("chown: missing ENOENT", chown("nope", uid, gid), ENOENT);
}

static void test_access(void) {
    int root = geteuid() == 0;
    write_file("acc", "a");
    EXPECT_OK("access: F_OK on existing", access("acc", F_OK));
    EXPECT_ERR("access: F_OK on missing ENOENT", access("nope", F_OK), ENOENT);
    EXPECT_ERR("access: bad mode EINVAL", access("acc", 0100), EINVAL);
    chmod("acc", 0644);
    EXPECT_OK("access: R_OK|W_OK on 0644", access("acc", R_OK | W_OK));
    EXPECT_ERR("access: X_OK on 0644 EACCES", access("acc", X_OK), EACCES);
    chmod("acc", 0744);
    EXPECT_OK("access: X_OK on 0744", access("acc", X_OK));
    chmod("acc", 0001);
    if (root) {
        EXPECT_OK("access: root X_OK on 0001 (any x bit)", access("acc", X_OK));
    } else {
        EXPECT_ERR("access: owner X_OK on 0001 EACCES (owner bits rule)", access("acc", X_OK), EACCES);
    }
    chmod("acc", 0444);
    if (root) {
        EXPECT_OK("access: root W_OK on 0444", access("acc", W_OK));
    } else {
        EXPECT_ERR("access: W_OK on 0444 EACCES", access("acc", W_OK), EACCES);
    }
    chmod("acc", 0000);
    if (root) {
        EXPECT_OK("access: root R_OK|W_OK on 0000", access("acc", R_OK | W_OK));
        EXPECT_ERR("access: root X_OK on 0000 EACCES", access("acc", X_OK), EACCES);
        int fd = open("acc", O_RDWR);
        EXPECT("access: root opens 0000 file read-write", fd >= 0);
        close(fd);
    } else {
        EXPECT_ERR("access: R_OK on 0000 EACCES", access("acc", R_OK), EACCES);
        EXPECT_ERR("access: open 0000 file EACCES", open("acc", O_RDONLY), EACCES);
    }
    mkdir("accdir", 0000);
    if (root) {
        EXPECT_OK("access: root X_OK on directory 0000", access("accdir", X_OK));
    } else {
        EXPECT_ERR("access: X_OK on directory 0000 EACCES", access("accdir", X_OK), EACCES);
    }
    chmod("accdir", 0755);
    chmod("acc", 0755);
    EXPECT_OK("faccessat: via dirfd", faccessat(basefd, "acc", R_OK | X_OK, 0));
    EXPECT_OK("faccessat: AT_EACCESS", faccessat(AT_FDCWD, "acc", R_OK, AT_EACCESS));
    EXPECT_OK("faccessat2: AT_SYMLINK_NOFOLLOW on a dangling link",
              syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
    EXPECT_ERR("faccessat2: follows by default ENOENT",
               syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, 0), ENOENT);
    EXPECT_ERR("faccessat2: bad flag EINVAL", syscall(SYS_faccessat2, AT_FDCWD, "acc", F_OK, 0x1), EINVAL);
    EXPECT_ERR("access: path through a file ENOTDIR", access("acc/x", F_OK), ENOTDIR);
}

// ---------------------------------------------------------------- cwd, "." and ".."

static void test_cwd(void) {
    char cwd[4096], want[4200];
    mkdir("cw", 0755);
    mkdir("cw/sub", 0755);
    write_file("cw/sub/here", "here");
    EXPECT("getcwd: is the working directory", getcwd(cwd, sizeof cwd) && strcmp(cwd, base) == 0);
    EXPECT_OK("chdir: relative", chdir("cw/sub"));
    snprintf(want, sizeof want, "%s/cw/sub", base);
    EXPECT("getcwd: after chdir", getcwd(cwd, sizeof cwd) && strcmp(cwd, want) == 0);
    EXPECT("chdir: relative open uses the new cwd", file_is("here", "here"));
    EXPECT("chdir: ./here and ../sub/here", file_is("./here", "here") && file_is("../sub/here", "here"));
    EXPECT_OK("chdir: ..", chdir(".."));
    snprintf(want, sizeof want, "%s/cw", base);
    EXPECT("getcwd: after chdir ..", getcwd(cwd, sizeof cwd) && strcmp(cwd, want) == 0);
    EXPECT_OK("fchdir: back to the base", fchdir(basefd));
    EXPECT("getcwd: after fchdir", getcwd(cwd, sizeof cwd) && strcmp(cwd, base) == 0);
    EXPECT_ERR("chdir: to a file ENOTDIR", chdir("ofile"), ENOTDIR);
    EXPECT_ERR("chdir: missing ENOENT", chdir("nope"), ENOENT);
    int fd = open("ofile", O_RDONLY);
    EXPECT_ERR("fchdir: to a file ENOTDIR", fchdir(fd), ENOTDIR);
    close(fd);
    EXPECT_ERR("getcwd: buffer too small ERANGE", syscall(SYS_getcwd, cwd, 2), ERANGE);
    EXPECT_EQ("getcwd: syscall returns length including NUL", syscall(SYS_getcwd, cwd, sizeof cwd), (long)strlen(base) + 1);

    EXPECT("dots: sub/.. is the directory itself", same_inode("cw/sub/..", "cw"));
    EXPECT("dots: sub/./. is sub", same_inode("cw/sub/./.", "cw/sub"));
    EXPECT("dots: . is the base", same_inode(".", base));
    EXPECT("dots: repeated slashes", file_is("cw//sub///here", "here"));
    EXPECT("dots: /.. is /", same_inode("/..", "/"));
    EXPECT("dots: /../../tmp is /tmp", same_inode("/../../tmp", "/tmp"));
    EXPECT_OK("dots: chdir /", chdir("/"));
    EXPECT_OK("dots: chdir .. at /", chdir(".."));
    EXPECT("dots: .. at / stays at /", getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0);
    EXPECT("dots: relative .. at / is /", same_inode("..", "/") && same_inode("../..", "."));
    fchdir(basefd);

    // A removed working directory.
    mkdir("gone", 0755);
    chdir("gone");
    char path[4200];
    snprintf(path, sizeof path, "%s/gone", base);
    EXPECT_OK("removed-cwd: rmdir the cwd by full path", rmdir(path));
    EXPECT_ERR("removed-cwd: getcwd ENOENT", syscall(SYS_getcwd, cwd, sizeof cwd), ENOENT);
    struct stat st;
    EXPECT("removed-cwd: stat . shows nlink 0", stat(".", &st) == 0 && st.st_nlink == 0);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    char buf[256];
    EXPECT_ERR("removed-cwd: getdents64 of the removed directory ENOENT",
               syscall(SYS_getdents64, dfd, buf, sizeof buf), ENOENT);
    close(dfd);
    EXPECT_ERR("removed-cwd: creating a file ENOENT", open("x", O_WRONLY | O_CREAT, 0644), ENOENT);
    EXPECT_ERR("removed-cwd: mkdir ENOENT", mkdir("d", 0755), ENOENT);
    EXPECT_ERR("removed-cwd: symlink ENOENT", symlink("x", "l"), ENOENT);
    EXPECT_ERR("removed-cwd: mkfifo ENOENT", mkfifo("p", 0644), ENOENT);
    fchdir(basefd);
}

// ---------------------------------------------------------------- FIFOs and mknod

static void test_mknod(void) {
    struct stat st;
    EXPECT_OK("mknod: FIFO", mknod("fifo", S_IFIFO | 0644, 0));
    EXPECT("mknod: stat S_ISFIFO", stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0644);
    EXPECT_ERR("mknod: existing EEXIST", mknod("fifo", S_IFIFO | 0644, 0), EEXIST);
    EXPECT_OK("mkfifo: second FIFO", mkfifo("fifo2", 0600));
    EXPECT("mkfifo: S_ISFIFO", S_ISFIFO(mode_of("fifo2")));
    EXPECT_OK("mknodat: regular file", mknodat(basefd, "regnod", S_IFREG | 0640, 0));
    EXPECT("mknodat: regular, empty, mode 0640",
           stat("regnod", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 07777) == 0640);
    EXPECT_OK("mknod: mode 0 means regular file", mknod("regnod0", 0644, 0));
    EXPECT("mknod: mode 0 regular", S_ISREG(mode_of("regnod0")));
    EXPECT_ERR("mknod: directory type EPERM", mknod("dirnod", S_IFDIR | 0755, 0), EPERM);
    EXPECT_ERR("fifo: O_WRONLY|O_NONBLOCK without a reader ENXIO", open("fifo", O_WRONLY | O_NONBLOCK), ENXIO);
    int r = open("fifo", O_RDONLY | O_NONBLOCK);
    EXPECT("fifo: O_RDONLY|O_NONBLOCK opens", r >= 0);
    char buf[8];
    EXPECT_EQ("fifo: read with no writer ever returns 0", read(r, buf, sizeof buf), 0);
    int w = open("fifo", O_WRONLY | O_NONBLOCK);
    EXPECT("fifo: O_WRONLY|O_NONBLOCK with a reader opens", w >= 0);
    EXPECT_ERR("fifo: empty with a writer EAGAIN", read(r, buf, sizeof buf), EAGAIN);
    EXPECT_EQ("fifo: write", write(w, "ping", 4), 4);
    EXPECT("fifo: read back", read(r, buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0);
    EXPECT("fifo: size stays 0", stat("fifo", &st) == 0 && st.st_size == 0);
    EXPECT_ERR("fifo: lseek ESPIPE", lseek(r, 0, SEEK_SET), ESPIPE);
    close(w);
    EXPECT_EQ("fifo: EOF after the writer closes", read(r, buf, sizeof buf), 0);
    close(r);
    int rw = open("fifo", O_RDWR);
    EXPECT("fifo: O_RDWR open does not block", rw >= 0 && write(rw, "x", 1) == 1 && read(rw, buf, 1) == 1);
    close(rw);
}

// ---------------------------------------------------------------- stat family

static void test_statx(void) {
    write_file("sx", "statx data");
    struct stat st;
    struct statx sx;
    stat("sx", &st);
    EXPECT_OK("statx: basic stats", statx(AT_FDCWD, "sx", 0, STATX_BASIC_STATS, &sx));
    EXPECT("statx: mask has the basic stats", (sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS);
    EXPECT("statx: mode/nlink/uid/gid agree with stat",
           sx.stx_mode == st.st_mode && sx.stx_nlink == st.st_nlink && sx.stx_uid == st.st_uid && sx.stx_gid == st.st_gid);
    EXPECT("statx: ino/size/blocks agree with stat",
           sx.stx_ino == st.st_ino && (off_t)sx.stx_size == st.st_size && (blkcnt_t)sx.stx_blocks == st.st_blocks);
    EXPECT("statx: device agrees with stat",
           (dev_t)makedev(sx.stx_dev_major, sx.stx_dev_minor) == st.st_dev);
    EXPECT("statx: times agree with stat",
           sx.stx_mtime.tv_sec == st.st_mtim.tv_sec && sx.stx_mtime.tv_nsec == (uint32_t)st.st_mtim.tv_nsec &&
               sx.stx_atime.tv_sec == st.st_atim.tv_sec && sx.stx_ctime.tv_sec == st.st_ctim.tv_sec);
    EXPECT("statx: blksize agrees with stat", (blksize_t)sx.stx_blksize == st.st_blksize);
    EXPECT_OK("statx: AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT mask 0xfff (ls -la)",
              statx(AT_FDCWD, "sl", AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0xfff, &sx));
    EXPECT("statx: symlink not followed", S_ISLNK(sx.stx_mode) && sx.stx_size == 11);
    int fd = open("sx", O_RDONLY);
    EXPECT("statx: AT_EMPTY_PATH on an fd",
           statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0 && sx.stx_ino == st.st_ino);
    close(fd);
    EXPECT_ERR("statx: STATX__RESERVED EINVAL", statx(AT_FDCWD, "sx", 0, 0x80000000U, &sx), EINVAL);
    EXPECT_ERR("statx: bad flag EINVAL", statx(AT_FDCWD, "sx", 0x1, STATX_BASIC_STATS, &sx), EINVAL);
    EXPECT_ERR("statx: missing ENOENT", statx(AT_FDCWD, "nope", 0, STATX_BASIC_STATS, &sx), ENOENT);
    EXPECT_ERR("stat: empty path ENOENT", stat("", &st), ENOENT);
    EXPECT_ERR("fstatat: empty path without AT_EMPTY_PATH ENOENT", fstatat(basefd, "", &st, 0), ENOENT);
    EXPECT_ERR("fstat: bad fd EBADF", fstat(9999, &st), EBADF);
    EXPECT("stat: directory", stat(".", &st) == 0 && S_ISDIR(st.st_mode));
    EXPECT("stat: st_blksize positive", stat("sx", &st) == 0 && st.st_blksize > 0);

    struct statfs a, b;
    EXPECT_OK("statfs: on the directory", statfs(".", &a));
    fd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_OK("fstatfs: on the directory", fstatfs(fd, &b));
    close(fd);
    EXPECT("statfs: agrees with fstatfs", a.f_type == b.f_type && a.f_bsize == b.f_bsize && a.f_namelen == b.f_namelen);
    EXPECT("statfs: sane", a.f_bsize > 0 && a.f_namelen >= 255 && a.f_blocks >= a.f_bfree);
    EXPECT_ERR("statfs: missing ENOENT", statfs("nope", &a), ENOENT);
}

// ---------------------------------------------------------------- chroot (last: it moves "/")

static void test_chroot(void) {
    mkdir("cr", 0755);
    mkdir("cr/sub", 0755);
    write_file("cr/inside", "jailed");
    symlink("/inside", "cr/sub/abs");
    EXPECT_ERR("chroot: to a file ENOTDIR", chroot("ofile"), ENOTDIR);
    EXPECT_ERR("chroot: missing ENOENT", chroot("nope"), ENOENT);
    if (geteuid() != 0) {
        EXPECT_ERR("chroot: unprivileged EPERM", chroot("cr"), EPERM);
        return;
    }
    int oldroot = open("/", O_PATH | O_DIRECTORY);
    char cwd[4096];
    EXPECT_OK("chroot: into a subdirectory", chroot("cr"));
    EXPECT("chroot: absolute paths resolve in the new root", file_is("/inside", "jailed"));
    EXPECT("chroot: absolute symlinks resolve in the new root", file_is("/sub/abs", "jailed"));
    EXPECT("chroot: /.. is the new root", file_is("/../../inside", "jailed"));
    EXPECT_OK("chroot: chdir /", chdir("/"));
    EXPECT("chroot: getcwd is /", getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0);
    EXPECT("chroot: .. at the new root stays", chdir("..") == 0 && file_is("inside", "jailed"));
    EXPECT_ERR("chroot: the old tree is out of reach", access("/cr", F_OK), ENOENT);
    // Back out through the descriptor kept from before (root may do this).
    EXPECT("chroot: restore through a saved root fd", fchdir(oldroot) == 0 && chroot(".") == 0 && fchdir(basefd) == 0);
    EXPECT("chroot: restored view", getcwd(cwd, sizeof cwd) && strcmp(cwd, base) == 0 && file_is("cr/inside", "jailed"));
    close(oldroot);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: files DIR\n");
        return 2;
    }
    umask(022);
    if (make_workdir(argv[1], "files", base) != 0) return 2;
    basefd = open(base, O_PATH | O_DIRECTORY);

    test_append();
    test_offsets();
    test_vectored();
    test_excl_trunc();
    test_open_dirs();
    test_open_file_lifetime();
    test_sparse();
    test_getdents();
    test_mkdir_rmdir();
    test_symlinks();
    test_links();
    test_rename();
    test_openat2();
    test_tmpfile();
    test_truncate();
    test_times();
    test_modes();
    test_access();
    test_cwd();
    test_mknod();
    test_statx();
    test_chroot();

    if (chdir("/") != 0) perror("chdir /");
    rm_rf_at(AT_FDCWD, base);
    struct stat st;
    if (lstat(base, &st) == 0) {
        printf("check cleanup removes the work directory: FAILED\n");
        failures++;
    }
    return finish_count("files");
}
