/* superslab.h: the arena, SuperSlabs and slabs (spans).
 *
 * At start hakmem reserves one large range of address space, the arena
 * (read-write, MAP_NORESERVE: untouched pages cost nothing). The arena is cut
 * into SuperSlabs of 2 MiB, 2 MiB-aligned. A SuperSlab is 32 units of 64 KiB;
 * unit 0 holds the header below, units 1..31 are handed out in runs ("spans",
 * the slabs) that each hold blocks of one size class.
 *
 * From any block address, in O(1):
 *   _hak_unit_cls[(addr - arena) >> 16]        the size class (0: not a block;
 *                                              HAK_HEAP_CLS + c: a heap's span)
 *   ss   = addr & ~(2 MiB - 1)                 the header
 *   unit = (addr >> 16) & 31                   which 64 KiB unit
 *   ss->span[ss->unit_head[unit]]              the slab's metadata
 * The class table is flat, one byte per unit of the whole arena, so that
 * free() finds the class from the offset its arena test computed anyway
 * (one shift and one load; a byte in the SuperSlab's header cost four more
 * instructions to address). It is static, 4 MiB for the largest arena,
 * and only its pages under SuperSlabs in use are ever touched.
 * "Is this hakmem's?" is one subtraction and compare against the arena, so
 * free() can tell its own pointers from anything else before reading memory.
 *
 * Free units are found in O(1): SuperSlabs with free units sit on one list
 * per length of their longest free run, and a bit per list says which are
 * non-empty, so a span of n units comes from the first SuperSlab of the
 * first non-empty list at n or above (one bit scan), never from a walk over
 * the SuperSlabs.
 *
 * Locking: the SuperSlab lock guards unit allocation (this file); the class
 * locks (central.c) guard each span's free bits and counts.
 */
#ifndef HAK_SUPERSLAB_H
#define HAK_SUPERSLAB_H

#include "platform.h"
#include "sizeclass.h"

#define HAK_SS_SHIFT 21
#define HAK_SS_SIZE ((uintptr_t)1 << HAK_SS_SHIFT)
/* Units: HAK_UNIT_SIZE (sizeclass.h). */
#define HAK_UNITS 32
_Static_assert(HAK_UNITS * HAK_UNIT_SIZE == HAK_SS_SIZE, "a SuperSlab is 32 units");

/* Words of free_bits per unit: one bit for each of the 4096 blocks of 16
 * bytes a unit holds, the most of any class. */
#define HAK_BITS_PER_UNIT (HAK_UNIT_SIZE / 16 / 64)
/* DEAD: empty and on no list, about to be released. OWNED: a thread group's
 * span to refill from (central.c), on no list. */
enum hak_span_state { HAK_SPAN_FULL, HAK_SPAN_PARTIAL, HAK_SPAN_EMPTY, HAK_SPAN_DEAD, HAK_SPAN_OWNED };

typedef struct hak_span {
    union {
        /* A first-class heap's span (heap.c): its free blocks, linked
         * through their link field (block.h). */
        void *free;
        /* The default heap's (central.c), whose free blocks are bits of
         * the SuperSlab's free_bits: the first of its words that may hold
         * one, counted from the span's first. */
        uint64_t scan;
    };
    uintptr_t bump, end;  /* the part never handed out yet: carved on demand */
    struct hak_span *next, *prev; /* its class's partial or empty list */
    const void *last_tc;  /* thread cache that last took blocks (route trace) */
    uint32_t nfree;       /* free blocks given back: on the list (heap.c) or set bits (central.c) */
    uint32_t used;        /* blocks handed out: in thread stacks or in use */
    uint8_t cls, units, state;
    /* 0: the default heap's span; else the slot of the first-class heap
     * that owns it (heap.h), whose lists then hold it instead of central's.
     * Set by the heap while no block of the span exists yet. */
    uint32_t heap;
} hak_span_t;
_Static_assert(sizeof(hak_span_t) == 64, "a span's metadata is one cache line");

typedef struct hak_ss {
    /* The arena's list of SuperSlabs whose longest run of free units is
     * `listed` units long (0: on no such list), or the list of purged ones. */
    struct hak_ss *next, *prev;
    uint32_t free_units;  /* bit u set: unit u is free */
    uint32_t listed;
    /* Owned whole by a first-class heap (_hak_ss_own): its units are carved
     * and freed under that heap's lock, and it is never on the lists here. */
    uint32_t owned;
    uint8_t pad_[HAK_CACHE_LINE - 28];
    /* Read by the slow paths: its own cache line, written only when spans change. */
    uint8_t unit_head[HAK_UNITS];
    hak_span_t span[HAK_UNITS];
    /* Bit k of a span's words (hak_span_bits) is set while its k-th block
     * is free on the span (central.c: given back by a flush, not yet taken
     * by a refill). Each unit has 64 words, enough for the 4096 blocks of
     * 16 bytes a unit holds, and a span uses its own units' words, so no
     * word is shared by two spans, and each is read and written under its
     * span's class lock. Bits of every span that is not the default heap's
     * are 0. Page-aligned, a page for each 8 units, so that the page of 8
     * free units can be purged (_hak_span_release): at most 16 KiB a
     * SuperSlab, 0.8% of its memory (a unit of blocks of n bytes uses
     * 64 KiB / n bits of its 4096). */
    _Alignas(4096) uint64_t free_bits[HAK_UNITS * HAK_BITS_PER_UNIT];
#if HAK_DEBUG
    /* One bit per 16-byte granule: set while a block starting there is handed
     * out to the program. Catches every double free and foreign free. */
    _Atomic uint64_t live_bits[HAK_SS_SIZE / 16 / 64];
    /* Set while the block starting there carries a tail canary (block.h):
     * a live block's padding past its request, or a free block's tail. */
    _Atomic uint64_t tail_bits[HAK_SS_SIZE / 16 / 64];
#endif
} hak_ss_t;

_Static_assert(sizeof(hak_ss_t) <= HAK_UNIT_SIZE, "SuperSlab header must fit unit 0");

/* The largest arena the class table covers (HAKMEM_ARENA_SIZE is clamped). */
#define HAK_ARENA_MAX ((uintptr_t)256 << 30)
/* Class of every 64 KiB unit of the arena, by (addr - arena base) >> 16. */
HAK_HIDDEN extern uint8_t _hak_unit_cls[HAK_ARENA_MAX >> HAK_UNIT_SHIFT];

/* The free fast path's window onto the arena: addr - base < size is true
 * exactly for addresses inside the arena (the block-start test that follows
 * refuses the rest). Both are 0 until the arena exists, and size stays 0
 * when every free is to be counted (HAKMEM_STATS, HAKMEM_FREE_ROUTE_TRACE),
 * which sends frees to the slow path. */
HAK_HIDDEN extern uintptr_t _hak_fast_base;
HAK_HIDDEN extern uintptr_t _hak_fast_size;
/* The window the fast path is meant to use, even while it is closed. */
HAK_HIDDEN extern uintptr_t _hak_window_base;
HAK_HIDDEN extern uintptr_t _hak_window_size16;
/* The arena itself, whatever the window says. */
HAK_HIDDEN extern uintptr_t _hak_arena_base;
HAK_HIDDEN extern uintptr_t _hak_arena_size;

HAK_INLINE bool hak_in_arena(const void *p)
{
    return (uintptr_t)p - _hak_arena_base < _hak_arena_size;
}
HAK_INLINE hak_ss_t *hak_ss_of(const void *p)
{
    return (hak_ss_t *)((uintptr_t)p & ~(HAK_SS_SIZE - 1));
}
HAK_INLINE unsigned hak_unit_of(const void *p)
{
    return (unsigned)(((uintptr_t)p >> HAK_UNIT_SHIFT) & (HAK_UNITS - 1));
}
/* Class of the unit holding p (p must be inside the arena). */
HAK_INLINE unsigned hak_class_at(const void *p)
{
    return _hak_unit_cls[((uintptr_t)p - _hak_arena_base) >> HAK_UNIT_SHIFT];
}
HAK_INLINE hak_span_t *hak_span_of(const void *p)
{
    hak_ss_t *ss = hak_ss_of(p);
    return &ss->span[ss->unit_head[hak_unit_of(p)]];
}
HAK_INLINE uintptr_t hak_span_start(const hak_span_t *s)
{
    uintptr_t ss = (uintptr_t)s & ~(HAK_SS_SIZE - 1);
    unsigned idx = (unsigned)(s - ((const hak_ss_t *)ss)->span);
    return ss + ((uintptr_t)idx << HAK_UNIT_SHIFT);
}
/* The span's words of free_bits: bit g of word w stands for its block
 * number 64 w + g. */
HAK_INLINE uint64_t *hak_span_bits(hak_span_t *s)
{
    hak_ss_t *ss = (hak_ss_t *)((uintptr_t)s & ~(HAK_SS_SIZE - 1));
    return &ss->free_bits[(size_t)(s - ss->span) * HAK_BITS_PER_UNIT];
}
/* A span on a doubly linked list of spans (its class's partial or empty
 * list, central.c; a heap's, heap.c). */
HAK_INLINE void hak_span_list_push(hak_span_t **list, hak_span_t *s)
{
    s->prev = NULL;
    s->next = *list;
    if (*list) (*list)->prev = s;
    *list = s;
}
HAK_INLINE void hak_span_list_remove(hak_span_t **list, hak_span_t *s)
{
    if (s->prev) s->prev->next = s->next;
    else *list = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* True if p is the start of a block of a live span (the exact check, with a
 * division: slow paths and debug builds only). */
HAK_HIDDEN bool _hak_span_block_start(const void *p);

/* Reserves the arena (once): size bytes, or (0) 256 GiB or a quarter of
 * RLIMIT_AS, halved until the kernel agrees. false if none could be had. */
HAK_HIDDEN bool _hak_arena_init(uint64_t size);
/* Opens the free fast path's window (after the options are known). */
HAK_HIDDEN void _hak_arena_open_fast_window(bool open);
/* A new span of class cls (or heap id HAK_HEAP_CLS + class), its memory
 * zero or purged, or NULL (arena full). */
HAK_HIDDEN hak_span_t *_hak_span_new(unsigned cls);
/* Gives the span's units back; purges its memory. */
HAK_HIDDEN void _hak_span_release(hak_span_t *s);
/* ---- SuperSlabs owned whole (first-class heaps, heap.c) ----
 * Carved from the top of the arena down (the default heap's come from the
 * bottom up), so that they stay together, and advised for transparent huge
 * pages: a big heap faults its memory 2 MiB at a time and its destroy
 * purges each SuperSlab in one step. Their owner serialises everything
 * below on one SuperSlab. */
/* A SuperSlab of its own for a heap, all units free, or NULL (arena full). */
HAK_HIDDEN hak_ss_t *_hak_ss_own(void);
/* A span of class id cls in owned ss, or NULL if no run of units fits. */
HAK_HIDDEN hak_span_t *_hak_span_new_in(hak_ss_t *ss, unsigned cls);
/* Gives a span of an owned SuperSlab back to it (purged); its blocks are gone. */
HAK_HIDDEN void _hak_span_release_in(hak_span_t *s);
/* The whole owned SuperSlab back to the arena, every span in it with it,
 * purged in one step (header included): nothing of it stays resident. */
HAK_HIDDEN void _hak_ss_disown(hak_ss_t *ss);
/* Purges SuperSlabs that hold no span at all; returns bytes released. */
HAK_HIDDEN size_t _hak_arena_collect(void);
HAK_HIDDEN void _hak_arena_lock(void);
HAK_HIDDEN void _hak_arena_unlock(void);
HAK_HIDDEN void _hak_arena_reset_lock(void);

#if HAK_DEBUG
/* p is handed out: aborts if it was already, or if its free tail was
 * overwritten while it was free. */
HAK_HIDDEN void _hak_debug_mark_live(void *p, const char *what);
/* p comes back: aborts for a non-block, a double free, a write past its
 * request (its padding), an overflow into the next block (free) or an
 * underflow into the previous one's end. */
HAK_HIDDEN void _hak_debug_mark_free(void *p, const char *what);
/* p, a default-heap block, is on a list (its mark and link written): it
 * gets its free tail, which its next malloc checks and which tells the
 * neighbours' checks that its link is there to read. */
HAK_HIDDEN void _hak_debug_freed(void *p);
/* p (a live arena block) was handed out for n bytes: its padding gets the
 * canary. */
HAK_HIDDEN void _hak_debug_arena_request(void *p, size_t n);
/* p's padding is checked and dropped (realloc may resize it in place,
 * malloc_usable_size lets the program use it all); a no-op for anything
 * but a live arena block with a canary. */
HAK_HIDDEN void _hak_debug_arena_unrequest(void *p, const char *what);
#endif

#endif
