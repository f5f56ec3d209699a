/* counters.h: process-wide counters, declared once; every tier adds to them.
 *
 * The bottom half of the statistics (the report, report.c, is the top half:
 * it reads these and asks each tier for what only the tier knows).
 * Fast paths never touch these. Slow paths (refill, flush, OS calls, large
 * blocks) always count, with relaxed atomics. Per-call counts (frees by route,
 * by class) exist only when HAKMEM_STATS=1 or HAKMEM_FREE_ROUTE_TRACE=1: then
 * free() is sent down its slow path, which counts and then does what the fast
 * path would have done (alloc.c), so a release build pays nothing for a
 * disabled statistic. Mallocs per class are derived at read time: a block
 * that is neither free nor cached was malloc'd (mallocs = frees + in use).
 */
#ifndef HAK_COUNTERS_H
#define HAK_COUNTERS_H

#include "platform.h"

#include <stdatomic.h>

/* The routes a free can take (HAKMEM_FREE_ROUTE_TRACE); names in counters.c. */
enum hak_route {
    HAK_ROUTE_TINY_FAST,
    HAK_ROUTE_MID_FAST,
    HAK_ROUTE_SLAB_LOOKUP,
    HAK_ROUTE_REMOTE,
    HAK_ROUTE_LARGE,
    HAK_ROUTE_NULL,
    HAK_ROUTE_HEAP, /* a first-class heap's block, to its heap (heap.h) */
    HAK_ROUTE_COUNT
};

/* "tiny_fast", ...; "?" for an unknown route. */
HAK_HIDDEN const char *_hak_route_name(unsigned r);

#define HAK_STATS_MAX_CLASSES 64

struct hak_gstats {
    _Atomic uint64_t os_maps, os_unmaps, os_purges;
    _Atomic uint64_t refills, flushes;
    /* committed: made resident for hakmem's use (spans, headers, large
     * blocks); mapped: mappings made to hold memory at once (direct large
     * blocks, tables); reserved: address space held for later (the arena,
     * the large region), which costs no memory until committed. */
    _Atomic uint64_t committed, committed_peak, mapped, reserved;
    _Atomic uint64_t superslabs, spans;
    _Atomic uint64_t large_blocks, large_bytes, large_mallocs, large_frees;
    /* First-class heaps' slab blocks (heap.c), as bytes: handed out of their
     * spans, and of those on thread caches as last told. */
    _Atomic uint64_t heap_used, heap_cached;
    _Atomic uint64_t route[HAK_ROUTE_COUNT];
    _Atomic uint64_t class_frees[HAK_STATS_MAX_CLASSES];
};

HAK_HIDDEN extern struct hak_gstats _hak_g_stats;
/* Set once at start from the options: per-call counting is on. */
HAK_HIDDEN extern bool _hak_g_count_calls;

HAK_INLINE void _hak_stat_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
HAK_INLINE void _hak_stat_sub(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}
HAK_INLINE uint64_t _hak_stat_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* committed += delta, and keeps the peak. */
HAK_HIDDEN void _hak_stat_commit(int64_t delta);

#endif
