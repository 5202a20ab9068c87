// threads: pthread_create/join (clone, set_tid_address, futex), per-thread TLS and a
// mutex-protected counter. Output does not depend on scheduling. Exits 0 on success.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 4
#define ITERS 10000

__thread int tls_init = 42;
__thread int tls_zero;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

struct result {
    int init_seen, zero_seen, tid_differs;
    uintptr_t addr;
};

static void *worker(void *arg) {
    struct result *r = arg;
    r->init_seen = tls_init; // a new thread gets a fresh copy of the TLS image
    r->zero_seen = tls_zero;
    r->addr = (uintptr_t)&tls_init;
    r->tid_differs = syscall(SYS_gettid) != getpid();
    tls_init = 1000;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(intptr_t)7;
}

int main(void) {
    int failures = 0;
    tls_init = 1; // the main thread's copy changes; threads must still see 42
    tls_zero = 2;
    pthread_t t[THREADS];
    struct result r[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, &r[i]) != 0) {
            printf("pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;
        if (pthread_join(t[i], &ret) != 0 || ret != (void *)7) failures++;
    }
    for (int i = 0; i < THREADS; i++) {
        printf("thread %d: tls_init=%d tls_zero=%d own-tid=%s own-tls=%s\n", i, r[i].init_seen,
               r[i].zero_seen, r[i].tid_differs ? "yes" : "no",
               r[i].addr != (uintptr_t)&tls_init ? "yes" : "no");
        if (r[i].init_seen != 42 || r[i].zero_seen != 0 || !r[i].tid_differs ||
            r[i].addr == (uintptr_t)&tls_init)
            failures++;
        for (int j = 0; j < i; j++)
            if (r[i].addr == r[j].addr) failures++;
    }
    printf("main: tls_init=%d tls_zero=%d\n", tls_init, tls_zero);
    printf("counter=%ld\n", counter);
    if (tls_init != 1 || tls_zero != 2 || counter != (long)THREADS * ITERS) failures++;
    printf("%s\n", failures ? "threads FAILED" : "threads ok");
    return failures ? 1 : 0;
}
