// tls: thread-local storage of the main thread in a static executable. glibc sets it up
// from PT_TLS with arch_prctl(ARCH_SET_FS); initialised (.tdata) variables must start
// with their values and zero-initialised (.tbss) ones with zero. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

__thread int tls_init = 42;                // .tdata
__thread long tls_big[4] = {1, 2, 3, 4};   // .tdata, several words
__thread int tls_zero;                     // .tbss
static __thread char tls_buf[64];          // .tbss, static

static uintptr_t fs_base(void) {
    uintptr_t v;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(v)); // x86-64 TCB self-pointer
    return v;
}

int main(void) {
    printf("tls_init=%d\n", tls_init);
    printf("tls_big=%ld,%ld,%ld,%ld\n", tls_big[0], tls_big[1], tls_big[2], tls_big[3]);
    printf("tls_zero=%d\n", tls_zero);
    int buf_zero = 1;
    for (int i = 0; i < 64; i++)
        if (tls_buf[i] != 0) buf_zero = 0;
    check(tls_init == 42 && tls_big[3] == 4, "initialised TLS has its values");
    check(tls_zero == 0 && buf_zero, "zero-initialised TLS is zero");

    tls_init++;
    tls_zero = 7;
    tls_buf[63] = 'x';
    printf("after writes: tls_init=%d tls_zero=%d tls_buf[63]=%c\n", tls_init, tls_zero,
           tls_buf[63]);
    check(tls_init == 43 && tls_zero == 7 && tls_buf[63] == 'x', "TLS keeps writes");

    // Addresses: distinct variables, just below the thread pointer (variant II layout).
    uintptr_t tp = fs_base();
    uintptr_t a = (uintptr_t)&tls_init, z = (uintptr_t)&tls_zero, b = (uintptr_t)tls_buf;
    check(a != z && a != b && z != b, "TLS variables have distinct addresses");
    check(a < tp && z < tp && b < tp && tp - a < 4096 && tp - b < 4096,
          "TLS variables sit just below the thread pointer");
    check(tp == (uintptr_t)pthread_self(), "%fs:0 is pthread_self()");

    unsigned long fs = 0;
    check(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) == 0 && fs == tp, "ARCH_GET_FS == %fs:0");

    return finish("tls");
}
