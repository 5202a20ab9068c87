// timers: alarm, setitimer/getitimer (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF), POSIX
// timers (signals with SI_TIMER details, the default sigevent, SIGEV_THREAD_ID, overruns,
// TIMER_ABSTIME, timer_delete), timerfd (blocking reads, epoll, poll, timerfd_gettime), and
// nanosleep/clock_nanosleep interrupted by a handled signal or sleeping to an absolute time.
// Timing checks have wide tolerances: they test behaviour, not speed. Prints one line per
// check and "timers ok" last; exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define MS 1000000LL
#define SEC 1000000000LL

static long long now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * SEC + ts.tv_nsec;
}

static struct timespec to_ts(long long ns) {
    struct timespec ts = {ns / SEC, ns % SEC};
    return ts;
}

static long long ts_ns(struct timespec ts) { return ts.tv_sec * SEC + ts.tv_nsec; }
static long long tv_ns(struct timeval tv) { return tv.tv_sec * SEC + tv.tv_usec * 1000LL; }

// Sleeps until CLOCK_MONOTONIC reaches now + ns, whatever signals arrive meanwhile.
static void sleep_through(long long ns) {
    struct timespec until = to_ts(now_ns(CLOCK_MONOTONIC) + ns);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
}

// Sleeps (through signals) until *count reaches n or 5 s pass; returns the time it took.
static long long sleep_until_count(volatile sig_atomic_t *count, int n) {
    long long start = now_ns(CLOCK_MONOTONIC), end = start + 5 * SEC;
    while (*count < n && now_ns(CLOCK_MONOTONIC) < end) {
        struct timespec step = {0, 5 * MS};
        nanosleep(&step, NULL);
    }
    return now_ns(CLOCK_MONOTONIC) - start;
}

static void on(int sig, void (*handler)(int)) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void on_info(int sig, void (*handler)(int, siginfo_t *, void *)) {
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void block(int sig, int how) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(how, &set, NULL);
}

static volatile sig_atomic_t alrm_count, vtalrm_count, prof_count, usr2_count;
static void on_alrm(int sig) { (void)sig; alrm_count++; }
static void on_vtalrm(int sig) { (void)sig; vtalrm_count++; }
static void on_prof(int sig) { (void)sig; prof_count++; }
static void on_usr2(int sig) { (void)sig; usr2_count++; }

static void test_alarm(void) {
    on(SIGALRM, on_alrm);
    check(alarm(5) == 0, "alarm: nothing pending at first");
    check(alarm(1) == 5, "alarm returns the seconds left of the previous alarm, rounded");
    unsigned left = sleep(3);
    check(alrm_count == 1, "alarm(1) delivers SIGALRM once");
    check(left >= 1 && left <= 2, "sleep interrupted by the alarm returns the seconds left");
    sleep_through(200 * MS);
    check(alrm_count == 1 && alarm(0) == 0, "alarm is one-shot");
}

static void test_itimer_real(void) {
    struct itimerval every = {{0, 50000}, {0, 50000}}, off = {{0, 0}, {0, 0}}, old, cur;
    alrm_count = 0;
    check(setitimer(ITIMER_REAL, &every, NULL) == 0, "setitimer ITIMER_REAL 50 ms interval");
    long long took = sleep_until_count(&alrm_count, 5);
    check(setitimer(ITIMER_REAL, &off, &old) == 0, "setitimer disarms");
    int n = alrm_count;
    check(n >= 5, "ITIMER_REAL 50 ms fires repeatedly");
    check(took >= 200 * MS && n <= took / (50 * MS) + 1, "ITIMER_REAL fires no faster than its interval");
    check(old.it_interval.tv_sec == 0 && old.it_interval.tv_usec == 50000 && tv_ns(old.it_value) > 0 &&
              tv_ns(old.it_value) <= 50 * MS,
          "setitimer returns the old value and interval");
    sleep_through(100 * MS);
    check(alrm_count == n, "no SIGALRM after disarming");
    check(getitimer(ITIMER_REAL, &cur) == 0 && tv_ns(cur.it_value) == 0 && tv_ns(cur.it_interval) == 0,
          "getitimer of a disarmed timer is zero");

    struct itimerval ten = {{0, 0}, {10, 0}}, a, b;
    setitimer(ITIMER_REAL, &ten, NULL);
    getitimer(ITIMER_REAL, &a);
    sleep_through(20 * MS);
    getitimer(ITIMER_REAL, &b);
    setitimer(ITIMER_REAL, &off, NULL);
    check(tv_ns(a.it_value) > 9 * SEC && tv_ns(a.it_value) <= 10 * SEC && tv_ns(a.it_interval) == 0,
          "getitimer shows the time left");
    check(tv_ns(b.it_value) <= tv_ns(a.it_value) - 15 * MS, "getitimer's time left decreases");

    struct itimerval bad = {{0, 0}, {0, 1000000}};
    check(setitimer(ITIMER_REAL, &bad, NULL) == -1 && errno == EINVAL, "setitimer rejects tv_usec >= 1000000");
    check(setitimer(7, &off, NULL) == -1 && errno == EINVAL, "setitimer rejects an unknown timer");
}

// Burns CPU in user space until *count reaches n (or 5 s pass).
static void spin_until(volatile sig_atomic_t *count, int n) {
    long long end = now_ns(CLOCK_MONOTONIC) + 5 * SEC;
    while (*count < n && now_ns(CLOCK_MONOTONIC) < end) {
        for (volatile int i = 0; i < 300000; i++) {
        }
    }
}

static void test_itimer_cpu(void) {
    struct itimerval every = {{0, 10000}, {0, 10000}}, off = {{0, 0}, {0, 0}}, cur;
    on(SIGPROF, on_prof);
    on(SIGVTALRM, on_vtalrm);

    check(setitimer(ITIMER_PROF, &every, NULL) == 0, "setitimer ITIMER_PROF 10 ms");
    spin_until(&prof_count, 3);
    check(getitimer(ITIMER_PROF, &cur) == 0 && tv_ns(cur.it_interval) == 10 * MS && tv_ns(cur.it_value) > 0 &&
              tv_ns(cur.it_value) <= 20 * MS,
          "getitimer ITIMER_PROF");
    setitimer(ITIMER_PROF, &off, NULL);
    check(prof_count >= 3, "ITIMER_PROF sends SIGPROF while the CPU spins");

    check(setitimer(ITIMER_VIRTUAL, &every, NULL) == 0, "setitimer ITIMER_VIRTUAL 10 ms");
    spin_until(&vtalrm_count, 3);
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    check(vtalrm_count >= 3, "ITIMER_VIRTUAL sends SIGVTALRM while the CPU spins");

    // CPU timers do not advance while the process sleeps.
    int before = prof_count;
    struct itimerval once = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_PROF, &once, NULL);
    sleep_through(150 * MS);
    check(prof_count == before, "ITIMER_PROF does not fire while the process sleeps");
    setitimer(ITIMER_PROF, &off, NULL);
}

static volatile sig_atomic_t rt_count, rt_code, rt_value, rt_timerid;
static void on_rt(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    rt_count++;
    rt_code = si->si_code;
    rt_value = si->si_value.sival_int;
    rt_timerid = si->si_timerid;
}

static volatile sig_atomic_t alrm_info_code, alrm_info_value;
static void on_alrm_info(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    alrm_count++;
    alrm_info_code = si->si_code;
    alrm_info_value = si->si_value.sival_int;
}

static void test_posix_signal(void) {
    int sig = SIGRTMIN;
    on_info(sig, on_rt);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_int = 42;
    timer_t t;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create CLOCK_MONOTONIC SIGEV_SIGNAL");
    struct itimerspec every = {{0, 20 * MS}, {0, 20 * MS}}, old, cur;
    check(timer_settime(t, 0, &every, NULL) == 0, "timer_settime 20 ms periodic");
    long long took = sleep_until_count(&rt_count, 5);
    check(timer_gettime(t, &cur) == 0 && ts_ns(cur.it_interval) == 20 * MS && ts_ns(cur.it_value) > 0 &&
              ts_ns(cur.it_value) <= 20 * MS,
          "timer_gettime of a periodic timer");
    struct itimerspec off = {{0, 0}, {0, 0}};
    check(timer_settime(t, 0, &off, &old) == 0 && ts_ns(old.it_interval) == 20 * MS, "timer_settime returns the old setting");
    int n = rt_count;
    check(n >= 5, "a 20 ms POSIX timer signals repeatedly");
    check(took >= 80 * MS && n <= took / (20 * MS) + 1, "a POSIX timer signals no faster than its interval");
    check(rt_code == SI_TIMER && rt_value == 42 && rt_timerid == (int)(intptr_t)t,
          "siginfo: SI_TIMER, si_value, si_timerid");
    sleep_through(60 * MS);
    check(rt_count == n, "a disarmed timer stays quiet");
    check(timer_gettime(t, &cur) == 0 && ts_ns(cur.it_value) == 0, "timer_gettime of a disarmed timer");

    // One-shot, absolute on the timer's clock.
    struct itimerspec at = {{0, 0}, to_ts(now_ns(CLOCK_MONOTONIC) + 30 * MS)};
    check(timer_settime(t, TIMER_ABSTIME, &at, NULL) == 0, "timer_settime TIMER_ABSTIME");
    sleep_through(150 * MS);
    check(rt_count == n + 1, "an absolute one-shot timer fires once");
    check(timer_delete(t) == 0, "timer_delete");
    check(timer_gettime(t, &cur) == -1 && errno == EINVAL, "a deleted timer is gone");

    // The kernel's default sigevent (glibc always passes one): SIGALRM whose si_value is
    // the timer id. Absolute on CLOCK_REALTIME.
    on_info(SIGALRM, on_alrm_info);
    alrm_count = 0;
    int kid = -1;
    check(syscall(SYS_timer_create, CLOCK_REALTIME, NULL, &kid) == 0, "timer_create with a NULL sigevent");
    struct itimerspec soon = {{0, 0}, to_ts(now_ns(CLOCK_REALTIME) + 10 * MS)};
    syscall(SYS_timer_settime, kid, TIMER_ABSTIME, &soon, NULL);
    sleep_through(100 * MS);
    check(alrm_count == 1 && alrm_info_code == SI_TIMER && alrm_info_value == kid,
          "default sigevent: SIGALRM with si_value = timer id");
    syscall(SYS_timer_delete, kid);

    timer_t d;
    check(timer_create(CLOCK_MONOTONIC_RAW, NULL, &d) == -1, "timer_create refuses CLOCK_MONOTONIC_RAW");
    sev.sigev_signo = 0;
    check(timer_create(CLOCK_MONOTONIC, &sev, &d) == -1 && errno == EINVAL, "timer_create refuses signal 0");

    // A timer on the process CPU clock fires while the CPU spins.
    timer_t c;
    sev.sigev_signo = sig;
    rt_count = 0;
    check(timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &c) == 0, "timer_create CLOCK_PROCESS_CPUTIME_ID");
    struct itimerspec cpu = {{0, 10 * MS}, {0, 10 * MS}};
    timer_settime(c, 0, &cpu, NULL);
    spin_until(&rt_count, 3);
    timer_delete(c);
    check(rt_count >= 3, "a CPU-time timer fires while the CPU spins");
}

struct waiter {
    pid_t tid;
    volatile int ready;
    int got, code;
};

static void *wait_for_usr1(void *arg) {
    struct waiter *w = arg;
    w->tid = gettid();
    __atomic_store_n(&w->ready, 1, __ATOMIC_SEQ_CST);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    siginfo_t si;
    struct timespec limit = {5, 0};
    w->got = sigtimedwait(&set, &si, &limit);
    w->code = si.si_code;
    return NULL;
}

static void test_thread_id(void) {
    block(SIGUSR1, SIG_BLOCK);
    struct waiter w = {0};
    pthread_t th;
    pthread_create(&th, NULL, wait_for_usr1, &w);
    while (!__atomic_load_n(&w.ready, __ATOMIC_SEQ_CST)) sched_yield();

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = w.tid;
    timer_t t;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create SIGEV_THREAD_ID");
    struct itimerspec soon = {{0, 0}, {0, 20 * MS}};
    timer_settime(t, 0, &soon, NULL);
    pthread_join(th, NULL);
    check(w.got == SIGUSR1 && w.code == SI_TIMER, "SIGEV_THREAD_ID: the named thread takes the signal");
    sigset_t pending;
    sigpending(&pending);
    check(!sigismember(&pending, SIGUSR1), "SIGEV_THREAD_ID: nothing pending for the main thread");
    timer_delete(t);

    sev._sigev_un._tid = 999999;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == -1 && errno == EINVAL,
          "SIGEV_THREAD_ID refuses a thread outside the process");
    block(SIGUSR1, SIG_UNBLOCK);
}

static void test_overrun(void) {
    int sig = SIGRTMIN + 1;
    block(sig, SIG_BLOCK);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = sig;
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &sev, &t);
    struct itimerspec every = {{0, 10 * MS}, {0, 10 * MS}};
    long long start = now_ns(CLOCK_MONOTONIC);
    timer_settime(t, 0, &every, NULL);
    sleep_through(100 * MS);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    siginfo_t si;
    struct timespec limit = {2, 0};
    int got = sigtimedwait(&set, &si, &limit);
    int overrun = timer_getoverrun(t);
    long long took = now_ns(CLOCK_MONOTONIC) - start;
    check(got == sig && si.si_code == SI_TIMER, "a blocked timer signal stays pending");
    check(si.si_overrun > 0 && overrun > 0, "timer_getoverrun > 0 after the signal was blocked for 100 ms");
    check(overrun == si.si_overrun, "timer_getoverrun equals the delivered si_overrun");
    check(overrun >= 3 && overrun <= took / (10 * MS), "overruns count the expirations while blocked");

    check(timer_delete(t) == 0, "timer_delete a running timer");
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, &si, &zero) == sig) {
    }
    sleep_through(50 * MS);
    sigset_t pending;
    sigpending(&pending);
    check(!sigismember(&pending, sig), "timer_delete stops the timer");
    check(timer_getoverrun(t) == -1 && errno == EINVAL, "timer_getoverrun of a deleted timer");
    block(sig, SIG_UNBLOCK);
}

static void test_timerfd(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    check(fd >= 0, "timerfd_create CLOCK_MONOTONIC");
    struct itimerspec every = {{0, 10 * MS}, {0, 10 * MS}}, cur, old;
    check(timerfd_settime(fd, 0, &every, NULL) == 0, "timerfd_settime 10 ms periodic");
    long long start = now_ns(CLOCK_MONOTONIC);
    unsigned long long sum = 0, n;
    int reads = 0, bad = 0;
    while (now_ns(CLOCK_MONOTONIC) - start < 100 * MS || (sum < 5 && now_ns(CLOCK_MONOTONIC) - start < 5 * SEC)) {
        if (read(fd, &n, sizeof n) != 8 || n == 0) bad = 1;
        else sum += n;
        reads++;
    }
    long long took = now_ns(CLOCK_MONOTONIC) - start;
    check(!bad && reads >= 2, "blocking reads return 8-byte expiration counts");
    check(sum >= 5 && sum <= (unsigned long long)(took / (10 * MS)) + 1, "expiration counts add up to the time passed");
    check(timerfd_gettime(fd, &cur) == 0 && ts_ns(cur.it_interval) == 10 * MS && ts_ns(cur.it_value) > 0 &&
              ts_ns(cur.it_value) <= 10 * MS,
          "timerfd_gettime");
    char small[4];
    check(read(fd, small, sizeof small) == -1 && errno == EINVAL, "read with a buffer under 8 bytes: EINVAL");
    struct itimerspec off = {{0, 0}, {0, 0}};
    check(timerfd_settime(fd, 0, &off, &old) == 0 && ts_ns(old.it_interval) == 10 * MS, "timerfd_settime returns the old setting");
    check(timerfd_gettime(fd, &cur) == 0 && ts_ns(cur.it_value) == 0, "a disarmed timerfd shows 0 left");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    check(read(fd, &n, sizeof n) == -1 && errno == EAGAIN, "settime resets the count; non-blocking read: EAGAIN");
    close(fd);

    // Non-blocking, close-on-exec, CLOCK_REALTIME, absolute, through epoll.
    fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    check(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK),
          "timerfd_create TFD_NONBLOCK | TFD_CLOEXEC");
    check(read(fd, &n, sizeof n) == -1 && errno == EAGAIN, "unarmed non-blocking read: EAGAIN");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: an unexpired timerfd is not readable");
    struct itimerspec at = {{0, 0}, to_ts(now_ns(CLOCK_REALTIME) + 30 * MS)};
    check(timerfd_settime(fd, TFD_TIMER_ABSTIME, &at, NULL) == 0, "timerfd_settime TFD_TIMER_ABSTIME");
    long long t0 = now_ns(CLOCK_MONOTONIC);
    int ready = epoll_wait(ep, &out, 1, 2000);
    long long waited = now_ns(CLOCK_MONOTONIC) - t0;
    check(ready == 1 && out.events == EPOLLIN && out.data.u32 == 7, "epoll reports the expired timerfd");
    check(waited >= 15 * MS, "epoll waited for the expiry");
    check(read(fd, &n, sizeof n) == 8 && n == 1, "one expiration read");
    check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: not readable after the read");
    check(timerfd_gettime(fd, &cur) == 0 && ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 0,
          "an expired one-shot timerfd shows 0 left");
    close(ep);

    struct itimerspec soon = {{0, 0}, {0, 20 * MS}};
    timerfd_settime(fd, 0, &soon, NULL);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    check(poll(&p, 1, 2000) == 1 && (p.revents & POLLIN), "poll reports the expired timerfd");
    close(fd);

    check(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0) == -1 && errno == EINVAL, "timerfd_create refuses CPU clocks");
    check(timerfd_create(CLOCK_MONOTONIC, 0x1) == -1 && errno == EINVAL, "timerfd_create refuses unknown flags");
    check(timerfd_settime(0x7fff, 0, &soon, NULL) == -1 && errno == EBADF, "timerfd_settime on a bad fd: EBADF");
    check(timerfd_settime(1, 0, &soon, NULL) == -1 && errno == EINVAL, "timerfd_settime on another file: EINVAL");
}

static void test_sleeps(void) {
    on(SIGUSR2, on_usr2);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &sev, &t);
    struct itimerspec soon = {{0, 0}, {0, 50 * MS}};

    timer_settime(t, 0, &soon, NULL);
    struct timespec req = {2, 0}, rem = {0, 0};
    int r = nanosleep(&req, &rem);
    check(r == -1 && errno == EINTR && usr2_count == 1, "nanosleep interrupted by a handled signal: EINTR");
    check(ts_ns(rem) > 1 * SEC && ts_ns(rem) < 2 * SEC, "nanosleep writes the time left to rem");

    timer_settime(t, 0, &soon, NULL);
    rem.tv_sec = rem.tv_nsec = 0;
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
    check(r == EINTR && usr2_count == 2 && ts_ns(rem) > 1 * SEC && ts_ns(rem) < 2 * SEC,
          "clock_nanosleep interrupted: EINTR and the time left");

    timer_settime(t, 0, &soon, NULL);
    struct timespec until = to_ts(now_ns(CLOCK_REALTIME) + 2 * SEC);
    r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
    check(r == EINTR && usr2_count == 3, "clock_nanosleep TIMER_ABSTIME interrupted: EINTR");
    timer_delete(t);

    long long target = now_ns(CLOCK_MONOTONIC) + 50 * MS;
    until = to_ts(target);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    check(r == 0 && now_ns(CLOCK_MONOTONIC) >= target, "clock_nanosleep TIMER_ABSTIME sleeps to the time");
    until = to_ts(now_ns(CLOCK_MONOTONIC) - SEC);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    check(r == 0 && now_ns(CLOCK_MONOTONIC) - t0 < 100 * MS, "clock_nanosleep to a past time returns at once");
    req.tv_sec = 0;
    req.tv_nsec = 30 * MS;
    t0 = now_ns(CLOCK_MONOTONIC);
    check(nanosleep(&req, NULL) == 0 && now_ns(CLOCK_MONOTONIC) - t0 >= 30 * MS, "nanosleep sleeps at least the time asked");
    req.tv_nsec = SEC;
    check(nanosleep(&req, NULL) == -1 && errno == EINVAL, "nanosleep refuses tv_nsec >= 1e9");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_alarm();
    test_itimer_real();
    test_itimer_cpu();
    test_posix_signal();
    test_thread_id();
    test_overrun();
    test_timerfd();
    test_sleeps();
    if (failures == 0) printf("timers ok\n");
    return failures == 0 ? 0 : 1;
}
