/* superslab.c: reserving the arena, carving SuperSlabs into spans.
 *
 * Call tree:
 *   _hak_span_new(cls)        (from central.c, class lock held)
 *     ss_runs / ss_new        SuperSlab lock: a SuperSlab with a run of
 *                             n free units (one bit scan), ss_find_run in it
 *   _hak_span_release(span)   purge the span's pages, free its units
 *   _hak_arena_collect()      purge SuperSlabs left with no span
 *   _hak_ss_own, _hak_ss_disown   whole SuperSlabs for first-class heaps
 *   _hak_span_new_in, _hak_span_release_in   spans in one (its heap's lock)
 * Lock order: class lock (or a heap's lock), then the SuperSlab lock.
 */
#define _GNU_SOURCE
#include "superslab.h"
#include "block.h"
#include "counters.h"
#include "os.h"
#include "vg.h"

#include <pthread.h>
#include <string.h>

#if HAK_DEBUG
static void debug_clear_tails(hak_ss_t *ss, unsigned u, unsigned n);
#endif

uintptr_t _hak_fast_base;
uintptr_t _hak_fast_size;
uintptr_t _hak_window_base;
uintptr_t _hak_window_size16;
uintptr_t _hak_arena_base;
uintptr_t _hak_arena_size;
uint8_t _hak_unit_cls[HAK_ARENA_MAX >> HAK_UNIT_SHIFT];

/* The class table's entry for unit u of ss. */
static uint8_t *unit_cls(hak_ss_t *ss, unsigned u)
{
    return &_hak_unit_cls[(((uintptr_t)ss - _hak_arena_base) >> HAK_UNIT_SHIFT) + u];
}

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t arena_bump;       /* next never-used SuperSlab */
static uintptr_t arena_top;        /* owned SuperSlabs are below it, down to here */
/* ss_runs[k]: the SuperSlabs whose longest run of free units is k units
 * (1..31; doubly linked through next/prev, newest first); bit k of
 * ss_runs_nonempty is set while that list has one. ss_runs[31] holds exactly
 * the SuperSlabs with every unit free. */
static hak_ss_t *ss_runs[HAK_UNITS];
static uint32_t ss_runs_nonempty;
static hak_ss_t *ss_purged;        /* SuperSlabs with no span, pages purged */

#define ALL_UNITS_FREE (~(uint32_t)1) /* units 1..31 */
/* The header's pages (unit 0 is never handed out, so this may exceed it). */
static uintptr_t ss_header_bytes;
static uintptr_t page_bytes;

void _hak_arena_lock(void) { pthread_mutex_lock(&arena_lock); }
void _hak_arena_unlock(void) { pthread_mutex_unlock(&arena_lock); }
void _hak_arena_reset_lock(void) { pthread_mutex_init(&arena_lock, NULL); }

/* Default size: 256 GiB of address space, or a quarter of RLIMIT_AS when the
 * program runs under a limit, so that the rest stays for its other mappings. */
static uintptr_t arena_default_size(void)
{
    uintptr_t want = (uintptr_t)256 << 30;
    uint64_t limit = _hak_os_as_limit();
    if (limit != 0 && limit / 4 < want) want = (uintptr_t)(limit / 4);
    return want;
}

bool _hak_arena_init(uint64_t size)
{
    if (_hak_arena_size != 0) return true;
    page_bytes = _hak_os_page_size();
    ss_header_bytes = hak_align_up(sizeof(hak_ss_t), page_bytes);
    uintptr_t want = (uintptr_t)size;
    if (want == 0) want = arena_default_size();
    if (want > HAK_ARENA_MAX) want = HAK_ARENA_MAX;
    want &= ~(HAK_SS_SIZE - 1);
    const uintptr_t min_size = 8 * HAK_SS_SIZE;
    if (want < min_size) want = min_size;
    for (; want >= min_size; want /= 2) {
        want &= ~(HAK_SS_SIZE - 1);
        void *p = _hak_os_reserve(want + HAK_SS_SIZE);
        if (p == NULL) continue;
        uintptr_t base = hak_align_up((uintptr_t)p, HAK_SS_SIZE);
        /* Trim the unaligned head and the tail so exactly [base, base+want) is ours. */
        if (base != (uintptr_t)p) _hak_os_unmap(p, base - (uintptr_t)p);
        uintptr_t tail = (uintptr_t)p + want + HAK_SS_SIZE - (base + want);
        if (tail != 0) _hak_os_unmap((void *)(base + want), tail);
        HAK_VG_NOACCESS((void *)base, want);
        _hak_stat_add(&_hak_g_stats.reserved, want);
        arena_bump = base;
        arena_top = base + want;
        _hak_arena_base = base;
        _hak_arena_size = want;
        return true;
    }
    return false;
}

void _hak_arena_open_fast_window(bool open)
{
    _hak_window_base = _hak_arena_base;
    _hak_window_size16 = _hak_arena_size >> 4;
    _hak_fast_base = _hak_window_base;
    _hak_fast_size = open ? _hak_arena_size : 0;
}

/* Length of the longest run of set bits: each step shortens every run by
 * one, so at most 31 steps. */
static unsigned ss_longest_run(uint32_t m)
{
    unsigned k = 0;
    for (; m != 0; m &= m << 1) k++;
    return k;
}

static void ss_list_remove(hak_ss_t *ss)
{
    unsigned k = ss->listed;
    if (k == 0) return;
    if (ss->prev) ss->prev->next = ss->next;
    else ss_runs[k] = ss->next;
    if (ss->next) ss->next->prev = ss->prev;
    if (ss_runs[k] == NULL) ss_runs_nonempty &= ~((uint32_t)1 << k);
    ss->next = ss->prev = NULL;
    ss->listed = 0;
}

/* Puts ss on the list of its longest free run (none if it has no free unit). */
static void ss_relist(hak_ss_t *ss)
{
    unsigned k = ss_longest_run(ss->free_units);
    if (k == ss->listed) return;
    ss_list_remove(ss);
    if (k == 0) return;
    ss->prev = NULL;
    ss->next = ss_runs[k];
    if (ss->next) ss->next->prev = ss;
    ss_runs[k] = ss;
    ss_runs_nonempty |= (uint32_t)1 << k;
    ss->listed = k;
}

static hak_ss_t *ss_new(void)
{
    hak_ss_t *ss = ss_purged;
    bool reused = ss != NULL;
    if (reused) {
        ss_purged = ss->next;
    } else {
        if (arena_bump + HAK_SS_SIZE > arena_top) return NULL;
        ss = (hak_ss_t *)arena_bump;
        arena_bump += HAK_SS_SIZE;
    }
    /* Fresh, or purged but for its first page: the per-unit tables read as
     * zero, and so do its units' classes (cleared when their spans went). */
    HAK_VG_DEFINED(ss, sizeof *ss);
    ss->free_units = ALL_UNITS_FREE;
    ss->next = ss->prev = NULL;
    ss->listed = 0;
    _hak_stat_add(&_hak_g_stats.superslabs, 1);
    _hak_stat_commit((int64_t)(reused ? ss_header_bytes - page_bytes : ss_header_bytes));
    ss_relist(ss);
    return ss;
}

/* The bits of units u..u+n-1 of a SuperSlab's unit mask. */
static uint32_t run_mask(unsigned u, unsigned n) { return (n >= 32 ? ~0u : ((1u << n) - 1)) << u; }

/* First run of n free units in ss, or -1. */
static int ss_find_run(const hak_ss_t *ss, unsigned n)
{
    for (unsigned u = 1; u + n <= HAK_UNITS; u++) {
        uint32_t m = run_mask(u, n);
        if ((ss->free_units & m) == m) return (int)u;
    }
    return -1;
}

/* Units u..u+n-1 of ss, just taken off its free units, become a span of
 * class id cls (under the lock that guards ss's units). */
static hak_span_t *span_setup(hak_ss_t *ss, unsigned u, unsigned cls, unsigned n)
{
    hak_span_t *s = &ss->span[u];
    uintptr_t start = (uintptr_t)ss + ((uintptr_t)u << HAK_UNIT_SHIFT);
    uint32_t size = _hak_cls_size[cls];
    memset(s, 0, sizeof *s);
    s->bump = start;
    s->end = start + (uintptr_t)((n * HAK_UNIT_SIZE) / size) * size;
    s->cls = (uint8_t)cls;
    s->units = (uint8_t)n;
    s->state = HAK_SPAN_PARTIAL;
    for (unsigned i = 0; i < n; i++) {
        ss->unit_head[u + i] = (uint8_t)u;
        *unit_cls(ss, u + i) = (uint8_t)cls;
    }
    return s;
}

/* The rest of a new span's set-up, which needs no lock. */
static hak_span_t *span_ready(hak_span_t *s)
{
#if HAK_DEBUG
    debug_clear_tails(hak_ss_of(s), (unsigned)(s - hak_ss_of(s)->span), s->units);
#endif
    /* Untouchable until carved into blocks (central.c). */
    HAK_VG_NOACCESS((void *)hak_span_start(s), (size_t)s->units << HAK_UNIT_SHIFT);
    _hak_stat_add(&_hak_g_stats.spans, 1);
    _hak_stat_commit((int64_t)s->units * (int64_t)HAK_UNIT_SIZE);
    return s;
}

hak_span_t *_hak_span_new(unsigned cls)
{
    HAK_ASSERT(cls % HAK_HEAP_CLS > 0 && cls % HAK_HEAP_CLS < HAK_NCLASS && cls < HAK_CLASS_IDS);
    unsigned n = _hak_cls_units[cls];
    HAK_ASSERT(n >= 1 && n < HAK_UNITS);
    pthread_mutex_lock(&arena_lock);
    /* The shortest longest-run that fits: long runs stay for long spans,
     * and SuperSlabs with every unit free stay free while others serve. */
    uint32_t fits = ss_runs_nonempty & ~(((uint32_t)1 << n) - 1);
    hak_ss_t *ss = fits ? ss_runs[__builtin_ctz(fits)] : ss_new();
    if (ss == NULL) {
        pthread_mutex_unlock(&arena_lock);
        return NULL;
    }
    int u = ss_find_run(ss, n);
    HAK_ASSERT(u >= 1);
    ss->free_units &= ~run_mask((unsigned)u, n);
    ss_relist(ss);
    hak_span_t *s = span_setup(ss, (unsigned)u, cls, n);
    pthread_mutex_unlock(&arena_lock);
    return span_ready(s);
}

/* Units u..u+n-1 of ss are free again (arena lock held): each page of
 * free_bits whose 8 units are all free now goes back. The bits are 0
 * already, but the pages stay resident otherwise, 16 KiB for every
 * SuperSlab a program ever filled (test_memreturn: 8 MiB resident after
 * freeing 1 GiB of 64-byte blocks, 16 MiB without this). Under the lock:
 * a span created in those units meanwhile would set bits that the purge
 * then dropped. */
static void bits_purge(hak_ss_t *ss, unsigned u, unsigned n)
{
    enum { UNITS_PER_PAGE = 4096 / (HAK_BITS_PER_UNIT * 8) };
    _Static_assert(UNITS_PER_PAGE == 8, "a page of free_bits covers 8 units");
    /* Larger pages (16 or 64 KiB on some aarch64 kernels) are not aligned
     * on free_bits' 4 KiB pages, and a purge rounded out to them would drop
     * the words of live spans (or the debug build's live bits): there the
     * bits stay resident until hak_collect purges the whole SuperSlab. */
    if (_hak_os_page_size() != 4096) return;
    for (unsigned g = u / UNITS_PER_PAGE; g <= (u + n - 1) / UNITS_PER_PAGE; g++) {
        uint32_t group = 0xffu << (g * UNITS_PER_PAGE);
        if (((ss->free_units | 1u) & group) == group)
            _hak_os_purge(&ss->free_bits[g * UNITS_PER_PAGE * HAK_BITS_PER_UNIT], 4096);
    }
}

void _hak_span_release(hak_span_t *s)
{
    hak_ss_t *ss = hak_ss_of(s);
    unsigned u = (unsigned)(s - ss->span);
    unsigned n = s->units;
    /* From the empty list (hak_collect) or straight from a flush (DEAD). */
    HAK_ASSERT(s->used == 0 && (s->state == HAK_SPAN_EMPTY || s->state == HAK_SPAN_DEAD));
    uintptr_t start = (uintptr_t)ss + ((uintptr_t)u << HAK_UNIT_SHIFT);
    /* Purge outside the lock: it is a system call and the units are still ours. */
    _hak_os_purge((void *)start, (uintptr_t)n << HAK_UNIT_SHIFT);
    pthread_mutex_lock(&arena_lock);
    for (unsigned i = 0; i < n; i++) {
        *unit_cls(ss, u + i) = 0;
        ss->unit_head[u + i] = 0;
    }
    s->state = HAK_SPAN_DEAD;
    ss->free_units |= run_mask(u, n);
    bits_purge(ss, u, n);
    ss_relist(ss);
    pthread_mutex_unlock(&arena_lock);
    _hak_stat_sub(&_hak_g_stats.spans, 1);
    _hak_stat_commit(-(int64_t)(n * HAK_UNIT_SIZE));
}

size_t _hak_arena_collect(void)
{
    size_t released = 0;
    pthread_mutex_lock(&arena_lock);
    /* Exactly the SuperSlabs with every unit free. */
    hak_ss_t *ss;
    while ((ss = ss_runs[HAK_UNITS - 1]) != NULL) {
        HAK_ASSERT(ss->free_units == ALL_UNITS_FREE);
        ss_list_remove(ss);
        /* Its units were purged when their spans went; now the header too,
         * all but its first page, which holds the link to the next one. */
        if (ss_header_bytes > page_bytes)
            _hak_os_purge((char *)ss + page_bytes, ss_header_bytes - page_bytes);
        ss->next = ss_purged;
        ss_purged = ss;
        released += ss_header_bytes - page_bytes;
        _hak_stat_sub(&_hak_g_stats.superslabs, 1);
        _hak_stat_commit(-(int64_t)(ss_header_bytes - page_bytes));
    }
    pthread_mutex_unlock(&arena_lock);
    return released;
}

bool _hak_span_block_start(const void *p)
{
    if (!hak_in_arena(p) || hak_class_at(p) == 0) return false;
    const hak_span_t *s = hak_span_of(p);
    uintptr_t start = hak_span_start(s);
    return (uintptr_t)p < s->end && hak_class_divides(s->cls, (uintptr_t)p - start);
}

#if HAK_DEBUG
/* The debug build's bitmaps (superslab.h): the word and bit of p's granule. */
#define DEBUG_GRANULE(p, bits, word, bit)                                              \
    hak_ss_t *ss_ = hak_ss_of(p);                                                      \
    size_t g_ = ((uintptr_t)(p) & (HAK_SS_SIZE - 1)) >> 4;                             \
    _Atomic uint64_t *word = &ss_->bits[g_ >> 6];                                      \
    uint64_t bit = (uint64_t)1 << (g_ & 63)

static bool debug_live(const void *p)
{
    DEBUG_GRANULE(p, live_bits, w, bit);
    return (atomic_load(w) & bit) != 0;
}

/* Where p's tail bit lives: for a block of 32 bytes or more, the live bit
 * of its second granule (never a block's start, so that bitmap's pages
 * carry both); for a 16-byte block, tail_bits (touched only for spans of
 * that class), so the debug build's header costs no more resident memory
 * than the live bits alone for every other class. */
static _Atomic uint64_t *debug_tail_word(const void *p, uint64_t *bit)
{
    hak_ss_t *ss = hak_ss_of(p);
    size_t g = ((uintptr_t)p & (HAK_SS_SIZE - 1)) >> 4;
    if (_hak_cls_size[hak_class_at(p)] == 16) {
        *bit = (uint64_t)1 << (g & 63);
        return &ss->tail_bits[g >> 6];
    }
    g++;
    *bit = (uint64_t)1 << (g & 63);
    return &ss->live_bits[g >> 6];
}

static bool debug_has_tail(const void *p)
{
    uint64_t bit;
    _Atomic uint64_t *w = debug_tail_word(p, &bit);
    return (atomic_load(w) & bit) != 0;
}

static void debug_tail_bit(const void *p, bool on)
{
    uint64_t bit;
    _Atomic uint64_t *w = debug_tail_word(p, &bit);
    if (on) atomic_fetch_or(w, bit);
    else atomic_fetch_and(w, ~bit);
}

/* Clears p's tail bit; true if it was set. */
static bool debug_take_tail(const void *p)
{
    uint64_t bit;
    _Atomic uint64_t *w = debug_tail_word(p, &bit);
    return (atomic_fetch_and(w, ~bit) & bit) != 0;
}

/* A span's units get new blocks: no stale bit of an old class's blocks
 * (a tail bit in the live bitmap could sit on a new block's start). */
static void debug_clear_tails(hak_ss_t *ss, unsigned u, unsigned n)
{
    size_t from = ((size_t)u << HAK_UNIT_SHIFT) >> 4 >> 6, to = ((size_t)(u + n) << HAK_UNIT_SHIFT) >> 4 >> 6;
    /* Stores only where a bit is set: a store would make the bitmaps'
     * untouched pages resident. */
    for (size_t i = from; i < to; i++) {
        if (atomic_load(&ss->tail_bits[i])) atomic_store(&ss->tail_bits[i], 0);
        if (atomic_load(&ss->live_bits[i])) atomic_store(&ss->live_bits[i], 0);
    }
}

/* A neighbour belongs to another owner, which may be handing it out or
 * taking it back while this reads: a bad reading counts only if a second
 * one, a moment later, is bad too (every such window in hakmem is a few
 * instructions long: hak_tc_take marks a block live before it unmarks it). */
static void debug_settle(void)
{
    for (int i = 0; i < 4096; i++) __asm__ __volatile__("" ::: "memory");
}

/* q, a block of p's span that a free left with its free tail, is not live:
 * then it carries the free mark (block.h). */
static bool debug_free_head_bad(const void *q, size_t size)
{
    if (debug_live(q) || !debug_has_tail(q) || _hak_debug_tail_state(q, size) != 2) return false;
    const volatile uint32_t *w = (const volatile uint32_t *)((const char *)q + HAK_MARK_OFF);
    return *w != (uint32_t)_hak_key;
}

static bool debug_tail_bad(const void *a, size_t size)
{
    return debug_has_tail(a) && _hak_debug_tail_state(a, size) == 0;
}

/* The checks of a block coming back (p, a block start, live). */
static void debug_check_free(void *p, const char *what)
{
    const hak_span_t *s = hak_span_of(p);
    size_t size = _hak_cls_size[s->cls];
    bool padded = debug_take_tail(p);
    if (padded && _hak_debug_tail_state(p, size) != 1)
        _hak_fatal_ptr(what, "write past the requested size (the block's padding overwritten)", p);
    /* A first-class heap's lists (heap.c) are its own: its neighbours are
     * not read. */
    if (hak_class_is_heap(s->cls)) return;
    uintptr_t start = hak_span_start(s), q = (uintptr_t)p + size;
    uintptr_t bump = __atomic_load_n(&s->bump, __ATOMIC_ACQUIRE);
    /* No padding: an overflow goes straight into the next block. A live
     * one's first bytes are the program's (not checked); a free one's mark
     * is. */
    if (!padded && q + size <= s->end && q < bump && debug_free_head_bad((void *)q, size)) {
        debug_settle();
        if (debug_free_head_bad((void *)q, size))
            _hak_fatal_ptr(what, "overflow into the next block (its free mark overwritten)", p);
    }
    /* An underflow lands in the previous block's end: its padding or its
     * free tail. */
    uintptr_t a = (uintptr_t)p - size;
    if ((uintptr_t)p > start && debug_tail_bad((void *)a, size)) {
        debug_settle();
        if (debug_tail_bad((void *)a, size))
            _hak_fatal_ptr(what, "write before the block (the previous block's end overwritten)", p);
    }
}

void _hak_debug_mark_live(void *p, const char *what)
{
    DEBUG_GRANULE(p, live_bits, w, bit);
    uint64_t old = atomic_fetch_or(w, bit);
    if (old & bit) _hak_fatal_ptr(what, "block handed out twice (corrupt free list)", p);
    if (debug_take_tail(p) && _hak_debug_tail_state(p, _hak_cls_size[hak_class_at(p)]) != 2)
        _hak_fatal_ptr(what, "free block's end overwritten (a write after free, or an underflow of the next block)", p);
}

void _hak_debug_mark_free(void *p, const char *what)
{
    if (!_hak_span_block_start(p)) _hak_fatal_ptr(what, "invalid pointer", p);
    DEBUG_GRANULE(p, live_bits, w, bit);
    if (!(atomic_load(w) & bit)) _hak_fatal_ptr(what, "double free", p);
    debug_check_free(p, what);
    uint64_t old = atomic_fetch_and(w, ~bit);
    if (!(old & bit)) _hak_fatal_ptr(what, "double free", p);
}

void _hak_debug_freed(void *p)
{
    unsigned cls = hak_class_at(p);
    /* A first-class heap's block (pushed here on its way to its heap)
     * keeps none: its heap's lists are not read by these checks. */
    if (hak_class_is_heap(cls)) return;
    _hak_debug_free_tail_set(p, _hak_cls_size[cls]);
    debug_tail_bit(p, true);
}

void _hak_debug_arena_request(void *p, size_t n)
{
    size_t size = _hak_cls_size[hak_class_at(p)];
    if (n >= size) return;
    _hak_debug_tail_set(p, size, n);
    debug_tail_bit(p, true);
}

void _hak_debug_arena_unrequest(void *p, const char *what)
{
    if (!_hak_span_block_start(p) || !debug_live(p)) return;
    size_t size = _hak_cls_size[hak_class_at(p)];
    if (!debug_take_tail(p)) return;
    if (_hak_debug_tail_state(p, size) != 1)
        _hak_fatal_ptr(what, "write past the requested size (the block's padding overwritten)", p);
    _hak_debug_tail_zero(p, size);
}
#endif

/* ---- SuperSlabs owned whole (superslab.h) ----------------------------------- */

static hak_ss_t **owned_free; /* purged whole, kept for the next owner */
static size_t owned_free_n, owned_free_cap;

hak_ss_t *_hak_ss_own(void)
{
    hak_ss_t *ss = NULL;
    bool fresh = false;
    pthread_mutex_lock(&arena_lock);
    if (owned_free_n > 0) {
        ss = owned_free[--owned_free_n];
    } else if (arena_top - arena_bump >= HAK_SS_SIZE) {
        arena_top -= HAK_SS_SIZE;
        ss = (hak_ss_t *)arena_top;
        fresh = true;
    }
    pthread_mutex_unlock(&arena_lock);
    if (ss == NULL) return NULL;
    /* Before its first touch: the kernel may then fault it as one page. */
    if (fresh) _hak_os_advise_huge(ss, HAK_SS_SIZE);
    HAK_VG_DEFINED(ss, sizeof *ss);
    ss->free_units = ALL_UNITS_FREE;
    ss->next = ss->prev = NULL; /* the next is its heap's to use */
    ss->listed = 0;
    ss->owned = 1;
    _hak_stat_add(&_hak_g_stats.superslabs, 1);
    _hak_stat_commit((int64_t)ss_header_bytes);
    return ss;
}

hak_span_t *_hak_span_new_in(hak_ss_t *ss, unsigned cls)
{
    HAK_ASSERT(ss->owned && cls % HAK_HEAP_CLS > 0 && cls < HAK_CLASS_IDS);
    unsigned n = _hak_cls_units[cls];
    int u = ss_find_run(ss, n);
    if (u < 0) return NULL;
    ss->free_units &= ~run_mask((unsigned)u, n);
    return span_ready(span_setup(ss, (unsigned)u, cls, n));
}

void _hak_span_release_in(hak_span_t *s)
{
    hak_ss_t *ss = hak_ss_of(s);
    unsigned u = (unsigned)(s - ss->span);
    unsigned n = s->units;
    HAK_ASSERT(ss->owned);
    for (unsigned i = 0; i < n; i++) {
        *unit_cls(ss, u + i) = 0;
        ss->unit_head[u + i] = 0;
    }
    _hak_os_purge((char *)ss + ((uintptr_t)u << HAK_UNIT_SHIFT), (uintptr_t)n << HAK_UNIT_SHIFT);
    s->state = HAK_SPAN_DEAD;
    ss->free_units |= run_mask(u, n);
    _hak_stat_sub(&_hak_g_stats.spans, 1);
    _hak_stat_commit(-(int64_t)(n * HAK_UNIT_SIZE));
}

void _hak_ss_disown(hak_ss_t *ss)
{
    HAK_ASSERT(ss->owned);
    uint64_t spans = 0, units = 0;
    for (unsigned u = 1; u < HAK_UNITS; u++) {
        if (ss->free_units >> u & 1) continue;
        units++;
        spans += ss->unit_head[u] == u;
        /* First: a late free of one of its blocks then finds no class. */
        *unit_cls(ss, u) = 0;
    }
    _hak_os_purge(ss, HAK_SS_SIZE);
    pthread_mutex_lock(&arena_lock);
    if (owned_free_n == owned_free_cap) {
        size_t ncap = owned_free_cap ? owned_free_cap * 2 : 512;
        hak_ss_t **n = _hak_os_map(ncap * sizeof *n);
        if (n != NULL) {
            if (owned_free_n) memcpy(n, owned_free, owned_free_n * sizeof *n);
            if (owned_free) _hak_os_unmap(owned_free, owned_free_cap * sizeof *n);
            owned_free = n;
            owned_free_cap = ncap;
        }
    }
    /* With no room to list it, its address space is lost, not its memory. */
    if (owned_free_n < owned_free_cap) owned_free[owned_free_n++] = ss;
    pthread_mutex_unlock(&arena_lock);
    _hak_stat_sub(&_hak_g_stats.superslabs, 1);
    _hak_stat_sub(&_hak_g_stats.spans, spans);
    _hak_stat_commit(-(int64_t)(ss_header_bytes + units * HAK_UNIT_SIZE));
}
