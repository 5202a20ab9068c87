// misc: assorted system calls a static program commonly makes -- identity, clocks,
// sleeping, randomness, resource limits, CPU affinity, fd duplication and terminal
// queries. Output is the same natively and in the sandbox when stdout is a pipe.
// Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

static const char *kind(mode_t m) {
    switch (m & S_IFMT) {
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "chr";
    case S_IFREG: return "reg";
    case S_IFSOCK: return "sock";
    default: return "other";
    }
}

static void test_uname(void) {
    struct utsname u;
    check(uname(&u) == 0, "uname");
    printf("uname sysname=%s machine=%s\n", u.sysname, u.machine);
    check(strcmp(u.sysname, "Linux") == 0 && strcmp(u.machine, "x86_64") == 0,
          "uname says Linux x86_64");
    check(u.release[0] >= '1' && u.release[0] <= '9', "uname release starts with a digit");
    check(u.nodename[0] != 0, "uname nodename non-empty");
}

static void test_clocks(void) {
    struct timespec a, b, res, rt;
    check(clock_gettime(CLOCK_MONOTONIC, &a) == 0, "clock_gettime MONOTONIC");
    long long prev = ns(&a);
    int monotonic = 1;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (ns(&b) < prev) monotonic = 0;
        prev = ns(&b);
    }
    check(monotonic, "CLOCK_MONOTONIC never goes backwards");
    check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(&res) > 0 && ns(&res) <= 1000000,
          "clock_getres MONOTONIC in (0, 1ms]");
    check(clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 1600000000, "CLOCK_REALTIME after 2020");
    time_t t = time(NULL);
    check(t > 1600000000, "time() after 2020");
    struct timespec cpu;
    check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0, "clock_gettime PROCESS_CPUTIME");

    // nanosleep sleeps at least as long as asked (no upper bound is checked).
    struct timespec before, after, req = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    check(nanosleep(&req, NULL) == 0, "nanosleep 10ms");
    clock_gettime(CLOCK_MONOTONIC, &after);
    check(ns(&after) - ns(&before) >= 10 * 1000 * 1000, "nanosleep slept at least 10ms");
    check(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0, "clock_nanosleep 10ms");
    errno = 0;
    struct timespec badreq = {0, 1000000000};
    check(nanosleep(&badreq, NULL) == -1 && errno == EINVAL, "nanosleep tv_nsec=1e9 -> EINVAL");
}

static void test_random(void) {
    unsigned char r1[16], r2[16];
    check(getrandom(r1, sizeof r1, 0) == 16 && getrandom(r2, sizeof r2, 0) == 16,
          "getrandom 16 bytes twice");
    check(memcmp(r1, r2, 16) != 0, "two getrandom results differ");
    check(getrandom(r1, sizeof r1, GRND_NONBLOCK) == 16, "getrandom GRND_NONBLOCK");
}

static void test_sysinfo(void) {
    struct sysinfo si;
    check(sysinfo(&si) == 0, "sysinfo");
    check(si.totalram > 0 && si.mem_unit > 0 && si.procs > 0, "sysinfo totalram, mem_unit, procs");
}

static void test_limits(void) {
    struct rlimit st, nf, old;
    check(getrlimit(RLIMIT_STACK, &st) == 0 && st.rlim_cur > 0, "getrlimit STACK");
    check(getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur <= nf.rlim_max, "getrlimit NOFILE");
    check(prlimit(0, RLIMIT_NOFILE, NULL, &old) == 0 && old.rlim_cur == nf.rlim_cur &&
              old.rlim_max == nf.rlim_max,
          "prlimit(0) agrees with getrlimit");
    struct rlimit lower = {nf.rlim_cur > 64 ? 64 : nf.rlim_cur, nf.rlim_max};
    check(setrlimit(RLIMIT_NOFILE, &lower) == 0 && getrlimit(RLIMIT_NOFILE, &old) == 0 &&
              old.rlim_cur == lower.rlim_cur,
          "setrlimit NOFILE lowers the soft limit");
    // With a soft limit of 64, fd 64 is out of range.
    errno = 0;
    check(lower.rlim_cur != 64 || (dup2(1, 64) == -1 && errno == EBADF),
          "dup2 beyond RLIMIT_NOFILE -> EBADF");
    setrlimit(RLIMIT_NOFILE, &nf);
}

static void test_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    check(sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1,
          "sched_getaffinity has at least one CPU");
    check(sched_yield() == 0, "sched_yield");
    check(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "sysconf NPROCESSORS_ONLN");
}

static void test_fds(void) {
    fflush(stdout);
    int d = dup(1);
    check(d == 3, "dup(1) returns the lowest free fd, 3");
    check(dup2(1, 10) == 10, "dup2(1, 10)");
    check(dup2(1, 1) == 1, "dup2(1, 1) is a no-op");
    errno = 0;
    check(dup3(1, 1, 0) == -1 && errno == EINVAL, "dup3(1, 1) -> EINVAL");
    check(dup3(1, 11, O_CLOEXEC) == 11 && fcntl(11, F_GETFD) == FD_CLOEXEC, "dup3 O_CLOEXEC");
    check(fcntl(10, F_GETFD) == 0, "dup2 clears FD_CLOEXEC");
    check(fcntl(10, F_SETFD, FD_CLOEXEC) == 0 && fcntl(10, F_GETFD) == FD_CLOEXEC, "F_SETFD");
    int f = fcntl(1, F_DUPFD, 20);
    check(f == 20, "F_DUPFD from 20");
    int fc = fcntl(1, F_DUPFD_CLOEXEC, 20);
    check(fc == 21 && fcntl(fc, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC from 20");
    int fl = fcntl(1, F_GETFL);
    check(fl != -1 && (fl & O_ACCMODE) != O_RDONLY, "stdout is writable (F_GETFL)");
    // Writes through the duplicates land on the same stdout, in order.
    const char msg1[] = "via dup\n", msg2[] = "via dup2\n";
    check(write(d, msg1, sizeof msg1 - 1) == sizeof msg1 - 1, "write through dup");
    check(write(10, msg2, sizeof msg2 - 1) == sizeof msg2 - 1, "write through dup2");
    check(close(d) == 0 && close(10) == 0 && close(11) == 0 && close(f) == 0 && close(fc) == 0,
          "close the duplicates");
    errno = 0;
    check(fcntl(10, F_GETFD) == -1 && errno == EBADF, "closed fd -> EBADF");
    errno = 0;
    check(close(10) == -1 && errno == EBADF, "double close -> EBADF");
    errno = 0;
    check(write(-1, "x", 1) == -1 && errno == EBADF, "write(-1) -> EBADF");

    // What stdout is (the test harness gives a pipe).
    struct stat st;
    check(fstat(1, &st) == 0, "fstat(1)");
    printf("stdout is %s\n", kind(st.st_mode));

    // A pipe is a FIFO and not a terminal.
    int p[2];
    check(pipe2(p, O_CLOEXEC) == 0, "pipe2 O_CLOEXEC");
    check(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat on a pipe says S_IFIFO");
    errno = 0;
    check(!isatty(p[1]) && errno == ENOTTY, "isatty(pipe) is false with ENOTTY");
    struct termios tio;
    errno = 0;
    check(ioctl(p[1], TCGETS, &tio) == -1 && errno == ENOTTY, "ioctl TCGETS on a pipe -> ENOTTY");
    check(fcntl(p[0], F_GETFD) == FD_CLOEXEC, "pipe2 O_CLOEXEC sets FD_CLOEXEC");
    check(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0 && (fcntl(p[1], F_GETFL) & O_NONBLOCK),
          "F_SETFL O_NONBLOCK");
    char c;
    check(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 && read(p[0], &c, 1) == -1 && errno == EAGAIN,
          "non-blocking read of an empty pipe -> EAGAIN");
    close(p[0]);
    close(p[1]);
}

static void test_identity(void) {
    printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(),
           (int)getegid());
    check(getpid() == getpid() && syscall(SYS_gettid) == getpid(), "single-threaded: tid == pid");
    /* 0 is a valid answer: a group or session whose leader lives in an ancestor pid
     * namespace (CI runs us in a container whose session began outside it). */
    check(getpgrp() >= 0 && getsid(0) >= 0 && getsid(0) == getsid(getpid()), "getpgrp, getsid");
    mode_t old = umask(077);
    check(umask(old) == 077, "umask round-trip");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_identity();
    test_uname();
    test_clocks();
    test_random();
    test_sysinfo();
    test_limits();
    test_affinity();
    test_fds();
    return finish("misc");
}
