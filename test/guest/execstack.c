// build: -z execstack
// execstack: a program whose PT_GNU_STACK asks for an executable stack (linked with
// -z execstack) gets one from exec: a GCC nested function that uses a local variable is
// called through a trampoline the compiler writes on the stack, here at several depths.
// Other mappings stay non-executable. Prints one line per check, then "execstack ok".
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#define CHECK_FAULTS
#include "check.h"

static int __attribute__((noinline)) apply(int (*f)(int), int x) { return f(x); }

// Calls a nested function (through its stack trampoline) `kib` KiB down the stack.
static int __attribute__((noinline)) nested_at(int kib, int k) {
    volatile char frame[1024];
    frame[0] = 0;
    if (kib > 0) return nested_at(kib - 1, k) + frame[0];
    int add(int x) { return x + k; }
    return apply(add, 10);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGSEGV, on_fault);

    caught = 0;
    int r = 0;
    if (sigsetjmp(jump, 1) == 0) r = nested_at(0, 5);
    check(caught == 0 && r == 15, "a nested function's trampoline runs on the stack");
    caught = 0;
    r = 0;
    if (sigsetjmp(jump, 1) == 0) r = nested_at(1024, 7);
    check(caught == 0 && r == 17, "and 1 MiB down the stack");
    caught = 0;
    r = 0;
    if (sigsetjmp(jump, 1) == 0) r = nested_at(6 * 1024, 9);
    check(caught == 0 && r == 19, "and 6 MiB down the stack");

    // Only the stack: an anonymous mapping without PROT_EXEC still cannot run code.
    unsigned char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static const unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};
    memcpy(m, ret42, sizeof ret42);
    caught = 0;
    if (sigsetjmp(jump, 1) == 0) r = ((int (*)(void))(void *)m)();
    check(caught == SIGSEGV, "a PROT_READ|PROT_WRITE mapping is not executable");

    return finish_count("execstack");
}
