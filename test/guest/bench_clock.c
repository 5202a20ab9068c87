// Benchmark fixture: cost of clock_gettime(CLOCK_MONOTONIC) through glibc, i.e. through
// the vDSO when the kernel (or the sandbox) provides one, else a real system call.
// N calls (N = argv[1], default 1000000) after 1000 warm-up ones; prints
// "ns_per_call <float>".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "check.h"

int main(int argc, char **argv) {
    long n = count_arg(argc, argv, 1000000, "[iterations > 0]");
    struct timespec ts, t0, t1;
    volatile long sink = 0;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sink += ts.tv_nsec;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sink += ts.tv_nsec;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec < t0.tv_sec || (t1.tv_sec == t0.tv_sec && t1.tv_nsec < t0.tv_nsec)) {
        fprintf(stderr, "CLOCK_MONOTONIC went backwards\n");
        return 1;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("ns_per_call %.2f\n", ns / (double)n);
    return sink == 42 ? 3 : 0;
}
