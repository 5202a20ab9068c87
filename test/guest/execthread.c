// execthread: execve from a thread other than the main one. Linux ends every other thread
// (their CLONE_CHILD_CLEARTID words are cleared and woken), reaps the old main thread
// silently (no status, no SIGCHLD for it) and gives the exec'ing thread the process's pid
// as its tid: in the new image gettid() == getpid() == what the parent's fork returned,
// /proc/self/status says Threads: 1, /proc/self/task has one entry, the exec'ing thread's
// old tid is gone, and the parent's waitpid on that pid gets the new image's exit status.
// Done three ways: execve from a pthread of a forked child, execveat(AT_EMPTY_PATH) the
// same way, and execve from a raw thread of a vfork (CLONE_VM|CLONE_VFORK) child, whose
// parent must resume at the exec. The new image learns the pid the parent got through a
// pipe. Output does not depend on timing; a hang is caught by an alarm. Exits 0 on success.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#define EXIT_CODE 42
#define STACK_SIZE (64 * 1024)
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

enum mode { VIA_EXECVE, VIA_EXECVEAT, VIA_VFORK, MODES };
static const char *const mode_names[MODES] = {"execve from a pthread", "execveat from a pthread",
                                              "execve from a thread of a vfork child"};

// Shared with the parent: the old main thread's and a raw thread's clear-child-tid words.
struct shared {
    volatile int leader_ctid;
    volatile int raw_ctid;
    volatile int started;
};
static struct shared *sh;

static char stacks[4][STACK_SIZE] __attribute__((aligned(16)));
static char *exec_argv[6];
static char arg_fd[16], arg_ppid[16], arg_mode[16], arg_oldtid[16];
static int exec_fd = -1;
static enum mode mode;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

// Formats n without the C library (raw threads share the blocked vfork parent's TLS).
static void utoa(char *buf, unsigned n) {
    char tmp[16];
    int i = 0;
    do tmp[i++] = (char)('0' + n % 10); while ((n /= 10) != 0);
    while (i > 0) *buf++ = tmp[--i];
    *buf = 0;
}

static void exec_self(void) {
    utoa(arg_oldtid, (unsigned)syscall(SYS_gettid));
    while (sh->started < 2) syscall(SYS_sched_yield);
    if (mode == VIA_EXECVEAT)
        syscall(SYS_execveat, exec_fd, "", exec_argv, environ, AT_EMPTY_PATH);
    else
        syscall(SYS_execve, "/proc/self/exe", exec_argv, environ);
    syscall(SYS_exit_group, 99);
}

static int raw_sleeper(void *arg) {
    (void)arg;
    __atomic_fetch_add(&sh->started, 1, __ATOMIC_SEQ_CST);
    for (;;) syscall(SYS_pause);
    return 0;
}

static int raw_execer(void *arg) {
    (void)arg;
    exec_self();
    return 0;
}

static void *cond_sleeper(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mutex);
    __atomic_fetch_add(&sh->started, 1, __ATOMIC_SEQ_CST);
    for (;;) pthread_cond_wait(&cond, &mutex);
    return NULL;
}

static void *pthread_execer(void *arg) {
    (void)arg;
    exec_self();
    return NULL;
}

// The child's main thread: its clear-child-tid word is in the shared page; it starts a raw
// thread (clear-child-tid word shared too), a sleeper, and the thread that execs.
static void start_threads(int raw_only) {
    sh->leader_ctid = (int)syscall(SYS_getpid);
    syscall(SYS_set_tid_address, &sh->leader_ctid);
    if (clone(raw_sleeper, stacks[1] + STACK_SIZE, THREAD_FLAGS | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID, NULL,
              NULL, NULL, &sh->raw_ctid) < 0)
        syscall(SYS_exit_group, 98);
    if (raw_only) {
        clone(raw_sleeper, stacks[2] + STACK_SIZE, THREAD_FLAGS, NULL);
        clone(raw_execer, stacks[3] + STACK_SIZE, THREAD_FLAGS, NULL);
    } else {
        pthread_t a, b;
        pthread_create(&a, NULL, cond_sleeper, NULL);
        pthread_create(&b, NULL, pthread_execer, NULL);
    }
    for (;;) syscall(SYS_pause);
}

static int vfork_child(void *arg) {
    (void)arg;
    start_threads(1);
    return 0;
}

static int sigchld_count;
static void on_sigchld(int sig) {
    (void)sig;
    sigchld_count++;
}

static void run(enum mode m) {
    printf("-- %s\n", mode_names[m]);
    mode = m;
    memset((void *)sh, 0, sizeof *sh);
    sigchld_count = 0;
    int fds[2];
    if (pipe(fds) < 0) { perror("pipe"); exit(1); }
    utoa(arg_fd, (unsigned)fds[0]);
    utoa(arg_ppid, (unsigned)getpid());
    utoa(arg_mode, (unsigned)m);
    exec_argv[0] = "execthread";
    exec_argv[1] = "after";
    exec_argv[2] = arg_fd;
    exec_argv[3] = arg_ppid;
    exec_argv[4] = arg_mode;
    exec_argv[5] = arg_oldtid;
    if (m == VIA_EXECVEAT) exec_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    fflush(stdout);

    pid_t pid;
    if (m == VIA_VFORK) {
        // Returns once the child has exec'd (or ended).
        pid = clone(vfork_child, stacks[0] + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    } else {
        pid = fork();
        if (pid == 0) start_threads(0);
    }
    check(pid > 0, "the child starts");
    if (pid <= 0) exit(1);
    // The new image reads the pid we got and compares it with its own.
    check(write(fds[1], &pid, sizeof pid) == sizeof pid, "pid sent to the new image");
    close(fds[0]);
    close(fds[1]);
    if (exec_fd >= 0) close(exec_fd);
    exec_fd = -1;

    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    check(w == pid, "waitpid on the pid fork returned gets the child");
    check(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CODE, "the new image's exit status");
    check(sh->leader_ctid == 0, "the old main thread's clear-child-tid word was cleared");
    check(sh->raw_ctid == 0, "the killed thread's clear-child-tid word was cleared");
    check(sigchld_count == 1, "one SIGCHLD (none for the old main thread)");
    errno = 0;
    check(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD, "nothing else to wait for");
}

// The new image, run by the thread that called execve.
static int after_exec(char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = atoi(argv[2]);
    pid_t parent = atoi(argv[3]);
    pid_t old_tid = atoi(argv[5]);
    pid_t expected = -1;
    pid_t pid = getpid();
    check(read(fd, &expected, sizeof expected) == sizeof expected, "read the pid the parent got");
    check(pid == expected, "getpid() == what the parent's fork returned");
    check(gettid() == pid, "gettid() == getpid()");
    check(getppid() == parent, "getppid() is still the parent");
    check(old_tid != pid, "the exec'ing thread was not the main thread");

    FILE *f = fopen("/proc/self/status", "r");
    check(f != NULL, "fopen /proc/self/status");
    int threads = -1, status_pid = -1, tgid = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "Threads: %d", &threads);
        sscanf(line, "Pid: %d", &status_pid);
        sscanf(line, "Tgid: %d", &tgid);
    }
    if (f) fclose(f);
    check(threads == 1, "/proc/self/status: Threads: 1");
    check(status_pid == pid && tgid == pid, "/proc/self/status: Pid and Tgid are the pid");

    int entries = 0, named_pid = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        entries++;
        if (atoi(e->d_name) == pid) named_pid++;
    }
    if (d) closedir(d);
    check(entries == 1 && named_pid == 1, "/proc/self/task has one entry, the pid");

    char path[64], link[64] = {0}, want[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", pid);
    check(access(path, R_OK) == 0, "/proc/self/task/<pid>/stat readable");
    check(readlink("/proc/self", link, sizeof link - 1) > 0 && atoi(link) == pid, "/proc/self names the pid");
    memset(link, 0, sizeof link);
    snprintf(want, sizeof want, "%d/task/%d", pid, pid);
    check(readlink("/proc/thread-self", link, sizeof link - 1) > 0 && strcmp(link, want) == 0,
          "/proc/thread-self is <pid>/task/<pid>");
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", old_tid);
    errno = 0;
    check(stat(path, &st) == -1 && errno == ENOENT, "/proc/<old tid> is gone");
    errno = 0;
    check(syscall(SYS_tgkill, pid, old_tid, 0) == -1 && errno == ESRCH, "tgkill to the old tid: ESRCH");
    return failures ? 1 : EXIT_CODE;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "after") == 0) return after_exec(argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(20);
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) { perror("mmap"); return 1; }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (int m = 0; m < MODES; m++) run((enum mode)m);
    return finish_as("execthread: %d checks FAILED\n", "execthread ok");
}
