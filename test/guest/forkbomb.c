// forkbomb: RLIMIT_NPROC stops a fork bomb. Run as root: a child sets RLIMIT_NPROC to 20,
// drops to uid 65534 and forks sleepers until fork fails with EAGAIN (at most 25 forks;
// the exact count depends on how many processes uid 65534 already has), then kills and
// reaps them all. Prints one line per check and "forkbomb ok" last; the output is the same
// natively and in the sandbox. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#define LIMIT 20
#define MAX_FORKS 25
#define GIVE_UP 100

// The bomb itself; its exit status reports what happened (0 = as expected).
static int bomb(void) {
    struct rlimit rl = {LIMIT, LIMIT};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0) return 10;
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0) return 11;
    if (setresuid(65534, 65534, 65534) != 0) return 12;

    pid_t kids[GIVE_UP];
    int n = 0, err = 0;
    while (n < GIVE_UP) {
        pid_t c = fork();
        if (c < 0) {
            err = errno;
            break;
        }
        if (c == 0) {
            alarm(60); // never outlive a broken test
            for (;;) pause();
        }
        kids[n++] = c;
    }
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    int reaped = 0;
    for (int i = 0; i < n; i++) {
        int status;
        if (waitpid(kids[i], &status, 0) == kids[i] && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) reaped++;
    }
    fprintf(stderr, "forkbomb: %d forks, then %s\n", n, n < GIVE_UP ? strerrorname_np(err) : "gave up");
    if (err != EAGAIN) return 13;
    if (n < 1 || n > MAX_FORKS) return 14;
    if (reaped != n) return 15;
    // With every sleeper reaped there is room again.
    pid_t c = fork();
    if (c < 0) return 16;
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("forkbomb: run me as root\n");
        return 2;
    }
    pid_t c = fork();
    if (c == 0) _exit(bomb());
    int status = 0;
    check(c > 0 && waitpid(c, &status, 0) == c, "fork + waitpid of the bomb");
    check(WIFEXITED(status), "the bomb exited normally");
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    check(code != 10 && code != 11 && code != 12, "setrlimit(RLIMIT_NPROC, 20) and the drop to uid 65534");
    check(code != 13, "fork fails with EAGAIN");
    check(code != 14, "at most 25 forks before EAGAIN");
    check(code != 15, "every child killed and reaped");
    check(code != 16, "fork works again after reaping");
    check(code == 0, "bomb status 0");
    // Root is not limited by RLIMIT_NPROC.
    struct rlimit rl = {1, 1};
    setrlimit(RLIMIT_NPROC, &rl);
    c = fork();
    if (c == 0) _exit(0);
    check(c > 0 && waitpid(c, NULL, 0) == c, "root forks past RLIMIT_NPROC");
    return finish_as("forkbomb: %d checks FAILED\n", "forkbomb ok");
}
