// mmap: exercises the memory-management system calls on anonymous memory and checks
// that bad user pointers make system calls fail with EFAULT instead of killing the
// program. Prints one line per check, then "mmap ok" (exit 0) or "mmap FAILED" (exit 1).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL

static char *map(void *hint, size_t len, int prot, int flags) {
    return mmap(hint, len, prot, flags, -1, 0);
}

// Fills page i of p with byte value (tag + i).
static void fill(char *p, size_t pages, int tag) {
    for (size_t i = 0; i < pages; i++) memset(p + i * PAGE, tag + (int)i, PAGE);
}

// Whether page i of p holds (tag + i) everywhere.
static int holds(const char *p, size_t pages, int tag) {
    for (size_t i = 0; i < pages; i++)
        for (size_t j = 0; j < PAGE; j++)
            if (p[i * PAGE + j] != (char)(tag + (int)i)) return 0;
    return 1;
}

// Raw write(2)/read(2) so that libc cannot intervene; returns -errno on failure.
static long raw_write(int fd, const void *buf, size_t n) {
    long r = syscall(SYS_write, fd, buf, n);
    return r < 0 ? -errno : r;
}
static long raw_read(int fd, void *buf, size_t n) {
    long r = syscall(SYS_read, fd, buf, n);
    return r < 0 ? -errno : r;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    // Anonymous private memory is zero-filled and writable.
    char *a = map(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(a != MAP_FAILED, "mmap anonymous private");
    check(((uintptr_t)a & (PAGE - 1)) == 0, "mapping is page-aligned");
    int zero = 1;
    for (size_t i = 0; i < 16 * PAGE; i++)
        if (a[i] != 0) zero = 0;
    check(zero, "anonymous memory is zero");
    fill(a, 16, 1);
    check(holds(a, 16, 1), "anonymous private memory keeps writes");

    // Anonymous shared memory.
    char *s = map(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    check(s != MAP_FAILED, "mmap anonymous shared");
    fill(s, 4, 50);
    check(holds(s, 4, 50), "anonymous shared memory keeps writes");

    // MAP_FIXED over the middle of an existing mapping replaces those pages with zeroes.
    char *f = map(a + 4 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    check(f == a + 4 * PAGE, "MAP_FIXED returns the requested address");
    check(f[0] == 0 && f[2 * PAGE - 1] == 0, "MAP_FIXED pages are fresh zeroes");
    check(holds(a, 4, 1) && holds(a + 6 * PAGE, 10, 7), "MAP_FIXED leaves neighbours intact");

    // MAP_FIXED_NOREPLACE onto an existing mapping fails with EEXIST.
    errno = 0;
    char *nr = map(a + 8 * PAGE, PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
    check(nr == MAP_FAILED && errno == EEXIST, "MAP_FIXED_NOREPLACE on a mapping -> EEXIST");
    check(holds(a + 8 * PAGE, 1, 9), "failed MAP_FIXED_NOREPLACE left the page alone");

    // A free hint address is honoured; a hint over an existing mapping is not.
    char *hole = map(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(hole != MAP_FAILED && munmap(hole, 4 * PAGE) == 0, "reserve and release a hole");
    char *h = map(hole + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(h == hole + PAGE, "free hint address is used");
    char *h2 = map(a, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(h2 != MAP_FAILED && h2 != a, "occupied hint address is not used");
    check(holds(a, 1, 1), "occupied hint left the existing page alone");
    munmap(h, PAGE);
    munmap(h2, PAGE);

    // MAP_FIXED_NOREPLACE onto a free address works.
    char *nr2 = map(hole, PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
    check(nr2 == hole, "MAP_FIXED_NOREPLACE on a free address");
    munmap(nr2, PAGE);

    // mprotect to read-only: contents still readable.
    check(mprotect(a, 4 * PAGE, PROT_READ) == 0, "mprotect PROT_READ");
    check(holds(a, 4, 1), "read-only pages still readable");
    check(mprotect(a, 4 * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back to RW");
    a[0] = 1;
    check(a[0] == 1, "writable again");

    // munmap a hole in the middle: the edges keep working.
    check(munmap(a + 10 * PAGE, 2 * PAGE) == 0, "munmap the middle");
    check(holds(a + 8 * PAGE, 2, 9) && holds(a + 12 * PAGE, 4, 13), "pages around the hole");
    a[10 * PAGE - 1] = 'x';
    a[12 * PAGE] = 'y';
    check(a[10 * PAGE - 1] == 'x' && a[12 * PAGE] == 'y', "edges of the hole writable");
    // The hole is really gone: a raw write() from it faults.
    check(raw_write(1, a + 10 * PAGE, 10) == -EFAULT, "write() from the hole -> EFAULT");
    a[10 * PAGE - 1] = 10;
    a[12 * PAGE] = 13;

    // mremap: grow in place or moved, contents kept.
    char *r = map(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    fill(r, 4, 100);
    char *g = mremap(r, 4 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
    check(g != MAP_FAILED, "mremap grow");
    check(g != MAP_FAILED && holds(g, 4, 100), "mremap grow keeps contents");
    check(g != MAP_FAILED && g[63 * PAGE] == 0, "mremap grown tail is zero");
    if (g != MAP_FAILED) {
        g[63 * PAGE] = 'z';
        // Shrink in place.
        char *sh = mremap(g, 64 * PAGE, 2 * PAGE, 0);
        check(sh == g, "mremap shrink in place");
        check(holds(sh, 2, 100), "mremap shrink keeps contents");
        // Move to a chosen address.
        char *dst = map(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
        char *mv = mremap(sh, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 2 * PAGE);
        check(mv == dst + 2 * PAGE, "mremap MREMAP_FIXED move");
        check(mv != MAP_FAILED && holds(mv, 2, 100), "moved mapping keeps contents");
        check(raw_write(1, sh, 1) == -EFAULT, "old address is unmapped after the move");
        munmap(dst, 8 * PAGE);
    }

    // madvise(MADV_DONTNEED) zeroes private anonymous pages.
    char *d = map(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    fill(d, 2, 77);
    check(madvise(d, PAGE, MADV_DONTNEED) == 0, "madvise MADV_DONTNEED");
    check(d[0] == 0 && d[PAGE - 1] == 0, "MADV_DONTNEED page reads zero");
    check(holds(d + PAGE, 1, 78), "page after the MADV_DONTNEED range untouched");
    munmap(d, 2 * PAGE);

    // Bad user pointers: the system call fails with EFAULT and the program carries on.
    char *bad = map(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
    char *ro = map(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    check(munmap(bad, PAGE) == 0, "unmap a page to get an unmapped pointer");
    check(raw_write(1, bad, 10) == -EFAULT, "write() from an unmapped pointer -> EFAULT");
    check(raw_write(1, (void *)8, 10) == -EFAULT, "write() from address 8 -> EFAULT");
    char *none = map(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(raw_write(1, none, 10) == -EFAULT, "write() from a PROT_NONE page -> EFAULT");
    int fds[2];
    check(pipe(fds) == 0 && write(fds[1], "0123456789", 10) == 10, "pipe with data");
    check(raw_read(fds[0], ro, 10) == -EFAULT, "read() into a PROT_READ page -> EFAULT");
    check(ro[0] == 0, "PROT_READ page unchanged");
    check(raw_read(fds[0], a, 10) == 10 && memcmp(a, "0123456789", 10) == 0,
          "read() into a writable page still works");
    // A buffer that runs from a mapped page into an unmapped one: Linux writes the
    // readable prefix to a pipe; EFAULT is also acceptable.
    char *edge = map(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    check(munmap(edge + PAGE, PAGE) == 0, "unmap the second page of two");
    long part = raw_write(fds[1], edge + PAGE - 5, 10);
    check(part == 5 || part == -EFAULT, "write() across the end of a mapping -> short or EFAULT");
    close(fds[0]);
    close(fds[1]);

    // Bad arguments.
    errno = 0;
    check(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
              errno == EINVAL,
          "mmap length 0 -> EINVAL");
    errno = 0;
    check(mmap(a + 1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
                  MAP_FAILED && errno == EINVAL,
          "unaligned MAP_FIXED -> EINVAL");
    errno = 0;
    check(munmap(a + 1, PAGE) == -1 && errno == EINVAL, "unaligned munmap -> EINVAL");
    errno = 0;
    check(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EBADF,
          "file mapping of fd -1 -> EBADF");

    check(munmap(a, 16 * PAGE) == 0, "munmap a range with a hole in it");
    check(raw_write(1, a, 1) == -EFAULT, "whole range gone");

    return finish_count("mmap");
}
