/* alloc.h: the malloc and free fast paths, and the helpers that the public
 * entry points share (hakmem.c: hak_*, wrap.c: the standard names).
 *
 *   malloc(n <= 1 KiB)   class = table[(n+15)/16]; top of its stack marked
 *                        free? take it; otherwise -> _hak_malloc_slow
 *                        (empty: refill a batch)
 *   free(p)              in the arena, a block's start? (sub, cmp; multiply)
 *                        class = SuperSlab header byte of p's unit
 *                        room on the stack? push; else -> _hak_free_overflow
 *                        otherwise -> _hak_free_slow (NULL, large, foreign)
 * No lock, no atomic, no lookup table on either, and no initialisation
 * check: a new thread has no stacks (tcache.h), so its first malloc and
 * its first free both fall into a slow path here, which sets the process
 * and the thread up (init.c). A new thread's first free is always of
 * another thread's block: that one goes back at once.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include "platform.h"
#include "block.h"
#include "sizeclass.h"
#include "superslab.h"
#include "tcache.h"
#include "heap.h"
#include "vg.h"

/* ---- slow paths (alloc.c) ------------------------------------------------- */

/* The debug build serves one byte more than asked (malloc, calloc, the
 * aligned calls up to 16 and realloc's moves; the guarded pool excepted,
 * whose blocks end at their guard page), so that every block has padding
 * past its request: a one-byte overflow of a request that would fill its
 * class lands on the padding's canary, not in the next block. The usable
 * size is then the next class's. */
#define HAK_DEBUG_EXTRA ((size_t)(HAK_DEBUG ? 1 : 0))

#if HAK_VG_ACTIVE
/* p (n bytes asked for) goes to the program; zero: known to read 0. The
 * rest of the block up to its usable size becomes inaccessible, so an
 * overrun past the request is reported. */
HAK_HIDDEN void _hak_vg_alloc(void *p, size_t n, int zero);
#define HAK_VG_ALLOC(p, n, zero) _hak_vg_alloc((p), (n), (zero))
#else
#define HAK_VG_ALLOC(p, n, zero) ((void)0)
#endif

#if HAK_DEBUG
/* p (NULL, an arena, large or guarded block) goes to the program for n
 * bytes: the debug build fills its padding past n with a canary, which
 * free and realloc check (superslab.h, large.h). */
HAK_HIDDEN void _hak_debug_alloc(void *p, size_t n);
#define HAK_DEBUG_ALLOC(p, n) _hak_debug_alloc((p), (n))
/* p's padding is checked and dropped before realloc or a usable-size query
 * (the program may then use every usable byte). */
HAK_HIDDEN void _hak_debug_unrequest(void *p, const char *what);
#else
#define HAK_DEBUG_ALLOC(p, n) ((void)0)
#endif

/* NULL only with errno = ENOMEM. */
HAK_HIDDEN void *_hak_malloc_slow(size_t n);
/* what: the entry point, for messages ("free", "hak_free", ...). */
HAK_HIDDEN void _hak_free_slow(void *p, const char *what);
/* p: the block that found the stack of c (its unit's id) full. */
HAK_HIDDEN void _hak_free_overflow(void *p, const char *what, size_t c);
/* Aborts if p is free already (on the thread's stack or its span's bits);
 * otherwise pushes it as hak_tc_push would. */
HAK_HIDDEN void _hak_free_suspect(void *p, const char *what);
/* A block of class cls for the aligned and mid paths (slow path). */
HAK_HIDDEN void *_hak_class_alloc(unsigned cls);

/* ---- fast paths ------------------------------------------------------------ */

/* Push without the double-free test (the suspect path's second half);
 * key: _hak_key, read once. */
HAK_INLINE void hak_tc_push_unchecked(hak_tc_ref_t *tc, size_t c, void *p, uint64_t key,
                                      const char *what)
{
#if HAK_TC_SEG && !HAK_DEBUG && __GNUC__ >= 11
    /* Spelled out: gcc computes the index's address once with an lea and
     * then addresses both arrays through it. */
    void **t;
    __asm__ goto("mov %%fs:%c[top](%[tc],%[c],8), %[t]\n\t"
                 "cmp %%fs:%c[lim](%[tc],%[c],8), %[t]\n\t"
                 "je %l[full]"
                 : [t] "=&r"(t)
                 : [tc] "r"(tc), [c] "r"(c), [top] "i"(offsetof(hak_tcache_t, top)),
                   [lim] "i"(offsetof(hak_tcache_t, lim))
                 : "cc", "memory"
                 : full);
    hak_block_mark_k(p, key);
    *t = p;
    tc->top[c] = t + 1;
    return;
full:
    _hak_free_overflow(p, what, c);
#else
    void **t = tc->top[c];
    if (HAK_UNLIKELY(t == tc->lim[c])) {
        _hak_free_overflow(p, what, c);
        return;
    }
#if HAK_DEBUG
    _hak_debug_mark_free(p, what);
#endif
    hak_block_mark_k(p, key);
    *t = p;
    tc->top[c] = t + 1;
#if HAK_DEBUG
    _hak_debug_freed(p);
#endif
#endif
}

/* Push: a block that already carries the free mark may be a double free
 * (block.h); _hak_free_suspect decides and pushes, out of line. */
HAK_INLINE void hak_tc_push(hak_tc_ref_t *tc, size_t c, void *p, const char *what)
{
    uint64_t key = _hak_key;
    if (HAK_UNLIKELY(hak_block_marked_k(p, key))) {
        _hak_free_suspect(p, what);
        return;
    }
    hak_tc_push_unchecked(tc, c, p, key, what);
}

/* An empty stack's top slot is the end block, which fails the mark test
 * like a corrupted block: the slow path tells them apart (hak_tc_pop). */
HAK_INLINE void *hak_tc_malloc_raw(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX - HAK_DEBUG_EXTRA)) {
        hak_tc_ref_t *tc = hak_tc_self();
        unsigned c = hak_class_tiny(n + HAK_DEBUG_EXTRA);
#if HAK_TC_SEG && __GNUC__ >= 11
        /* Spelled out so that the block lands in the return register and
         * the mark is compared in memory: left to itself gcc loads the
         * block elsewhere and spends a move. */
        void **t;
        void *p;
        __asm__ goto("mov %%fs:%c[top](%[tc],%[c],8), %[t]\n\t"
                     "mov -8(%[t]), %[p]\n\t"
                     "cmp %[key], %c[moff](%[p])\n\t"
                     "jne %l[slow]"
                     : [t] "=&r"(t), [p] "=&a"(p)
                     : [tc] "r"(tc), [c] "r"((size_t)c), [top] "i"(offsetof(hak_tcache_t, top)),
                       [key] "r"((uint32_t)_hak_key), [moff] "i"(HAK_MARK_OFF)
                     : "cc", "memory"
                     : slow);
        return hak_tc_take(tc, c, t, p);
#else
        void **t = tc->top[c];
        void *p = t[-1];
        if (HAK_LIKELY(hak_block_marked(p))) return hak_tc_take(tc, c, t, p);
#endif
    }
#if HAK_TC_SEG && __GNUC__ >= 11
slow:
#endif
    return _hak_malloc_slow(n);
}

/* A block of at least n bytes for the program (vg.h: registered with
 * valgrind in the builds that do that). */
HAK_INLINE void *hak_tc_malloc(size_t n)
{
#if HAK_VG_ACTIVE || HAK_DEBUG
    void *p = hak_tc_malloc_raw(n);
    HAK_VG_ALLOC(p, n, 0);
    HAK_DEBUG_ALLOC(p, n);
    return p;
#else
    return hak_tc_malloc_raw(n);
#endif
}

/* sub, rotate, compare: true exactly for 16-aligned addresses in the window. */
HAK_INLINE bool hak_window_hit(const void *p, uintptr_t base, uintptr_t size16)
{
    return hak_rotr((uintptr_t)p - base, 4) < size16;
}

/* The window's offset also indexes the class table (superslab.h), and its
 * low 16 bits are the offset in the unit (the arena is unit-aligned). */
/* what names the entry point in messages; a constant, it costs only the
 * slow paths' branches an address load. */
/* The fast path alone: true if p was a block's start in the open window
 * and went on the thread's stack (or to a slow path of the push); false,
 * with nothing read but the class table, for everything else. */
HAK_INLINE bool hak_tc_free_fast(void *p, const char *what)
{
    uintptr_t off = (uintptr_t)p - _hak_fast_base;
    if (HAK_LIKELY(off < _hak_fast_size)) {
        size_t c = _hak_unit_cls[off >> HAK_UNIT_SHIFT];
        hak_tc_ref_t *tc = hak_tc_self();
        /* A block's start, or the slow path: an interior pointer (any
         * offset) never reaches a stack, so it is never handed out over a
         * live block. The test's pass implies 16-alignment. */
        if (HAK_LIKELY(hak_unit_block_start(tc->free_magic[c], tc->free_limit[c], (uintptr_t)p))) {
            hak_tc_push(tc, c, p, what);
            return true;
        }
    }
    return false;
}

HAK_INLINE void hak_tc_free_as(void *p, const char *what)
{
    HAK_VG_FREE(p);
    if (HAK_LIKELY(hak_tc_free_fast(p, what))) return;
    _hak_free_slow(p, what);
}

HAK_INLINE void hak_tc_free(void *p) { hak_tc_free_as(p, "free"); }

/* A block of class c (aligned requests): the malloc fast path without the
 * size-to-class step. NULL only with errno = ENOMEM. */
HAK_INLINE void *hak_tc_class_malloc(unsigned c)
{
    hak_tc_ref_t *tc = hak_tc_self();
    void **t = tc->top[c];
    void *p = t[-1];
    if (HAK_LIKELY(hak_block_marked(p))) return hak_tc_take(tc, c, t, p);
    return _hak_class_alloc(c);
}

/* An aligned request that a class serves, from the thread's stack: NULL when
 * it takes more (no class, or an empty stack), and then the caller goes on
 * to _hak_alloc_aligned; errno is not touched. */
HAK_INLINE void *hak_aligned_fast(size_t size, size_t align)
{
    unsigned c = hak_class_aligned_fast(size, align);
    hak_tc_ref_t *tc = hak_tc_self();
    void **t = tc->top[c]; /* class 0's stack is always empty */
    void *p = t[-1];
    if (HAK_UNLIKELY(!hak_block_marked(p))) return NULL;
    p = hak_tc_take(tc, c, t, p);
    HAK_VG_ALLOC(p, size, 0);
    HAK_DEBUG_ALLOC(p, size);
    return p;
}
/* p, a block's start in the arena, is free: on the default heap's stacks or,
 * for a first-class heap's block, on its heap's (heap.c). */
HAK_INLINE bool hak_block_is_free_any(const void *p)
{
    return hak_class_is_heap(hak_class_at(p)) ? _hak_heap_block_is_free(p) : _hak_block_is_free(p);
}

/* ---- helpers of the entry points (alloc.c) -------------------------------- */

/* Usable size; aborts naming `what` for a pointer hakmem did not hand out. */
HAK_HIDDEN size_t _hak_usable(const void *p, const char *what);
/* NULL with errno=ENOMEM on failure. */
HAK_HIDDEN void *_hak_alloc_aligned(size_t size, size_t align, bool zero);
HAK_HIDDEN void *_hak_calloc(size_t n, size_t size);
/* p non-NULL, n > 0; NULL (p intact) on failure. */
HAK_HIDDEN void *_hak_realloc(void *p, size_t n, size_t align);

#endif
