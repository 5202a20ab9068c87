// Benchmark fixture: cost of one trivial system call.
// Calls getppid through raw syscall(SYS_getppid) N times (N = argv[1], default 200000),
// timing the loop with CLOCK_MONOTONIC, and prints "ns_per_call <float>".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = 200000;
    if (argc > 1) {
        n = strtol(argv[1], NULL, 10);
        if (n <= 0) {
            fprintf(stderr, "usage: %s [iterations > 0]\n", argv[0]);
            return 2;
        }
    }
    // Warm up: fault in the code and stack pages, let the platform settle.
    for (int i = 0; i < 1000; i++) syscall(SYS_getppid);

    struct timespec t0, t1;
    volatile long sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) sink += syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("ns_per_call %.2f\n", ns / (double)n);
    return sink == -1 ? 1 : 0;
}
