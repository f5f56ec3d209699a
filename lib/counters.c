/* counters.c: the counters' storage and the route names (counters.h). */
#include "counters.h"

struct hak_gstats _hak_g_stats;
bool _hak_g_count_calls;

static const char *const route_name[HAK_ROUTE_COUNT] = {
    [HAK_ROUTE_TINY_FAST] = "tiny_fast",
    [HAK_ROUTE_MID_FAST] = "mid_fast",
    [HAK_ROUTE_SLAB_LOOKUP] = "slab_lookup",
    [HAK_ROUTE_REMOTE] = "remote",
    [HAK_ROUTE_LARGE] = "large",
    [HAK_ROUTE_NULL] = "null",
    [HAK_ROUTE_HEAP] = "heap",
};

const char *_hak_route_name(unsigned r) { return r < HAK_ROUTE_COUNT ? route_name[r] : "?"; }

void _hak_stat_commit(int64_t delta)
{
    uint64_t now = atomic_fetch_add_explicit(&_hak_g_stats.committed, (uint64_t)delta,
                                             memory_order_relaxed) + (uint64_t)delta;
    uint64_t peak = atomic_load_explicit(&_hak_g_stats.committed_peak, memory_order_relaxed);
    while (delta > 0 && now > peak &&
           !atomic_compare_exchange_weak_explicit(&_hak_g_stats.committed_peak, &peak, now,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}
