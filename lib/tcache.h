/* tcache.h: the thread cache: one stack of free blocks' addresses per size
 * class, reached from thread-local storage, and its out-of-line operations
 * (tcache.c).
 *
 * The malloc and free fast paths that use it are in alloc.h; this layer
 * knows nothing of process start-up (init.c sets the process up before a
 * thread's first refill and activates each thread's cache).
 *
 * A block freed by another thread than its allocator simply joins the
 * freeing thread's stack; stacks that fill up return their older half to
 * the class's shared pool (central.c), where the allocating thread finds it
 * again in the span its group owns, so memory stays bounded.
 */
#ifndef HAK_TCACHE_H
#define HAK_TCACHE_H

#include "platform.h"
#include "block.h"
#include "sizeclass.h"
#include "superslab.h"
#include "vg.h"
/* Per class, a stack of the addresses of free blocks, in memory the thread
 * takes at set-up (tcache.c): bot <= top <= lim, malloc takes top[-1], free
 * stores at top. Why addresses, not a list linked through the blocks:
 * malloc reads no link out of a block (a chain of loads, each waiting for
 * the block's cache line: half of a malloc+free pair's time, and most of a
 * flush's, which walked cold blocks), and nothing a write after free puts
 * in a block can steer malloc. The slot under every stack holds the
 * address of _hak_tc_end, a block that never carries the free mark:
 * malloc's test of the mark (block.h) then also tells an empty stack, with
 * no compare against bot. Arrays of one field each, indexed by the class
 * with a scaled address (no multiply or shift on the fast paths). A thread
 * without stacks (not set up, dying, class 0, a heap's id) has every
 * pointer at _hak_tc_nostack + 1: empty for malloc, full for free. The TLS
 * image holds those, so a new thread needs no initialisation check: its
 * first malloc finds the end block and its first free a full stack, and
 * both slow paths set the thread up. */
#define HAK_TC_HEAP_WAYS 8
/* What every heap way of a new thread points at: read as a heap cache
 * (heap.h) it is attached to no heap (handle 0, slot UINT32_MAX). */
HAK_HIDDEN extern const uint64_t _hak_tc_heap_none[2];

typedef struct hak_tcache {
    /* Indexed by a unit's id (sizeclass.h): a heap id's stack is always
     * full, so a heap block's free goes at once to the slow path, which
     * hands it to its heap (alloc.c). */
    void **top[HAK_CLASS_IDS];
    void **bot[HAK_CLASS_IDS];
    void **lim[HAK_CLASS_IDS];
    /* _hak_cls_free_test (sizeclass.h), copied at set-up: the free fast
     * path reads it through the thread pointer it already holds, with the
     * index it already has, as operands of the multiply and the compare (no
     * table address to load; two arrays indexed as room is, since a [c][2]
     * array makes gcc spend an lea on the index). All 0 until set-up: a new
     * thread's frees take the slow path. */
    uint32_t free_magic[HAK_CLASS_IDS], free_limit[HAK_CLASS_IDS];
    /* The thread's caches of first-class heaps (heap.h owns them; opaque
     * here), beside the stacks so that one reach of the thread's state
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
    /* Blocks on each stack as last told to the central pool (the stats'
     * count of every thread's cache, tcache.c). */
    uint16_t told[HAK_NCLASS];
    /* Guarded sampling (guard.h): mallocs to go before the next sampled
     * one, and the generator of the intervals. */
    uint32_t sample_left;
    /* The stacks' storage (NULL: none), from tcache.c's pool. */
    void **stack;
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

enum hak_tc_state { HAK_TC_NEW = 0, HAK_TC_ACTIVE, HAK_TC_DYING };

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TLS __attribute__((tls_model("initial-exec")))
#else
#define HAK_TLS
#endif

HAK_HIDDEN extern const uint64_t _hak_tc_end[2];
#define HAK_TC_END ((void *)_hak_tc_end)
/* Where every stack of a thread without stacks points (its slot 0 holds
 * the end block): empty and full. */
HAK_HIDDEN extern void *_hak_tc_nostack[2];

#if defined(HAK_TLS_INITIAL_EXEC)
#define HAK_TC_INDIRECT 0
HAK_HIDDEN extern __thread hak_tcache_t _hak_tc HAK_TLS;

/* The calling thread's cache. In the initial-exec build on x86-64 it is
 * reached through %fs with the offset from the GOT: one load, where
 * &_hak_tc costs that load plus a load of the thread pointer and an add.
 * Every access to the stacks' pointers goes through this one pointer type, so the
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
/* The cache's address as a plain pointer, the same for the thread's whole
 * life: its identity (the route trace, the exit key), and the heap ways,
 * which heap.c reaches through their addresses. */
HAK_INLINE hak_tcache_t *hak_tc_addr(void) { return &_hak_tc; }

#else
/* The dlopen-safe build (libhakmem_api). A library loaded by dlopen gets
 * static TLS (reached with one load from %fs) only from glibc's static
 * surplus, about 1.5 KiB shared by every such library (glibc 2.36); the
 * cache (3 KiB) would not fit, and every access through a TLS descriptor
 * to dynamic TLS went through _dl_tlsdesc_dynamic (6% of `bench_cpython.py
 * strings` under hakmem.pymem.install()). So this build's TLS is one
 * pointer to a cache from a pool (tcache.c). A thread's first call finds
 * it NULL and attaches a cache, initialised as a new thread's TLS would
 * be: everything after that is as in the initial-exec build.
 * The pointer itself is initial-exec: with it the library's whole TLS
 * block (it, and heap.c's one-byte visit token) takes 16 bytes of the
 * surplus. Reached through its descriptor instead, every fast path paid
 * the descriptor's call and a stack frame for it, and
 * hakmem.pymem.install() ran 2.9% slower (bench_cpython.py, 8 workloads,
 * geomean). Should the surplus be full, dlopen refuses the library
 * ("cannot allocate memory in static TLS block"); HAK_TCP_DYNAMIC builds
 * the variant with a descriptor (libhakmem_api_dyn), which the Python
 * package loads then and the SWIG modules and the Rust crate always use. */
#define HAK_TC_INDIRECT 1
#define HAK_TC_SEG 0
typedef hak_tcache_t hak_tc_ref_t;
#if defined(HAK_TCP_DYNAMIC)
#define HAK_TCP_TLS
#else
#define HAK_TCP_TLS __attribute__((tls_model("initial-exec")))
#endif
HAK_HIDDEN extern __thread hak_tcache_t *_hak_tcp HAK_TCP_TLS;
HAK_HIDDEN HAK_COLD hak_tcache_t *_hak_tc_attach(void);
HAK_INLINE hak_tc_ref_t *hak_tc_self(void)
{
    hak_tcache_t *tc = _hak_tcp;
    if (HAK_UNLIKELY(tc == NULL)) tc = _hak_tc_attach();
    return tc;
}
HAK_INLINE hak_tcache_t *hak_tc_addr(void) { return hak_tc_self(); }
#endif

HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_list_corrupt(const void *p);

/* Takes p, the marked block below t. */
HAK_INLINE void *hak_tc_take(hak_tc_ref_t *tc, unsigned c, void **t, void *p)
{
    tc->top[c] = t - 1;
#if HAK_VG_ACTIVE
    /* A live block's address left in a slot would make valgrind call a
     * leaked block reachable. */
    t[-1] = NULL;
#endif
#if HAK_DEBUG
    _hak_debug_mark_live(p, "malloc");
#endif
    hak_block_unmark(p);
    return p;
}

/* Pop for the slow paths: NULL when the stack is empty (the slot under
 * every stack holds the end block, which never carries the mark). A block
 * without the mark was written over after its free (or overflowed into),
 * or freed twice with its mark wiped in between: stop. */
HAK_INLINE void *hak_tc_pop(hak_tc_ref_t *tc, unsigned c)
{
    void **t = tc->top[c];
    void *p = t[-1];
    if (HAK_UNLIKELY(!hak_block_marked(p))) {
        if (p == HAK_TC_END) return NULL;
        _hak_list_corrupt(p);
    }
    return hak_tc_take(tc, c, t, p);
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
/* The thread is exiting: every stack back to the central pool, its group
 * left, its stacks gone so that later frees go straight back. */
HAK_HIDDEN void _hak_tc_retire(void);
/* A block of class cls off a refilled stack, or NULL (arena full). */
HAK_HIDDEN void *_hak_tc_refill(unsigned cls);
/* p (marked) did not fit on the full stack of cls: a batch goes back and p
 * is pushed; a thread without a stack gives p back at once. */
HAK_HIDDEN void _hak_tc_overflow(unsigned cls, void *p, const char *what);
/* The whole stack of cls goes back. */
HAK_HIDDEN void _hak_tc_flush_class(unsigned cls);
/* p (a block of the arena) is free: on this thread's stack or its span's. */
HAK_HIDDEN bool _hak_block_is_free(const void *p);
/* (false for a first-class heap's block: alloc.h's hak_block_is_free_any
 * asks its heap.) */
/* Returns every block the calling thread caches, and the groups' spans. */
HAK_HIDDEN void _hak_tc_flush_all(void);
/* Blocks of class cls on the calling thread's stack beyond what it last
 * told the central pool (the caller's own share of the stats' cached count). */
HAK_HIDDEN int64_t _hak_tc_untold(unsigned cls);
HAK_HIDDEN void _hak_tc_after_fork_child(void);


#endif
