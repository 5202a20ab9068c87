// sigbus: shared file mappings past the end of the file. Touching a page wholly past the end
// raises SIGBUS (BUS_ADRERR, with the address), at mmap time and after ftruncate shrinks the
// file, also in a forked child that maps it; once the file grows again the page reads as
// the file does (zeros). The page holding the end of the file is fine. The kernel's own
// accesses there fail with EFAULT. Prints one line per check, then "sigbus ok".
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
#include "check.h"

#define PAGE 4096UL

static sigjmp_buf jump;
static volatile int caught, caught_code;
static void *volatile caught_addr;

static void on_fault(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    caught = sig;
    caught_code = info->si_code;
    caught_addr = info->si_addr;
    siglongjmp(jump, 1);
}

// The signal a read (or write) of p raises, 0 if none.
static int probe(volatile char *p, int write) {
    caught = 0;
    caught_addr = NULL;
    if (sigsetjmp(jump, 1) == 0) {
        if (write) *p = 'w';
        else (void)*p;
    }
    return caught;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);

    char path[] = "/tmp/sigbusXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, 2 * PAGE + 100); // three pages hold file data, the fourth none
    char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(m != MAP_FAILED, "mmap MAP_SHARED of 4 pages over a file of 2 pages + 100 bytes");
    check(probe(m + 2 * PAGE + 200, 1) == 0, "the page holding the end of the file is accessible");
    check(probe(m + 3 * PAGE + 5, 0) == SIGBUS, "a page wholly past the end: SIGBUS");
    check(caught_code == BUS_ADRERR && caught_addr == m + 3 * PAGE + 5, "with BUS_ADRERR and si_addr");
    check(probe(m + 3 * PAGE, 1) == SIGBUS, "writing there too");
    int pipefd[2];
    pipe(pipefd);
    errno = 0;
    check(write(pipefd[1], m + 3 * PAGE, 10) == -1 && errno == EFAULT, "write(2) from there -> EFAULT");
    errno = 0;
    check(read(fd, m + 3 * PAGE, 10) == -1 && errno == EFAULT, "read(2) into there -> EFAULT");

    // Shrinking takes pages away; growing brings them back (as zeros).
    strcpy(m + PAGE, "second page");
    ftruncate(fd, PAGE);
    check(probe(m + PAGE + 3, 0) == SIGBUS, "after ftruncate to one page, the second: SIGBUS");
    check(probe(m + 100, 0) == 0, "the first page is still there");
    ftruncate(fd, 4 * PAGE);
    check(probe(m + PAGE + 3, 0) == 0 && m[PAGE + 3] == 0, "after growing the file again, it reads zeros");
    check(probe(m + 3 * PAGE, 1) == 0, "and the fourth page is writable now");
    char buf[4] = {0};
    pread(fd, buf, 1, 3 * PAGE);
    check(buf[0] == 'w', "a write there reaches the file");
    pwrite(fd, "new", 3, 2 * PAGE);
    check(memcmp(m + 2 * PAGE, "new", 3) == 0, "write(2) to the file shows in the mapping");

    // Another process mapping the file loses the pages too.
    int ready[2], done[2];
    pipe(ready);
    pipe(done);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        int before = probe(m + 3 * PAGE, 0);
        write(ready[1], "r", 1);
        read(done[0], &c, 1);
        int after = probe(m + 3 * PAGE, 0);
        int first = probe(m, 0);
        _exit((before == 0 ? 1 : 0) | (after == SIGBUS ? 2 : 0) | (first == 0 ? 4 : 0));
    }
    char c;
    read(ready[0], &c, 1);
    ftruncate(fd, 2 * PAGE);
    write(done[1], "d", 1);
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 7, "a forked child's mapping: SIGBUS after the parent shrank the file");
    check(probe(m + 3 * PAGE, 0) == SIGBUS, "and the parent's");

    // A mapping that starts past the end of the file.
    char *late = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 8 * PAGE);
    check(late != MAP_FAILED && probe(late, 0) == SIGBUS, "a mapping that starts past the end: SIGBUS");

    munmap(m, 4 * PAGE);
    close(fd);

    return finish_count("sigbus");
}
