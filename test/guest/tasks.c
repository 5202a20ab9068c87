// Threads, processes and signals: the semantics busybox sh and multi-threaded C programs rely
// on. One line per check; the same output natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

// 8 threads incrementing a mutex-protected counter 100k times each.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static void *incr(void *arg) {
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

// Condition-variable ping-pong between two threads.
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn, rounds;
static void *pong(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 1) pthread_cond_wait(&cv, &mu);
        turn = 0;
        rounds++;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void *returns_value(void *arg) { return (void *)((intptr_t)arg * 2); }

static sigjmp_buf jump;
static volatile void *fault_addr;
static volatile int fault_code;
static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jump, 1);
}

static volatile int depth;
static int recurse(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    depth++;
    return recurse(n + 1) + pad[0];
}

static volatile int got_usr1;
static void on_usr1(int sig) {
    (void)sig;
    got_usr1++;
    // Clobber SSE state: the interrupted code must not see it.
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm7, %%xmm7" ::: "xmm0", "xmm1", "xmm7");
}

static volatile int reaped;
static void on_chld(int sig) {
    (void)sig;
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) reaped++;
}

static void on_alrm(int sig) { (void)sig; }

// A child process signals us after a delay while we are blocked in read().
static pid_t signal_later(int sig, int ms) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
        kill(parent, sig);
        _exit(0);
    }
    return pid;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "child") == 0) return atoi(argv[2]);

    // Threads.
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, incr, NULL);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    check(counter == 800000, "8 threads x 100k mutex increments");

    pthread_t p;
    pthread_create(&p, NULL, pong, NULL);
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 0) pthread_cond_wait(&cv, &mu);
        turn = 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(p, NULL);
    check(rounds == 2000, "condition variable ping-pong");

    void *ret = NULL;
    pthread_create(&p, NULL, returns_value, (void *)21);
    check(pthread_join(p, &ret) == 0 && (intptr_t)ret == 42, "join returns the thread's value (CLONE_CHILD_CLEARTID)");

    // fork + exec + wait of 200 children.
    int ok = 1;
    for (int i = 0; i < 200 && ok; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char code[8];
            snprintf(code, sizeof code, "%d", i % 100);
            execl("/proc/self/exe", argv[0], "child", code, (char *)NULL);
            _exit(127);
        }
        int status;
        ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == i % 100;
    }
    check(ok, "fork+exec+wait of 200 children");

    // A SIGSEGV handler reads si_addr and siglongjmps out.
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    volatile int *bad = (int *)0x1234;
    if (sigsetjmp(jump, 1) == 0) *bad = 1;
    check(fault_addr == (void *)0x1234 && fault_code == SEGV_MAPERR, "SIGSEGV handler sees si_addr and SEGV_MAPERR");
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(jump, 1) == 0) *ro = 1;
    check(fault_addr == ro && fault_code == SEGV_ACCERR, "write to PROT_READ: SEGV_ACCERR");

    // Stack overflow caught on an alternate stack.
    stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(jump, 1) == 0) recurse(0);
    check(depth > 100, "stack overflow handled on sigaltstack");

    // SIGFPE from integer division by zero.
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGFPE, &sa, NULL);
    volatile int zero = 0, one = 1;
    if (sigsetjmp(jump, 1) == 0) one = one / zero;
    check(fault_code == FPE_INTDIV, "SIGFPE with FPE_INTDIV");

    // FP state survives a handler that clobbers SSE registers.
    signal(SIGUSR1, on_usr1);
    double x = 1.5;
    __asm__ volatile("movsd %0, %%xmm7" ::"m"(x) : "xmm7");
    kill(getpid(), SIGUSR1);
    double y = 0;
    __asm__ volatile("movsd %%xmm7, %0" : "=m"(y));
    check(got_usr1 == 1 && y == 1.5, "SSE registers preserved across a handler");

    // sigtimedwait with a timeout.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct timespec tmo = {0, 50000000};
    check(sigtimedwait(&set, NULL, &tmo) == -1 && errno == EAGAIN, "sigtimedwait times out with EAGAIN");
    kill(getpid(), SIGUSR2);
    siginfo_t si;
    check(sigtimedwait(&set, &si, &tmo) == SIGUSR2 && si.si_pid == getpid(), "sigtimedwait takes a pending signal");

    // read() on a pipe interrupted by a signal: EINTR without SA_RESTART, restarted with it.
    int fds[2];
    pipe(fds);
    struct sigaction alrm = {0};
    alrm.sa_handler = on_alrm;
    sigaction(SIGALRM, &alrm, NULL);
    pid_t k = signal_later(SIGALRM, 50);
    char c;
    errno = 0;
    check(read(fds[0], &c, 1) == -1 && errno == EINTR, "read interrupted without SA_RESTART: EINTR");
    waitpid(k, NULL, 0);
    alrm.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &alrm, NULL);
    k = signal_later(SIGALRM, 50);
    pid_t writer = fork();
    if (writer == 0) {
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        write(fds[1], "z", 1);
        _exit(0);
    }
    check(read(fds[0], &c, 1) == 1 && c == 'z', "read restarted with SA_RESTART");
    waitpid(k, NULL, 0);
    waitpid(writer, NULL, 0);

    // epoll, edge-triggered, on a pipe.
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev);
    struct epoll_event out[2];
    check(epoll_wait(ep, out, 2, 0) == 0, "epoll: nothing ready");
    write(fds[1], "ab", 2);
    check(epoll_wait(ep, out, 2, 1000) == 1 && out[0].data.u32 == 7, "epoll: ready after a write");
    check(epoll_wait(ep, out, 2, 0) == 0, "epoll ET: not reported again without new data");
    write(fds[1], "c", 1);
    check(epoll_wait(ep, out, 2, 0) == 1, "epoll ET: reported after more data");

    // A SIGCHLD handler reaps children.
    signal(SIGCHLD, on_chld);
    for (int i = 0; i < 5; i++)
        if (fork() == 0) _exit(0);
    for (int i = 0; i < 200 && reaped < 5; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    check(reaped == 5, "SIGCHLD handler reaps 5 children");

    // Orphans: a grandchild outlives its parent and is re-parented.
    signal(SIGCHLD, SIG_DFL);
    int pp[2];
    pipe(pp);
    pid_t mid = fork();
    if (mid == 0) {
        if (fork() == 0) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
            char buf[32];
            int n = snprintf(buf, sizeof buf, "%d", (int)getppid());
            write(pp[1], buf, n);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(mid, NULL, 0);
    char buf[32] = {0};
    read(pp[0], buf, sizeof buf - 1);
    check(atoi(buf) != mid, "an orphan is re-parented");

    // Packet-mode pipes (O_DIRECT): a read takes one packet; what does not fit is dropped.
    int pk[2];
    pipe2(pk, O_DIRECT);
    write(pk[1], "hello", 5);
    write(pk[1], "world!", 6);
    char pbuf[16] = {0};
    int n1 = (int)read(pk[0], pbuf, 3);
    int same1 = memcmp(pbuf, "hel", 3) == 0;
    int n2 = (int)read(pk[0], pbuf, sizeof pbuf);
    check(n1 == 3 && same1 && n2 == 6 && memcmp(pbuf, "world!", 6) == 0, "O_DIRECT pipe reads whole packets");

    // Job control: stop, continue, kill, each seen by waitpid.
    pid_t job = fork();
    if (job == 0) {
        for (;;) pause();
    }
    int jst = 0;
    kill(job, SIGSTOP);
    check(waitpid(job, &jst, WUNTRACED) == job && WIFSTOPPED(jst) && WSTOPSIG(jst) == SIGSTOP, "waitpid WUNTRACED sees SIGSTOP");
    kill(job, SIGCONT);
    check(waitpid(job, &jst, WCONTINUED) == job && WIFCONTINUED(jst), "waitpid WCONTINUED sees SIGCONT");
    kill(job, SIGTERM);
    check(waitpid(job, &jst, 0) == job && WIFSIGNALED(jst) && WTERMSIG(jst) == SIGTERM, "waitpid sees the SIGTERM death");
    check(waitpid(job, &jst, WNOHANG) == -1 && errno == ECHILD, "a reaped child is gone: ECHILD");

    return finish("tasks");
}
