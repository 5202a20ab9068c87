// rusage: CPU and memory accounting and the limits built on it. getrusage (SELF, THREAD,
// CHILDREN), times() and the rusage of wait4 count what reaped children (and their reaped
// children) ran; CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and clock_getcpuclockid
// clocks report the guest's CPU time; ru_maxrss the peak RSS; RLIMIT_NPROC counts threads;
// RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one.
// Work is measured in CPU time, not wall time, so a loaded machine only makes it slower, and
// every figure is checked against a generous lower bound: behaviour, not speed. Must be run
// as root (the RLIMIT_NPROC check drops to uid 65534 in a child). Prints one line per check
// (figures go to stderr) and "rusage ok" last; exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define MS 1000000LL
#define SEC 1000000000LL

static long long ts_ns(struct timespec ts) { return ts.tv_sec * SEC + ts.tv_nsec; }
static long long tv_ns(struct timeval tv) { return tv.tv_sec * SEC + tv.tv_usec * 1000LL; }
static long long ru_ns(const struct rusage *ru) { return tv_ns(ru->ru_utime) + tv_ns(ru->ru_stime); }

static long long now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts_ns(ts);
}

// This thread's CPU time as getrusage(RUSAGE_THREAD) tells it.
static long long thread_cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru_ns(&ru);
}

// Spins until this thread has used ms of CPU time (or 30 s of wall time went by).
static void spin_cpu(int ms) {
    long long until = thread_cpu_ns() + ms * MS, give_up = now_ns(CLOCK_MONOTONIC) + 30 * SEC;
    while (thread_cpu_ns() < until && now_ns(CLOCK_MONOTONIC) < give_up) {
        for (volatile int i = 0; i < 100000; i++) {
        }
    }
}

// Writes to every page of a fresh block so that it is resident (and kept: the compiler may
// not drop the block).
static char *volatile kept;
static void touch(size_t bytes) {
    char *p = malloc(bytes);
    if (p) memset(p, 1, bytes);
    kept = p;
}

// A reaped child's CPU time and peak RSS reach wait4's rusage, RUSAGE_CHILDREN and times().
static void test_reaped_child(void) {
    struct tms before;
    times(&before);
    pid_t c = fork();
    if (c == 0) {
        touch(8 << 20);
        spin_cpu(300);
        _exit(0);
    }
    struct rusage ru;
    int status;
    int reaped = wait4(c, &status, 0, &ru) == c && WIFEXITED(status);
    fprintf(stderr, "wait4 rusage: cpu %lld ms, maxrss %ld KiB\n", ru_ns(&ru) / MS, ru.ru_maxrss);
    check(reaped && ru_ns(&ru) >= 200 * MS, "wait4's rusage holds the CPU time of a child that spun 300 ms");
    check(ru.ru_maxrss >= 4096, "wait4's rusage holds the child's peak RSS (it touched 8 MiB)");

    struct rusage children;
    getrusage(RUSAGE_CHILDREN, &children);
    fprintf(stderr, "RUSAGE_CHILDREN: cpu %lld ms, maxrss %ld KiB\n", ru_ns(&children) / MS, children.ru_maxrss);
    check(ru_ns(&children) >= 200 * MS, "RUSAGE_CHILDREN counts the reaped child");
    check(children.ru_maxrss >= 4096, "RUSAGE_CHILDREN's ru_maxrss is the child's peak RSS");

    struct tms after;
    times(&after);
    long hz = sysconf(_SC_CLK_TCK);
    long ticks = (after.tms_cutime + after.tms_cstime) - (before.tms_cutime + before.tms_cstime);
    fprintf(stderr, "times: children %ld ticks (CLK_TCK %ld)\n", ticks, hz);
    check(ticks >= hz / 5, "times() tms_cutime + tms_cstime count the reaped child");
}

// A child's wait4 rusage includes what the grandchildren it reaped ran, but not what it left
// unreaped.
static void test_grandchild(void) {
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            spin_cpu(200);
            _exit(0);
        }
        waitpid(g, NULL, 0);
        _exit(0);
    }
    struct rusage ru;
    int status;
    wait4(c, &status, 0, &ru);
    fprintf(stderr, "wait4 rusage with a reaped grandchild: cpu %lld ms\n", ru_ns(&ru) / MS);
    check(ru_ns(&ru) >= 130 * MS, "wait4's rusage includes the child's reaped children");
}

static void *spinner(void *arg) {
    spin_cpu(*(int *)arg);
    return NULL;
}

// A finished thread's time stays in RUSAGE_SELF; its peak RSS in ru_maxrss.
static void test_self(void) {
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    int ms = 300;
    pthread_t th;
    pthread_create(&th, NULL, spinner, &ms);
    pthread_join(th, NULL);
    getrusage(RUSAGE_SELF, &after);
    fprintf(stderr, "RUSAGE_SELF over a joined thread's 300 ms: %lld ms\n", (ru_ns(&after) - ru_ns(&before)) / MS);
    check(ru_ns(&after) - ru_ns(&before) >= 200 * MS, "RUSAGE_SELF keeps the time of a thread that exited");

    touch(8 << 20);
    getrusage(RUSAGE_SELF, &after);
    fprintf(stderr, "RUSAGE_SELF maxrss %ld KiB\n", after.ru_maxrss);
    check(after.ru_maxrss >= 4096, "RUSAGE_SELF's ru_maxrss after touching 8 MiB");
}

// The CPU-time clocks report the guest's own time, and not time spent asleep.
static void test_clocks(void) {
    clockid_t pid_clock = CLOCK_PROCESS_CPUTIME_ID, thread_clock = CLOCK_THREAD_CPUTIME_ID;
    int made = clock_getcpuclockid(getpid(), &pid_clock) == 0 && pthread_getcpuclockid(pthread_self(), &thread_clock) == 0;
    long long p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    long long pc0 = now_ns(pid_clock), tc0 = now_ns(thread_clock);
    spin_cpu(300);
    long long p1 = now_ns(CLOCK_PROCESS_CPUTIME_ID), t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    long long pc1 = now_ns(pid_clock), tc1 = now_ns(thread_clock);
    struct timespec nap = {0, 200 * MS};
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {
    }
    long long p2 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    fprintf(stderr, "over a 300 ms spin: process %lld ms, thread %lld ms, pid clock %lld ms, thread clock %lld ms; "
                    "over a 200 ms sleep: %lld ms\n",
            (p1 - p0) / MS, (t1 - t0) / MS, (pc1 - pc0) / MS, (tc1 - tc0) / MS, (p2 - p1) / MS);
    check(p1 - p0 >= 200 * MS && p2 - p1 < 100 * MS,
          "CLOCK_PROCESS_CPUTIME_ID advances over a 300 ms spin, not over a 200 ms sleep");
    check(t1 - t0 >= 200 * MS, "CLOCK_THREAD_CPUTIME_ID advances over a 300 ms spin");
    check(made && pc1 - pc0 >= 200 * MS && tc1 - tc0 >= 200 * MS,
          "clocks of clock_getcpuclockid and pthread_getcpuclockid advance over it too");
}

static void *sleeper(void *arg) {
    (void)arg;
    pause();
    return NULL;
}

// RLIMIT_NPROC counts every task of the user, threads included.
static void test_nproc(void) {
    pid_t c = fork();
    if (c == 0) {
        struct rlimit rl = {1, 1};
        if (setrlimit(RLIMIT_NPROC, &rl) != 0 || setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(10);
        pthread_t th;
        int r = pthread_create(&th, NULL, sleeper, NULL);
        fprintf(stderr, "pthread_create under RLIMIT_NPROC 1: %s\n", strerror(r));
        _exit(r == EAGAIN ? 0 : 11);
    }
    int status;
    waitpid(c, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "RLIMIT_NPROC 1: pthread_create fails with EAGAIN");
}

static volatile sig_atomic_t xcpu;
static void on_xcpu(int sig) {
    (void)sig;
    xcpu++;
}

// RLIMIT_CPU: SIGXCPU at the soft limit (1 s), SIGKILL at the hard one (2 s).
static void test_rlimit_cpu(void) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t c = fork();
    if (c == 0) {
        close(fds[0]);
        signal(SIGXCPU, on_xcpu);
        struct rlimit rl = {1, 2};
        setrlimit(RLIMIT_CPU, &rl);
        long long give_up = now_ns(CLOCK_MONOTONIC) + 45 * SEC;
        int told = 0;
        while (now_ns(CLOCK_MONOTONIC) < give_up) {
            for (volatile int i = 0; i < 100000; i++) {
            }
            if (xcpu && !told) {
                char b = 'x';
                if (write(fds[1], &b, 1) == 1) told = 1;
            }
        }
        _exit(3);
    }
    close(fds[1]);
    char b;
    ssize_t got = read(fds[0], &b, 1);
    int status;
    waitpid(c, &status, 0);
    close(fds[0]);
    fprintf(stderr, "RLIMIT_CPU {1, 2}: SIGXCPU %s, status 0x%x\n", got == 1 ? "seen" : "not seen", status);
    check(got == 1, "RLIMIT_CPU: SIGXCPU at the soft limit");
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "RLIMIT_CPU: SIGKILL at the hard limit");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("rusage: run me as root\n");
        return 2;
    }
    test_reaped_child();
    test_grandchild();
    test_self();
    test_clocks();
    test_nproc();
    test_rlimit_cpu();
    return finish("rusage");
}
