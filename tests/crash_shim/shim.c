/*
 * Crash shim for the out-of-process crash sweep (tests/it/process_crash.rs).
 *
 * Preloaded into the tagkeeper binary with LD_PRELOAD. It counts the process's mutating
 * filesystem calls across all threads: opens that may write or create, writes to files opened
 * so, renames, links, unlinks, mkdir/rmdir and truncates. With CRASH_AT=K it kills the process
 * with SIGKILL just before the K-th such call (the call is not made), as an operator's
 * `kill -9` or the OOM killer would. With CRASH_COUNT_FILE set, a process that exits normally
 * writes its count there (how the sweep learns the crash points of an uncrashed run).
 *
 * The binary imports open, open64, write, writev, rename, linkat, unlink, mkdir and rmdir
 * from glibc (`nm -D target/debug/tagkeeper`, December 2026); the rest of the family is
 * covered too, so that a change of std does not silently stop the counting (the sweep also
 * pins a lower bound on each command's crash points). fsync is not counted: a kill before it
 * leaves the same files as a kill after it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 65536

static atomic_long counter;
static long crash_at = -1;
/* Descriptors opened for writing: only writes to these count (not stdout, pipes, eventfds). */
static atomic_uchar tracked[MAX_FD];

static void *real(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        static const char msg[] = "crash shim: symbol not found\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    return f;
}

__attribute__((constructor)) static void shim_init(void) {
    const char *at = getenv("CRASH_AT");
    if (at && *at) crash_at = atol(at);
}

__attribute__((destructor)) static void shim_fini(void) {
    const char *path = getenv("CRASH_COUNT_FILE");
    if (!path || !*path) return;
    int (*o)(const char *, int, ...) = real("open");
    ssize_t (*w)(int, const void *, size_t) = real("write");
    int (*c)(int) = real("close");
    int fd = o(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", atomic_load(&counter));
    (void)!w(fd, buf, (size_t)n);
    c(fd);
}

static void tick(void) {
    long n = atomic_fetch_add(&counter, 1) + 1;
    if (crash_at > 0 && n >= crash_at) {
        kill(getpid(), SIGKILL);
        for (;;) pause();
    }
}

static int writes(int flags) {
    return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

static void track(int fd, int on) {
    if (fd >= 0 && fd < MAX_FD) atomic_store(&tracked[fd], (unsigned char)on);
}

static int is_tracked(int fd) {
    return fd >= 0 && fd < MAX_FD && atomic_load(&tracked[fd]);
}

static mode_t mode_of(int flags, va_list ap) {
    if (flags & (O_CREAT | O_TMPFILE)) return (mode_t)va_arg(ap, int);
    return 0;
}

#define OPEN(name)                                                     \
    int name(const char *path, int flags, ...) {                       \
        static int (*f)(const char *, int, ...);                       \
        if (!f) f = real(#name);                                       \
        va_list ap;                                                    \
        va_start(ap, flags);                                           \
        mode_t mode = mode_of(flags, ap);                              \
        va_end(ap);                                                    \
        int w = writes(flags);                                         \
        if (w) tick();                                                 \
        int fd = f(path, flags, mode);                                 \
        track(fd, w);                                                  \
        return fd;                                                     \
    }
OPEN(open)
OPEN(open64)

#define OPENAT(name)                                                   \
    int name(int dirfd, const char *path, int flags, ...) {            \
        static int (*f)(int, const char *, int, ...);                  \
        if (!f) f = real(#name);                                       \
        va_list ap;                                                    \
        va_start(ap, flags);                                           \
        mode_t mode = mode_of(flags, ap);                              \
        va_end(ap);                                                    \
        int w = writes(flags);                                         \
        if (w) tick();                                                 \
        int fd = f(dirfd, path, flags, mode);                          \
        track(fd, w);                                                  \
        return fd;                                                     \
    }
OPENAT(openat)
OPENAT(openat64)

#define CREAT(name)                                                    \
    int name(const char *path, mode_t mode) {                          \
        static int (*f)(const char *, mode_t);                         \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        int fd = f(path, mode);                                        \
        track(fd, 1);                                                  \
        return fd;                                                     \
    }
CREAT(creat)
CREAT(creat64)

int close(int fd) {
    static int (*f)(int);
    if (!f) f = real("close");
    track(fd, 0);
    return f(fd);
}

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*f)(int, const void *, size_t);
    if (!f) f = real("write");
    if (is_tracked(fd)) tick();
    return f(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    static ssize_t (*f)(int, const struct iovec *, int);
    if (!f) f = real("writev");
    if (is_tracked(fd)) tick();
    return f(fd, iov, cnt);
}

#define PWRITE(name)                                                   \
    ssize_t name(int fd, const void *buf, size_t n, off_t off) {       \
        static ssize_t (*f)(int, const void *, size_t, off_t);         \
        if (!f) f = real(#name);                                       \
        if (is_tracked(fd)) tick();                                    \
        return f(fd, buf, n, off);                                     \
    }
PWRITE(pwrite)
PWRITE(pwrite64)

#define ALWAYS1(ret, name, t1)                                         \
    ret name(t1 a) {                                                   \
        static ret (*f)(t1);                                           \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        return f(a);                                                   \
    }
#define ALWAYS2(ret, name, t1, t2)                                     \
    ret name(t1 a, t2 b) {                                             \
        static ret (*f)(t1, t2);                                       \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        return f(a, b);                                                \
    }
#define ALWAYS3(ret, name, t1, t2, t3)                                 \
    ret name(t1 a, t2 b, t3 c) {                                       \
        static ret (*f)(t1, t2, t3);                                   \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        return f(a, b, c);                                             \
    }
#define ALWAYS4(ret, name, t1, t2, t3, t4)                             \
    ret name(t1 a, t2 b, t3 c, t4 d) {                                 \
        static ret (*f)(t1, t2, t3, t4);                               \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        return f(a, b, c, d);                                          \
    }
#define ALWAYS5(ret, name, t1, t2, t3, t4, t5)                         \
    ret name(t1 a, t2 b, t3 c, t4 d, t5 e) {                           \
        static ret (*f)(t1, t2, t3, t4, t5);                           \
        if (!f) f = real(#name);                                       \
        tick();                                                        \
        return f(a, b, c, d, e);                                       \
    }

ALWAYS2(int, rename, const char *, const char *)
ALWAYS4(int, renameat, int, const char *, int, const char *)
ALWAYS5(int, renameat2, int, const char *, int, const char *, unsigned int)
ALWAYS2(int, link, const char *, const char *)
ALWAYS5(int, linkat, int, const char *, int, const char *, int)
ALWAYS1(int, unlink, const char *)
ALWAYS3(int, unlinkat, int, const char *, int)
ALWAYS2(int, mkdir, const char *, mode_t)
ALWAYS3(int, mkdirat, int, const char *, mode_t)
ALWAYS1(int, rmdir, const char *)
ALWAYS2(int, truncate, const char *, off_t)
ALWAYS2(int, truncate64, const char *, off64_t)
ALWAYS2(int, ftruncate, int, off_t)
ALWAYS2(int, ftruncate64, int, off64_t)
