// heap: grows the program break with sbrk/brk, writing every page, then allocates and
// touches 100 MiB with malloc (which uses mmap at that size). Verifies contents after
// all writes. Prints "heap ok" and exits 0 on success.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define PAGE 4096UL

int main(void) {
    // brk: grow by 8 MiB in 1 MiB steps with sbrk, writing every page as we go.
    char *start = sbrk(0);
    check(start != (char *)-1, "sbrk(0)");
    const size_t step = 1UL << 20, steps = 8;
    int grew = 1;
    for (size_t i = 0; i < steps; i++) {
        char *p = sbrk(step);
        if (p == (char *)-1 || p != start + i * step) { grew = 0; break; }
        for (size_t off = 0; off < step; off += PAGE) p[off] = (char)(i * 31 + off / PAGE);
    }
    check(grew, "sbrk grows contiguously by 8 MiB");
    check((char *)sbrk(0) == start + steps * step, "break moved by 8 MiB");
    int same = 1;
    for (size_t i = 0; grew && i < steps; i++)
        for (size_t off = 0; off < step; off += PAGE)
            if (start[i * step + off] != (char)(i * 31 + off / PAGE)) same = 0;
    check(same, "brk pages keep their contents");

    // brk: shrink back by half, then grow again; the re-grown pages read as zero.
    char *mid = start + steps * step / 2;
    check(brk(mid) == 0 && (char *)sbrk(0) == mid, "brk shrinks");
    check(brk(start + steps * step) == 0, "brk grows again");
    int zero = 1;
    for (size_t off = 0; off < steps * step / 2; off += PAGE)
        if (mid[off] != 0) zero = 0;
    check(zero, "re-grown brk pages are zero");
    check(start[0] == 0 && start[PAGE] == 1, "lower brk pages survive the shrink");
    check(brk(start) == 0, "brk back to the start");

    // malloc 100 MiB: touch every page with a pattern, then verify and free.
    const size_t big = 100UL << 20;
    uint64_t *m = malloc(big);
    check(m != NULL, "malloc(100 MiB)");
    if (m != NULL) {
        size_t words = big / sizeof *m, stride = PAGE / sizeof *m;
        for (size_t i = 0; i < words; i += stride) m[i] = i * 0x9E3779B97F4A7C15ULL;
        m[words - 1] = 0xdeadbeef;
        int ok = 1;
        for (size_t i = 0; i < words; i += stride)
            if (m[i] != i * 0x9E3779B97F4A7C15ULL) ok = 0;
        check(ok && m[words - 1] == 0xdeadbeef, "malloc pages keep their contents");
        free(m);
    }

    // Many small allocations (brk-backed arena).
    char *small[1000];
    for (int i = 0; i < 1000; i++) {
        small[i] = malloc(100 + i);
        if (small[i]) memset(small[i], i & 0xff, 100 + i);
    }
    int sm = 1;
    for (int i = 0; i < 1000; i++) {
        if (!small[i] || small[i][99 + i] != (char)(i & 0xff)) sm = 0;
        free(small[i]);
    }
    check(sm, "1000 small allocations");

    if (failures) {
        printf("heap FAILED\n");
        return 1;
    }
    printf("heap ok\n");
    return 0;
}
