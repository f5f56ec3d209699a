/* tcache.h: the thread cache and the malloc/free fast paths.
 *
 * Each thread has one list of free blocks per size class, in thread-local
 * storage: that is the whole front end.
 *
 *   malloc(n <= 1 KiB)   class = table[(n+15)/16]; head marked free? pop it
 *                        otherwise -> _hak_malloc_slow (empty: refill a batch)
 *   free(p)              in the arena and 16-aligned? (one sub, rotate, cmp)
 *                        class = SuperSlab header byte of p's unit
 *                        push; room < 0 -> _hak_free_overflow
 *                        otherwise -> _hak_free_slow (NULL, large, foreign)
 * No lock, no atomic, no lookup table on either. A block freed by another
 * thread than its allocator simply joins the freeing thread's list; lists
 * that overflow return a batch to the class's shared pool (central.c), where
 * the allocating thread finds it again in the span its group owns, so memory stays
 * bounded. A new thread's first free (room 0) is always of another thread's
 * block: that one goes back at once (tcache.c, _hak_free_overflow).
 */
#ifndef HAK_TCACHE_H
#define HAK_TCACHE_H

#include "platform.h"
#include "sizeclass.h"
#include "superslab.h"
#include "block.h"
#include "vg.h"

/* Per class: the head of the thread's list and its room, where room = cap -
 * blocks on the list, cap being the class's cap for a live thread and 0 for
 * class 0, a thread not yet set up, and a dying thread. Counting down to
 * below zero makes the free path's test one decrement. Heads and rooms are
 * separate arrays so that both are indexed by the class with a scaled
 * address (no multiply or shift on the fast paths). An empty list points at
 * _hak_tc_end, a block that never carries the free mark: malloc's test of
 * the mark then also tells an empty list, and needs no NULL test. The TLS
 * image holds those pointers, so a new thread starts with empty lists and
 * room 0, and that is what makes an initialisation check needless: its first
 * malloc finds the end block and its first free overflows a room of 0, and
 * both slow paths set the thread up. */
typedef struct hak_tcache {
    void *head[HAK_NCLASS];
    int32_t room[HAK_NCLASS];
    /* slow-path fields */
    uint32_t state;
    uint32_t sampled[8];
    /* The span group it refills Tiny classes from (tcache.c, central.c). */
    uint32_t group;
    /* Bit c: this thread has refilled Tiny class c, so it allocates it. */
    uint32_t allocates;
    /* The most blocks the next refill of each class takes (0: not yet). */
    uint16_t batch[HAK_NCLASS];
} hak_tcache_t;
_Static_assert(HAK_FIRST_MID <= 32, "one bit per Tiny class");

enum hak_tc_state { HAK_TC_NEW = 0, HAK_TC_ACTIVE, HAK_TC_DYING };

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TLS __attribute__((tls_model("initial-exec")))
#else
#define HAK_TLS
#endif

HAK_HIDDEN extern __thread hak_tcache_t _hak_tc HAK_TLS;
HAK_HIDDEN extern const uint64_t _hak_tc_end[2];
#define HAK_TC_END ((void *)_hak_tc_end)

/* The calling thread's cache. In the initial-exec build on x86-64 it is
 * reached through %fs with the offset from the GOT: one load, where
 * &_hak_tc costs that load plus a load of the thread pointer and an add.
 * Every access to head and room goes through this one pointer type, so the
 * compiler never sees the same bytes under two address spaces. */
#if defined(HAK_TLS_INITIAL_EXEC) && defined(__x86_64__) && defined(__SEG_FS) && \
    !defined(__STRICT_ANSI__) && !defined(__clang__)
#define HAK_TC_SEG 1
typedef __seg_fs hak_tcache_t hak_tc_ref_t;
HAK_INLINE hak_tc_ref_t *hak_tc_self(void)
{
    uintptr_t off;
    __asm__("movq _hak_tc@gottpoff(%%rip), %0" : "=r"(off));
    return (hak_tc_ref_t *)off;
}
#else
#define HAK_TC_SEG 0
typedef hak_tcache_t hak_tc_ref_t;
HAK_INLINE hak_tc_ref_t *hak_tc_self(void) { return &_hak_tc; }
#endif

/* NULL only with errno = ENOMEM. */
HAK_HIDDEN void *_hak_malloc_slow(size_t n);
HAK_HIDDEN void _hak_free_slow(void *p);
/* p: the block whose push took room[class of p] below zero. */
HAK_HIDDEN void _hak_free_overflow(void *p);
HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_list_corrupt(const void *p);
/* Aborts if p is free already (on a thread list or its span's free list);
 * otherwise pushes it as hak_tc_push would. */
HAK_HIDDEN void _hak_free_suspect(void *p);

/* Takes the head block, whose mark says it is free: unmark it, room++. */
HAK_INLINE void *hak_tc_take(hak_tc_ref_t *tc, unsigned c, void *p)
{
    tc->head[c] = hak_block_next(p);
    hak_block_unmark(p);
    tc->room[c]++;
#if HAK_DEBUG
    _hak_debug_mark_live(p, "malloc");
#endif
    return p;
}

/* Pop for the slow paths: NULL when the list is empty. A block on a list
 * without the mark was written after it was freed, or the list was
 * corrupted (a link overwritten by an overflow, a block freed twice): stop
 * before handing it out. */
HAK_INLINE void *hak_tc_pop(hak_tc_ref_t *tc, unsigned c)
{
    void *p = tc->head[c];
    if (HAK_UNLIKELY(!hak_block_marked(p))) {
        if (p == HAK_TC_END) return NULL;
        _hak_list_corrupt(p);
    }
    return hak_tc_take(tc, c, p);
}

/* Push without the double-free test (the suspect path's second half). */
HAK_INLINE void hak_tc_push_unchecked(hak_tc_ref_t *tc, size_t c, void *p)
{
#if HAK_DEBUG
    _hak_debug_mark_free(p, "free");
#endif
    hak_block_set_next(p, tc->head[c]);
    hak_block_mark(p);
    tc->head[c] = p;
#if HAK_TC_SEG
    /* gcc does not fold the room's offset into a flag-setting decrement
     * through %fs (it spends an add on the index): spelled out. */
    __asm__ goto("subl $1, %%fs:%c2(%0,%1,4)\n\tjs %l[overflow]"
                 : : "r"(tc), "r"(c), "i"(offsetof(hak_tcache_t, room))
                 : "cc", "memory" : overflow);
    return;
overflow:
    _hak_free_overflow(p);
#else
    if (HAK_UNLIKELY(--tc->room[c] < 0)) _hak_free_overflow(p);
#endif
}

/* Push: a block that already carries the free mark may be a double free
 * (block.h); _hak_free_suspect decides and pushes, out of line, as a tail
 * call so that the fast path needs no stack frame. The slow paths take p
 * alone and find its class again, which leaves the fast path's registers
 * free. */
HAK_INLINE void hak_tc_push(hak_tc_ref_t *tc, size_t c, void *p)
{
    if (HAK_UNLIKELY(hak_block_marked(p))) {
        _hak_free_suspect(p);
        return;
    }
    hak_tc_push_unchecked(tc, c, p);
}

/* The head of an empty list fails the mark test like a corrupted one: the
 * slow path tells them apart (hak_tc_pop). */
HAK_INLINE void *hak_tc_malloc_raw(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX)) {
        hak_tc_ref_t *tc = hak_tc_self();
        unsigned c = hak_class_tiny(n);
        void *p = tc->head[c];
        if (HAK_LIKELY(hak_block_marked(p))) return hak_tc_take(tc, c, p);
    }
    return _hak_malloc_slow(n);
}

/* A block of at least n bytes for the program (vg.h: registered with
 * valgrind in the builds that do that). */
HAK_INLINE void *hak_tc_malloc(size_t n)
{
#if HAK_VG_ACTIVE
    void *p = hak_tc_malloc_raw(n);
    HAK_VG_ALLOC(p, n, 0);
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

HAK_INLINE void hak_tc_free(void *p)
{
    HAK_VG_FREE(p);
    if (HAK_LIKELY(hak_window_hit(p, _hak_fast_base, _hak_fast_size16))) {
        hak_tc_push(hak_tc_self(), hak_class_at(p), p);
        return;
    }
    _hak_free_slow(p);
}

/* A block of class cls for the aligned and mid paths (slow path). */
HAK_HIDDEN void *_hak_class_alloc(unsigned cls);

/* A block of class c (aligned requests): the malloc fast path without the
 * size-to-class step. NULL only with errno = ENOMEM. */
HAK_INLINE void *hak_tc_class_malloc(unsigned c)
{
    hak_tc_ref_t *tc = hak_tc_self();
    void *p = tc->head[c];
    if (HAK_LIKELY(hak_block_marked(p))) return hak_tc_take(tc, c, p);
    return _hak_class_alloc(c);
}

/* An aligned request that a class serves, from the thread's list: NULL when
 * it takes more (no class, or an empty list), and then the caller goes on
 * to _hak_alloc_aligned; errno is not touched. */
HAK_INLINE void *hak_aligned_fast(size_t size, size_t align)
{
    unsigned c = hak_class_aligned_fast(size, align);
    hak_tc_ref_t *tc = hak_tc_self();
    void *p = tc->head[c]; /* class 0's list is always empty */
    if (HAK_UNLIKELY(!hak_block_marked(p))) return NULL;
    p = hak_tc_take(tc, c, p);
    HAK_VG_ALLOC(p, size, 0);
    return p;
}
/* p (a block of the arena) is free: on this thread's list or its span's. */
HAK_HIDDEN bool _hak_block_is_free(const void *p);
/* Returns every block the calling thread caches. */
HAK_HIDDEN void _hak_tc_flush_all(void);
/* Bytes of class cls in the calling thread's list. */
HAK_HIDDEN uint64_t _hak_tc_cached_bytes(unsigned cls);
HAK_HIDDEN void _hak_tc_after_fork_child(void);
HAK_HIDDEN void _hak_tc_thread_exit(void *arg);

#endif
