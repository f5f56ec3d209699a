/* test_heap.c: first-class heaps (hak_heap_*, include/hakmem.h).
 *
 * Each case names what it checks: blocks of every tier and alignment with
 * their contents, each route a heap block can be freed by, zeroed and
 * aligned realloc (staying in its heap), visit counts, stats, threads
 * allocating into one heap and freeing each other's blocks, destroy
 * returning memory, churn of many heaps, isolation from the default heap
 * and from other heaps, fork, and every misuse (in a child process, which
 * must die by SIGABRT with the message naming the call).
 * Linked with libhakmem (release) and libhakmem_debug (make check runs both).
 */
#include <errno.h>
#include <hakmem.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

/* glibc 2.36 does not declare it; libhakmem defines it. */
void free_sized(void *ptr, size_t size);

/* Sizes across every tier: Tiny, Mid, the Tiny/Mid and Mid/large edges, large. */
static const size_t sizes[] = {0,     1,      15,     16,         17,         64,         100,
                               1000,  1024,   1025,   4096,       5000,       65536,      200000,
                               262144, 262145, 300000, 1024 * 1024, 3 * 1024 * 1024};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int count_cb(void *block, size_t usable, void *arg)
{
    size_t *n = arg;
    (void)block;
    (void)usable;
    n[0]++;
    n[1] += usable;
    return 0;
}

/* Live blocks of h (and the sum of their usable sizes in *bytes). */
static size_t live_blocks(hak_heap_t *h, size_t *bytes)
{
    size_t n[2] = {0, 0};
    EXPECT_EQ(hak_heap_visit(h, count_cb, n), 0);
    if (bytes) *bytes = n[1];
    return n[0];
}

struct find {
    const void *p;
    int found;
};

static int find_cb(void *block, size_t usable, void *arg)
{
    struct find *f = arg;
    (void)usable;
    if (block == f->p) f->found++;
    return 0;
}

/* p is a live block of h (visit sees it exactly once). */
static int in_heap(hak_heap_t *h, const void *p)
{
    struct find f = {p, 0};
    hak_heap_visit(h, find_cb, &f);
    return f.found == 1;
}

/* ---- blocks ------------------------------------------------------------- */

static void alloc_every_tier(void)
{
    hak_heap_t *h = hak_heap_new();
    EXPECT_NOT_NULL(h);
    void *p[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        p[i] = hak_heap_alloc(h, n, 16);
        EXPECT_NOT_NULL(p[i]);
        if (p[i] == NULL) continue;
        EXPECT_ALIGNED(p[i], 16);
        EXPECT_GE(hak_usable_size(p[i]), n);
        EXPECT_EQ(hak_owns(p[i]), 1);
        fill_pattern(p[i], n);
    }
    EXPECT_EQ(live_blocks(h, NULL), NSIZES);
    for (size_t i = 0; i < NSIZES; i++) {
        EXPECT(check_pattern(p[i], sizes[i]), "block of %zu bytes changed", sizes[i]);
        EXPECT(in_heap(h, p[i]), "visit misses the block of %zu bytes", sizes[i]);
    }
    for (size_t i = 0; i < NSIZES; i++) hak_heap_dealloc(h, p[i], sizes[i], 16);
    EXPECT_EQ(live_blocks(h, NULL), 0);
    hak_heap_destroy(h);
}

static void aligned_and_zeroed(void)
{
    hak_heap_t *h = hak_heap_new();
    for (size_t a = 1; a <= ((size_t)1 << 21); a <<= 1) {
        for (size_t n = 1; n <= 300000; n = n * 7 + 3) {
            unsigned char *p = hak_heap_alloc(h, n, a);
            EXPECT_NOT_NULL(p);
            if (p == NULL) continue;
            EXPECT_ALIGNED(p, a);
            memset(p, 0xab, n);
            unsigned char *z = hak_heap_alloc_zeroed(h, n, a);
            EXPECT_NOT_NULL(z);
            if (z != NULL) {
                EXPECT_ALIGNED(z, a);
                EXPECT(tu_all_zero(z, n), "alloc_zeroed(%zu, %zu) not zero", n, a);
            }
            hak_free(p);
            hak_free(z);
        }
    }
    /* A block freed dirty comes back zeroed. */
    for (int i = 0; i < 100; i++) {
        unsigned char *p = hak_heap_alloc(h, 200, 16);
        memset(p, 0xff, 200);
        hak_free(p);
        unsigned char *z = hak_heap_alloc_zeroed(h, 200, 16);
        EXPECT(tu_all_zero(z, 200), "reused block not zeroed");
        hak_free(z);
    }
    errno = 0;
    EXPECT(hak_heap_alloc(h, 64, 48) == NULL && errno == EINVAL, "alignment 48: errno %d", errno);
    errno = 0;
    EXPECT(hak_heap_alloc_zeroed(h, 64, 0) == NULL && errno == EINVAL, "alignment 0: errno %d", errno);
    errno = 0;
    EXPECT(hak_heap_alloc(h, SIZE_MAX / 2, 16) == NULL && errno == ENOMEM, "huge: errno %d", errno);
    EXPECT_EQ(live_blocks(h, NULL), 0);
    hak_heap_destroy(h);
}

/* ---- frees ------------------------------------------------------------------- */

static void free_routes(void)
{
    hak_heap_t *h = hak_heap_new();
    /* small and large blocks through every route; each must leave the heap */
    const size_t ns[] = {24, 3000, 500000};
    for (size_t k = 0; k < 3; k++) {
        size_t n = ns[k];
        void *p[8];
        for (int i = 0; i < 8; i++) {
            p[i] = hak_heap_alloc(h, n, 16);
            fill_pattern(p[i], n);
        }
        EXPECT_EQ(live_blocks(h, NULL), 8);
        hak_free(p[0]);
        free(p[1]);
        hak_free_sized(p[2], n);
        hak_dealloc(p[3], n, 16);
        EXPECT(hak_realloc(p[4], 0) == NULL, "realloc(p, 0) returns NULL");
        hak_heap_dealloc(h, p[5], n, 16);
        free_sized(p[6], n);
        EXPECT(check_pattern(p[7], n), "the last block changed");
        EXPECT_EQ(live_blocks(h, NULL), 1);
        hak_heap_dealloc(h, p[7], n, 16);
        EXPECT_EQ(live_blocks(h, NULL), 0);
    }
    hak_heap_dealloc(h, NULL, 0, 16);
    hak_heap_destroy(h);
}

/* ---- realloc ---------------------------------------------------------------- */

static void realloc_stays_in_heap(void)
{
    hak_heap_t *h = hak_heap_new();
    const size_t aligns[] = {16, 64, 4096, 65536, 1 << 20};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        size_t a = aligns[k];
        size_t n = 10;
        unsigned char *p = hak_heap_alloc_zeroed(h, n, a);
        EXPECT(tu_all_zero(p, n), "zeroed");
        fill_seq(p, 0, n, 7 + a);
        /* grow through every tier, then shrink back */
        size_t steps[] = {100, 2000, 70000, 400000, 2500000, 300, 20};
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            size_t m = steps[i];
            unsigned char *q = hak_heap_realloc(h, p, n, a, m);
            EXPECT_NOT_NULL(q);
            if (q == NULL) break;
            EXPECT_ALIGNED(q, a);
            size_t keep = n < m ? n : m;
            EXPECT_EQ(check_seq(q, 0, keep, 7 + a), SIZE_MAX);
            fill_seq(q, keep, m, 7 + a);
            EXPECT(in_heap(h, q), "realloc to %zu left the heap", m);
            EXPECT_EQ(live_blocks(h, NULL), 1);
            p = q;
            n = m;
        }
        hak_heap_dealloc(h, p, n, a);
    }
    /* The malloc family's realloc keeps a heap block in its heap. */
    char *p = hak_heap_alloc(h, 40, 16);
    fill_seq(p, 0, 40, 99);
    for (size_t m = 80; m <= 4 * MIB; m *= 3) {
        char *q = realloc(p, m);
        EXPECT_NOT_NULL(q);
        EXPECT_EQ(check_seq(q, 0, 40, 99), SIZE_MAX);
        EXPECT(in_heap(h, q), "realloc(%zu) left the heap", m);
        p = q;
    }
    char *q = hak_realloc_layout(p, 0, 256, 100);
    EXPECT_ALIGNED(q, 256);
    EXPECT(in_heap(h, q), "hak_realloc_layout left the heap");
    EXPECT_EQ(check_seq(q, 0, 40, 99), SIZE_MAX);
    EXPECT_EQ(live_blocks(h, NULL), 1);
    /* NULL: an allocation; bad alignment: EINVAL */
    void *r = hak_heap_realloc(h, NULL, 0, 32, 50);
    EXPECT_ALIGNED(r, 32);
    EXPECT(in_heap(h, r), "realloc(NULL) allocates in the heap");
    errno = 0;
    EXPECT(hak_heap_realloc(h, r, 50, 24, 100) == NULL && errno == EINVAL, "errno %d", errno);
    EXPECT(in_heap(h, r), "a failed realloc keeps the block");
    hak_heap_destroy(h);
}

/* ---- visit and stats ------------------------------------------------------------- */

static int stop_at_third(void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    return ++*(int *)arg == 3 ? 42 : 0;
}

static void visit_and_stats(void)
{
    hak_heap_t *h = hak_heap_new();
    enum { N = 5000 };
    static void *p[N];
    size_t want_bytes = 0;
    for (int i = 0; i < N; i++) {
        size_t n = i % 100 == 0 ? 300000 + (size_t)i : 16 + (size_t)(i * 37) % 3000;
        p[i] = hak_heap_alloc(h, n, 16);
        fill_pattern(p[i], n);
    }
    for (int i = 0; i < N; i += 3) {
        hak_free(p[i]);
        p[i] = NULL;
    }
    size_t live = 0;
    for (int i = 0; i < N; i++)
        if (p[i]) {
            live++;
            want_bytes += hak_usable_size(p[i]);
        }
    size_t bytes = 0;
    EXPECT_EQ(live_blocks(h, &bytes), live);
    EXPECT_EQ(bytes, want_bytes);
    int seen = 0;
    EXPECT_EQ(hak_heap_visit(h, stop_at_third, &seen), 42);
    EXPECT_EQ(seen, 3);

    struct hak_stats s;
    EXPECT_EQ(hak_heap_stats(h, &s, sizeof s), 0);
    EXPECT_EQ(s.size, sizeof s);
    EXPECT_EQ(s.bytes_in_use, want_bytes);
    EXPECT_GE(s.bytes_committed, s.bytes_in_use);
    EXPECT_GE(s.bytes_committed_peak, s.bytes_committed);
    EXPECT_EQ(s.large_blocks, (N + 99) / 100 - (N + 299) / 300);
    EXPECT(s.spans > 0, "spans %llu", (unsigned long long)s.spans);
    errno = 0;
    EXPECT(hak_heap_stats(h, NULL, sizeof s) == -1 && errno == EINVAL, "NULL stats");
    /* The process's bytes in use include the heap's (its threads' caches
     * as last told: hak_heap_collect tells this one's). */
    struct hak_stats g0, g1;
    hak_heap_collect(h);
    hak_stats_get(&g0, sizeof g0);
    for (int i = 0; i < N; i++)
        if (p[i]) hak_heap_dealloc(h, p[i], 0, 16);
    EXPECT_EQ(live_blocks(h, NULL), 0);
    EXPECT_EQ(hak_heap_stats(h, &s, sizeof s), 0);
    EXPECT_EQ(s.bytes_in_use, 0);
    EXPECT_EQ(s.large_blocks, 0);
    hak_heap_collect(h);
    hak_stats_get(&g1, sizeof g1);
    EXPECT_GE(g0.bytes_in_use - g1.bytes_in_use, want_bytes);
    EXPECT_EQ(hak_heap_stats(h, &s, sizeof s), 0);
    EXPECT_EQ(s.spans, 0);
    EXPECT_EQ(s.bytes_cached, 0);
    hak_heap_destroy(h);
}

/* ---- threads ----------------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 20000
struct shared {
    hak_heap_t *h;
    void *blocks[THREADS][PER_THREAD];
    size_t size[THREADS][PER_THREAD];
    pthread_barrier_t barrier;
    int bad;
};

struct targ {
    struct shared *s;
    int id;
};

static void *heap_thread(void *arg)
{
    struct targ *t = arg;
    struct shared *s = t->s;
    uint64_t rng = (uint64_t)t->id * 7919 + 1;
    /* Phase 1: allocate into the shared heap, churning. */
    for (int i = 0; i < PER_THREAD; i++) {
        rng = tu_mix64(rng);
        size_t n = 1 + rng % (i % 50 == 0 ? 70000 : 600);
        void *p = hak_heap_alloc(s->h, n, i % 7 == 0 ? 64 : 16);
        if (p == NULL) {
            s->bad = 1;
            continue;
        }
        fill_pattern(p, n);
        if (i % 4 == 3) { /* freed at once by its own thread */
            if (!check_pattern(p, n)) s->bad = 1;
            hak_free(p);
            p = NULL;
        }
        s->blocks[t->id][i] = p;
        s->size[t->id][i] = n;
    }
    pthread_barrier_wait(&s->barrier);
    /* Phase 2: free the next thread's blocks (cross-thread), half of them. */
    int other = (t->id + 1) % THREADS;
    for (int i = 0; i < PER_THREAD; i += 2) {
        void *p = s->blocks[other][i];
        if (p == NULL) continue;
        if (!check_pattern(p, s->size[other][i])) s->bad = 1;
        if (i % 4 == 0) hak_heap_dealloc(s->h, p, s->size[other][i], 16);
        else hak_free(p);
        s->blocks[other][i] = NULL;
    }
    return NULL;
}

static void threads_one_heap(void)
{
    struct shared *s = calloc(1, sizeof *s);
    s->h = hak_heap_new();
    pthread_barrier_init(&s->barrier, NULL, THREADS);
    pthread_t tid[THREADS];
    struct targ a[THREADS];
    for (int t = 0; t < THREADS; t++) {
        a[t] = (struct targ){s, t};
        pthread_create(&tid[t], NULL, heap_thread, &a[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(tid[t], NULL);
    EXPECT_EQ(s->bad, 0);
    /* Every block left is live in the heap with its content; the threads'
     * caches went back when they exited. */
    size_t left = 0;
    int bad = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            if (s->blocks[t][i] != NULL) {
                left++;
                EXPECT_LOOP(bad, check_pattern(s->blocks[t][i], s->size[t][i]), "thread %d block %d", t, i);
            }
    EXPECT_EQ(live_blocks(s->h, NULL), left);
    struct hak_stats st;
    hak_heap_stats(s->h, &st, sizeof st);
    EXPECT_EQ(st.bytes_cached, 0);
    pthread_barrier_destroy(&s->barrier);
    hak_heap_destroy(s->h);
    free(s);
}

/* A heap destroyed while other threads still hold caches of it: they drop
 * them, and a new heap in the same slot gets none of its blocks. */
struct cache_arg {
    hak_heap_t *h;
    pthread_barrier_t *b;
    int bad;
};

static void *cache_holder(void *arg)
{
    struct cache_arg *c = arg;
    void *p[64];
    for (int i = 0; i < 64; i++) p[i] = hak_heap_alloc(c->h, 48, 16);
    for (int i = 0; i < 64; i++) hak_free(p[i]); /* on this thread's cache */
    pthread_barrier_wait(c->b);                  /* main destroys the heap */
    pthread_barrier_wait(c->b);                  /* and makes another */
    hak_heap_t *h2 = c->h;
    for (int i = 0; i < 64; i++) {
        p[i] = hak_heap_alloc(h2, 48, 16);
        memset(p[i], i, 48);
    }
    for (int i = 0; i < 64; i++) {
        if (!in_heap(h2, p[i])) c->bad = 1;
        hak_heap_dealloc(h2, p[i], 48, 16);
    }
    return NULL;
}

static void destroy_with_caches_elsewhere(void)
{
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 2);
    struct cache_arg c = {hak_heap_new(), &b, 0};
    pthread_t t;
    pthread_create(&t, NULL, cache_holder, &c);
    pthread_barrier_wait(&b);
    hak_heap_destroy(c.h);
    c.h = hak_heap_new(); /* the same slot, a new generation */
    pthread_barrier_wait(&b);
    pthread_join(t, NULL);
    EXPECT_EQ(c.bad, 0);
    EXPECT_EQ(live_blocks(c.h, NULL), 0);
    hak_heap_destroy(c.h);
    pthread_barrier_destroy(&b);
}

/* ---- memory --------------------------------------------------------------------------- */

static void destroy_returns_memory(void)
{
    hak_collect();
    size_t before = tu_rss_bytes();
    hak_heap_t *h = hak_heap_new();
    enum { N = 400000 };
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i % 13) * 8;
        char *p = hak_heap_alloc(h, n, 16);
        p[0] = 1;
        p[n - 1] = 2;
    }
    for (int i = 0; i < 20; i++) {
        char *p = hak_heap_alloc(h, MIB, 16);
        memset(p, 1, MIB);
    }
    size_t full = tu_rss_bytes();
    EXPECT_GE(full, before + 40 * MIB);
    hak_heap_destroy(h);
    size_t after = tu_rss_bytes();
    EXPECT(after <= before + MIB, "RSS before %zu KiB, full %zu KiB, after destroy %zu KiB",
           before >> 10, full >> 10, after >> 10);
}

static void many_heaps(void)
{
    enum { HEAPS = 10000 };
    hak_collect();
    size_t before = tu_rss_bytes();
    hak_heap_t **h = calloc(HEAPS, sizeof *h);
    void **p = calloc(HEAPS, sizeof *p);
    for (int i = 0; i < HEAPS; i++) {
        h[i] = hak_heap_new();
        EXPECT_NOT_NULL(h[i]);
        p[i] = hak_heap_alloc(h[i], 24 + (size_t)i % 100, 16);
        memcpy(p[i], &i, sizeof i);
    }
    int bad = 0;
    for (int i = 0; i < HEAPS; i++) {
        int v;
        memcpy(&v, p[i], sizeof v);
        EXPECT_LOOP(bad, v == i, "heap %d's block holds %d", i, v);
        EXPECT_LOOP(bad, in_heap(h[i], p[i]), "heap %d's block", i);
    }
    /* Blocks freed through hak_free find their heaps, in any order. */
    for (int i = HEAPS - 1; i >= 0; i -= 2) hak_free(p[i]);
    for (int i = 0; i < HEAPS; i++) {
        EXPECT_LOOP(bad, live_blocks(h[i], NULL) == (size_t)(i % 2 == 0), "heap %d", i);
        hak_heap_destroy(h[i]);
    }
    free(h);
    free(p);
    /* Their memory went with them; hak_collect returns the table's pages too.
     * What stays: the first page of each SuperSlab their 10,000 spans took
     * (about 320), which the arena keeps for its list of purged ones. */
    hak_collect();
    size_t after = tu_rss_bytes();
    EXPECT(after <= before + 2 * MIB, "RSS %zu KiB before 10,000 heaps, %zu KiB after and hak_collect",
           before >> 10, after >> 10);
}

static void churn_keeps_rss(void)
{
    /* Warm: the first cycles set up whatever stays (slots, caches). */
    for (int i = 0; i < 50; i++) {
        hak_heap_t *h = hak_heap_new();
        for (int k = 0; k < 20; k++) (void)!hak_heap_alloc(h, 16 + (size_t)k * 40, 16);
        hak_heap_destroy(h);
    }
    size_t before = tu_rss_bytes();
    double t0 = tu_now();
    for (int i = 0; i < 2000; i++) {
        hak_heap_t *h = hak_heap_new();
        for (int k = 0; k < 20; k++) {
            char *p = hak_heap_alloc(h, 16 + (size_t)k * 40, 16);
            p[0] = 1;
        }
        if (i % 100 == 0) (void)!hak_heap_alloc(h, 400000, 16);
        hak_heap_destroy(h);
    }
    double per = (tu_now() - t0) / 2000;
    size_t after = tu_rss_bytes();
    EXPECT(after <= before + MIB, "RSS %zu KiB before 2000 cycles, %zu KiB after", before >> 10,
           after >> 10);
    printf("     churn: %.1f us per create + 20 blocks + destroy\n", per * 1e6);
}

/* ---- isolation ------------------------------------------------------------------------- */

static void isolation(void)
{
    enum { N = 3000 };
    static void *d[N], *o[N];
    hak_heap_t *other = hak_heap_new();
    hak_heap_t *h = hak_heap_new();
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i * 13) % 2000;
        d[i] = malloc(n);
        fill_pattern(d[i], n);
        o[i] = hak_heap_alloc(other, n, 16);
        fill_pattern(o[i], n);
        void *x = hak_heap_alloc(h, n, 16);
        fill_pattern(x, n);
        if (i % 2) hak_free(x);
    }
    EXPECT_EQ(live_blocks(h, NULL), N / 2);
    EXPECT_EQ(live_blocks(other, NULL), N);
    for (int i = 0; i < N; i++) EXPECT(!in_heap(h, d[i]) && !in_heap(h, o[i]), "block %d", i);
    hak_heap_destroy(h);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i * 13) % 2000;
        EXPECT_LOOP(bad, check_pattern(d[i], n) && check_pattern(o[i], n), "block %d", i);
        free(d[i]);
    }
    EXPECT_EQ(live_blocks(other, NULL), N);
    hak_heap_destroy(other);
}

/* ---- fork ------------------------------------------------------------------------------ */

static void *busy_heap(void *arg)
{
    hak_heap_t *h = arg;
    for (int i = 0; i < 200000; i++) hak_free(hak_heap_alloc(h, 16 + (size_t)(i % 500), 16));
    return NULL;
}

static void fork_with_heaps(void)
{
    hak_heap_t *h = hak_heap_new();
    char *p = hak_heap_alloc(h, 100, 16);
    strcpy(p, "kept");
    pthread_t t;
    pthread_create(&t, NULL, busy_heap, h);
    for (int k = 0; k < 5; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            int ok = strcmp(p, "kept") == 0;
            for (int i = 0; i < 1000; i++) hak_free(hak_heap_alloc(h, 64, 16));
            hak_heap_t *h2 = hak_heap_new();
            ok &= hak_heap_alloc(h2, 5000, 16) != NULL;
            hak_heap_destroy(h2);
            hak_heap_destroy(h);
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    }
    pthread_join(t, NULL);
    EXPECT(in_heap(h, p), "the parent's block");
    hak_heap_destroy(h);
}

/* ---- misuse ---------------------------------------------------------------------------- */

static hak_heap_t *dead_heap(void)
{
    hak_heap_t *h = hak_heap_new();
    hak_heap_destroy(h);
    return h;
}

static void m_dealloc_other_heap(void)
{
    hak_heap_t *a = hak_heap_new(), *b = hak_heap_new();
    void *p = hak_heap_alloc(a, 64, 16);
    hak_heap_dealloc(b, p, 64, 16);
}
static void m_dealloc_other_heap_large(void)
{
    hak_heap_t *a = hak_heap_new(), *b = hak_heap_new();
    void *p = hak_heap_alloc(a, 1 << 20, 16);
    hak_heap_dealloc(b, p, 1 << 20, 16);
}
static void m_dealloc_default_block(void)
{
    hak_heap_t *a = hak_heap_new();
    hak_heap_dealloc(a, malloc(64), 64, 16);
}
static void m_realloc_other_heap(void)
{
    hak_heap_t *a = hak_heap_new(), *b = hak_heap_new();
    void *p = hak_heap_alloc(a, 64, 16);
    (void)!hak_heap_realloc(b, p, 64, 16, 128);
}
static void m_realloc_default_block(void)
{
    hak_heap_t *a = hak_heap_new();
    (void)!hak_heap_realloc(a, malloc(5000), 5000, 16, 9000);
}
static void m_alloc_destroyed(void) { (void)!hak_heap_alloc(dead_heap(), 64, 16); }
static void m_alloc_destroyed_cached(void)
{
    /* The thread's cache of it was warm: it must not hand out a block. */
    hak_heap_t *h = hak_heap_new();
    for (int i = 0; i < 10; i++) hak_free(hak_heap_alloc(h, 64, 16));
    hak_heap_destroy(h);
    (void)!hak_heap_alloc(h, 64, 16);
}
static void m_dealloc_destroyed(void)
{
    hak_heap_t *h = hak_heap_new();
    void *keep = hak_heap_alloc(hak_heap_new(), 64, 16); /* a live block elsewhere */
    hak_heap_destroy(h);
    hak_heap_dealloc(h, keep, 64, 16);
}
static void m_destroy_twice(void) { hak_heap_destroy(dead_heap()); }
static void m_visit_destroyed(void) { hak_heap_visit(dead_heap(), count_cb, NULL); }
static void m_stats_destroyed(void)
{
    struct hak_stats s;
    hak_heap_stats(dead_heap(), &s, sizeof s);
}
static void m_collect_destroyed(void) { hak_heap_collect(dead_heap()); }
static void m_realloc_destroyed(void) { (void)!hak_heap_realloc(dead_heap(), NULL, 0, 16, 10); }
static void m_reused_slot(void)
{
    hak_heap_t *h = dead_heap();
    hak_heap_t *h2 = hak_heap_new(); /* takes the same slot */
    (void)h2;
    (void)!hak_heap_alloc(h, 64, 16);
}
static void m_not_a_heap(void) { (void)!hak_heap_alloc((hak_heap_t *)(uintptr_t)0x12345678, 64, 16); }
static void m_null_heap(void) { (void)!hak_heap_alloc(NULL, 64, 16); }
static void m_double_dealloc(void)
{
    hak_heap_t *h = hak_heap_new();
    void *p = hak_heap_alloc(h, 64, 16);
    hak_heap_dealloc(h, p, 64, 16);
    hak_heap_dealloc(h, p, 64, 16);
}
static void m_double_free(void)
{
    hak_heap_t *h = hak_heap_new();
    void *p = hak_heap_alloc(h, 64, 16);
    hak_free(p);
    free(p);
}
static void m_double_free_large(void)
{
    hak_heap_t *h = hak_heap_new();
    void *p = hak_heap_alloc(h, 1 << 20, 16);
    hak_free(p);
    hak_free(p);
}
static void m_free_after_destroy(void)
{
    hak_heap_t *h = hak_heap_new();
    void *p = hak_heap_alloc(h, 64, 16);
    hak_heap_destroy(h);
    hak_free(p);
}
static int alloc_in_visit(void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    hak_heap_t *h = arg;
    for (int i = 0; i < 10000; i++) (void)!hak_heap_alloc(h, 100, 16);
    return 0;
}
static void m_alloc_in_visit(void)
{
    hak_heap_t *h = hak_heap_new();
    (void)!hak_heap_alloc(h, 100, 16);
    hak_heap_visit(h, alloc_in_visit, h);
}

struct misuse {
    const char *name;
    void (*fn)(void);
    const char *expect;
};

static const struct misuse cases[] = {
    {"dealloc-block-of-another-heap", m_dealloc_other_heap, "hak_heap_dealloc(): block of another heap"},
    {"dealloc-large-block-of-another-heap", m_dealloc_other_heap_large,
     "hak_heap_dealloc(): block of another heap"},
    {"dealloc-default-heap-block", m_dealloc_default_block, "hak_heap_dealloc(): block of another heap"},
    {"realloc-block-of-another-heap", m_realloc_other_heap, "hak_heap_realloc(): block of another heap"},
    {"realloc-default-heap-block", m_realloc_default_block, "hak_heap_realloc(): block of another heap"},
    {"alloc-destroyed-heap", m_alloc_destroyed, "hak_heap_alloc(): use of a destroyed heap"},
    {"alloc-destroyed-heap-warm-cache", m_alloc_destroyed_cached, "hak_heap_alloc(): use of a destroyed heap"},
    {"dealloc-destroyed-heap", m_dealloc_destroyed, "hak_heap_dealloc(): use of a destroyed heap"},
    {"destroy-twice", m_destroy_twice, "hak_heap_destroy(): use of a destroyed heap"},
    {"visit-destroyed-heap", m_visit_destroyed, "hak_heap_visit(): use of a destroyed heap"},
    {"stats-destroyed-heap", m_stats_destroyed, "hak_heap_stats(): use of a destroyed heap"},
    {"collect-destroyed-heap", m_collect_destroyed, "hak_heap_collect(): use of a destroyed heap"},
    {"realloc-destroyed-heap", m_realloc_destroyed, "hak_heap_realloc(): use of a destroyed heap"},
    {"destroyed-handle-slot-reused", m_reused_slot, "hak_heap_alloc(): use of a destroyed heap"},
    {"not-a-heap", m_not_a_heap, "hak_heap_alloc(): not a heap"},
    {"null-heap", m_null_heap, "hak_heap_alloc(): not a heap"},
    {"double-hak_heap_dealloc", m_double_dealloc, "hak_heap_dealloc(): double free"},
    {"double-free-heap-block", m_double_free, "hakmem: free(): double free"},
    {"double-free-heap-large-block", m_double_free_large, "hakmem: hak_free(): invalid pointer"},
    /* "invalid pointer" (its span released or parked), or in the debug build
     * "double free" (destroy freed it) */
    {"free-after-destroy", m_free_after_destroy, "hakmem: hak_free(): "},
    {"alloc-inside-visit", m_alloc_in_visit, "heap changed inside its own hak_heap_visit callback"},
};

static void case_fn(const void *c) { ((const struct misuse *)c)->fn(); }

static void run_case(const struct misuse *c)
{
    char out[2048];
    int status = tu_child(case_fn, c, 20, out, sizeof out);
    if (status == -1) {
        EXPECT(0, "%s: could not start its child: %s", c->name, strerror(errno));
        return;
    }
    int died = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int text = strstr(out, c->expect) != NULL;
    EXPECT(died, "%s: expected SIGABRT, status 0x%x; stderr: \"%s\"", c->name, status, out);
    EXPECT(text, "%s: stderr lacks \"%s\": \"%s\"", c->name, c->expect, out);
    printf("%s %-36s %s\n", died && text ? "ok  " : "FAIL", c->name, out);
}

static void misuse_aborts(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    TU_RUN(alloc_every_tier);
    TU_RUN(aligned_and_zeroed);
    TU_RUN(free_routes);
    TU_RUN(realloc_stays_in_heap);
    TU_RUN(visit_and_stats);
    TU_RUN(threads_one_heap);
    TU_RUN(destroy_with_caches_elsewhere);
    TU_RUN(isolation);
    TU_RUN(destroy_returns_memory);
    TU_RUN(many_heaps);
    TU_RUN(churn_keeps_rss);
    TU_RUN(fork_with_heaps);
    TU_RUN(misuse_aborts);
    return tu_finish("test_heap");
}
