/* tcache.h: the thread cache and the malloc/free fast paths.
 *
 * Each thread has one list of free blocks per size class (a "bin"), in
 * thread-local storage: that is the whole front end. The bins start zeroed
 * (head NULL, room 0), which is what makes an initialisation check needless:
 * a new thread's first malloc finds an empty list and its first free
 * overflows a room of 0, and both slow paths set the thread up.
 *
 *   malloc(n <= 1 KiB)   class = table[(n+15)/16]; pop bins[class];
 *                        empty -> _hak_malloc_slow (refill a batch)
 *   free(p)              in the arena and 16-aligned? (one sub, rotate, cmp)
 *                        class = SuperSlab header byte of p's unit
 *                        push bins[class]; room < 0 -> _hak_free_overflow
 *                        otherwise -> _hak_free_slow (NULL, large, foreign)
 * No lock, no atomic, no lookup table on either. A block freed by another
 * thread than its allocator simply joins the freeing thread's list; lists
 * that overflow return a batch to the class's shared pool (central.c), where
 * the allocating thread finds it again in the span it owns, so memory stays
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

/* room = cap - blocks on the list, where cap is the class's cap for a live
 * thread and 0 for class 0, a thread not yet set up, and a dying thread.
 * Counting down to below zero makes the free path's test one decrement. */
typedef struct hak_bin {
    void *head;
    int32_t room;
    uint32_t unused_;
} hak_bin_t;

enum hak_tc_state { HAK_TC_NEW = 0, HAK_TC_ACTIVE, HAK_TC_DYING };

typedef struct hak_tcache {
    hak_bin_t bins[HAK_NCLASS];
    /* slow-path fields */
    uint32_t state;
    uint32_t sampled[8];
    /* The span group it refills Tiny classes from (tcache.c, central.c). */
    uint32_t group;
    /* Bit c: this thread has refilled Tiny class c, so it allocates it. */
    uint32_t allocates;
} hak_tcache_t;
_Static_assert(HAK_FIRST_MID <= 32, "one bit per Tiny class");

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TLS __attribute__((tls_model("initial-exec")))
#else
#define HAK_TLS
#endif

HAK_HIDDEN extern __thread hak_tcache_t _hak_tc HAK_TLS;

/* NULL only with errno = ENOMEM. */
HAK_HIDDEN void *_hak_malloc_slow(size_t n);
HAK_HIDDEN void _hak_free_slow(void *p);
HAK_HIDDEN void _hak_free_overflow(hak_bin_t *b);
HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_list_corrupt(const void *p);
/* Aborts if p is free already (on a thread list or its span's free list);
 * otherwise pushes it as hak_bin_push would. */
HAK_HIDDEN void _hak_free_suspect(hak_bin_t *b, void *p);

/* Pop: load head, check and clear its free mark, load next, store head,
 * room++. A block on a list without the mark was written after it was
 * freed, or the list was corrupted (a link overwritten by an overflow, a
 * block freed twice): stop before handing it out. */
HAK_INLINE void *hak_bin_pop(hak_bin_t *b)
{
    void *p = b->head;
    if (HAK_LIKELY(p != NULL)) {
        if (HAK_UNLIKELY(!hak_block_marked(p))) _hak_list_corrupt(p);
        b->head = hak_block_next(p);
        hak_block_unmark(p);
        b->room++;
#if HAK_DEBUG
        _hak_debug_mark_live(p, "malloc");
#endif
    }
    return p;
}

/* Push without the double-free test (the suspect path's second half). */
HAK_INLINE void hak_bin_push_unchecked(hak_bin_t *b, void *p)
{
#if HAK_DEBUG
    _hak_debug_mark_free(p, "free");
#endif
    hak_block_set_next(p, b->head);
    hak_block_mark(p);
    b->head = p;
    if (HAK_UNLIKELY(--b->room < 0)) _hak_free_overflow(b);
}

/* Push: a block that already carries the free mark may be a double free
 * (block.h); _hak_free_suspect decides and pushes, out of line, as a tail
 * call so that the fast path needs no stack frame. */
HAK_INLINE void hak_bin_push(hak_bin_t *b, void *p)
{
    /* Keeps b in one register: without this gcc computes the TLS address
     * twice, once for each exit. */
    __asm__("" : "+r"(b));
    if (HAK_UNLIKELY(hak_block_marked(p))) {
        _hak_free_suspect(b, p);
        return;
    }
    hak_bin_push_unchecked(b, p);
}

HAK_INLINE void *hak_tc_malloc_raw(size_t n)
{
    if (HAK_LIKELY(n <= HAK_TINY_MAX)) {
        void *p = hak_bin_pop(&_hak_tc.bins[hak_class_tiny(n)]);
        if (HAK_LIKELY(p != NULL)) return p;
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
        hak_bin_push(&_hak_tc.bins[hak_class_at(p)], p);
        return;
    }
    _hak_free_slow(p);
}

/* A block of class cls for the aligned and mid paths (slow path). */
HAK_HIDDEN void *_hak_class_alloc(unsigned cls);
/* p (a block of the arena) is free: on this thread's list or its span's. */
HAK_HIDDEN bool _hak_block_is_free(const void *p);
/* Returns every block the calling thread caches. */
HAK_HIDDEN void _hak_tc_flush_all(void);
/* Bytes of class cls in the calling thread's list. */
HAK_HIDDEN uint64_t _hak_tc_cached_bytes(unsigned cls);
HAK_HIDDEN void _hak_tc_after_fork_child(void);
HAK_HIDDEN void _hak_tc_thread_exit(void *arg);

#endif
