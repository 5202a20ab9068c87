// fork: process creation and reaping -- fork, exit status, death by signal, wait4,
// MAP_SHARED vs MAP_PRIVATE after fork, a pipe between parent and child, and execve of
// this same program (argv[0] must be an absolute path). Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        // Second life after execve: same pid as before, fresh image.
        printf("exec child: pid-matches=%s\n", atoi(argv[2]) == getpid() ? "yes" : "no");
        return 5;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t self = getpid();
    int status;

    // Exit status.
    pid_t c = fork();
    if (c == 0) _exit(getppid() == self ? 3 : 4);
    check(c > 0 && waitpid(c, &status, 0) == c, "fork + waitpid");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "child exit status 3, getppid ok");

    // Death by signal.
    c = fork();
    if (c == 0) {
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    check(waitpid(c, &status, 0) == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "child killed by SIGKILL");

    // Shared vs private memory.
    char *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static int data_var = 10; // .data is private too
    shared[0] = 's';
    priv[0] = 'p';
    c = fork();
    if (c == 0) {
        shared[0] = 'S';
        priv[0] = 'P';
        data_var = 20;
        _exit(0);
    }
    check(waitpid(c, &status, 0) == c && WIFEXITED(status), "memory child exits");
    check(shared[0] == 'S', "child's write to MAP_SHARED is visible");
    check(priv[0] == 'p' && data_var == 10, "child's writes to private memory are not");

    // Pipe: child writes, parent reads to EOF.
    int fds[2];
    check(pipe(fds) == 0, "pipe");
    c = fork();
    if (c == 0) {
        close(fds[0]);
        const char msg[] = "through the pipe";
        _exit(write(fds[1], msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1);
    }
    close(fds[1]);
    char buf[64] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    close(fds[0]);
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "pipe child exits 0");
    printf("pipe read: %s\n", buf);
    check(strcmp(buf, "through the pipe") == 0, "parent reads the child's message");

    // No more children.
    errno = 0;
    check(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD, "no children left -> ECHILD");

    // execve in a child.
    c = fork();
    if (c == 0) {
        char pidbuf[16];
        snprintf(pidbuf, sizeof pidbuf, "%d", getpid());
        char *args[] = {argv[0], "exec-child", pidbuf, NULL};
        execve(argv[0], args, (char *[]){NULL});
        _exit(127);
    }
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 5,
          "execve child exits 5");

    return finish("fork");
}
