/* tcache.h: the thread cache: one list of free blocks per size class, in
 * thread-local storage, and its out-of-line operations (tcache.c).
 *
 * The malloc and free fast paths that use it are in alloc.h; this layer
 * knows nothing of process start-up (init.c sets the process up before a
 * thread's first refill and activates each thread's cache).
 *
 * A block freed by another thread than its allocator simply joins the
 * freeing thread's list; lists that overflow return a batch to the class's
 * shared pool (central.c), where the allocating thread finds it again in the
 * span its group owns, so memory stays bounded.
 */
#ifndef HAK_TCACHE_H
#define HAK_TCACHE_H

#include "platform.h"
#include "block.h"
#include "sizeclass.h"
#include "superslab.h"
#include "vg.h"
/* Per class: the head of the thread's list and its room, where room = cap -
 * blocks on the list, cap being the class's cap for a live thread and 0 for
 * class 0, a thread not yet set up, and a dying thread. Counting down to
 * below zero makes the free path's test one decrement. Heads and rooms are
 * separate arrays so that both are indexed by the class with a scaled
 * address (no multiply or shift on the fast paths). An empty list points at
 * _hak_tc_end, a block whose link never decodes (block.h): malloc's test of
 * the link then also tells an empty list, and needs no NULL test. The TLS
 * image holds those pointers, so a new thread starts with empty lists and
 * room 0, and that is what makes an initialisation check needless: its first
 * malloc finds the end block and its first free overflows a room of 0, and
 * both slow paths set the thread up. */
#define HAK_TC_HEAP_WAYS 8
/* What every heap way of a new thread points at: read as a heap cache
 * (heap.h) it is attached to no heap (handle 0, slot UINT32_MAX). */
HAK_HIDDEN extern const uint64_t _hak_tc_heap_none[2];

typedef struct hak_tcache {
    /* Indexed by a unit's id (sizeclass.h): the heap ids' rooms are always
     * 0, so a heap block's free overflows at once into the slow path, which
     * hands it to its heap (alloc.c); their heads are scratch, written by
     * that push and never read as lists. */
    void *head[HAK_CLASS_IDS];
    int32_t room[HAK_CLASS_IDS];
    /* _hak_cls_free_test (sizeclass.h), copied at set-up: the free fast
     * path reads it through the thread pointer it already holds, with the
     * index it already has, as operands of the multiply and the compare (no
     * table address to load; two arrays indexed as room is, since a [c][2]
     * array makes gcc spend an lea on the index). All 0 until set-up: a new
     * thread's frees take the slow path. */
    uint32_t free_magic[HAK_CLASS_IDS], free_limit[HAK_CLASS_IDS];
    /* The thread's caches of first-class heaps (heap.h owns them; opaque
     * here), beside the lists so that one reach of the thread's state
     * serves a heap block's free. An unused way points at
     * _hak_tc_heap_none, a cache attached to no heap. */
    const void *heap_ways[HAK_TC_HEAP_WAYS];
    /* slow-path fields */
    uint32_t state;
    uint32_t sampled[8];
    /* The span group it refills Tiny classes from (tcache.c, central.c). */
    uint32_t group;
    /* Bit c: this thread has refilled Tiny class c, so it allocates it. */
    uint32_t allocates;
    /* The most blocks the next refill of each class takes (0: not yet). */
    uint16_t batch[HAK_NCLASS];
    /* Blocks on each list as last told to the central pool (the stats'
     * count of every thread's cache, tcache.c). */
    uint16_t told[HAK_NCLASS];
    /* Guarded sampling (guard.h): mallocs to go before the next sampled
     * one, and the generator of the intervals. */
    uint32_t sample_left;
    /* A whole list that overflowed, kept for the next refill of its class
     * (tcache.c): its length, 0 when none. */
    void *spill[HAK_NCLASS];
    uint16_t spill_n[HAK_NCLASS];
    /* Bit c: class c's list is a spill taken back, not yet overflowed. */
    uint64_t respilled;
    /* Refills, counted for the large tier's idle check (alloc.c). */
    uint32_t refills;
    uint64_t sample_seed;
    /* The dlopen-safe build's caches live outside TLS (below, tcache.c):
     * the kernel id of the thread that owns this one (0: none), whether it
     * is on the queue of retired caches, the next there, and the next of
     * all caches. */
    long owner_tid;
    uint32_t pool_queued;
    struct hak_tcache *pool_next, *pool_all_next;
} hak_tcache_t;
_Static_assert(HAK_FIRST_MID <= 32, "one bit per Tiny class");
_Static_assert(HAK_NCLASS <= 64, "one respilled bit per class");

enum hak_tc_state { HAK_TC_NEW = 0, HAK_TC_ACTIVE, HAK_TC_DYING };

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TLS __attribute__((tls_model("initial-exec")))
#else
#define HAK_TLS
#endif

HAK_HIDDEN extern const uint64_t _hak_tc_end[2];
#define HAK_TC_END ((void *)_hak_tc_end)

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TC_INDIRECT 0
HAK_HIDDEN extern __thread hak_tcache_t _hak_tc HAK_TLS;

/* The calling thread's cache. In the initial-exec build on x86-64 it is
 * reached through %fs with the offset from the GOT: one load, where
 * &_hak_tc costs that load plus a load of the thread pointer and an add.
 * Every access to head and room goes through this one pointer type, so the
 * compiler never sees the same bytes under two address spaces. */
#if defined(__x86_64__) && defined(__SEG_FS) && !defined(__STRICT_ANSI__) && !defined(__clang__)
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
/* The cache's address, the same for the thread's whole life; as a plain
 * pointer (the heap ways, which heap.c reaches through their addresses). */
HAK_INLINE const void *hak_tc_id(void) { return &_hak_tc; }
HAK_INLINE hak_tcache_t *hak_tc_addr(void) { return &_hak_tc; }

#else
/* The dlopen-safe build (libhakmem_api). A library loaded by dlopen gets
 * its TLS in glibc's static surplus only if it fits there (512 bytes by
 * default); the cache (3 KiB) does not, and every access would then go
 * through __tls_get_addr's descriptor (_dl_tlsdesc_dynamic: 6% of
 * `bench_cpython.py strings` under hakmem.pymem.install()). So this
 * build's TLS is one pointer, which fits and costs one %fs load through
 * its descriptor, to a cache from a pool (tcache.c). A thread's first call
 * finds it NULL and attaches a cache, initialised as a new thread's TLS
 * would be: everything after that is as in the initial-exec build. */
#define HAK_TC_INDIRECT 1
#define HAK_TC_SEG 0
typedef hak_tcache_t hak_tc_ref_t;
HAK_HIDDEN extern __thread hak_tcache_t *_hak_tcp;
HAK_HIDDEN HAK_COLD hak_tcache_t *_hak_tc_attach(void);
HAK_INLINE hak_tc_ref_t *hak_tc_self(void)
{
    hak_tcache_t *tc = _hak_tcp;
    if (HAK_UNLIKELY(tc == NULL)) tc = _hak_tc_attach();
    return tc;
}
HAK_INLINE const void *hak_tc_id(void) { return hak_tc_self(); }
HAK_INLINE hak_tcache_t *hak_tc_addr(void) { return hak_tc_self(); }
#endif

HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_list_corrupt(const void *p);

/* Takes the head block p, whose link decoded to next without a fault:
 * unmark it, room++. */
HAK_INLINE void *hak_tc_take(hak_tc_ref_t *tc, unsigned c, void *p, uintptr_t next)
{
    tc->head[c] = (void *)next;
#if HAK_DEBUG
    /* Live before unmarked: a neighbour's check (superslab.c) that finds
     * the block not live then finds its mark too. */
    _hak_debug_mark_live(p, "malloc");
#endif
    hak_block_unmark(p);
    tc->room[c]++;
    return p;
}

/* Pop for the slow paths: NULL when the list is empty. A link that does
 * not decode (block.h) was overwritten after its block was freed (a write
 * after free, an overflow from the block before it): stop before
 * following it. The end block's link decodes as bad too, so the fast
 * paths' single test also tells an empty list; this tells them apart. */
HAK_INLINE void *hak_tc_pop(hak_tc_ref_t *tc, unsigned c)
{
    void *p = tc->head[c];
    uintptr_t next = hak_block_link(p);
    if (HAK_UNLIKELY(hak_link_bad(next))) {
        if (p == HAK_TC_END) return NULL;
        _hak_list_corrupt(p);
    }
    return hak_tc_take(tc, c, p, next);
}

/* ---- tcache.c ------------------------------------------------------------ */

/* At start-up: class caps from the per-class byte budget, span groups from
 * the CPU count; sample_every: guarded sampling's N (0: off). */
HAK_HIDDEN void _hak_tc_init(uint64_t tcache_bytes, uint32_t sample_every);
/* Guarded sampling's N, 0 when off: a slow path's only cost when off. */
HAK_HIDDEN extern uint32_t _hak_tc_sample_every;
/* Counts a malloc that reached the slow path without a refill (mid is
 * true: a Mid size, which always comes here); true if it is to be sampled. */
HAK_HIDDEN bool _hak_tc_sample_now(bool mid);
/* Makes a new thread's cache live (caps, a span group); the process must
 * be set up. */
HAK_HIDDEN void _hak_tc_activate(void);
/* The thread is exiting: every list back to the central pool, its group
 * left, caps 0 so that later frees go straight back. */
HAK_HIDDEN void _hak_tc_retire(void);
/* A block of class cls off a refilled list, or NULL (arena full). */
HAK_HIDDEN void *_hak_tc_refill(unsigned cls);
/* The list of cls overflowed (room < 0): a batch goes back. */
HAK_HIDDEN void _hak_tc_overflow(unsigned cls);
/* The whole list of cls goes back. */
HAK_HIDDEN void _hak_tc_flush_class(unsigned cls);
/* p (a block of the arena) is free: on this thread's list or its span's. */
HAK_HIDDEN bool _hak_block_is_free(const void *p);
/* (false for a first-class heap's block: alloc.h's hak_block_is_free_any
 * asks its heap.) */
/* Returns every block the calling thread caches, and the groups' spans. */
HAK_HIDDEN void _hak_tc_flush_all(void);
/* Blocks of class cls on the calling thread's list beyond what it last told
 * the central pool (the caller's own share of the stats' cached count). */
HAK_HIDDEN int64_t _hak_tc_untold(unsigned cls);
HAK_HIDDEN void _hak_tc_after_fork_child(void);
/* The thread is gone from hakmem's point of view (its key destructor ran,
 * after _hak_tc_retire): in the dlopen-safe build its cache goes back to
 * the pool once the kernel no longer knows the thread. */
HAK_HIDDEN void _hak_tc_release(void);

#endif
