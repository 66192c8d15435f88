/* alloccount.c — LD_PRELOAD shim that counts heap allocations, for the allocation-count guard of issue 21
 * (bench/allocs.sh, Tests/PetrelServerTests/AllocationCountTests.swift).
 *
 * Every malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc and pvalloc is passed
 * to glibc's own entry point (__libc_malloc & co., so nothing is resolved lazily while counting) after
 * one relaxed atomic increment. The process reads the totals with `petrel_alloc_count()` (found with
 * dlsym(RTLD_DEFAULT, …); a test skips itself when the shim is not loaded). Nothing else changes: the
 * allocator, the pointers and their alignment are glibc's.
 *
 * Optional attribution: `petrel_alloc_trace(fd)` writes the call stack of every allocation counted from
 * then on to fd (backtrace_symbols_fd, one "== alloc" line per allocation); `petrel_alloc_trace(-1)`
 * stops. bench/allocs.sh --trace folds them into a table of the callers.
 *
 * For a server process (bench/allocs_server.sh): with ALLOCCOUNT_DUMP=path in the environment, SIGUSR2
 * writes the count so far to that file (decimal, one line, replacing what was there); with
 * ALLOCCOUNT_TRACE=path too, SIGUSR1 starts (and a second SIGUSR1 stops) writing the stacks to that file.
 *
 * Built by bench/allocs.sh:  cc -O2 -shared -fPIC -o alloccount.so alloccount.c
 * glibc only (it uses the __libc_* entry points). */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static atomic_ullong allocations;
static atomic_int trace_fd = -1;
static __thread int in_trace;

unsigned long long petrel_alloc_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

void petrel_alloc_trace(int fd) {
    if (fd >= 0) {   /* backtrace() loads libgcc_s on first use: do it before tracing starts */
        void *frames[2];
        in_trace = 1;
        backtrace(frames, 2);
        in_trace = 0;
    }
    atomic_store(&trace_fd, fd);
}

static const char *dump_path;

static void dump(int signal) {
    (void)signal;
    char text[24];
    unsigned long long n = petrel_alloc_count();
    int i = sizeof text;
    text[--i] = '\n';
    do { text[--i] = (char)('0' + n % 10); n /= 10; } while (n && i > 0);
    int fd = open(dump_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    (void)!write(fd, text + i, sizeof text - i);
    close(fd);
}

static int toggle_fd = -1;

static void toggle(int signal) {
    (void)signal;
    atomic_store(&trace_fd, atomic_load(&trace_fd) < 0 ? toggle_fd : -1);
}

__attribute__((constructor)) static void install_dump(void) {
    dump_path = getenv("ALLOCCOUNT_DUMP");
    if (!dump_path) return;
    struct sigaction action = { .sa_handler = dump, .sa_flags = SA_RESTART };
    sigaction(SIGUSR2, &action, NULL);
    const char *trace_path = getenv("ALLOCCOUNT_TRACE");
    if (!trace_path) return;
    toggle_fd = open(trace_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (toggle_fd < 0) return;
    petrel_alloc_trace(-1);   /* loads libgcc_s for backtrace() now */
    struct sigaction start = { .sa_handler = toggle, .sa_flags = SA_RESTART };
    sigaction(SIGUSR1, &start, NULL);
}

static void counted(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    int fd = atomic_load_explicit(&trace_fd, memory_order_relaxed);
    if (fd < 0 || in_trace) return;
    in_trace = 1;
    void *frames[24];
    int n = backtrace(frames, 24);
    static const char mark[] = "== alloc\n";
    (void)!write(fd, mark, sizeof mark - 1);
    backtrace_symbols_fd(frames + 2, n > 2 ? n - 2 : 0, fd);
    in_trace = 0;
}

void *malloc(size_t size) {
    counted();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    counted();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    counted();
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return 22; /* EINVAL */
    counted();
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    counted();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    counted();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    counted();
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    counted();
    return __libc_pvalloc(size);
}
