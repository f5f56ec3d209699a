/* heap.h: first-class heaps (hak_heap_*): blocks allocated into a heap from
 * any thread, and the whole heap destroyed at once (heap.c).
 *
 * A heap owns spans of its own, tagged in the unit table with the heap ids
 * HAK_HEAP_CLS + class (sizeclass.h), in a second flat table and in their
 * metadata with the heap's slot (superslab.h), and large blocks of its own (listed by the heap and in
 * a registry, since the large tier keeps no owner). Its spans sit on its
 * own lists, never on central's, so destroying it is a walk over its spans
 * (and large blocks), never over its blocks.
 *
 * Handles. A heap lives in a slot of a table; the handle the program holds
 * is (generation << HAK_HEAP_IDX_BITS) | slot, never a pointer, and a slot's
 * generation moves on when its heap is destroyed. So every entry point can
 * tell a live heap from a destroyed one (or from garbage) by comparing the
 * handle with the slot's, and the slot can be reused at once.
 *
 * Thread caches. Each thread has HAK_HEAP_WAYS caches, chosen by the low bits
 * of the slot (direct-mapped); a cache holds one free list per class for the
 * heap it is attached to, refilled from and flushed to the heap's spans in
 * batches under the heap's lock, as the default heap's thread stacks do with
 * central.c. A cache is keyed by the whole handle: its thread's fast paths
 * compare it with the handle they are given, and a destroyed heap's handle
 * matches no cache, because destroy detaches every cache attached to it
 * (sets its handle to 0, under the heap's lock) before the heap's memory
 * goes: no thread ever pops a block of a destroyed heap, and the blocks
 * left on such a cache are dropped, never read, when the cache is next
 * attached. The slot is what a block's unit records, so a free finds its
 * heap's cache in the calling thread without the handle.
 *
 *   hak_heap_alloc(h, n <= 1 KiB)   cache = ways[h & 7]; cache->handle == h?
 *                                   pop its list of the class (as malloc)
 *                                   otherwise -> _hak_heap_alloc (heap.c)
 *   free(p) of a heap block         the default fast path pushes it on a list
 *                                   with no room (sizeclass.h) and overflows:
 *                                   alloc.c pushes it (hak_heap_tc_push_id) on
 *                                   ways[slot of p's unit & 7] if that is
 *                                   attached to p's heap, else _hak_heap_free
 *   hak_heap_dealloc(h, p)          p's unit carries a heap id and h's slot,
 *                                   the cache is h's: push; else
 *                                   _hak_heap_dealloc (the checks, the aborts)
 */
#ifndef HAK_HEAP_H
#define HAK_HEAP_H

#include "platform.h"
#include "block.h"
#include "sizeclass.h"
#include "superslab.h"
#include "tcache.h"
#include "../include/hakmem.h"

#define HAK_HEAP_IDX_BITS 16
/* Slots; slot 0 is never used, so a span's heap 0 means the default heap. */
#define HAK_HEAP_SLOTS ((uintptr_t)1 << HAK_HEAP_IDX_BITS)
#define HAK_HEAP_IDX_MASK (HAK_HEAP_SLOTS - 1)
#define HAK_HEAP_WAYS HAK_TC_HEAP_WAYS

/* A thread's cache of one heap's free blocks. head/room as in hak_tcache_t
 * (room = cap - blocks on the list; an empty list ends in HAK_TC_END). */
typedef struct hak_heap_tc {
    /* The handle of the heap it is attached to; 0 when none (never
     * attached, detached, or its heap destroyed). Written under that heap's
     * lock, read without it by the owning thread (relaxed atomics). */
    uintptr_t handle;
    /* The slot of that heap while attached; HAK_HEAP_NO_SLOT otherwise. */
    uint32_t slot;
    void *head[HAK_NCLASS];
    int32_t room[HAK_NCLASS];
    /* The most blocks the next refill of each class takes (0: not yet). */
    uint16_t batch[HAK_NCLASS];
    /* Blocks on each list as last told to the heap (its stats). */
    uint16_t told[HAK_NCLASS];
    /* The heap's list of attached caches (under the heap's lock); the
     * free pool's link when no thread has it. */
    struct hak_heap_tc *next, *prev;
} hak_heap_tc_t;
#define HAK_HEAP_NO_SLOT UINT32_MAX
/* _hak_tc_heap_none (tcache.h) reads as a cache attached to nothing. */
_Static_assert(offsetof(hak_heap_tc_t, handle) == 0 && offsetof(hak_heap_tc_t, slot) == 8,
               "the unused ways' cache");
#define HAK_HEAP_TC_NONE ((hak_heap_tc_t *)(uintptr_t)_hak_tc_heap_none)

/* The slot of the heap whose span holds each 64 KiB unit of the arena,
 * indexed as _hak_unit_cls (superslab.h) and meaningful only where that
 * says a heap id: free() finds a heap block's heap in one load. */
HAK_HIDDEN extern uint16_t _hak_heap_unit_slot[HAK_ARENA_MAX >> HAK_UNIT_SHIFT];
_Static_assert(HAK_HEAP_IDX_BITS <= 16, "a slot fits the unit table");

/* The calling thread's cache in the way of a slot (or handle): in its
 * thread state beside the default heap's lists (tcache.h); an unused way
 * points at HAK_HEAP_TC_NONE, so the fast paths need no NULL test. */
HAK_INLINE hak_heap_tc_t *hak_heap_way(uintptr_t slot_or_handle)
{
    return (hak_heap_tc_t *)(uintptr_t)hak_tc_self()->heap_ways[slot_or_handle & (HAK_HEAP_WAYS - 1)];
}

HAK_INLINE uintptr_t hak_heap_tc_handle(const hak_heap_tc_t *c)
{
    return __atomic_load_n(&c->handle, __ATOMIC_RELAXED);
}
HAK_INLINE uint32_t hak_heap_tc_slot(const hak_heap_tc_t *c)
{
    return __atomic_load_n(&c->slot, __ATOMIC_RELAXED);
}

/* Takes the head block p of class cls, whose link decoded to next. (Classes
 * are size_t on the fast paths: an index the width of an address folds
 * into the addressing mode.) */
HAK_INLINE void *hak_heap_tc_take(hak_heap_tc_t *c, size_t cls, void *p, uintptr_t next)
{
    c->head[cls] = (void *)next;
    hak_block_unmark(p);
    c->room[cls]++;
#if HAK_DEBUG
    _hak_debug_mark_live(p, "hak_heap_alloc");
#endif
    return p;
}

/* A block of class cls off cache c, or NULL when its list is empty (or
 * corrupt: the slow path tells them apart). */
HAK_INLINE void *hak_heap_tc_pop_fast(hak_heap_tc_t *c, size_t cls)
{
    void *p = c->head[cls];
    uintptr_t next = hak_block_link(p);
    /* The mask from memory (block.h): a test with a memory operand. */
    if (HAK_UNLIKELY((next & _hak_link_bad) != 0)) return NULL;
    return hak_heap_tc_take(c, cls, p, next);
}

/* The list of cls overflowed: a batch goes back to the heap (heap.c). */
HAK_HIDDEN void _hak_heap_tc_overflow(hak_heap_tc_t *c, unsigned cls);

/* Pushes p (a block of class cls of c's heap, checked by the caller: not
 * marked free, debug live bit already cleared). */
HAK_INLINE void hak_heap_tc_push(hak_heap_tc_t *c, size_t cls, void *p)
{
    uint64_t key = _hak_key;
    hak_block_mark_k(p, key);
    hak_block_set_next_k(p, c->head[cls], key);
    c->head[cls] = p;
    if (HAK_UNLIKELY(--c->room[cls] < 0)) _hak_heap_tc_overflow(c, (unsigned)cls);
}

/* The same push by a unit's heap id (HAK_HEAP_CLS + class): the offset
 * folds into the addressing, no subtraction. */
HAK_INLINE void hak_heap_tc_push_id(hak_heap_tc_t *c, size_t id, void *p)
{
    /* Addresses computed as integers (id >= HAK_HEAP_CLS: inside c). */
    void **head = (void **)((uintptr_t)c + offsetof(hak_heap_tc_t, head) +
                            (id - HAK_HEAP_CLS) * sizeof(void *));
    int32_t *room = (int32_t *)((uintptr_t)c + offsetof(hak_heap_tc_t, room) +
                                (id - HAK_HEAP_CLS) * sizeof(int32_t));
    uint64_t key = _hak_key;
    hak_block_mark_k(p, key);
    hak_block_set_next_k(p, *head, key);
    *head = p;
    if (HAK_UNLIKELY(--*room < 0)) _hak_heap_tc_overflow(c, (unsigned)(id - HAK_HEAP_CLS));
}

/* ---- heap.c ---------------------------------------------------------------- */

/* At start-up: caches hold up to tcache_bytes per class, as the default
 * heap's thread stacks do. */
HAK_HIDDEN void _hak_heap_init(uint64_t tcache_bytes);
/* A new heap's handle, or 0 with errno = ENOMEM. */
HAK_HIDDEN uintptr_t _hak_heap_new(void);
/* Every check and tier behind hak_heap_alloc(_zeroed) (`what` names the call
 * in an abort): the handle, the alignment (NULL/EINVAL), a class block from
 * the calling thread's cache (refilled), or a large block. NULL with errno
 * ENOMEM when memory cannot be had. */
HAK_HIDDEN void *_hak_heap_alloc(uintptr_t h, size_t size, size_t align, bool zero,
                                 const char *what);
/* p is a slab block of a heap (its unit carries a heap id), not marked free:
 * it goes on the calling thread's cache of its heap (free, from any route). */
HAK_HIDDEN void _hak_heap_free(void *p, const char *what);
/* p, a heap's slab block, carries the free mark: aborts naming `what` if it
 * is free indeed, else (the program's bytes matched the mark) frees it. */
HAK_HIDDEN void _hak_heap_free_suspect(void *p, const char *what);
/* hak_heap_dealloc's checks and push: aborts unless p is a live block of h. */
HAK_HIDDEN void _hak_heap_dealloc(uintptr_t h, void *p, const char *what);
/* Live heap large blocks in the process: 0 lets the large paths skip the
 * registry. */
HAK_HIDDEN extern _Atomic uint64_t _hak_heap_large_live;
/* The slot of the heap that owns large block p, or 0 (none). */
HAK_HIDDEN uint32_t _hak_heap_large_owner(const void *p);
/* If p is a live large block of a heap: frees it and returns true
 * (`what`: the entry point, for messages). */
HAK_HIDDEN bool _hak_heap_large_free(void *p, const char *what);
/* Resizes p, a block of heap h (h 0: of whichever heap owns p, for the
 * malloc family's realloc), keeping align; the new block is of the same
 * heap. NULL with errno (p intact) on failure. Aborts naming `what` if p is
 * not a live block of that heap. */
HAK_HIDDEN void *_hak_heap_realloc(uintptr_t h, void *p, size_t size, size_t align,
                                   const char *what);
/* p (a heap's slab block) is free: on the calling thread's cache or its span. */
HAK_HIDDEN bool _hak_heap_block_is_free(const void *p);
HAK_HIDDEN int _hak_heap_visit(uintptr_t h, int (*fn)(void *, size_t, void *), void *arg);
HAK_HIDDEN void _hak_heap_collect(uintptr_t h);
/* hak_collect: the calling thread's heap caches and every heap's empty spans. */
HAK_HIDDEN size_t _hak_heap_collect_all(void);
HAK_HIDDEN int _hak_heap_stats(uintptr_t h, struct hak_stats *out, size_t size);
HAK_HIDDEN void _hak_heap_destroy(uintptr_t h);
/* The thread is exiting: its caches go back to their heaps. */
HAK_HIDDEN void _hak_heap_thread_exit(void);
HAK_HIDDEN void _hak_heap_lock_all(void);
HAK_HIDDEN void _hak_heap_unlock_all(void);
HAK_HIDDEN void _hak_heap_reset_locks(void);

#endif
