/* Compiled by gcc *inside* the sandbox (UserlandTests.Gcc_CompilesAndRunsHello): cc1, as,
 * collect2 and ld run as sandboxed subprocesses. Also built statically by build.sh, harmlessly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    long sum = 0;
    for (int i = 0; i < 1000; i++) sum += (long)i * i;
    qsort(argv + 1, (size_t)argc - 1, sizeof *argv, cmp);
    printf("hello, world: sum=%ld sqrt2=%.12f\n", sum, sqrt(2.0));
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    return argc;
}
