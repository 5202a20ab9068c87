// segv: writes to a read-only page and must die with SIGSEGV. The line printed before
// the fault is flushed so the test can see the fault was reached.
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    printf("before fault: read %d\n", p[0]);
    fflush(stdout);
    p[0] = 1; // SIGSEGV: the page is PROT_READ
    printf("after fault (should not happen)\n");
    return 1;
}
