/* large.c: the Large tier.
 *
 * Two homes for a large block:
 *   region  a reserved range of address space (HAKMEM_LARGE_CACHE > 0), carved
 *           page by page like a heap: freed ranges stay resident ("dirty"),
 *           coalesce with free neighbours and are split to serve later
 *           requests, so a program that frees and allocates large blocks in
 *           turn reuses resident pages instead of faulting fresh ones in.
 *   direct  one mapping per block: blocks bigger than a quarter of the dirty
 *           budget, alignments above a page, and everything once the region
 *           is full. Freed at once (munmap); realloc uses mremap.
 *
 * Layout of a block: [base ... header | block ... base + len), the header in
 * bytes just before the block, which sits at base + max(64, align) (align up
 * to a page) or at an align boundary inside an over-sized direct mapping.
 * The registry, an open-addressing hash set of block addresses under the
 * large lock, is consulted before any header is read, so a free() of a
 * foreign pointer (or of a freed block) is reported rather than followed.
 *
 * Region bookkeeping (all under large_lock):
 *   [region_base, region_top)  carved at least once; every page in it is a
 *                              live block or in exactly one free range
 *   [region_top, region_end)   never used (or purged and merged back): clean
 *   free ranges                an address-sorted array in a reservation of its
 *                              own; a range is dirty (resident, counted in
 *                              `committed`) or clean (purged, reads as zero).
 *                              Neighbours of the same kind are always merged;
 *                              a clean range never touches region_top.
 * Memory return: dirty bytes above HAKMEM_LARGE_CACHE are purged at once,
 * oldest first; dirty ranges idle for HAKMEM_LARGE_IDLE_MS are purged by the
 * next large call after that time; hak_collect() purges them all.
 *
 * Call tree:
 *   _hak_large_alloc     region_take (fr_best dirty, stretch the top range,
 *                        fr_best clean, top_grow) | direct_map
 *   _hak_large_free      region_give (coalesce, over_budget) | munmap
 *   _hak_large_realloc   region: shrink -> region_give of the tail,
 *                        grow -> take_after (the free range or top behind it);
 *                        direct: mremap; NULL means "move" (caller copies)
 */
#define _GNU_SOURCE
#include "large.h"
#include "counters.h"
#include "os.h"
#include "vg.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define LARGE_MAGIC 0x68616b6d4c415247ull /* "hakmLARG" */

typedef struct hak_large_hdr {
    uint64_t magic;
    uintptr_t base; /* the mapping, or the region range */
    size_t maplen;
    size_t offset;  /* block - base */
    size_t align;   /* as requested (>= 64) */
} hak_large_hdr_t;

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
/* The kernel's page size (4 KiB on x86-64, up to 64 KiB on aarch64): every
 * mapping length and trim is a multiple of it. */
static size_t page = 4096;

/* ---- registry ------------------------------------------------------------ */

static uintptr_t *reg_slots; /* 0 = empty */
static size_t reg_cap;       /* power of two */
static size_t reg_count;

/* Multiplied, then the high half folded down: the low bits of the product
 * alone would depend only on p's low bits, and blocks aligned to 2 MiB or
 * more (or spaced by a power of two) would all land on a few slots. */
static size_t reg_hash(uintptr_t p)
{
    uint64_t x = (uint64_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 32));
}

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

/* ---- the region ---------------------------------------------------------- */

typedef struct hak_large_free {
    uintptr_t start;
    size_t len;
    uint64_t since_ms; /* dirty: when it was last given back (the newest part) */
    bool dirty;
} hak_large_free_t;

static uintptr_t region_base, region_top, region_end;
static uintptr_t region_rw; /* pages below are read-write (committed once) */
static hak_large_free_t *fr;  /* sorted by start; never overlapping */
static size_t fr_n, fr_cap;
static size_t dirty_bytes;    /* sum of the dirty ranges */
static size_t dirty_limit;    /* HAKMEM_LARGE_CACHE */
static size_t region_max;     /* bigger ranges go direct */
static uint64_t idle_ms;      /* HAKMEM_LARGE_IDLE_MS; 0: never by age */
static uint64_t next_idle_check;

static bool in_region(uintptr_t a) { return a >= region_base && a < region_end; }

/* Default reservation: 64 GiB, or an eighth of RLIMIT_AS under a limit (the
 * arena takes a quarter), so that the program keeps room for its own maps. */
static size_t region_default_size(void)
{
    size_t want = (size_t)64 << 30;
    uint64_t limit = _hak_os_as_limit();
    if (limit != 0 && limit / 8 < want) want = (size_t)(limit / 8);
    return want;
}

static void region_init(void)
{
    size_t size = region_default_size() & ~(page - 1);
    if (dirty_limit == 0 || size < 4 * region_max) return;
    /* Refused (valgrind's address space, a tight RLIMIT_AS): halve, since a
     * smaller region still serves. */
    void *r;
    while ((r = _hak_os_reserve_none(size)) == NULL && size / 2 >= 4 * region_max)
        size = size / 2 & ~(page - 1);
    if (r == NULL) return;
    HAK_VG_NOACCESS(r, size);
    _hak_stat_add(&_hak_g_stats.reserved, size);
    region_base = region_top = region_rw = (uintptr_t)r;
    region_end = region_base + size;
}

/* Room for one more free range; false if the table cannot grow. */
static bool fr_room(void)
{
    if (fr_n < fr_cap) return true;
    size_t ncap = fr_cap ? fr_cap * 2 : 256;
    hak_large_free_t *n = _hak_os_map(ncap * sizeof *n);
    if (n == NULL) return false;
    if (fr) {
        memcpy(n, fr, fr_n * sizeof *fr);
        _hak_os_unmap(fr, fr_cap * sizeof *fr);
    }
    fr = n;
    fr_cap = ncap;
    return true;
}

/* First free range starting at or after a. */
static size_t fr_lower(uintptr_t a)
{
    size_t lo = 0, hi = fr_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fr[mid].start < a) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void fr_remove(size_t i)
{
    memmove(&fr[i], &fr[i + 1], (fr_n - i - 1) * sizeof *fr);
    fr_n--;
}

/* Adds [start, start+len) as a free range of the given kind, merged with
 * neighbours of the same kind; a clean range reaching the top lowers it. */
static void fr_add(uintptr_t start, size_t len, bool dirty, uint64_t since)
{
    size_t i = fr_lower(start);
    if (i > 0 && fr[i - 1].dirty == dirty && fr[i - 1].start + fr[i - 1].len == start) {
        i--;
        fr[i].len += len;
        if (since > fr[i].since_ms) fr[i].since_ms = since;
    } else {
        if (!fr_room()) {
            /* No table to list it in: the pages go back to the kernel and
             * the address range stays unused, a leak of address space only. */
            if (dirty) {
                dirty_bytes -= len;
                /* Still resident if the purge failed: then still committed. */
                if (_hak_os_purge((void *)start, len)) _hak_stat_commit(-(int64_t)len);
            }
            return;
        }
        memmove(&fr[i + 1], &fr[i], (fr_n - i) * sizeof *fr);
        fr_n++;
        fr[i] = (hak_large_free_t){start, len, since, dirty};
    }
    if (i + 1 < fr_n && fr[i + 1].dirty == dirty && fr[i].start + fr[i].len == fr[i + 1].start) {
        fr[i].len += fr[i + 1].len;
        if (fr[i + 1].since_ms > fr[i].since_ms) fr[i].since_ms = fr[i + 1].since_ms;
        fr_remove(i + 1);
    }
    if (!dirty && fr[i].start + fr[i].len == region_top) {
        region_top = fr[i].start;
        fr_remove(i);
    }
}

/* Purges free range i; a failed madvise keeps it dirty (nothing lost).
 * Returns the bytes given back. */
static size_t fr_purge(size_t i)
{
    hak_large_free_t r = fr[i];
    if (!_hak_os_purge((void *)r.start, r.len)) return 0;
    dirty_bytes -= r.len;
    _hak_stat_commit(-(int64_t)r.len);
    fr_remove(i);
    fr_add(r.start, r.len, false, 0);
    return r.len;
}

/* Oldest dirty ranges go until the budget holds. */
static void over_budget(void)
{
    while (dirty_bytes > dirty_limit) {
        size_t old = SIZE_MAX;
        for (size_t i = 0; i < fr_n; i++)
            if (fr[i].dirty && (old == SIZE_MAX || fr[i].since_ms < fr[old].since_ms)) old = i;
        if (old == SIZE_MAX || fr_purge(old) == 0) return;
    }
}

/* Dirty ranges untouched for idle_ms go back; checked at most every
 * idle_ms / 4, so the scan is rare. */
static void idle_check(void)
{
    if (idle_ms == 0 || dirty_bytes == 0) return;
    uint64_t now = _hak_os_now_ms();
    if (now < next_idle_check) return;
    next_idle_check = now + idle_ms / 4;
    for (size_t i = 0; i < fr_n;) {
        /* A purge may merge the range with its clean neighbours, at i - 1 at
         * the lowest: ranges below that are untouched. */
        if (fr[i].dirty && fr[i].since_ms + idle_ms <= now && fr_purge(i) != 0) i = i ? i - 1 : 0;
        else i++;
    }
}

/* Moves the top up to a + len, making the pages read-write the first time;
 * false if the kernel refuses them. */
static bool top_grow(uintptr_t a, size_t len)
{
    uintptr_t end = a + len;
    if (end > region_rw) {
        if (!_hak_os_commit((void *)region_rw, end - region_rw)) return false;
        region_rw = end;
    }
    _hak_stat_commit((int64_t)(end - region_top));
    region_top = end;
    return true;
}

/* Takes len bytes from the front of free range i. Returns true if all of
 * them were clean (they read as zero). */
static bool fr_take(size_t i, size_t len)
{
    bool clean = !fr[i].dirty;
    if (clean) _hak_stat_commit((int64_t)len);
    else dirty_bytes -= len;
    fr[i].start += len;
    fr[i].len -= len;
    if (fr[i].len == 0) fr_remove(i);
    return clean;
}

/* Bytes [a, a + len) taken from the free range starting at a and, if that
 * is too short and ends at the top, from the top; false if they are not free.
 * *clean says whether all of them read as zero. */
static bool take_after(uintptr_t a, size_t len, bool *clean)
{
    size_t i = fr_lower(a);
    size_t have = 0;
    bool from_range = i < fr_n && fr[i].start == a;
    if (from_range) have = fr[i].len;
    uintptr_t end = a + have;
    if (have < len) {
        if (end != region_top || region_end - region_top < len - have ||
            !top_grow(region_top, len - have))
            return false;
    }
    *clean = true;
    if (from_range) *clean = fr_take(i, have < len ? have : len);
    return true;
}

/* Best fit among the free ranges of one kind; SIZE_MAX if none fits. */
static size_t fr_best(size_t len, bool dirty)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < fr_n; i++) {
        if (fr[i].dirty != dirty || fr[i].len < len) continue;
        if (best == SIZE_MAX || fr[i].len < fr[best].len) best = i;
        if (fr[i].len == len) break;
    }
    return best;
}

/* A range of len bytes: best fit among the dirty ranges (no page faults),
 * then a dirty range at the top stretched into it (faults for the new part
 * only), then best fit among the clean ones, then the top; 0 if none can
 * (region full, or the kernel refused pages), and the caller maps instead. */
static uintptr_t region_take(size_t len, bool *clean)
{
    size_t best = fr_best(len, true);
    if (best == SIZE_MAX) {
        if (fr_n > 0 && fr[fr_n - 1].dirty && fr[fr_n - 1].start + fr[fr_n - 1].len == region_top &&
            fr[fr_n - 1].len + (region_end - region_top) >= len) {
            uintptr_t a = fr[fr_n - 1].start;
            if (take_after(a, len, clean)) return a;
            /* Refused (nothing changed): a clean range needs no new pages. */
        }
        best = fr_best(len, false);
    }
    if (best != SIZE_MAX) {
        uintptr_t a = fr[best].start;
        *clean = fr_take(best, len);
        return a;
    }
    if (region_end - region_top >= len) {
        uintptr_t a = region_top;
        if (!top_grow(a, len)) return 0;
        *clean = true;
        return a;
    }
    return 0;
}

/* Gives a range back as dirty: it stays resident for the next request. */
static void region_give(uintptr_t start, size_t len)
{
    HAK_VG_NOACCESS((void *)start, len);
    dirty_bytes += len;
    fr_add(start, len, true, _hak_os_now_ms());
    over_budget();
}

/* ---- direct mappings ----------------------------------------------------- */

static void direct_unmap(uintptr_t base, size_t maplen)
{
    _hak_os_unmap((void *)base, maplen);
    _hak_stat_commit(-(int64_t)maplen);
    _hak_stat_sub(&_hak_g_stats.mapped, maplen);
}

/* A mapping for size bytes at offset (slack: extra for an alignment above a
 * page); sets *base, *maplen and *offset; false on failure. */
static bool direct_map(size_t size, size_t align, size_t slack, uintptr_t *base, size_t *maplen,
                       size_t *offset)
{
    void *m = _hak_os_map(*maplen);
    if (m == NULL) return false;
    *base = (uintptr_t)m;
    if (slack) {
        /* Over-mapped for alignment: trim so the block sits on its boundary
         * with one page before it for the header. */
        uintptr_t p = hak_align_up(*base + page, align);
        uintptr_t keep = p - page;
        uintptr_t end = hak_align_up(p + size, page);
        if (keep > *base) _hak_os_unmap((void *)*base, keep - *base);
        if (*base + *maplen > end) _hak_os_unmap((void *)end, *base + *maplen - end);
        *base = keep;
        *maplen = end - keep;
        *offset = p - keep;
    }
    _hak_stat_commit((int64_t)*maplen);
    _hak_stat_add(&_hak_g_stats.mapped, *maplen);
    return true;
}

/* ---- the tier ------------------------------------------------------------ */

void _hak_large_init(uint64_t cache_bytes, uint64_t idle_after_ms)
{
    page = _hak_os_page_size();
    dirty_limit = (size_t)cache_bytes;
    idle_ms = idle_after_ms;
    region_max = dirty_limit / 4 & ~(page - 1);
    region_init();
}
void _hak_large_lock(void) { pthread_mutex_lock(&large_lock); }
void _hak_large_unlock(void) { pthread_mutex_unlock(&large_lock); }
void _hak_large_reset_lock(void) { pthread_mutex_init(&large_lock, NULL); }

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
    bool clean = true;
    pthread_mutex_lock(&large_lock);
    idle_check();
    if (slack == 0 && maplen <= region_max && region_end != 0) {
        base = region_take(maplen, &clean);
        if (base) HAK_VG_REUSE((void *)base, maplen);
    }
    bool direct = base == 0;
    if (direct) {
        pthread_mutex_unlock(&large_lock);
        if (!direct_map(size, align, slack, &base, &maplen, &offset)) {
            errno = ENOMEM;
            return NULL;
        }
        pthread_mutex_lock(&large_lock);
    }
    uintptr_t p = base + offset;
    hak_large_hdr_t *h = hdr_of((void *)p);
    h->magic = LARGE_MAGIC;
    h->base = base;
    h->maplen = maplen;
    h->offset = offset;
    h->align = align;
    bool ok = reg_insert(p);
    if (!ok && !direct) region_give(base, maplen);
    pthread_mutex_unlock(&large_lock);
    if (!ok) {
        if (direct) direct_unmap(base, maplen);
        errno = ENOMEM;
        return NULL;
    }
    if (zero && !clean) {
        /* The whole usable size, as calloc's contract is read by programs
         * that use malloc_usable_size: no old bytes past the request. */
        HAK_VG_REUSE((void *)p, maplen - offset);
        memset((void *)p, 0, maplen - offset);
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
    hak_large_hdr_t *h = hdr_of(p);
    if (h->magic != LARGE_MAGIC) {
        pthread_mutex_unlock(&large_lock);
        _hak_fatal_ptr("free", "large block header overwritten", p);
    }
    reg_remove_at(at);
    h->magic = 0;
    uintptr_t base = h->base;
    size_t maplen = h->maplen, offset = h->offset;
    bool direct = !in_region(base);
    if (!direct) {
        region_give(base, maplen);
        idle_check();
    }
    pthread_mutex_unlock(&large_lock);
    if (direct) direct_unmap(base, maplen);
    _hak_stat_sub(&_hak_g_stats.large_blocks, 1);
    _hak_stat_sub(&_hak_g_stats.large_bytes, maplen - offset);
    _hak_stat_add(&_hak_g_stats.large_frees, 1);
    return true;
}

size_t _hak_large_usable(const void *p, const char *what)
{
    size_t at, n = 0;
    pthread_mutex_lock(&large_lock);
    bool bad = false;
    if (reg_find((uintptr_t)p, &at)) {
        const hak_large_hdr_t *h = hdr_of(p);
        bad = h->magic != LARGE_MAGIC;
        n = h->maplen - h->offset;
    }
    pthread_mutex_unlock(&large_lock);
    if (bad) _hak_fatal_ptr(what, "large block header overwritten", p);
    return n;
}

/* Resizes region block h in place: a shrink gives the tail back, a growth
 * takes what lies behind the block if it is free. */
static bool region_resize(hak_large_hdr_t *h, size_t newlen)
{
    size_t oldlen = h->maplen;
    if (newlen < oldlen) {
        region_give(h->base + newlen, oldlen - newlen);
    } else {
        bool clean;
        if (newlen > region_max || !take_after(h->base + oldlen, newlen - oldlen, &clean))
            return false;
        HAK_VG_REUSE((void *)(h->base + oldlen), newlen - oldlen);
    }
    h->maplen = newlen;
    return true;
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
    if (h->magic != LARGE_MAGIC) {
        pthread_mutex_unlock(&large_lock);
        _hak_fatal_ptr("realloc", "large block header overwritten", p);
    }
    idle_check();
    size_t offset = h->offset, oldlen = h->maplen;
    uintptr_t base = h->base;
    size_t newlen = hak_align_up(size + offset, page);
    if (newlen == oldlen) {
        pthread_mutex_unlock(&large_lock);
        return p;
    }
    if (in_region(base)) {
        /* In place or not at all: a move is the caller's malloc + copy,
         * into resident memory, cheaper than the faults of a fresh mremap. */
        bool ok = region_resize(h, newlen);
        pthread_mutex_unlock(&large_lock);
        if (!ok) return NULL;
    } else {
        /* A block aligned beyond a page must keep its alignment: mremap gives
         * only page alignment, so the caller copies instead. */
        if (h->align > page) {
            pthread_mutex_unlock(&large_lock);
            return NULL;
        }
        reg_remove_at(at);
        void *m = _hak_os_remap((void *)base, oldlen, newlen);
        if (m == NULL) {
            /* NULL: the caller moves the block, and sets errno only if that
             * fails too. */
            reg_insert((uintptr_t)p); /* cannot fail: the slot was just freed */
            pthread_mutex_unlock(&large_lock);
            return NULL;
        }
        p = (void *)((uintptr_t)m + offset);
        h = hdr_of(p);
        h->base = (uintptr_t)m;
        h->maplen = newlen;
        reg_insert((uintptr_t)p);
        pthread_mutex_unlock(&large_lock);
        _hak_stat_commit((int64_t)newlen - (int64_t)oldlen);
        if (newlen > oldlen) _hak_stat_add(&_hak_g_stats.mapped, newlen - oldlen);
        else _hak_stat_sub(&_hak_g_stats.mapped, oldlen - newlen);
    }
    if (newlen > oldlen) _hak_stat_add(&_hak_g_stats.large_bytes, newlen - oldlen);
    else _hak_stat_sub(&_hak_g_stats.large_bytes, oldlen - newlen);
    return p;
}

size_t _hak_large_collect(void)
{
    size_t released = 0;
    pthread_mutex_lock(&large_lock);
    for (size_t i = 0; i < fr_n;) {
        size_t n = fr[i].dirty ? fr_purge(i) : 0;
        released += n;
        if (n != 0) i = i ? i - 1 : 0; /* as in idle_check */
        else i++;
    }
    pthread_mutex_unlock(&large_lock);
    return released;
}
