/* testutil.h: the little the C tests share.
 *
 * - EXPECT(cond, fmt, ...) and friends: on failure print file:line, the
 *   current case name and a message, and count the failure. They never stop
 *   the test, so one run shows every broken check. Safe from any thread.
 * - TU_RUN(fn): runs one named case and prints "ok NAME" or "FAIL NAME".
 * - tu_finish(): the summary line; returns the exit status (0, or 1 when any
 *   check failed), as automake expects.
 * - fill_pattern/check_pattern: bytes derived from a block's address and
 *   size, so a block that overlaps another or is scribbled on shows up.
 *   fill_seq/check_seq: bytes derived from a seed and the offset only, for
 *   content that must survive a move (realloc).
 * - tu_launder / tu_opaque: hide a value from the optimiser. GCC knows what
 *   malloc, calloc and aligned_alloc promise and would otherwise fold an
 *   alignment check or a read of calloc'ed memory into a constant, testing
 *   nothing.
 * - tu_rss_bytes(): resident memory now, from /proc/self/statm.
 *
 * Everything is static inline: each test includes this header once.
 */
#ifndef HAK_TESTUTIL_H
#define HAK_TESTUTIL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a case in a child process ------------------------------------------- */

/* Runs fn(arg) in a fork()ed child (no core file, SIGALRM after timeout_s,
 * _exit(0) if fn returns) and reads its stderr into out, to its end (a child
 * writes its message in pieces, and must not die of SIGPIPE half way),
 * final newlines stripped. Returns the child's wait status, or -1 with errno
 * when it could not be started. For the misuse cases, which abort. */
static inline int tu_child(void (*fn)(const void *), const void *arg, unsigned timeout_s, char *out,
                           size_t cap)
{
    int fd[2];
    out[0] = '\0';
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* an expected abort: no core file */
        close(fd[0]);
        dup2(fd[1], 2);
        close(fd[1]);
        alarm(timeout_s);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd[0], out + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
        if (len == cap - 1) break;
    }
    out[len] = '\0';
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (len > 0 && out[len - 1] == '\n') out[--len] = '\0';
    return status;
}

/* ---- failure counting ---------------------------------------------------- */

struct tu_state {
    atomic_long checks;
    atomic_long failures;
    const char *current; /* name of the running case */
};

static inline struct tu_state *tu_state(void)
{
    static struct tu_state s = {0, 0, "-"};
    return &s;
}

#define EXPECT(cond, ...)                                                          \
    do {                                                                           \
        atomic_fetch_add(&tu_state()->checks, 1);                                  \
        if (!(cond)) {                                                             \
            atomic_fetch_add(&tu_state()->failures, 1);                            \
            flockfile(stderr);                                                     \
            fprintf(stderr, "%s:%d: [%s] check failed: %s: ", __FILE__, __LINE__, \
                    tu_state()->current, #cond);                                   \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            funlockfile(stderr);                                                   \
        }                                                                          \
    } while (0)

/* Integers of any type, compared as they are and printed as 64-bit values. */
#define EXPECT_EQ(a, b)                                                             \
    EXPECT((a) == (b), "%s = %lld (0x%llx), %s = %lld (0x%llx)", #a,                \
           (long long)(a), (unsigned long long)(a), #b, (long long)(b),            \
           (unsigned long long)(b))
#define EXPECT_NE(a, b) EXPECT((a) != (b), "both are %lld", (long long)(a))
#define EXPECT_GE(a, b)                                                             \
    EXPECT((a) >= (b), "%s = %llu < %s = %llu", #a, (unsigned long long)(a), #b,    \
           (unsigned long long)(b))
#define EXPECT_LE(a, b)                                                             \
    EXPECT((a) <= (b), "%s = %llu > %s = %llu", #a, (unsigned long long)(a), #b,    \
           (unsigned long long)(b))
#define EXPECT_PTR_EQ(a, b) EXPECT((const void *)(a) == (const void *)(b), "%p != %p", \
                                   (const void *)(a), (const void *)(b))
#define EXPECT_NOT_NULL(p) EXPECT((p) != NULL, "%s is NULL", #p)
#define EXPECT_STREQ(a, b) EXPECT(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))
/* p is aligned to a (a power of two). */
#define EXPECT_ALIGNED(p, a)                                                          \
    EXPECT((tu_launder_addr(p) & ((uintptr_t)(a) - 1)) == 0, "%p is not %zu-aligned", \
           (const void *)(p), (size_t)(a))

/* For checks inside loops: after the first failure of this check (flag set),
 * later failures are counted but not printed. flag: an int, initially 0. */
#define EXPECT_LOOP(flag, cond, ...)                                    \
    do {                                                                \
        if (flag) {                                                     \
            atomic_fetch_add(&tu_state()->checks, 1);                   \
            if (!(cond)) atomic_fetch_add(&tu_state()->failures, 1);    \
        } else {                                                        \
            long tu_before_ = atomic_load(&tu_state()->failures);       \
            EXPECT(cond, __VA_ARGS__);                                  \
            if (atomic_load(&tu_state()->failures) != tu_before_) {     \
                (flag) = 1;                                             \
                fprintf(stderr, "  (further failures of this check are counted, not printed)\n"); \
            }                                                           \
        }                                                               \
    } while (0)

static inline long tu_failures(void) { return atomic_load(&tu_state()->failures); }

static inline double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs one case; its checks are reported under its name. */
static inline void tu_run(const char *name, void (*fn)(void))
{
    long before = tu_failures();
    double t0 = tu_now();
    tu_state()->current = name;
    fn();
    tu_state()->current = "-";
    long failed = tu_failures() - before;
    if (failed == 0)
        printf("ok   %-34s (%.2f s)\n", name, tu_now() - t0);
    else
        printf("FAIL %-34s (%ld failed checks)\n", name, failed);
    fflush(stdout);
}
#define TU_RUN(fn) tu_run(#fn, fn)

/* The summary line; the exit status for main. */
static inline int tu_finish(const char *test)
{
    long checks = atomic_load(&tu_state()->checks);
    long failures = tu_failures();
    printf("%s: %ld checks, %ld failed: %s\n", test, checks, failures,
           failures ? "FAIL" : "PASS");
    fflush(stdout);
    return failures ? 1 : 0;
}

/* ---- hiding values from the optimiser ------------------------------------ */

static inline void *tu_launder(const void *p)
{
    void *q = (void *)(uintptr_t)p;
    __asm__ volatile("" : "+r"(q) : : "memory");
    return q;
}

static inline uintptr_t tu_launder_addr(const void *p) { return (uintptr_t)tu_launder(p); }

static inline size_t tu_opaque(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* ---- patterns --------------------------------------------------------------- */

static inline uint64_t tu_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Byte i of the sequence named seed. */
static inline uint8_t tu_seq_byte(uint64_t seed, size_t i)
{
    uint64_t w = tu_mix64(seed + (uint64_t)(i >> 3) * 0x9e3779b97f4a7c15ull);
    return (uint8_t)(w >> ((i & 7) * 8));
}

/* Bytes [from, to) of the block get the bytes [from, to) of sequence seed. */
static inline void fill_seq(void *p, size_t from, size_t to, uint64_t seed)
{
    uint8_t *b = (uint8_t *)p;
    size_t i = from;
    for (; i < to && (i & 7); i++) b[i] = tu_seq_byte(seed, i);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= to; i += 8) { /* byte k of w is tu_seq_byte(seed, i + k) */
        uint64_t w = tu_mix64(seed + (uint64_t)(i >> 3) * 0x9e3779b97f4a7c15ull);
        memcpy(b + i, &w, 8);
    }
#endif
    for (; i < to; i++) b[i] = tu_seq_byte(seed, i);
}

/* First offset in [from, to) that does not hold sequence seed; SIZE_MAX if none. */
static inline size_t check_seq(const void *p, size_t from, size_t to, uint64_t seed)
{
    const uint8_t *b = (const uint8_t *)p;
    size_t i = from;
    for (; i < to && (i & 7); i++)
        if (b[i] != tu_seq_byte(seed, i)) return i;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= to; i += 8) {
        uint64_t w = tu_mix64(seed + (uint64_t)(i >> 3) * 0x9e3779b97f4a7c15ull), got;
        memcpy(&got, b + i, 8);
        if (got != w) {
            for (size_t k = i; k < i + 8; k++)
                if (b[k] != tu_seq_byte(seed, k)) return k;
        }
    }
#endif
    for (; i < to; i++)
        if (b[i] != tu_seq_byte(seed, i)) return i;
    return SIZE_MAX;
}

static inline uint64_t tu_pattern_seed(const void *p, size_t n)
{
    return tu_mix64((uint64_t)(uintptr_t)p ^ ((uint64_t)n << 40) ^ (uint64_t)n);
}

/* Fills n bytes at p with bytes derived from p and n. */
static inline void fill_pattern(void *p, size_t n) { fill_seq(p, 0, n, tu_pattern_seed(p, n)); }

/* 1 if the n bytes at p still hold fill_pattern(p, n), else 0. */
static inline int check_pattern(const void *p, size_t n)
{
    return check_seq(p, 0, n, tu_pattern_seed(p, n)) == SIZE_MAX;
}

/* 1 if all n bytes at p are zero. */
static inline int tu_all_zero(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)tu_launder(p);
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

/* ---- memory use -------------------------------------------------------------- */

/* Resident bytes of this process now (/proc/self/statm); 0 if unreadable. */
static inline size_t tu_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2) return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Peak resident bytes (VmHWM of /proc/self/status); 0 if unreadable. */
static inline size_t tu_rss_peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = (size_t)strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

#define TU_MIB(x) ((size_t)(x) << 20)

/* The _dbg builds of tests that depend on it define TEST_DEBUG_LIB: the
 * debug library serves one byte more than asked (lib/alloc.h), so there a
 * request of a class's exact size gets the next class. TU_FILLS(n): the
 * request that gets a block of class size n in either build. */
#ifndef TEST_DEBUG_LIB
#define TEST_DEBUG_LIB 0
#endif
#define TU_FILLS(n) ((size_t)(n) - (size_t)TEST_DEBUG_LIB)

#endif
