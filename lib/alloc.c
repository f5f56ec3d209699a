/* alloc.c: the slow paths behind alloc.h, and the helpers that the public
 * entry points share (usable size, aligned, calloc, realloc).
 *
 * Call tree:
 *   _hak_malloc_slow(n)      mid sizes: _hak_class_alloc; large: _hak_large_alloc
 *     _hak_class_alloc(cls)  pop; a new thread: _hak_thread_init (init.c);
 *                            _hak_tc_refill; arena full: _hak_large_alloc
 *   _hak_free_overflow(p)    a heap's block: free_to_heap (heap.h); class 0:
 *                            bad pointer; a new thread: _hak_thread_init,
 *                            the block goes back at once; else
 *                            _hak_tc_overflow (a batch goes back)
 *   _hak_free_suspect(p)     p carries the free mark: double free, or the
 *                            program's bytes matched it
 *   _hak_free_slow(p)        NULL; counted frees (stats/trace); a heap's
 *                            large block; large; foreign
 *   _hak_realloc(p)          a heap's block: _hak_heap_realloc (it stays in
 *                            its heap)
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "counters.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "options.h"

#include <errno.h>
#include <string.h>

/* ---- malloc slow path ---------------------------------------------------- */

void *_hak_class_alloc(unsigned cls)
{
    hak_tc_ref_t *tc = hak_tc_self();
    void *p = hak_tc_pop(tc, cls);
    if (HAK_LIKELY(p != NULL)) return p;
    if (HAK_UNLIKELY(tc->state == HAK_TC_NEW)) {
        _hak_thread_init();
        /* Set-up may have allocated into this very list. */
        if ((p = hak_tc_pop(tc, cls)) != NULL) return p;
    }
    /* Every 64th refill: the large tier's idle memory goes back on time
     * even when the program makes no more large calls (a clock read). */
    if (HAK_UNLIKELY((++tc->refills & 63) == 0)) _hak_large_idle_tick();
    if ((p = _hak_tc_refill(cls)) != NULL) return p;
    /* Arena exhausted or absent (no span to refill from): the large tier
     * still serves, with the alignment a block of this class has (aligned
     * requests rely on it). */
    size_t size = _hak_cls_size[cls];
    return _hak_large_alloc(size, size & -size, false);
}

void *_hak_malloc_slow(size_t n)
{
    if (HAK_UNLIKELY(_hak_tc_sample_every) && n <= HAK_GUARD_MAX &&
        _hak_tc_sample_now(n > HAK_TINY_MAX)) {
        void *p = _hak_guard_alloc(n);
        if (p != NULL) return p;
    }
    if (n <= HAK_MID_MAX - HAK_DEBUG_EXTRA) return _hak_class_alloc(hak_class_of(n + HAK_DEBUG_EXTRA));
    _hak_runtime_init();
    return _hak_large_alloc(n < SIZE_MAX ? n + HAK_DEBUG_EXTRA : n, 16, false);
}

/* ---- free slow paths ----------------------------------------------------- */

/* A heap's block (unit id HAK_HEAP_CLS + class), for which the free fast
 * path found the thread's stack full (a heap id's always is): pushed on
 * the calling thread's cache of its heap if that is attached (heap.h),
 * else handed to the heap's slow path. */
static HAK_NOINLINE void free_to_heap_slow(void *p, const char *what)
{
    if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
    _hak_heap_free(p, what);
}

/* Only tail calls: no stack frame on the way to the push. */
HAK_INLINE void free_to_heap(void *p, const char *what, size_t id)
{
#if HAK_DEBUG
    /* What the thread stack's push does for the default heap's blocks. */
    _hak_debug_mark_free(p, what);
    _hak_debug_freed(p);
#endif
    hak_tc_ref_t *tc = hak_tc_self();
    uint32_t slot = _hak_heap_unit_slot[((uintptr_t)p - _hak_arena_base) >> HAK_UNIT_SHIFT];
    hak_heap_tc_t *c = (hak_heap_tc_t *)(uintptr_t)tc->heap_ways[slot & (HAK_HEAP_WAYS - 1)];
    if (HAK_LIKELY(hak_heap_tc_slot(c) == slot)) {
        hak_heap_tc_push_id(c, id, p);
        return;
    }
    free_to_heap_slow(p, what);
}

static HAK_NOINLINE void free_overflow_default(void *p, const char *what, unsigned cls)
{
    if (HAK_UNLIKELY(cls == 0)) _hak_fatal_ptr(what, "invalid pointer", p);
    if (HAK_UNLIKELY(hak_tc_self()->state == HAK_TC_NEW)) {
        /* A thread that has never allocated frees what others allocated.
         * Kept here, the block would be its next malloc of the class, on a
         * cache line that the block's allocator still uses for its
         * neighbours (passive false sharing): it goes back to its span,
         * which its allocator owns and refills from, and this thread's
         * mallocs get a span of their own. */
        _hak_thread_init();
        _hak_tc_overflow(cls, p, what);
        _hak_tc_flush_class(cls);
        return;
    }
    _hak_tc_overflow(cls, p, what);
}

void _hak_free_overflow(void *p, const char *what, size_t c)
{
    if (hak_class_is_heap((unsigned)c)) free_to_heap(p, what, c);
    else free_overflow_default(p, what, (unsigned)c);
}

void _hak_free_suspect(void *p, const char *what)
{
    if (hak_class_is_heap(hak_class_at(p))) {
        if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
        _hak_heap_free_suspect(p, what);
        return;
    }
    if (_hak_block_is_free(p)) _hak_fatal_ptr(what, "double free", p);
    /* Otherwise the program's own bytes matched the mark: a live block. */
    hak_tc_push_unchecked(hak_tc_self(), hak_class_at(p), p, _hak_key, what);
}

static void route_count(enum hak_route r, const void *p)
{
    _hak_stat_add(&_hak_g_stats.route[r], 1);
    int64_t sample = _hak_option(HAK_OPT_ROUTE_SAMPLE);
    if (sample > 0) {
        hak_tc_ref_t *tc = hak_tc_self();
        if (tc->sampled[r] < sample) {
            tc->sampled[r]++;
            _hak_write_str(2, "hakmem: free route ");
            _hak_write_str(2, _hak_route_name(r));
            _hak_write_str(2, " ");
            _hak_write_hex(2, (uint64_t)(uintptr_t)p);
            _hak_write_str(2, "\n");
        }
    }
}

/* An arena address reaches here when the fast path's block-start test did
 * not pass: a pointer into a block or between blocks (refused here, with
 * the exact test, so that it never reaches a list), a block of a span
 * longer than a unit (the test cannot tell those; they are pushed from
 * here), a new thread's free (its tests are all 0 until set-up), or every
 * free, with HAKMEM_STATS or the route trace on: the fast window is then
 * closed on purpose so that each is counted, with the route it takes (the
 * thread's stack: tiny_fast or mid_fast). Otherwise a block that the fast
 * path should have taken (a one-unit span's, freed by a set-up thread with
 * the window open) is counted as slab_lookup, so that a fast path that
 * stops running shows. */
static void free_arena_slow(void *p, const char *what)
{
    if (HAK_UNLIKELY(!_hak_span_block_start(p))) _hak_fatal_ptr(what, "invalid pointer", p);
    unsigned cls = hak_class_at(p);
    if (HAK_UNLIKELY(_hak_g_count_calls)) {
        if (hak_class_is_heap(cls)) {
            route_count(HAK_ROUTE_HEAP, p);
        } else {
            route_count(hak_class_is_tiny(cls) ? HAK_ROUTE_TINY_FAST : HAK_ROUTE_MID_FAST, p);
            if (hak_span_of(p)->last_tc != hak_tc_addr()) route_count(HAK_ROUTE_REMOTE, p);
            _hak_stat_add(&_hak_g_stats.class_frees[cls], 1);
        }
    } else if (_hak_cls_free_test[cls][0] != 0 && _hak_fast_size != 0 &&
               hak_tc_self()->state == HAK_TC_ACTIVE) {
        route_count(HAK_ROUTE_SLAB_LOOKUP, p);
    }
    hak_tc_push(hak_tc_self(), cls, p, what);
}

void _hak_free_slow(void *p, const char *what)
{
    if (p == NULL) {
        if (_hak_g_count_calls) route_count(HAK_ROUTE_NULL, p);
        return;
    }
    if (hak_in_arena(p)) {
        free_arena_slow(p, what);
        return;
    }
    /* A heap's large block first: the large tier alone would free it
     * behind its heap's back. */
    if (_hak_heap_large_free(p, what) || _hak_large_free(p)) {
        if (_hak_g_count_calls) route_count(HAK_ROUTE_LARGE, p);
        return;
    }
    if (_hak_guard_owns(p)) {
        _hak_guard_free(p, what);
        return;
    }
    _hak_fatal_ptr(what, "invalid pointer", p);
}

/* ---- helpers of the entry points ---------------------------------------- */

size_t _hak_usable(const void *p, const char *what)
{
    if (hak_in_arena(p)) {
        /* A block's start, any offset into one refused (the exact test). */
        if (!_hak_span_block_start(p)) _hak_fatal_ptr(what, "invalid pointer", p);
        if (HAK_UNLIKELY(hak_block_is_free_any(p))) _hak_fatal_ptr(what, "block already freed", p);
        return _hak_cls_size[hak_class_at(p)];
    }
    if (_hak_guard_owns(p)) return _hak_guard_usable(p, what);
    size_t n = _hak_large_usable(p, what);
    if (n == 0) _hak_fatal_ptr(what, "invalid pointer", p);
    return n;
}

void *_hak_alloc_aligned(size_t size, size_t align, bool zero)
{
    if (align <= 16) {
        void *p = hak_tc_malloc(size);
        if (p && zero) memset(p, 0, size);
        if (p == NULL) errno = ENOMEM;
        return p;
    }
    unsigned cls = _hak_class_aligned(size, align);
    if (cls != 0) {
        void *p = hak_tc_class_malloc(cls);
        if (p == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        HAK_ASSERT(((uintptr_t)p & (align - 1)) == 0);
        HAK_VG_ALLOC(p, size, 0);
        HAK_DEBUG_ALLOC(p, size);
        if (zero) memset(p, 0, size);
        return p;
    }
    _hak_runtime_init();
    void *p = _hak_large_alloc(size, align, zero);
    HAK_VG_ALLOC(p, size, zero);
    HAK_DEBUG_ALLOC(p, size);
    return p;
}

void *_hak_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > HAK_MID_MAX) {
        _hak_runtime_init();
        /* Fresh mappings are zero already: no memset of untouched pages. */
        void *p = _hak_large_alloc(total, 16, true);
        HAK_VG_ALLOC(p, total, 1);
        HAK_DEBUG_ALLOC(p, total);
        return p;
    }
    void *p = hak_tc_malloc(total);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return memset(p, 0, total);
}

#if HAK_VG_ACTIVE
void _hak_vg_alloc(void *p, size_t n, int zero)
{
    if (p == NULL) return;
    size_t usable = _hak_usable(p, "malloc");
    VALGRIND_MALLOCLIKE_BLOCK(p, n ? n : 1, 0, zero);
    if (usable > n && n > 0) VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, usable - n);
}

/* The size memcheck knows for a block: its accessible prefix (the tail past
 * the request was made inaccessible above). GET_VBITS reports nothing, so
 * probing is silent; a binary search over the usable size. */
static size_t vg_request_size(const void *p, size_t usable)
{
    size_t lo = 0, hi = usable; /* bytes [0, lo) accessible; [hi, usable) not */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        unsigned char vbits;
        if (VALGRIND_GET_VBITS((const char *)p + mid - 1, &vbits, 1) == 3) hi = mid - 1;
        else lo = mid;
    }
    return lo;
}
#endif

/* Moves a block, keeping align; the old one is freed only on success. */
static void *realloc_move(void *p, size_t old_usable, size_t n, size_t align)
{
    void *q = _hak_alloc_aligned(n, align, false);
    if (q == NULL) return NULL;
#if HAK_VG_ACTIVE
    /* Copy only what memcheck lets the program use, not the whole block. */
    if (HAK_VG_RUNNING()) old_usable = vg_request_size(p, old_usable);
#endif
    memcpy(q, p, old_usable < n ? old_usable : n);
    hak_tc_free(p);
    return q;
}

/* p belongs to a first-class heap: its realloc keeps it there. */
static bool heap_block(const void *p)
{
    if (hak_in_arena(p)) return hak_class_is_heap(hak_class_at(p));
    return _hak_heap_large_owner(p) != 0;
}

static void *realloc_body(void *p, size_t n, size_t align);

#if HAK_DEBUG
void _hak_debug_alloc(void *p, size_t n)
{
    if (p == NULL) return;
    if (hak_in_arena(p)) _hak_debug_arena_request(p, n);
    else if (!_hak_guard_owns(p)) _hak_large_debug_request(p, n);
}

void _hak_debug_unrequest(void *p, const char *what)
{
    if (hak_in_arena(p)) _hak_debug_arena_unrequest(p, what);
    else if (!_hak_guard_owns(p)) _hak_large_debug_unrequest(p, what);
}
#endif

/* The debug build checks the old padding first and gives the block (moved
 * or not) its new request's. */
void *_hak_realloc(void *p, size_t n, size_t align)
{
#if HAK_DEBUG
    _hak_debug_unrequest(p, "realloc");
    void *q = realloc_body(p, n, align);
    HAK_DEBUG_ALLOC(q, n);
    return q;
#else
    return realloc_body(p, n, align);
#endif
}

static void *realloc_body(void *p, size_t n, size_t align)
{
    if (HAK_UNLIKELY(heap_block(p))) {
        if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
        /* It tells valgrind about the move itself (heap.c). */
        return _hak_heap_realloc(0, p, n, align, "realloc");
    }
    size_t usable = _hak_usable(p, "realloc");
    /* Under valgrind every realloc moves, so memcheck's idea of the block's
     * size is always the size asked for. */
    if (HAK_VG_RUNNING()) return realloc_move(p, usable, n, align);
    if (hak_in_arena(p)) {
        /* Stay if it fits and would not waste more than half the block. */
        if (n <= usable && (n >= usable / 2 || usable <= 16)) return p;
        /* Growing: at least a quarter more, so a buffer that grows by small
         * steps moves less often (the new block is still a class block, at
         * most one class larger than asked). */
        if (n > usable && n - usable < usable / 4 && usable + usable / 4 <= HAK_MID_MAX)
            return realloc_move(p, usable, usable + usable / 4, align);
        return realloc_move(p, usable, n, align);
    }
    if (_hak_guard_owns(p) || (n <= HAK_MID_MAX / 2 && align <= 16))
        return realloc_move(p, usable, n, align);
    if (n <= usable && n >= usable / 2) return p;
    void *q = _hak_large_realloc(p, n);
    if (q != NULL) return q;
    return realloc_move(p, usable, n, align);
}
