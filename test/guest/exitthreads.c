// exitthreads: a process ends (exit_group from the main thread or from another thread,
// exit() with its atexit work, a fatal signal, SIGKILL from its parent, the main thread
// leaving first, or an execve, raced by two threads, that must end all the others first)
// while its other threads are blocked in every way we know of: a condition
// variable (futex), nanosleep, read and poll on a pipe, epoll_wait, sigwaitinfo, a POSIX
// lock held by another process, a busy loop in user space, sched_yield, and a thread that
// keeps creating threads, so that some are being created at the moment of the exit. Linux
// kills every thread at once and the parent's waitpid returns; a hang is caught by an
// alarm. Output does not depend on timing. Exits 0 on success.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITERATIONS 49
#define WATCHDOG_SECONDS 10

enum how { MAIN_EXIT_GROUP, MAIN_EXIT, THREAD_EXIT_GROUP, FATAL_SIGNAL, KILLED_BY_PARENT, MAIN_LEAVES_FIRST, EXECVE, HOWS };
static const char *const how_names[HOWS] = {
    "_exit from the main thread", "exit() from main", "_exit from another thread",
    "a fatal signal", "SIGKILL from the parent", "pthread_exit of main, then _exit",
    "execve from two threads at once"};

static int pipe_fds[2];
static int lock_fd = -1;
static volatile int spin_sink;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct { int how, delay_us, code; } plan;

static void *on_cond(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mutex);
    for (;;) pthread_cond_wait(&cond, &mutex);
    return NULL;
}

static void *on_sleep(void *arg) {
    (void)arg;
    for (;;) sleep(100);
    return NULL;
}

static void *on_read(void *arg) {
    (void)arg;
    char c;
    for (;;) read(pipe_fds[0], &c, 1);
    return NULL;
}

static void *on_poll(void *arg) {
    (void)arg;
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    for (;;) poll(&p, 1, -1);
    return NULL;
}

static void *on_epoll(void *arg) {
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &ev);
    for (;;) epoll_wait(ep, &ev, 1, -1);
    return NULL;
}

static void *on_sigwait(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    for (;;) sigwaitinfo(&s, NULL);
    return NULL;
}

static void *on_lock(void *arg) {
    (void)arg;
    // The parent holds a write lock on the file for as long as the child lives.
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    for (;;) fcntl(lock_fd, F_SETLKW, &fl);
    return NULL;
}

static void *on_spin(void *arg) {
    (void)arg;
    for (unsigned i = 0;; i++) spin_sink = i;
    return NULL;
}

static void *on_yield(void *arg) {
    (void)arg;
    for (;;) sched_yield();
    return NULL;
}

/// Creates threads as fast as it can (each sleeps), so that the exit finds some of them
/// half-made.
static void *on_create(void *arg) {
    (void)arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    for (int i = 0; i < 24; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, on_sleep, NULL) != 0) break;
    }
    for (;;) pause();
    return NULL;
}

static void pause_us(int us) {
    if (us > 0) usleep(us);
}

/// Ends the process from a thread other than the main one.
static void *exiter(void *arg) {
    (void)arg;
    pause_us(plan.delay_us);
    if (plan.how == FATAL_SIGNAL) kill(getpid(), SIGTERM);
    if (plan.how == EXECVE) {
        // The new image exits with the code at once; only one of the racing threads gets
        // there, the other is ended by its execve.
        char code[16];
        snprintf(code, sizeof code, "%d", plan.code);
        execl("/proc/self/exe", "exitthreads", "exit-with", code, (char *)NULL);
        _exit(103);
    }
    _exit(plan.code);
    return NULL;
}

static void at_exit_message(void) {
    // exit() runs this; its output goes through stdio, flushed by exit itself.
    printf("at_exit in child\n");
}

static void child(void) {
    static void *(*const blockers[])(void *) = {on_cond, on_sleep, on_read, on_poll, on_epoll, on_sigwait,
                                                on_lock, on_spin, on_yield, on_create};
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    for (size_t i = 0; i < sizeof blockers / sizeof blockers[0]; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, blockers[i], NULL) != 0) _exit(100);
    }
    pthread_t t;
    switch (plan.how) {
    case MAIN_EXIT_GROUP:
        pause_us(plan.delay_us);
        _exit(plan.code);
    case MAIN_EXIT:
        pause_us(plan.delay_us);
        atexit(at_exit_message);
        exit(plan.code);
    case EXECVE:
        if (pthread_create(&t, &attr, exiter, NULL) != 0) _exit(100);
        __attribute__((fallthrough)); // a second thread races the first
    case THREAD_EXIT_GROUP:
    case FATAL_SIGNAL:
        if (pthread_create(&t, &attr, exiter, NULL) != 0) _exit(100);
        pthread_join(t, NULL); // blocks in a futex wait until the end
        _exit(101);
    case KILLED_BY_PARENT:
        for (;;) pause();
    case MAIN_LEAVES_FIRST:
        if (pthread_create(&t, &attr, exiter, NULL) != 0) _exit(100);
        pthread_exit(NULL);
    }
    _exit(102);
}

static volatile sig_atomic_t alarms;
static volatile pid_t current_child;
static volatile int current_iteration;

static void on_alarm(int sig) {
    (void)sig;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "iteration %d (%s): the child did not end within %d s\n", current_iteration,
                     how_names[current_iteration % HOWS], WATCHDOG_SECONDS);
    write(1, msg, n);
    if (++alarms > 1) _exit(3); // not even SIGKILL ended it
    kill(current_child, SIGKILL);
    alarm(WATCHDOG_SECONDS);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exit-with") == 0) return atoi(argv[2]);
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm}; // no SA_RESTART: waitpid returns EINTR
    sigaction(SIGALRM, &sa, NULL);
    if (pipe(pipe_fds) != 0) return 1;

    char path[] = "/tmp/exitthreads-XXXXXX";
    lock_fd = mkstemp(path);
    if (lock_fd < 0) return 1;
    unlink(path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fcntl(lock_fd, F_SETLK, &fl) != 0) return 1;

    static const int delays_us[] = {0, 200, 3000};
    int good[HOWS] = {0}, runs[HOWS] = {0}, failures = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        plan.how = i % HOWS;
        plan.delay_us = delays_us[(i / HOWS) % 3];
        plan.code = 10 + i;
        current_iteration = i;
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) child();
        current_child = pid;
        alarm(WATCHDOG_SECONDS);
        if (plan.how == KILLED_BY_PARENT) {
            pause_us(plan.delay_us);
            kill(pid, SIGKILL);
        }
        int status = 0;
        pid_t r;
        while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
        }
        alarm(0);
        runs[plan.how]++;
        int ok;
        switch (plan.how) {
        case FATAL_SIGNAL:
            ok = r == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
            break;
        case KILLED_BY_PARENT:
            ok = r == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
            break;
        default:
            ok = r == pid && WIFEXITED(status) && WEXITSTATUS(status) == plan.code;
        }
        if (ok && alarms == 0) {
            good[plan.how]++;
        } else {
            failures++;
            printf("iteration %d (%s, %d us): waitpid=%d status=0x%x\n", i, how_names[plan.how], plan.delay_us, r, status);
        }
        alarms = 0;
    }
    for (int h = 0; h < HOWS; h++) printf("%s: %d/%d ended as expected\n", how_names[h], good[h], runs[h]);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("exitthreads ok\n");
    return 0;
}
