// fs_otheruid: permission checks against another uid. As root it creates a file of mode
// 0600 (and a 0644 one beside it), drops to uid/gid 65534 (nobody) with setgroups +
// setresgid + setresuid, and checks that the 0600 file can no longer be opened (EACCES)
// while the 0644 one still can, that chmod of root's file is refused (EPERM) and that the
// uid cannot be taken back.
//
// Usage: fs_otheruid DIR. Works in a fresh 0755 subdirectory DIR/otheruid-XXXXXX (by
// relative names after chdir, so a parent the new uid may not search does not matter) and
// leaves it behind, since the new uid cannot remove root's files.
// Must start as root. Prints one line per check ("check NAME: ok" or "check NAME: FAILED
// ...") and then "fs_otheruid ok" or "fs_otheruid FAILED (n)"; exits 0 only if every
// check passed. The output is the same natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

#define NOBODY 65534

// Creates NAME with MODE (exactly, whatever the umask) holding TEXT.
static int make_file(const char *name, mode_t mode, const char *text) {
    unlink(name);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int r = fchmod(fd, mode);
    close(fd);
    return n == (ssize_t)strlen(text) && r == 0 ? 0 : -1;
}

// Reads NAME into BUF (NUL-terminated); returns the byte count or -1 with errno.
static ssize_t read_file(const char *name, char *buf, size_t size) {
    int fd = open(name, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    int e = errno;
    close(fd);
    errno = e;
    if (n >= 0) buf[n] = 0;
    return n;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fs_otheruid DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char buf[256];
    struct stat st;

    EXPECT("starts as root", geteuid() == 0);
    // A fresh 0755 subdirectory, so the new uid may search it wherever DIR is.
    char work[4096];
    snprintf(work, sizeof work, "%s/otheruid-XXXXXX", argv[1]);
    EXPECT_OK("mkdtemp DIR/otheruid-XXXXXX", mkdtemp(work) ? 0 : -1);
    EXPECT_OK("chmod it 0755", chmod(work, 0755));
    EXPECT_OK("chdir into it", chdir(work));
    EXPECT_OK("create 0600 file", make_file("otheruid-secret", 0600, "secret\n"));
    EXPECT_OK("create 0644 file", make_file("otheruid-public", 0644, "public\n"));
    EXPECT("0600 file is root's, mode 0600", stat("otheruid-secret", &st) == 0 && st.st_uid == 0 &&
           (st.st_mode & 07777) == 0600 && S_ISREG(st.st_mode));
    EXPECT("root reads the 0600 file", read_file("otheruid-secret", buf, sizeof buf) == 7 &&
           strcmp(buf, "secret\n") == 0);

    EXPECT_OK("setgroups(0)", setgroups(0, NULL));
    EXPECT_OK("setresgid(65534)", setresgid(NOBODY, NOBODY, NOBODY));
    EXPECT_OK("setresuid(65534)", setresuid(NOBODY, NOBODY, NOBODY));
    uid_t ru = 0, eu = 0, su = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    EXPECT("getresuid is 65534", getresuid(&ru, &eu, &su) == 0 && ru == NOBODY && eu == NOBODY && su == NOBODY);
    EXPECT("getresgid is 65534", getresgid(&rg, &eg, &sg) == 0 && rg == NOBODY && eg == NOBODY && sg == NOBODY);
    EXPECT("getgroups is empty", getgroups(0, NULL) == 0);

    EXPECT_ERR("open 0600 O_RDONLY as 65534", open("otheruid-secret", O_RDONLY), EACCES);
    EXPECT_ERR("open 0600 O_WRONLY as 65534", open("otheruid-secret", O_WRONLY), EACCES);
    EXPECT_ERR("open 0600 O_RDWR|O_APPEND as 65534", open("otheruid-secret", O_RDWR | O_APPEND), EACCES);
    EXPECT_ERR("access 0600 R_OK as 65534", access("otheruid-secret", R_OK), EACCES);
    EXPECT_ERR("truncate 0600 as 65534", truncate("otheruid-secret", 0), EACCES);
    EXPECT_ERR("chmod root's file as 65534", chmod("otheruid-secret", 0644), EPERM);
    EXPECT_ERR("chown root's file as 65534", chown("otheruid-secret", NOBODY, NOBODY), EPERM);
    EXPECT("stat still works as 65534", stat("otheruid-secret", &st) == 0 && st.st_size == 7);
    EXPECT("65534 reads the 0644 file", read_file("otheruid-public", buf, sizeof buf) == 7 &&
           strcmp(buf, "public\n") == 0);
    EXPECT_ERR("open 0644 O_WRONLY as 65534", open("otheruid-public", O_WRONLY), EACCES);
    EXPECT_ERR("setresuid(0) back", setresuid(0, 0, 0), EPERM);
    EXPECT_ERR("setuid(0) back", setuid(0), EPERM);
    EXPECT("still 65534", getuid() == NOBODY && geteuid() == NOBODY);
    EXPECT_ERR("open 0600 O_RDONLY still refused", open("otheruid-secret", O_RDONLY), EACCES);

    return finish_count("fs_otheruid");
}
