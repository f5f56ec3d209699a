/* test_memreturn.c: freed memory goes back to the OS.
 *
 * A program that frees 1 GiB of small blocks must fall back to within a few
 * MiB of the resident memory it had before allocating them: hakmem purges a
 * slab as soon as its last block comes back (beyond the retain budget,
 * HAKMEM_RETAIN_BYTES, 4 MiB by default), so this holds right after the
 * frees, and hak_collect() returns the rest (the thread's cached blocks and
 * the retained slabs). Resident memory is read from /proc/self/statm.
 */
#include "testutil.h"

#include <hakmem.h>
#include <malloc.h>
#include <pthread.h>

#define GIB ((size_t)1 << 30)

static size_t rss_mib(size_t bytes) { return bytes >> 20; }

/* Allocates `total` bytes in blocks of sizes from `sizes`, touching each. */
static void **fill(size_t total, const size_t *sizes, size_t nsizes, size_t *count)
{
    size_t cap = total / sizes[0] + 1;
    void **v = malloc(cap * sizeof *v);
    size_t n = 0, bytes = 0;
    while (bytes < total && n < cap) {
        size_t s = sizes[n % nsizes];
        char *p = malloc(s);
        if (p == NULL) break;
        for (size_t off = 0; off < s; off += 4096) p[off] = 1; /* every page resident */
        p[s - 1] = 2;
        v[n++] = p;
        bytes += s;
    }
    *count = n;
    return v;
}

static void check_return(const char *what, const size_t *sizes, size_t nsizes)
{
    hak_collect();
    size_t before = tu_rss_bytes();
    size_t n;
    void **v = fill(GIB, sizes, nsizes, &n);
    size_t full = tu_rss_bytes();
    /* Free in allocation order, as a program dropping a big structure does. */
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v); /* the pointer array: a large block, unmapped at once */
    size_t after_free = tu_rss_bytes();
    hak_collect();
    size_t after_collect = tu_rss_bytes();
    printf("     %s: %zu blocks; RSS %zu MiB before, %zu MiB full, %zu MiB after free, "
           "%zu MiB after hak_collect\n",
           what, n, rss_mib(before), rss_mib(full), rss_mib(after_free), rss_mib(after_collect));
    EXPECT(full >= before + GIB / 2, "the blocks were not resident (%zu MiB)", rss_mib(full));
    EXPECT(after_free <= before + TU_MIB(16), "after the frees: %zu MiB over the start",
           rss_mib(after_free - before));
    EXPECT(after_collect <= before + TU_MIB(4), "after hak_collect: %zu MiB over the start",
           rss_mib(after_collect > before ? after_collect - before : 0));
}

static void tiny_64(void)
{
    const size_t s[] = {TU_FILLS(64)};
    check_return("64-byte blocks", s, 1);
}

static void mixed_small(void)
{
    const size_t s[] = {16, 48, 100, 256, 500, 1000, 24, 700};
    check_return("mixed 16..1000 bytes", s, sizeof s / sizeof s[0]);
}

static void mid_sizes(void)
{
    const size_t s[] = {2000, 5000, 12000, 40000, 100000, 250000};
    check_return("mid 2 KiB..250 KiB", s, sizeof s / sizeof s[0]);
}

/* Blocks allocated by one thread and freed by another (which then exits):
 * the freeing thread's cache must go back too. */
struct job {
    void **v;
    size_t n;
};

static void *free_all(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++) free(j->v[i]);
    return NULL;
}

static void freed_by_other_thread(void)
{
    const size_t s[] = {32, 128, 512};
    hak_collect();
    size_t before = tu_rss_bytes();
    struct job j;
    j.v = fill(GIB / 2, s, 3, &j.n);
    pthread_t t;
    pthread_create(&t, NULL, free_all, &j);
    pthread_join(t, NULL);
    free(j.v);
    size_t after = tu_rss_bytes();
    hak_collect();
    size_t after_collect = tu_rss_bytes();
    printf("     512 MiB freed by a thread that then exited: %zu MiB before, %zu MiB after, "
           "%zu MiB after hak_collect\n",
           rss_mib(before), rss_mib(after), rss_mib(after_collect));
    EXPECT(after <= before + TU_MIB(16), "%zu MiB over the start", rss_mib(after - before));
    EXPECT(after_collect <= before + TU_MIB(4), "%zu MiB over the start after hak_collect",
           rss_mib(after_collect > before ? after_collect - before : 0));
}

/* A slab whose blocks have all come back hands them out again in address
 * order, whatever order they were freed in: a program that drops a
 * structure in hash order and builds the next one must get neighbouring
 * blocks again (CPython's bench_cpython lost ~10% to scattered blocks).
 * The blocks are freed by a thread that then exits, so that every one
 * reaches its slab, which stays mapped (within the retain budget). */
enum { ORDER_SIZE = 400, ORDER_N = 1000 }; /* the 448-byte class: few users */
static void *order_blocks[ORDER_N];

static void *free_shuffled(void *arg)
{
    (void)arg;
    for (int i = 0; i < ORDER_N; i++) order_blocks[i] = malloc(ORDER_SIZE);
    uint64_t x = 88172645463325252ull; /* xorshift: a fixed shuffle */
    for (int i = ORDER_N - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int j = (int)(x % (uint64_t)(i + 1));
        void *t = order_blocks[i];
        order_blocks[i] = order_blocks[j];
        order_blocks[j] = t;
    }
    for (int i = 0; i < ORDER_N; i++) free(order_blocks[i]);
    return NULL;
}

static void emptied_slab_reused_in_address_order(void)
{
    hak_collect(); /* the retain budget free, no cached blocks of the class */
    pthread_t t;
    pthread_create(&t, NULL, free_shuffled, NULL);
    pthread_join(t, NULL);
    for (int i = 0; i < ORDER_N; i++) order_blocks[i] = malloc(ORDER_SIZE);
    size_t usable = malloc_usable_size(order_blocks[0]);
    int next = 0;
    for (int i = 1; i < ORDER_N; i++)
        next += (char *)order_blocks[i] == (char *)order_blocks[i - 1] + usable;
    printf("     %d of %d blocks follow the one allocated before them\n", next, ORDER_N - 1);
    EXPECT(next >= ORDER_N * 9 / 10, "only %d of %d in address order", next, ORDER_N - 1);
    for (int i = 0; i < ORDER_N; i++) free(order_blocks[i]);
}

/* A new thread that allocates one block of every Tiny size holds only a
 * few blocks of each class in its cache (the first refill of a class is
 * small and grows as the class is used), not a full batch of each. */
static const size_t tiny_sizes[] = {16,  32,  48,  64,  80,  96,  112, 128, 160, 192,
                                    224, 256, 320, 384, 448, 512, 640, 768, 896, 1024};
#define NTINY (sizeof tiny_sizes / sizeof tiny_sizes[0])

static void *one_of_each(void *arg)
{
    void *p[NTINY];
    size_t sum = 0;
    /* bytes_cached counts every thread's lists: this thread's share is the
     * difference (the main thread waits in pthread_join meanwhile). */
    struct hak_stats before;
    EXPECT_EQ(hak_stats_get(&before, sizeof before), 0);
    for (size_t i = 0; i < NTINY; i++) {
        p[i] = malloc(tiny_sizes[i]);
        EXPECT_NOT_NULL(p[i]);
        sum += tiny_sizes[i];
    }
    struct hak_stats s;
    EXPECT_EQ(hak_stats_get(&s, sizeof s), 0);
    uint64_t mine = s.bytes_cached - before.bytes_cached;
    *(uint64_t *)arg = mine;
    EXPECT(s.bytes_cached >= before.bytes_cached, "bytes_cached fell from %llu to %llu",
           (unsigned long long)before.bytes_cached, (unsigned long long)s.bytes_cached);
    EXPECT(mine > 0, "a thread's own refills are not counted as cached");
    EXPECT(mine <= 4 * sum,
           "a thread with one block of each Tiny class caches %llu bytes (at most %zu expected)",
           (unsigned long long)mine, 4 * sum);
    for (size_t i = 0; i < NTINY; i++) free(p[i]);
    return NULL;
}

static void first_refill_is_small(void)
{
    pthread_t t;
    uint64_t cached = 0;
    pthread_create(&t, NULL, one_of_each, &cached);
    pthread_join(t, NULL);
    printf("     cached after one block of each of %zu classes: %llu bytes\n", NTINY,
           (unsigned long long)cached);
}

/* bytes_cached counts the stacks of every live thread, not only the
 * caller's: a thread frees 600 blocks of 256 bytes into its own stack and
 * waits; the main thread sees them cached, and no longer once it exits.
 * Another thread's stack is counted as of its last refill or flush: here
 * the flush when the stack passed twice its cap (512 blocks of this
 * class), which kept 256. */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int hold_stage;

static void *cache_and_wait(void *arg)
{
    (void)arg;
    /* 600: past what the stack of 256 B holds (512), so that a flush
     * tells the pool what the thread keeps (256). */
    static void *p[600];
    for (int i = 0; i < 600; i++) p[i] = malloc(TU_FILLS(256));
    for (int i = 0; i < 600; i++) free(p[i]);
    pthread_mutex_lock(&hold_lock);
    hold_stage = 1;
    pthread_cond_broadcast(&hold_cond);
    while (hold_stage != 2) pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    return NULL;
}

static void cached_counts_every_thread(void)
{
    struct hak_stats s0, s1, s2;
    hak_collect();
    EXPECT_EQ(hak_stats_get(&s0, sizeof s0), 0);
    pthread_t t;
    pthread_create(&t, NULL, cache_and_wait, NULL);
    pthread_mutex_lock(&hold_lock);
    while (hold_stage != 1) pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    EXPECT_EQ(hak_stats_get(&s1, sizeof s1), 0);
    pthread_mutex_lock(&hold_lock);
    hold_stage = 2;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    pthread_join(t, NULL);
    EXPECT_EQ(hak_stats_get(&s2, sizeof s2), 0);
    printf("     bytes_cached: %llu before, %llu with another thread's 600 x 256 B, %llu after it exited\n",
           (unsigned long long)s0.bytes_cached, (unsigned long long)s1.bytes_cached,
           (unsigned long long)s2.bytes_cached);
    EXPECT(s1.bytes_cached >= s0.bytes_cached + 128 * 256,
           "another live thread's cached blocks of 256 B are not counted (%llu -> %llu)",
           (unsigned long long)s0.bytes_cached, (unsigned long long)s1.bytes_cached);
    EXPECT(s2.bytes_cached <= s0.bytes_cached,
           "an exited thread's cache is still counted (%llu -> %llu)",
           (unsigned long long)s0.bytes_cached, (unsigned long long)s2.bytes_cached);
}

/* A thread that hands out its whole first batch (4 blocks: the slow start)
 * and exits with an empty list: the blocks are in use, and nothing of it
 * is cached any more. Its last refill had told the pool 4 cached blocks;
 * the exit's flush of the empty list must say 0 (it once returned early,
 * leaving bytes_in_use 256 low and bytes_cached 256 high for good). */
static void *take_four(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 4; i++) v[i] = malloc(64);
    return NULL;
}

static void exited_thread_with_empty_list_counts_right(void)
{
    struct hak_stats s0, s1;
    void *v[4];
    hak_collect();
    EXPECT_EQ(hak_stats_get(&s0, sizeof s0), 0);
    pthread_t t;
    pthread_create(&t, NULL, take_four, v);
    pthread_join(t, NULL); /* its key destructors, which flush, ran before */
    EXPECT_EQ(hak_stats_get(&s1, sizeof s1), 0);
    printf("     in use %+lld, cached %+lld after a thread took 4 x 64 B and exited\n",
           (long long)(s1.bytes_in_use - s0.bytes_in_use), (long long)(s1.bytes_cached - s0.bytes_cached));
    EXPECT(s1.bytes_in_use >= s0.bytes_in_use + 4 * 64, "bytes_in_use %llu -> %llu: 4 live blocks of 64 B missing",
           (unsigned long long)s0.bytes_in_use, (unsigned long long)s1.bytes_in_use);
    EXPECT(s1.bytes_cached <= s0.bytes_cached, "bytes_cached %llu -> %llu after the thread exited",
           (unsigned long long)s0.bytes_cached, (unsigned long long)s1.bytes_cached);
    for (int i = 0; i < 4; i++) free(v[i]);
}

/* A thread's stack of a class holds twice the class's cap, so a thread that
 * frees 300 blocks of 64 bytes (cap 256) and then allocates 300 again takes
 * nothing from the central pool the second time, and gives nothing back
 * the first. */
struct swing {
    uint64_t refills_free, flushes_free, refills_again;
};

static void *swing_300(void *arg)
{
    struct swing *r = arg;
    static void *p[300];
    struct hak_stats a, b, c;
    for (int i = 0; i < 300; i++) p[i] = malloc(64);
    hak_stats_get(&a, sizeof a);
    for (int i = 0; i < 300; i++) free(p[i]);
    hak_stats_get(&b, sizeof b);
    for (int i = 0; i < 300; i++) p[i] = malloc(64);
    hak_stats_get(&c, sizeof c);
    for (int i = 0; i < 300; i++) free(p[i]);
    r->refills_free = b.refills - a.refills;
    r->flushes_free = b.flushes - a.flushes;
    r->refills_again = c.refills - b.refills;
    return NULL;
}

/* 300 blocks cached, 500 allocated (200 of them from the pool), then 500
 * freed: they fit the stack (512), so nothing goes back. (With the lists
 * and spills of before, a stale mark once made this give half back.) */
static void *cached_then_pool(void *arg)
{
    uint64_t *flushes = arg;
    static void *p[500];
    struct hak_stats a, b;
    for (int i = 0; i < 300; i++) p[i] = malloc(64);
    for (int i = 0; i < 300; i++) free(p[i]);
    for (int i = 0; i < 500; i++) p[i] = malloc(64);
    hak_stats_get(&a, sizeof a);
    for (int i = 0; i < 500; i++) free(p[i]);
    hak_stats_get(&b, sizeof b);
    *flushes = b.flushes - a.flushes;
    return NULL;
}

static void frees_past_the_cap_stay_cached(void)
{
    struct swing r;
    pthread_t t;
    pthread_create(&t, NULL, swing_300, &r);
    pthread_join(t, NULL);
    printf("     300 frees: %llu refills, %llu flushes; 300 mallocs after: %llu refills\n",
           (unsigned long long)r.refills_free, (unsigned long long)r.flushes_free,
           (unsigned long long)r.refills_again);
    EXPECT(r.flushes_free == 0, "300 frees past a cap of 256 gave %llu batches back",
           (unsigned long long)r.flushes_free);
    EXPECT(r.refills_again == 0, "300 mallocs after 300 frees took %llu batches from the pool",
           (unsigned long long)r.refills_again);
    uint64_t flushes;
    pthread_create(&t, NULL, cached_then_pool, &flushes);
    pthread_join(t, NULL);
    EXPECT(flushes == 0, "500 frees after a refill from the pool gave %llu batches back",
           (unsigned long long)flushes);
}

/* Waves: a program that frees what it built and builds it again. The
 * first free purges all but the base retain budget (4 MiB); the spans the
 * next wave has to carve fresh prove those purges wasted, and the budget
 * grows by what they were, so later waves keep their spans and purge
 * (nearly) nothing. hak_collect() still gives everything back. */
#define WAVES 8
#define WAVE_BYTES ((size_t)16 << 20)
static void churn_earns_retention(void)
{
    const size_t s[] = {64};
    size_t n = WAVE_BYTES / 64, done;
    void **v = malloc(n * sizeof *v);
    hak_collect();
    size_t before = tu_rss_bytes();
    uint64_t purges[WAVES];
    for (int w = 0; w < WAVES; w++) {
        struct hak_stats a, b;
        EXPECT_EQ(hak_stats_get(&a, sizeof a), 0);
        for (done = 0; done < n; done++) {
            char *p = malloc(s[0]);
            if (p == NULL) break;
            p[0] = p[63] = 1;
            v[done] = p;
        }
        for (size_t i = 0; i < done; i++) free(v[i]);
        EXPECT_EQ(hak_stats_get(&b, sizeof b), 0);
        purges[w] = b.os_purges - a.os_purges;
    }
    uint64_t later = 0;
    for (int w = WAVES / 2; w < WAVES; w++) later += purges[w];
    size_t kept = tu_rss_bytes();
    hak_collect();
    size_t after = tu_rss_bytes();
    printf("     %d waves of 16 MiB: purges %llu, %llu, %llu, then %llu in the last %d; "
           "RSS %zu MiB kept, %zu MiB after hak_collect (%zu before)\n",
           WAVES, (unsigned long long)purges[0], (unsigned long long)purges[1],
           (unsigned long long)purges[2], (unsigned long long)later, WAVES / 2, rss_mib(kept),
           rss_mib(after), rss_mib(before));
    EXPECT(purges[0] >= 100, "the first wave purged only %llu spans", (unsigned long long)purges[0]);
    EXPECT(later * 8 <= purges[0], "the last %d waves still purged %llu spans (the first %llu)",
           WAVES / 2, (unsigned long long)later, (unsigned long long)purges[0]);
    EXPECT(kept <= before + WAVE_BYTES + TU_MIB(8), "%zu MiB kept after the waves (%zu before)",
           rss_mib(kept), rss_mib(before));
    EXPECT(after <= before + TU_MIB(4), "%zu MiB after hak_collect (%zu before)", rss_mib(after),
           rss_mib(before));
    free(v);
}

/* What the waves earned decays while the program does not churn: idle
 * for 3 s, the next span change (a first block of an unused class) finds
 * the budget near its base again and releases the spans beyond it. */
static void earned_retention_decays(void)
{
    void *v[20];
    hak_collect();
    for (int w = 0; w < 3; w++) {
        void **big = malloc((WAVE_BYTES / 64) * sizeof *big);
        for (size_t i = 0; i < WAVE_BYTES / 64; i++) big[i] = malloc(64);
        for (size_t i = 0; i < WAVE_BYTES / 64; i++) free(big[i]);
        free(big);
    }
    struct hak_stats a, b;
    EXPECT_EQ(hak_stats_get(&a, sizeof a), 0);
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 20; i++) v[i] = malloc(3000); /* a class no test here used */
    for (int i = 0; i < 20; i++) free(v[i]);
    EXPECT_EQ(hak_stats_get(&b, sizeof b), 0);
    printf("     after 3 s idle: committed %llu MiB -> %llu MiB, %llu purges\n",
           (unsigned long long)(a.bytes_committed >> 20), (unsigned long long)(b.bytes_committed >> 20),
           (unsigned long long)(b.os_purges - a.os_purges));
    EXPECT(b.bytes_committed + TU_MIB(6) <= a.bytes_committed,
           "the spans kept for the waves stayed (committed %llu -> %llu MiB)",
           (unsigned long long)(a.bytes_committed >> 20), (unsigned long long)(b.bytes_committed >> 20));
}

int main(void)
{
    TU_RUN(tiny_64);
    TU_RUN(mixed_small);
    TU_RUN(mid_sizes);
    TU_RUN(freed_by_other_thread);
    TU_RUN(emptied_slab_reused_in_address_order);
    TU_RUN(first_refill_is_small);
    TU_RUN(cached_counts_every_thread);
    TU_RUN(exited_thread_with_empty_list_counts_right);
    TU_RUN(frees_past_the_cap_stay_cached);
    TU_RUN(churn_earns_retention);
    TU_RUN(earned_retention_decays);
    return tu_finish("test_memreturn");
}
