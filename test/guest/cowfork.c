// cowfork: fork shares private memory copy-on-write, and neither side may ever see the other's
// later writes. Parent and child write the same pages after fork; read() (from a pipe and from
// a file) into a buffer shared after fork; a child forks again; a thread keeps writing while
// its process forks; munmap/mprotect/mremap/MADV_DONTNEED/PROT_NONE after fork; MAP_SHARED
// stays shared. Prints one line per check, then "cowfork ok" or "cowfork FAILED".
// "cowfork release" instead forks a process with a 64 MiB written heap many times, each child
// writing all of it, and checks that the memory comes back (sysinfo's free RAM, which the
// sandbox takes from its own accounting).
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#define PAGE 4096UL
#define PAGES 64

// Every page of p (n pages) starts with byte v and ends with byte v.
static int all_pages(const char *p, int n, char v) {
    for (int i = 0; i < n; i++)
        if (p[i * PAGE] != v || p[i * PAGE + PAGE - 1] != v) return 0;
    return 1;
}

static void fill(char *p, int n, char v) {
    for (int i = 0; i < n; i++) memset(p + i * PAGE, v, PAGE);
}

static int wait_child(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void put(int fd) {
    char c = 1;
    if (write(fd, &c, 1) != 1) _exit(90);
}

static void get(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) _exit(91);
}

// Parent and child take turns writing the same pages; each must see only its own writes.
static void same_pages(void) {
    char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(p, PAGES, 'a');
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) exit(2);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int code = 0;
        if (!all_pages(p, PAGES, 'a')) code |= 1;
        fill(p, PAGES / 2, 'c'); // the first half first
        put(to_parent[1]);
        get(to_child[0]); // the parent has written all pages now
        if (!all_pages(p, PAGES / 2, 'c') || !all_pages(p + PAGES / 2 * PAGE, PAGES / 2, 'a')) code |= 2;
        fill(p, PAGES, 'C');
        put(to_parent[1]);
        get(to_child[0]);
        if (!all_pages(p, PAGES, 'C')) code |= 4;
        _exit(code);
    }
    get(to_parent[0]);
    check(all_pages(p, PAGES, 'a'), "the child's writes are not seen by the parent");
    fill(p, PAGES, 'P');
    put(to_child[1]);
    get(to_parent[0]);
    check(all_pages(p, PAGES, 'P'), "the child's second writes to the same pages are not seen either");
    put(to_child[1]);
    check(wait_child(pid) == 0, "the child saw only its own writes");
    check(all_pages(p, PAGES, 'P'), "after the child is gone the parent still has its data");
    fill(p, PAGES, 'Q');
    check(all_pages(p, PAGES, 'Q'), "and writes it in place");
    munmap(p, PAGES * PAGE);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
}

// read() by the kernel into a buffer shared after fork: only the reader's copy changes.
static void read_into_shared(void) {
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(p, 4, 'r');
    char path[] = "/tmp/cowforkXXXXXX";
    int file = mkstemp(path);
    unlink(path);
    char data[2 * PAGE];
    memset(data, 'F', sizeof data);
    if (write(file, data, sizeof data) != (ssize_t)sizeof data) exit(2);
    int data_pipe[2], done[2];
    if (pipe(data_pipe) || pipe(done)) exit(2);
    memset(data, 'K', PAGE);
    if (write(data_pipe[1], data, PAGE) != (ssize_t)PAGE) exit(2);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int code = 0;
        // From a pipe, across a page boundary, and from a file into two whole pages.
        if (read(data_pipe[0], p + PAGE / 2, PAGE) != (ssize_t)PAGE) code |= 1;
        if (pread(file, p + 2 * PAGE, 2 * PAGE, 0) != (ssize_t)(2 * PAGE)) code |= 2;
        if (p[0] != 'r' || p[PAGE / 2] != 'K' || p[PAGE / 2 + PAGE - 1] != 'K' || p[PAGE / 2 + PAGE] != 'r') code |= 4;
        if (!all_pages(p + 2 * PAGE, 2, 'F')) code |= 8;
        put(done[1]);
        _exit(code);
    }
    get(done[0]);
    check(all_pages(p, 4, 'r'), "the child's read() into shared pages did not write the parent's");
    check(wait_child(pid) == 0, "the child's read() filled its own pages");
    // The other way round: the parent reads while a child still shares the pages.
    memset(data, 'M', PAGE);
    if (write(data_pipe[1], data, PAGE) != (ssize_t)PAGE) exit(2);
    int go[2];
    if (pipe(go)) exit(2);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        get(go[0]);
        _exit(all_pages(p, 4, 'r') ? 0 : 1);
    }
    check(read(data_pipe[0], p, PAGE) == (ssize_t)PAGE && all_pages(p, 1, 'M'), "the parent's read() into shared pages");
    check(pread(file, p + PAGE, PAGE, 0) == (ssize_t)PAGE && all_pages(p + PAGE, 1, 'F'), "the parent's pread() into shared pages");
    put(go[1]);
    check(wait_child(pid) == 0, "the child does not see what the parent read");
    close(file);
    close(data_pipe[0]);
    close(data_pipe[1]);
    close(done[0]);
    close(done[1]);
    close(go[0]);
    close(go[1]);
    munmap(p, 4 * PAGE);
}

// A child forks again: three generations each write the pages and keep their own.
static void generations(void) {
    char *p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(p, 8, '1');
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fill(p, 4, '2');
        pid_t grandchild = fork();
        if (grandchild == 0) {
            int code = all_pages(p, 4, '2') && all_pages(p + 4 * PAGE, 4, '1') ? 0 : 1;
            fill(p, 8, '3');
            _exit(code | (all_pages(p, 8, '3') ? 0 : 2));
        }
        int g = wait_child(grandchild);
        int code = g == 0 ? 0 : 4;
        if (!all_pages(p, 4, '2') || !all_pages(p + 4 * PAGE, 4, '1')) code |= 8;
        _exit(code);
    }
    check(wait_child(pid) == 0, "a child's child sees the child's pages and keeps its own writes");
    check(all_pages(p, 8, '1'), "the grandparent keeps its data");
    munmap(p, 8 * PAGE);
}

// A thread keeps writing while the main thread forks: the child's memory must not change.
static atomic_int stop;
static volatile unsigned long *counters;

static void *writer(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        for (int i = 0; i < 16; i++) counters[i * PAGE / sizeof(long)]++;
    return NULL;
}

static void threads_during_fork(void) {
    counters = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    while (counters[15 * PAGE / sizeof(long)] < 1000) sched_yield();
    int bad = 0;
    for (int round = 0; round < 4; round++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            unsigned long seen[16];
            for (int i = 0; i < 16; i++) seen[i] = counters[i * PAGE / sizeof(long)];
            for (int k = 0; k < 5; k++) {
                usleep(1000);
                for (int i = 0; i < 16; i++)
                    if (counters[i * PAGE / sizeof(long)] != seen[i]) _exit(1);
            }
            _exit(0);
        }
        if (wait_child(pid) != 0) bad++;
    }
    unsigned long before = counters[0];
    while (counters[0] == before) sched_yield();
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    check(bad == 0, "the parent's thread writing during and after fork never changes the child's memory");
    munmap((void *)counters, 16 * PAGE);
}

// munmap, mprotect, mremap, MADV_DONTNEED and PROT_NONE after fork touch only the caller's view.
static void mapping_changes(void) {
    char *p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(p, 8, 'm');
    mprotect(p + 7 * PAGE, PAGE, PROT_NONE);
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) exit(2);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int code = 0;
        get(go[0]); // the parent has unmapped and protected its view
        if (!all_pages(p, 7, 'm')) code |= 1;
        fill(p, 2, 'x');
        if (madvise(p + 2 * PAGE, PAGE, MADV_DONTNEED) != 0 || p[2 * PAGE] != 0) code |= 2;
        char *q = mremap(p + 3 * PAGE, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
        if (q == MAP_FAILED || !all_pages(q, 2, 'm') || q[2 * PAGE] != 0) code |= 4;
        else fill(q, 2, 'y');
        if (mprotect(p + 7 * PAGE, PAGE, PROT_READ | PROT_WRITE) != 0 || p[7 * PAGE] != 'm') code |= 8;
        p[7 * PAGE] = 'z';
        put(ready[1]);
        _exit(code);
    }
    munmap(p, 2 * PAGE);
    mprotect(p + 2 * PAGE, 5 * PAGE, PROT_READ);
    put(go[1]);
    get(ready[0]);
    check(all_pages(p + 2 * PAGE, 5, 'm'), "the child's write, MADV_DONTNEED and mremap leave the parent's pages");
    check(mprotect(p + 7 * PAGE, PAGE, PROT_READ | PROT_WRITE) == 0 && p[7 * PAGE] == 'm', "a PROT_NONE page keeps the parent's data");
    check(wait_child(pid) == 0, "the child's view survives the parent's munmap and mprotect");
    check(mprotect(p + 2 * PAGE, 5 * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back to writable");
    fill(p + 2 * PAGE, 6, 'w');
    check(all_pages(p + 2 * PAGE, 6, 'w'), "and written");
    munmap(p + 2 * PAGE, 6 * PAGE);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

static void shared_stays_shared(void) {
    char *s = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(s, 4, 's');
    fill(p, 4, 'p');
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fill(s, 4, 'S');
        fill(p, 4, 'X');
        _exit(0);
    }
    check(wait_child(pid) == 0, "child ran");
    check(all_pages(s, 4, 'S'), "MAP_SHARED memory is still shared after fork");
    check(all_pages(p, 4, 'p'), "private memory next to it is not");
    munmap(s, 4 * PAGE);
    munmap(p, 4 * PAGE);
}

static unsigned long free_mib(void) {
    struct sysinfo si;
    sysinfo(&si);
    return (unsigned long)(si.freeram * si.mem_unit >> 20);
}

// Many forks of a 64 MiB written heap, each child writing all of it: nothing is kept.
static int release(void) {
    const size_t size = 64UL << 20;
    char *heap = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < size; i += PAGE) heap[i] = 1;
    unsigned long before = free_mib();
    int bad = 0;
    for (int round = 0; round < 24; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (size_t i = 0; i < size; i += PAGE) heap[i] = 2;
            _exit(0);
        }
        if (wait_child(pid) != 0) bad++;
        for (size_t i = 0; i < size; i += PAGE) heap[i] = (char)round; // the parent writes too
    }
    unsigned long after = free_mib();
    long lost = (long)before - (long)after;
    check(bad == 0, "24 children wrote the whole heap");
    check(lost < 128, "their memory came back");
    if (lost >= 128) printf("lost %ld MiB\n", lost);
    return finish("cowfork");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "release") == 0) return release();
    same_pages();
    read_into_shared();
    generations();
    threads_during_fork();
    mapping_changes();
    shared_stays_shared();
    return finish("cowfork");
}
