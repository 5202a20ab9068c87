// madvfork: what a forked child gets of memory marked with madvise. MADV_DONTFORK ranges are
// not mapped in the child at all (an access is SIGSEGV); MADV_WIPEONFORK ranges (private
// anonymous memory only) read as zeros in the child and its children, while the parent
// keeps its data; MADV_DOFORK and MADV_KEEPONFORK undo them. Prints one line per check, then
// "madvfork ok" or "madvfork FAILED".
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

// The signal a read of p raises (0 if none); *value gets the byte read.
static int probe_value(volatile char *p, char *value) {
    caught = 0;
    if (sigsetjmp(jump, 1) == 0) *value = *p;
    return caught;
}

// Runs fn(arg) in a forked child; returns its exit status (or 128 + signal).
static int child_status(int (*fn)(char *), char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(fn(arg));
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Child probes: what the child sees at p (page 0 .. 3).
static int sees_pages(char *p) {
    int code = 0;
    for (int i = 0; i < 4; i++) {
        char v = 0;
        int sig = probe_value(p + i * PAGE, &v);
        // 2 bits per page: 0 unmapped (SIGSEGV), 1 zero, 2 the parent's data (i + 1).
        int state = sig == SIGSEGV ? 0 : v == 0 ? 1 : v == (char)(i + 1) ? 2 : 3;
        code |= state << (2 * i);
    }
    return code;
}

static int grandchild_sees(char *p) {
    p[0] = 5; // the child's own data...
    return child_status(sees_pages, p);
}

static void fill(char *p) {
    for (int i = 0; i < 4; i++) memset(p + i * PAGE, i + 1, PAGE);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGSEGV, on_fault);

    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(p);
    check(child_status(sees_pages, p) == 0xaa, "without advice the child sees all four pages");

    // DONTFORK on pages 1 and 2: unmapped in the child.
    check(madvise(p + PAGE, 2 * PAGE, MADV_DONTFORK) == 0, "madvise(MADV_DONTFORK)");
    check(child_status(sees_pages, p) == 0x82, "the child has no MADV_DONTFORK pages (SIGSEGV there)");
    check(p[PAGE] == 2 && p[2 * PAGE] == 3, "the parent keeps them");
    check(madvise(p + 2 * PAGE, PAGE, MADV_DOFORK) == 0, "madvise(MADV_DOFORK) on one of them");
    check(child_status(sees_pages, p) == 0xa2, "the child sees that page again");
    check(madvise(p, 4 * PAGE, MADV_DOFORK) == 0 && child_status(sees_pages, p) == 0xaa, "MADV_DOFORK on all: all back");

    // WIPEONFORK on pages 0 and 3: zeros in the child, data in the parent.
    check(madvise(p, PAGE, MADV_WIPEONFORK) == 0 && madvise(p + 3 * PAGE, PAGE, MADV_WIPEONFORK) == 0,
          "madvise(MADV_WIPEONFORK)");
    check(child_status(sees_pages, p) == 0x69, "the child reads zeros in MADV_WIPEONFORK pages");
    check(p[0] == 1 && p[3 * PAGE] == 4, "the parent keeps its data");
    check(child_status(grandchild_sees, p) == 0x69, "the child's own child gets zeros there too");
    check(madvise(p, 4 * PAGE, MADV_KEEPONFORK) == 0 && child_status(sees_pages, p) == 0xaa,
          "MADV_KEEPONFORK: copied again");
    // Both at once: DONTFORK wins (there is nothing to wipe).
    madvise(p, PAGE, MADV_WIPEONFORK);
    madvise(p, PAGE, MADV_DONTFORK);
    check(child_status(sees_pages, p) == 0xa8, "MADV_DONTFORK and MADV_WIPEONFORK: not mapped");
    madvise(p, 4 * PAGE, MADV_DOFORK);
    madvise(p, 4 * PAGE, MADV_KEEPONFORK);

    // WIPEONFORK is for private anonymous memory only.
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    check(madvise(shared, PAGE, MADV_WIPEONFORK) == -1 && errno == EINVAL, "MADV_WIPEONFORK on shared memory -> EINVAL");
    char path[] = "/tmp/madvforkXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, PAGE);
    char *file = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    errno = 0;
    check(madvise(file, PAGE, MADV_WIPEONFORK) == -1 && errno == EINVAL, "MADV_WIPEONFORK on a file mapping -> EINVAL");
    check(madvise(file, PAGE, MADV_DONTFORK) == 0 && madvise(shared, PAGE, MADV_DONTFORK) == 0,
          "MADV_DONTFORK on file and shared mappings");
    char v;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit((probe_value(file, &v) == SIGSEGV ? 1 : 0) | (probe_value(shared, &v) == SIGSEGV ? 2 : 0));
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "neither is mapped in the child");

    // A hole in the range: the mapped parts take the advice, the call says ENOMEM.
    munmap(p + PAGE, PAGE);
    errno = 0;
    check(madvise(p, 4 * PAGE, MADV_DONTFORK) == -1 && errno == ENOMEM, "MADV_DONTFORK over a hole -> ENOMEM");
    check(child_status(sees_pages, p) == 0x00, "but the mapped pages got it");
    errno = 0;
    check(madvise(p + 1, PAGE, MADV_DONTFORK) == -1 && errno == EINVAL, "unaligned -> EINVAL");

    return finish_count("madvfork");
}
