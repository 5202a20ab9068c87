// Benchmark fixture: fork + exit + wait latency of a process with a large written heap,
// the cost that copying an address space at fork (rather than sharing it copy-on-write)
// shows. Usage: bench_forkheap [ITERATIONS [MIB...]] (default 20 iterations, 64 and 256 MiB).
// The heap grows to each size in turn (an anonymous private mapping per step, every page
// written); at each size, after 2 warm-up forks, ITERATIONS times: fork(); the child
// _exit(0)s at once; the parent waitpid()s. Times the loop with CLOCK_MONOTONIC and prints
// "us_per_fork_<MIB> <float>" per size.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

int main(int argc, char **argv) {
    long n = count_arg(argc, argv, 20, "[iterations > 0 [MiB...]]");
    long default_sizes[] = {64, 256};
    int count = argc > 2 ? argc - 2 : 2;
    long heap = 0;
    long page = sysconf(_SC_PAGESIZE);
    for (int s = 0; s < count; s++) {
        long mib = argc > 2 ? strtol(argv[2 + s], NULL, 10) : default_sizes[s];
        if (mib > heap) {
            size_t grow = (size_t)(mib - heap) << 20;
            char *p = mmap(NULL, grow, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                perror("mmap");
                return 1;
            }
            for (size_t i = 0; i < grow; i += (size_t)page) p[i] = (char)i | 1;
            heap = mib;
        }
        double ns = fork_ns_each(2, n);
        if (ns < 0) return 1;
        printf("us_per_fork_%ld %.1f\n", mib, ns / 1e3);
        fflush(stdout);
    }
    return 0;
}
