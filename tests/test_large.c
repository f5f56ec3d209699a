/* test_large.c: the large tier keeps freed memory resident and reuses it.
 *
 * Freed large blocks stay in the tier's region as resident free ranges:
 * a later request is cut from the front of one (split), adjacent free
 * ranges merge (coalesce), realloc grows a block into the free pages behind
 * it and gives a shrunk tail back, all without page faults. What is kept is
 * bounded (HAKMEM_LARGE_CACHE), goes back after HAKMEM_LARGE_IDLE_MS without
 * use, and at hak_collect(). Faults are counted with getrusage (ru_minflt):
 * touching a page that was given back and mapped again costs one each, so
 * "no faults" means "resident memory reused".
 *
 * The budget grows with the large memory in use (HAKMEM_LARGE_CACHE_PCT),
 * so that buffers of many MiB freed and allocated in turn are reused too,
 * and falls back to HAKMEM_LARGE_CACHE when the program frees everything.
 * The free ranges are indexed (a tree by size, tables by address): a run
 * with hundreds of them checks every block's contents throughout, and the
 * debug build checks the index itself after every change while it is small.
 *
 * The budget and idle cases run in a worker (this program re-executed with
 * the option set), since options are read once at start.
 */
#include "testutil.h"

#include <hakmem.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MIB ((size_t)1 << 20)
#define PAGE 4096
/* A large block's span: its size plus the header, rounded to pages. */
#define SPAN(n) (((n) + 64 + PAGE - 1) / PAGE * PAGE)
/* Page faults that a few stray first touches (stdio, the test's own pages)
 * may add; reusing fresh memory instead would cost hundreds. */
#define FEW_FAULTS 32

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void touch(void *p, size_t n)
{
    for (size_t i = 0; i < n; i += PAGE) ((volatile char *)p)[i] = 1;
}

static struct hak_stats stats(void)
{
    struct hak_stats s;
    hak_stats_get(&s, sizeof s);
    return s;
}

static void split_reuses_resident(void)
{
    hak_collect();
    char *a = malloc(4 * MIB);
    EXPECT_NOT_NULL(a);
    touch(a, 4 * MIB);
    free(a);
    long f0 = minflt();
    char *b = malloc(1 * MIB);
    char *c = malloc(2 * MIB);
    touch(b, 1 * MIB);
    touch(c, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT_PTR_EQ(b, a); /* the front of the freed range */
    EXPECT((uintptr_t)c >= (uintptr_t)a + SPAN(MIB) && (uintptr_t)c + 2 * MIB <= (uintptr_t)a + 4 * MIB,
           "c=%p is not in the rest of a=%p's range", (void *)c, (void *)a);
    EXPECT(faults < FEW_FAULTS, "%ld page faults reusing a freed 4 MiB block", faults);
    free(b);
    free(c);
}

static void coalesce_neighbours(void)
{
    hak_collect();
    char *a = malloc(MIB), *b = malloc(MIB), *guard = malloc(MIB);
    EXPECT(a && b && guard, "malloc failed");
    if (!(a && b && guard)) return;
    touch(a, MIB);
    touch(b, MIB);
    EXPECT((uintptr_t)b == (uintptr_t)a + SPAN(MIB), "a=%p b=%p not adjacent", (void *)a, (void *)b);
    free(b); /* freed in either order, they must make one range */
    free(a);
    long f0 = minflt();
    char *d = malloc(2 * MIB);
    touch(d, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT_PTR_EQ(d, a);
    EXPECT(faults < FEW_FAULTS, "%ld page faults reusing two merged free blocks", faults);
    free(d);
    free(guard);
}

static void realloc_in_place(void)
{
    hak_collect();
    char *a = malloc(MIB), *b = malloc(3 * MIB), *guard = malloc(MIB);
    EXPECT(a && b && guard, "malloc failed");
    if (!(a && b && guard)) return;
    touch(b, 3 * MIB);
    fill_seq(a, 0, MIB, 7);
    free(b);
    long f0 = minflt();
    char *g = realloc(a, 3 * MIB);
    EXPECT_PTR_EQ(g, a); /* grown into the free block behind it */
    if (g == NULL) return;
    EXPECT(check_seq(g, 0, MIB, 7) == (size_t)-1, "data lost growing in place");
    touch(g + MIB, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT(faults < FEW_FAULTS, "%ld page faults growing into resident pages", faults);
    EXPECT(hak_usable_size(g) >= 3 * MIB, "usable %zu", hak_usable_size(g));

    char *s = realloc(g, 600 << 10);
    EXPECT_PTR_EQ(s, a); /* shrunk in place */
    if (s == NULL) return;
    EXPECT(check_seq(s, 0, 600 << 10, 7) == (size_t)-1, "data lost shrinking in place");
    EXPECT(hak_usable_size(s) < MIB, "usable %zu after shrinking to 600 KiB", hak_usable_size(s));
    char *t = malloc(MIB); /* from the tail the shrink gave back */
    EXPECT((uintptr_t)t > (uintptr_t)s && (uintptr_t)t < (uintptr_t)guard,
           "t=%p not between the shrunk block %p and the guard %p", (void *)t, (void *)s,
           (void *)guard);
    free(t);
    free(s);
    free(guard);
}

/* A fresh range reads as zero; a reused one is cleared for calloc, up to
 * its usable size (not only the request: a program may use the rest). */
static void calloc_on_reused(void)
{
    char *a = malloc(2 * MIB);
    EXPECT_NOT_NULL(a);
    if (!a) return;
    memset(a, 0xa5, 2 * MIB);
    free(a);
    const size_t n = 2 * MIB - 4096 + 1; /* the usable size runs to the page end */
    unsigned char *z = calloc(1, n);
    EXPECT_NOT_NULL(z);
    if (!z) return;
    size_t usable = malloc_usable_size(z);
    EXPECT(usable > n, "usable %zu for a request of %zu", usable, n);
    /* Read past the request through a pointer the compiler cannot trace to
     * calloc: it would take the request as the object's size (UBSan's
     * object-size check), whereas malloc_usable_size's bytes are usable. */
    const unsigned char *all = z;
    __asm__("" : "+r"(all));
    size_t bad = 0;
    for (size_t i = 0; i < usable; i++) bad += all[i] != 0;
    EXPECT_EQ(bad, 0);
    free(z);
}

static void collect_gives_back(void)
{
    hak_collect();
    struct hak_stats s0 = stats();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(2 * MIB);
        if (v[i]) touch(v[i], 2 * MIB);
    }
    struct hak_stats s1 = stats();
    EXPECT(s1.bytes_committed >= s0.bytes_committed + 16 * MIB, "committed %llu -> %llu",
           (unsigned long long)s0.bytes_committed, (unsigned long long)s1.bytes_committed);
    EXPECT(s1.large_blocks == s0.large_blocks + 8, "large_blocks %llu -> %llu",
           (unsigned long long)s0.large_blocks, (unsigned long long)s1.large_blocks);
    for (int i = 0; i < 8; i++) free(v[i]);
    struct hak_stats s2 = stats();
    /* Kept (within the default 64 MiB budget), still counted as committed. */
    EXPECT(s2.bytes_committed >= s0.bytes_committed + 16 * MIB, "committed %llu after the frees",
           (unsigned long long)s2.bytes_committed);
    EXPECT_EQ(s2.large_blocks, s0.large_blocks);
    size_t rss_kept = tu_rss_bytes();
    size_t released = hak_collect();
    size_t rss_after = tu_rss_bytes();
    struct hak_stats s3 = stats();
    EXPECT(released >= 16 * MIB, "hak_collect released %zu bytes", released);
    EXPECT(rss_after + 15 * MIB <= rss_kept, "RSS %zu MiB -> %zu MiB after hak_collect",
           rss_kept >> 20, rss_after >> 20);
    EXPECT(s3.bytes_committed <= s0.bytes_committed + MIB, "committed %llu -> %llu after collect",
           (unsigned long long)s0.bytes_committed, (unsigned long long)s3.bytes_committed);
}

/* A block of up to 512 KiB freed is kept whole (large.c's quick entries):
 * the next malloc of its size gets the same pages back; a realloc of the
 * block before it grows in place into it; hak_collect returns it. */
static void quick_reuse(void)
{
    hak_collect();
    const size_t n = 300 * 1024;
    char *a = malloc(n), *b = malloc(n), *guard = malloc(n);
    EXPECT_NOT_NULL(a);
    EXPECT_NOT_NULL(b);
    EXPECT_NOT_NULL(guard);
    if (!a || !b || !guard) return;
    touch(b, n);
    free(b);
    char *c = malloc(n);
    EXPECT(c == b, "a freed %zu-byte block not reused by the next malloc of its size: %p, then %p",
           n, (void *)b, (void *)c);
    free(c);
    if (b > a && b <= a + n + 8192) {
        char *g = realloc(a, 2 * n);
        EXPECT(g == a, "realloc did not grow into the freed block behind it: %p -> %p", (void *)a,
               (void *)g);
        a = g;
    }
    free(a);
    hak_collect();
    free(guard); /* now the only freed block: kept whole */
    size_t released = hak_collect();
    EXPECT(released >= n, "hak_collect released %zu bytes, not the freed %zu", released, n);
}

/* Memory that the program neither frees nor uses stays its own. */
static void foreign_and_double_free_still_caught(void)
{
    char *a = malloc(MIB);
    EXPECT(hak_owns(a) == 1, "hak_owns(large block)");
    free(a);
    EXPECT(hak_owns(a) == 0, "hak_owns(freed large block) = 1");
    char *b = malloc(MIB); /* the same range again: a live block once more */
    EXPECT(hak_owns(b) == 1, "hak_owns(reused large block)");
    EXPECT(hak_owns(b + PAGE) == 0, "hak_owns(interior of a large block)");
    free(b);
}

/* Buffers above a quarter of HAKMEM_LARGE_CACHE (16 MiB) among others in
 * use: one freed and allocated again reuses the same resident pages (they
 * used to get a mapping of their own, unmapped at the free, and every cycle
 * faulted in fresh pages). */
static void churn_reuses_big_buffers(void)
{
    enum { NBUF = 4 };
    const size_t big = 18 * MIB;
    hak_collect();
    char *v[NBUF];
    for (int i = 0; i < NBUF; i++) {
        v[i] = malloc(big);
        EXPECT_NOT_NULL(v[i]);
        if (v[i] == NULL) return;
        touch(v[i], big);
    }
    long total = 0;
    for (int round = 0; round < 3; round++) {
        int i = round % NBUF;
        char *old = v[i];
        free(old);
        long f0 = minflt();
        v[i] = malloc(big);
        EXPECT_NOT_NULL(v[i]);
        if (v[i] == NULL) break;
        touch(v[i], big);
        total += minflt() - f0;
        EXPECT_PTR_EQ(v[i], old);
    }
    EXPECT(total < FEW_FAULTS, "%ld page faults in 3 cycles of an 18 MiB buffer", total);
    for (int i = 0; i < NBUF; i++) free(v[i]);
}

/* One big buffer freed while the program holds little else goes back at
 * once, as a mapping of its own would. */
static void big_block_alone_goes_back(void)
{
    hak_collect();
    size_t before = tu_rss_bytes();
    char *p = malloc(40 * MIB);
    EXPECT_NOT_NULL(p);
    if (p == NULL) return;
    touch(p, 40 * MIB);
    size_t full = tu_rss_bytes();
    free(p);
    size_t after = tu_rss_bytes();
    EXPECT(full >= before + 38 * MIB, "the block was not resident (%zu MiB)", (full - before) >> 20);
    EXPECT(after <= before + 2 * MIB, "RSS %zu MiB over the start after freeing 40 MiB",
           (after - before) >> 20);
}

/* About a hundred free ranges, taken, split, merged and given back in random
 * order, by malloc, realloc and free: every live block keeps its contents
 * (a word in each page, its first and its last bytes). */
enum { RSLOTS = 96 };
static struct {
    unsigned char *p;
    size_t n;
    uint64_t seed;
} rslot[RSLOTS];

static void rfill(int i)
{
    unsigned char *p = rslot[i].p;
    size_t n = rslot[i].n;
    for (size_t off = 0; off + 9 <= n; off += PAGE) { /* never over the last byte */
        uint64_t w = rslot[i].seed ^ off;
        memcpy(p + off, &w, 8);
    }
    p[n - 1] = (unsigned char)rslot[i].seed;
}

/* The words of the first n bytes, and the last byte if n is the whole block. */
static bool rcheck(int i, size_t n)
{
    const unsigned char *p = rslot[i].p;
    for (size_t off = 0; off + 9 <= n; off += PAGE) {
        uint64_t w;
        memcpy(&w, p + off, 8);
        if (w != (rslot[i].seed ^ off)) return false;
    }
    return n < rslot[i].n || p[n - 1] == (unsigned char)rslot[i].seed;
}

static void many_ranges_random(void)
{
    hak_collect();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    long bad = 0, nulls = 0;
    for (int step = 0; step < 6000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int i = (int)(x % RSLOTS);
        size_t n = (260 << 10) + (size_t)((x >> 20) % (900 << 10));
        if (rslot[i].p == NULL) {
            rslot[i].p = malloc(n);
            if (rslot[i].p == NULL) {
                nulls++;
                continue;
            }
            rslot[i].n = n;
            rslot[i].seed = x;
            rfill(i);
        } else if ((x >> 40) % 3 == 0) {
            size_t keep = n < rslot[i].n ? n : rslot[i].n;
            unsigned char *q = realloc(rslot[i].p, n);
            if (q == NULL) {
                nulls++;
                continue;
            }
            rslot[i].p = q;
            if (!rcheck(i, keep)) bad++;
            rslot[i].n = n;
            rslot[i].seed = x;
            rfill(i);
        } else {
            if (!rcheck(i, rslot[i].n)) bad++;
            if (!hak_owns(rslot[i].p)) bad++;
            free(rslot[i].p);
            rslot[i].p = NULL;
        }
    }
    for (int i = 0; i < RSLOTS; i++) {
        if (rslot[i].p == NULL) continue;
        if (!rcheck(i, rslot[i].n)) bad++;
        free(rslot[i].p);
        rslot[i].p = NULL;
    }
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(nulls, 0);
    struct hak_stats s = stats();
    EXPECT_EQ(s.large_blocks, 0);
}

/* Threads allocate large blocks and free each other's (through a shared
 * table): the registry's stripes are locked one at a time, and a block
 * freed by another thread than its own goes back like any other. */
enum { XSLOTS = 64, XTHREADS = 4, XSTEPS = 3000 };
static _Atomic(uint64_t *) xslot[XSLOTS];
static atomic_long xbad;

static void *xworker(void *arg)
{
    uint64_t x = 0x2545F4914F6CDD1Dull * (uintptr_t)arg + 1;
    for (int step = 0; step < XSTEPS; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (260 << 10) + (size_t)((x >> 24) % (2 << 20));
        uint64_t *p = malloc(n);
        if (p == NULL) {
            atomic_fetch_add(&xbad, 1);
            continue;
        }
        /* The first word says the size; the last one repeats it. */
        p[0] = n;
        p[n / 8 - 1] = n;
        uint64_t *old = atomic_exchange(&xslot[x % XSLOTS], p);
        if (old != NULL) {
            size_t m = old[0];
            if (m < (260 << 10) || old[m / 8 - 1] != m || hak_usable_size(old) < m)
                atomic_fetch_add(&xbad, 1);
            free(old);
        }
    }
    return NULL;
}

static void threads_share_large_blocks(void)
{
    pthread_t t[XTHREADS];
    for (uintptr_t i = 0; i < XTHREADS; i++) pthread_create(&t[i], NULL, xworker, (void *)(i + 1));
    for (int i = 0; i < XTHREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < XSLOTS; i++) free(atomic_exchange(&xslot[i], NULL));
    EXPECT_EQ(atomic_load(&xbad), 0);
    EXPECT_EQ(stats().large_blocks, 0);
}

/* A block with a mapping of its own moves with mremap: the registry forgets
 * the old address and knows the new one, and the contents come along. */
static void direct_realloc_moves(void)
{
    const size_t n = 80 * MIB; /* above 64 MiB: a mapping of its own */
    char *p = malloc(n);
    EXPECT_NOT_NULL(p);
    if (p == NULL) return;
    fill_seq(p, 0, 4096, 11);
    fill_seq(p, n - 4096, n, 12);
    char *q = realloc(p, 3 * n);
    EXPECT_NOT_NULL(q);
    if (q == NULL) return;
    EXPECT(check_seq(q, 0, 4096, 11) == (size_t)-1 && check_seq(q, n - 4096, n, 12) == (size_t)-1,
           "contents lost moving an 80 MiB block to 240 MiB");
    EXPECT(hak_owns(q) == 1, "hak_owns(the moved block)");
    if (q != p) EXPECT(hak_owns(p) == 0, "hak_owns(the old address) after the move");
    EXPECT(hak_usable_size(q) >= 3 * n, "usable %zu", hak_usable_size(q));
    char *r = realloc(q, n / 2);
    EXPECT_NOT_NULL(r);
    if (r != NULL) EXPECT(check_seq(r, 0, 4096, 11) == (size_t)-1, "contents lost shrinking");
    free(r ? r : q);
}

/* ---- workers, run with an option set ------------------------------------ */

/* HAKMEM_LARGE_CACHE=8M: 12 MiB freed, at most 8 MiB of it kept. */
static int worker_budget(void)
{
    hak_collect();
    size_t before = tu_rss_bytes();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(3 * MIB / 2); /* under the 2 MiB limit of region blocks */
        if (v[i]) touch(v[i], 3 * MIB / 2);
    }
    for (int i = 0; i < 8; i++) free(v[i]);
    size_t after = tu_rss_bytes();
    printf("budget: RSS %zu KiB over the start after freeing 12 MiB\n", (after - before) >> 10);
    return after <= before + 9 * MIB ? 0 : 1;
}

/* 16 MiB of large blocks, touched and freed (kept, within the budget): the
 * resident size then. */
static size_t freed_16_mib_kept(void)
{
    hak_collect();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(2 * MIB);
        if (v[i]) touch(v[i], 2 * MIB);
    }
    for (int i = 0; i < 8; i++) free(v[i]);
    return tu_rss_bytes();
}

/* HAKMEM_LARGE_IDLE_MS=100: freed memory unused for longer goes back at the
 * next large call. */
static int worker_idle(void)
{
    size_t kept = freed_16_mib_kept();
    struct hak_stats s0 = stats();
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    free(malloc(MIB)); /* the next large call */
    size_t after = tu_rss_bytes();
    struct hak_stats s1 = stats();
    printf("idle: RSS %zu MiB -> %zu MiB, committed %llu -> %llu, purges %llu -> %llu\n",
           kept >> 20, after >> 20, (unsigned long long)s0.bytes_committed,
           (unsigned long long)s1.bytes_committed, (unsigned long long)s0.os_purges,
           (unsigned long long)s1.os_purges);
    return after + 14 * MIB <= kept && s1.bytes_committed + 14 * MIB <= s0.bytes_committed ? 0 : 1;
}

/* HAKMEM_LARGE_IDLE_MS=100, and then only small blocks: the freed large
 * memory still goes back, with no large call to carry the idle purge. */
static int worker_idle_small(void)
{
    size_t kept = freed_16_mib_kept();
    /* 600 ms of small-block work: 20,000 blocks of 64 bytes (1.3 MB) a
     * round, allocated and freed: far more than the thread's list holds,
     * so each round refills it about 150 times. */
    enum { N = 20000 };
    static void *b[N];
    struct timespec t0, t, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < N; i++) b[i] = malloc(64);
        for (int i = 0; i < N; i++) free(b[i]);
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 600);
    size_t after = tu_rss_bytes();
    printf("idle, small calls only: RSS %zu MiB -> %zu MiB\n", kept >> 20, after >> 20);
    return after + 14 * MIB <= kept ? 0 : 1;
}

/* A fresh process whose only large block is one scratch buffer (a
 * compressor's, an image's), allocated, filled and freed again and again:
 * every cycle after the first reuses the same resident pages. (A budget
 * that shrank with so small a program purged the buffer at each free: 2,048
 * page faults a cycle.) In a worker: the process must hold nothing large
 * before. */
static int worker_scratch(void)
{
    const size_t n = 8 * MIB;
    long faults = 0;
    for (int i = 0; i < 20; i++) {
        long f0 = minflt();
        char *p = malloc(n);
        if (p == NULL) return 2;
        touch(p, n);
        free(p);
        if (i > 0) faults += minflt() - f0;
    }
    printf("scratch: %ld page faults in 19 reuses of one 8 MiB buffer\n", faults);
    return faults < FEW_FAULTS ? 0 : 1;
}

static int run_worker(const char *mode, const char *var, const char *value)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv(var, value, 1);
        execl("/proc/self/exe", "test_large", mode, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* HAKMEM_LARGE_CACHE=8M: with 48 MiB of 3 MiB blocks in use, the 24 MiB
 * freed between them stay resident (the budget grows to twice what is in
 * use); once everything is freed, at most 8 MiB stays. */
static int worker_budget_live(void)
{
    enum { NB = 16 };
    hak_collect();
    size_t before = tu_rss_bytes();
    char *v[NB];
    for (int i = 0; i < NB; i++) {
        v[i] = malloc(3 * MIB);
        if (v[i] == NULL) return 2;
        touch(v[i], 3 * MIB);
    }
    size_t full = tu_rss_bytes();
    for (int i = 0; i < NB; i += 2) free(v[i]);
    size_t half = tu_rss_bytes();
    for (int i = 1; i < NB; i += 2) free(v[i]);
    size_t after = tu_rss_bytes();
    printf("budget-live: RSS over the start %zu MiB full, %zu MiB with half freed, %zu MiB "
           "with all freed\n",
           (full - before) >> 20, (half - before) >> 20, (after - before) >> 20);
    return half + 4 * MIB >= full && after <= before + 9 * MIB ? 0 : 1;
}

static void budget_bounds_kept_memory(void)
{
    int rc = run_worker("budget", "HAKMEM_LARGE_CACHE", "8M");
    EXPECT(rc == 0, "worker exit %d", rc);
}

static void budget_follows_memory_in_use(void)
{
    int rc = run_worker("budget-live", "HAKMEM_LARGE_CACHE", "8M");
    EXPECT(rc == 0, "worker exit %d", rc);
}

static void lone_scratch_buffer_stays_resident(void)
{
    int rc = run_worker("scratch", "HAKMEM_LARGE_CACHE", "64M"); /* the default, said */
    EXPECT(rc == 0, "worker exit %d", rc);
}

static void idle_memory_goes_back(void)
{
    int rc = run_worker("idle", "HAKMEM_LARGE_IDLE_MS", "100");
    EXPECT(rc == 0, "worker exit %d", rc);
    rc = run_worker("idle-small", "HAKMEM_LARGE_IDLE_MS", "100");
    EXPECT(rc == 0, "worker (small calls only) exit %d", rc);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "budget") == 0) return worker_budget();
    if (argc == 2 && strcmp(argv[1], "idle") == 0) return worker_idle();
    if (argc == 2 && strcmp(argv[1], "idle-small") == 0) return worker_idle_small();
    if (argc == 2 && strcmp(argv[1], "budget-live") == 0) return worker_budget_live();
    if (argc == 2 && strcmp(argv[1], "scratch") == 0) return worker_scratch();
    setvbuf(stdout, NULL, _IONBF, 0);
    TU_RUN(split_reuses_resident);
    TU_RUN(coalesce_neighbours);
    TU_RUN(realloc_in_place);
    TU_RUN(calloc_on_reused);
    TU_RUN(collect_gives_back);
    TU_RUN(quick_reuse);
    TU_RUN(foreign_and_double_free_still_caught);
    TU_RUN(churn_reuses_big_buffers);
    TU_RUN(big_block_alone_goes_back);
    TU_RUN(many_ranges_random);
    TU_RUN(threads_share_large_blocks);
    TU_RUN(direct_realloc_moves);
    TU_RUN(budget_bounds_kept_memory);
    TU_RUN(budget_follows_memory_in_use);
    TU_RUN(lone_scratch_buffer_stays_resident);
    TU_RUN(idle_memory_goes_back);
    return tu_finish("test_large");
}
