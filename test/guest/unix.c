// AF_UNIX sockets: socketpair of each type, named and abstract listeners with forked clients,
// descriptor and credential passing, shutdown, EPIPE/SIGPIPE, readiness, peeking, truncation,
// socket options and ioctls. Prints the same natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <unistd.h>
#include "check.h"

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EADDRINUSE: return "EADDRINUSE";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case EISCONN: return "EISCONN";
    case EPROTOTYPE: return "EPROTOTYPE";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOTSOCK: return "ENOTSOCK";
    case EBADF: return "EBADF";
    case EINTR: return "EINTR";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EPERM: return "EPERM";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case ECONNRESET: return "ECONNRESET";
    default: return strerror(e);
    }
}

// Prints what a call returned: "name: r errno".
static long report(const char *what, long r) {
    int e = r < 0 ? errno : 0;
    printf("%s: %ld %s\n", what, r, errname(e));
    errno = e;
    return r;
}

static volatile sig_atomic_t sigpipes, alarms;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }
static void on_alarm(int sig) { (void)sig; alarms++; }

static socklen_t unix_addr(struct sockaddr_un *a, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (abstract) {
        memcpy(a->sun_path + 1, path, strlen(path));
        return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
    }
    strcpy(a->sun_path, path);
    return sizeof *a;
}

// Sends fds with one byte of data; returns sendmsg's result.
static long send_fds(int sock, const int *fds, int n, const char *byte) {
    char control[CMSG_SPACE(sizeof(int) * 4)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)byte, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(sock, &m, 0);
}

// Receives up to max fds; returns the count received (or -1), *flags gets msg_flags.
static int recv_fds(int sock, int *fds, int max, char *byte, size_t controlroom, int rflags, int *flags) {
    char control[256];
    struct iovec iov = {.iov_base = byte, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = controlroom ? control : NULL,
                       .msg_controllen = controlroom};
    if (recvmsg(sock, &m, rflags) < 0) return -1;
    *flags = m.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (int i = 0; i < count && n < max; i++) memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    return n;
}

static void pairs(void) {
    int sv[2];
    char buf[64];
    // Stream: writes coalesce.
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair stream");
    write(sv[0], "abc", 3);
    write(sv[0], "def", 3);
    ssize_t n = read(sv[1], buf, sizeof buf);
    check(n == 6 && memcmp(buf, "abcdef", 6) == 0, "stream writes coalesce into one read");
    write(sv[1], "back", 4);
    check(read(sv[0], buf, sizeof buf) == 4 && memcmp(buf, "back", 4) == 0, "stream pair is bidirectional");
    // readv/writev, MSG_WAITALL.
    struct iovec out[2] = {{"12", 2}, {"345", 3}};
    check(writev(sv[0], out, 2) == 5, "writev on a socket");
    char p1[3], p2[2];
    struct iovec in[2] = {{p1, 3}, {p2, 2}};
    check(readv(sv[1], in, 2) == 5 && memcmp(p1, "123", 3) == 0 && memcmp(p2, "45", 2) == 0, "readv on a socket");
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 4; i++) { usleep(20000); write(sv[0], "xy", 2); }
        _exit(0);
    }
    check(recv(sv[1], buf, 8, MSG_WAITALL) == 8, "MSG_WAITALL waits for all 8 bytes from 4 writes");
    waitpid(child, NULL, 0);
    // MSG_PEEK and FIONREAD.
    send(sv[0], "peek", 4, 0);
    int avail = -1;
    check(ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 4, "FIONREAD counts unread stream bytes");
    int outq = -1;
    check(ioctl(sv[0], SIOCOUTQ, &outq) == 0 && outq > 0, "SIOCOUTQ counts unread sent bytes");
    check(recv(sv[1], buf, 2, MSG_PEEK) == 2 && memcmp(buf, "pe", 2) == 0, "MSG_PEEK sees the data");
    check(recv(sv[1], buf, sizeof buf, 0) == 4 && memcmp(buf, "peek", 4) == 0, "MSG_PEEK left it queued");
    check(ioctl(sv[0], SIOCOUTQ, &outq) == 0 && outq == 0, "SIOCOUTQ is 0 once read");
    errno = 0;
    report("stream recv MSG_DONTWAIT on empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    // Shutdown: the peer reads what is left, then EOF; the shut side may still read.
    send(sv[0], "last", 4, 0);
    check(shutdown(sv[0], SHUT_WR) == 0, "shutdown(SHUT_WR)");
    check(read(sv[1], buf, sizeof buf) == 4, "peer reads data sent before shutdown");
    check(read(sv[1], buf, sizeof buf) == 0, "then EOF");
    write(sv[1], "still", 5);
    check(read(sv[0], buf, sizeof buf) == 5, "the shut side still receives");
    errno = 0;
    report("send after own SHUT_WR (MSG_NOSIGNAL)", send(sv[0], "x", 1, MSG_NOSIGNAL));
    report("shutdown(7)", shutdown(sv[0], 7));
    close(sv[0]);
    close(sv[1]);

    // Datagram: boundaries, truncation, MSG_TRUNC.
    check(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair dgram");
    send(sv[0], "one", 3, 0);
    send(sv[0], "two!", 4, 0);
    send(sv[0], "", 0, 0);
    check(ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 3, "dgram FIONREAD is the next datagram's size");
    check(recv(sv[1], buf, sizeof buf, 0) == 3, "dgram boundary 1");
    struct iovec iov = {buf, 2};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    n = recvmsg(sv[1], &m, 0);
    check(n == 2 && (m.msg_flags & MSG_TRUNC), "short dgram read truncates and sets MSG_TRUNC");
    check(recv(sv[1], buf, sizeof buf, 0) == 0, "zero-length datagram is a message");
    send(sv[0], "truncated", 9, 0);
    check(recv(sv[1], buf, 3, MSG_TRUNC) == 9, "MSG_TRUNC returns the real length");
    send(sv[0], "peeked", 6, 0);
    check(recv(sv[1], buf, sizeof buf, MSG_PEEK) == 6 && recv(sv[1], buf, sizeof buf, 0) == 6, "dgram MSG_PEEK then read");
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    static char big[300000];
    errno = 0;
    report("dgram larger than SO_SNDBUF", send(sv[0], big, sndbuf, 0));
    close(sv[1]);
    errno = 0;
    report("dgram send to closed peer", send(sv[0], "x", 1, 0));
    report("dgram send again", send(sv[0], "x", 1, 0));
    close(sv[0]);

    // Seqpacket: boundaries, EOF when the peer closes, EPIPE without SIGPIPE.
    check(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair seqpacket");
    send(sv[0], "pkt1", 4, 0);
    send(sv[0], "packet2", 7, 0);
    check(recv(sv[1], buf, sizeof buf, 0) == 4, "seqpacket boundary 1");
    check(recv(sv[1], buf, 3, 0) == 3, "seqpacket short read");
    check(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN, "seqpacket truncated rest was dropped");
    close(sv[1]);
    check(recv(sv[0], buf, sizeof buf, 0) == 0, "seqpacket peer closed: EOF");
    int before = sigpipes;
    errno = 0;
    report("seqpacket send to closed peer", send(sv[0], "x", 1, 0));
    check(sigpipes == before, "seqpacket EPIPE raises no SIGPIPE");
    close(sv[0]);
}

static void epipe(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    int before = sigpipes;
    errno = 0;
    report("stream write to closed peer", write(sv[0], "x", 1));
    check(sigpipes == before + 1, "EPIPE raises SIGPIPE");
    report("stream send MSG_NOSIGNAL to closed peer", send(sv[0], "x", 1, MSG_NOSIGNAL));
    check(sigpipes == before + 1, "MSG_NOSIGNAL suppresses SIGPIPE");
    close(sv[0]);

    // Closing with unread data resets the peer.
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[1], "unread", 6);
    close(sv[0]);
    char buf[8];
    errno = 0;
    report("read after peer closed with unread data", read(sv[1], buf, sizeof buf));
    report("then", read(sv[1], buf, sizeof buf));
    close(sv[1]);
}

static void options(void) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    check(s >= 0, "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK)");
    check(fcntl(s, F_GETFD) == FD_CLOEXEC && (fcntl(s, F_GETFL) & O_NONBLOCK), "SOCK_CLOEXEC and SOCK_NONBLOCK applied");
    int v;
    socklen_t len = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
    check(v == SOCK_STREAM && len == sizeof v, "SO_TYPE");
    getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len);
    check(v == AF_UNIX, "SO_DOMAIN");
    getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &len);
    check(v == 0, "SO_PROTOCOL");
    getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    check(v == 0, "SO_ACCEPTCONN before listen");
    getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len);
    check(v == 0, "SO_ERROR");
    getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len);
    // net.core.wmem_default (the sandbox has no /proc/sys/net: Linux's default, 212992).
    int wmem_default = 212992;
    FILE *sysctl = fopen("/proc/sys/net/core/wmem_default", "r");
    if (sysctl) {
        if (fscanf(sysctl, "%d", &wmem_default) != 1) wmem_default = -1;
        fclose(sysctl);
    }
    check(v == wmem_default, "default SO_SNDBUF is net.core.wmem_default");
    v = 10000;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len);
    printf("SO_SNDBUF after setting 10000: %d\n", v);
    v = 1;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &len);
    check(v >= 2048 && v < 4096, "SO_RCVBUF has a small minimum");
    v = 1;
    check(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v) == 0, "SO_REUSEADDR accepted");
    getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len);
    check(v == 1, "SO_REUSEADDR reads back");
    struct linger lg = {1, 5};
    check(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0, "SO_LINGER accepted");
    struct timeval tv = {1, 500000};
    check(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO accepted");
    memset(&tv, 0, sizeof tv);
    len = sizeof tv;
    getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
    check(tv.tv_sec == 1 && tv.tv_usec == 500000, "SO_RCVTIMEO reads back");
    errno = 0;
    report("setsockopt with a short optlen", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2));
    report("unknown SOL_SOCKET option", setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v));
    len = 2;
    v = 0;
    check(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && len == 2 && v == SOCK_STREAM, "getsockopt truncates to optlen");
    struct stat st;
    check(fstat(s, &st) == 0 && S_ISSOCK(st.st_mode), "fstat says S_IFSOCK");
    char path[64], link[64] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", s);
    check(readlink(path, link, sizeof link - 1) > 0 && strncmp(link, "socket:[", 8) == 0, "/proc/self/fd link reads socket:[ino]");
    char target[64];
    snprintf(target, sizeof target, "socket:[%lu]", (unsigned long)st.st_ino);
    check(strcmp(link, target) == 0, "its number is the socket's st_ino");
    struct sockaddr_un a;
    socklen_t alen = sizeof a;
    check(getsockname(s, (struct sockaddr *)&a, &alen) == 0 && alen == sizeof(sa_family_t), "unbound getsockname: family only");
    errno = 0;
    report("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &alen));
    char buf[4];
    report("recv on unconnected stream", recv(s, buf, sizeof buf, 0));
    report("send on unconnected stream", send(s, buf, 1, 0));
    report("listen unbound", listen(s, 1));
    report("accept not listening", accept(s, NULL, NULL));
    struct pollfd p = {s, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("unconnected stream poll: %#x\n", p.revents);
    close(s);

    errno = 0;
    report("socket(AF_UNIX, 0x42 type)", socket(AF_UNIX, 0x42, 0));
    report("socket(AF_UNIX, SOCK_RDM)", socket(AF_UNIX, SOCK_RDM, 0));
    report("socket(AF_UNIX, SOCK_STREAM, protocol 7)", socket(AF_UNIX, SOCK_STREAM, 7));
    report("socket(AF_UNIX, SOCK_STREAM|O_APPEND)", socket(AF_UNIX, SOCK_STREAM | O_APPEND, 0));
    report("socket(1000)", socket(1000, SOCK_STREAM, 0));
    report("bind on a non-socket", bind(0, (struct sockaddr *)&a, sizeof a));
    report("bind on a bad fd", bind(999, (struct sockaddr *)&a, sizeof a));

    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    report("listen on dgram", listen(d, 1));
    report("accept on dgram", accept(d, NULL, NULL));
    report("dgram send unconnected", send(d, "x", 1, 0));
    p.fd = d;
    poll(&p, 1, 0);
    printf("unconnected dgram poll: %#x\n", p.revents);
    close(d);
}

static void named(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/sock", dir);
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, path, 0);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    check(bind(l, (struct sockaddr *)&a, alen) == 0, "bind to a path");
    struct stat st;
    check(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "the path is a socket inode");
    printf("socket file mode %o\n", st.st_mode & 07777);
    errno = 0;
    report("bind again", bind(l, (struct sockaddr *)&a, alen));
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    report("bind another socket to the same path", bind(other, (struct sockaddr *)&a, alen));
    report("connect before listen", connect(other, (struct sockaddr *)&a, alen));
    report("open() on the socket file", open(path, O_RDWR));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &glen);
    check(glen == offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1 && strcmp(got.sun_path, path) == 0,
          "getsockname returns the path and its length");
    check(listen(l, 5) == 0, "listen");
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    check(v == 1, "SO_ACCEPTCONN after listen");
    fcntl(l, F_SETFL, O_NONBLOCK);
    errno = 0;
    report("nonblocking accept with nobody waiting", accept(l, NULL, NULL));
    fcntl(l, F_SETFL, 0);

    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, alen) != 0) _exit(1);
        struct sockaddr_un peer;
        socklen_t plen = sizeof peer;
        if (getpeername(c, (struct sockaddr *)&peer, &plen) != 0 || strcmp(peer.sun_path, path) != 0) _exit(2);
        if (write(c, "hello from the client", 21) != 21) _exit(3);
        char buf[32];
        ssize_t n = read(c, buf, sizeof buf);
        if (n != 5 || memcmp(buf, "reply", 5) != 0) _exit(4);
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || cred.pid != getppid()) _exit(5);
        _exit(0);
    }
    struct pollfd p = {l, POLLIN, 0};
    check(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN), "listener polls readable when a client connects");
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    int s = accept4(l, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC);
    check(s >= 0 && flen == sizeof(sa_family_t), "accept4: the client is unnamed");
    check(fcntl(s, F_GETFD) == FD_CLOEXEC, "accept4 SOCK_CLOEXEC");
    char buf[64];
    ssize_t n = read(s, buf, sizeof buf);
    check(n == 21 && memcmp(buf, "hello from the client", 21) == 0, "server reads the client's message");
    struct ucred cred;
    socklen_t clen = sizeof cred;
    check(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid == child && cred.uid == geteuid() &&
              cred.gid == getegid() && clen == sizeof cred,
          "SO_PEERCRED names the client process");
    glen = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &glen);
    check(strcmp(got.sun_path, path) == 0, "the accepted socket has the listener's name");
    write(s, "reply", 5);
    int st2;
    waitpid(child, &st2, 0);
    check(WIFEXITED(st2) && WEXITSTATUS(st2) == 0, "client connected, got its peer's name, reply and SO_PEERCRED");
    check(read(s, buf, sizeof buf) == 0, "client exit: EOF");
    close(s);

    // The backlog fills: nonblocking connects get EAGAIN.
    int n_ok = 0, last = 0;
    int clients[16];
    for (int i = 0; i < 16; i++) {
        clients[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(clients[i], (struct sockaddr *)&a, alen) == 0) n_ok++;
        else { last = errno; break; }
    }
    printf("connects before the backlog of 5 is full: %d, then %s\n", n_ok, errname(last));
    for (int i = 0; i < n_ok + (last ? 1 : 0) && i < 16; i++) close(clients[i]);
    // Pending connections whose clients left are still accepted; the reads see EOF.
    s = accept(l, NULL, NULL);
    check(s >= 0 && read(s, buf, sizeof buf) == 0, "accepting a connection whose client closed reads EOF");
    close(s);

    close(l);
    errno = 0;
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    report("connect after the listener closed", connect(c, (struct sockaddr *)&a, alen));
    unlink(path);
    report("connect to a missing path", connect(c, (struct sockaddr *)&a, alen));
    char file[4200];
    snprintf(file, sizeof file, "%s/file", dir);
    close(open(file, O_CREAT | O_WRONLY, 0644));
    unix_addr(&a, file, 0);
    report("connect to a regular file", connect(c, (struct sockaddr *)&a, alen));
    unlink(file);
    close(c);
    close(other);

    // A datagram server on a path: sender addresses, EPROTOTYPE.
    snprintf(path, sizeof path, "%s/dgram", dir);
    alen = unix_addr(&a, path, 0);
    int ds = socket(AF_UNIX, SOCK_DGRAM, 0);
    check(bind(ds, (struct sockaddr *)&a, alen) == 0, "bind dgram to a path");
    int dc = socket(AF_UNIX, SOCK_DGRAM, 0);
    char cpath[4200];
    snprintf(cpath, sizeof cpath, "%s/client", dir);
    struct sockaddr_un ca;
    socklen_t calen = unix_addr(&ca, cpath, 0);
    bind(dc, (struct sockaddr *)&ca, calen);
    check(sendto(dc, "to server", 9, 0, (struct sockaddr *)&a, alen) == 9, "sendto a path");
    flen = sizeof from;
    n = recvfrom(ds, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    check(n == 9 && strcmp(from.sun_path, cpath) == 0, "recvfrom names the bound sender");
    check(sendto(ds, "answer", 6, 0, (struct sockaddr *)&from, flen) == 6 && recv(dc, buf, sizeof buf, 0) == 6,
          "the server answers the sender's address");
    int anon = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(anon, "anon", 4, 0, (struct sockaddr *)&a, alen);
    flen = sizeof from;
    recvfrom(ds, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    printf("unbound dgram sender's address length: %d\n", (int)flen);
    int st_ = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    report("stream connect to a dgram socket", connect(st_, (struct sockaddr *)&a, alen));
    close(st_);
    check(connect(anon, (struct sockaddr *)&a, alen) == 0 && send(anon, "conn", 4, 0) == 4, "dgram connect then send");
    glen = sizeof got;
    check(getpeername(anon, (struct sockaddr *)&got, &glen) == 0 && strcmp(got.sun_path, path) == 0, "dgram getpeername");
    recv(ds, buf, sizeof buf, 0);
    // A socket connected elsewhere refuses strangers.
    check(connect(ds, (struct sockaddr *)&ca, calen) == 0, "server connects to the client");
    errno = 0;
    report("a third socket sends to the connected server", sendto(anon, "x", 1, 0, (struct sockaddr *)&a, alen));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    check(connect(anon, &unspec, sizeof unspec) == 0, "AF_UNSPEC dissolves the association");
    report("send after dissolving", send(anon, "x", 1, 0));
    close(anon);
    close(ds);
    close(dc);
    unlink(path);
    unlink(cpath);
}

static void abstract(void) {
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, "unix-fixture-abstract", 1);
    int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    check(bind(l, (struct sockaddr *)&a, alen) == 0, "bind an abstract name");
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &glen);
    check(glen == alen && got.sun_path[0] == 0 && memcmp(got.sun_path + 1, "unix-fixture-abstract", 21) == 0,
          "getsockname returns the abstract name with its exact length");
    int dup_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    errno = 0;
    report("bind the same abstract name", bind(dup_, (struct sockaddr *)&a, alen));
    close(dup_);
    listen(l, 1);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (connect(c, (struct sockaddr *)&a, alen) != 0) _exit(1);
        send(c, "first", 5, 0);
        send(c, "second", 6, 0);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    char buf[32];
    check(recv(s, buf, sizeof buf, 0) == 5 && recv(s, buf, sizeof buf, 0) == 6, "seqpacket over an abstract name keeps boundaries");
    waitpid(child, NULL, 0);
    check(recv(s, buf, sizeof buf, 0) == 0, "then EOF");
    close(s);
    close(l);
    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    errno = 0;
    report("connect to a closed abstract name", connect(c, (struct sockaddr *)&a, alen));
    close(c);

    // Autobind: an empty address gives "\0" and five hex digits.
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un empty = {.sun_family = AF_UNIX};
    check(bind(d, (struct sockaddr *)&empty, sizeof(sa_family_t)) == 0, "autobind");
    glen = sizeof got;
    getsockname(d, (struct sockaddr *)&got, &glen);
    int hex = 1;
    for (int i = 1; i < 6; i++) hex &= !!strchr("0123456789abcdef", got.sun_path[i]);
    check(glen == sizeof(sa_family_t) + 6 && got.sun_path[0] == 0 && hex, "autobind name is NUL and 5 hex digits");
    close(d);
}

static void rights(const char *dir) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int pipefd[2];
    pipe(pipefd);
    char file[4200];
    snprintf(file, sizeof file, "%s/passed", dir);
    int f = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(f, "file contents", 13);
    lseek(f, 0, SEEK_SET);
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        int fds[2];
        char byte;
        int flags;
        if (recv_fds(sv[1], fds, 2, &byte, 256, 0, &flags) != 2 || byte != 'R') _exit(1);
        char buf[32];
        if (read(fds[0], buf, sizeof buf) != 10 || memcmp(buf, "via a pipe", 10) != 0) _exit(2);
        if (read(fds[1], buf, sizeof buf) != 13 || memcmp(buf, "file contents", 13) != 0) _exit(3);
        // The file description is shared: the offset moved for the sender too.
        write(fds[1], "+child", 6);
        _exit(0);
    }
    int fds[2] = {pipefd[0], f};
    check(send_fds(sv[0], fds, 2, "R") == 1, "sendmsg SCM_RIGHTS with a pipe end and a file");
    write(pipefd[1], "via a pipe", 10);
    int st;
    waitpid(child, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child read the pipe and the file through the passed descriptors");
    char buf[64];
    off_t off = lseek(f, 0, SEEK_CUR);
    lseek(f, 0, SEEK_SET);
    ssize_t n = read(f, buf, sizeof buf);
    check(off == 19 && n == 19 && memcmp(buf, "file contents+child", 19) == 0, "the passed description shares the offset");
    close(f);
    unlink(file);

    // Descriptors are a barrier in a stream; MSG_CTRUNC when the buffer is short;
    // MSG_CMSG_CLOEXEC marks the new descriptors.
    write(sv[0], "ab", 2);
    int one[1] = {pipefd[1]};
    send_fds(sv[0], one, 1, "c");
    write(sv[0], "de", 2);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("read across the descriptor barrier: %zd bytes\n", n);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("then: %zd bytes\n", n);
    int three[3] = {0, 1, 2}, got[4], flags = 0;
    send_fds(sv[0], three, 3, "t");
    int k = recv_fds(sv[1], got, 4, buf, CMSG_LEN(sizeof(int)), 0, &flags);
    check(k == 1 && (flags & MSG_CTRUNC), "a short control buffer gets one descriptor and MSG_CTRUNC");
    close(got[0]);
    send_fds(sv[0], three, 1, "u");
    k = recv_fds(sv[1], got, 4, buf, 0, 0, &flags);
    check(k == 0 && (flags & MSG_CTRUNC), "no control buffer: descriptors dropped, MSG_CTRUNC");
    send_fds(sv[0], three, 1, "v");
    k = recv_fds(sv[1], got, 4, buf, 256, MSG_CMSG_CLOEXEC, &flags);
    check(k == 1 && fcntl(got[0], F_GETFD) == FD_CLOEXEC, "MSG_CMSG_CLOEXEC sets close-on-exec");
    close(got[0]);
    send_fds(sv[0], three, 1, "w");
    k = recv_fds(sv[1], got, 4, buf, 256, MSG_PEEK, &flags);
    int k2 = recv_fds(sv[1], got + 1, 3, buf, 256, 0, &flags);
    check(k == 1 && k2 == 1 && got[0] != got[1], "MSG_PEEK installs the descriptors too, and leaves them queued");
    close(got[0]);
    close(got[1]);
    int bad[1] = {999};
    errno = 0;
    report("SCM_RIGHTS with a closed descriptor", send_fds(sv[0], bad, 1, "x"));

    // Credentials: SO_PASSCRED on the receiver.
    int on = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    send(sv[0], "cred", 4, 0);
    char control[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    n = recvmsg(sv[1], &m, 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    struct ucred uc = {0};
    if (c && c->cmsg_type == SCM_CREDENTIALS) memcpy(&uc, CMSG_DATA(c), sizeof uc);
    check(n == 4 && c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && uc.pid == getpid() &&
              uc.uid == getuid() && uc.gid == getgid(),
          "SCM_CREDENTIALS carries the sender's pid, uid and gid");
    // Explicit credentials are checked.
    struct ucred mine = {getpid(), getuid(), getgid()};
    char ctl[CMSG_SPACE(sizeof mine)];
    memset(ctl, 0, sizeof ctl);
    iov.iov_base = "x";
    iov.iov_len = 1;
    struct msghdr sm = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    c = CMSG_FIRSTHDR(&sm);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof mine);
    memcpy(CMSG_DATA(c), &mine, sizeof mine);
    check(sendmsg(sv[0], &sm, 0) == 1, "sendmsg with one's own SCM_CREDENTIALS");
    recv(sv[1], buf, sizeof buf, 0);
    c->cmsg_type = 77;
    errno = 0;
    report("sendmsg with an unknown SOL_SOCKET cmsg type", sendmsg(sv[0], &sm, 0));
    close(sv[0]);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);

    // Passing a socket end over a datagram socket with no data.
    int dv[2], pv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dv);
    socketpair(AF_UNIX, SOCK_STREAM, 0, pv);
    char ctl2[CMSG_SPACE(sizeof(int))];
    struct msghdr zm = {.msg_control = ctl2, .msg_controllen = sizeof ctl2};
    c = CMSG_FIRSTHDR(&zm);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pv[1], sizeof(int));
    check(sendmsg(dv[0], &zm, 0) == 0, "SCM_RIGHTS over a dgram socket without data");
    close(pv[1]);
    int r1 = -1;
    k = recv_fds(dv[1], &r1, 1, buf, 256, 0, &flags);
    check(k == 1 && write(r1, "through", 7) == 7 && read(pv[0], buf, sizeof buf) == 7, "the passed socket end still works");
    close(r1);
    check(read(pv[0], buf, sizeof buf) == 0, "closing the last passed reference ends the stream");
    close(pv[0]);
    close(dv[0]);
    close(dv[1]);
}

static void readiness(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct pollfd p[2] = {{sv[0], POLLIN | POLLOUT | POLLRDHUP, 0}, {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0}};
    poll(p, 2, 0);
    printf("fresh pair poll: %#x %#x\n", p[0].revents, p[1].revents);
    write(sv[0], "x", 1);
    poll(p, 2, 0);
    printf("after a write: %#x %#x\n", p[0].revents, p[1].revents);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 7}, out[4];
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
    int n = epoll_wait(ep, out, 4, 0);
    check(n == 1 && out[0].data.u32 == 7 && (out[0].events & EPOLLIN), "epoll reports EPOLLIN");
    check(epoll_wait(ep, out, 4, 0) == 0, "edge-triggered: once");
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        write(sv[0], "y", 1);
        _exit(0);
    }
    n = epoll_wait(ep, out, 4, 5000);
    check(n == 1 && (out[0].events & EPOLLIN), "epoll_wait wakes for data from another process");
    waitpid(child, NULL, 0);
    char buf[8];
    read(sv[1], buf, sizeof buf);
    shutdown(sv[0], SHUT_WR);
    poll(p, 2, 0);
    printf("after SHUT_WR: %#x %#x\n", p[0].revents, p[1].revents);
    close(sv[0]);
    poll(p + 1, 1, 0);
    printf("after the peer closed: %#x\n", p[1].revents);
    close(sv[1]);
    close(ep);

    // Filling a nonblocking stream socket: EAGAIN, not writable; readable again after a drain.
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    static char chunk[4096];
    long total = 0;
    ssize_t w;
    while ((w = write(sv[0], chunk, sizeof chunk)) > 0) total += w;
    check(w == -1 && errno == EAGAIN && total > 0, "a full stream socket gives EAGAIN");
    struct pollfd q = {sv[0], POLLOUT, 0};
    check(poll(&q, 1, 0) == 0, "a full socket does not poll writable");
    while (read(sv[1], chunk, sizeof chunk) > 0) {}
    check(poll(&q, 1, 0) == 1 && (q.revents & POLLOUT), "writable again once drained");
    close(sv[0]);
    close(sv[1]);

    // A blocked read ends with EINTR on a signal whose handler has no SA_RESTART.
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    errno = 0;
    report("blocked recv interrupted by SIGALRM", recv(sv[1], buf, sizeof buf, 0));
    // With SO_RCVTIMEO the read gives up with EAGAIN.
    struct timeval tv = {0, 50000};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    report("recv with SO_RCVTIMEO", recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    close(sv[1]);
}

static int blocked_listener;
static void *blocked_accept(void *arg) {
    (void)arg;
    errno = 0;
    long r = accept(blocked_listener, NULL, NULL);
    report("accept blocked in another thread when the listener is shut down", r);
    return NULL;
}

static void listener_shutdown(void) {
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, "unix-fixture-shutdown", 1);
    blocked_listener = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(blocked_listener, (struct sockaddr *)&a, alen);
    listen(blocked_listener, 1);
    pthread_t thread;
    pthread_create(&thread, NULL, blocked_accept, NULL);
    usleep(100000);
    int shut = shutdown(blocked_listener, SHUT_RDWR);
    pthread_join(thread, NULL);
    check(shut == 0, "shutdown of a listener");
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    report("connect to a shut-down listener", connect(c, (struct sockaddr *)&a, alen));
    close(c);
    close(blocked_listener);
}

static void mmsg(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct iovec iov[3] = {{"m1", 2}, {"msg2", 4}, {"m3!", 3}};
    struct mmsghdr out[3] = {0};
    for (int i = 0; i < 3; i++) { out[i].msg_hdr.msg_iov = &iov[i]; out[i].msg_hdr.msg_iovlen = 1; }
    check(sendmmsg(sv[0], out, 3, 0) == 3 && out[1].msg_len == 4, "sendmmsg sends three datagrams");
    char bufs[3][8];
    struct iovec riov[3] = {{bufs[0], 8}, {bufs[1], 8}, {bufs[2], 8}};
    struct mmsghdr in[3] = {0};
    for (int i = 0; i < 3; i++) { in[i].msg_hdr.msg_iov = &riov[i]; in[i].msg_hdr.msg_iovlen = 1; }
    int n = recvmmsg(sv[1], in, 3, MSG_DONTWAIT, NULL);
    check(n == 3 && in[0].msg_len == 2 && in[1].msg_len == 4 && in[2].msg_len == 3 && memcmp(bufs[1], "msg2", 4) == 0,
          "recvmmsg receives them with their lengths");
    errno = 0;
    report("recvmmsg on an empty socket", recvmmsg(sv[1], in, 3, MSG_DONTWAIT, NULL));
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, on_sigpipe);
    umask(022);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/unix-XXXXXX", argc > 1 ? argv[1] : "/tmp");
    if (!mkdtemp(dir)) return 2;
    pairs();
    epipe();
    options();
    named(dir);
    abstract();
    rights(dir);
    readiness();
    listener_shutdown();
    mmsg();
    rmdir(dir);
    return finish_as("%d checks FAILED\n", "unix ok");
}
