/* test_faults.c: hakmem under failing system calls and a tight address-space
 * limit.
 *
 * The driver re-executes itself as a worker with HAKMEM_FAULT_* set (options
 * are read once at start, so each setting needs a fresh process):
 *   - HAKMEM_FAULT_MAP_NTH=N for N = 1..300: exactly the Nth mmap/mremap
 *     fails. The worker must see at most one NULL, with errno ENOMEM, and the
 *     same request must succeed right after (the allocator serves again).
 *   - HAKMEM_FAULT_MAP_EVERY=K: every Kth mapping fails, many NULLs.
 *   - HAKMEM_FAULT_PURGE_EVERY=K: madvise fails; memory is simply kept.
 * In every run no live block may change (content checked throughout) and a
 * failed realloc leaves its block intact. Fault injection exists only in
 * debug builds: against the release library the worker must see no NULL at
 * all (the options are ignored).
 * Last, a worker under RLIMIT_AS allocates until it gets NULL (ENOMEM), frees
 * everything and must be able to allocate again.
 */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <hakmem.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifndef TEST_DEBUG_LIB
#define TEST_DEBUG_LIB 0
#endif

#define NLIVE 48

struct live {
    unsigned char *p;
    size_t n;
    uint64_t seed;
};

static struct live live[NLIVE];
static long nulls, bad_errno, not_served_again, damaged;

static const size_t sizes[] = {24, 700, 5000, 100000, 300000, 600000, 70000, 16, 1u << 20, 3000};

static void verify_all(void)
{
    for (int i = 0; i < NLIVE; i++)
        if (live[i].p && check_seq(live[i].p, 0, live[i].n, live[i].seed) != (size_t)-1) damaged++;
}

/* A NULL must carry ENOMEM; then the same request must succeed (NTH mode). */
static void *note_null(size_t n, bool expect_recovery)
{
    nulls++;
    if (errno != ENOMEM) bad_errno++;
    if (!expect_recovery) return NULL;
    void *again = malloc(n);
    if (again == NULL) not_served_again++;
    return again;
}

static int worker(bool recover)
{
    uint64_t seed = 1;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < NLIVE; i++) {
            struct live *l = &live[i];
            size_t n = sizes[(unsigned)(i + round) % (sizeof sizes / sizeof sizes[0])];
            if (l->p != NULL && (i + round) % 3 == 0) {
                /* Grow or shrink in place of a free: exercises mremap. */
                size_t m = l->n < (1u << 20) ? l->n * 2 + 1 : l->n / 3;
                errno = 0;
                unsigned char *q = realloc(l->p, m);
                if (q == NULL) {
                    note_null(m, false);
                    if (check_seq(l->p, 0, l->n, l->seed) != (size_t)-1) damaged++;
                    continue;
                }
                if (check_seq(q, 0, m < l->n ? m : l->n, l->seed) != (size_t)-1) damaged++;
                l->p = q;
                l->seed = seed++;
                l->n = m;
                fill_seq(q, 0, m, l->seed);
                continue;
            }
            free(l->p);
            l->p = NULL;
            errno = 0;
            unsigned char *p = (i & 1) ? calloc(1, n) : malloc(n);
            bool recovered = false;
            if (p == NULL) {
                p = note_null(n, recover);
                recovered = true;
            }
            if (p == NULL) continue;
            if ((i & 1) && !recovered && !tu_all_zero(p, n)) damaged++; /* calloc reads zero */
            l->p = p;
            l->n = n;
            l->seed = seed++;
            fill_seq(p, 0, n, l->seed);
        }
        verify_all();
        if (round == 3) hak_collect();
    }
    for (int i = 0; i < NLIVE; i++) free(live[i].p);
    printf("nulls=%ld bad_errno=%ld not_served_again=%ld damaged=%ld\n", nulls, bad_errno,
           not_served_again, damaged);
    return bad_errno || not_served_again || damaged ? 1 : 0;
}

/* Allocates under RLIMIT_AS until refused, then recovers. */
static int worker_rlimit(void)
{
    static void *blocks[1 << 16];
    size_t n = 0, bytes = 0;
    size_t sz[] = {100, 4000, 60000, 1u << 20};
    for (; n < sizeof blocks / sizeof blocks[0]; n++) {
        size_t s = sz[n % 4];
        errno = 0;
        void *p = malloc(s);
        if (p == NULL) {
            if (errno != ENOMEM) {
                printf("NULL with errno %d\n", errno);
                return 1;
            }
            break;
        }
        memset(p, 0x5a, s < 4096 ? s : 4096);
        blocks[n] = p;
        bytes += s;
    }
    if (n == sizeof blocks / sizeof blocks[0]) {
        printf("never refused after %zu bytes\n", bytes);
        return 1;
    }
    for (size_t i = 0; i < n; i++) free(blocks[i]);
    hak_collect();
    void *again = malloc(1u << 20);
    void *small = malloc(64);
    printf("refused after %zu blocks, %zu bytes; again: %p %p\n", n, bytes, again, small);
    int ok = again != NULL && small != NULL;
    free(again);
    free(small);
    return ok ? 0 : 1;
}

/* With the arena full (HAKMEM_ARENA_SIZE small), the slab tiers hand
 * requests to the large tier: aligned requests must stay aligned there. */
static int worker_arena_full(void)
{
    enum { N = 40000 };
    static void *v[N];
    int bad = 0;
    for (int i = 0; i < N; i++) v[i] = malloc(1000); /* 40 MB: more than the arena */
    for (size_t a = 16; a <= 65536; a *= 2) {
        for (size_t n = 1; n <= 3 * a; n += a) {
            void *p = hak_alloc(n, a), *q = NULL;
            int rc = posix_memalign(&q, a, n);
            if (p == NULL || ((uintptr_t)p & (a - 1)) != 0 || rc != 0 || ((uintptr_t)q & (a - 1)) != 0) {
                printf("align %zu size %zu: hak_alloc %p, posix_memalign rc %d %p\n", a, n, p, rc, q);
                bad++;
            }
            hak_dealloc(p, n, a);
            free(q);
        }
    }
    for (int i = 0; i < N; i++) free(v[i]);
    printf("arena full: %d misaligned\n", bad);
    return bad != 0;
}

static const char *self;

/* Runs this program as a worker with one environment setting; returns the
 * worker's exit status (or 128+signal) and its output line. */
static int run_worker(const char *mode, const char *var, long value, char *out, size_t outn)
{
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        char val[32];
        snprintf(val, sizeof val, "%ld", value);
        if (var) setenv(var, val, 1);
        if (strcmp(mode, "rlimit") == 0) {
            struct rlimit rl = {(rlim_t)value << 20, (rlim_t)value << 20};
            setrlimit(RLIMIT_AS, &rl);
        }
        execl(self, self, mode, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < outn && (r = read(fd[0], out + got, outn - 1 - got)) > 0) got += (size_t)r;
    out[got] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static long field(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? atol(p + strlen(key)) : -1;
}

static void nth_sweep(void)
{
    long failed_runs = 0, runs_with_null = 0;
    /* The release library ignores the option: a few runs show that. */
    long last = TEST_DEBUG_LIB ? 300 : 10;
    for (long n = 1; n <= last; n++) {
        char out[512];
        int rc = run_worker("worker-nth", "HAKMEM_FAULT_MAP_NTH", n, out, sizeof out);
        long nl = field(out, "nulls=");
        EXPECT_LOOP(failed_runs, rc == 0 && nl >= 0 && nl <= 1,
                    "HAKMEM_FAULT_MAP_NTH=%ld: exit %d, output: %s", n, rc, out);
        if (nl > 0) runs_with_null++;
        if (!TEST_DEBUG_LIB) {
            EXPECT_LOOP(failed_runs, nl == 0, "release build obeyed fault injection (N=%ld): %s", n, out);
        }
    }
    printf("     %ld runs, %ld saw their one injected failure as a NULL\n", last, runs_with_null);
    if (TEST_DEBUG_LIB) EXPECT(runs_with_null > 0, "no injected failure ever reached the program");
}

/* Every run clean (the worker checks errno, damage and service after a
 * NULL); whether a given K reaches the program as a NULL depends on which
 * calls it hits, since most have a fallback (the large tier maps a block of
 * its own when the region cannot grow), so that is asked of all K together. */
static void every_k(void)
{
    long seen = 0;
    for (long k = 2; k <= 7; k++) {
        char out[512];
        int rc = run_worker("worker-every", "HAKMEM_FAULT_MAP_EVERY", k, out, sizeof out);
        EXPECT(rc == 0, "HAKMEM_FAULT_MAP_EVERY=%ld: exit %d, output: %s", k, rc, out);
        long nl = field(out, "nulls=");
        if (nl > 0) seen += nl;
        printf("     every %ld: %s", k, out);
    }
    if (TEST_DEBUG_LIB) EXPECT(seen > 0, "no injected failure reached the program for any K");
}

static void purge_failures(void)
{
    for (long k = 1; k <= 3; k++) {
        char out[512];
        int rc = run_worker("worker-every", "HAKMEM_FAULT_PURGE_EVERY", k, out, sizeof out);
        EXPECT(rc == 0 && field(out, "nulls=") == 0, "HAKMEM_FAULT_PURGE_EVERY=%ld: exit %d: %s", k,
               rc, out);
    }
}

static void address_space_limit(void)
{
    char out[512];
    int rc = run_worker("rlimit", NULL, 512, out, sizeof out);
    EXPECT(rc == 0, "under RLIMIT_AS=512 MiB: exit %d: %s", rc, out);
    printf("     %s", out);
}

static void aligned_with_arena_full(void)
{
    char out[4096];
    int rc = run_worker("arena-full", "HAKMEM_ARENA_SIZE", 16l << 20, out, sizeof out);
    EXPECT(rc == 0, "aligned allocations with the arena full: exit %d: %s", rc, out);
    const char *summary = strstr(out, "arena full");
    printf("     %s", summary ? summary : out);
}

int main(int argc, char **argv)
{
    self = "/proc/self/exe";
    if (argc > 1 && strcmp(argv[1], "worker-nth") == 0) return worker(true);
    if (argc > 1 && strcmp(argv[1], "worker-every") == 0) return worker(false);
    if (argc > 1 && strcmp(argv[1], "rlimit") == 0) return worker_rlimit();
    if (argc > 1 && strcmp(argv[1], "arena-full") == 0) return worker_arena_full();
    TU_RUN(nth_sweep);
    TU_RUN(every_k);
    TU_RUN(purge_failures);
    TU_RUN(address_space_limit);
    TU_RUN(aligned_with_arena_full);
    return tu_finish("test_faults");
}
