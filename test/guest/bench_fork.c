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
#include "check.h"

int main(int argc, char **argv) {
    long n = count_arg(argc, argv, 2000, "[iterations > 0]");
    double ns = fork_ns_each(20, n);
    if (ns < 0) return 1;
    printf("ns_per_iter %.2f\n", ns);
    return 0;
}
