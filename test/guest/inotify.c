// inotify: the events changes inside a watched directory produce, in order.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static void mask_name(unsigned m, char *out) {
    static const struct { unsigned bit; const char *name; } names[] = {
        {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"}, {IN_CLOSE_WRITE, "CLOSE_WRITE"},
        {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
        {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"}, {IN_MOVE_SELF, "MOVE_SELF"},
        {IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"}};
    out[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (m & names[i].bit) { if (out[0]) strcat(out, "|"); strcat(out, names[i].name); }
}

static void drain(int fd) {
    char buf[8192] __attribute__((aligned(8)));
    ssize_t n = read(fd, buf, sizeof buf);
    unsigned last_cookie = 0;
    for (char *p = buf; n > 0 && p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        char m[256];
        mask_name(e->mask, m);
        int paired = e->cookie != 0 && e->cookie == last_cookie;
        printf("event %s %s%s\n", m, e->len ? e->name : "-", paired ? " (same cookie)" : "");
        last_cookie = e->cookie;
        p += sizeof *e + e->len;
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/inotify-XXXXXX", argc > 1 ? argv[1] : "/tmp");
    if (!mkdtemp(dir)) return 2;
    if (chdir(dir) != 0) return 2;
    int fd = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(fd, ".", IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB);
    printf("watch %s\n", wd > 0 ? "ok" : "FAILED");
    char b;
    printf("empty read: %s\n", read(fd, &b, 1) == -1 && (errno == EAGAIN || errno == EINVAL) ? "ok" : "FAILED");
    int f = open("a", O_CREAT | O_WRONLY, 0644);
    write(f, "x", 1);
    close(f);
    drain(fd);
    rename("a", "b");
    drain(fd);
    chmod("b", 0600);
    mkdir("d", 0755);
    rmdir("d");
    unlink("b");
    drain(fd);
    printf("rm_watch %s\n", inotify_rm_watch(fd, wd) == 0 ? "ok" : "FAILED");
    drain(fd);
    chdir("/");
    rmdir(dir);
    printf("inotify ok\n");
    return 0;
}
