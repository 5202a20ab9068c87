// Record locks between descriptions and processes, O_EXCL races, and two shared mappings of
// one file seeing each other's writes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static int lock(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/locks-XXXXXX", argc > 1 ? argv[1] : "/tmp");
    if (!mkdtemp(dir) || chdir(dir) != 0) return 2;

    int a = open("f", O_RDWR | O_CREAT, 0644), b = open("f", O_RDWR);
    ftruncate(a, 4096);
    // OFD locks conflict between two descriptions, even in one process.
    check(lock(a, F_OFD_SETLK, F_WRLCK, 0, 100) == 0, "OFD write lock on description a");
    errno = 0;
    check(lock(b, F_OFD_SETLK, F_WRLCK, 50, 10) == -1 && errno == EAGAIN, "OFD lock on b conflicts: EAGAIN");
    check(lock(b, F_OFD_SETLK, F_WRLCK, 100, 10) == 0, "OFD lock on a disjoint range");
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check(fcntl(b, F_OFD_GETLK, &q) == 0 && q.l_type == F_WRLCK && q.l_start == 0 && q.l_len == 100 && q.l_pid == -1,
          "OFD GETLK reports the conflicting lock");
    check(lock(a, F_OFD_SETLK, F_UNLCK, 0, 100) == 0 && lock(b, F_OFD_SETLK, F_WRLCK, 0, 10) == 0, "unlock lets b lock");
    lock(b, F_OFD_SETLK, F_UNLCK, 0, 0);

    // Classic POSIX locks: a process never conflicts with itself; another process does.
    check(lock(a, F_SETLK, F_WRLCK, 0, 10) == 0 && lock(b, F_SETLK, F_WRLCK, 0, 10) == 0, "POSIX locks of one process do not conflict");
    pid_t child = fork();
    if (child == 0) {
        int c = open("f", O_RDWR);
        errno = 0;
        int busy = lock(c, F_SETLK, F_WRLCK, 5, 1) == -1 && (errno == EAGAIN || errno == EACCES);
        struct flock g = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        int seen = fcntl(c, F_GETLK, &g) == 0 && g.l_type == F_WRLCK && g.l_pid == getppid();
        _exit(busy && seen ? 0 : 1);
    }
    int st;
    waitpid(child, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "another process sees the POSIX lock and its owner pid");
    close(b); // closing any fd of the file drops the process's POSIX locks
    child = fork();
    if (child == 0) {
        int c = open("f", O_RDWR);
        _exit(lock(c, F_SETLK, F_WRLCK, 0, 10) == 0 ? 0 : 1);
    }
    waitpid(child, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "closing another fd released the POSIX locks");

    // flock between descriptions.
    int c = open("f", O_RDONLY), d = open("f", O_RDONLY);
    check(flock(c, LOCK_EX | LOCK_NB) == 0, "flock exclusive");
    errno = 0;
    check(flock(d, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK, "flock conflicts between descriptions");
    close(c);
    check(flock(d, LOCK_SH | LOCK_NB) == 0, "flock released on close");

    // O_EXCL race: eight processes create the same name; exactly one wins.
    for (int i = 0; i < 8; i++)
        if (fork() == 0) _exit(open("race", O_WRONLY | O_CREAT | O_EXCL, 0644) >= 0 ? 0 : 1);
    int winners = 0;
    for (int i = 0; i < 8; i++) {
        wait(&st);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) winners++;
    }
    check(winners == 1, "O_EXCL race has exactly one winner");

    // Two MAP_SHARED mappings of one file, in two processes, see each other's writes.
    int m = open("map", O_RDWR | O_CREAT, 0644);
    ftruncate(m, 4096);
    char *p1 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    char *p2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    strcpy(p1, "one");
    check(strcmp(p2, "one") == 0, "second mapping sees the first's write");
    child = fork();
    if (child == 0) {
        int f = open("map", O_RDWR);
        char *p3 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
        strcpy(p3 + 100, "child");
        _exit(strcmp(p3, "one") == 0 ? 0 : 1);
    }
    waitpid(child, &st, 0);
    char buf[8] = {0};
    pread(m, buf, 5, 100);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(p1 + 100, "child") == 0 && strcmp(buf, "child") == 0,
          "another process's mapping and read() see the same bytes");

    unlink("f"); unlink("race"); unlink("map");
    chdir("/");
    rmdir(dir);
    return finish("locks");
}
