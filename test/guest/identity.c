// identity: credentials, capabilities, process groups and sessions, scheduling attributes,
// membarrier, close_range, personality and RLIMIT_NOFILE. Run as root: the checks that drop
// privileges do so in forked children. Prints one line per check and "identity ok" last;
// the output is the same natively and in the sandbox. Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4
#endif

struct caps { uint64_t eff, prm, inh; };

static int get_caps(pid_t pid, struct caps *out) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    out->eff = d[0].effective | (uint64_t)d[1].effective << 32;
    out->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    out->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    return 0;
}

static int set_caps(const struct caps *c) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {
        {(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
        {(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32)},
    };
    return syscall(SYS_capset, &h, d);
}

#define BIT(n) (1ULL << (n))

static void test_ids(void) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    check(setresuid(1000, 1001, 0) == 0, "setresuid(1000, 1001, 0) as root");
    check(getresuid(&r, &e, &s) == 0 && r == 1000 && e == 1001 && s == 0, "getresuid round trip");
    check(getuid() == 1000 && geteuid() == 1001, "getuid/geteuid follow");
    struct caps c;
    check(get_caps(0, &c) == 0 && c.eff == 0 && (c.prm & BIT(CAP_SETUID)), "euid != 0: no effective caps, permitted kept");
    check(setresuid(0, 0, 0) == 0, "setresuid back to 0 through the saved uid");
    check(get_caps(0, &c) == 0 && (c.eff & BIT(CAP_SETUID)) && c.eff == c.prm, "euid 0 again: effective = permitted");

    check(setresgid(2000, 2001, 2002) == 0, "setresgid(2000, 2001, 2002)");
    check(getresgid(&gr, &ge, &gs) == 0 && gr == 2000 && ge == 2001 && gs == 2002, "getresgid round trip");
    check(getgid() == 2000 && getegid() == 2001, "getgid/getegid follow");
    check(setgid(3000) == 0 && getresgid(&gr, &ge, &gs) == 0 && gr == 3000 && ge == 3000 && gs == 3000,
          "setgid as root sets all three");

    check(setreuid(1500, -1) == 0 && getresuid(&r, &e, &s) == 0 && r == 1500 && e == 0 && s == 0,
          "setreuid(1500, -1): saved follows euid");
    check(setreuid(-1, 1600) == 0 && getresuid(&r, &e, &s) == 0 && r == 1500 && e == 1600 && s == 1600,
          "setreuid(-1, 1600): euid differs from ruid so saved follows");
    check_err_errno(setreuid(-1, 0), EPERM, "setreuid(-1, 0) without 0 among the ids");
    check(setreuid(1600, 1500) == 0 && getresuid(&r, &e, &s) == 0 && r == 1600 && e == 1500 && s == 1500,
          "setreuid swaps real and effective unprivileged");
    check(setuid(1600) == 0 && getresuid(&r, &e, &s) == 0 && r == 1600 && e == 1600 && s == 1500,
          "unprivileged setuid(ruid) sets only the euid");
    check(setuid(1500) == 0 && getresuid(&r, &e, &s) == 0 && r == 1600 && e == 1500 && s == 1500,
          "unprivileged setuid(suid) sets only the euid");
    check_err_errno(setuid(0), EPERM, "unprivileged setuid(0)");
    check_err_errno(setuid(-1), EINVAL, "setuid(-1)");
}

static void test_groups(void) {
    gid_t in[3] = {30, 10, 20}, out[8];
    check(setgroups(3, in) == 0, "setgroups 3 groups");
    check(getgroups(0, NULL) == 3, "getgroups(0) counts 3");
    int n = getgroups(8, out);
    check(n == 3 && out[0] == 10 && out[1] == 20 && out[2] == 30, "getgroups returns them sorted");
    check_err_errno(getgroups(1, out), EINVAL, "getgroups with a short buffer");
    check_err_errno(setgroups(65537, in), EINVAL, "setgroups beyond NGROUPS_MAX");
    check_err_errno(setgroups(2, (gid_t *)8), EFAULT, "setgroups with a bad pointer");
    check(setgroups(0, NULL) == 0 && getgroups(0, NULL) == 0, "setgroups(0) clears the list");
}

static void test_caps(void) {
    struct caps c, d;
    check(get_caps(0, &c) == 0, "capget");
    check((c.eff & BIT(CAP_SETUID)) && (c.eff & BIT(CAP_SETGID)) && (c.eff & BIT(CAP_SYS_NICE)),
          "root has CAP_SETUID, CAP_SETGID, CAP_SYS_NICE effective");
    check(get_caps(getpid(), &d) == 0 && d.eff == c.eff && d.prm == c.prm, "capget by own pid");

    struct __user_cap_header_struct h = {0x12345678, 0};
    struct __user_cap_data_struct data[2];
    check_err_errno(syscall(SYS_capget, &h, data), EINVAL, "capget with an unknown version");
    check(h.version == _LINUX_CAPABILITY_VERSION_3, "capget writes back the preferred version");
    h.version = 0x12345678;
    check(syscall(SYS_capget, &h, NULL) == 0 && h.version == _LINUX_CAPABILITY_VERSION_3,
          "capget(unknown version, NULL) probes the version");

    d = c;
    d.eff &= ~BIT(CAP_CHOWN);
    check(set_caps(&d) == 0 && get_caps(0, &d) == 0 && !(d.eff & BIT(CAP_CHOWN)) && (d.prm & BIT(CAP_CHOWN)),
          "capset drops CAP_CHOWN from effective");
    d.eff |= BIT(CAP_CHOWN);
    check(set_caps(&d) == 0 && get_caps(0, &d) == 0 && (d.eff & BIT(CAP_CHOWN)), "capset raises it again from permitted");
    d.prm &= ~BIT(CAP_SYS_BOOT);
    d.eff &= ~BIT(CAP_SYS_BOOT);
    check(set_caps(&d) == 0, "capset drops CAP_SYS_BOOT from permitted");
    d.prm |= BIT(CAP_SYS_BOOT);
    check_err_errno(set_caps(&d), EPERM, "capset adding to permitted");
    d.prm &= ~BIT(CAP_SYS_BOOT);
    d.eff |= BIT(CAP_SYS_BOOT);
    check_err_errno(set_caps(&d), EPERM, "capset effective beyond permitted");
    check(setfsuid(1234) == 0 && setfsuid(-1) == 1234, "root setfsuid(1234), setfsuid(-1) queries");
    check(get_caps(0, &d) == 0 && !(d.eff & BIT(CAP_CHOWN)) && (d.eff & BIT(CAP_SETUID)),
          "fsuid != 0 drops the file system caps only");
    check(setfsuid(0) == 1234 && get_caps(0, &d) == 0 && (d.eff & BIT(CAP_CHOWN)), "fsuid 0 brings them back");
    check(setfsgid(77) == 0 && setfsgid(-1) == 77, "root setfsgid(77)");
    check(prctl(PR_CAPBSET_READ, CAP_SETUID) == 1, "PR_CAPBSET_READ CAP_SETUID");
    check_err_errno(prctl(PR_CAPBSET_READ, 200), EINVAL, "PR_CAPBSET_READ of an unknown capability");
}

static void test_drop(void) {
    uid_t r, e, s;
    check(prctl(PR_GET_DUMPABLE) == 1, "dumpable before the drop");
    check(setgroups(0, NULL) == 0, "setgroups(0) before the drop");
    check(setresgid(65534, 65534, 65534) == 0, "setresgid(65534 x3)");
    check(setresuid(65534, 65534, 65534) == 0, "setresuid(65534 x3)");
    check(getresuid(&r, &e, &s) == 0 && r == 65534 && e == 65534 && s == 65534, "getresuid after the drop");
    check(prctl(PR_GET_DUMPABLE) == 0, "credential change makes the process non-dumpable");
    check_err_errno(setuid(0), EPERM, "setuid(0) after the drop");
    check_err_errno(setresuid(-1, 0, -1), EPERM, "setresuid(-1, 0, -1) after the drop");
    check_err_errno(seteuid(0), EPERM, "seteuid(0) after the drop");
    check_err_errno(setgid(0), EPERM, "setgid(0) after the drop");
    check_err_errno(setgroups(0, NULL), EPERM, "setgroups after the drop");
    check(setuid(65534) == 0, "setuid(own uid) after the drop");
    struct caps c;
    check(get_caps(0, &c) == 0 && c.eff == 0 && c.prm == 0 && c.inh == 0, "capget after the drop shows no caps");
    c.prm = c.eff = BIT(CAP_SETUID);
    check_err_errno(set_caps(&c), EPERM, "capset cannot regain CAP_SETUID");
    check(setfsuid(12345) == 65534 && setfsuid(-1) == 65534, "setfsuid to a foreign uid is refused silently");
    check(setfsgid(-1) == 65534, "setfsgid(-1) queries");

    // Scheduling rules for the unprivileged.
    check(setpriority(PRIO_PROCESS, 0, 10) == 0, "unprivileged setpriority raises nice to 10");
    errno = 0;
    check(getpriority(PRIO_PROCESS, 0) == 10 && errno == 0, "getpriority = 10");
    check_err_errno(setpriority(PRIO_PROCESS, 0, 5), EACCES, "unprivileged setpriority lowering nice");
    struct sched_param p = {.sched_priority = 1};
    check_err_errno(sched_setscheduler(0, SCHED_FIFO, &p), EPERM, "unprivileged sched_setscheduler SCHED_FIFO");
    p.sched_priority = 0;
    check(sched_setscheduler(0, SCHED_BATCH, &p) == 0 && sched_getscheduler(0) == SCHED_BATCH,
          "unprivileged SCHED_BATCH round trip");
    check_err_errno(kill(1, 0), EPERM, "kill(1, 0) across uids");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_max += 1;
    check_err_errno(setrlimit(RLIMIT_NOFILE, &rl), EPERM, "unprivileged raise of a hard limit");
}

static void test_keepcaps(void) {
    struct caps c;
    check(prctl(PR_GET_KEEPCAPS) == 0, "PR_GET_KEEPCAPS starts 0");
    check(prctl(PR_SET_KEEPCAPS, 1) == 0 && prctl(PR_GET_KEEPCAPS) == 1, "PR_SET_KEEPCAPS 1");
    check(setresuid(4000, 4000, 4000) == 0, "setresuid(4000 x3) with keepcaps");
    check(get_caps(0, &c) == 0 && c.eff == 0 && (c.prm & BIT(CAP_SETUID)), "keepcaps keeps permitted, clears effective");
    c.eff = BIT(CAP_SETUID);
    check(set_caps(&c) == 0, "capset raises CAP_SETUID from permitted");
    check(setresuid(0, 0, 0) == 0, "CAP_SETUID allows going back to 0");
}

static pid_t parent_sid, parent_pgrp;

static void test_session_grandchild(void) {
    pid_t me = getpid(), leader = getppid();
    check(getsid(0) == leader, "grandchild inherits the new session");
    check(getpgid(0) == leader, "grandchild inherits the process group");
    check(setpgid(0, 0) == 0 && getpgid(0) == me && getpgrp() == me, "setpgid(0, 0) makes a new group");
    check(setpgid(0, leader) == 0 && getpgid(0) == leader, "setpgid back to the leader's group");
    check_err_errno(setpgid(0, 999999), EPERM, "setpgid to a group that does not exist");
    check_err_errno(setpgid(leader, leader), ESRCH, "setpgid of the parent");
    check(setpgid(0, 0) == 0, "setpgid(0, 0) again");
    check_err_errno(setsid(), EPERM, "setsid as a process group leader");
}

static void test_session_child(void) {
    pid_t me = getpid();
    check(getsid(0) == parent_sid, "child starts in the parent's session");
    check(getpgid(0) == parent_pgrp, "child starts in the parent's group");
    check(getsid(getppid()) == parent_sid, "getsid of the parent");
    check(getpgid(getppid()) == parent_pgrp, "getpgid of the parent");
    check(setsid() == me, "setsid returns the new session id");
    check(getsid(0) == me && getpgrp() == me && getpgid(me) == me, "session and group ids are the pid");
    check_err_errno(setsid(), EPERM, "setsid twice");
    check_err_errno(setpgid(0, 0), EPERM, "setpgid of a session leader");
    check_err_errno(setpgid(0, -1), EINVAL, "setpgid with a negative pgid");
    in_child(test_session_grandchild);

    // setpgid on a child from its parent.
    int fds[2];
    pipe(fds);
    pid_t c = fork();
    if (c == 0) {
        char b;
        close(fds[1]);
        read(fds[0], &b, 1);
        _exit(getpgrp() == getpid() ? 0 : 1);
    }
    close(fds[0]);
    check(setpgid(c, c) == 0, "parent moves a child into its own group");
    check(getpgid(c) == c && getsid(c) == me, "getpgid/getsid of the child");
    check(setpgid(c, 0) == 0, "setpgid(child, 0) is the same group");
    write(fds[1], "x", 1);
    close(fds[1]);
    int status;
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw its group");
    check_err_errno(getpgid(c), ESRCH, "getpgid of a reaped child");
    check_err_errno(getsid(c), ESRCH, "getsid of a reaped child");
    check_err_errno(setpgid(c, 0), ESRCH, "setpgid of a reaped child");
}

static void test_priority(void) {
    errno = 0;
    check(setpriority(PRIO_PROCESS, 0, 5) == 0 && getpriority(PRIO_PROCESS, 0) == 5 && errno == 0, "nice 5 round trip");
    check(syscall(SYS_getpriority, PRIO_PROCESS, 0) == 15, "raw getpriority returns 20 - nice");
    check(setpriority(PRIO_PROCESS, getpid(), 100) == 0 && getpriority(PRIO_PROCESS, getpid()) == 19,
          "nice is clamped to 19");
    check(setpriority(PRIO_PROCESS, 0, -5) == 0 && getpriority(PRIO_PROCESS, 0) == -5, "root lowers nice to -5");
    check(setpgid(0, 0) == 0, "own process group for PRIO_PGRP");
    check(setpriority(PRIO_PGRP, 0, 3) == 0 && getpriority(PRIO_PGRP, 0) == 3 && getpriority(PRIO_PROCESS, 0) == 3,
          "PRIO_PGRP set and get");
    check_err_errno(getpriority(3, 0), EINVAL, "getpriority with a bad which");
    check_err_errno(setpriority(PRIO_USER, 54321, 0), ESRCH, "setpriority for a uid without processes");
    pid_t c = fork();
    if (c == 0) _exit(getpriority(PRIO_PROCESS, 0) == 3 ? 0 : 1);
    int status;
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork inherits nice");
    check_err_errno(getpriority(PRIO_PROCESS, c), ESRCH, "getpriority of a reaped child");
}

static void test_sched(void) {
    check(sched_get_priority_max(SCHED_FIFO) == 99 && sched_get_priority_min(SCHED_FIFO) == 1, "FIFO priorities 1..99");
    check(sched_get_priority_max(SCHED_RR) == 99 && sched_get_priority_min(SCHED_RR) == 1, "RR priorities 1..99");
    check(sched_get_priority_max(SCHED_OTHER) == 0 && sched_get_priority_min(SCHED_OTHER) == 0, "OTHER priorities 0..0");
    check(sched_get_priority_max(SCHED_BATCH) == 0 && sched_get_priority_min(SCHED_IDLE) == 0, "BATCH/IDLE priorities 0");
    check_err_errno(sched_get_priority_max(42), EINVAL, "sched_get_priority_max of an unknown policy");
    check(sched_getscheduler(0) == SCHED_OTHER, "sched_getscheduler is SCHED_OTHER");
    struct sched_param p = {.sched_priority = 0};
    check(sched_getparam(0, &p) == 0 && p.sched_priority == 0, "sched_getparam is 0");
    p.sched_priority = 5;
    check_err_errno(sched_setscheduler(0, SCHED_OTHER, &p), EINVAL, "SCHED_OTHER with priority 5");
    p.sched_priority = 0;
    check_err_errno(sched_setscheduler(0, SCHED_FIFO, &p), EINVAL, "SCHED_FIFO with priority 0");
    p.sched_priority = 100;
    check_err_errno(sched_setscheduler(0, SCHED_FIFO, &p), EINVAL, "SCHED_FIFO with priority 100");
    check_err_errno(sched_getscheduler(-1), EINVAL, "sched_getscheduler(-1)");
    check_err_errno(sched_setscheduler(0, SCHED_OTHER, NULL), EINVAL, "sched_setscheduler with a NULL param");
    p.sched_priority = 10;
    check(sched_setscheduler(0, SCHED_FIFO, &p) == 0, "root sets SCHED_FIFO 10");
    p.sched_priority = 0;
    check(sched_getscheduler(0) == SCHED_FIFO && sched_getparam(0, &p) == 0 && p.sched_priority == 10,
          "SCHED_FIFO 10 round trip");
    struct timespec ts = {1, 1};
    check(sched_rr_get_interval(0, &ts) == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0, "FIFO has no time slice");
    p.sched_priority = 20;
    check(sched_setparam(0, &p) == 0 && sched_getparam(0, &p) == 0 && p.sched_priority == 20, "sched_setparam 20");
    check(sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &p) == 0, "SCHED_RR with RESET_ON_FORK");
    check(sched_getscheduler(0) == (SCHED_RR | SCHED_RESET_ON_FORK), "getscheduler reports RESET_ON_FORK");
    check(sched_rr_get_interval(0, &ts) == 0 && ts.tv_sec == 0 && ts.tv_nsec == 100000000, "RR time slice 100 ms");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct sched_param q = {.sched_priority = 7};
        _exit(sched_getscheduler(0) == SCHED_OTHER && sched_getparam(0, &q) == 0 && q.sched_priority == 0 ? 0 : 1);
    }
    int status;
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "RESET_ON_FORK child is SCHED_OTHER");
    p.sched_priority = 0;
    check(sched_setscheduler(0, SCHED_OTHER, &p) == 0 && sched_getscheduler(0) == SCHED_OTHER, "back to SCHED_OTHER");
    check_err_errno(sched_getscheduler(c), ESRCH, "sched_getscheduler of a reaped child");
}

static void test_cpu(void) {
    unsigned cpu = 9999, node = 9999;
    check(syscall(SYS_getcpu, &cpu, &node, NULL) == 0, "getcpu");
    check(cpu < (unsigned)get_nprocs() && node == 0, "getcpu: cpu < nprocs, node 0");
    check(syscall(SYS_getcpu, NULL, NULL, NULL) == 0, "getcpu with NULL pointers");
    check(sched_getcpu() >= 0 && sched_getcpu() < get_nprocs(), "sched_getcpu");
}

static void test_membarrier(void) {
    check_err_errno(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), EPERM,
              "membarrier PRIVATE_EXPEDITED before registering");
    long mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    int want = MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
    check(mask > 0 && (mask & want) == want, "membarrier QUERY lists GLOBAL and PRIVATE_EXPEDITED");
    check_err_errno(syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 1, 0), EINVAL, "membarrier QUERY with flags");
    check(syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0, "membarrier REGISTER_PRIVATE_EXPEDITED");
    check(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0, "membarrier PRIVATE_EXPEDITED");
    check(syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0, "membarrier GLOBAL");
    check_err_errno(syscall(SYS_membarrier, 1 << 20, 0, 0), EINVAL, "membarrier with an unknown command");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : 1);
    int status;
    check(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork keeps the registration");
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void test_close_range(void) {
    int base = open("/dev/null", O_RDONLY);
    for (int i = 1; i < 4; i++) dup2(base, base + i);
    check(close_range(base + 1, base + 2, 0) == 0, "close_range of two fds");
    check(is_open(base) && !is_open(base + 1) && !is_open(base + 2) && is_open(base + 3), "only those two closed");
    check(close_range(base, base + 3, CLOSE_RANGE_CLOEXEC) == 0, "close_range CLOEXEC");
    check(fcntl(base, F_GETFD) == FD_CLOEXEC && fcntl(base + 3, F_GETFD) == FD_CLOEXEC, "CLOEXEC set, fds kept open");
    check_err_errno(close_range(5, 4, 0), EINVAL, "close_range with first > last");
    check_err_errno(close_range(0, 0, 0x80), EINVAL, "close_range with an unknown flag");
    check(close_range(base, ~0U, CLOSE_RANGE_UNSHARE) == 0, "close_range to ~0U with UNSHARE");
    check(!is_open(base) && !is_open(base + 3) && is_open(0), "everything from base closed, stdin kept");
}

static void test_personality(void) {
    check(personality(0xffffffff) == PER_LINUX, "personality query is PER_LINUX");
    check(personality(PER_LINUX) == PER_LINUX, "personality(PER_LINUX)");
    check(personality(PER_LINUX | ADDR_NO_RANDOMIZE) == PER_LINUX, "personality ADDR_NO_RANDOMIZE");
    check(personality(0xffffffff) == (PER_LINUX | ADDR_NO_RANDOMIZE), "personality query shows the flag");
    check(personality(PER_LINUX) == (PER_LINUX | ADDR_NO_RANDOMIZE) && personality(0xffffffff) == PER_LINUX,
          "personality restored");
}

static void test_nofile(void) {
    close_range(3, ~0U, 0);
    struct rlimit rl = {10, 10};
    check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE = 10");
    int opened = 0, fd, last = -1;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0 && opened < 100) { opened++; last = fd; }
    int e = errno;
    printf("opened %d more, last fd %d\n", opened, last);
    check(fd == -1 && e == EMFILE && last == 9, "open beyond the limit fails with EMFILE");
    check_err_errno(dup(0), EMFILE, "dup at the limit");
    check_err_errno(fcntl(0, F_DUPFD, 3), EMFILE, "F_DUPFD at the limit");
    check_err_errno(fcntl(0, F_DUPFD, 10), EINVAL, "F_DUPFD from the limit");
    check_err_errno(dup2(0, 10), EBADF, "dup2 to the limit");
    int p[2];
    check_err_errno(pipe(p), EMFILE, "pipe at the limit");
    close(9);
    check(dup2(0, 9) == 9, "dup2 below the limit");
    rl.rlim_cur = 5;
    check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE lowered below open fds");
    check(is_open(9) && close(9) == 0, "an fd above the new limit stays usable");
    check_err_errno(dup2(0, 9), EBADF, "dup2 above the lowered limit");
    check_err_errno(open("/dev/null", O_RDONLY), EMFILE, "open with every fd below 5 in use");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getuid() != 0) {
        printf("identity: run me as root\n");
        return 2;
    }
    parent_sid = getsid(0);
    parent_pgrp = getpgrp();

    test_membarrier();
    in_child(test_ids);
    in_child(test_groups);
    in_child(test_caps);
    in_child(test_drop);
    in_child(test_keepcaps);
    in_child(test_session_child);
    in_child(test_priority);
    in_child(test_sched);
    test_cpu();
    test_close_range();
    test_personality();
    in_child(test_nofile);

    return finish_as("identity: %d checks FAILED\n", "identity ok");
}
