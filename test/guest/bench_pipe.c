// Benchmark fixture: pipe ping-pong between two processes.
// The parent writes one byte into pipe A, the forked child reads it and writes it back
// into pipe B, the parent reads it: one round trip. N round trips (N = argv[1], default
// 20000) after 200 warm-up ones, timed with CLOCK_MONOTONIC; prints
// "ns_per_roundtrip <float>".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static int roundtrip(int wfd, int rfd) {
    char c = 'x';
    if (write(wfd, &c, 1) != 1) {
        perror("write");
        return -1;
    }
    if (read(rfd, &c, 1) != 1) {
        perror("read");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    long n = count_arg(argc, argv, 20000, "[round trips > 0]");
    int toChild[2], toParent[2];
    if (pipe(toChild) != 0 || pipe(toParent) != 0) {
        perror("pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        close(toChild[1]);
        close(toParent[0]);
        char c;
        ssize_t r;
        while ((r = read(toChild[0], &c, 1)) == 1)
            if (write(toParent[1], &c, 1) != 1) _exit(3);
        _exit(r == 0 ? 0 : 4);
    }
    close(toChild[0]);
    close(toParent[1]);

    for (int i = 0; i < 200; i++)
        if (roundtrip(toChild[1], toParent[0]) != 0) return 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (roundtrip(toChild[1], toParent[0]) != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);

    close(toChild[1]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "echo child failed (status 0x%x)\n", status);
        return 1;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("ns_per_roundtrip %.2f\n", ns / (double)n);
    return 0;
}
