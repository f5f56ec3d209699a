/* large.c: direct mappings.
 *
 * Layout of a block: [mapping base ... header | block ...], the header in
 * bytes just before the block. The block sits at base + max(64, align)
 * (align up to a page) or at an align boundary of an over-sized mapping.
 * The registry, an open-addressing hash set of block addresses under the
 * large lock, is consulted before any header is read, so a free() of a
 * foreign pointer is reported rather than followed.
 */
#define _GNU_SOURCE
#include "large.h"
#include "options.h"
#include "os.h"
#include "stats.h"
#include "vg.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define LARGE_MAGIC 0x68616b6d4c415247ull /* "hakmLARG" */

typedef struct hak_large_hdr {
    uint64_t magic;
    uintptr_t base;  /* the mapping */
    size_t maplen;
    size_t offset;   /* block - base */
    size_t align;    /* as requested (>= 64) */
} hak_large_hdr_t;

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
/* The kernel's page size (4 KiB on x86-64, up to 64 KiB on aarch64): every
 * mapping length and trim is a multiple of it. */
static size_t page = HAK_PAGE_SIZE;

/* ---- registry ------------------------------------------------------------ */

static uintptr_t *reg_slots; /* 0 = empty */
static size_t reg_cap;       /* power of two */
static size_t reg_count;

static size_t reg_hash(uintptr_t p) { return (size_t)((p >> 12) * 0x9E3779B97F4A7C15ull); }

static bool reg_find(uintptr_t p, size_t *at)
{
    if (reg_cap == 0) return false;
    size_t mask = reg_cap - 1;
    for (size_t i = reg_hash(p) & mask;; i = (i + 1) & mask) {
        if (reg_slots[i] == p) {
            *at = i;
            return true;
        }
        if (reg_slots[i] == 0) return false;
    }
}

static bool reg_grow(void)
{
    size_t ncap = reg_cap ? reg_cap * 2 : 1024;
    uintptr_t *n = _hak_os_map(ncap * sizeof *n);
    if (n == NULL) return false;
    for (size_t i = 0; i < reg_cap; i++) {
        uintptr_t p = reg_slots[i];
        if (p == 0) continue;
        size_t j = reg_hash(p) & (ncap - 1);
        while (n[j] != 0) j = (j + 1) & (ncap - 1);
        n[j] = p;
    }
    if (reg_slots) _hak_os_unmap(reg_slots, reg_cap * sizeof *reg_slots);
    reg_slots = n;
    reg_cap = ncap;
    return true;
}

static bool reg_insert(uintptr_t p)
{
    if ((reg_count + 1) * 2 > reg_cap && !reg_grow()) return false;
    size_t mask = reg_cap - 1;
    size_t i = reg_hash(p) & mask;
    while (reg_slots[i] != 0) i = (i + 1) & mask;
    reg_slots[i] = p;
    reg_count++;
    return true;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void reg_remove_at(size_t i)
{
    size_t mask = reg_cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uintptr_t q = reg_slots[j];
        if (q == 0) break;
        size_t home = reg_hash(q) & mask;
        /* q may move to i if its home is not in (i, j] cyclically. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            reg_slots[i] = q;
            i = j;
        }
    }
    reg_slots[i] = 0;
    reg_count--;
}

/* ---- cache of freed mappings --------------------------------------------- */

#define CACHE_SLOTS 16
static struct {
    uintptr_t base;
    size_t maplen;
} cache[CACHE_SLOTS];
static unsigned cache_n;
static size_t cache_bytes;
static size_t cache_limit;

void _hak_large_init(void)
{
    cache_limit = (size_t)_hak_option(HAK_OPT_LARGE_CACHE);
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : HAK_PAGE_SIZE;
}
void _hak_large_lock(void) { pthread_mutex_lock(&large_lock); }
void _hak_large_unlock(void) { pthread_mutex_unlock(&large_lock); }
void _hak_large_reset_lock(void) { pthread_mutex_init(&large_lock, NULL); }

/* Best fit among the cached mappings. One more than 3 times larger than
 * needed is cut down (in place: the kept pages stay resident, so reusing it
 * costs no page faults, and the tail goes back to the OS). Up to that it is
 * taken whole: its pages are resident already, and a block that grows again
 * (a buffer doubling by realloc, as CPython's json encoder does for every
 * document) then grows inside them instead of unmapping the tail now and
 * faulting it back in page by page with mremap. */
static uintptr_t cache_take(size_t maplen, size_t *got)
{
    int best = -1;
    for (unsigned i = 0; i < cache_n; i++) {
        size_t m = cache[i].maplen;
        if (m >= maplen && (best < 0 || m < cache[best].maplen)) best = (int)i;
    }
    if (best < 0) return 0;
    uintptr_t b = cache[best].base;
    size_t m = cache[best].maplen;
    cache_bytes -= m;
    cache[best] = cache[--cache_n];
    if (m - maplen > 2 * maplen) {
        _hak_os_unmap((void *)(b + maplen), m - maplen);
        _hak_stat_commit(-(int64_t)(m - maplen));
        _hak_stat_sub(&_hak_g_stats.mapped, m - maplen);
        m = maplen;
    }
    *got = m;
    return b;
}

/* Keeps the mapping if it fits; returns false if the caller must unmap it. */
static bool cache_put(uintptr_t base, size_t maplen)
{
    if (maplen > cache_limit / 4) return false;
    while (cache_n > 0 && (cache_n == CACHE_SLOTS || cache_bytes + maplen > cache_limit)) {
        /* Evict slot 0: roughly the oldest (slots are refilled from the end). */
        _hak_os_unmap((void *)cache[0].base, cache[0].maplen);
        cache_bytes -= cache[0].maplen;
        _hak_stat_commit(-(int64_t)cache[0].maplen);
        _hak_stat_sub(&_hak_g_stats.mapped, cache[0].maplen);
        cache[0] = cache[--cache_n];
    }
    if (cache_bytes + maplen > cache_limit) return false;
    cache[cache_n].base = base;
    cache[cache_n].maplen = maplen;
    cache_n++;
    cache_bytes += maplen;
    return true;
}

/* ---- the tier ------------------------------------------------------------ */

static hak_large_hdr_t *hdr_of(const void *p) { return (hak_large_hdr_t *)((uintptr_t)p - sizeof(hak_large_hdr_t)); }

void *_hak_large_alloc(size_t size, size_t align, bool zero)
{
    if (size == 0) size = 1; /* a block of its own, with a usable size above 0 */
    if (align < 64) align = 64;
    size_t offset = align <= page ? align : 0;
    size_t slack = align <= page ? 0 : align + page;
    /* Every addition checked before rounding: no wrap to a small mapping. */
    size_t need;
    if (__builtin_add_overflow(size, offset + slack, &need) || need > (size_t)PTRDIFF_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t maplen = hak_align_up(need, page);
    uintptr_t base = 0;
    bool fresh = true;
    pthread_mutex_lock(&large_lock);
    if (slack == 0) {
        size_t got;
        base = cache_take(maplen, &got);
        if (base) {
            maplen = got;
            fresh = false;
            HAK_VG_REUSE((void *)base, maplen);
        }
    }
    pthread_mutex_unlock(&large_lock);
    uintptr_t p;
    if (base == 0) {
        void *m = _hak_os_map(maplen);
        if (m == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        base = (uintptr_t)m;
        if (slack) {
            /* Over-mapped for alignment: trim so the block sits on its boundary
             * with one page before it for the header. */
            p = hak_align_up(base + page, align);
            uintptr_t keep = p - page;
            uintptr_t end = hak_align_up(p + size, page);
            if (keep > base) _hak_os_unmap((void *)base, keep - base);
            if (base + maplen > end) _hak_os_unmap((void *)end, base + maplen - end);
            base = keep;
            maplen = end - keep;
            offset = p - base;
        }
        _hak_stat_commit((int64_t)maplen);
        _hak_stat_add(&_hak_g_stats.mapped, maplen);
    }
    p = base + offset;
    hak_large_hdr_t *h = hdr_of((void *)p);
    h->magic = LARGE_MAGIC;
    h->base = base;
    h->maplen = maplen;
    h->offset = offset;
    h->align = align;
    pthread_mutex_lock(&large_lock);
    bool ok = reg_insert(p);
    pthread_mutex_unlock(&large_lock);
    if (!ok) {
        _hak_os_unmap((void *)base, maplen);
        _hak_stat_commit(-(int64_t)maplen);
        _hak_stat_sub(&_hak_g_stats.mapped, maplen);
        errno = ENOMEM;
        return NULL;
    }
    if (zero && !fresh) {
        HAK_VG_REUSE((void *)p, size);
        memset((void *)p, 0, size);
    }
    _hak_stat_add(&_hak_g_stats.large_blocks, 1);
    _hak_stat_add(&_hak_g_stats.large_bytes, maplen - offset);
    _hak_stat_add(&_hak_g_stats.large_mallocs, 1);
    return (void *)p;
}

bool _hak_large_owns(const void *p)
{
    size_t at;
    pthread_mutex_lock(&large_lock);
    bool found = reg_find((uintptr_t)p, &at);
    pthread_mutex_unlock(&large_lock);
    return found;
}

bool _hak_large_free(void *p)
{
    size_t at;
    pthread_mutex_lock(&large_lock);
    if (!reg_find((uintptr_t)p, &at)) {
        pthread_mutex_unlock(&large_lock);
        return false;
    }
    reg_remove_at(at);
    hak_large_hdr_t *h = hdr_of(p);
    if (h->magic != LARGE_MAGIC) _hak_fatal_ptr("free", "large block header overwritten", p);
    h->magic = 0;
    uintptr_t base = h->base;
    size_t maplen = h->maplen, offset = h->offset;
    bool cached = cache_put(base, maplen);
    pthread_mutex_unlock(&large_lock);
    if (!cached) {
        _hak_os_unmap((void *)base, maplen);
        _hak_stat_commit(-(int64_t)maplen);
        _hak_stat_sub(&_hak_g_stats.mapped, maplen);
    }
    _hak_stat_sub(&_hak_g_stats.large_blocks, 1);
    _hak_stat_sub(&_hak_g_stats.large_bytes, maplen - offset);
    _hak_stat_add(&_hak_g_stats.large_frees, 1);
    return true;
}

size_t _hak_large_usable(const void *p)
{
    size_t at, n = 0;
    pthread_mutex_lock(&large_lock);
    if (reg_find((uintptr_t)p, &at)) {
        const hak_large_hdr_t *h = hdr_of(p);
        n = h->maplen - h->offset;
    }
    pthread_mutex_unlock(&large_lock);
    return n;
}

void *_hak_large_realloc(void *p, size_t size)
{
    size_t at;
    if (size > (size_t)PTRDIFF_MAX - 2 * page) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&large_lock);
    if (!reg_find((uintptr_t)p, &at)) {
        pthread_mutex_unlock(&large_lock);
        _hak_fatal_ptr("realloc", "invalid pointer", p);
    }
    hak_large_hdr_t *h = hdr_of(p);
    size_t offset = h->offset, oldlen = h->maplen;
    uintptr_t base = h->base;
    size_t newlen = hak_align_up(size + offset, page);
    if (newlen == oldlen) {
        pthread_mutex_unlock(&large_lock);
        return p;
    }
    /* A block aligned beyond a page must keep its alignment: mremap gives
     * only page alignment, so the caller copies instead. */
    if (h->align > page) {
        pthread_mutex_unlock(&large_lock);
        return NULL;
    }
    reg_remove_at(at);
    void *m = _hak_os_remap((void *)base, oldlen, newlen);
    if (m == NULL) {
        reg_insert((uintptr_t)p); /* cannot fail: the slot was just freed */
        pthread_mutex_unlock(&large_lock);
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t np = (uintptr_t)m + offset;
    h = hdr_of((void *)np);
    h->base = (uintptr_t)m;
    h->maplen = newlen;
    reg_insert(np);
    pthread_mutex_unlock(&large_lock);
    _hak_stat_commit((int64_t)newlen - (int64_t)oldlen);
    if (newlen > oldlen) _hak_stat_add(&_hak_g_stats.mapped, newlen - oldlen);
    else _hak_stat_sub(&_hak_g_stats.mapped, oldlen - newlen);
    if (newlen > oldlen) _hak_stat_add(&_hak_g_stats.large_bytes, newlen - oldlen);
    else _hak_stat_sub(&_hak_g_stats.large_bytes, oldlen - newlen);
    return (void *)np;
}

size_t _hak_large_collect(void)
{
    size_t released = 0;
    pthread_mutex_lock(&large_lock);
    while (cache_n > 0) {
        cache_n--;
        _hak_os_unmap((void *)cache[cache_n].base, cache[cache_n].maplen);
        released += cache[cache_n].maplen;
        _hak_stat_commit(-(int64_t)cache[cache_n].maplen);
        _hak_stat_sub(&_hak_g_stats.mapped, cache[cache_n].maplen);
    }
    cache_bytes = 0;
    pthread_mutex_unlock(&large_lock);
    return released;
}
