// privmap: private mappings of a file the sandbox keeps in memory (/tmp). Until the mapping
// writes a page, the page is the file's: later write(2)s to the file show through it; the
// first write gives the mapping its own copy, which the file's changes no longer reach and
// which never reaches the file. MADV_DONTNEED goes back to the file's page; a fork shares
// what is still the file's. Past the end of the file, also after ftruncate shrinks it, an
// access is SIGBUS, copied page or not. Prints one line per check, then "privmap ok".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#define CHECK_FAULTS
#include "check.h"

#define PAGE 4096UL

static char file_at(int fd, off_t off) {
    char c = 0;
    pread(fd, &c, 1, off);
    return c;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);

    char path[] = "/tmp/privmapXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    char page[PAGE];
    for (int i = 0; i < 3; i++) {
        memset(page, 'A' + i, PAGE);
        pwrite(fd, page, PAGE, (off_t)i * PAGE);
    }
    char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED && m[0] == 'A' && m[PAGE] == 'B' && m[2 * PAGE] == 'C', "mmap MAP_PRIVATE shows the file");

    // Not yet written: the file's page, changes and all.
    pwrite(fd, "Z", 1, PAGE + 7);
    check(m[PAGE + 7] == 'Z', "a later write(2) to the file shows in an untouched page");
    pwrite(fd, "Y", 1, 0);
    check(m[0] == 'Y', "and in a page that was only read");

    // Written: the mapping's own copy.
    m[2 * PAGE] = 'w';
    check(file_at(fd, 2 * PAGE) == 'C', "a write to the mapping does not reach the file");
    pwrite(fd, "Q", 1, 2 * PAGE + 1);
    check(m[2 * PAGE + 1] == 'C' && m[2 * PAGE] == 'w', "a written page no longer follows the file");
    pwrite(fd, "X", 1, PAGE + 8);
    check(m[PAGE + 8] == 'X', "the other pages still do");

    // The kernel writing into it (read(2) into the mapping) copies as well.
    int p[2];
    pipe(p);
    write(p[1], "piped", 5);
    check(read(p[0], m + PAGE + 100, 5) == 5 && memcmp(m + PAGE + 100, "piped", 5) == 0, "read(2) into the mapping");
    check(file_at(fd, PAGE + 100) == 'B', "leaves the file alone");
    pwrite(fd, "V", 1, PAGE + 9);
    check(m[PAGE + 9] == 'B', "and the page is the mapping's own from then on");

    // fork: the child gets the copies as they are and the file's pages as the file has them.
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = m[2 * PAGE] == 'w' && m[0] == 'Y';
        m[0] = 'c';
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child sees the copies and the file's pages");
    check(m[0] == 'Y' && file_at(fd, 0) == 'Y', "its writes reach neither the parent nor the file");

    // MADV_DONTNEED drops the copy: the file's page again.
    check(madvise(m + 2 * PAGE, PAGE, MADV_DONTNEED) == 0, "madvise(MADV_DONTNEED) on a copied page");
    check(m[2 * PAGE] == 'C' && m[2 * PAGE + 1] == 'Q', "it reads the file's page again");
    pwrite(fd, "R", 1, 2 * PAGE + 2);
    check(m[2 * PAGE + 2] == 'R', "and follows the file again");

    // Read-only: a write is a SIGSEGV, not a copy.
    char *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    check(probe(ro, 1) == SIGSEGV && file_at(fd, 0) == 'Y', "a write to a PROT_READ private mapping -> SIGSEGV");
    check(mprotect(ro, PAGE, PROT_READ | PROT_WRITE) == 0 && probe(ro, 1) == 0 && ro[0] == 'w' && file_at(fd, 0) == 'Y',
          "after mprotect(PROT_WRITE) it copies");

    // Past the end of the file: SIGBUS, for copies too.
    m[2 * PAGE + 3] = 'w';
    ftruncate(fd, PAGE);
    check(probe(m + PAGE, 0) == SIGBUS, "after ftruncate to one page, an untouched page: SIGBUS");
    check(probe(m + 2 * PAGE, 0) == SIGBUS, "a copied page too");
    check(probe(m + 10, 0) == 0 && m[0] == 'Y', "the first page is still there");
    ftruncate(fd, 3 * PAGE);
    check(probe(m + PAGE, 0) == 0 && m[PAGE] == 0, "grown again: the file's (zero) pages");
    char *late = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 2 * PAGE);
    check(late != MAP_FAILED && probe(late, 0) == 0 && probe(late + PAGE, 0) == SIGBUS,
          "a private mapping past the end of the file: SIGBUS there");

    return finish_count("privmap");
}
