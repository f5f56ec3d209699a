/* report.c: the top half of the statistics: the public snapshot
 * (hak_stats_get), the printed report and the exit report. It reads the
 * counters (counters.h) and asks each tier for what only the tier knows:
 * blocks handed out and cached per class (central.c, tcache.c). */
#define _GNU_SOURCE
#include "report.h"
#include "central.h"
#include "counters.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "tcache.h"
#include "../include/hakmem.h"

#include <errno.h>
#include <string.h>

struct class_snapshot {
    uint64_t used, cached, frees;
};

/* cached: every thread's stacks as its thread last told the central pool,
 * the calling thread's exactly. */
static void snapshot_class(unsigned c, struct class_snapshot *s)
{
    int64_t cached = _hak_central_cached(c) + _hak_tc_untold(c);
    s->used = _hak_central_used(c) * _hak_cls_size[c];
    s->cached = cached > 0 ? (uint64_t)cached * _hak_cls_size[c] : 0;
    s->frees = _hak_stat_get(&_hak_g_stats.class_frees[c]);
}

bool _hak_stats_begin(struct hak_stats *s, const struct hak_stats *out, size_t size)
{
    if (out == NULL || size < offsetof(struct hak_stats, stats_enabled)) {
        errno = EINVAL;
        return false;
    }
    memset(s, 0, sizeof *s);
    s->size = size < sizeof *s ? size : sizeof *s;
    s->version = HAK_STATS_VERSION;
    return true;
}

void _hak_stats_finish(struct hak_stats *out, const struct hak_stats *s)
{
    memcpy(out, s, s->size);
    out->size = s->size;
}

int hak_stats_get(struct hak_stats *out, size_t size)
{
    struct hak_stats s;
    if (!_hak_stats_begin(&s, out, size)) return -1;
    s.stats_enabled = _hak_g_count_calls;
    struct hak_gstats *g = &_hak_g_stats;
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        struct class_snapshot cs;
        snapshot_class(c, &cs);
        uint64_t in_use = cs.used > cs.cached ? cs.used - cs.cached : 0;
        s.bytes_in_use += in_use;
        s.bytes_cached += cs.cached;
        if (s.stats_enabled) {
            /* Every free was counted; a block in use was malloc'd and not yet freed. */
            uint64_t mallocs = cs.frees + in_use / _hak_cls_size[c];
            if (hak_class_is_tiny(c)) {
                s.tiny_mallocs += mallocs;
                s.tiny_frees += cs.frees;
            } else {
                s.mid_mallocs += mallocs;
                s.mid_frees += cs.frees;
            }
        }
    }
    /* First-class heaps' slab blocks (their large blocks are the tier's). */
    uint64_t heap_used = _hak_stat_get(&g->heap_used), heap_cached = _hak_stat_get(&g->heap_cached);
    if ((int64_t)heap_cached < 0) heap_cached = 0;
    if (heap_cached > heap_used) heap_cached = heap_used;
    s.bytes_in_use += heap_used - heap_cached;
    s.bytes_cached += heap_cached;
    s.large_blocks = _hak_stat_get(&g->large_blocks);
    s.large_bytes = _hak_stat_get(&g->large_bytes);
    s.bytes_in_use += s.large_bytes;
    s.bytes_committed = _hak_stat_get(&g->committed);
    s.bytes_committed_peak = _hak_stat_get(&g->committed_peak);
    s.bytes_mapped = _hak_stat_get(&g->mapped);
    s.bytes_reserved = _hak_stat_get(&g->reserved);
    s.superslabs = _hak_stat_get(&g->superslabs);
    s.spans = _hak_stat_get(&g->spans);
    s.large_mallocs = _hak_stat_get(&g->large_mallocs);
    s.large_frees = _hak_stat_get(&g->large_frees);
    s.route_tiny_fast = _hak_stat_get(&g->route[HAK_ROUTE_TINY_FAST]);
    s.route_mid_fast = _hak_stat_get(&g->route[HAK_ROUTE_MID_FAST]);
    s.route_slab_lookup = _hak_stat_get(&g->route[HAK_ROUTE_SLAB_LOOKUP]);
    s.route_remote = _hak_stat_get(&g->route[HAK_ROUTE_REMOTE]);
    s.route_large = _hak_stat_get(&g->route[HAK_ROUTE_LARGE]);
    s.route_null = _hak_stat_get(&g->route[HAK_ROUTE_NULL]);
    s.refills = _hak_stat_get(&g->refills);
    s.flushes = _hak_stat_get(&g->flushes);
    s.os_maps = _hak_stat_get(&g->os_maps);
    s.os_unmaps = _hak_stat_get(&g->os_unmaps);
    s.os_purges = _hak_stat_get(&g->os_purges);
    _hak_stats_finish(out, &s);
    return 0;
}

static void line_u64(int fd, const char *label, uint64_t v)
{
    _hak_write_str(fd, "hakmem: ");
    _hak_write_str(fd, label);
    _hak_write_str(fd, " ");
    _hak_write_u64(fd, v);
    _hak_write_str(fd, "\n");
}

/* "12.34%" of part in whole, without floating-point formatting. */
static void write_percent(int fd, uint64_t part, uint64_t whole)
{
    uint64_t bp = whole ? (part * 10000 + whole / 2) / whole : 0;
    _hak_write_u64(fd, bp / 100);
    _hak_write_str(fd, ".");
    if (bp % 100 < 10) _hak_write_str(fd, "0");
    _hak_write_u64(fd, bp % 100);
    _hak_write_str(fd, "%");
}

/* "pid 1234 (gcc)": every report says whose it is, since a program that
 * runs others (a compiler driver, a shell) prints one per process. */
static void write_process(int fd)
{
    _hak_write_str(fd, "pid ");
    _hak_write_u64(fd, (uint64_t)_hak_os_pid());
    _hak_write_str(fd, " (");
    _hak_write_str(fd, _hak_os_program_name());
    _hak_write_str(fd, ")");
}

static void route_report(int fd)
{
    struct hak_gstats *g = &_hak_g_stats;
    uint64_t tiny_frees = 0, total = 0;
    for (unsigned c = 1; c < HAK_FIRST_MID; c++) tiny_frees += _hak_stat_get(&g->class_frees[c]);
    for (unsigned r = 0; r < HAK_ROUTE_COUNT; r++)
        if (r != HAK_ROUTE_REMOTE) total += _hak_stat_get(&g->route[r]);
    _hak_write_str(fd, "hakmem: free route distribution for ");
    write_process(fd);
    _hak_write_str(fd, ", of ");
    _hak_write_u64(fd, total);
    _hak_write_str(fd, " frees\n");
    for (unsigned r = 0; r < HAK_ROUTE_COUNT; r++) {
        uint64_t v = _hak_stat_get(&g->route[r]);
        _hak_write_str(fd, "hakmem: route ");
        _hak_write_str(fd, _hak_route_name(r));
        _hak_write_str(fd, " ");
        _hak_write_u64(fd, v);
        _hak_write_str(fd, " (");
        write_percent(fd, v, total);
        _hak_write_str(fd, ")\n");
    }
    line_u64(fd, "route tiny_frees", tiny_frees);
    line_u64(fd, "route refills", _hak_stat_get(&g->refills));
    line_u64(fd, "route flushes", _hak_stat_get(&g->flushes));
}

void hak_stats_print(int fd)
{
    struct hak_stats s;
    hak_stats_get(&s, sizeof s);
    _hak_write_str(fd, "hakmem: statistics for ");
    write_process(fd);
    _hak_write_str(fd, ", hakmem " HAKMEM_VERSION_STRING "\n");
    line_u64(fd, "bytes_in_use", s.bytes_in_use);
    line_u64(fd, "bytes_cached", s.bytes_cached);
    line_u64(fd, "bytes_committed", s.bytes_committed);
    line_u64(fd, "bytes_committed_peak", s.bytes_committed_peak);
    line_u64(fd, "bytes_mapped", s.bytes_mapped);
    line_u64(fd, "bytes_reserved", s.bytes_reserved);
    line_u64(fd, "superslabs", s.superslabs);
    line_u64(fd, "spans", s.spans);
    line_u64(fd, "large_blocks", s.large_blocks);
    line_u64(fd, "large_bytes", s.large_bytes);
    if (s.stats_enabled) {
        line_u64(fd, "tiny_mallocs", s.tiny_mallocs);
        line_u64(fd, "tiny_frees", s.tiny_frees);
        line_u64(fd, "mid_mallocs", s.mid_mallocs);
        line_u64(fd, "mid_frees", s.mid_frees);
    }
    line_u64(fd, "large_mallocs", s.large_mallocs);
    line_u64(fd, "large_frees", s.large_frees);
    line_u64(fd, "refills", s.refills);
    line_u64(fd, "flushes", s.flushes);
    line_u64(fd, "os_maps", s.os_maps);
    line_u64(fd, "os_unmaps", s.os_unmaps);
    line_u64(fd, "os_purges", s.os_purges);
    if (s.stats_enabled) {
        _hak_write_str(fd, "hakmem: class size in_use_bytes cached_bytes frees\n");
        for (unsigned c = 1; c < HAK_NCLASS; c++) {
            struct class_snapshot cs;
            snapshot_class(c, &cs);
            if (cs.used == 0 && cs.frees == 0) continue;
            _hak_write_str(fd, "hakmem: class ");
            _hak_write_u64(fd, c);
            _hak_write_str(fd, " ");
            _hak_write_u64(fd, _hak_cls_size[c]);
            _hak_write_str(fd, " ");
            _hak_write_u64(fd, cs.used > cs.cached ? cs.used - cs.cached : 0);
            _hak_write_str(fd, " ");
            _hak_write_u64(fd, cs.cached);
            _hak_write_str(fd, " ");
            _hak_write_u64(fd, cs.frees);
            _hak_write_str(fd, "\n");
        }
    }
}

/* HAKMEM_STATS_FILE with each "%p" replaced by the pid (so that the
 * processes of a program that forks write files of their own). */
static bool stats_path(char *out, size_t cap)
{
    const char *t = _hak_option_text(HAK_OPT_STATS_FILE);
    if (t == NULL) return false;
    size_t n = 0;
    for (; *t && n + 24 < cap; t++) {
        if (t[0] == '%' && t[1] == 'p') {
            char digits[24];
            char *d = digits + sizeof digits;
            *--d = '\0';
            uint64_t pid = (uint64_t)_hak_os_pid();
            do *--d = (char)('0' + pid % 10); while ((pid /= 10) != 0);
            while (*d) out[n++] = *d++;
            t++;
        } else {
            out[n++] = *t;
        }
    }
    out[n] = '\0';
    return true;
}

/* At exit, after the program's own atexit handlers (a preloaded library is
 * finalised late): to stderr, or appended to HAKMEM_STATS_FILE. */
__attribute__((destructor)) static void stats_at_exit(void)
{
    bool route = _hak_option(HAK_OPT_ROUTE_TRACE), stats = _hak_option(HAK_OPT_STATS);
    if (!route && !stats) return;
    static char path[4200];
    int fd = 2;
    if (stats_path(path, sizeof path)) {
        fd = _hak_os_open_append(path);
        if (fd < 0) {
            _hak_write_str(2, "hakmem: cannot open HAKMEM_STATS_FILE ");
            _hak_write_str(2, path);
            _hak_write_str(2, "; the report goes to stderr\n");
            fd = 2;
        }
    }
    if (route) route_report(fd);
    if (stats) hak_stats_print(fd);
    if (fd != 2) _hak_os_close(fd);
}
