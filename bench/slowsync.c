/* slowsync.c — LD_PRELOAD shim that makes this machine's disk behave like a slower one for the
 * group-commit benchmark: every fsync/fdatasync takes at least SLOWSYNC_MS milliseconds, and only one
 * runs at a time across all processes that load the shim (an flock on SLOWSYNC_LOCK, opened per call so
 * threads of one process and forked children exclude each other too). That models a disk that completes
 * one cache flush at a time, e.g. ~300 flushes a second at SLOWSYNC_MS=3.3 — the rate the issue measured
 * on this machine under load, where today's quiet disk does several thousand.
 *
 * The real call still runs (data is still made durable); the shim only adds the wait. Built by bench.py:
 *   cc -O2 -shared -fPIC -o slowsync.so slowsync.c -ldl
 * Environment: SLOWSYNC_MS (default 3.3), SLOWSYNC_LOCK (default /tmp/petrel-bench-slowsync.lock),
 * SLOWSYNC_COUNT (optional: a file that grows by one octet per call, so size = number of syncs). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static double floor_ms(void) {
    const char *s = getenv("SLOWSYNC_MS");
    double v = s ? strtod(s, NULL) : 3.3;
    return (v > 0 && v < 10000) ? v : 3.3;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int slow(const char *name, int fd) {
    sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
    if (!real) { errno = ENOSYS; return -1; }
    const char *path = getenv("SLOWSYNC_LOCK");
    int lock = open(path ? path : "/tmp/petrel-bench-slowsync.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock >= 0) {
        while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {}
    }
    double t0 = now_ms();
    int rc = real(fd);
    int saved = errno;
    double left = floor_ms() - (now_ms() - t0);
    if (left > 0) {
        struct timespec ts = { (time_t)(left / 1e3), (long)((left - (time_t)(left / 1e3) * 1e3) * 1e6) };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    const char *count = getenv("SLOWSYNC_COUNT");
    if (count) {
        int c = open(count, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (c >= 0) { (void)!write(c, "s", 1); close(c); }
    }
    if (lock >= 0) close(lock); /* releases the flock */
    errno = saved;
    return rc;
}

int fsync(int fd) { return slow("fsync", fd); }
int fdatasync(int fd) { return slow("fdatasync", fd); }
