// Benchmark fixture: fork + exit + wait latency.
// N times (N = argv[1], default 2000): fork(); the child _exit(0)s at once; the parent
// waitpid()s for it. Times the loop with CLOCK_MONOTONIC (after 20 warm-up iterations)
// and prints "ns_per_iter <float>".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int once(void) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child ended with status 0x%x\n", status);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [iterations > 0]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < 20; i++)
        if (once() != 0) return 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (once() != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("ns_per_iter %.2f\n", ns / (double)n);
    return 0;
}
