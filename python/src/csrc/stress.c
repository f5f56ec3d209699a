/* stress.c: the stress kernels and the trace replayer behind hakmem.stress.
 *
 * Allocator-agnostic: every call goes through a struct hakpy_allocator, so the
 * same code runs in-process against the hakmem instance the Python package is
 * bound to, and in the hakmem-stress program against the process's malloc
 * (the allocator comparisons preload each contender into it).
 *
 * Every block is filled when it is allocated and checked before it is freed
 * or resized (layout below). Harness memory (slot tables, rings, thread
 * records) comes from mmap, never from the allocator under test, so that the
 * allocator's state and the RSS figures are its own.
 *
 * Call tree:
 *   hakpy_stress_run     check the config; start the threads at a gate; join
 *     worker_main        one kernel per thread:
 *       k_slots          random_mixed and aligned: per-thread slot table
 *       k_larson         generations of short-lived threads over one shared
 *                        table whose slots are swapped atomically, so most
 *                        frees are of another thread's blocks
 *       k_producer/k_consumer  pairs joined by a lock-free ring
 *       k_realloc        growth chains (1 in 8 steps shrinks)
 *       k_fragment       fill, free every other block, allocate larger ones
 *   hakpy_trace_check    a trace only frees and resizes live slots
 *   hakpy_replay         runs a checked trace
 */
#define _GNU_SOURCE
#include "hakpy_stress.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define MAX_BLOCK ((uint64_t)1 << 48) /* sizes fit the 7-byte size field */
#define MAX_WORKING_SET ((uint64_t)1 << 26)
#define MAX_ALIGN ((uint64_t)1 << 30)
#define CLOCK_EVERY 64 /* ops between looks at the clock in timed runs */

/* ---- harness memory, clocks, random numbers ----------------------------- */

static void *harness_alloc(size_t n)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void harness_free(void *p, size_t n)
{
    if (p != NULL) munmap(p, n ? n : 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* splitmix64: no shared state, so threads never contend on the generator. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) by multiply-shift: no division on the hot loop. */
static inline uint64_t rng_below(uint64_t r, uint64_t n)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)r * n) >> 64);
}

/* VmHWM of this process in kB, read without stdio (no allocation). */
static int64_t peak_rss_kb(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) return -1;
    buf[len] = '\0';
    const char *s = strstr(buf, "VmHWM:");
    if (s == NULL) return -1;
    int64_t kb = 0;
    for (s += 6; *s == ' ' || *s == '\t'; s++) {
    }
    for (; *s >= '0' && *s <= '9'; s++) kb = kb * 10 + (*s - '0');
    return kb;
}

/* "5" resets VmHWM (Linux 4.0+), so an in-process run reports its own peak
 * rather than the interpreter's. Best effort: the figure is still an upper
 * bound if the kernel refuses. */
static void reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, "5", 1) != 1) {
        /* an older kernel: the peak stays the process's */
    }
    close(fd);
}

/* ---- the run and its workers --------------------------------------------- */

struct slot {
    uint8_t *p;
    uint64_t n;
    uint64_t tag;
};

/* Single producer, single consumer; indices only grow. */
struct ring {
    _Alignas(64) _Atomic uint64_t head; /* next to pop: the consumer's */
    _Alignas(64) _Atomic uint64_t tail; /* next to push: the producer's */
    _Alignas(64) uint64_t mask;
    uintptr_t *buf;
};

struct run {
    const struct hakpy_allocator *a;
    const struct hakpy_stress_config *c;
    bool full;                /* fill and check every byte */
    bool timed;               /* until a deadline, not an op count */
    _Atomic uint32_t ready;   /* workers waiting at the gate */
    _Atomic int go;           /* the gate */
    _Atomic int abort;        /* a thread could not start: everyone leaves */
    double start;
    _Atomic uintptr_t *shared; /* larson's table */
    uint64_t nshared;
};

struct worker {
    struct run *run;
    uint32_t index;
    uint32_t since_clock;
    bool expired;
    uint64_t rng;
    uint64_t quota;    /* stop when ops reaches this (op-count runs) */
    double deadline;   /* stop after this (timed runs) */
    uint64_t tag_next;
    uint64_t checks;
    uint64_t ops, allocs, frees, bytes, errors, failures;
    struct ring *ring;
    char first_error[HAKPY_ERROR_LEN];
    pthread_t thread;
    bool started;
} __attribute__((aligned(64)));

static bool stopped(const struct run *run)
{
    return __atomic_load_n(&run->c->stop, __ATOMIC_RELAXED) != 0;
}

/* Every CLOCK_EVERY ops a worker looks at the stop flag (Ctrl-C) and, in a
 * timed run, at the clock: one compare per op otherwise. */
static bool keep_going(struct worker *w)
{
    if (w->expired) return false;
    if (++w->since_clock >= CLOCK_EVERY) {
        w->since_clock = 0;
        w->expired = stopped(w->run) || (w->run->timed && now_s() >= w->deadline);
        if (w->expired) return false;
    }
    return w->run->timed || w->ops < w->quota;
}

void hakpy_stress_stop(struct hakpy_stress_config *c)
{
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
}

__attribute__((format(printf, 2, 3))) static void note_error(struct worker *w, const char *fmt, ...)
{
    w->errors++;
    if (w->first_error[0] != '\0') return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_error, sizeof w->first_error, fmt, ap);
    va_end(ap);
}

static uint64_t next_tag(struct worker *w)
{
    return ((uint64_t)w->index << 48) | (++w->tag_next & (((uint64_t)1 << 48) - 1));
}

static uint64_t draw_size(struct worker *w, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(rng_next(&w->rng), hi - lo + 1);
}

/* ---- block layout ---------------------------------------------------------
 * A block of n >= 16 bytes:
 *   [0]       0xB5, the mark of this layout
 *   [1..8)    n, 56 bits little-endian: blocks that cross threads are checked
 *             by a thread that never knew their size
 *   [8..16)   tag, little-endian: unique to the allocation
 *   [16..n)   the tag's body byte: every byte ("full"), or the first of every
 *             4 KiB and the last one ("sparse", for benchmarks)
 * A block of 1..15 bytes: [0] = 0x80 | n, then 0x3C ^ n.
 * Two live blocks that overlap, a block handed out twice, or a write after a
 * free changes some byte of this picture with high probability.
 */
#define BIG_MARK 0xB5
#define SMALL_MARK 0x80

static inline uint8_t body_byte(uint64_t tag)
{
    uint8_t b = (uint8_t)((tag * 0x9E3779B97F4A7C15ULL) >> 56);
    return b != 0 ? b : 0x5A; /* never 0: fresh zero pages must not pass */
}

/* The byte at offset i < 16 of a block of n bytes with this tag. */
static uint8_t header_byte(uint64_t n, uint64_t tag, uint64_t i)
{
    if (n < 16) return i == 0 ? (uint8_t)(SMALL_MARK | n) : (uint8_t)(0x3C ^ n);
    if (i == 0) return BIG_MARK;
    if (i < 8) return (uint8_t)(n >> (8 * (i - 1)));
    return (uint8_t)(tag >> (8 * (i - 8)));
}

static uint8_t expected_byte(uint64_t n, uint64_t tag, uint64_t i)
{
    return i < 16 ? header_byte(n, tag, i) : body_byte(tag);
}

static void block_fill(uint8_t *p, uint64_t n, uint64_t tag, bool full)
{
    uint64_t h = n < 16 ? n : 16;
    for (uint64_t i = 0; i < h; i++) p[i] = header_byte(n, tag, i);
    if (n <= 16) return;
    uint8_t b = body_byte(tag);
    if (full) {
        memset(p + 16, b, n - 16);
    } else {
        for (uint64_t i = 16; i < n; i += 4096) p[i] = b;
        p[n - 1] = b;
    }
}

/* Offset of the first of the bytes [0, len) that differs from the layout of
 * a block of n bytes with this tag, or -1. len <= n. */
static int64_t block_diff(const uint8_t *p, uint64_t n, uint64_t tag, uint64_t len, bool full)
{
    uint64_t h = len < 16 ? len : 16;
    for (uint64_t i = 0; i < h; i++)
        if (p[i] != header_byte(n, tag, i)) return (int64_t)i;
    if (n <= 16 || len <= 16) return -1;
    uint8_t b = body_byte(tag);
    if (!full) {
        for (uint64_t i = 16; i < len; i += 4096)
            if (p[i] != b) return (int64_t)i;
        return len == n && p[n - 1] != b ? (int64_t)(n - 1) : -1;
    }
    uint64_t word = b * 0x0101010101010101ULL, i = 16;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != word) break;
    }
    for (; i < len; i++)
        if (p[i] != b) return (int64_t)i;
    return -1;
}

/* Size and tag of a block from its own header; false if there is none. */
static bool block_header(const uint8_t *p, uint64_t *n, uint64_t *tag)
{
    if (p[0] == BIG_MARK) {
        *n = *tag = 0;
        for (int i = 1; i < 8; i++) *n |= (uint64_t)p[i] << (8 * (i - 1));
        for (int i = 8; i < 16; i++) *tag |= (uint64_t)p[i] << (8 * (i - 8));
        return *n >= 16;
    }
    if ((p[0] & 0xF0) == SMALL_MARK) {
        *n = p[0] & 0x0F;
        *tag = 0;
        return *n >= 1;
    }
    return false;
}

/* The checker's own test: with corrupt_every = N, every Nth check first
 * flips a bit of the mark byte, which every check must then report. */
static void maybe_corrupt(struct worker *w, uint8_t *p, uint64_t n)
{
    uint32_t every = w->run->c->corrupt_every;
    if (every != 0 && n > 0 && ++w->checks % every == 0) p[0] ^= 0x40;
}

static void check_known(struct worker *w, uint8_t *p, uint64_t n, uint64_t tag, uint64_t len,
                        const char *when)
{
    maybe_corrupt(w, p, n);
    int64_t d = block_diff(p, n, tag, len, w->run->full);
    if (d >= 0)
        note_error(w, "%s: block %p of %llu bytes: byte %lld is 0x%02x, expected 0x%02x", when,
                   (void *)p, (unsigned long long)n, (long long)d, p[d],
                   expected_byte(n, tag, (uint64_t)d));
}

/* For blocks whose size only the block itself knows (larson, prodcons). */
static void check_self(struct worker *w, uint8_t *p, const char *when)
{
    const struct hakpy_stress_config *c = w->run->c;
    uint64_t n, tag;
    maybe_corrupt(w, p, 1);
    if (!block_header(p, &n, &tag) || n < c->min_size || n > c->max_size) {
        note_error(w, "%s: block %p has no valid header (first byte 0x%02x)", when, (void *)p, p[0]);
        return;
    }
    int64_t d = block_diff(p, n, tag, n, w->run->full);
    if (d >= 0)
        note_error(w, "%s: block %p of %llu bytes: byte %lld is 0x%02x, expected 0x%02x", when,
                   (void *)p, (unsigned long long)n, (long long)d, p[d],
                   expected_byte(n, tag, (uint64_t)d));
}

/* ---- the calls, counted ------------------------------------------------------ */

/* kind: HAKPY_OP_ALLOC, _ALIGNED or _CALLOC. False if nothing was allocated. */
static bool acquire(struct worker *w, struct slot *s, uint32_t kind, uint64_t n, uint64_t align)
{
    const struct hakpy_allocator *a = w->run->a;
    uint8_t *p = kind == HAKPY_OP_ALIGNED ? a->aligned_alloc(align, n)
                 : kind == HAKPY_OP_CALLOC ? a->calloc(1, n)
                                           : a->malloc(n);
    w->ops++;
    if (p == NULL) {
        if (n != 0) w->failures++; /* malloc(0) may return NULL */
        return false;
    }
    w->allocs++;
    w->bytes += n;
    if (kind == HAKPY_OP_ALIGNED && ((uintptr_t)p & (align - 1)) != 0)
        note_error(w, "aligned_alloc(%llu, %llu) returned %p, which is not aligned",
                   (unsigned long long)align, (unsigned long long)n, (void *)p);
    if (kind == HAKPY_OP_CALLOC) {
        int64_t bad = -1;
        for (uint64_t i = 0; i < n && bad < 0; i++)
            if (p[i] != 0) bad = (int64_t)i;
        if (bad >= 0)
            note_error(w, "calloc(1, %llu) returned %p whose byte %lld is 0x%02x, not 0",
                       (unsigned long long)n, (void *)p, (long long)bad, p[bad]);
    }
    s->p = p;
    s->n = n;
    s->tag = next_tag(w);
    block_fill(p, n, s->tag, w->run->full);
    return true;
}

static void release(struct worker *w, struct slot *s)
{
    check_known(w, s->p, s->n, s->tag, s->n, "free");
    w->run->a->free(s->p);
    w->ops++;
    w->frees++;
    s->p = NULL;
}

/* realloc to m bytes, checking the block before and the kept prefix after. */
static void resize(struct worker *w, struct slot *s, uint64_t m)
{
    check_known(w, s->p, s->n, s->tag, s->n, "realloc");
    uint8_t *q = w->run->a->realloc(s->p, m);
    w->ops++;
    if (q == NULL) {
        w->failures++; /* the old block is intact and stays */
        return;
    }
    w->bytes += m;
    uint64_t keep = s->n < m ? s->n : m;
    int64_t d = block_diff(q, s->n, s->tag, keep, w->run->full);
    if (d >= 0)
        note_error(w, "realloc(%p, %llu) -> %p lost the contents: byte %lld is 0x%02x, expected 0x%02x",
                   (void *)s->p, (unsigned long long)m, (void *)q, (long long)d, q[d],
                   expected_byte(s->n, s->tag, (uint64_t)d));
    s->p = q;
    s->n = m;
    s->tag = next_tag(w);
    block_fill(q, m, s->tag, w->run->full);
}

static void release_shared(struct worker *w, uint8_t *p)
{
    check_self(w, p, "free");
    w->run->a->free(p);
    w->ops++;
    w->frees++;
}

/* A filled block of a drawn size for a shared structure, or NULL. */
static uint8_t *make_shared(struct worker *w)
{
    const struct hakpy_stress_config *c = w->run->c;
    uint64_t n = draw_size(w, c->min_size, c->max_size);
    uint8_t *p = w->run->a->malloc(n);
    w->ops++;
    if (p == NULL) {
        w->failures++;
        return NULL;
    }
    w->allocs++;
    w->bytes += n;
    block_fill(p, n, next_tag(w), w->run->full);
    return p;
}

static struct slot *slots_new(struct worker *w, uint64_t n)
{
    struct slot *s = harness_alloc(n * sizeof *s);
    if (s == NULL) note_error(w, "no memory for a table of %llu slots", (unsigned long long)n);
    return s;
}

static void slots_release(struct worker *w, struct slot *s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (s[i].p != NULL) release(w, &s[i]);
    harness_free(s, n * sizeof *s);
}

/* ---- kernels ------------------------------------------------------------- */

/* random_mixed (aligned = false) and aligned. */
static void k_slots(struct worker *w, bool aligned)
{
    const struct hakpy_stress_config *c = w->run->c;
    uint64_t ws = c->working_set;
    struct slot *slots = slots_new(w, ws);
    if (slots == NULL) return;
    unsigned align_choices = 1;
    while (aligned && ((uint64_t)16 << align_choices) <= c->max_align) align_choices++;
    while (keep_going(w)) {
        struct slot *s = &slots[rng_below(rng_next(&w->rng), ws)];
        if (s->p != NULL) {
            release(w, s);
        } else if (aligned) {
            uint64_t align = (uint64_t)16 << rng_below(rng_next(&w->rng), align_choices);
            acquire(w, s, HAKPY_OP_ALIGNED, draw_size(w, c->min_size, c->max_size), align);
        } else {
            acquire(w, s, HAKPY_OP_ALLOC, draw_size(w, c->min_size, c->max_size), 0);
        }
    }
    slots_release(w, slots, ws);
}

static void *larson_generation(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    while (keep_going(w)) {
        _Atomic uintptr_t *slot = &run->shared[rng_below(rng_next(&w->rng), run->nshared)];
        uint8_t *p = make_shared(w);
        if (p == NULL) continue;
        /* acq_rel: this thread's fill is visible to whoever swaps p out. */
        uintptr_t old = atomic_exchange_explicit(slot, (uintptr_t)p, memory_order_acq_rel);
        if (old != 0) release_shared(w, (uint8_t *)old);
    }
    return NULL;
}

/* Each generation is a new thread: caches of exited threads must go back. */
static void k_larson(struct worker *w)
{
    uint32_t gens = w->run->c->generations;
    uint64_t quota = w->quota, ops0 = w->ops;
    double start = now_s(), deadline = w->deadline;
    for (uint32_t g = 1; g <= gens && !stopped(w->run); g++) {
        if (w->run->timed) {
            w->deadline = start + (deadline - start) * g / gens;
            w->expired = false;
        } else {
            w->quota = ops0 + (quota - ops0) * g / gens;
            w->expired = false;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, larson_generation, w) == 0)
            pthread_join(t, NULL);
        else
            larson_generation(w); /* no thread to spare: same work, here */
    }
}

static bool ring_push(struct ring *q, uintptr_t v)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&q->head, memory_order_acquire) > q->mask) return false;
    q->buf[t & q->mask] = v;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return true;
}

static bool ring_pop(struct ring *q, uintptr_t *v)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&q->tail, memory_order_acquire)) return false;
    *v = q->buf[h & q->mask];
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return true;
}

static void k_producer(struct worker *w)
{
    while (keep_going(w)) {
        uint8_t *p = make_shared(w);
        if (p == NULL) continue;
        while (!ring_push(w->ring, (uintptr_t)p)) sched_yield();
    }
    while (!ring_push(w->ring, 0)) sched_yield(); /* end of stream */
}

static void k_consumer(struct worker *w)
{
    for (;;) {
        uintptr_t v;
        if (!ring_pop(w->ring, &v)) {
            sched_yield();
            continue;
        }
        if (v == 0) return;
        release_shared(w, (uint8_t *)v);
    }
}

static void k_realloc(struct worker *w)
{
    const struct hakpy_stress_config *c = w->run->c;
    uint64_t ws = c->working_set;
    struct slot *slots = slots_new(w, ws);
    if (slots == NULL) return;
    while (keep_going(w)) {
        struct slot *s = &slots[rng_below(rng_next(&w->rng), ws)];
        if (s->p == NULL) {
            acquire(w, s, HAKPY_OP_ALLOC, c->min_size, 0);
        } else if (s->n >= c->max_size) {
            release(w, s); /* the chain is complete */
        } else {
            uint64_t r = rng_next(&w->rng), n = s->n, m;
            if ((r & 7) == 0 && n >= 2 && n / 2 >= c->min_size) {
                m = n / 2;
            } else {
                m = n + 1 + rng_below(r, n + 1); /* up to twice as large */
                if (m > c->max_size) m = c->max_size;
            }
            resize(w, s, m);
        }
    }
    slots_release(w, slots, ws);
}

static void k_fragment(struct worker *w)
{
    const struct hakpy_stress_config *c = w->run->c;
    uint64_t ws = c->working_set;
    uint64_t mid = c->min_size + (c->max_size - c->min_size) / 2;
    uint64_t big = mid < c->max_size ? mid + 1 : c->max_size;
    struct slot *slots = slots_new(w, ws);
    if (slots == NULL) return;
    while (keep_going(w)) {
        for (uint64_t i = 0; i < ws && keep_going(w); i++)
            if (slots[i].p == NULL)
                acquire(w, &slots[i], HAKPY_OP_ALLOC, draw_size(w, c->min_size, mid), 0);
        /* Holes between live blocks, then requests too big for the holes. */
        for (uint64_t i = 1; i < ws && keep_going(w); i += 2)
            if (slots[i].p != NULL) release(w, &slots[i]);
        for (uint64_t i = 1; i < ws && keep_going(w); i += 2)
            if (slots[i].p == NULL)
                acquire(w, &slots[i], HAKPY_OP_ALLOC, draw_size(w, big, c->max_size), 0);
        for (uint64_t i = 0; i < ws && keep_going(w); i++)
            if (slots[i].p != NULL) release(w, &slots[i]);
    }
    slots_release(w, slots, ws);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    atomic_fetch_add_explicit(&run->ready, 1, memory_order_acq_rel);
    while (!atomic_load_explicit(&run->go, memory_order_acquire)) sched_yield();
    if (atomic_load_explicit(&run->abort, memory_order_acquire)) return NULL;
    w->deadline = run->start + run->c->duration;
    switch (run->c->kernel) {
    case HAKPY_RANDOM_MIXED: k_slots(w, false); break;
    case HAKPY_ALIGNED: k_slots(w, true); break;
    case HAKPY_LARSON: k_larson(w); break;
    case HAKPY_PRODCONS:
        if (w->index % 2 == 0)
            k_producer(w);
        else
            k_consumer(w);
        break;
    case HAKPY_REALLOC: k_realloc(w); break;
    case HAKPY_FRAGMENT: k_fragment(w); break;
    default: break;
    }
    return NULL;
}

/* ---- configuration, totals ------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int bad_config(struct hakpy_stress_result *r,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

static int check_config(const struct hakpy_stress_config *c, struct hakpy_stress_result *r)
{
    typedef unsigned long long ull;
    uint32_t k = c->kernel;
    if (k < HAKPY_RANDOM_MIXED || k > HAKPY_ALIGNED) return bad_config(r, "unknown kernel %u", k);
    if (c->threads < 1 || c->threads > MAX_THREADS)
        return bad_config(r, "threads must be between 1 and %d (got %u)", MAX_THREADS, c->threads);
    if (k == HAKPY_PRODCONS && c->threads % 2 != 0)
        return bad_config(r, "prodcons runs pairs of threads: threads must be even (got %u)",
                          c->threads);
    if (c->ops == 0 && !(c->duration > 0 && c->duration <= 1e6))
        return bad_config(r, "give ops > 0, or a duration between 0 and 1e6 seconds");
    if (c->max_size >= MAX_BLOCK)
        return bad_config(r, "max_size must be below 2**48 (got %llu)", (ull)c->max_size);
    if (c->min_size > c->max_size)
        return bad_config(r, "min_size (%llu) is larger than max_size (%llu)", (ull)c->min_size,
                          (ull)c->max_size);
    if ((k == HAKPY_LARSON || k == HAKPY_PRODCONS) && c->min_size < 1)
        return bad_config(r, "min_size must be at least 1 for blocks that cross threads "
                             "(their size is read from the block itself)");
    if (c->working_set < 1 || c->working_set > MAX_WORKING_SET)
        return bad_config(r, "working_set must be between 1 and %llu (got %llu)",
                          (ull)MAX_WORKING_SET, (ull)c->working_set);
    if (k == HAKPY_ALIGNED && (!is_pow2(c->max_align) || c->max_align < 16 || c->max_align > MAX_ALIGN))
        return bad_config(r, "max_align must be a power of two between 16 and 2**30 (got %llu)",
                          (ull)c->max_align);
    if (k == HAKPY_LARSON && (c->generations < 1 || c->generations > 100000))
        return bad_config(r, "generations must be between 1 and 100000 (got %u)", c->generations);
    if (c->fill > 1) return bad_config(r, "fill must be 0 (sparse) or 1 (full)");
    return 0;
}

static void add_worker(struct hakpy_stress_result *r, const struct worker *w)
{
    r->ops += w->ops;
    r->allocs += w->allocs;
    r->frees += w->frees;
    r->bytes_allocated += w->bytes;
    r->errors += w->errors;
    r->alloc_failures += w->failures;
    if (r->first_error[0] == '\0' && w->first_error[0] != '\0')
        memcpy(r->first_error, w->first_error, sizeof r->first_error);
}

int hakpy_stress_run(const struct hakpy_allocator *a, const struct hakpy_stress_config *c,
                     struct hakpy_stress_result *r)
{
    memset(r, 0, sizeof *r);
    if (check_config(c, r) < 0) return -1;
    uint32_t nt = c->threads;
    struct run run = {.a = a, .c = c, .full = c->fill != 0, .timed = c->ops == 0};
    /* Worker nt is the main thread's tally (larson's leftovers). */
    size_t wbytes = (nt + 1) * sizeof(struct worker);
    size_t rbytes = 0, shbytes = 0;
    struct worker *ws = harness_alloc(wbytes);
    struct ring *rings = NULL;
    if (ws == NULL) return bad_config(r, "no memory for %u thread records", nt);
    for (uint32_t i = 0; i <= nt; i++) {
        ws[i].run = &run;
        ws[i].index = i;
        ws[i].rng = c->seed ^ (0x9e3779b97f4a7c15ULL * (i + 1));
        ws[i].quota = c->ops / nt + (i < c->ops % nt ? 1 : 0);
    }
    if (c->kernel == HAKPY_LARSON) {
        run.nshared = c->working_set * nt;
        shbytes = run.nshared * sizeof *run.shared;
        run.shared = harness_alloc(shbytes);
        if (run.shared == NULL) {
            harness_free(ws, wbytes);
            return bad_config(r, "no memory for a shared table of %llu slots",
                              (unsigned long long)run.nshared);
        }
    }
    if (c->kernel == HAKPY_PRODCONS) {
        uint64_t cap = 2;
        while (cap < c->working_set) cap *= 2;
        rbytes = (nt / 2) * (sizeof(struct ring) + cap * sizeof(uintptr_t));
        rings = harness_alloc(rbytes);
        if (rings == NULL) {
            harness_free(ws, wbytes);
            return bad_config(r, "no memory for %u rings of %llu slots", nt / 2,
                              (unsigned long long)cap);
        }
        uintptr_t *bufs = (uintptr_t *)(rings + nt / 2);
        for (uint32_t p = 0; p < nt / 2; p++) {
            rings[p].mask = cap - 1;
            rings[p].buf = bufs + p * cap;
            /* The producer counts mallocs, the consumer frees whatever comes. */
            ws[2 * p].quota += ws[2 * p + 1].quota;
            ws[2 * p].quota /= 2;
            ws[2 * p].ring = ws[2 * p + 1].ring = &rings[p];
        }
    }
    if (c->reset_peak_rss) reset_peak_rss();

    uint32_t started = 0;
    int err = 0;
    for (; started < nt; started++) {
        err = pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]);
        if (err != 0) break;
        ws[started].started = true;
    }
    if (err != 0) atomic_store_explicit(&run.abort, 1, memory_order_release);
    while (atomic_load_explicit(&run.ready, memory_order_acquire) < started) sched_yield();
    double cpu0 = cpu_s();
    run.start = now_s();
    atomic_store_explicit(&run.go, 1, memory_order_release);
    for (uint32_t i = 0; i < started; i++) pthread_join(ws[i].thread, NULL);
    if (run.shared != NULL) {
        struct worker *m = &ws[nt];
        for (uint64_t i = 0; i < run.nshared; i++) {
            uintptr_t p = atomic_load_explicit(&run.shared[i], memory_order_acquire);
            if (p != 0) release_shared(m, (uint8_t *)p);
        }
    }
    r->seconds = now_s() - run.start;
    r->cpu_seconds = cpu_s() - cpu0;
    for (uint32_t i = 0; i <= nt; i++) add_worker(r, &ws[i]);
    r->peak_rss_kb = peak_rss_kb();
    harness_free(run.shared, shbytes);
    harness_free(rings, rbytes);
    harness_free(ws, wbytes);
    if (err != 0)
        return bad_config(r, "could not start thread %u of %u: %s", started + 1, nt, strerror(err));
    return 0;
}

/* ---- traces ----------------------------------------------------------------- */

int hakpy_trace_check(const struct hakpy_trace_op *ops, uint64_t n, uint32_t nslots, char *err,
                      size_t errlen)
{
    typedef unsigned long long ull;
    size_t mbytes = (size_t)nslots / 8 + 1;
    uint8_t *live = harness_alloc(mbytes);
    if (live == NULL) {
        snprintf(err, errlen, "no memory to check a trace of %u slots", nslots);
        return -1;
    }
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        const struct hakpy_trace_op *op = &ops[i];
        uint32_t s = op->slot;
        if (s >= nslots) {
            snprintf(err, errlen, "op %llu: slot %u is not below the trace's %u slots", (ull)i, s,
                     nslots);
            rc = -1;
            break;
        }
        bool full = (live[s / 8] >> (s % 8)) & 1;
        switch (op->kind) {
        case HAKPY_OP_ALLOC:
        case HAKPY_OP_CALLOC:
        case HAKPY_OP_ALIGNED:
            if (full) {
                snprintf(err, errlen, "op %llu: allocates into slot %u, which holds a live block",
                         (ull)i, s);
                rc = -1;
            } else if (op->size >= MAX_BLOCK) {
                snprintf(err, errlen, "op %llu: size %llu is not below 2**48", (ull)i, (ull)op->size);
                rc = -1;
            } else if (op->kind == HAKPY_OP_ALIGNED && (!is_pow2(op->align) || op->align > MAX_ALIGN)) {
                snprintf(err, errlen, "op %llu: alignment %llu is not a power of two up to 2**30",
                         (ull)i, (ull)op->align);
                rc = -1;
            }
            live[s / 8] |= (uint8_t)(1u << (s % 8));
            break;
        case HAKPY_OP_FREE:
            if (!full) {
                snprintf(err, errlen, "op %llu: frees slot %u, which holds no block", (ull)i, s);
                rc = -1;
            }
            live[s / 8] &= (uint8_t) ~(1u << (s % 8));
            break;
        case HAKPY_OP_REALLOC:
            if (!full) {
                snprintf(err, errlen, "op %llu: resizes slot %u, which holds no block", (ull)i, s);
                rc = -1;
            } else if (op->size < 1 || op->size >= MAX_BLOCK) {
                snprintf(err, errlen, "op %llu: realloc to %llu bytes (give 1 to 2**48-1; use free)",
                         (ull)i, (ull)op->size);
                rc = -1;
            }
            break;
        default:
            snprintf(err, errlen, "op %llu: unknown kind %u", (ull)i, op->kind);
            rc = -1;
        }
    }
    harness_free(live, mbytes);
    return rc;
}

int hakpy_replay(const struct hakpy_allocator *a, const struct hakpy_trace_op *ops, uint64_t n,
                 uint32_t nslots, uint32_t repeat, uint32_t fill, struct hakpy_stress_result *r)
{
    memset(r, 0, sizeof *r);
    if (repeat < 1) return bad_config(r, "repeat must be at least 1");
    if (fill > 1) return bad_config(r, "fill must be 0 (sparse) or 1 (full)");
    if (hakpy_trace_check(ops, n, nslots, r->first_error, sizeof r->first_error) < 0) return -1;
    struct hakpy_stress_config cfg = {.fill = fill, .max_size = MAX_BLOCK - 1};
    struct run run = {.a = a, .c = &cfg, .full = fill != 0};
    struct worker w = {.run = &run};
    size_t sbytes = (size_t)nslots * sizeof(struct slot);
    struct slot *slots = harness_alloc(sbytes);
    if (slots == NULL) return bad_config(r, "no memory for %u slots", nslots);
    double cpu0 = cpu_s(), t0 = now_s();
    for (uint32_t pass = 0; pass < repeat; pass++) {
        for (uint64_t i = 0; i < n; i++) {
            const struct hakpy_trace_op *op = &ops[i];
            struct slot *s = &slots[op->slot];
            switch (op->kind) {
            case HAKPY_OP_FREE: release(&w, s); break;
            case HAKPY_OP_REALLOC:
                if (s->p == NULL) /* its malloc(0) gave NULL: realloc(NULL) allocates */
                    acquire(&w, s, HAKPY_OP_ALLOC, op->size, 0);
                else
                    resize(&w, s, op->size);
                break;
            default: acquire(&w, s, op->kind, op->size, op->align); break;
            }
        }
        for (uint32_t k = 0; k < nslots; k++)
            if (slots[k].p != NULL) release(&w, &slots[k]);
    }
    r->seconds = now_s() - t0;
    r->cpu_seconds = cpu_s() - cpu0;
    add_worker(r, &w);
    r->peak_rss_kb = peak_rss_kb();
    harness_free(slots, sbytes);
    return 0;
}
