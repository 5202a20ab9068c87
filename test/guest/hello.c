// hello: the smallest fixture. Writes "hello, world\n" with a raw write(2) and exits 0.
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    static const char msg[] = "hello, world\n";
    long n = syscall(SYS_write, 1, msg, sizeof msg - 1);
    return n == (long)(sizeof msg - 1) ? 0 : 1;
}
