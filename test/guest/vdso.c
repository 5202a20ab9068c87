// The vDSO: offered in the auxiliary vector, and its clocks agree with the system call's.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static long ns(struct timespec t) { return t.tv_sec * 1000000000L + t.tv_nsec; }

/* A child that makes its vDSO writable (Linux: a private copy; the sandbox may refuse) and
 * scribbles over it must not change the parent's: the pages are never shared writably. */
static void test_vdso_stays_private(void) {
    unsigned char *vdso = (unsigned char *)getauxval(AT_SYSINFO_EHDR);
    unsigned char before[4096];
    memcpy(before, vdso, sizeof before);
    pid_t child = fork();
    if (child == 0) {
        if (mprotect(vdso, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0) memset(vdso, 0xcc, 4096);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child writing its vDSO exits normally");
    check(memcmp(before, vdso, sizeof before) == 0, "the parent's vDSO is untouched by the child's writes");
    struct timespec t;
    check(clock_gettime(CLOCK_MONOTONIC, &t) == 0, "the parent's vDSO clock still works");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    check(getauxval(AT_SYSINFO_EHDR) != 0, "AT_SYSINFO_EHDR is offered");
    struct timespec prev, now, sys;
    clock_gettime(CLOCK_MONOTONIC, &prev);
    int backwards = 0;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ns(now) < ns(prev)) backwards++;
        prev = now;
    }
    check(backwards == 0, "CLOCK_MONOTONIC never goes backwards");
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sys);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long d = ns(now) - ns(sys);
    check(d >= -1000000 && d < 50000000, "vDSO and syscall CLOCK_MONOTONIC agree");
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &sys);
    clock_gettime(CLOCK_REALTIME, &now);
    d = ns(now) - ns(sys);
    check(d >= -1000000 && d < 50000000, "vDSO and syscall CLOCK_REALTIME agree");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    check(tv.tv_sec - now.tv_sec <= 1 && tv.tv_sec >= now.tv_sec, "gettimeofday agrees");
    check(time(NULL) - now.tv_sec <= 1, "time agrees");
    int cpu = sched_getcpu();
    check(cpu >= 0 && cpu < sysconf(_SC_NPROCESSORS_CONF) + 64, "getcpu");
    struct timespec res;
    check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0, "clock_getres");
    struct timespec cpu_time;
    check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_time) == 0, "other clocks fall back to the syscall");
    test_vdso_stays_private();
    return finish("vdso");
}
