// System calls that do not use the `syscall` instruction. Old static binaries call
// gettimeofday, time and getcpu at fixed addresses in the vsyscall page (0xffffffffff600000);
// the host kernel emulates those in its page-fault path, so in the sandbox they must reach
// the Sentry instead (sandbox time, sandbox CPU). `int $0x80` is the i386 ABI, which the
// sandbox does not offer (ENOSYS), while natively it runs i386 getpid (eax = 20).
//
// Prints one line per check (the same natively and sandboxed), then one line about int 0x80
// that differs (the test compares it separately), then "vsyscall ok".
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define VSYSCALL_GETTIMEOFDAY 0xffffffffff600000UL
#define VSYSCALL_TIME 0xffffffffff600400UL
#define VSYSCALL_GETCPU 0xffffffffff600800UL

// Linux lists the page as "[vsyscall]" unless booted with vsyscall=none.
static int has_vsyscall_page(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "[vsyscall]")) found = 1;
    fclose(f);
    return found;
}

static void test_vsyscall_page(void) {
    long (*vgettimeofday)(struct timeval *, struct timezone *) = (void *)VSYSCALL_GETTIMEOFDAY;
    long (*vtime)(time_t *) = (void *)VSYSCALL_TIME;
    long (*vgetcpu)(unsigned *, unsigned *, void *) = (void *)VSYSCALL_GETCPU;

    struct timespec now;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &now);

    struct timeval tv = {0, -1};
    long r = vgettimeofday(&tv, NULL);
    check(r == 0, "vsyscall gettimeofday returns 0");
    check(labs((long)tv.tv_sec - (long)now.tv_sec) <= 1 && tv.tv_usec >= 0 && tv.tv_usec < 1000000,
          "vsyscall gettimeofday agrees with CLOCK_REALTIME");

    time_t stored = 0;
    long t = vtime(&stored);
    check(t == (long)stored, "vsyscall time returns what it stores");
    check(labs(t - (long)now.tv_sec) <= 1, "vsyscall time agrees with CLOCK_REALTIME");
    check(labs(vtime(NULL) - (long)now.tv_sec) <= 1, "vsyscall time(NULL)");

    // The thread may move between the two calls natively: retry until both see one CPU.
    int agree = 0, ok = 1;
    for (int i = 0; i < 100 && !agree; i++) {
        unsigned vcpu = ~0u, vnode = ~0u, cpu = ~1u, node = ~1u;
        ok = vgetcpu(&vcpu, &vnode, NULL) == 0 && syscall(SYS_getcpu, &cpu, &node, NULL) == 0;
        agree = ok && vcpu == cpu && vnode == node;
    }
    check(ok, "vsyscall getcpu returns 0");
    check(agree, "vsyscall getcpu agrees with the getcpu syscall");

    // NULL pointers: nothing is written.
    check(vgettimeofday(NULL, NULL) == 0, "vsyscall gettimeofday(NULL, NULL)");
}

static volatile sig_atomic_t sigsys_seen;
static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    if (sig == SIGSYS && si->si_code == SI_TKILL) sigsys_seen = 1;
}

static sigjmp_buf int80_fault;
static void on_segv(int sig) { siglongjmp(int80_fault, sig); }

static long int80(long nr) {
    long r = nr;
    __asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
    return r;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (has_vsyscall_page()) {
        printf("vsyscall page: present\n");
        test_vsyscall_page();
    } else {
        printf("vsyscall page: skipped: no [vsyscall] in /proc/self/maps (kernel booted with vsyscall=none)\n");
    }

    // A SIGSYS that some process sends is an ordinary signal.
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSYS);
    check(sigsys_seen, "a SIGSYS from tgkill reaches its handler");

    // i386 getpid. Without IA32 emulation the host answers int 0x80 with SIGSEGV.
    signal(SIGSEGV, on_segv);
    signal(SIGBUS, on_segv);
    long pid = getpid();
    if (sigsetjmp(int80_fault, 1) == 0) {
        long r1 = int80(20);
        long r2 = int80(20);
        if (r1 == pid && r2 == pid) printf("int 0x80 getpid: the pid\n");
        else if (r1 == -ENOSYS && r2 == -ENOSYS) printf("int 0x80 getpid: ENOSYS\n");
        else printf("int 0x80 getpid: %ld, %ld (pid %ld)\n", r1, r2, pid);
    } else {
        printf("int 0x80 getpid: a fault (no i386 emulation)\n");
    }

    return finish("vsyscall");
}
