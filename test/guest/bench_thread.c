// Benchmark fixture: thread create + join latency.
// N times (N = argv[1], default 5000): pthread_create() a thread that returns at once,
// then pthread_join() it. Timed with CLOCK_MONOTONIC after 20 warm-up iterations; prints
// "ns_per_iter <float>".
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

static void *body(void *arg) { return arg; }

static int once(long i) {
    pthread_t t;
    void *ret;
    int err = pthread_create(&t, NULL, body, (void *)i);
    if (err != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(err));
        return -1;
    }
    err = pthread_join(t, &ret);
    if (err != 0) {
        fprintf(stderr, "pthread_join: %s\n", strerror(err));
        return -1;
    }
    if (ret != (void *)i) {
        fprintf(stderr, "thread returned %p, expected %p\n", ret, (void *)i);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    long n = count_arg(argc, argv, 5000, "[iterations > 0]");
    for (long i = 0; i < 20; i++)
        if (once(i) != 0) return 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (once(i) != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("ns_per_iter %.2f\n", ns / (double)n);
    return 0;
}
