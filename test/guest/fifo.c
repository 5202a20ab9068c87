// fifo: named pipes as fifo(7) describes them, plus the scheduling and process calls that
// name other processes (sched_{get,set}affinity, ioprio_{get,set}) and clone(CLONE_PIDFD).
//
// FIFO checks run on a FIFO made in /tmp and one made in /dev/shm (and, with an argument, on
// a FIFO that already exists at that path: the test makes one on the host, which the sandbox
// sees in its lower layer). A blocking open waits for the other end: reader first and writer
// first, between this process and a forked child; O_NONBLOCK opens a read end at once and
// fails a write end without readers (ENXIO); O_RDWR never waits; readers see EOF once the
// last writer is gone; unread data is dropped when the last opener closes; an open waiting
// for a partner is interrupted by a signal (EINTR without SA_RESTART, restarted with it).
//
// Usage: fifo [EXISTING_FIFO]. Must start as root (a child drops to uid 65534 for EPERM
// checks). Prints one line per check and "fifo ok" last; the output is the same natively
// and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define NOBODY 65534
#define PARTNER_DELAY_MS 200

// Like check() in check.h, with a printf-style name.
static void checkf(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void checkf(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("check ");
    vprintf(fmt, ap);
    va_end(ap);
    printf(": %s\n", ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// Reads until EOF (or an error) into buf; returns the byte count or -1.
static ssize_t read_all(int fd, char *buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0) return -1;
        if (n == 0) break;
        got += n;
    }
    return got;
}

static int child_status_ok(pid_t child) {
    int st;
    return waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// The checks every FIFO must pass, wherever it lives.
static void fifo_checks(const char *path, const char *where) {
    char buf[64];

    // Reader first: the parent's read open waits until the child opens for writing.
    pid_t child = fork();
    if (child == 0) {
        sleep_ms(PARTNER_DELAY_MS);
        int w = open(path, O_WRONLY);
        _exit(w >= 0 && write(w, "hello", 5) == 5 ? 0 : 1);
    }
    long start = now_ms();
    int r = open(path, O_RDONLY);
    long waited = now_ms() - start;
    checkf(r >= 0 && waited >= PARTNER_DELAY_MS / 2, "%s: O_RDONLY open waits for a writer", where);
    ssize_t n = r >= 0 ? read_all(r, buf, sizeof buf) : -1;
    checkf(n == 5 && memcmp(buf, "hello", 5) == 0, "%s: the reader gets the writer's data, then EOF", where);
    checkf(child_status_ok(child), "%s: the writer child wrote", where);
    if (r >= 0) close(r);

    // Writer first: the parent's write open waits until the child opens for reading.
    child = fork();
    if (child == 0) {
        sleep_ms(PARTNER_DELAY_MS);
        int rd = open(path, O_RDONLY);
        char got[16];
        ssize_t k = rd >= 0 ? read_all(rd, got, sizeof got) : -1;
        _exit(k == 5 && memcmp(got, "world", 5) == 0 ? 0 : 1);
    }
    start = now_ms();
    int w = open(path, O_WRONLY);
    waited = now_ms() - start;
    checkf(w >= 0 && waited >= PARTNER_DELAY_MS / 2, "%s: O_WRONLY open waits for a reader", where);
    checkf(w >= 0 && write(w, "world", 5) == 5, "%s: the writer writes to the waiting reader", where);
    if (w >= 0) close(w);
    checkf(child_status_ok(child), "%s: the reader child got the data and EOF", where);

    // O_NONBLOCK: a write end without readers fails; a read end opens at once.
    errno = 0;
    w = open(path, O_WRONLY | O_NONBLOCK);
    checkf(w == -1 && errno == ENXIO, "%s: O_WRONLY|O_NONBLOCK without a reader is ENXIO", where);
    if (w >= 0) close(w);
    r = open(path, O_RDONLY | O_NONBLOCK);
    checkf(r >= 0, "%s: O_RDONLY|O_NONBLOCK opens without a writer", where);
    checkf(read(r, buf, sizeof buf) == 0, "%s: reading with no writer yet gives 0", where);
    struct pollfd pfd = {.fd = r, .events = POLLIN};
    checkf(poll(&pfd, 1, 0) == 0, "%s: no POLLHUP before any writer came", where);
    w = open(path, O_WRONLY | O_NONBLOCK);
    checkf(w >= 0, "%s: O_WRONLY|O_NONBLOCK with a reader opens", where);
    errno = 0;
    checkf(read(r, buf, sizeof buf) == -1 && errno == EAGAIN, "%s: empty with a writer: EAGAIN", where);
    int w2 = open(path, O_WRONLY | O_NONBLOCK);
    checkf(write(w, "ab", 2) == 2 && read(r, buf, sizeof buf) == 2, "%s: data passes", where);
    close(w);
    errno = 0;
    checkf(read(r, buf, sizeof buf) == -1 && errno == EAGAIN, "%s: one writer left: still EAGAIN", where);
    close(w2);
    checkf(read(r, buf, sizeof buf) == 0, "%s: EOF after the last writer closed", where);
    pfd.revents = 0;
    checkf(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP), "%s: POLLHUP once a writer came and went", where);
    int r2 = open(path, O_RDONLY | O_NONBLOCK);
    struct pollfd pfd2 = {.fd = r2, .events = POLLIN};
    checkf(poll(&pfd2, 1, 0) == 0, "%s: a reader opened after that sees no POLLHUP", where);
    close(r2);

    // Unread data goes when the last opener closes.
    w = open(path, O_WRONLY | O_NONBLOCK);
    checkf(write(w, "lost", 4) == 4, "%s: write with a reader open", where);
    close(w);
    close(r);
    r = open(path, O_RDONLY | O_NONBLOCK);
    checkf(read(r, buf, sizeof buf) == 0, "%s: data is dropped once every end closed", where);
    close(r);

    // O_RDWR never waits, and is a reader for O_WRONLY|O_NONBLOCK opens.
    int rw = open(path, O_RDWR);
    checkf(rw >= 0, "%s: O_RDWR opens without waiting", where);
    checkf(write(rw, "xy", 2) == 2 && read(rw, buf, sizeof buf) == 2 && memcmp(buf, "xy", 2) == 0,
          "%s: O_RDWR reads back its own write", where);
    w = open(path, O_WRONLY | O_NONBLOCK);
    checkf(w >= 0, "%s: O_RDWR counts as a reader", where);
    if (w >= 0) close(w);
    r = open(path, O_RDONLY);
    checkf(r >= 0, "%s: O_RDWR counts as a writer (O_RDONLY does not wait)", where);
    if (r >= 0) close(r);
    close(rw);

    struct stat st;
    checkf(stat(path, &st) == 0 && S_ISFIFO(st.st_mode), "%s: stat says FIFO", where);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

// SIGALRM every ms milliseconds until disarmed (repeating, so that a signal that came before
// the call blocked cannot leave it waiting forever).
static void arm_alarm(long ms, int flags) {
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct timeval every = {ms / 1000, (ms % 1000) * 1000};
    struct itimerval it = {.it_interval = every, .it_value = every};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_alarm(void) {
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
}

// A blocked open is interruptible: EINTR after a handler without SA_RESTART (and the waiting
// end no longer counts), restarted after one with SA_RESTART.
static void interrupt_checks(const char *path) {
    char buf[8];
    alarms = 0;
    arm_alarm(100, 0);
    errno = 0;
    int r = open(path, O_RDONLY);
    int open_errno = errno;
    disarm_alarm();
    checkf(r == -1 && open_errno == EINTR && alarms >= 1, "a read open waiting for a writer: EINTR after a handler");
    if (r >= 0) close(r);
    errno = 0;
    int w = open(path, O_WRONLY | O_NONBLOCK);
    checkf(w == -1 && errno == ENXIO, "the interrupted reader does not count as a reader");
    if (w >= 0) close(w);

    alarms = 0;
    arm_alarm(100, 0);
    errno = 0;
    w = open(path, O_WRONLY);
    open_errno = errno;
    disarm_alarm();
    checkf(w == -1 && open_errno == EINTR && alarms >= 1, "a write open waiting for a reader: EINTR after a handler");
    if (w >= 0) close(w);
    r = open(path, O_RDONLY | O_NONBLOCK);
    checkf(r >= 0 && read(r, buf, sizeof buf) == 0, "the interrupted writer does not count as a writer");
    if (r >= 0) close(r);

    pid_t child = fork();
    if (child == 0) {
        sleep_ms(3 * PARTNER_DELAY_MS / 2);
        int cw = open(path, O_WRONLY);
        _exit(cw >= 0 && write(cw, "r", 1) == 1 ? 0 : 1);
    }
    alarms = 0;
    arm_alarm(100, SA_RESTART);
    r = open(path, O_RDONLY);
    disarm_alarm();
    checkf(r >= 0 && alarms >= 1, "with SA_RESTART the open restarts after the handler");
    checkf(r >= 0 && read_all(r, buf, sizeof buf) == 1 && buf[0] == 'r', "the restarted open pairs with the writer");
    if (r >= 0) close(r);
    checkf(child_status_ok(child), "the late writer wrote");
    signal(SIGALRM, SIG_DFL);
}

static long raw_getaffinity(pid_t pid, unsigned long *mask) {
    *mask = 0;
    return syscall(SYS_sched_getaffinity, pid, sizeof *mask, mask);
}

static void affinity_checks(void) {
    unsigned long self = 0, other = 0;
    checkf(raw_getaffinity(0, &self) == sizeof self && self != 0, "sched_getaffinity(0)");
    checkf(raw_getaffinity(getpid(), &other) == sizeof other && other == self, "sched_getaffinity(own pid)");

    int sync[2];
    pipe(sync);
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(sync[1]);
        read(sync[0], &c, 1);
        unsigned long mine = 0;
        _exit(raw_getaffinity(0, &mine) == sizeof mine ? (int)(mine & 0xff) : 255);
    }
    close(sync[0]);
    checkf(raw_getaffinity(child, &other) == sizeof other && other == self, "sched_getaffinity(child pid)");
    checkf(raw_getaffinity(getppid(), &other) == sizeof other, "sched_getaffinity(parent pid)");
    // Narrow the child to its lowest CPU; it then reports that mask itself.
    unsigned long lowest = self & -self;
    checkf(syscall(SYS_sched_setaffinity, child, sizeof lowest, &lowest) == 0, "sched_setaffinity(child pid)");
    checkf(raw_getaffinity(child, &other) == sizeof other && other == lowest, "the child's mask changed");
    write(sync[1], "x", 1);
    close(sync[1]);
    int st;
    waitpid(child, &st, 0);
    checkf(WIFEXITED(st) && (unsigned long)WEXITSTATUS(st) == (lowest & 0xff), "the child sees its new mask");
    errno = 0;
    checkf(raw_getaffinity(child, &other) == -1 && errno == ESRCH, "sched_getaffinity of a reaped pid: ESRCH");
    errno = 0;
    checkf(syscall(SYS_sched_setaffinity, child, sizeof self, &self) == -1 && errno == ESRCH,
          "sched_setaffinity of a reaped pid: ESRCH");
    unsigned long none = 0;
    errno = 0;
    checkf(syscall(SYS_sched_setaffinity, 0, sizeof none, &none) == -1 && errno == EINVAL, "an empty mask: EINVAL");

    // Another uid may read the mask but not change it.
    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        if (setresuid(NOBODY, NOBODY, NOBODY) != 0) _exit(10);
        unsigned long m = 0;
        if (raw_getaffinity(parent, &m) != sizeof m) _exit(11);
        errno = 0;
        if (syscall(SYS_sched_setaffinity, parent, sizeof m, &m) != -1 || errno != EPERM) _exit(12);
        if (syscall(SYS_sched_setaffinity, 0, sizeof m, &m) != 0) _exit(13);
        _exit(0);
    }
    checkf(child_status_ok(child), "another uid: getaffinity works, setaffinity of root's process is EPERM");
}

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_WHO_PGRP 2
#define IOPRIO_WHO_USER 3
#define IOPRIO_VALUE(class, data) (((class) << 13) | (data))

static long ioprio_get(int which, int who) { return syscall(SYS_ioprio_get, which, who); }
static long ioprio_set(int which, int who, int value) { return syscall(SYS_ioprio_set, which, who, value); }

static void ioprio_checks(void) {
    checkf(ioprio_get(IOPRIO_WHO_PROCESS, 0) == 0, "ioprio_get of a fresh process: 0 (class none)");
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(2, 5)) == 0, "ioprio_set best-effort 5");
    checkf(ioprio_get(IOPRIO_WHO_PROCESS, 0) == IOPRIO_VALUE(2, 5), "ioprio_get returns it");
    checkf(ioprio_get(IOPRIO_WHO_PROCESS, getpid()) == IOPRIO_VALUE(2, 5), "ioprio_get by pid");

    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    checkf(ioprio_get(IOPRIO_WHO_PROCESS, child) == IOPRIO_VALUE(2, 5), "a child inherits the I/O priority");
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, child, IOPRIO_VALUE(3, 0)) == 0 &&
              ioprio_get(IOPRIO_WHO_PROCESS, child) == IOPRIO_VALUE(3, 0) &&
              ioprio_get(IOPRIO_WHO_PROCESS, 0) == IOPRIO_VALUE(2, 5),
          "ioprio_set of the child changes only the child");
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, child, IOPRIO_VALUE(1, 2)) == 0 &&
              ioprio_get(IOPRIO_WHO_PROCESS, child) == IOPRIO_VALUE(1, 2),
          "root may set the real-time class");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    errno = 0;
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(0, 3)) == -1 && errno == EINVAL, "class none with a level: EINVAL");
    errno = 0;
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(4, 0)) == -1 && errno == EINVAL, "an unknown class: EINVAL");
    errno = 0;
    checkf(ioprio_set(9, 0, IOPRIO_VALUE(2, 0)) == -1 && errno == EINVAL, "ioprio_set with a bad which: EINVAL");
    errno = 0;
    checkf(ioprio_get(9, 0) == -1 && errno == EINVAL, "ioprio_get with a bad which: EINVAL");
    errno = 0;
    checkf(ioprio_get(IOPRIO_WHO_PROCESS, child) == -1 && errno == ESRCH, "ioprio_get of a reaped pid: ESRCH");
    errno = 0;
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, child, IOPRIO_VALUE(2, 1)) == -1 && errno == ESRCH, "ioprio_set of a reaped pid: ESRCH");

    // A process group: the best of its members, where class none follows the nice value.
    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        int ok = ioprio_set(IOPRIO_WHO_PROCESS, 0, 0) == 0 && ioprio_get(IOPRIO_WHO_PROCESS, 0) == 0;
        int nice = getpriority(PRIO_PROCESS, 0);
        ok = ok && ioprio_get(IOPRIO_WHO_PGRP, 0) == IOPRIO_VALUE(2, (nice + 20) / 5);
        ok = ok && ioprio_set(IOPRIO_WHO_PGRP, 0, IOPRIO_VALUE(2, 6)) == 0 && ioprio_get(IOPRIO_WHO_PROCESS, 0) == IOPRIO_VALUE(2, 6);
        ok = ok && ioprio_get(IOPRIO_WHO_PGRP, getpid()) == IOPRIO_VALUE(2, 6);
        ok = ok && ioprio_get(IOPRIO_WHO_USER, 0) >= 0;
        _exit(ok ? 0 : 1);
    }
    checkf(child_status_ok(child), "IOPRIO_WHO_PGRP get and set");
    errno = 0;
    checkf(ioprio_get(IOPRIO_WHO_PGRP, child) == -1 && errno == ESRCH, "an empty process group: ESRCH");

    // Another uid may not change root's process or take the real-time class.
    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        if (setresuid(NOBODY, NOBODY, NOBODY) != 0) _exit(10);
        if (ioprio_get(IOPRIO_WHO_PROCESS, parent) != IOPRIO_VALUE(2, 5)) _exit(11);
        errno = 0;
        if (ioprio_set(IOPRIO_WHO_PROCESS, parent, IOPRIO_VALUE(2, 7)) != -1 || errno != EPERM) _exit(12);
        errno = 0;
        if (ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(1, 0)) != -1 || errno != EPERM) _exit(13);
        if (ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_VALUE(3, 0)) != 0) _exit(14);
        _exit(0);
    }
    checkf(child_status_ok(child), "another uid: ioprio_set of root's process and the real-time class are EPERM");
    checkf(ioprio_set(IOPRIO_WHO_PROCESS, 0, 0) == 0 && ioprio_get(IOPRIO_WHO_PROCESS, 0) == 0, "ioprio_set 0 resets");
}

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

// clone(CLONE_PIDFD) either gives a pidfd or fails with EINVAL, never success without one;
// and pidfd_open is offered exactly when clone hands out pidfds.
static void pidfd_checks(void) {
    int pidfd = -1;
    long pid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0) _exit(0);
    int clone_errno = errno;
    int gave_fd = pid > 0 && pidfd >= 0;
    checkf(gave_fd || (pid == -1 && clone_errno == EINVAL && pidfd == -1), "clone(CLONE_PIDFD): a pidfd or EINVAL");
    if (pid > 0) waitpid(pid, NULL, 0);
    if (pidfd >= 0) close(pidfd);
    long fd = syscall(SYS_pidfd_open, getpid(), 0);
    checkf((fd >= 0) == gave_fd, "pidfd_open agrees with clone(CLONE_PIDFD)");
    if (fd >= 0) close(fd);
    errno = 0;
    pid = syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0) _exit(0);
    checkf(pid == -1 && errno == EINVAL, "clone(CLONE_PIDFD|CLONE_PARENT_SETTID): EINVAL");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN); // a writer without readers fails a check instead of dying

    char tmp[] = "/tmp/fifo-XXXXXX", shm[] = "/dev/shm/fifo-XXXXXX";
    if (!mkdtemp(tmp) || !mkdtemp(shm)) {
        perror("mkdtemp");
        return 2;
    }
    char tmpfifo[64], shmfifo[64];
    snprintf(tmpfifo, sizeof tmpfifo, "%s/f", tmp);
    snprintf(shmfifo, sizeof shmfifo, "%s/f", shm);
    checkf(mkfifo(tmpfifo, 0600) == 0, "mkfifo in /tmp");
    checkf(mkfifo(shmfifo, 0600) == 0, "mkfifo in /dev/shm");

    fifo_checks(tmpfifo, "/tmp");
    fifo_checks(shmfifo, "/dev/shm");
    if (argc > 1) fifo_checks(argv[1], "existing FIFO");
    interrupt_checks(tmpfifo);

    unlink(tmpfifo);
    unlink(shmfifo);
    rmdir(tmp);
    rmdir(shm);

    affinity_checks();
    ioprio_checks();
    pidfd_checks();

    return finish_count("fifo");
}
