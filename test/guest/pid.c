// pid: prints pid, ppid and tid. Exits 0 when the program is pid 1 (as in the sandbox),
// 1 otherwise (as when run natively).
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    pid_t pid = getpid(), ppid = getppid();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    printf("pid=%d\nppid=%d\ntid=%d\n", (int)pid, (int)ppid, (int)tid);
    printf("tid==pid: %s\n", tid == pid ? "yes" : "no");
    return pid == 1 ? 0 : 1;
}
