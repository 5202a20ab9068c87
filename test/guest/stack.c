// stack: stacks that grow and their limits. mprotect(PROT_GROWSDOWN) reaches the whole
// stack; MAP_GROWSDOWN mappings grow on a fault below them, but not into the guard gap above
// an accessible mapping; the main stack grows up to RLIMIT_STACK as it was at exec (here by
// re-executing this program with a new limit), and past it the program gets SIGSEGV, on its
// alternate stack if it has one; an unlimited stack works too. AT_MINSIGSTKSZ covers the
// signal frame actually built. Prints one line per check, then "stack ok" or "stack FAILED".
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#define CHECK_FAULTS
#include "check.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define PAGE 4096UL

// Code that returns 42: mov eax, 42; ret.
static const unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};

// Runs ret42 from a buffer `depth` bytes down the stack; 42, or -signal.
static int __attribute__((noinline)) run_on_stack(size_t depth) {
    char *buf = alloca(depth);
    memcpy(buf, ret42, sizeof ret42);
    __asm__ volatile("" ::: "memory");
    caught = 0;
    if (sigsetjmp(jump, 1) == 0) return ((int (*)(void))(void *)buf)();
    return -caught;
}

// Recursion with 1 KiB frames; returns the depth reached.
static int __attribute__((noinline)) recurse(int n) {
    volatile char frame[1024];
    memset((char *)frame, n, sizeof frame);
    return n == 0 ? 0 : recurse(n - 1) + 1 + (frame[7] != (char)n);
}

static volatile int depth_reached;
static volatile int keep_going = 1;
static void __attribute__((noinline)) recurse_forever(int n) {
    volatile char frame[1024];
    frame[0] = (char)n;
    depth_reached = n;
    if (keep_going) recurse_forever(n + 1);
    (void)frame[0];
}

// Re-executes this program as `stack MODE` with RLIMIT_STACK = limit; returns the wait status.
static int run_with_limit(const char *self, rlim_t limit, const char *mode, const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {limit, RLIM_INFINITY};
        if (setrlimit(RLIMIT_STACK, &rl) != 0) _exit(100);
        execl(self, self, mode, arg, (char *)NULL);
        _exit(101);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

// `stack deep N`: recurse N KiB deep; exit 0 if all frames held.
static int deep(int kib) {
    return recurse(kib) == kib ? 0 : 1;
}

// `stack overflow`: recurse until SIGSEGV, caught on an alternate stack: exit 3.
static void on_overflow(int sig) {
    (void)sig;
    _exit(depth_reached > 100 ? 3 : 4);
}
static int overflow(void) {
    stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_overflow;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    recurse_forever(0);
    return 5;
}

// `stack execdeep`: the whole stack executable, also where it grows to later (20 MiB down).
static int __attribute__((noinline)) exec_at_depth(int kib) {
    volatile char frame[1024];
    frame[0] = 1;
    if (kib > 0) return exec_at_depth(kib - 1) + frame[0] - 1;
    return run_on_stack(4096);
}
static int execdeep(void) {
    signal(SIGSEGV, on_fault);
    char here;
    uintptr_t page = (uintptr_t)&here & ~(PAGE - 1);
    if (mprotect((void *)page, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN) != 0) return 2;
    return exec_at_depth(20 * 1024) == 42 ? 0 : 1;
}

// `stack legacy`: with an unlimited stack, mmap and a deep stack still work.
static int legacy(void) {
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 1;
    m[0] = 1;
    char here;
    if ((uintptr_t)m >= (uintptr_t)&here) return 2;
    return recurse(16 * 1024) == 16 * 1024 ? 0 : 3;
}

static char *volatile frame_low;
static void on_usr2(int sig, siginfo_t *info, void *uc) {
    (void)sig;
    (void)info;
    frame_low = (char *)uc - 8; // the return address the frame starts with
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "deep") == 0) return deep(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "overflow") == 0) return overflow();
    if (argc == 3 && strcmp(argv[1], "execdeep") == 0) return execdeep();
    if (argc == 3 && strcmp(argv[1], "legacy") == 0) return legacy();

    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);

    // mprotect(PROT_GROWSDOWN) on one page of the stack makes all of it executable (what
    // ld.so does for a library that needs an executable stack).
    check(run_on_stack(256 << 10) == -SIGSEGV, "the stack is not executable to begin with");
    char here;
    uintptr_t page = (uintptr_t)&here & ~(PAGE - 1);
    check(mprotect((void *)page, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN) == 0,
          "mprotect(stack page, RWX|PROT_GROWSDOWN)");
    check(run_on_stack(256 << 10) == 42, "code 256 KiB down the stack runs after it");
    check(run_on_stack(1 << 20) == 42, "code 1 MiB down the stack runs after it");

    // PROT_GROWSDOWN needs a grows-down mapping; PROT_GROWSUP has none on x86-64.
    char *plain = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    check(mprotect(plain + PAGE, PAGE, PROT_READ | PROT_GROWSDOWN) == -1 && errno == EINVAL,
          "PROT_GROWSDOWN on an ordinary mapping -> EINVAL");
    errno = 0;
    check(mprotect(plain + PAGE, PAGE, PROT_READ | PROT_GROWSUP) == -1 && errno == EINVAL, "PROT_GROWSUP -> EINVAL");
    errno = 0;
    check(mprotect(plain, PAGE, PROT_READ | PROT_GROWSUP | PROT_GROWSDOWN) == -1 && errno == EINVAL,
          "PROT_GROWSUP|PROT_GROWSDOWN -> EINVAL");
    check(probe(plain, 1) == 0 && probe(plain + 3 * PAGE, 1) == 0, "a refused mprotect changes nothing");

    // MAP_GROWSDOWN: [r, r+4M) PROT_NONE, a gap, then a 4-page grows-down mapping at the top
    // of r+8M. Accesses below it grow it; a PROT_NONE mapping below needs no guard gap.
    char *r = mmap(NULL, 8 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(r + (4 << 20), 4 << 20);
    char *g = mmap(r + (8 << 20) - 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    check(g == r + (8 << 20) - 4 * PAGE, "mmap MAP_GROWSDOWN");
    check(probe(g - PAGE, 1) == 0, "a write just below a MAP_GROWSDOWN mapping grows it");
    check(probe(g - 300 * PAGE, 0) == 0 && g[-300 * (long)PAGE] == 0, "so does a read 300 pages below (zero page)");
    check(probe(r + (4 << 20) - PAGE, 0) == SIGSEGV, "the PROT_NONE mapping below is not grown over");
    errno = 0;
    check(mprotect(plain, PAGE, PROT_READ | PROT_GROWSDOWN) == -1 && errno == EINVAL, "still EINVAL for the ordinary one");
    // PROT_GROWSDOWN from a page high up changes everything down to the grown bottom.
    check(mprotect(g + PAGE, PAGE, PROT_READ | PROT_GROWSDOWN) == 0, "mprotect(MAP_GROWSDOWN page, PROT_READ|PROT_GROWSDOWN)");
    check(probe(g - 300 * PAGE, 1) == SIGSEGV && probe(g, 1) == SIGSEGV && probe(g + 2 * PAGE, 1) == 0,
          "it reached the bottom, not above the page");
    // Once the mapping below is accessible, the stack keeps a 1 MiB guard gap from it.
    mprotect(r, 4 << 20, PROT_READ);
    check(probe(r + (4 << 20) + (512 << 10), 0) == SIGSEGV, "no growth into the guard gap above an accessible mapping");
    check(probe(r + (4 << 20) + (1 << 20) + PAGE, 0) == 0, "growth just past the guard gap");
    munmap(r, 8 << 20);

    // The main stack grows to RLIMIT_STACK as set before exec; past it: SIGSEGV.
    const char *self = argv[0];
    int st = run_with_limit(self, 64 << 20, "deep", "40000");
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "40 MiB of stack with RLIMIT_STACK 64 MiB");
    st = run_with_limit(self, 8 << 20, "deep", "40000");
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "40 MiB of stack with RLIMIT_STACK 8 MiB -> SIGSEGV");
    st = run_with_limit(self, 1 << 20, "deep", "2000");
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "2 MiB of stack with RLIMIT_STACK 1 MiB -> SIGSEGV");
    st = run_with_limit(self, 1 << 20, "deep", "500");
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "0.5 MiB of stack with RLIMIT_STACK 1 MiB");
    st = run_with_limit(self, 16 << 20, "overflow", "-");
    check(WIFEXITED(st) && WEXITSTATUS(st) == 3, "overflowing a 16 MiB stack: SIGSEGV on the alternate stack");
    st = run_with_limit(self, 64 << 20, "execdeep", "-");
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "PROT_GROWSDOWN exec reaches what the stack grows to later");
    st = run_with_limit(self, RLIM_INFINITY, "legacy", "-");
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unlimited stack: mmap below the stack, 16 MiB deep recursion");

    // AT_MINSIGSTKSZ covers the frame a handler gets, and an alternate stack of that size works.
    long minsig = (long)getauxval(AT_MINSIGSTKSZ);
    check(minsig >= 2048, "AT_MINSIGSTKSZ is at least MINSIGSTKSZ");
    char *alt = malloc(64 << 10);
    stack_t ss = {.ss_sp = alt, .ss_size = 64 << 10};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    long used = (long)(alt + (64 << 10) - frame_low);
    check(used > 0 && used <= minsig, "the signal frame fits in AT_MINSIGSTKSZ bytes");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        // An alternate stack of exactly AT_MINSIGSTKSZ bytes, at the end of a page with nothing below.
        char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(m, PAGE);
        stack_t small = {.ss_sp = m + 4 * PAGE - minsig, .ss_size = (size_t)minsig};
        if ((uintptr_t)small.ss_sp < (uintptr_t)m + PAGE) _exit(9);
        sigaltstack(&small, NULL);
        frame_low = NULL;
        raise(SIGUSR2);
        _exit(frame_low != NULL ? 7 : 8);
    }
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 7, "a handler runs on an alternate stack of AT_MINSIGSTKSZ bytes");
    if (minsig > 2048 + 256) {
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            // MINSIGSTKSZ (2048) is too small for this frame: the signal becomes a SIGSEGV
            // (which kills: its handler is the default one here).
            signal(SIGSEGV, SIG_DFL);
            char *m = malloc(2048 + 64);
            stack_t small = {.ss_sp = m, .ss_size = 2048};
            sigaltstack(&small, NULL);
            raise(SIGUSR2);
            _exit(7);
        }
        waitpid(pid, &st, 0);
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a frame that does not fit the alternate stack -> SIGSEGV");
    } else {
        check(1, "a frame that does not fit the alternate stack -> SIGSEGV");
    }

    return finish_count("stack");
}
