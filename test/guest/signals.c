// signals: handler delivery and return (rt_sigreturn), blocking and pending signals,
// SA_SIGINFO details, a SIGSEGV handler that recovers from a fault with siglongjmp,
// and an alternate signal stack. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "check.h"

static volatile sig_atomic_t usr1_count, info_signo, info_code, info_pid;
static volatile uintptr_t fault_addr, handler_sp;
static sigjmp_buf recover;

static void on_usr1(int sig) {
    (void)sig;
    usr1_count++;
}

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    info_signo = sig;
    info_code = si->si_code;
    info_pid = si->si_pid;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    int local;
    handler_sp = (uintptr_t)&local;
    fault_addr = (uintptr_t)si->si_addr;
    siglongjmp(recover, 1);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    // A plain handler; the interrupted code continues with its registers intact.
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
    volatile long keep = 0x1234567890L;
    check(raise(SIGUSR1) == 0 && usr1_count == 1, "raise runs the handler");
    check(keep == 0x1234567890L, "state intact after the handler returns");
    check(kill(getpid(), SIGUSR1) == 0 && usr1_count == 2, "kill(self) runs the handler");

    // Blocked signals stay pending until unblocked.
    sigset_t block, pending, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    check(sigprocmask(SIG_BLOCK, &block, &old) == 0, "block SIGUSR1");
    raise(SIGUSR1);
    check(usr1_count == 2, "blocked signal not delivered");
    check(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1), "signal is pending");
    check(sigprocmask(SIG_SETMASK, &old, NULL) == 0 && usr1_count == 3,
          "unblocking delivers the pending signal");

    // SA_SIGINFO: signal number, code and sender.
    struct sigaction si = {0};
    si.sa_sigaction = on_info;
    si.sa_flags = SA_SIGINFO;
    sigemptyset(&si.sa_mask);
    check(sigaction(SIGUSR2, &si, NULL) == 0, "sigaction SIGUSR2 SA_SIGINFO");
    kill(getpid(), SIGUSR2);
    check(info_signo == SIGUSR2 && info_code == SI_USER && info_pid == getpid(),
          "siginfo: signo, SI_USER, si_pid");

    // Ignored signal: nothing happens.
    signal(SIGUSR2, SIG_IGN);
    check(raise(SIGUSR2) == 0, "ignored signal is harmless");

    // SIGSEGV handler recovers from a write to a read-only page; si_addr is the address.
    struct sigaction sv = {0};
    sv.sa_sigaction = on_segv;
    sv.sa_flags = SA_SIGINFO;
    sigemptyset(&sv.sa_mask);
    check(sigaction(SIGSEGV, &sv, NULL) == 0, "sigaction SIGSEGV");
    volatile char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(recover, 1) == 0) {
        ro[100] = 1;
        check(0, "write to a read-only page faults");
    } else {
        check(fault_addr == (uintptr_t)ro + 100, "SIGSEGV si_addr is the faulting address");
    }

    // The same, on an alternate signal stack.
    stack_t ss = {0};
    ss.ss_size = 64 * 1024;
    ss.ss_sp = malloc(ss.ss_size);
    check(sigaltstack(&ss, NULL) == 0, "sigaltstack");
    sv.sa_flags = SA_SIGINFO | SA_ONSTACK;
    check(sigaction(SIGSEGV, &sv, NULL) == 0, "sigaction SIGSEGV SA_ONSTACK");
    if (sigsetjmp(recover, 1) == 0) {
        ro[200] = 1;
        check(0, "second fault");
    } else {
        uintptr_t lo = (uintptr_t)ss.ss_sp, hi = lo + ss.ss_size;
        check(fault_addr == (uintptr_t)ro + 200, "second fault si_addr");
        check(handler_sp >= lo && handler_sp < hi, "handler ran on the alternate stack");
    }

    // sigsetjmp(.., 1) restored the mask: SIGSEGV is not left blocked.
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(!sigismember(&now, SIGSEGV), "signal mask restored by siglongjmp");

    return finish("signals");
}
