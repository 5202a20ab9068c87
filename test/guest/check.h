// check.h: helpers the guest fixtures share. Each fixture is one translation unit, so
// everything here is static; include it after the fixture's own #defines and #includes.
//
//   failures                 the count of failed checks (a child's own after fork_checks)
//   check(ok, what)          prints "check WHAT: ok" or "check WHAT: FAILED"
//   pass / fail / EXPECT*    the "check NAME: FAILED (detail)" style, with errno names
//                            (EXPECT, EXPECT_OK, EXPECT_ERR, EXPECT_EQ; need _GNU_SOURCE)
//   check_ok / check_err(_errno)  a call returning 0, or -1 with a given errno (need _GNU_SOURCE)
//   fork_checks, exit_checks, reap, in_child
//                            checks run in a forked child; its failures count in the parent
//   finish, finish_count, finish_as
//                            the last line ("NAME ok" / "NAME FAILED" [" (N)"]) and exit status
//   count_arg                a benchmark's iteration count from argv[1]
//   make_workdir, rm_rf_at   a fresh directory DIR/PREFIX-XXXXXX to work in, and its removal
//   fork_and_reap, fork_ns_each
//                            fork, _exit(0) in the child, wait (the fork benchmarks' step)
//   on_fault, probe          with CHECK_FAULTS defined before the include: catch SIGSEGV and
//                            SIGBUS of one access (install on_fault for them first)
#ifndef GUEST_CHECK_H
#define GUEST_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK_UNUSED __attribute__((unused))

static int failures;

// Prints "check WHAT: ok" or "check WHAT: FAILED" and counts a failure.
static CHECK_UNUSED void check(int ok, const char *what) {
    printf("check %s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

// Prints "NAME ok" or "NAME FAILED"; returns the exit status, 0 only if every check passed.
static CHECK_UNUSED int finish(const char *name) {
    printf("%s %s\n", name, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

// Prints "NAME ok" or "NAME FAILED (N)"; returns the exit status.
static CHECK_UNUSED int finish_count(const char *name) {
    if (failures) printf("%s FAILED (%d)\n", name, failures);
    else printf("%s ok\n", name);
    return failures ? 1 : 0;
}

// Prints the line FAILED_FMT (a printf format for the failure count) or OK_LINE; returns the
// exit status. For fixtures whose last line has another shape ("NAME: N checks FAILED").
static CHECK_UNUSED int finish_as(const char *failed_fmt, const char *ok_line) {
    if (failures) {
        printf(failed_fmt, failures);
        return 1;
    }
    printf("%s\n", ok_line);
    return 0;
}

// A benchmark's iteration count: argv[1], DEF without it. Not a count > 0: prints "usage:
// PROG ARGS" to stderr and exits 2.
static CHECK_UNUSED long count_arg(int argc, char **argv, long def, const char *args) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : def;
    if (n <= 0) {
        fprintf(stderr, "usage: %s %s\n", argv[0], args);
        exit(2);
    }
    return n;
}

// Forks for checks that run in a child: returns fork()'s result; the child starts counting
// its failures from 0 and ends with exit_checks().
static CHECK_UNUSED pid_t fork_checks(void) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) failures = 0;
    return c;
}

// Ends a child of fork_checks: exit status 1 if any of its checks failed.
static CHECK_UNUSED __attribute__((noreturn)) void exit_checks(void) {
    fflush(stdout);
    _exit(failures ? 1 : 0);
}

// Waits for a child whose checks printed there; its failures (or its death) count here.
static CHECK_UNUSED void reap(pid_t c) {
    int status = 0;
    if (c < 0 || waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
}

// Runs fn in a forked child; the child's checks print there, its failures count here.
static CHECK_UNUSED void in_child(void (*fn)(void)) {
    pid_t c = fork_checks();
    if (c == 0) {
        fn();
        exit_checks();
    }
    reap(c);
}

// Removes PATH (relative to dirfd) recursively; best effort.
static CHECK_UNUSED void rm_rf_at(int dirfd, const char *path) {
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        fchmodat(dirfd, path, 0755, 0);
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (fd >= 0) {
            DIR *d = fdopendir(fd);
            if (d) {
                struct dirent *e;
                while ((e = readdir(d)) != NULL) {
                    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                    rm_rf_at(fd, e->d_name);
                }
                closedir(d);   // closes fd
            } else {
                close(fd);
            }
        }
        unlinkat(dirfd, path, AT_REMOVEDIR);
    } else {
        unlinkat(dirfd, path, 0);
    }
}

// Makes a fresh directory PARENT/PREFIX-XXXXXX, puts its canonical path in out (PATH_MAX
// bytes) and makes it the cwd. On failure prints why (perror) and returns -1.
static CHECK_UNUSED int make_workdir(const char *parent, const char *prefix, char *out) {
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/%s-XXXXXX", parent, prefix);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return -1;
    }
    if (!realpath(tmpl, out) || chdir(out) != 0) {
        perror(tmpl);
        return -1;
    }
    return 0;
}

// fork(); the child _exit(0)s at once; the parent waits for it. 0, or -1 after saying why.
static CHECK_UNUSED int fork_and_reap(void) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child ended with status 0x%x\n", status);
        return -1;
    }
    return 0;
}

// Nanoseconds per fork_and_reap, timed with CLOCK_MONOTONIC over N after WARMUP untimed
// ones; -1 if one failed.
static CHECK_UNUSED double fork_ns_each(long warmup, long n) {
    for (long i = 0; i < warmup; i++)
        if (fork_and_reap() != 0) return -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (fork_and_reap() != 0) return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    return ns / (double)n;
}

#ifdef _GNU_SOURCE
// The name of errno value e ("none" for 0).
static CHECK_UNUSED const char *ename(int e) {
    if (e == 0) return "none";
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static CHECK_UNUSED void pass(const char *name) { printf("check %s: ok\n", name); }

// Prints "check NAME: FAILED (detail)" and counts a failure.
static CHECK_UNUSED __attribute__((format(printf, 2, 3))) void fail(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("check %s: FAILED (", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(")\n");
    failures++;
}

// COND must hold; on failure the last errno (possibly from a call before COND) is shown.
#define EXPECT(name, cond)                                                            \
    do {                                                                              \
        if (cond) pass(name);                                                         \
        else fail(name, "condition `%s` false, last errno %s", #cond, ename(errno)); \
    } while (0)

// EXPR (a syscall-like call) must not return -1.
#define EXPECT_OK(name, expr)                                                         \
    do {                                                                              \
        errno = 0;                                                                    \
        long _r = (long)(expr);                                                       \
        if (_r != -1) pass(name);                                                     \
        else fail(name, "returned -1 errno %s, expected success", ename(errno));      \
    } while (0)

// EXPR must return -1 with errno E.
#define EXPECT_ERR(name, expr, E)                                                     \
    do {                                                                              \
        errno = 0;                                                                    \
        long _r = (long)(expr);                                                       \
        int _e = errno;                                                               \
        if (_r == -1 && _e == (E)) pass(name);                                        \
        else if (_r == -1) fail(name, "errno %s, expected %s", ename(_e), #E);        \
        else fail(name, "returned %ld, expected -1 with %s", _r, #E);                 \
    } while (0)

// EXPR must return exactly WANT.
#define EXPECT_EQ(name, expr, want)                                                   \
    do {                                                                              \
        errno = 0;                                                                    \
        long long _r = (long long)(expr);                                             \
        long long _w = (long long)(want);                                             \
        if (_r == _w) pass(name);                                                     \
        else if (_r == -1) fail(name, "returned -1 errno %s, expected %lld", ename(errno), _w); \
        else fail(name, "got %lld, expected %lld", _r, _w);                           \
    } while (0)

// A call (rc, with errno e as it left it) that must fail with errno WANT: the check is named
// "WHAT fails with EWANT"; on failure a line "  (got rc=RC errno=E)" follows, where E is "-"
// when rc is not -1 unless errno_always.
static CHECK_UNUSED void report_err(long rc, int e, int want, const char *what, int errno_always) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s fails with %s", what, strerrorname_np(want));
    check(rc == -1 && e == want, buf);
    if (!(rc == -1 && e == want))
        printf("  (got rc=%ld errno=%s)\n", rc, rc == -1 || errno_always ? strerrorname_np(e) : "-");
}
static CHECK_UNUSED void check_err(long rc, int want, const char *what) { report_err(rc, errno, want, what, 0); }
// The same, its detail line showing errno also when rc is not -1.
static CHECK_UNUSED void check_err_errno(long rc, int want, const char *what) { report_err(rc, errno, want, what, 1); }

// A call (rc, with errno as it left it) that must return 0.
static CHECK_UNUSED void check_ok(long rc, const char *what) {
    int e = errno;
    check(rc == 0, what);
    if (rc != 0) printf("  (got rc=%ld errno=%s)\n", rc, strerrorname_np(e));
}
#endif // _GNU_SOURCE

#ifdef CHECK_FAULTS
#include <setjmp.h>
#include <signal.h>

static sigjmp_buf jump;
static volatile int caught;   // the signal the last probed access raised, 0 if none

// A SIGSEGV/SIGBUS handler: records the signal and jumps back to the access's sigsetjmp.
static CHECK_UNUSED void on_fault(int sig) {
    caught = sig;
    siglongjmp(jump, 1);
}

// The signal a read of p (or, if write, a write of 'w' to it) raises, 0 if none.
static CHECK_UNUSED int probe(volatile char *p, int write) {
    caught = 0;
    if (sigsetjmp(jump, 1) == 0) {
        if (write) *p = 'w';
        else (void)*p;
    }
    return caught;
}
#endif // CHECK_FAULTS

#endif // GUEST_CHECK_H
