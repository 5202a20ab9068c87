// escape: tries to change the host from inside the sandbox with raw system calls:
// mkdir(argv[1]) and sethostname(argv[2]). Prints what the calls returned; the test then
// checks that the host is unchanged. Exits 0 after making the calls.
//
// Safety: outside a sandbox these calls would really change the host (as root), so the
// program refuses (exit 2) unless it is pid 1, as it is inside the sandbox.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: escape PATH HOSTNAME\n");
        return 2;
    }
    if (syscall(SYS_getpid) != 1) {
        fprintf(stderr, "escape: refusing to run: not pid 1, so probably not sandboxed\n");
        return 2;
    }
    errno = 0;
    long r = syscall(SYS_mkdir, argv[1], 0755);
    printf("mkdir(%s) = %ld (%s)\n", argv[1], r, r == 0 ? "ok" : strerror(errno));
    errno = 0;
    r = syscall(SYS_sethostname, argv[2], strlen(argv[2]));
    printf("sethostname(%s) = %ld (%s)\n", argv[2], r, r == 0 ? "ok" : strerror(errno));
    return 0;
}
