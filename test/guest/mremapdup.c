// mremapdup: mremap(2) over mapping boundaries and with an old size of 0. Resizing needs the
// old range to be one mapping (EFAULT across two with different protections); shrinking
// just unmaps the tail; the address must be mapped. An old size of 0 duplicates a shared
// mapping (both see each other's writes; past the end of the shared object it is SIGBUS),
// is EINVAL for a private one and needs MREMAP_MAYMOVE. A grown shared anonymous mapping
// has SIGBUS past the object it maps. Prints one line per check, then "mremapdup ok".
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define CHECK_FAULTS
#include "check.h"

#define PAGE 4096UL

static char *anon(size_t pages, int flags) {
    return mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);

    // Two mappings side by side: [a, a+4P) read-write, [a+4P, a+8P) read-only.
    char *a = anon(8, MAP_PRIVATE);
    mprotect(a + 4 * PAGE, 4 * PAGE, PROT_READ);
    errno = 0;
    check(mremap(a, 8 * PAGE, 16 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT, "growing across two mappings -> EFAULT");
    errno = 0;
    check(mremap(a, 8 * PAGE, 12 * PAGE, 0) == MAP_FAILED && errno == EFAULT, "also without MREMAP_MAYMOVE");
    check(mremap(a, 8 * PAGE, 8 * PAGE, 0) == a, "the same size across two: a no-op");
    char *dst = anon(16, MAP_PRIVATE);
    errno = 0;
    check(mremap(a, 8 * PAGE, 6 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED && errno == EFAULT,
          "a resizing move across two -> EFAULT");
    char *s = mremap(a, 8 * PAGE, 2 * PAGE, 0);
    check(s == a && probe(a + 4 * PAGE, 0) == SIGSEGV && probe(a + 2 * PAGE, 0) == SIGSEGV, "shrinking across two unmaps the tail");
    munmap(a, 2 * PAGE);
    errno = 0;
    check(mremap(a, 4 * PAGE, 2 * PAGE, 0) == MAP_FAILED && errno == EFAULT, "shrinking an unmapped address -> EFAULT");

    // Duplicates of a shared anonymous mapping.
    char *sh = anon(4, MAP_SHARED);
    strcpy(sh, "hello");
    strcpy(sh + 3 * PAGE, "tail");
    errno = 0;
    check(mremap(sh, 0, 4 * PAGE, 0) == MAP_FAILED && errno == ENOMEM, "old size 0 without MREMAP_MAYMOVE -> ENOMEM");
    char *d = mremap(sh, 0, 4 * PAGE, MREMAP_MAYMOVE);
    check(d != MAP_FAILED && d != sh, "old size 0 on a shared mapping: a second mapping");
    check(d != MAP_FAILED && strcmp(d, "hello") == 0 && strcmp(d + 3 * PAGE, "tail") == 0, "it shows the same pages");
    if (d != MAP_FAILED) strcpy(d + PAGE, "from the copy");
    check(strcmp(sh + PAGE, "from the copy") == 0, "writes through it show in the original");
    strcpy(sh + 2 * PAGE, "from the original");
    check(d != MAP_FAILED && strcmp(d + 2 * PAGE, "from the original") == 0, "and the other way round");
    check(sh[0] == 'h', "the original is still mapped");
    char *d2 = mremap(sh + PAGE, 0, 2 * PAGE, MREMAP_MAYMOVE);
    check(d2 != MAP_FAILED && strcmp(d2, "from the copy") == 0, "a duplicate from the second page starts there");
    char *d3 = mremap(sh, 0, 8 * PAGE, MREMAP_MAYMOVE);
    check(d3 != MAP_FAILED && strcmp(d3 + 3 * PAGE, "tail") == 0, "a longer duplicate");
    check(d3 != MAP_FAILED && probe(d3 + 5 * PAGE, 0) == SIGBUS, "past the shared object: SIGBUS");
    char *target = anon(4, MAP_PRIVATE);
    char *d4 = mremap(sh, 0, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    check(d4 == target && strcmp(d4, "hello") == 0, "a duplicate at a fixed address");
    check(probe(target + 2 * PAGE, 0) == 0, "replacing only what it covers");
    // Split by mprotect, the object is still one: a duplicate reaches its second part.
    char *e = anon(4, MAP_SHARED);
    strcpy(e + 3 * PAGE, "end");
    mprotect(e + 2 * PAGE, 2 * PAGE, PROT_READ);
    char *d5 = mremap(e, 0, 4 * PAGE, MREMAP_MAYMOVE);
    check(d5 != MAP_FAILED && probe(d5 + 3 * PAGE, 0) == 0 && strcmp(d5 + 3 * PAGE, "end") == 0,
          "a duplicate of a split shared mapping reaches all of it");
    char *priv = anon(2, MAP_PRIVATE);
    errno = 0;
    check(mremap(priv, 0, 2 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL, "old size 0 on a private mapping -> EINVAL");

    // Growing a shared anonymous mapping: the object does not grow with it.
    char *g = anon(2, MAP_SHARED);
    char *grown = mremap(g, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
    check(grown != MAP_FAILED && probe(grown + PAGE, 0) == 0 && probe(grown + 3 * PAGE, 0) == SIGBUS,
          "a grown shared anonymous mapping: SIGBUS past the object");

    return finish_count("mremapdup");
}
