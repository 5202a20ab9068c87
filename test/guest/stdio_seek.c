// stdio_seek: what positional I/O and F_GETFL say about the inherited stdout (a pipe or a
// regular file, chosen by whoever runs it) and about a pipe of its own. Linux checks a
// negative offset first (EINVAL), then the fd (EBADF), then whether the file can do
// positional I/O at all (ESPIPE for pipes, ttys and sockets), and only then the access
// mode. Results go to stderr, one line each; stdout gets one line of data, so a regular
// file shows where it was written. Output is identical natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        fprintf(stderr, "%s = -1 %s\n", what, strerrorname_np(errno));
    else
        fprintf(stderr, "%s = %ld\n", what, r);
}

static void flags(const char *what, int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        show(what, fl);
    else
        fprintf(stderr, "%s = 0%o\n", what, fl);
}

int main(void) {
    char buf[8] = {0};
    struct iovec empty = {buf, 0}, one = {buf, 1};

    // Data first, so a regular-file stdout has something at offset 0.
    if (write(1, "data\n", 5) != 5) return 1;

    flags("F_GETFL(1)", 1);
    show("lseek(1, 0, SEEK_CUR) >= 0", lseek(1, 0, SEEK_CUR) >= 0 ? 1 : -1);
    show("pwrite64(1, \"\", 0, 0)", pwrite(1, "", 0, 0));
    show("pread64(1, buf, 0, 0)", pread(1, buf, 0, 0));
    show("pread64(1, buf, 1, 0)", pread(1, buf, 1, 0));
    show("pwrite64(1, \"\", 0, -1)", pwrite(1, "", 0, -1));
    show("pread64(1, buf, 1, -1)", pread(1, buf, 1, -1));
    show("pwritev(1, {0}, 1, 0)", pwritev(1, &empty, 1, 0));
    show("preadv(1, {1}, 1, 0)", preadv(1, &one, 1, 0));
    show("preadv(1, {1}, 1, -1)", preadv(1, &one, 1, -1));
    show("pread64(99, buf, 1, 0)", pread(99, buf, 1, 0));
    show("pread64(99, buf, 1, -1)", pread(99, buf, 1, -1));

    // A pipe the program makes itself behaves the same way.
    int p[2];
    if (pipe(p) != 0) return 1;
    flags("F_GETFL(pipe read end)", p[0]);
    flags("F_GETFL(pipe write end)", p[1]);
    show("pwrite64(pipe write end, \"\", 0, 0)", pwrite(p[1], "", 0, 0));
    show("pread64(pipe write end, buf, 1, 0)", pread(p[1], buf, 1, 0));
    show("pread64(pipe read end, buf, 0, 0)", pread(p[0], buf, 0, 0));
    show("pwrite64(pipe read end, \"x\", 1, 0)", pwrite(p[0], "x", 1, 0));

    // So do the other files made without a path (non-blocking, so a wrong answer cannot hang).
    struct { const char *name; int fd; } anon[] = {
        {"eventfd", eventfd(0, EFD_NONBLOCK)},
        {"timerfd", timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)},
        {"inotify", inotify_init1(IN_NONBLOCK)},
        {"epoll", epoll_create1(0)},
    };
    for (unsigned i = 0; i < sizeof anon / sizeof anon[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "F_GETFL(%s)", anon[i].name);
        flags(what, anon[i].fd);
        snprintf(what, sizeof what, "pread64(%s, buf, 8, 0)", anon[i].name);
        show(what, pread(anon[i].fd, buf, 8, 0));
    }
    fprintf(stderr, "stdio_seek done\n");
    return 0;
}
