// filemap: private mappings of a file from the container's lower layer (this program's own
// executable, read through the Gofer). The sandbox maps such pages from one shared copy; what
// a process writes after mprotect must stay its own, and forks, re-mappings and read() must
// keep seeing the file's bytes. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

int main(int argc, char **argv) {
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open(argv[0], O_RDONLY);
    check(fd >= 0, "open own executable");
    struct stat st;
    check(fstat(fd, &st) == 0 && st.st_size > 8192, "fstat");
    size_t len = (size_t)st.st_size;
    unsigned char *original = malloc(len);
    check(pread(fd, original, len, 0) == (ssize_t)len, "pread whole file");

    unsigned char *a = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    unsigned char *b = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    check(a != MAP_FAILED && b != MAP_FAILED, "two private read-only mappings");
    check(memcmp(a, original, len) == 0 && memcmp(b, original, len) == 0, "both show the file");

    // A write after mprotect is private to that mapping.
    check(mprotect(a, 8192, PROT_READ | PROT_WRITE) == 0, "mprotect first pages writable");
    memset(a, 0xA5, 8192);
    check(a[0] == 0xA5 && a[8191] == 0xA5, "the write is visible in its own mapping");
    check(memcmp(b, original, len) == 0, "the other mapping still shows the file");
    check(memcmp(a + 8192, original + 8192, len - 8192) == 0, "the rest of the written mapping too");

    // A new mapping and read() see the file, not the write.
    unsigned char *c = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    check(c != MAP_FAILED && memcmp(c, original, len) == 0, "a new mapping shows the file");
    unsigned char head[16];
    check(pread(fd, head, sizeof head, 0) == sizeof head && memcmp(head, original, sizeof head) == 0, "read() shows the file");

    // MADV_DONTNEED on a private file mapping: the written pages read back as the file again.
    check(madvise(a, 8192, MADV_DONTNEED) == 0, "madvise DONTNEED");
    check(memcmp(a, original, 8192) == 0, "written pages read back as the file after DONTNEED");

    // A mapping at an offset, writable from the start (copied), then written.
    unsigned char *d = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
    check(d != MAP_FAILED && memcmp(d, original + 4096, 4096) == 0, "writable private mapping at offset 4096");
    d[0] ^= 0xFF;
    check(c[4096] == original[4096], "its write is not seen elsewhere");

    // Fork: the child sees the same bytes, writes its own copy; the parent is unaffected.
    pid_t pid = fork();
    if (pid == 0) {
        int ok = memcmp(b, original, len) == 0 && a[0] == original[0];
        ok = ok && mprotect(b, 4096, PROT_READ | PROT_WRITE) == 0;
        if (ok) b[0] ^= 0xFF;
        _exit(ok ? 0 : 1);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child saw the file and wrote its copy");
    check(memcmp(b, original, len) == 0, "the parent's mapping is unchanged");

    // munmap of a piece in the middle leaves the rest.
    check(munmap(b + 4096, 4096) == 0, "munmap a middle page");
    check(b[0] == original[0] && b[8192] == original[8192], "both sides remain");

    return finish("filemap");
}
