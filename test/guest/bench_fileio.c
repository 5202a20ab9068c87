// Benchmark fixture: sequential write, then sequential read, of one file.
//   bench_fileio PATH [MIB]      (MIB defaults to 256)
//   bench_fileio -r PATH [MIB]   read-only: reads the first MIB MiB of an existing file twice
// Creates PATH (O_CREAT|O_EXCL), writes MIB MiB in 1 MiB write()s, closes it (no fsync:
// the figure is the file system's own cost, not the disk's), reopens it, reads it back in
// 1 MiB read()s checking every block, closes it and unlinks it. Each phase (open to
// close) is timed with CLOCK_MONOTONIC; prints "write_mb_s <float>" and "read_mb_s
// <float>" in MB/s (10^6 bytes per second).
// With -r the file must already hold the data the write phase would have written (block b:
// byte i is (char)(i * 7 + 1), byte 0 is (char)b); it is read twice in 1 MiB read()s, each
// block checked, and left in place. Prints "read_first_mb_s" and "read_warm_mb_s" (the
// second pass, when every cache on the way has seen the file once).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1L << 20)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed pass over the first mib MiB of path; returns MB/s, or -1 after printing why. */
static double read_pass(const char *path, long mib, char *buf, char *in) {
    double t0 = now();
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s for reading: %s\n", path, strerror(errno));
        return -1;
    }
    for (long b = 0; b < mib; b++) {
        long done = 0;
        while (done < BLOCK) {
            ssize_t r = read(fd, in + done, BLOCK - done);
            if (r <= 0) {
                fprintf(stderr, "read at block %ld: %s\n", b, r < 0 ? strerror(errno) : "early end of file");
                close(fd);
                return -1;
            }
            done += r;
        }
        buf[0] = (char)b;
        if (memcmp(in, buf, BLOCK) != 0) {
            fprintf(stderr, "block %ld holds different data than expected\n", b);
            close(fd);
            return -1;
        }
    }
    close(fd);
    return (double)mib * BLOCK / (now() - t0) / 1e6;
}

static int read_only(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s -r PATH [MiB]\n", argv[0]);
        return 2;
    }
    const char *path = argv[2];
    long mib = argc > 3 ? strtol(argv[3], NULL, 10) : 256;
    if (mib <= 0) {
        fprintf(stderr, "size must be > 0 MiB\n");
        return 2;
    }
    char *buf = malloc(BLOCK), *in = malloc(BLOCK);
    if (buf == NULL || in == NULL) {
        perror("malloc");
        return 1;
    }
    for (long i = 0; i < BLOCK; i++) buf[i] = (char)(i * 7 + 1);
    double first = read_pass(path, mib, buf, in);
    if (first < 0) return 1;
    double warm = read_pass(path, mib, buf, in);
    if (warm < 0) return 1;
    printf("read_first_mb_s %.1f\nread_warm_mb_s %.1f\n", first, warm);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "-r") == 0) return read_only(argc, argv);
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH [MiB]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long mib = argc > 2 ? strtol(argv[2], NULL, 10) : 256;
    if (mib <= 0) {
        fprintf(stderr, "size must be > 0 MiB\n");
        return 2;
    }
    char *buf = malloc(BLOCK), *in = malloc(BLOCK);
    if (buf == NULL || in == NULL) {
        perror("malloc");
        return 1;
    }
    for (long i = 0; i < BLOCK; i++) buf[i] = (char)(i * 7 + 1);

    double t0 = now();
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "open %s for writing: %s\n", path, strerror(errno));
        return 1;
    }
    for (long b = 0; b < mib; b++) {
        buf[0] = (char)b;  // every block differs in its first byte
        for (long done = 0; done < BLOCK;) {
            ssize_t w = write(fd, buf + done, BLOCK - done);
            if (w <= 0) {
                fprintf(stderr, "write: %s\n", w < 0 ? strerror(errno) : "wrote 0 bytes");
                unlink(path);
                return 1;
            }
            done += w;
        }
    }
    if (close(fd) != 0) {
        perror("close");
        unlink(path);
        return 1;
    }
    double t1 = now();

    fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s for reading: %s\n", path, strerror(errno));
        unlink(path);
        return 1;
    }
    for (long b = 0; b < mib; b++) {
        long done = 0;
        while (done < BLOCK) {
            ssize_t r = read(fd, in + done, BLOCK - done);
            if (r <= 0) {
                fprintf(stderr, "read at block %ld: %s\n", b, r < 0 ? strerror(errno) : "early end of file");
                unlink(path);
                return 1;
            }
            done += r;
        }
        buf[0] = (char)b;
        if (memcmp(in, buf, BLOCK) != 0) {
            fprintf(stderr, "block %ld reads back different data\n", b);
            unlink(path);
            return 1;
        }
    }
    char extra;
    if (read(fd, &extra, 1) != 0) {
        fprintf(stderr, "the file is longer than written\n");
        unlink(path);
        return 1;
    }
    close(fd);
    double t2 = now();
    if (unlink(path) != 0) {
        perror("unlink");
        return 1;
    }
    double bytes = (double)mib * BLOCK;
    printf("write_mb_s %.1f\nread_mb_s %.1f\n", bytes / (t1 - t0) / 1e6, bytes / (t2 - t1) / 1e6);
    return 0;
}
