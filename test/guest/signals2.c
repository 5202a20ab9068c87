// signals2: the finer points of signals and waits that programs notice.
//  - ppoll, pselect6, epoll_pwait, epoll_pwait2 and rt_sigsuspend with a temporary mask that
//    lets a pending (or arriving) signal through: EINTR at once, the handler runs under the
//    temporary mask, the old mask is back afterwards;
//  - pause and rt_sigsuspend keep waiting across a stop and continue, epoll_wait fails with
//    EINTR (signal(7));
//  - select, pselect6 and ppoll (raw system calls) write the time left back;
//  - several signals unblocked at once are delivered in Linux's order;
//  - PR_SET_PDEATHSIG / PR_GET_PDEATHSIG: cleared by fork, kept by execve, sent when the
//    parent thread dies;
//  - a death by abort() with RLIMIT_CORE 0 reports no core dump;
//  - robust futex cleanup at exit handles list_op_pending;
//  - SA_RESTART versus EINTR for a read interrupted by alarm(); AVX registers survive a
//    handler that clobbers them.
// One line per check; the same output natively and in the sandbox. Exits 0 if all pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static char *self;

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

// Runs fn in a child process so a hang or a crash fails only that group of checks.
static void group(const char *name, void (*fn)(void)) {
    printf("== %s\n", name);
    pid_t c = fork_checks();
    if (c == 0) {
        alarm(20);
        fn();
        exit_checks();
    }
    int st;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) {
        printf("check %s finished: FAILED (killed by signal %d)\n", name, WTERMSIG(st));
        failures++;
    } else if (WEXITSTATUS(st) != 0) {
        failures++;
    }
}

// A child process sends sig to us after ms milliseconds.
static pid_t signal_later(int sig, int ms) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        msleep(ms);
        kill(parent, sig);
        _exit(0);
    }
    return pid;
}

static sigset_t setof(int a, int b) {
    sigset_t s;
    sigemptyset(&s);
    if (a) sigaddset(&s, a);
    if (b) sigaddset(&s, b);
    return s;
}

static sigset_t current_mask(void) {
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    return s;
}

static int is_pending(int sig) {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, sig);
}

// ---- temporary signal masks ----

static volatile int usr1_runs, usr1_saw_usr2_blocked, usr1_saw_usr1_blocked;
static void on_usr1(int sig) {
    (void)sig;
    usr1_runs++;
    sigset_t now = current_mask();
    usr1_saw_usr2_blocked = sigismember(&now, SIGUSR2);
    usr1_saw_usr1_blocked = sigismember(&now, SIGUSR1);
}

enum waiter { W_PSELECT6, W_PPOLL, W_EPOLL_PWAIT, W_EPOLL_PWAIT2, W_SIGSUSPEND };
static const char *waiter_name[] = {"pselect6", "ppoll", "epoll_pwait", "epoll_pwait2", "rt_sigsuspend"};
static int pipe_r, pipe_w, epfd;

// One wait of the given kind on an empty pipe, with the temporary mask tmp (kernel sigset,
// 8 bytes) and a timeout in milliseconds (-1: none).
static long wait_with_mask(enum waiter w, const sigset_t *tmp, int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}, *tsp = ms < 0 ? NULL : &ts;
    switch (w) {
    case W_PSELECT6: {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(pipe_r, &rs);
        struct { const sigset_t *ss; size_t len; } arg = {tmp, 8};
        return syscall(SYS_pselect6, pipe_r + 1, &rs, NULL, NULL, tsp, &arg);
    }
    case W_PPOLL: {
        struct pollfd p = {pipe_r, POLLIN, 0};
        return syscall(SYS_ppoll, &p, 1, tsp, tmp, 8);
    }
    case W_EPOLL_PWAIT: {
        struct epoll_event ev[2];
        return syscall(SYS_epoll_pwait, epfd, ev, 2, ms, tmp, 8);
    }
    case W_EPOLL_PWAIT2: {
        struct epoll_event ev[2];
        return syscall(SYS_epoll_pwait2, epfd, ev, 2, tsp, tmp, 8);
    }
    case W_SIGSUSPEND:
        return syscall(SYS_rt_sigsuspend, tmp, 8);
    }
    return -1;
}

static void t_tempmask(void) {
    int p[2];
    pipe(p);
    pipe_r = p[0];
    pipe_w = p[1];
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(epfd, EPOLL_CTL_ADD, pipe_r, &ev);
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    sigset_t orig = setof(SIGUSR1, 0), tmp = setof(SIGUSR2, 0), still_blocked = setof(SIGUSR1, SIGUSR2);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    char what[160];
    for (enum waiter w = W_PSELECT6; w <= W_SIGSUSPEND; w++) {
        const char *n = waiter_name[w];
        // A signal already pending, unblocked by the temporary mask.
        usr1_runs = usr1_saw_usr1_blocked = usr1_saw_usr2_blocked = 0;
        raise(SIGUSR1);
        errno = 0;
        long r = wait_with_mask(w, &tmp, 2000);
        int e = errno;
        sigset_t after = current_mask();
        snprintf(what, sizeof what, "%s: a pending signal the temporary mask unblocks: EINTR and the handler", n);
        check(r == -1 && e == EINTR && usr1_runs == 1, what);
        snprintf(what, sizeof what, "%s: the handler runs under the temporary mask", n);
        check(usr1_saw_usr2_blocked && usr1_saw_usr1_blocked, what);
        snprintf(what, sizeof what, "%s: the old mask is back afterwards", n);
        check(sigismember(&after, SIGUSR1) && !sigismember(&after, SIGUSR2) && !is_pending(SIGUSR1), what);

        // A signal arriving during the wait.
        usr1_runs = 0;
        pid_t k = signal_later(SIGUSR1, 50);
        errno = 0;
        r = wait_with_mask(w, &tmp, 3000);
        e = errno;
        after = current_mask();
        snprintf(what, sizeof what, "%s: a signal arriving during the wait: EINTR and the handler", n);
        check(r == -1 && e == EINTR && usr1_runs == 1 && sigismember(&after, SIGUSR1), what);
        waitpid(k, NULL, 0);

        if (w == W_SIGSUSPEND) continue;
        // A pending signal that the temporary mask keeps blocked does not interrupt.
        usr1_runs = 0;
        raise(SIGUSR1);
        r = wait_with_mask(w, &still_blocked, 30);
        snprintf(what, sizeof what, "%s: a pending signal the temporary mask blocks: times out", n);
        check(r == 0 && usr1_runs == 0 && is_pending(SIGUSR1), what);
        // ... and is delivered once the original mask unblocks it.
        sigprocmask(SIG_UNBLOCK, &orig, NULL);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        check(usr1_runs == 1, "then delivered when unblocked");
    }
    // Zero timeout: poll and select report the signal (EINTR, handler); epoll reports no
    // events and the signal stays pending under the restored mask.
    sigset_t none = setof(0, 0);
    for (enum waiter w = W_PSELECT6; w <= W_EPOLL_PWAIT2; w++) {
        usr1_runs = 0;
        raise(SIGUSR1);
        errno = 0;
        long r = wait_with_mask(w, &none, 0);
        int e = errno, pending = is_pending(SIGUSR1);
        int is_epoll = w == W_EPOLL_PWAIT || w == W_EPOLL_PWAIT2;
        snprintf(what, sizeof what, "%s with a zero timeout and a pending signal the temporary mask unblocks: %s", waiter_name[w],
                 is_epoll ? "0, still pending" : "EINTR and the handler");
        check(is_epoll ? r == 0 && usr1_runs == 0 && pending : r == -1 && e == EINTR && usr1_runs == 1 && !pending, what);
        sigprocmask(SIG_UNBLOCK, &orig, NULL);
        sigprocmask(SIG_SETMASK, &orig, NULL);
    }
}

// ---- stop and continue ----

static void noop(int sig) { (void)sig; }

// The child blocks in one call; we stop and continue it, then (if it is still blocked)
// interrupt it with a handled signal. It reports 'E' for EINTR, 'R' for anything else.
static void t_stopcont(void) {
    const char *names[] = {"pause", "rt_sigsuspend", "epoll_wait", "read"};
    const int returns_after_continue[] = {0, 0, 1, 0};
    char what[160];
    for (int kind = 0; kind < 4; kind++) {
        int res[2], empty[2];
        pipe2(res, O_NONBLOCK);
        pipe(empty);
        pid_t c = fork();
        if (c == 0) {
            struct sigaction sa = {0};
            sa.sa_handler = noop;
            sigaction(SIGUSR1, &sa, NULL);
            long r = 0;
            if (kind == 0) r = pause();
            if (kind == 1) {
                sigset_t none = setof(0, 0);
                r = sigsuspend(&none);
            }
            if (kind == 2) {
                int ep = epoll_create1(0);
                struct epoll_event ev = {.events = EPOLLIN}, out[1];
                epoll_ctl(ep, EPOLL_CTL_ADD, empty[0], &ev);
                r = epoll_wait(ep, out, 1, 5000);
            }
            if (kind == 3) {
                char ch;
                r = read(empty[0], &ch, 1);
            }
            char ch = r == -1 && errno == EINTR ? 'E' : 'R';
            write(res[1], &ch, 1);
            _exit(0);
        }
        msleep(50);
        int st;
        kill(c, SIGSTOP);
        waitpid(c, &st, WUNTRACED);
        kill(c, SIGCONT);
        msleep(100);
        char ch = 0;
        int early = read(res[0], &ch, 1) == 1;
        if (!early) {
            kill(c, SIGUSR1);
            struct pollfd pf = {res[0], POLLIN, 0};
            poll(&pf, 1, 3000);
            read(res[0], &ch, 1);
        }
        snprintf(what, sizeof what, "%s across a stop and continue: %s", names[kind],
                 returns_after_continue[kind] ? "EINTR at once" : "still waiting, then EINTR for a handler");
        check(early == returns_after_continue[kind] && ch == 'E', what);
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        close(res[0]);
        close(res[1]);
        close(empty[0]);
        close(empty[1]);
    }
}

// ---- the time left, written back ----

// The select system call itself: glibc's select() goes through pselect6.
static int raw_select(int n, fd_set *rs, struct timeval *tv) { return syscall(SYS_select, n, rs, NULL, NULL, tv); }

static void t_timeleft(void) {
    int p[2];
    pipe(p);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 50000};
    int r = raw_select(p[0] + 1, &rs, &tv);
    check(r == 0 && tv.tv_sec == 0 && tv.tv_usec == 0, "select timing out leaves 0 in the timeval");
    write(p[1], "x", 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){5, 0};
    r = raw_select(p[0] + 1, &rs, &tv);
    check(r == 1 && tv.tv_sec == 4, "select ready at once leaves almost all the time");
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){0, 1500000};
    r = raw_select(p[0] + 1, &rs, &tv);
    check(r == 1 && tv.tv_sec * 1000000 + tv.tv_usec > 500000, "select takes a tv_usec over a second as whole seconds");
    tv = (struct timeval){0, 0};
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    r = raw_select(p[0] + 1, &rs, &tv);
    check(r == 1 && tv.tv_sec == 0 && tv.tv_usec == 0, "select with a zero timeout");
    tv = (struct timeval){0, -1};
    errno = 0;
    r = raw_select(p[0] + 1, &rs, &tv);
    check(r == -1 && errno == EINVAL, "select with a negative tv_usec: EINVAL");
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){5, 0};
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    check(r == 1 && tv.tv_sec == 4, "glibc's select too");

    // The raw pselect6 and ppoll update their timespec too (glibc's wrappers hide it).
    char c;
    read(p[0], &c, 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timespec ts = {0, 50000000};
    r = syscall(SYS_pselect6, p[0] + 1, &rs, NULL, NULL, &ts, NULL);
    check(r == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0, "pselect6 timing out leaves 0 in the timespec");
    write(p[1], "x", 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    ts = (struct timespec){5, 0};
    r = syscall(SYS_pselect6, p[0] + 1, &rs, NULL, NULL, &ts, NULL);
    check(r == 1 && ts.tv_sec == 4, "pselect6 ready at once leaves almost all the time");
    struct pollfd pf = {p[0], POLLIN, 0};
    ts = (struct timespec){5, 0};
    r = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
    check(r == 1 && ts.tv_sec == 4, "ppoll ready at once leaves almost all the time");
    read(p[0], &c, 1);
    ts = (struct timespec){0, 50000000};
    r = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
    check(r == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0, "ppoll timing out leaves 0 in the timespec");
    // Interrupted: the time left is less than the timeout, more than nothing.
    signal(SIGUSR1, on_usr1);
    pid_t k = signal_later(SIGUSR1, 50);
    ts = (struct timespec){5, 0};
    r = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
    check(r == -1 && errno == EINTR && ts.tv_sec >= 3 && ts.tv_sec <= 4, "ppoll interrupted: the time left is written back");
    waitpid(k, NULL, 0);
}

// ---- delivery order ----

static volatile int order[32], norder;
static void record(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (norder < 32) order[norder++] = sig * 100 + (sig >= SIGRTMIN ? si->si_value.sival_int : 0);
}

static void print_order(const char *what, const char *want) {
    char got[256] = {0};
    int n = 0;
    for (int i = 0; i < norder; i++) n += snprintf(got + n, sizeof got - n, "%s%d", i ? " " : "", order[i]);
    printf("%s: %s\n", what, got);
    char label[160];
    snprintf(label, sizeof label, "%s as on Linux", what);
    check(strcmp(got, want) == 0, label);
}

static void queue(int sig, int value) {
    union sigval v = {.sival_int = value};
    sigqueue(getpid(), sig, v);
}

static void tqueue(int sig, int value) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = value;
    syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), sig, &si);
}

static void t_order(void) {
    const int sigs[] = {SIGHUP, SIGINT, SIGUSR1, SIGSEGV, SIGUSR2, SIGALRM, SIGTERM, SIGRTMIN, SIGRTMIN + 1};
    sigset_t all;
    sigemptyset(&all);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&all, sigs[i]);

    // Handlers that block nothing extra: frames stack, the last one set up runs first.
    struct sigaction sa = {0};
    sa.sa_sigaction = record;
    sa.sa_flags = SA_SIGINFO;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    sigprocmask(SIG_BLOCK, &all, NULL);
    queue(SIGRTMIN + 1, 1);
    queue(SIGRTMIN + 1, 2);
    queue(SIGRTMIN, 3);
    queue(SIGRTMIN, 4);
    queue(SIGUSR1, 0);
    queue(SIGUSR1, 0);
    norder = 0;
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    print_order("process-directed, nesting handlers", "3501 3502 3403 3404 1000");

    // Handlers that block every signal: one at a time, in the order they are taken.
    sigfillset(&sa.sa_mask);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    sigprocmask(SIG_BLOCK, &all, NULL);
    queue(SIGRTMIN + 1, 1);
    queue(SIGRTMIN, 2);
    queue(SIGRTMIN + 1, 3);
    kill(getpid(), SIGTERM);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGSEGV);
    raise(SIGUSR2);
    raise(SIGALRM);
    tqueue(SIGRTMIN, 9);
    kill(getpid(), SIGHUP);
    raise(SIGINT);
    norder = 0;
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    print_order("mixed, one handler at a time", "200 1200 1400 3409 1100 100 1000 1500 3402 3501 3503");

    // The same with nesting handlers.
    sigemptyset(&sa.sa_mask);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    sigprocmask(SIG_BLOCK, &all, NULL);
    queue(SIGRTMIN + 1, 1);
    queue(SIGRTMIN, 2);
    kill(getpid(), SIGTERM);
    kill(getpid(), SIGSEGV);
    raise(SIGUSR2);
    kill(getpid(), SIGHUP);
    raise(SIGINT);
    norder = 0;
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    print_order("mixed, nesting handlers", "3501 3402 1500 100 1100 1200 200");
}

// ---- parent-death signal ----

static void t_pdeathsig(void) {
    int v = -1;
    check(prctl(PR_GET_PDEATHSIG, &v) == 0 && v == 0, "PR_GET_PDEATHSIG starts at 0");
    check(prctl(PR_SET_PDEATHSIG, SIGUSR2) == 0 && prctl(PR_GET_PDEATHSIG, &v) == 0 && v == SIGUSR2, "PR_SET_PDEATHSIG then GET");
    check(prctl(PR_SET_PDEATHSIG, 65) == -1 && errno == EINVAL, "PR_SET_PDEATHSIG with a bad signal: EINVAL");
    pid_t c = fork();
    if (c == 0) {
        int w = -1;
        prctl(PR_GET_PDEATHSIG, &w);
        _exit(w);
    }
    int st;
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork clears the parent-death signal in the child");
    c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGUSR2);
        execl(self, self, "get-pdeathsig", (char *)NULL);
        _exit(127);
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == SIGUSR2, "execve keeps the parent-death signal");
    prctl(PR_SET_PDEATHSIG, 0);

    // The parent process dies: the child gets its signal, sent by the dying parent.
    int pp[2];
    pipe(pp);
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            sigset_t s = setof(SIGUSR1, 0);
            sigprocmask(SIG_BLOCK, &s, NULL);
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            write(pp[1], "r", 1);
            struct timespec to = {5, 0};
            siginfo_t si;
            int got = sigtimedwait(&s, &si, &to);
            char res[64];
            int n = snprintf(res, sizeof res, "%d %d %d", got, si.si_code, got > 0 ? si.si_pid : 0);
            write(pp[1], res, n);
            _exit(0);
        }
        char ch;
        read(pp[0], &ch, 1);
        _exit(0);
    }
    waitpid(mid, NULL, 0);
    char buf[64] = {0};
    int n = read(pp[0], buf, sizeof buf - 1); // mid took the "r"
    buf[n > 0 ? n : 0] = 0;
    char want[64];
    snprintf(want, sizeof want, "%d %d %d", SIGUSR1, SI_USER, mid);
    check(strcmp(buf, want) == 0, "the parent process exits: the child gets its parent-death signal from it");
    close(pp[0]);
    close(pp[1]);
}

// A thread forks a child that sets a parent-death signal; the thread ends, the process lives.
static int thr_pipe[2];
static pid_t thr_child;
static void *forking_thread(void *arg) {
    (void)arg;
    thr_child = fork();
    if (thr_child == 0) {
        sigset_t s = setof(SIGUSR1, 0);
        sigprocmask(SIG_BLOCK, &s, NULL);
        prctl(PR_SET_PDEATHSIG, SIGUSR1);
        write(thr_pipe[1], "r", 1);
        struct timespec to = {5, 0};
        int got = sigtimedwait(&s, NULL, &to);
        char c = got == SIGUSR1 ? 'y' : 'n';
        write(thr_pipe[1], &c, 1);
        _exit(0);
    }
    char c;
    read(thr_pipe[0], &c, 1);
    return NULL;
}

static void t_pdeathsig_thread(void) {
    pipe(thr_pipe);
    pthread_t th;
    pthread_create(&th, NULL, forking_thread, NULL);
    pthread_join(th, NULL);
    char c = 0;
    read(thr_pipe[0], &c, 1);
    check(c == 'y', "the parent thread exits (its process lives on): the child gets its parent-death signal");
    int st;
    check(waitpid(thr_child, &st, 0) == thr_child && WIFEXITED(st), "and the child is still ours to reap");
}

// ---- no core dump reported ----

static void t_core(void) {
    int st;
    siginfo_t si;
    pid_t c = fork();
    if (c == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        prctl(PR_SET_DUMPABLE, 0);
        abort();
    }
    waitpid(c, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !WCOREDUMP(st), "abort with RLIMIT_CORE 0: SIGABRT without the core flag");
    c = fork();
    if (c == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        prctl(PR_SET_DUMPABLE, 0);
        volatile int *volatile bad = (int *)8;
        *bad = 1;
        _exit(0);
    }
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED);
    check(si.si_code == CLD_KILLED && si.si_status == SIGSEGV, "a SIGSEGV death without a core: waitid says CLD_KILLED");
}

// ---- robust futexes: list_op_pending ----

struct robust_head { void *next; long offset; void *pending; };
struct robust_entry { void *next; int pad; int word; };

static void t_robust(void) {
    struct shared { struct robust_head head; struct robust_entry a, b, c; } *sh =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const long off = offsetof(struct robust_entry, word);

    // A lock being taken (only in list_op_pending) by a thread that dies: OWNER_DIED.
    pid_t c = fork();
    if (c == 0) {
        sh->head = (struct robust_head){&sh->head, off, &sh->a};
        sh->a.word = gettid();
        syscall(SYS_set_robust_list, &sh->head, sizeof sh->head);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    check((unsigned)sh->a.word == FUTEX_OWNER_DIED, "a pending lock of a dead owner gets FUTEX_OWNER_DIED");

    // Pending with no owner (the owner was releasing it): the value stays, a waiter is woken.
    sh->b.word = 0;
    pid_t waiter = fork();
    if (waiter == 0) {
        struct timespec to = {3, 0};
        long r = syscall(SYS_futex, &sh->b.word, FUTEX_WAIT, 0, &to, NULL, 0);
        _exit(r == 0 ? 0 : 1);
    }
    msleep(100);
    c = fork();
    if (c == 0) {
        sh->head = (struct robust_head){&sh->head, off, &sh->b};
        syscall(SYS_set_robust_list, &sh->head, sizeof sh->head);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    int st;
    waitpid(waiter, &st, 0);
    check(sh->b.word == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a pending lock without owner: unchanged, a waiter woken");

    // On the list and pending at once: handled (once).
    c = fork();
    if (c == 0) {
        sh->c.next = &sh->head;
        sh->c.word = gettid() | FUTEX_WAITERS;
        sh->head = (struct robust_head){&sh->c, off, &sh->c};
        syscall(SYS_set_robust_list, &sh->head, sizeof sh->head);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    check((unsigned)sh->c.word == (FUTEX_OWNER_DIED | FUTEX_WAITERS), "a lock both listed and pending gets FUTEX_OWNER_DIED");
}

// ---- SA_RESTART with alarm(), AVX across a handler ----

static void on_alrm(int sig) { (void)sig; }

static void t_alarm_restart(void) {
    int p[2];
    pipe(p);
    struct sigaction sa = {0};
    sa.sa_handler = on_alrm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    char c;
    errno = 0;
    check(read(p[0], &c, 1) == -1 && errno == EINTR, "read interrupted by alarm() without SA_RESTART: EINTR");
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pid_t writer = fork();
    if (writer == 0) {
        msleep(1400);
        write(p[1], "z", 1);
        _exit(0);
    }
    alarm(1);
    errno = 0;
    check(read(p[0], &c, 1) == 1 && c == 'z', "read interrupted by alarm() with SA_RESTART: restarted");
    waitpid(writer, NULL, 0);
}

static volatile int avx_handler_runs;
static const float seven = 7.0f;
static void clobber_avx(int sig) {
    (void)sig;
    avx_handler_runs++;
    // AVX (not AVX2) instructions only.
    __asm__ volatile("vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
                     "vbroadcastss %0, %%ymm7\n\t"
                     "vxorps %%ymm15, %%ymm15, %%ymm15" ::"m"(seven) : "xmm0", "xmm7", "xmm15");
}

static void t_avx(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx")) {
        printf("skip AVX: the CPU has no AVX\n");
        return;
    }
    signal(SIGUSR1, clobber_avx);
    static double in[4] = {1.5, 2.5, 3.5, 4.5}, in7[4] = {-1, -2, -3, -4}, o0[4], o7[4], o15[4];
    long nr = SYS_kill;
    // kill(getpid(), SIGUSR1) straight from asm: the handler runs on the way back from it,
    // with nothing the compiler could save or restore in between.
    __asm__ volatile("vmovupd %4, %%ymm0\n\t"
                     "vmovupd %5, %%ymm7\n\t"
                     "vmovupd %4, %%ymm15\n\t"
                     "syscall\n\t"
                     "vmovupd %%ymm0, %0\n\t"
                     "vmovupd %%ymm7, %1\n\t"
                     "vmovupd %%ymm15, %2"
                     : "=m"(o0), "=m"(o7), "=m"(o15), "+a"(nr)
                     : "m"(in), "m"(in7), "D"((long)getpid()), "S"((long)SIGUSR1)
                     : "rcx", "r11", "xmm0", "xmm7", "xmm15", "memory");
    check(nr == 0 && avx_handler_runs == 1, "the AVX-clobbering handler ran");
    check(memcmp(o0, in, sizeof in) == 0 && memcmp(o15, in, sizeof in) == 0 && memcmp(o7, in7, sizeof in7) == 0,
          "AVX ymm registers (upper halves too) preserved across a handler");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    self = "/proc/self/exe";
    if (argc > 1 && strcmp(argv[1], "get-pdeathsig") == 0) {
        int v = -1;
        prctl(PR_GET_PDEATHSIG, &v);
        return v;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
#define GROUP(n) if (!only || strcmp(only, #n) == 0) group(#n, t_##n)
    GROUP(tempmask);
    GROUP(stopcont);
    GROUP(timeleft);
    GROUP(order);
    GROUP(pdeathsig);
    GROUP(pdeathsig_thread);
    GROUP(core);
    GROUP(robust);
    GROUP(alarm_restart);
    GROUP(avx);
    return finish("signals2");
}
