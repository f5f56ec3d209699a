/* large.c: the Large tier.
 *
 * Two homes for a large block:
 *   region  a reserved range of address space (HAKMEM_LARGE_CACHE > 0), carved
 *           page by page like a heap: freed ranges stay resident ("dirty"),
 *           coalesce with free neighbours and are split to serve later
 *           requests, so a program that frees and allocates large blocks in
 *           turn reuses resident pages instead of faulting fresh ones in.
 *   direct  one mapping per block: blocks above region_cap (64 MiB, or a
 *           quarter of HAKMEM_LARGE_CACHE if that is more), alignments
 *           above a page, and everything once the region is full. Freed at
 *           once (munmap); realloc uses mremap.
 *
 * Layout of a block: [base ... header | block ... base + len), the header in
 * bytes just before the block, which sits at base + max(64, align) (align up
 * to a page) or at an align boundary inside an over-sized direct mapping.
 *
 * The registry: a hash set of live block addresses, striped: the address
 * picks one of REG_STRIPES tables, each under its own lock. It is consulted
 * before any header is read, so a free() of a foreign pointer (or of a freed
 * block) is reported rather than followed; a free, a usable-size or an
 * ownership query takes only its stripe's lock for the lookup, never the
 * region's, and the free of a direct block takes no other lock at all.
 *
 * Region bookkeeping (all under large_lock):
 *   [region_base, region_top)  carved at least once; every page in it is a
 *                              live block or in exactly one free range
 *   [region_top, region_end)   never used (or purged and merged back): clean
 *   free ranges                nodes in a pool of their own, each dirty
 *                              (resident, counted in `committed`) or clean
 *                              (purged, reads as zero), indexed four ways:
 *                              by start and by end address (hash tables: the
 *                              neighbours to merge with, in O(1)), by size
 *                              (a treap per kind: best fit in O(log n)), and,
 *                              dirty ones, by age (a list, oldest first: the
 *                              budget and idle purges take from its head).
 *                              Neighbours of the same kind are always merged;
 *                              a clean range never touches region_top.
 *
 * The dirty budget: at least HAKMEM_LARGE_CACHE, and HAKMEM_LARGE_CACHE_PCT
 * percent of the bytes of live region blocks when that is more. So a program
 * that churns buffers of many MiB keeps enough freed pages to serve the next
 * ones without faults (a fixed budget made every cycle map, fault and purge
 * its pages), while what is kept stays in proportion to what the program
 * uses, and shrinks as it frees: when it frees everything, all but
 * HAKMEM_LARGE_CACHE goes back at once. Memory return: a freed block above a
 * quarter of the budget is purged at once (as its own mapping would have
 * been unmapped); dirty bytes above the budget are purged at once, oldest
 * first (only as much of the oldest range as the excess); dirty ranges idle
 * for HAKMEM_LARGE_IDLE_MS are purged by the next large call after that
 * time; hak_collect() purges them all. (MADV_FREE instead of MADV_DONTNEED
 * was measured on bench_churn with the budget fixed at 64 MiB: 149 k page
 * faults instead of 13 M, but a peak RSS of 585 MiB instead of 444, since
 * lazily freed pages stay resident until the kernel needs them; the budget
 * that grows with the memory in use gets the faults down without that.)
 *
 * Call tree:
 *   _hak_large_alloc     region_take (a quick entry of its length, best
 *                        dirty, stretch the top range,
 *                        best clean, top_grow) | direct_map; reg_add
 *   _hak_large_free      reg_lookup (its stripe's lock only); then
 *                        region_give_live (a quick entry, or coalesce;
 *                        over_budget) | munmap
 *   _hak_large_realloc   reg_lookup; region: shrink -> region_give of the
 *                        tail, grow -> take_after (the free range or top
 *                        behind it); direct: mremap; NULL means "move"
 * Lock order: large_lock before a registry stripe. They are held together
 * only once (the first tables, reg_setup) and by the fork handlers.
 */
#define _GNU_SOURCE
#include "large.h"
#include "block.h"
#include "counters.h"
#include "os.h"
#include "vg.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

typedef struct hak_large_hdr {
    /* hdr_sum of the fields below and the block's address, keyed with the
     * process's secret (block.h): an overflow from the block before, or a
     * use after free of it, that rewrites the header cannot make a sum that
     * passes without the key, so free and realloc never act on a forged
     * base or length (scudo checksums its headers the same way). 0 once
     * freed. */
    uint64_t magic;
    uintptr_t base; /* the mapping, or the region range */
    size_t maplen;
    size_t offset;  /* block - base */
    size_t align;   /* as requested (>= 64) */
#if HAK_DEBUG
    uint64_t tailed; /* 1: the padding past the request holds a canary (block.h) */
    /* Next to the block, keyed with its address: an underflow changes it
     * and the header reads as overwritten. */
    uint64_t guard;
#endif
} hak_large_hdr_t;
_Static_assert(sizeof(hak_large_hdr_t) <= 64, "the header fits the smallest offset");

#if HAK_DEBUG
static uint64_t large_guard(uintptr_t p) { return ~(_hak_key ^ p); }
#endif

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
/* The kernel's page size (4 KiB on x86-64, up to 64 KiB on aarch64): every
 * mapping length and trim is a multiple of it. */
static size_t page = 4096;

/* ---- registry ------------------------------------------------------------ */

/* Eight: the fork handlers hold every allocator lock at once, and
 * ThreadSanitizer's deadlock detector allows a thread 64 (the central pool
 * has one per class). */
#define REG_STRIPES 8
#define REG_FIRST_CAP 64 /* slots of a stripe's first table */

typedef struct reg_stripe {
    pthread_mutex_t lock;
    uintptr_t *slots; /* 0 = empty */
    size_t cap;       /* power of two */
    size_t count;
} __attribute__((aligned(HAK_CACHE_LINE))) reg_stripe_t;

static reg_stripe_t reg[REG_STRIPES] = {[0 ... REG_STRIPES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};
/* Every stripe has its first table (all of them in one page, mapped at the
 * first large allocation): an insertion after a mremap, which cannot be
 * undone, then always finds a free slot (reg_add). */
static _Atomic bool reg_ready;
static uintptr_t *reg_first; /* that page: its tables are never unmapped */

/* Multiplied, then the high half folded down: the low bits of the product
 * alone would depend only on p's low bits, and blocks aligned to 2 MiB or
 * more (or spaced by a power of two) would all land on a few slots. The
 * stripe comes from the product's top bits. */
static uint64_t reg_mix(uintptr_t p) { return (uint64_t)p * 0x9E3779B97F4A7C15ull; }
static size_t reg_slot_hash(uint64_t x) { return (size_t)(x ^ (x >> 32)); }
static reg_stripe_t *reg_stripe(uintptr_t p) { return &reg[reg_mix(p) >> 61]; }
_Static_assert(REG_STRIPES == 8, "reg_stripe takes the top 3 bits");

/* Slot of p in stripe r, or SIZE_MAX (r->lock held). */
static size_t reg_find(const reg_stripe_t *r, uintptr_t p)
{
    if (r->cap == 0) return SIZE_MAX;
    size_t mask = r->cap - 1;
    for (size_t i = reg_slot_hash(reg_mix(p)) & mask;; i = (i + 1) & mask) {
        if (r->slots[i] == p) return i;
        if (r->slots[i] == 0) return SIZE_MAX;
    }
}

static void reg_put(uintptr_t *slots, size_t cap, uintptr_t p)
{
    size_t i = reg_slot_hash(reg_mix(p)) & (cap - 1);
    while (slots[i] != 0) i = (i + 1) & (cap - 1);
    slots[i] = p;
}

static bool reg_grow(reg_stripe_t *r)
{
    /* From the shared first page to a page of its own, then doubling. */
    size_t ncap = r->cap * 2 > page / sizeof(uintptr_t) ? r->cap * 2 : page / sizeof(uintptr_t);
    uintptr_t *n = _hak_os_map(ncap * sizeof *n);
    if (n == NULL) return false;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i] != 0) reg_put(n, ncap, r->slots[i]);
    bool first = r->slots >= reg_first && r->slots < reg_first + REG_STRIPES * REG_FIRST_CAP;
    if (r->slots && !first) _hak_os_unmap(r->slots, r->cap * sizeof *r->slots);
    r->slots = n;
    r->cap = ncap;
    return true;
}

/* Registers p. A stripe grows when half full; if it cannot, `must` still
 * inserts while a slot is free (for a block already moved by mremap). */
static bool reg_add(uintptr_t p, bool must)
{
    reg_stripe_t *r = reg_stripe(p);
    pthread_mutex_lock(&r->lock);
    bool ok = (r->count + 1) * 2 <= r->cap || reg_grow(r) || (must && r->count + 2 <= r->cap);
    if (ok) {
        reg_put(r->slots, r->cap, p);
        r->count++;
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void reg_remove_at(reg_stripe_t *r, size_t i)
{
    size_t mask = r->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uintptr_t q = r->slots[j];
        if (q == 0) break;
        size_t home = reg_slot_hash(reg_mix(q)) & mask;
        /* q may move to i if its home is not in (i, j] cyclically. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            r->slots[i] = q;
            i = j;
        }
    }
    r->slots[i] = 0;
    r->count--;
}

static hak_large_hdr_t *hdr_of(const void *p) { return (hak_large_hdr_t *)((uintptr_t)p - sizeof(hak_large_hdr_t)); }

/* A keyed mix of every field and the address (each step a multiply by an
 * odd constant, so no field's change cancels another's); never 0. */
static uint64_t hdr_sum(uintptr_t p, const hak_large_hdr_t *h)
{
    uint64_t x = _hak_key ^ p;
    x = (x ^ h->base) * 0x9e3779b97f4a7c15ull;
    x = (x ^ h->maplen) * 0xc2b2ae3d27d4eb4full;
    x = (x ^ h->offset) * 0x165667b19e3779f9ull;
    x = (x ^ h->align) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return x | 1;
}
static void hdr_seal(uintptr_t p, hak_large_hdr_t *h) { h->magic = hdr_sum(p, h); }

/* What the registry and the header say about p, read under p's stripe lock:
 * 0 not a live large block, 1 live (*h copied), -1 header overwritten. With
 * `take`, a live block is unregistered (and its header unmarked) at once, so
 * two frees of it cannot both succeed. */
static int reg_lookup(const void *p, bool take, hak_large_hdr_t *out)
{
    reg_stripe_t *r = reg_stripe((uintptr_t)p);
    pthread_mutex_lock(&r->lock);
    size_t at = reg_find(r, (uintptr_t)p);
    int st = 0;
    if (at != SIZE_MAX) {
        hak_large_hdr_t *h = hdr_of(p);
        st = h->magic == hdr_sum((uintptr_t)p, h) ? 1 : -1;
#if HAK_DEBUG
        if (st == 1 && h->guard != large_guard((uintptr_t)p)) st = -1;
#endif
        if (st == 1) {
            *out = *h;
            if (take) {
                reg_remove_at(r, at);
                h->magic = 0;
            }
        }
    }
    pthread_mutex_unlock(&r->lock);
    return st;
}

/* ---- free range nodes ---------------------------------------------------- */

typedef struct fr_node {
    uintptr_t start;
    size_t len;           /* 0: on the node free list */
    uint64_t since_ms;    /* dirty: when it was last given back (the newest part) */
    uint32_t next_s;      /* chain of the by-start table (or the node free list) */
    uint32_t next_e;      /* chain of the by-end table */
    uint32_t older, newer; /* dirty: the age list */
    uint32_t left, right; /* the size treap of its kind */
    uint32_t prio;        /* treap priority: a max-heap on it */
    uint32_t dirty;
} fr_node_t;

/* Nodes are named by index (0: none), so the pool can move when it grows. */
static fr_node_t *fr_pool;
static uint32_t fr_cap;       /* nodes in the pool (a power of two; 0 unused) */
static uint32_t fr_free_head; /* unused nodes, linked through next_s */
static uint32_t fr_used;      /* nodes holding a range */
static uint32_t *fr_by_start, *fr_by_end; /* fr_cap buckets each */
static uint32_t fr_root[2];   /* size treaps: [0] clean, [1] dirty */
static uint32_t age_oldest, age_newest;
static uint32_t prio_state = 0x2545F491u;

#define N(i) (&fr_pool[(i)])

static uint32_t addr_bucket(uintptr_t a)
{
    return (uint32_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> 32) & (fr_cap - 1);
}

static void hash_put(uint32_t *tab, uint32_t n, uintptr_t key, bool by_end)
{
    uint32_t b = addr_bucket(key);
    if (by_end) N(n)->next_e = tab[b];
    else N(n)->next_s = tab[b];
    tab[b] = n;
}

static void hash_del(uint32_t *tab, uint32_t n, uintptr_t key, bool by_end)
{
    uint32_t *link = &tab[addr_bucket(key)];
    while (*link != n) link = by_end ? &N(*link)->next_e : &N(*link)->next_s;
    *link = by_end ? N(n)->next_e : N(n)->next_s;
}

static uint32_t fr_at_start(uintptr_t a)
{
    if (fr_cap == 0) return 0;
    uint32_t n = fr_by_start[addr_bucket(a)];
    while (n && N(n)->start != a) n = N(n)->next_s;
    return n;
}

static uint32_t fr_at_end(uintptr_t a)
{
    if (fr_cap == 0) return 0;
    uint32_t n = fr_by_end[addr_bucket(a)];
    while (n && N(n)->start + N(n)->len != a) n = N(n)->next_e;
    return n;
}

/* Doubles the pool and rebuilds both address tables; false if no memory. */
static bool fr_pool_grow(void)
{
    uint32_t ncap = fr_cap ? fr_cap * 2 : 64; /* a page, at first */
    if (ncap == 0) return false; /* 2^32 ranges: cannot happen in the region */
    size_t pool_bytes = (size_t)ncap * sizeof(fr_node_t), tab_bytes = (size_t)ncap * sizeof(uint32_t);
    fr_node_t *np = _hak_os_map(pool_bytes + 2 * tab_bytes);
    if (np == NULL) return false;
    if (fr_pool) {
        memcpy(np, fr_pool, (size_t)fr_cap * sizeof(fr_node_t));
        _hak_os_unmap(fr_pool, (size_t)fr_cap * (sizeof(fr_node_t) + 2 * sizeof(uint32_t)));
    }
    uint32_t old = fr_cap ? fr_cap : 1; /* node 0 is never used */
    fr_pool = np;
    fr_cap = ncap;
    fr_by_start = (uint32_t *)((char *)np + pool_bytes);
    fr_by_end = fr_by_start + ncap;
    for (uint32_t i = 1; i < old; i++) {
        if (N(i)->len == 0) continue;
        hash_put(fr_by_start, i, N(i)->start, false);
        hash_put(fr_by_end, i, N(i)->start + N(i)->len, true);
    }
    /* The new nodes join the free list (the old free ones are on it). */
    for (uint32_t i = ncap - 1; i >= old; i--) {
        N(i)->next_s = fr_free_head;
        fr_free_head = i;
    }
    return true;
}

static uint32_t node_new(void)
{
    if (fr_free_head == 0 && !fr_pool_grow()) return 0;
    uint32_t n = fr_free_head;
    fr_free_head = N(n)->next_s;
    fr_used++;
    /* xorshift32: treap priorities need only be independent of the keys. */
    prio_state ^= prio_state << 13;
    prio_state ^= prio_state >> 17;
    prio_state ^= prio_state << 5;
    *N(n) = (fr_node_t){.prio = prio_state};
    return n;
}

static void node_free(uint32_t n)
{
    N(n)->len = 0;
    N(n)->next_s = fr_free_head;
    fr_free_head = n;
    fr_used--;
}

/* ---- the size treaps: key (len, start), best fit = smallest key >= len ---- */

static bool key_less(uint32_t a, uint32_t b)
{
    return N(a)->len < N(b)->len || (N(a)->len == N(b)->len && N(a)->start < N(b)->start);
}

static void tr_insert(uint32_t *root, uint32_t n)
{
    uint32_t *link = root;
    while (*link && N(*link)->prio >= N(n)->prio)
        link = key_less(n, *link) ? &N(*link)->left : &N(*link)->right;
    /* Split the subtree at *link by n's key into n's two children. */
    uint32_t t = *link, *l = &N(n)->left, *r = &N(n)->right;
    while (t) {
        if (key_less(t, n)) {
            *l = t;
            l = &N(t)->right;
            t = N(t)->right;
        } else {
            *r = t;
            r = &N(t)->left;
            t = N(t)->left;
        }
    }
    *l = *r = 0;
    *link = n;
}

static void tr_remove(uint32_t *root, uint32_t n)
{
    uint32_t *link = root;
    while (*link != n) link = key_less(n, *link) ? &N(*link)->left : &N(*link)->right;
    /* Merge n's children (every key of a below every key of b) into *link. */
    uint32_t a = N(n)->left, b = N(n)->right;
    while (a && b) {
        if (N(a)->prio >= N(b)->prio) {
            *link = a;
            link = &N(a)->right;
            a = N(a)->right;
        } else {
            *link = b;
            link = &N(b)->left;
            b = N(b)->left;
        }
    }
    *link = a ? a : b;
}

/* The smallest range of at least len bytes (the lowest of equal ones). */
static uint32_t tr_best(uint32_t t, size_t len)
{
    uint32_t best = 0;
    while (t) {
        if (N(t)->len >= len) {
            best = t;
            t = N(t)->left;
        } else {
            t = N(t)->right;
        }
    }
    return best;
}

/* ---- the age list of dirty ranges (since_ms never decreases along it) ---- */

static void age_push_newest(uint32_t n)
{
    N(n)->older = age_newest;
    N(n)->newer = 0;
    if (age_newest) N(age_newest)->newer = n;
    else age_oldest = n;
    age_newest = n;
}

static void age_remove(uint32_t n)
{
    if (N(n)->older) N(N(n)->older)->newer = N(n)->newer;
    else age_oldest = N(n)->newer;
    if (N(n)->newer) N(N(n)->newer)->older = N(n)->older;
    else age_newest = N(n)->older;
}

/* ---- the region ---------------------------------------------------------- */

static uintptr_t region_base, region_top, region_end;
static uintptr_t region_rw;   /* pages below are read-write (committed once) */
static size_t dirty_bytes;    /* sum of the dirty ranges and the quick entries */
/* The quick entries (below): whole freed blocks, dirty, oldest first. */
#define QUICK_N 8
/* Longer blocks go to the ranges at once: kept whole, a few of them would
 * make the region's footprint grow (measured on bench_churn's 1-4 MiB and
 * 5-25 MiB buffers: +2 and +13 MiB of peak RSS), and their call cost is
 * small beside their page use. */
#define QUICK_MAX ((size_t)512 << 10)
/* And no more than this in all, for the same reason (bench_large's 64 KiB
 * to 8 MiB blocks: 8 entries of up to 1 MiB each made its peak RSS 18%
 * higher). */
#define QUICK_BYTES ((size_t)512 << 10)
static size_t quick_bytes;
static struct {
    uintptr_t start;
    size_t len;
    uint64_t since;
} quick[QUICK_N];
static unsigned quick_n;
static size_t live_bytes;     /* sum of the live region blocks */
static size_t cache_min;      /* HAKMEM_LARGE_CACHE */
static uint64_t cache_pct;    /* HAKMEM_LARGE_CACHE_PCT */
static size_t region_cap;     /* no region block is bigger (mremap serves those) */
static uint64_t idle_ms;      /* HAKMEM_LARGE_IDLE_MS; 0: never by age */
/* Read without the lock by the calls that need the lock only when it is due. */
static _Atomic uint64_t next_idle_check;

/* Blocks of 64 MiB or more get mappings of their own whatever the budget,
 * unless HAKMEM_LARGE_CACHE asks for bigger ones: moving one in realloc is
 * then a mremap, not a copy, and a free of one is the same munmap-sized
 * work either way. */
#define REGION_CAP_MIN ((size_t)64 << 20)

static bool in_region(uintptr_t a) { return a >= region_base && a < region_end; }

/* The dirty budget: HAKMEM_LARGE_CACHE, or cache_pct % of the bytes of live
 * region blocks when that is more (see the top of the file). */
static size_t dirty_limit(void)
{
    uint64_t prop = (uint64_t)live_bytes / 100 * cache_pct;
    return prop > cache_min ? (size_t)prop : cache_min;
}

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
    size_t least = 4 * (cache_min / 4);
    if (cache_min == 0 || size < least) return;
    /* Refused (valgrind's address space, a tight RLIMIT_AS): halve, since a
     * smaller region still serves. */
    void *r;
    while ((r = _hak_os_reserve_none(size)) == NULL && size / 2 >= least)
        size = size / 2 & ~(page - 1);
    if (r == NULL) return;
    HAK_VG_NOACCESS(r, size);
    _hak_stat_add(&_hak_g_stats.reserved, size);
    region_base = region_top = region_rw = (uintptr_t)r;
    region_end = region_base + size;
}

/* Indexes node n (start, len, dirty and since_ms set) everywhere. */
static void fr_link(uint32_t n)
{
    hash_put(fr_by_start, n, N(n)->start, false);
    hash_put(fr_by_end, n, N(n)->start + N(n)->len, true);
    tr_insert(&fr_root[N(n)->dirty], n);
    if (N(n)->dirty) age_push_newest(n);
}

static void fr_unlink(uint32_t n)
{
    hash_del(fr_by_start, n, N(n)->start, false);
    hash_del(fr_by_end, n, N(n)->start + N(n)->len, true);
    tr_remove(&fr_root[N(n)->dirty], n);
    if (N(n)->dirty) age_remove(n);
}

#if HAK_DEBUG
/* Every invariant of the free ranges, in O(n): run while they are few (the
 * tests' and the fuzzer's sizes), so that a broken index shows at once. */
static uint32_t tr_check(uint32_t t, uint32_t dirty, uint32_t *count)
{
    if (t == 0) return 0;
    HAK_ASSERT(N(t)->len != 0 && N(t)->dirty == dirty);
    if (N(t)->left) HAK_ASSERT(key_less(N(t)->left, t) && N(N(t)->left)->prio <= N(t)->prio);
    if (N(t)->right) HAK_ASSERT(key_less(t, N(t)->right) && N(N(t)->right)->prio <= N(t)->prio);
    (*count)++;
    tr_check(N(t)->left, dirty, count);
    tr_check(N(t)->right, dirty, count);
    return *count;
}

static void fr_check(void)
{
    if (fr_used > 64 || fr_cap > 1024) return;
    uint32_t count = 0;
    tr_check(fr_root[0], 0, &count);
    tr_check(fr_root[1], 1, &count);
    HAK_ASSERT(count == fr_used);
    size_t dirty = 0;
    uint64_t since = 0;
    for (uint32_t n = age_oldest; n; n = N(n)->newer) {
        HAK_ASSERT(N(n)->dirty && N(n)->since_ms >= since);
        since = N(n)->since_ms;
        dirty += N(n)->len;
    }
    for (unsigned i = 0; i < quick_n; i++) {
        HAK_ASSERT(quick[i].len != 0 && quick[i].start >= region_base &&
                   quick[i].start + quick[i].len <= region_top);
        dirty += quick[i].len;
    }
    HAK_ASSERT(dirty == dirty_bytes);
    for (uint32_t i = 1; i < fr_cap; i++) {
        if (N(i)->len == 0) continue;
        uintptr_t s = N(i)->start, e = s + N(i)->len;
        HAK_ASSERT(s >= region_base && e <= region_top && (s | e) % page == 0);
        HAK_ASSERT(fr_at_start(s) == i && fr_at_end(e) == i);
        uint32_t r = fr_at_start(e);
        HAK_ASSERT(r == 0 || N(r)->dirty != N(i)->dirty);
        HAK_ASSERT(N(i)->dirty || e != region_top);
    }
}
#else
static inline void fr_check(void) {}
#endif

/* Adds [start, start+len) as a free range of the given kind, merged with
 * neighbours of the same kind; a clean range reaching the top lowers it. A
 * neighbour absorbs the range in place: only the indexes of what changes
 * (its start or its end, its length, its age) are updated. */
static void fr_add(uintptr_t start, size_t len, bool dirty, uint64_t since)
{
    uint32_t l = fr_at_end(start), r = fr_at_start(start + len);
    if (l && N(l)->dirty != dirty) l = 0;
    if (r && N(r)->dirty != dirty) r = 0;
    uintptr_t s = l ? N(l)->start : start;
    uintptr_t e = r ? N(r)->start + N(r)->len : start + len;
    if (l && N(l)->since_ms > since) since = N(l)->since_ms;
    if (r && N(r)->since_ms > since) since = N(r)->since_ms;
    if (!dirty && e == region_top) {
        if (l) fr_unlink(l), node_free(l);
        if (r) fr_unlink(r), node_free(r);
        region_top = s;
        return;
    }
    uint32_t n = l ? l : r;
    if (n == 0) {
        if ((n = node_new()) == 0) {
            /* No node to list it in: the pages go back to the kernel and
             * the address range stays unused, a leak of address space only. */
            if (dirty) {
                dirty_bytes -= len;
                /* Still resident if the purge failed: then still committed. */
                if (_hak_os_purge((void *)start, len)) _hak_stat_commit(-(int64_t)len);
            }
            return;
        }
        N(n)->start = s;
        N(n)->len = e - s;
        N(n)->since_ms = since;
        N(n)->dirty = dirty;
        fr_link(n);
        return;
    }
    if (l && r) fr_unlink(r), node_free(r);
    if (n == l) hash_del(fr_by_end, n, N(n)->start + N(n)->len, true);
    else hash_del(fr_by_start, n, N(n)->start, false);
    tr_remove(&fr_root[dirty], n);
    if (dirty) age_remove(n);
    N(n)->start = s;
    N(n)->len = e - s;
    N(n)->since_ms = since;
    if (n == l) hash_put(fr_by_end, n, e, true);
    else hash_put(fr_by_start, n, s, false);
    tr_insert(&fr_root[dirty], n);
    if (dirty) age_push_newest(n);
}

/* ---- the quick entries ---------------------------------------------------
 *
 * The last QUICK_N region blocks freed, kept whole and dirty, outside the
 * free ranges: a malloc of exactly one of their lengths takes it back with
 * a few compares, where the ranges cost a coalesce, a treap insert and
 * remove and four hash updates each way (a program that frees and
 * allocates buffers of a few sizes in turn, as most do, stays here). They
 * are counted in dirty_bytes; the budget, the idle purge, hak_collect, an
 * in-place realloc and any allocation the ranges alone cannot serve without
 * growing the region first move them into the ranges (coalesced there), so
 * they never cost more memory or a later return. Oldest first. */
static void quick_drop(unsigned i)
{
    quick_bytes -= quick[i].len;
    for (unsigned j = i + 1; j < quick_n; j++) quick[j - 1] = quick[j];
    quick_n--;
}

/* Entry i into the free ranges, its age kept within the age list's order. */
static void quick_to_ranges(unsigned i)
{
    uint64_t since = quick[i].since;
    if (age_newest && N(age_newest)->since_ms > since) since = N(age_newest)->since_ms;
    uintptr_t start = quick[i].start;
    size_t len = quick[i].len;
    quick_drop(i);
    fr_add(start, len, true, since);
}

static void quick_flush(void)
{
    while (quick_n) quick_to_ranges(0);
}

/* Entry i's pages back to the kernel (a clean range); false if the kernel
 * refused (it stays). */
static bool quick_purge(unsigned i)
{
    if (!_hak_os_purge((void *)quick[i].start, quick[i].len)) return false;
    uintptr_t start = quick[i].start;
    size_t len = quick[i].len;
    quick_drop(i);
    dirty_bytes -= len;
    _hak_stat_commit(-(int64_t)len);
    fr_add(start, len, false, 0);
    return true;
}

/* A freed block kept whole; the oldest entry makes room. */
static void quick_put(uintptr_t start, size_t len, uint64_t now)
{
    while (quick_n == QUICK_N || (quick_n && quick_bytes + len > QUICK_BYTES)) quick_to_ranges(0);
    quick_bytes += len;
    quick[quick_n].start = start;
    quick[quick_n].len = len;
    quick[quick_n].since = now;
    quick_n++;
    dirty_bytes += len;
}

/* The newest entry of exactly len bytes, taken; 0 if none. */
static uintptr_t quick_take(size_t len)
{
    for (unsigned i = quick_n; i-- > 0;) {
        if (quick[i].len != len) continue;
        uintptr_t a = quick[i].start;
        quick_drop(i);
        dirty_bytes -= len;
        return a;
    }
    return 0;
}

/* Purges the last `len` bytes of dirty range n (all of it: len = its
 * length); a failed madvise keeps them dirty (nothing lost). Returns the
 * bytes given back. */
static size_t fr_purge_tail(uint32_t n, size_t len)
{
    uintptr_t end = N(n)->start + N(n)->len;
    if (!_hak_os_purge((void *)(end - len), len)) return 0;
    dirty_bytes -= len;
    _hak_stat_commit(-(int64_t)len);
    if (len == N(n)->len) {
        fr_unlink(n);
        node_free(n);
    } else {
        /* Its start and its age stay: only the end table and the treap change. */
        hash_del(fr_by_end, n, end, true);
        tr_remove(&fr_root[1], n);
        N(n)->len -= len;
        hash_put(fr_by_end, n, end - len, true);
        tr_insert(&fr_root[1], n);
    }
    fr_add(end - len, len, false, 0);
    return len;
}

/* Oldest dirty bytes go until the budget holds: O(1) per range purged. */
static void over_budget(void)
{
    size_t limit = dirty_limit();
    if (dirty_bytes > limit) quick_flush();
    while (dirty_bytes > limit && age_oldest) {
        uint32_t n = age_oldest;
        size_t excess = hak_align_up(dirty_bytes - limit, page);
        if (fr_purge_tail(n, excess < N(n)->len ? excess : N(n)->len) == 0) return;
    }
}

/* Dirty ranges untouched for idle_ms go back: the oldest first, so the walk
 * stops at the first one still young. */
static void idle_purge(uint64_t now)
{
    atomic_store_explicit(&next_idle_check, now + idle_ms / 4, memory_order_relaxed);
    for (unsigned i = 0; i < quick_n;) {
        if (quick[i].since + idle_ms > now || !quick_purge(i)) i++;
    }
    while (age_oldest && N(age_oldest)->since_ms + idle_ms <= now)
        if (fr_purge_tail(age_oldest, N(age_oldest)->len) == 0) return;
}

/* True when an idle purge is due (cheap: a clock read, no lock). */
static bool idle_due(uint64_t *now)
{
    if (idle_ms == 0) return false;
    *now = _hak_os_now_ms();
    return *now >= atomic_load_explicit(&next_idle_check, memory_order_relaxed);
}

/* Checked at most every idle_ms / 4, so the purge is rare (large_lock held;
 * now: the clock, read by the caller). */
static void idle_check_at(uint64_t now)
{
    if (idle_ms != 0 && dirty_bytes != 0 &&
        now >= atomic_load_explicit(&next_idle_check, memory_order_relaxed))
        idle_purge(now);
}

static void idle_check(void)
{
    uint64_t now;
    if (dirty_bytes != 0 && idle_due(&now)) idle_purge(now);
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

/* Takes len bytes from the front of free range n. Returns true if all of
 * them were clean (they read as zero). */
static bool fr_take(uint32_t n, size_t len)
{
    bool clean = !N(n)->dirty;
    if (clean) _hak_stat_commit((int64_t)len);
    else dirty_bytes -= len;
    /* Its end stays: only the start table and the size treap change. */
    hash_del(fr_by_start, n, N(n)->start, false);
    tr_remove(&fr_root[N(n)->dirty], n);
    N(n)->start += len;
    N(n)->len -= len;
    if (N(n)->len == 0) {
        hash_del(fr_by_end, n, N(n)->start, true);
        if (!clean) age_remove(n);
        node_free(n);
    } else {
        hash_put(fr_by_start, n, N(n)->start, false);
        tr_insert(&fr_root[N(n)->dirty], n);
    }
    return clean;
}

/* Bytes [a, a + len) taken from the free range starting at a and, if that
 * is too short and ends at the top, from the top; false if they are not free.
 * *clean says whether all of them read as zero. */
static bool take_after(uintptr_t a, size_t len, bool *clean)
{
    quick_flush(); /* the range behind a may be one */
    uint32_t n = fr_at_start(a);
    size_t have = n ? N(n)->len : 0;
    if (have < len) {
        if (a + have != region_top || region_end - region_top < len - have ||
            !top_grow(region_top, len - have))
            return false;
    }
    *clean = true;
    if (n) *clean = fr_take(n, have < len ? have : len);
    return true;
}

/* A range of len bytes: best fit among the dirty ranges (no page faults),
 * then a dirty range at the top stretched into it (faults for the new part
 * only), then best fit among the clean ones, then the top; 0 if none can
 * (region full, or the kernel refused pages), and the caller maps instead. */
static uintptr_t region_take(size_t len, bool *clean)
{
    uintptr_t q = quick_take(len);
    if (q != 0) {
        *clean = false;
        return q;
    }
    /* An entry that could serve it by a split goes to the ranges first, so
     * best fit sees it (and whatever it coalesces with): an entry is never
     * passed over for another range or new pages. One that is too short
     * stays, for its own length. */
    for (unsigned i = 0; i < quick_n;) {
        if (quick[i].len >= len) quick_to_ranges(i);
        else i++;
    }
    uint32_t best = tr_best(fr_root[1], len);
    if (best == 0 && quick_n) {
        /* Coalesced, the short ones may serve it: before any new page. */
        quick_flush();
        best = tr_best(fr_root[1], len);
    }
    if (best == 0) {
        uint32_t t = fr_at_end(region_top);
        if (t && N(t)->dirty && N(t)->len + (region_end - region_top) >= len) {
            uintptr_t a = N(t)->start;
            if (take_after(a, len, clean)) return a;
            /* Refused (nothing changed): a clean range needs no new pages. */
        }
        best = tr_best(fr_root[0], len);
    }
    if (best != 0) {
        uintptr_t a = N(best)->start;
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

/* Gives a range back as dirty, given back at `now`: it stays resident for
 * the next request. */
static void region_give(uintptr_t start, size_t len, uint64_t now)
{
    HAK_VG_NOACCESS((void *)start, len);
    dirty_bytes += len;
    fr_add(start, len, true, now);
    over_budget();
}

/* ---- direct mappings ----------------------------------------------------- */

/* Direct mappings that hold a block. While there are none, a pointer
 * outside the region is no large block of ours, and an ownership query
 * answers without the registry's lock: hakmem.pymem asks on every free of
 * a block CPython's own allocator handed out before install(). Counted up
 * before a block joins the registry and down after it left, so it is never
 * 0 while a direct block is registered. */
static _Atomic uint64_t direct_live;

static void direct_unmap(uintptr_t base, size_t maplen)
{
    uint64_t was = atomic_fetch_sub_explicit(&direct_live, 1, memory_order_relaxed);
    HAK_ASSERT(was > 0); /* else the count missed a mapping, and the shortcut would lie */
    (void)was;
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
    atomic_fetch_add_explicit(&direct_live, 1, memory_order_relaxed);
    return true;
}

/* ---- the tier ------------------------------------------------------------ */

void _hak_large_init(uint64_t cache_bytes, uint64_t cache_live_pct, uint64_t idle_after_ms)
{
    page = _hak_os_page_size();
    cache_min = (size_t)cache_bytes;
    cache_pct = cache_live_pct;
    idle_ms = idle_after_ms;
    region_cap = cache_min / 4 > REGION_CAP_MIN ? cache_min / 4 : REGION_CAP_MIN;
    region_init();
}

/* Maps every stripe's first table, once, all in one mapping; false if the
 * kernel refused (then the allocation fails, and the next one tries again). */
static bool reg_setup(void)
{
    if (atomic_load_explicit(&reg_ready, memory_order_acquire)) return true;
    pthread_mutex_lock(&large_lock);
    bool ok = atomic_load_explicit(&reg_ready, memory_order_relaxed);
    uintptr_t *t = ok ? NULL : _hak_os_map(REG_STRIPES * REG_FIRST_CAP * sizeof(uintptr_t));
    if (t != NULL) {
        reg_first = t;
        for (int i = 0; i < REG_STRIPES; i++) {
            pthread_mutex_lock(&reg[i].lock);
            reg[i].slots = t + (size_t)i * REG_FIRST_CAP;
            reg[i].cap = REG_FIRST_CAP;
            pthread_mutex_unlock(&reg[i].lock);
        }
        atomic_store_explicit(&reg_ready, true, memory_order_release);
        ok = true;
    }
    pthread_mutex_unlock(&large_lock);
    return ok;
}

void _hak_large_lock(void)
{
    pthread_mutex_lock(&large_lock);
    for (int i = 0; i < REG_STRIPES; i++) pthread_mutex_lock(&reg[i].lock);
}
void _hak_large_unlock(void)
{
    for (int i = REG_STRIPES - 1; i >= 0; i--) pthread_mutex_unlock(&reg[i].lock);
    pthread_mutex_unlock(&large_lock);
}
void _hak_large_reset_lock(void)
{
    pthread_mutex_init(&large_lock, NULL);
    for (int i = 0; i < REG_STRIPES; i++) pthread_mutex_init(&reg[i].lock, NULL);
}

/* The region's idle purge, from a call that does not otherwise lock it. */
static void idle_check_unlocked(void)
{
    uint64_t now;
    if (region_end == 0 || !idle_due(&now)) return;
    pthread_mutex_lock(&large_lock);
    if (dirty_bytes != 0) idle_purge(now);
    pthread_mutex_unlock(&large_lock);
}

void _hak_large_idle_tick(void) { idle_check_unlocked(); }

/* Gives back a region range that had been a live block. One above a
 * quarter of the budget (as it is without it) goes back to the kernel at
 * once, as a mapping of its own would: a program that frees its one big
 * buffer gets the memory back, one that frees one of many keeps it for the
 * next. */
static void region_give_live(uintptr_t base, size_t maplen)
{
    pthread_mutex_lock(&large_lock);
    /* Read under the lock, so that the age list stays in clock order. */
    uint64_t now = _hak_os_now_ms();
    live_bytes -= maplen;
    if (maplen > dirty_limit() / 4 && _hak_os_purge((void *)base, maplen)) {
        HAK_VG_NOACCESS((void *)base, maplen);
        _hak_stat_commit(-(int64_t)maplen);
        fr_add(base, maplen, false, 0);
        over_budget(); /* the budget fell with the live bytes */
    } else if (maplen <= QUICK_MAX) {
        HAK_VG_NOACCESS((void *)base, maplen);
        quick_put(base, maplen, now);
        over_budget();
    } else {
        region_give(base, maplen, now);
    }
    idle_check_at(now);
    fr_check();
    pthread_mutex_unlock(&large_lock);
}

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
    if (!reg_setup()) {
        errno = ENOMEM;
        return NULL;
    }
    size_t maplen = hak_align_up(need, page);
    uintptr_t base = 0;
    bool clean = true, tried = false;
    if (slack == 0 && region_end != 0) {
        pthread_mutex_lock(&large_lock);
        idle_check();
        if (maplen <= region_cap) {
            base = region_take(maplen, &clean);
            if (base) live_bytes += maplen;
        }
        fr_check();
        pthread_mutex_unlock(&large_lock);
        tried = true;
    }
    bool direct = base == 0;
    if (direct) {
        if (!tried) idle_check_unlocked();
        if (!direct_map(size, align, slack, &base, &maplen, &offset)) {
            errno = ENOMEM;
            return NULL;
        }
    } else {
        HAK_VG_REUSE((void *)base, maplen);
    }
    uintptr_t p = base + offset;
    hak_large_hdr_t *h = hdr_of((void *)p);
    h->base = base;
    h->maplen = maplen;
    h->offset = offset;
    h->align = align;
    hdr_seal(p, h);
#if HAK_DEBUG
    h->tailed = 0;
    h->guard = large_guard(p);
#endif
    if (!reg_add(p, false)) {
        h->magic = 0;
        if (direct) direct_unmap(base, maplen);
        else region_give_live(base, maplen);
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
    if (!in_region((uintptr_t)p) && atomic_load_explicit(&direct_live, memory_order_relaxed) == 0)
        return false;
    hak_large_hdr_t h;
    return reg_lookup(p, false, &h) != 0;
}

bool _hak_large_free(void *p)
{
    hak_large_hdr_t h;
    int st = reg_lookup(p, true, &h);
    if (st == 0) return false;
    if (st < 0) _hak_fatal_ptr("free", "large block header overwritten", p);
#if HAK_DEBUG
    if (h.tailed && _hak_debug_tail_state(p, h.maplen - h.offset) != 1)
        _hak_fatal_ptr("free", "write past the requested size (the block's padding overwritten)", p);
#endif
    if (in_region(h.base)) {
        region_give_live(h.base, h.maplen);
    } else {
        direct_unmap(h.base, h.maplen);
        idle_check_unlocked();
    }
    _hak_stat_sub(&_hak_g_stats.large_blocks, 1);
    _hak_stat_sub(&_hak_g_stats.large_bytes, h.maplen - h.offset);
    _hak_stat_add(&_hak_g_stats.large_frees, 1);
    return true;
}

size_t _hak_large_usable(const void *p, const char *what)
{
    hak_large_hdr_t h;
    int st = reg_lookup(p, false, &h);
    if (st < 0) _hak_fatal_ptr(what, "large block header overwritten", p);
    return st > 0 ? h.maplen - h.offset : 0;
}

#if HAK_DEBUG
void _hak_large_debug_request(void *p, size_t n)
{
    hak_large_hdr_t *h = hdr_of(p);
    size_t usable = h->maplen - h->offset;
    h->tailed = n < usable;
    if (n < usable) _hak_debug_tail_set(p, usable, n);
}

void _hak_large_debug_unrequest(void *p, const char *what)
{
    hak_large_hdr_t h;
    if (reg_lookup(p, false, &h) <= 0 || !h.tailed) return;
    hdr_of(p)->tailed = 0;
    if (_hak_debug_tail_state(p, h.maplen - h.offset) != 1)
        _hak_fatal_ptr(what, "write past the requested size (the block's padding overwritten)", p);
    /* calloc's block reads 0 to its usable end (see _hak_large_alloc). */
    _hak_debug_tail_zero(p, h.maplen - h.offset);
}
#endif

/* Resizes region block h in place: a shrink gives the tail back, a growth
 * takes what lies behind the block if it is free (large_lock held). */
static bool region_resize(hak_large_hdr_t *h, size_t newlen)
{
    size_t oldlen = h->maplen;
    if (newlen < oldlen) {
        live_bytes -= oldlen - newlen;
        region_give(h->base + newlen, oldlen - newlen, _hak_os_now_ms());
    } else {
        bool clean;
        if (newlen > region_cap || !take_after(h->base + oldlen, newlen - oldlen, &clean))
            return false;
        live_bytes += newlen - oldlen;
        HAK_VG_REUSE((void *)(h->base + oldlen), newlen - oldlen);
    }
    h->maplen = newlen;
    return true;
}

/* Moves or resizes direct block p with mremap; its new address, or NULL with
 * p untouched. It is unregistered meanwhile: a program that used p in
 * another thread during its own realloc would be wrong anyway. */
static void *direct_resize(void *p, const hak_large_hdr_t *old, size_t newlen)
{
    /* mremap gives only page alignment: the caller copies instead. */
    if (old->align > page) return NULL;
    hak_large_hdr_t h;
    if (reg_lookup(p, true, &h) <= 0) return NULL; /* freed meanwhile: a bug, let the caller see it */
    void *m = _hak_os_remap((void *)old->base, old->maplen, newlen);
    if (m == NULL) {
        hdr_seal((uintptr_t)p, hdr_of(p));
        reg_add((uintptr_t)p, true); /* back where it was: its slot is free */
        return NULL;
    }
    void *q = (void *)((uintptr_t)m + old->offset);
    hak_large_hdr_t *nh = hdr_of(q);
    nh->base = (uintptr_t)m;
    nh->maplen = newlen;
    hdr_seal((uintptr_t)q, nh);
#if HAK_DEBUG
    nh->guard = large_guard((uintptr_t)q);
#endif
    /* Cannot fail: every stripe has its first table and grows at half full. */
    reg_add((uintptr_t)q, true);
    _hak_stat_commit((int64_t)newlen - (int64_t)old->maplen);
    if (newlen > old->maplen) _hak_stat_add(&_hak_g_stats.mapped, newlen - old->maplen);
    else _hak_stat_sub(&_hak_g_stats.mapped, old->maplen - newlen);
    return q;
}

void *_hak_large_realloc(void *p, size_t size)
{
    if (size > (size_t)PTRDIFF_MAX - 2 * page) {
        errno = ENOMEM;
        return NULL;
    }
    hak_large_hdr_t h;
    int st = reg_lookup(p, false, &h);
    if (st == 0) _hak_fatal_ptr("realloc", "invalid pointer", p);
    if (st < 0) _hak_fatal_ptr("realloc", "large block header overwritten", p);
    size_t offset = h.offset, oldlen = h.maplen;
    size_t newlen = hak_align_up(size + offset, page);
    if (newlen == oldlen) return p;
    if (in_region(h.base)) {
        /* In place or not at all: a move is the caller's malloc + copy,
         * into resident memory, cheaper than the faults of a fresh mremap. */
        pthread_mutex_lock(&large_lock);
        idle_check();
        bool ok = region_resize(hdr_of(p), newlen);
        hdr_seal((uintptr_t)p, hdr_of(p));
        fr_check();
        pthread_mutex_unlock(&large_lock);
        if (!ok) return NULL;
    } else {
        idle_check_unlocked();
        /* NULL: the caller moves the block, and sets errno only if that
         * fails too. */
        p = direct_resize(p, &h, newlen);
        if (p == NULL) return NULL;
    }
    if (newlen > oldlen) _hak_stat_add(&_hak_g_stats.large_bytes, newlen - oldlen);
    else _hak_stat_sub(&_hak_g_stats.large_bytes, oldlen - newlen);
    return p;
}

size_t _hak_large_collect(void)
{
    size_t released = 0;
    pthread_mutex_lock(&large_lock);
    for (unsigned i = 0; i < quick_n;) {
        size_t len = quick[i].len;
        if (quick_purge(i)) released += len;
        else i++;
    }
    /* Oldest first; a range whose purge fails is kept and skipped (the next
     * one is dirty too, so no merge can free it meanwhile). */
    for (uint32_t n = age_oldest; n;) {
        uint32_t next = N(n)->newer;
        released += fr_purge_tail(n, N(n)->len);
        n = next;
    }
    fr_check();
    pthread_mutex_unlock(&large_lock);
    return released;
}
