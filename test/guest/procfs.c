// procfs: what programs read from /proc, /dev and /sys -- /proc/self and its files and
// links, the memory devices, system files. Prints one line per check, the same natively
// and in the sandbox; with the argument "init" it also checks that it runs as pid 1.
// Exits 0 if all checks pass.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "check.h"

// Reads a whole file (proc files report size 0, so read until EOF). Returns the length or -1.
static long slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) { close(fd); return -1; }
        if (n == 0) break;
        len += (size_t)n;
        if (len == size - 1) break;
    }
    buf[len] = 0;
    close(fd);
    return (long)len;
}

static char buf[1 << 20];

static void test_self(int argc, char **argv) {
    char link[PATH_MAX], want[32];
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    check(n > 0, "readlink /proc/self");
    link[n > 0 ? n : 0] = 0;
    snprintf(want, sizeof want, "%d", getpid());
    check(strcmp(link, want) == 0, "/proc/self is getpid()");

    n = readlink("/proc/thread-self", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    snprintf(want, sizeof want, "%d/task/%d", getpid(), gettid());
    check(n > 0 && strcmp(link, want) == 0, "/proc/thread-self is pid/task/tid");

    // cmdline: argv, each string NUL-terminated.
    long len = slurp("/proc/self/cmdline", buf, sizeof buf);
    size_t expect = 0;
    int same = len > 0;
    for (int i = 0; i < argc && same; i++) {
        size_t l = strlen(argv[i]) + 1;
        same = expect + l <= (size_t)len && memcmp(buf + expect, argv[i], l) == 0;
        expect += l;
    }
    check(same && (size_t)len == expect, "/proc/self/cmdline is argv");

    len = slurp("/proc/self/comm", buf, sizeof buf);
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    char comm[32];
    snprintf(comm, sizeof comm, "%.15s\n", base);
    check(len > 0 && strcmp(buf, comm) == 0, "/proc/self/comm is the program name");

    // Writing comm renames the thread, as prctl(PR_SET_NAME) does (a newline would be kept).
    int cfd = open("/proc/self/comm", O_WRONLY | O_TRUNC);
    check(cfd >= 0 && write(cfd, "renamed", 7) == 7, "write /proc/self/comm");
    close(cfd);
    char pname[16] = {0};
    len = slurp("/proc/self/comm", buf, sizeof buf);
    check(len > 0 && strcmp(buf, "renamed\n") == 0 && prctl(PR_GET_NAME, pname) == 0 && strcmp(pname, "renamed") == 0,
          "comm and PR_GET_NAME after the write");
    prctl(PR_SET_NAME, base);

    len = slurp("/proc/self/environ", buf, sizeof buf);
    extern char **environ;
    expect = 0;
    same = len >= 0;
    for (char **e = environ; *e && same; e++) {
        size_t l = strlen(*e) + 1;
        same = expect + l <= (size_t)len && memcmp(buf + expect, *e, l) == 0;
        expect += l;
    }
    check(same && (size_t)len == expect, "/proc/self/environ is the environment");

    len = slurp("/proc/self/status", buf, sizeof buf);
    snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
    check(len > 0 && strncmp(buf, "Name:\t", 6) == 0, "status starts with Name:");
    check(strstr(buf, want) != NULL, "status has Pid:");
    check(strstr(buf, "\nState:\tR (running)\n") != NULL, "status says running");
    check(strstr(buf, "\nUid:\t") != NULL && strstr(buf, "\nVmSize:") != NULL, "status has Uid: and VmSize:");

    len = slurp("/proc/self/stat", buf, sizeof buf);
    snprintf(want, sizeof want, "%d (", getpid());
    check(len > 0 && strncmp(buf, want, strlen(want)) == 0, "stat starts with pid (comm");
    char *close_paren = strrchr(buf, ')');
    check(close_paren != NULL && strncmp(close_paren, ") R ", 4) == 0, "stat state is R");
    int fields = 0;
    for (char *p = close_paren ? close_paren + 1 : buf; *p; p++)
        if (*p == ' ') fields++;
    check(fields == 50, "stat has 52 fields");

    len = slurp("/proc/self/statm", buf, sizeof buf);
    long sz, res, shr, txt, lib, dat, dt;
    check(len > 0 && sscanf(buf, "%ld %ld %ld %ld %ld %ld %ld", &sz, &res, &shr, &txt, &lib, &dat, &dt) == 7 && sz > 0,
          "statm has 7 numbers");

    len = slurp("/proc/self/limits", buf, sizeof buf);
    static const char header[] = "Limit                     Soft Limit           Hard Limit           Units     \n";
    check(len > 0 && strncmp(buf, header, sizeof header - 1) == 0, "limits header");
    check(strstr(buf, "\nMax open files            ") != NULL, "limits has Max open files");
}

// The maps line of the mapping that starts at addr: its device and inode. 1 if found.
static int maps_entry(void *addr, unsigned *maj, unsigned *min, unsigned long *ino) {
    static char maps[1 << 16];
    if (slurp("/proc/self/maps", maps, sizeof maps) <= 0) return 0;
    for (char *line = maps; *line; ) {
        unsigned long s, e, off;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &s, &e, perms, &off, maj, min, ino) == 7 && s == (unsigned long)addr)
            return 1;
        char *end = strchr(line, '\n');
        if (!end) break;
        line = end + 1;
    }
    return 0;
}

// Whether the maps line of a mapping of fd at addr shows the device and inode fstat gives.
static int maps_matches_stat(int fd, void *addr) {
    struct stat st;
    unsigned maj, min;
    unsigned long ino;
    return addr != MAP_FAILED && fstat(fd, &st) == 0 && maps_entry(addr, &maj, &min, &ino)
        && maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino;
}

// fdinfo's mnt_id names a mountinfo line whose mount point is mnt and whose major:minor is
// the file's st_dev.
static int fdinfo_mount_matches(int fd, const char *mnt) {
    static char info[4096], mounts[1 << 16];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if (slurp(path, info, sizeof info) <= 0) return 0;
    char *p = strstr(info, "\nmnt_id:\t");
    int id;
    struct stat st;
    if (!p || sscanf(p, "\nmnt_id:\t%d", &id) != 1 || fstat(fd, &st) != 0) return 0;
    if (slurp("/proc/self/mountinfo", mounts, sizeof mounts) <= 0) return 0;
    for (char *line = mounts; *line; ) {
        int mid, parent;
        unsigned maj, min;
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%d %d %u:%u %4095s %4095s", &mid, &parent, &maj, &min, root, point) == 6 && mid == id)
            return strcmp(point, mnt) == 0 && maj == major(st.st_dev) && min == minor(st.st_dev);
        char *end = strchr(line, '\n');
        if (!end) break;
        line = end + 1;
    }
    return 0;
}

static void test_maps(void) {
    void *p = malloc(200000); // brk (or mmap): either way the heap exists after the small one
    void *q = malloc(100);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    check(n > 0 && exe[0] == '/', "readlink /proc/self/exe is absolute");
    exe[n > 0 ? n : 0] = 0;
    check(n > 7 && strcmp(exe + n - 7, "/procfs") == 0, "/proc/self/exe names this program");

    long len = slurp("/proc/self/maps", buf, sizeof buf);
    check(len > 0, "read /proc/self/maps");
    check(strstr(buf, "[stack]\n") != NULL, "maps has [stack]");
    check(strstr(buf, "[heap]\n") != NULL, "maps has [heap]");
    char needle[PATH_MAX + 2];
    snprintf(needle, sizeof needle, " %s\n", exe);
    check(strstr(buf, needle) != NULL, "maps names the executable");
    // Every line: start-end perms offset dev inode [name], the name at column 73.
    int good = 1, special_at_zero = 1;
    for (char *line = buf; *line; ) {
        char *end = strchr(line, '\n');
        if (!end) { good = 0; break; }
        unsigned long s, e, off, ino;
        char perms[5];
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &s, &e, perms, &off, &maj, &min, &ino) != 7 || s >= e)
            good = 0;
        if (end - line > 73 && line[72] != ' ') good = 0;
        // Mappings of no file ([vdso], [vvar], [heap], [stack], anonymous) show offset 0.
        if (ino == 0 && off != 0) special_at_zero = 0;
        line = end + 1;
    }
    check(good, "maps lines are well formed");
    check(special_at_zero, "maps shows offset 0 for mappings of no file ([vdso] included)");
    free(q);
    free(p);

    // A mapped file shows the device stat gives it (st_dev) and its inode, whichever way it
    // is mapped: read-only, written privately, or shared on tmpfs.
    int fd = open(exe, O_RDONLY);
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    check(fd >= 0 && maps_matches_stat(fd, ro), "maps shows a read-only file mapping's st_dev and inode");
    void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(fd >= 0 && maps_matches_stat(fd, rw), "maps shows a private writable file mapping's st_dev and inode");
    munmap(ro, 4096);
    munmap(rw, 4096);
    close(fd);
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/procfs-map-%d", getpid());
    fd = open(shm, O_CREAT | O_EXCL | O_RDWR, 0600);
    void *sh = fd >= 0 && ftruncate(fd, 4096) == 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    check(fd >= 0 && maps_matches_stat(fd, sh), "maps shows a shared tmpfs mapping's st_dev and inode");
    if (sh != MAP_FAILED) munmap(sh, 4096);
    // A file unlinked before it is mapped (a memfd is one from the start) is named with
    // " (deleted)".
    unlink(shm);
    sh = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    char line[256];
    snprintf(line, sizeof line, " %s (deleted)\n", shm);
    check(sh != MAP_FAILED && slurp("/proc/self/maps", buf, sizeof buf) > 0 && strstr(buf, line) != NULL,
          "maps marks a file unlinked before mapping (deleted)");
    if (sh != MAP_FAILED) munmap(sh, 4096);
    close(fd);
    fd = memfd_create("procfs-memfd", 0);
    void *mf = fd >= 0 && ftruncate(fd, 4096) == 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    check(maps_matches_stat(fd, mf) && slurp("/proc/self/maps", buf, sizeof buf) > 0
          && strstr(buf, " /memfd:procfs-memfd (deleted)\n") != NULL, "maps shows a memfd mapping as /memfd:NAME (deleted), with its st_dev and inode");
    if (mf != MAP_FAILED) munmap(mf, 4096);
    close(fd);
}

static void test_fds(void) {
    char link[PATH_MAX];
    ssize_t n = readlink("/proc/self/fd/1", link, sizeof link - 1);
    check(n > 0, "readlink /proc/self/fd/1");

    int fd = open("/dev/null", O_RDONLY);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check(fd >= 0 && strcmp(link, "/dev/null") == 0, "fd link of /dev/null reads /dev/null");
    struct stat st;
    check(stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "stat through the fd link");
    check(lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && (st.st_mode & 0777) == 0500, "lstat fd link is lr-x------");

    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    long len = slurp(path, buf, sizeof buf);
    check(len > 0 && strncmp(buf, "pos:\t0\nflags:\t0100000\nmnt_id:\t", 30) == 0, "fdinfo pos and flags");
    check(fdinfo_mount_matches(fd, "/dev"), "fdinfo mnt_id of /dev/null is the /dev mount in mountinfo, with its st_dev");
    int other = open("/proc/self/status", O_RDONLY);
    check(fdinfo_mount_matches(other, "/proc"), "fdinfo mnt_id of a /proc file is the /proc mount, with its st_dev");
    close(other);
    other = open("/", O_RDONLY | O_DIRECTORY);
    check(fdinfo_mount_matches(other, "/"), "fdinfo mnt_id of / is the root mount, with its st_dev");
    close(other);
    close(fd);
    check(open(path, O_RDONLY) < 0 && errno == ENOENT, "closed fd is gone from fdinfo");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    check(readlink(path, link, sizeof link) < 0 && errno == ENOENT, "closed fd link gives ENOENT");
    check(lstat(path, &st) < 0 && errno == ENOENT, "lstat closed fd link gives ENOENT");

    DIR *d = opendir("/proc/self/fd");
    int seen[3] = {0, 0, 0}, dirfd_seen = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "0") == 0) seen[0] = 1;
        if (strcmp(e->d_name, "1") == 0) seen[1] = 1;
        if (strcmp(e->d_name, "2") == 0) seen[2] = 1;
        if (atoi(e->d_name) == dirfd(d) && e->d_type == DT_LNK) dirfd_seen = 1;
    }
    check(d != NULL && seen[0] && seen[1] && seen[2] && dirfd_seen, "listing /proc/self/fd");
    if (d) closedir(d);

    char cwd[PATH_MAX];
    n = readlink("/proc/self/cwd", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check(getcwd(cwd, sizeof cwd) != NULL && strcmp(link, cwd) == 0, "/proc/self/cwd is getcwd()");
    n = readlink("/proc/self/root", link, sizeof link - 1);
    check(n == 1 && link[0] == '/', "/proc/self/root is /");
    check(stat("/proc/self/root/proc/self/status", &st) == 0 && S_ISREG(st.st_mode), "following /proc/self/root");
    check(stat("/proc/self/cwd/.", &st) == 0 && S_ISDIR(st.st_mode), "following /proc/self/cwd");

    // /dev/stdout reopens fd 1 (a pipe or a file here).
    fflush(stdout);
    fd = open("/dev/stdout", O_WRONLY);
    check(fd >= 0, "open /dev/stdout");
    if (fd >= 0) {
        const char msg[] = "written through /dev/stdout\n";
        check(write(fd, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1), "write /dev/stdout");
        close(fd);
    }
}

static void test_devices(void) {
    struct stat st;
    check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3
          && (st.st_mode & 0777) == 0666, "/dev/null is chr 1,3 rw-rw-rw-");
    check(stat("/dev/urandom", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 9), "/dev/urandom is chr 1,9");
    check(stat("/dev/random", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 8) && (st.st_mode & 0777) == 0666,
          "/dev/random is chr 1,8 rw-rw-rw-");
    check(stat("/dev/tty", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 0), "/dev/tty is chr 5,0");
    check(stat("/dev/console", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 1) && (st.st_mode & 0777) == 0600,
          "/dev/console is chr 5,1 rw-------");
    static const char *stdio[] = {"stdin", "stdout", "stderr"};
    for (int i = 0; i < 3; i++) {
        char path[32], want[32], got[64], what[64];
        snprintf(path, sizeof path, "/dev/%s", stdio[i]);
        snprintf(want, sizeof want, "/proc/self/fd/%d", i);
        ssize_t len = readlink(path, got, sizeof got - 1);
        got[len > 0 ? len : 0] = 0;
        snprintf(what, sizeof what, "/dev/%s -> /proc/self/fd/%d", stdio[i], i);
        check(strcmp(got, want) == 0, what);
    }
    char link[64];
    ssize_t n = readlink("/dev/fd", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check(strcmp(link, "/proc/self/fd") == 0, "/dev/fd -> /proc/self/fd");
    check(stat("/dev/fd/0", &st) == 0, "stat /dev/fd/0");

    int fd = open("/dev/null", O_RDWR);
    char b[64];
    check(fd >= 0 && write(fd, "hello", 5) == 5, "write /dev/null");
    check(fd >= 0 && read(fd, b, sizeof b) == 0, "read /dev/null is EOF");
    close(fd);

    fd = open("/dev/zero", O_RDONLY);
    memset(b, 0xff, sizeof b);
    int zeros = fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b;
    for (size_t i = 0; i < sizeof b; i++) zeros = zeros && b[i] == 0;
    check(zeros, "read /dev/zero gives zeros");
    close(fd);

    fd = open("/dev/full", O_RDWR);
    errno = 0;
    check(fd >= 0 && write(fd, "x", 1) == -1 && errno == ENOSPC, "write /dev/full is ENOSPC");
    memset(b, 0xff, sizeof b);
    check(fd >= 0 && read(fd, b, 8) == 8 && b[0] == 0 && b[7] == 0, "read /dev/full gives zeros");
    close(fd);

    fd = open("/dev/random", O_RDONLY);
    unsigned char r8[8] = {0};
    check(fd >= 0 && read(fd, r8, sizeof r8) == (ssize_t)sizeof r8, "read 8 bytes of /dev/random");
    close(fd);

    fd = open("/dev/urandom", O_RDONLY);
    unsigned char r[16] = {0};
    int nonzero = 0;
    check(fd >= 0 && read(fd, r, sizeof r) == (ssize_t)sizeof r, "read 16 bytes of /dev/urandom");
    for (size_t i = 0; i < sizeof r; i++) nonzero |= r[i];
    check(nonzero, "/dev/urandom is not all zeros");
    close(fd);

    check(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 01777) == 01777, "/dev/shm is drwxrwxrwt");
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/procfs-%d", getpid());
    fd = open(shm, O_CREAT | O_EXCL | O_RDWR, 0600);
    check(fd >= 0 && unlink(shm) == 0, "create a file in /dev/shm");
    close(fd);
}

static void test_system(void) {
    long len = slurp("/proc/meminfo", buf, sizeof buf);
    check(len > 0 && strncmp(buf, "MemTotal:", 9) == 0, "/proc/meminfo starts with MemTotal:");
    unsigned long kb = 0;
    check(sscanf(buf, "MemTotal: %lu kB", &kb) == 1 && kb > 0, "MemTotal is a size in kB");

    struct utsname u;
    uname(&u);
    char want[sizeof u.release + 2];
    snprintf(want, sizeof want, "%s\n", u.release);
    len = slurp("/proc/sys/kernel/osrelease", buf, sizeof buf);
    check(len > 0 && strcmp(buf, want) == 0, "osrelease matches uname");
    snprintf(want, sizeof want, "%s\n", u.nodename);
    len = slurp("/proc/sys/kernel/hostname", buf, sizeof buf);
    check(len > 0 && strcmp(buf, want) == 0, "hostname matches uname");
    len = slurp("/proc/sys/kernel/random/boot_id", buf, sizeof buf);
    check(len == 37 && buf[8] == '-' && buf[36] == '\n', "boot_id is a uuid");

    len = slurp("/proc/cpuinfo", buf, sizeof buf);
    check(len > 0 && strncmp(buf, "processor\t: 0\n", 14) == 0, "cpuinfo starts with processor 0");
    len = slurp("/proc/uptime", buf, sizeof buf);
    double up, idle;
    check(len > 0 && sscanf(buf, "%lf %lf", &up, &idle) == 2, "uptime has two numbers");
    len = slurp("/proc/loadavg", buf, sizeof buf);
    double l1, l5, l15;
    int running, total, last;
    check(len > 0 && sscanf(buf, "%lf %lf %lf %d/%d %d", &l1, &l5, &l15, &running, &total, &last) == 6, "loadavg format");
    len = slurp("/proc/stat", buf, sizeof buf);
    check(len > 0 && strncmp(buf, "cpu  ", 5) == 0 && strstr(buf, "\nbtime ") != NULL, "stat has cpu and btime");
    len = slurp("/proc/version", buf, sizeof buf);
    check(len > 0 && strncmp(buf, "Linux version ", 14) == 0, "version");
    len = slurp("/proc/filesystems", buf, sizeof buf);
    check(len > 0 && strstr(buf, "nodev\tproc\n") != NULL, "filesystems lists proc");
    len = slurp("/proc/self/mounts", buf, sizeof buf);
    check(len > 0 && strstr(buf, " /proc proc ") != NULL, "mounts has /proc");
    len = slurp("/proc/self/mountinfo", buf, sizeof buf);
    check(len > 0 && strstr(buf, " /proc ") != NULL && strstr(buf, " - proc ") != NULL, "mountinfo has /proc");

    static const char *cpulists[] = {"/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible"};
    for (int f = 0; f < 2; f++) {
        len = slurp(cpulists[f], buf, sizeof buf);
        int good = len > 1 && buf[len - 1] == '\n';
        for (long i = 0; i < len - 1; i++) good = good && (strchr("0123456789-,", buf[i]) != NULL);
        char what[96];
        snprintf(what, sizeof what, "%s is a cpu list", cpulists[f]);
        check(good, what);
    }

    len = slurp("/proc/sys/kernel/ostype", buf, sizeof buf);
    check(len > 0 && strcmp(buf, "Linux\n") == 0, "/proc/sys/kernel/ostype is Linux");
    long value = -1;
    len = slurp("/proc/sys/kernel/pid_max", buf, sizeof buf);
    check(len > 0 && sscanf(buf, "%ld", &value) == 1 && value > getpid(), "pid_max is above our pid");
    len = slurp("/proc/sys/vm/overcommit_memory", buf, sizeof buf);
    check(len == 2 && buf[0] >= '0' && buf[0] <= '2' && buf[1] == '\n', "overcommit_memory is 0, 1 or 2");
    len = slurp("/proc/sys/fs/file-max", buf, sizeof buf);
    check(len > 0 && sscanf(buf, "%ld", &value) == 1 && value > 0, "file-max is a positive number");
    struct rlimit nofile;
    len = slurp("/proc/sys/fs/nr_open", buf, sizeof buf);
    check(len > 0 && sscanf(buf, "%ld", &value) == 1 && getrlimit(RLIMIT_NOFILE, &nofile) == 0
          && nofile.rlim_max <= (rlim_t)value, "nr_open bounds RLIMIT_NOFILE");
    struct stat st;
    check(stat("/sys/fs/cgroup", &st) == 0 && S_ISDIR(st.st_mode), "/sys/fs/cgroup is a directory");

    DIR *d = opendir("/proc");
    int self = 0, mine = 0;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "self") == 0) self = 1;
        if (strcmp(e->d_name, pid) == 0 && e->d_type == DT_DIR) mine = 1;
    }
    check(self && mine, "listing /proc shows self and our pid");
    if (d) closedir(d);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "init") == 0) check(getpid() == 1, "getpid is 1");
    test_self(argc, argv);
    test_maps();
    test_fds();
    test_devices();
    test_system();
    return finish_as("procfs: %d checks FAILED\n", "procfs ok");
}
