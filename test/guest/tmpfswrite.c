// tmpfswrite: writes into a file under /tmp (tmpfs in the sandbox) that exercise the page
// runs of the write path: writev across page boundaries, unaligned pwrite over existing and
// new pages, a write whose buffer ends in an unmapped page (short count, as Linux gives), a
// write from a mapping of the file itself, and large sequential writes. Every result is read
// back and compared with the expected bytes. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include "check.h"

static void pattern(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 31 + (i >> 12));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char path[] = "/tmp/tmpfswrite-XXXXXX";
    int fd = mkstemp(path);
    check(fd >= 0, "mkstemp in /tmp");
    const size_t size = 5 * 1024 * 1024 + 123;
    unsigned char *expect = calloc(1, size + 65536);
    unsigned char *got = malloc(size + 65536);

    // Large sequential writes of odd sizes.
    unsigned char *buf = malloc(size);
    pattern(buf, size, 1);
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < 300007 ? size - off : 300007;
        if (write(fd, buf + off, n) != (ssize_t)n) break;
        off += n;
    }
    memcpy(expect, buf, size);
    check(off == size, "sequential writes of 300007 bytes");

    // writev of three pieces crossing page boundaries, at an unaligned offset.
    unsigned char a[5000], b[70000], c[333];
    pattern(a, sizeof a, 7); pattern(b, sizeof b, 8); pattern(c, sizeof c, 9);
    struct iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    ssize_t w = pwritev(fd, iov, 3, 4093);
    check(w == (ssize_t)(sizeof a + sizeof b + sizeof c), "pwritev across pages");
    memcpy(expect + 4093, a, sizeof a);
    memcpy(expect + 4093 + sizeof a, b, sizeof b);
    memcpy(expect + 4093 + sizeof a + sizeof b, c, sizeof c);

    // A write past the end leaves a hole of zeros.
    unsigned char tail[10000];
    pattern(tail, sizeof tail, 11);
    check(pwrite(fd, tail, sizeof tail, size + 50000) == (ssize_t)sizeof tail, "pwrite past the end");
    memcpy(expect + size + 50000, tail, sizeof tail);
    size_t total = size + 50000 + sizeof tail;

    // A buffer whose second page is unmapped: Linux writes the first page and returns 4096.
    unsigned char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pattern(two, 4096, 13);
    munmap(two + 4096, 4096);
    w = pwrite(fd, two, 8192, 1000000);
    check(w == 4096, "write stops at the unmapped page");
    memcpy(expect + 1000000, two, 4096);

    // A write from a mapping of the same file, to another place in it.
    unsigned char *self = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
    check(self != MAP_FAILED, "map the file");
    check(pwrite(fd, self, 65536, 2000000 + 17) == 65536, "write from a mapping of the file itself");
    memmove(expect + 2000000 + 17, expect, 65536);
    munmap(self, 65536);

    check(pread(fd, got, total, 0) == (ssize_t)total, "read it all back");
    check(memcmp(got, expect, total) == 0, "the bytes are the expected ones");
    unlink(path);
    return finish("tmpfswrite");
}
