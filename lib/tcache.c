/* tcache.c: the slow paths behind tcache.h, thread and process lifecycle.
 *
 * Call tree:
 *   _hak_malloc_slow(n)       mid sizes: class, pop; empty: tc_refill
 *                             large sizes: _hak_large_alloc
 *     tc_refill(cls)          first call of a thread: tc_setup;
 *                             _hak_central_take(batch)
 *   _hak_free_overflow(bin)   class 0: bad pointer; new thread: tc_setup,
 *                             flush the whole list; else flush the older half
 *                             to the central pool
 *   _hak_free_slow(p)         NULL; counted frees (stats/trace); large; foreign
 *   _hak_tc_thread_exit       every bin back to the central pool; leave the group
 *   _hak_runtime_init         once: options, arena, central pool, thread key,
 *                             fork handlers
 * Nothing here runs unless a fast path missed.
 */
#define _GNU_SOURCE
#include "tcache.h"
#include "central.h"
#include "large.h"
#include "options.h"
#include "stats.h"
#include "../include/hakmem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

/* Never carries the free mark (block.h): the end of every thread list. */
const uint64_t _hak_tc_end[2] HAK_ALIGNED(16) = {0, 0};

__thread hak_tcache_t _hak_tc HAK_TLS = {.head = {[0 ... HAK_NCLASS - 1] = HAK_TC_END}};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t tc_key;
static bool tc_key_ok;
static _Atomic bool runtime_ready;
static uint32_t class_cap[HAK_NCLASS];
static int64_t route_sample;
#define REFILL_BYTES 16384u
#define SLOW_START_BLOCKS 4u

/* Span groups: each owns one span per Tiny class to refill from (central.c),
 * so threads of different groups never get blocks on one cache line. A
 * thread joins the group with fewest live threads; there are 4 per CPU, as
 * jemalloc has arenas: fewer and threads would share often, more and every
 * thread of a many-threaded program would hold a span per class, and spans
 * of exited threads would be emptied and purged only to be mapped again.
 * Groups outlive threads. group_span: under the class's central lock. */
#define GROUPS_MAX 64
static hak_span_t *group_span[GROUPS_MAX][HAK_FIRST_MID];
static uint32_t group_threads[GROUPS_MAX]; /* under group_lock */
static uint32_t ngroups = 1;
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;

HAK_HIDDEN void _hak_atfork_prepare(void);
HAK_HIDDEN void _hak_atfork_parent(void);
HAK_HIDDEN void _hak_atfork_child(void);

/* ---- process start ----------------------------------------------------- */

HAK_HIDDEN void _hak_runtime_init(void);
void _hak_runtime_init(void)
{
    if (HAK_LIKELY(atomic_load_explicit(&runtime_ready, memory_order_acquire))) return;
    bool first = false;
    pthread_mutex_lock(&init_lock);
    if (!atomic_load_explicit(&runtime_ready, memory_order_relaxed)) {
        _hak_options_init();
#if !HAK_DEBUG
        if (_hak_option(HAK_OPT_FAULT_MAP_NTH) || _hak_option(HAK_OPT_FAULT_MAP_EVERY) ||
            _hak_option(HAK_OPT_FAULT_PURGE_EVERY))
            _hak_write_str(2, "hakmem: HAKMEM_FAULT_* needs a debug build; ignored\n");
#endif
        _hak_g_count_calls = _hak_option(HAK_OPT_STATS) || _hak_option(HAK_OPT_ROUTE_TRACE);
        route_sample = _hak_option(HAK_OPT_ROUTE_SAMPLE);
        uint64_t budget = (uint64_t)_hak_option(HAK_OPT_TCACHE_BYTES);
        for (unsigned c = 1; c < HAK_NCLASS; c++) {
            uint64_t cap = budget / _hak_cls_size[c];
            uint64_t max = hak_class_is_tiny(c) ? 256 : 64;
            class_cap[c] = (uint32_t)(cap < 1 ? 1 : cap > max ? max : cap);
        }
        _hak_sizeclass_init();
        /* A system call, no allocation: safe while malloc initialises. */
        cpu_set_t cpus;
        unsigned ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (unsigned)CPU_COUNT(&cpus) : 1;
        ngroups = ncpu == 0 ? 4 : ncpu >= GROUPS_MAX / 4 ? GROUPS_MAX : 4 * ncpu;
        _hak_central_init();
        _hak_large_init();
        /* Without an arena every request is served by the large tier. */
        if (_hak_arena_init()) _hak_arena_open_fast_window(!_hak_g_count_calls);
        /* Without the key, threads' caches cannot go back when they exit:
         * then no thread caches at all (class caps stay 0). */
        tc_key_ok = pthread_key_create(&tc_key, _hak_tc_thread_exit) == 0;
        if (!tc_key_ok) _hak_write_str(2, "hakmem: pthread_key_create failed; thread caches off\n");
        atomic_store_explicit(&runtime_ready, true, memory_order_release);
        first = true;
    }
    pthread_mutex_unlock(&init_lock);
    if (!first) return;
    /* Outside the lock: registering may itself call malloc. */
    pthread_atfork(_hak_atfork_prepare, _hak_atfork_parent, _hak_atfork_child);
    if (_hak_option(HAK_OPT_VERBOSE)) {
        _hak_write_str(2, "hakmem: " HAKMEM_VERSION_STRING " active, arena ");
        _hak_write_u64(2, _hak_arena_size);
        _hak_write_str(2, " bytes at ");
        _hak_write_hex(2, _hak_arena_base);
        _hak_write_str(2, _hak_g_count_calls ? ", counting every free\n" : "\n");
        _hak_options_print(2);
    }
}

/* ---- thread set-up and exit -------------------------------------------- */

/* The cap that room[cls] counts down from. */
static uint32_t tc_cap(const hak_tc_ref_t *tc, unsigned cls)
{
    return tc->state == HAK_TC_ACTIVE ? class_cap[cls] : 0;
}

static uint32_t bin_count(const hak_tc_ref_t *tc, unsigned cls)
{
    return (uint32_t)((int64_t)tc_cap(tc, cls) - tc->room[cls]);
}

static void tc_setup(hak_tc_ref_t *tc)
{
    _hak_runtime_init();
    if (tc->state != HAK_TC_NEW || !tc_key_ok) return;
    /* Blocks may already sit on the lists (frees before set-up): keep them. */
    for (unsigned c = 1; c < HAK_NCLASS; c++) tc->room[c] += (int32_t)class_cap[c];
    pthread_mutex_lock(&group_lock);
    uint32_t g = 0;
    for (uint32_t i = 1; i < ngroups; i++)
        if (group_threads[i] < group_threads[g]) g = i;
    group_threads[g]++;
    pthread_mutex_unlock(&group_lock);
    tc->group = g;
    tc->state = HAK_TC_ACTIVE;
    /* No list of threads is kept: a thread that first allocates while glibc
     * tears it down (after the key destructors ran, e.g. in its freeres)
     * never gets its destructor called, and a list would keep a pointer to
     * its freed TLS. Such a thread can only leave its few cached blocks
     * behind. Last: may allocate (glibc's second-level key array), which now works. */
    pthread_setspecific(tc_key, &_hak_tc);
}

static void bin_flush(hak_tc_ref_t *tc, unsigned cls, uint32_t keep)
{
    uint32_t count = bin_count(tc, cls);
    if (count <= keep) return;
    void *rest;
    if (keep == 0) {
        rest = tc->head[cls];
        tc->head[cls] = HAK_TC_END;
    } else {
        /* Keep the most recently freed blocks (the head): they are warm. */
        void *cut = tc->head[cls];
        for (uint32_t i = 1; i < keep; i++) cut = hak_block_next(cut);
        rest = hak_block_next(cut);
        hak_block_set_next(cut, HAK_TC_END);
    }
    tc->room[cls] = (int32_t)tc_cap(tc, cls) - (int32_t)keep;
    _hak_central_give(cls, rest, count - keep);
}

static void tc_return_all(hak_tc_ref_t *tc)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) bin_flush(tc, c, 0);
}

/* hak_collect: every group's spans too, which may now be empty and so
 * releasable; groups take new ones when they next refill. */
void _hak_tc_flush_all(void)
{
    tc_return_all(hak_tc_self());
    for (unsigned g = 0; g < ngroups; g++)
        for (unsigned c = 1; c < HAK_FIRST_MID; c++) _hak_central_disown(c, &group_span[g][c]);
}

void _hak_tc_thread_exit(void *arg)
{
    hak_tc_ref_t *tc = hak_tc_self();
    if (arg != &_hak_tc || tc->state != HAK_TC_ACTIVE) return;
    tc_return_all(tc);
    pthread_mutex_lock(&group_lock);
    group_threads[tc->group]--;
    pthread_mutex_unlock(&group_lock);
    /* Dying: caps 0, so whatever later destructors free goes straight back. */
    for (unsigned c = 1; c < HAK_NCLASS; c++) tc->room[c] -= (int32_t)class_cap[c];
    tc->state = HAK_TC_DYING;
}

uint64_t _hak_tc_cached_bytes(unsigned cls)
{
    return (uint64_t)bin_count(hak_tc_self(), cls) * _hak_cls_size[cls];
}

void _hak_tc_after_fork_child(void)
{
    /* Only the forking thread lives on; the others' caches are lost (their
     * blocks stay counted as in use, bounded by the caps), and so are
     * they in their groups, which keep their spans. */
    pthread_mutex_init(&init_lock, NULL);
    pthread_mutex_init(&group_lock, NULL);
    for (unsigned g = 0; g < ngroups; g++) group_threads[g] = 0;
    hak_tc_ref_t *tc = hak_tc_self();
    if (tc->state == HAK_TC_ACTIVE) group_threads[tc->group] = 1;
}

/* ---- malloc slow path ---------------------------------------------------- */

static HAK_NOINLINE void *tc_refill(unsigned cls)
{
    hak_tc_ref_t *tc = hak_tc_self();
    if (HAK_UNLIKELY(tc->state != HAK_TC_ACTIVE)) {
        if (tc->state == HAK_TC_NEW) tc_setup(tc);
        if (_hak_arena_size == 0) return NULL;
    }
    void *p = hak_tc_pop(tc, cls); /* set-up may have allocated into this very list */
    if (p != NULL) return p;
    uint32_t cap = tc_cap(tc, cls);
    unsigned want = cap == 0 ? 1 : (cap + 1) / 2;
    /* At most REFILL_BYTES a batch. Fresh blocks are touched as they are
     * carved, and each span group carves its own span of every class, so a
     * batch of half a 64 KiB cap left each group up to 32 KiB a class of
     * resident memory it might never use (mstress, 8 groups: peak RSS
     * 14.0 MiB against 10.7 with this limit). Classes up to 128 bytes keep
     * their half cap; callgrind's random_mixed counts do not rise. */
    unsigned most = REFILL_BYTES / _hak_cls_size[cls];
    if (want > most) want = most > 0 ? most : 1;
    /* Slow start: a class's first batch is small and each refill doubles
     * it up to the limit above, so a thread that uses a class for a few
     * blocks carves (and touches) a few blocks, not a full batch of each of
     * the classes it ever touches (a program's start-up, a thread that
     * allocates a handful of objects). */
    unsigned start = tc->batch[cls] ? tc->batch[cls] : SLOW_START_BLOCKS;
    if (want > start) want = start;
    if (start < 0x8000) tc->batch[cls] = (uint16_t)(start * 2);
    void *head;
    /* A thread not set up (or dying) has no group. */
    hak_span_t **slot = tc->state == HAK_TC_ACTIVE && hak_class_is_tiny(cls) ? &group_span[tc->group][cls] : NULL;
    unsigned n = _hak_central_take(cls, want, &head, HAK_TC_END, &_hak_tc, slot);
    if (n == 0) return NULL;
    tc->head[cls] = head;
    tc->room[cls] = (int32_t)cap - (int32_t)n;
    if (hak_class_is_tiny(cls)) tc->allocates |= 1u << cls;
    return hak_tc_pop(tc, cls);
}

void *_hak_class_alloc(unsigned cls)
{
    void *p = hak_tc_pop(hak_tc_self(), cls);
    if (HAK_LIKELY(p != NULL)) return p;
    p = tc_refill(cls);
    if (p == NULL) {
        /* Arena exhausted or absent: the large tier still serves, with the
         * alignment a block of this class has (aligned requests rely on it). */
        size_t size = _hak_cls_size[cls];
        p = _hak_large_alloc(size, size & -size, false);
    }
    return p;
}

void *_hak_malloc_slow(size_t n)
{
    if (n <= HAK_MID_MAX) return _hak_class_alloc(hak_class_of(n));
    _hak_runtime_init();
    return _hak_large_alloc(n, 16, false);
}

/* ---- free slow paths ----------------------------------------------------- */


void _hak_free_overflow(void *p)
{
    hak_tc_ref_t *tc = hak_tc_self();
    unsigned cls = hak_class_at(p);
    if (HAK_UNLIKELY(cls == 0)) _hak_fatal_ptr("free", "invalid pointer", p);
    if (HAK_UNLIKELY(tc->state == HAK_TC_NEW)) {
        /* A thread that has never allocated frees what others allocated.
         * Kept here, the block would be its next malloc of the class, on a
         * cache line that the block's allocator still uses for its
         * neighbours (passive false sharing): it goes back to its span,
         * which its allocator owns and refills from, and this thread's
         * mallocs get a span of their own. */
        tc_setup(tc);
        bin_flush(tc, cls, 0);
        return;
    }
    /* A thread that has never refilled a Tiny class does not allocate it
     * (a consumer): the blocks it would keep serve no malloc. It returns
     * them all, which also halves its flushes. (A lower cap for it, to hold
     * less memory, was measured: prodcons 16-1024 peak RSS -130 KiB for 18%
     * less throughput.) */
    bool keeps = !hak_class_is_tiny(cls) || (tc->allocates >> cls & 1);
    bin_flush(tc, cls, keeps ? tc_cap(tc, cls) / 2 : 0);
}

void _hak_list_corrupt(const void *p)
{
    _hak_fatal_ptr("malloc", "free list corrupted (write after free, overflow or double free) at", p);
}

/* p carries the free mark: is it really free? Looks on the calling thread's
 * list of its class, then on its span's free list. (A block sitting on
 * another live thread's list is not found: that thread owns its list.) */
static bool block_is_free(hak_tc_ref_t *tc, unsigned cls, const void *p)
{
    uint32_t limit = bin_count(tc, cls) + 1;
    for (void *q = tc->head[cls]; q != HAK_TC_END && limit-- > 0; q = hak_block_next(q))
        if (q == p) return true;
    return cls != 0 && _hak_central_holds(cls, p);
}

void _hak_free_suspect(void *p)
{
    hak_tc_ref_t *tc = hak_tc_self();
    unsigned cls = hak_class_at(p);
    if (block_is_free(tc, cls, p)) _hak_fatal_ptr("free", "double free", p);
    /* Otherwise the program's own bytes matched the mark: a live block. */
    hak_tc_push_unchecked(tc, cls, p);
}

bool _hak_block_is_free(const void *p)
{
    return hak_block_marked(p) && block_is_free(hak_tc_self(), hak_class_at(p), p);
}

static const char *const route_name[HAK_ROUTE_COUNT] = {
    [HAK_ROUTE_TINY_FAST] = "tiny_fast",
    [HAK_ROUTE_MID_FAST] = "mid_fast",
    [HAK_ROUTE_SLAB_LOOKUP] = "slab_lookup",
    [HAK_ROUTE_REMOTE] = "remote",
    [HAK_ROUTE_LARGE] = "large",
    [HAK_ROUTE_NULL] = "null",
};

static void route_count(enum hak_route r, const void *p)
{
    _hak_stat_add(&_hak_g_stats.route[r], 1);
    if (route_sample > 0) {
        hak_tc_ref_t *tc = hak_tc_self();
        if (tc->sampled[r] < route_sample) {
            tc->sampled[r]++;
            _hak_write_str(2, "hakmem: free route ");
            _hak_write_str(2, route_name[r]);
            _hak_write_str(2, " ");
            _hak_write_hex(2, (uint64_t)(uintptr_t)p);
            _hak_write_str(2, "\n");
        }
    }
}

HAK_HIDDEN const char *_hak_route_name(unsigned r);
const char *_hak_route_name(unsigned r) { return r < HAK_ROUTE_COUNT ? route_name[r] : "?"; }

/* An arena block reaches here for two reasons. With HAKMEM_STATS or the
 * route trace on, the fast window is closed on purpose so that every free
 * is counted: the route recorded is the one the fast path's own test
 * (hak_window_hit, on the window it would use) picks, and the block then
 * takes that route (the same hak_tc_push). Otherwise the fast path missed
 * a block it should have taken: counted as slab_lookup, so it shows. */
static void free_arena_slow(void *p)
{
    unsigned cls = hak_class_at(p);
    if (cls != 0) {
        enum hak_route r = HAK_ROUTE_SLAB_LOOKUP;
        if (_hak_g_count_calls && hak_window_hit(p, _hak_window_base, _hak_window_size16))
            r = hak_class_is_tiny(cls) ? HAK_ROUTE_TINY_FAST : HAK_ROUTE_MID_FAST;
        route_count(r, p);
        if (hak_span_of(p)->last_tc != &_hak_tc) route_count(HAK_ROUTE_REMOTE, p);
        _hak_stat_add(&_hak_g_stats.class_frees[cls], 1);
    }
    hak_tc_push(hak_tc_self(), cls, p);
}

void _hak_free_slow(void *p)
{
    if (p == NULL) {
        if (_hak_g_count_calls) route_count(HAK_ROUTE_NULL, p);
        return;
    }
    if (hak_in_arena(p)) {
        if (((uintptr_t)p & 15) == 0) {
            free_arena_slow(p);
            return;
        }
        _hak_fatal_ptr("free", "invalid pointer", p);
    }
    if (_hak_large_free(p)) {
        if (_hak_g_count_calls) route_count(HAK_ROUTE_LARGE, p);
        return;
    }
    _hak_fatal_ptr("free", "invalid pointer", p);
}
