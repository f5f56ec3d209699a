/* central.c: per-class lists of spans, batch refill and flush.
 *
 * A span is on one of its class's lists: partial (it has free or uncarved
 * blocks), empty (every block returned), or none (full or owned). Empty spans are
 * kept, unpurged, while all of them together (every class) stay within the
 * retain budget: HAKMEM_RETAIN_BYTES, plus what the program's own churn earns
 * (see "The retain budget" below). So a program that frees and allocates in
 * waves does not pay a purge and page faults each time, and one that frees
 * most of its memory gets all but that budget back at once; hak_collect()
 * purges the rest. used counts blocks that left
 * the span for a thread's stack; a span whose used drops to 0 is empty, and only
 * then can it be released, so no thread can still hold one of its blocks.
 *
 * Owned spans (Tiny classes only): threads refill from one span per class
 * owned by their group (tcache.c: a few groups per CPU, a thread joins the
 * least busy), recorded in the group's slot, until that span has nothing
 * left. So threads of two groups never carve neighbouring blocks of one
 * span, which would put their blocks on one cache line (active false
 * sharing), and blocks freed by another thread go back, through the flush,
 * to their allocator's span and so to their allocator, not to the thread
 * that freed them (passive false sharing). An owned span is on no list,
 * whatever its counts, until its slot lets go (exhausted, or hak_collect):
 * only then can it become empty and be released, so a slot never points at
 * a released span. Slots are read and written under their class's lock.
 * Mid blocks are multiples of 256 bytes, line-aligned, and share no line:
 * their spans are shared, as is simplest.
 *
 * Inboxes: a consumer thread flushes what its producer allocated while the
 * producer refills from the same class, so the two meet on the class lock
 * every few hundred blocks, and a sleep on a held mutex costs two system
 * calls (bench_xmalloc 2 6M: 17,600 futex calls a run, where mimalloc makes
 * 5,100, its queue's own). A flush that finds the lock taken pushes its blocks on the
 * class's inbox instead (one CAS) and returns; the holder drains the inbox
 * before it unlocks, and a refill drains it first, so the producer gets
 * those blocks back at once. Blocks in an inbox still count as used: no span
 * can empty, or be released, while a block of it waits there.
 *
 * Call tree:
 *   _hak_central_take   lock; inbox_drain; the slot's span, or span_next
 *                       (partial list, empty list, _hak_span_new); its
 *                       free bits, in address order; carve; central_unlock
 *   _hak_central_give   trylock; taken: inbox_push, trylock once more, or
 *                       return; give_locked (runs of one span back on it);
 *                       central_unlock; empty spans beyond the retain budget:
 *                       _hak_span_release (unlocked)
 *   central_unlock      unlock; while the inbox has blocks and the lock is
 *                       free: lock, inbox_drain; a trim the decay asked for
 *   retain_trim         each class's lock in turn, until the retained spans
 *                       fit the budget again
 *   _hak_central_disown lock; the slot's span back to the shared lists
 */
#define _GNU_SOURCE
#include "central.h"
#include "block.h"
#include "counters.h"
#include "os.h"
#include "superslab.h"
#include "vg.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

struct hak_central {
    pthread_mutex_t lock;
    hak_span_t *partial;
    hak_span_t *empty;
    uint64_t used;
    /* Of used, the blocks on thread stacks as their threads last said
     * (atomic: a flush into the inbox counts without the lock). */
    _Atomic int64_t cached;
    /* Blocks of flushes that found the lock taken, in one list ended by a
     * NULL link: pushed without the lock, given back by whoever holds it
     * next (inbox_drain). Its own line: flushing threads write it while the
     * holder works on the fields above. */
    _Atomic(void *) inbox HAK_ALIGNED(HAK_CACHE_LINE);
} HAK_ALIGNED(HAK_CACHE_LINE);

static struct hak_central central[HAK_NCLASS];

/* ---- The retain budget ----------------------------------------------------
 * A purge is wasted when the span's bytes are needed again soon after: the
 * next new span faults in fresh pages (and a purge costs a system call of its
 * own). A producer whose consumer empties whole spans in bursts, a program
 * that frees and rebuilds a structure of some MiB, pay that on every cycle
 * under a fixed budget (bench_xmalloc 2 10M with 4 MiB: 2,956 purges and
 * 44,949 page faults, 0.25 s of its 0.55 s of CPU in the kernel). So the budget is base
 * (HAKMEM_RETAIN_BYTES) plus an extra that the program's own churn earns:
 * each new span carved while a span's worth of bytes was released in the
 * last period or two proves a purge wasted and adds twice its size; each
 * period (PERIOD_MS) without such a span takes a sixteenth off (a half-life
 * of about a second, as jemalloc's dirty pages decay over seconds, not at
 * once). The extra never exceeds the most bytes of spans the program had
 * in use lately (active_peak, decaying the same way) nor EXTRA_TIMES times
 * base, so what is kept stays in proportion to what the program uses, and
 * HAKMEM_RETAIN_BYTES=0 keeps nothing. A program that frees what it built
 * and builds nothing new carves no new span: its extra stays 0 and its
 * memory goes back at once, as before. When a period's decay leaves more
 * retained than the budget, the excess goes at the next refill or flush
 * (retain_trim); hak_collect() releases every retained span and forgets the
 * extra. Clocks are read only when a span changes hands (a span's worth of
 * blocks), never per block. */
#define PERIOD_MS 100
#define EXTRA_TIMES 15
static uint64_t retain_base;
static _Atomic uint64_t retain_extra;
static _Atomic uint64_t retained_bytes;  /* empty spans kept, every class */
static _Atomic uint64_t active_bytes;    /* spans handed out by span_next, not emptied since */
static _Atomic uint64_t active_peak;     /* the most active_bytes lately (decaying) */
static _Atomic uint64_t released_recent; /* bytes released this period and (halved) before */
static _Atomic uint64_t next_period_ms;
static _Atomic bool wasted;    /* a purge proved wasted this period */
static _Atomic bool trim_due;  /* retained above the budget after a decay */

#define RELAXED memory_order_relaxed

static uint64_t retain_budget(void) { return retain_base + atomic_load_explicit(&retain_extra, RELAXED); }

/* x after `periods` periods of decay by a sixteenth (64 or more: 0). */
static uint64_t decayed(uint64_t x, uint64_t periods)
{
    if (periods >= 64) return 0;
    for (; periods > 0 && x > 0; periods--) x -= (x + 15) / 16;
    return x;
}

/* *x decayed by `periods` steps (halved each, or less a sixteenth), in one
 * exchange: others add to it meanwhile, and hak_collect zeroes it. */
static void decay(_Atomic uint64_t *x, uint64_t periods, bool halve)
{
    uint64_t old = atomic_load_explicit(x, RELAXED), new;
    do {
        new = halve ? (periods >= 64 ? 0 : old >> periods) : decayed(old, periods);
    } while (!atomic_compare_exchange_weak_explicit(x, &old, new, RELAXED, RELAXED));
}

/* A period or more has passed: the extra, the peak and the recent releases
 * decay, one step per period gone by (a program idle for seconds comes back
 * to a budget near base). One thread does it: the one whose exchange moves
 * the deadline. */
static void retain_period(void)
{
    uint64_t now = _hak_os_now_ms();
    uint64_t due = atomic_load_explicit(&next_period_ms, RELAXED);
    if (now < due ||
        !atomic_compare_exchange_strong_explicit(&next_period_ms, &due, now + PERIOD_MS, RELAXED, RELAXED))
        return;
    /* Periods gone by since the deadline, this one included; 64 take
     * anything to 0. */
    uint64_t periods = due == 0 || now - due >= 63 * PERIOD_MS ? 64 : (now - due) / PERIOD_MS + 1;
    bool waste = atomic_exchange_explicit(&wasted, false, RELAXED);
    /* A period with a wasted purge keeps the extra; the idle ones after it do not. */
    decay(&retain_extra, waste ? periods - 1 : periods, false);
    decay(&active_peak, periods, false);
    decay(&released_recent, periods, true);
    if (atomic_load_explicit(&retained_bytes, RELAXED) > retain_budget())
        atomic_store_explicit(&trim_due, true, RELAXED);
}

/* span_next handed out a span of `bytes`; fresh: newly carved (its pages
 * fault in as it is used). */
static void retain_span_active(uint64_t bytes, bool fresh)
{
    uint64_t active = atomic_fetch_add_explicit(&active_bytes, bytes, RELAXED) + bytes;
    uint64_t peak = atomic_load_explicit(&active_peak, RELAXED);
    while (active > peak &&
           !atomic_compare_exchange_weak_explicit(&active_peak, &peak, active, RELAXED, RELAXED)) {
    }
    if (fresh) {
        /* A span's worth went back lately, and now this one is faulted in:
         * that purge was wasted (each released byte proves it once). */
        uint64_t recent = atomic_load_explicit(&released_recent, RELAXED);
        while (recent >= bytes && !atomic_compare_exchange_weak_explicit(&released_recent, &recent,
                                                                         recent - bytes, RELAXED, RELAXED)) {
        }
        if (recent >= bytes) {
            atomic_store_explicit(&wasted, true, RELAXED);
            uint64_t cap = atomic_load_explicit(&active_peak, RELAXED);
            if (cap > EXTRA_TIMES * retain_base) cap = EXTRA_TIMES * retain_base;
            uint64_t extra = atomic_load_explicit(&retain_extra, RELAXED);
            uint64_t grown = extra + 2 * bytes > cap ? cap : extra + 2 * bytes;
            if (grown > extra) atomic_fetch_add_explicit(&retain_extra, grown - extra, RELAXED);
        }
    }
    retain_period();
}

/* A class lock is held for a batch (a refill or a flush: tens to hundreds of
 * blocks), and a producer and its consumer meet on it. A plain mutex puts the
 * waiter to sleep at once: two system calls and a context switch for a wait
 * shorter than the switch. glibc's adaptive mutex spins a little first
 * (bench_xmalloc 2 6M 64 64 on an Intel Xeon, 5 runs: 3,700-4,249 voluntary
 * context switches and 29.7-33.9M items/s with a plain mutex, 1,484-1,915
 * and 37.9-40.6M adaptive; larson t4 191-197M to 199-202M). */
static void central_lock_init(pthread_mutex_t *m)
{
/* glibc's PTHREAD_MUTEX_ADAPTIVE_NP is an enum constant, not a macro: its
 * initializer macro tells whether the type exists. */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) == 0) {
        (void)pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(m, &a);
        pthread_mutexattr_destroy(&a);
        return;
    }
#endif
    pthread_mutex_init(m, NULL);
}

void _hak_central_init(uint64_t retain_bytes)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) central_lock_init(&central[c].lock);
    retain_base = retain_bytes;
}

void _hak_central_lock_all(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) pthread_mutex_lock(&central[c].lock);
}
static void drain_unlocked(struct hak_central *k, unsigned cls);
void _hak_central_unlock_all(void)
{
    /* Flushes during the fork left their blocks in the inboxes. */
    for (unsigned c = 0; c < HAK_NCLASS; c++) {
        pthread_mutex_unlock(&central[c].lock);
        drain_unlocked(&central[c], c);
    }
}
void _hak_central_reset_locks(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) central_lock_init(&central[c].lock);
}

uint64_t _hak_central_used(unsigned cls) { return __atomic_load_n(&central[cls].used, __ATOMIC_RELAXED); }

int64_t _hak_central_cached(unsigned cls) { return atomic_load_explicit(&central[cls].cached, RELAXED); }

void _hak_central_tell(unsigned cls, int64_t cached_delta)
{
    atomic_fetch_add_explicit(&central[cls].cached, cached_delta, RELAXED);
}

static uint64_t span_size(const hak_span_t *s) { return (uint64_t)s->units << HAK_UNIT_SHIFT; }

/* Keeps an empty span of `bytes` if the budget allows (and counts it). */
static bool retain(uint64_t bytes)
{
    /* Flushes of different classes run at once: claim the bytes atomically. */
    uint64_t budget = retain_budget();
    uint64_t held = atomic_load_explicit(&retained_bytes, RELAXED);
    do {
        if (held + bytes > budget) return false;
    } while (!atomic_compare_exchange_weak_explicit(&retained_bytes, &held, held + bytes, RELAXED, RELAXED));
    return true;
}

/* Where an empty span goes: kept within the retain budget, else returned
 * for the caller to release once it has dropped the lock. */
static hak_span_t *span_emptied(struct hak_central *k, hak_span_t *s)
{
    atomic_fetch_sub_explicit(&active_bytes, span_size(s), RELAXED);
    retain_period();
    if (retain(span_size(s))) {
        s->state = HAK_SPAN_EMPTY;
        hak_span_list_push(&k->empty, s);
        return NULL;
    }
    atomic_fetch_add_explicit(&released_recent, span_size(s), RELAXED);
    s->state = HAK_SPAN_DEAD;
    return s;
}

/* The next span to carve from: the first partial one, else an empty one,
 * else a new one. owned: taken off the shared lists for a group's slot. */
static hak_span_t *span_next(struct hak_central *k, unsigned cls, bool owned)
{
    hak_span_t *s = k->partial;
    if (s != NULL) {
        if (!owned) return s;
        hak_span_list_remove(&k->partial, s);
    } else if ((s = k->empty) != NULL) {
        hak_span_list_remove(&k->empty, s);
        atomic_fetch_sub_explicit(&retained_bytes, span_size(s), RELAXED);
        retain_span_active(span_size(s), false);
    } else if ((s = _hak_span_new(cls)) != NULL) {
        retain_span_active(span_size(s), true);
    } else {
        return NULL;
    }
    s->state = owned ? HAK_SPAN_OWNED : HAK_SPAN_PARTIAL;
    if (!owned) hak_span_list_push(&k->partial, s);
    return s;
}

/* An owned span goes back to the list its counts choose; returns it if it
 * is to be released. */
static hak_span_t *span_disown(struct hak_central *k, hak_span_t *s)
{
    HAK_ASSERT(s->state == HAK_SPAN_OWNED);
    if (s->used == 0) return span_emptied(k, s);
    if (s->nfree == 0 && s->bump >= s->end) {
        s->state = HAK_SPAN_FULL;
    } else {
        s->state = HAK_SPAN_PARTIAL;
        hak_span_list_push(&k->partial, s);
    }
    return NULL;
}

/* The number of the block at offset off of its span, off / size, from one
 * multiply that also tells whether off is a multiple of size (*multiple):
 * the class's magic is ceil(2^64 / size), the low half of off * magic is
 * below it exactly for the multiples (hak_class_divides), and the high
 * half is the quotient, exact for every offset below 2^32 (Lemire, Kaser
 * and Kurz; a span is at most 2 MiB). */
__extension__ typedef unsigned __int128 u128;
HAK_INLINE uint64_t block_number(unsigned cls, uint64_t off, bool *multiple)
{
    uint64_t magic = _hak_cls_div_magic[cls];
    u128 p = (u128)off * magic;
    *multiple = (uint64_t)p <= magic - 1;
    return (uint64_t)(p >> 64);
}

/* The checks a flush makes on every block: cheap enough for release builds,
 * they turn a bad free that reached a thread's stack into a clear abort.
 * They read the span's header, never the block (the oldest half of a stack
 * is cold: the flush reads its addresses only; a write after free over the
 * mark is caught when a refill takes the block). Returns b's span, and in
 * *number the block's number in it. */
static hak_span_t *give_check(unsigned cls, void *b, uint64_t *number)
{
    if (!hak_in_arena(b) || ((uintptr_t)b & 15) != 0 || hak_class_at(b) != cls)
        _hak_fatal_ptr("free", "invalid pointer", b);
    hak_span_t *s = hak_span_of(b);
    uint64_t off = (uint64_t)((uintptr_t)b - hak_span_start(s));
    /* Past bump: not handed out since the span was last carved or emptied
     * (a span whose used is 0 has bump at its start), or past its last
     * block (bump <= end). */
    if (HAK_UNLIKELY((uintptr_t)b >= s->bump))
        _hak_fatal_ptr("free", (uintptr_t)b >= s->end ? "invalid pointer" : "double free", b);
    bool multiple;
    *number = block_number(cls, off, &multiple);
    if (!multiple) _hak_fatal_ptr("free", "invalid pointer", b);
    return s;
}

/* Gives back blocks under k's lock, from an array (arr: n of them) or from
 * a list (arr NULL: linked from head, up to a NULL link); returns how many.
 * Spans it leaves empty beyond the retain budget are chained on *dead, to
 * be released once the lock is dropped.
 * Blocks come in runs of one span (a thread frees what it or another thread
 * allocated in a row, and batches keep that order): the first block of a
 * run gets every check of give_check, and the run's span is looked up once;
 * each further block only has to fall in [start, bump) of that span, on its
 * class's grid. Each block sets its bit in the span's free_bits; a bit set
 * already is a double free. Nothing is read from or written into the
 * blocks of an array. */
HAK_INLINE unsigned give_locked_any(struct hak_central *k, unsigned cls, void *const *arr, void *head,
                                    unsigned n, hak_span_t **dead)
{
    unsigned given = 0, at = 0;
    void *b = arr != NULL ? (n != 0 ? arr[0] : NULL) : head;
    while (b != NULL) {
        uint64_t i;
        hak_span_t *s = give_check(cls, b, &i);
        const uintptr_t start = hak_span_start(s), carved = s->bump - start;
        uint64_t *bits = hak_span_bits(s);
        uint64_t low = s->scan;
        uint32_t got = 0;
        for (;;) {
            void *next;
            if (arr != NULL) next = ++at < n ? arr[at] : NULL;
            else next = hak_block_next(b, "free");
            uint64_t bit = (uint64_t)1 << (i & 63);
            if (HAK_UNLIKELY(bits[i >> 6] & bit)) _hak_fatal_ptr("free", "double free", b);
            bits[i >> 6] |= bit;
            if (i >> 6 < low) low = i >> 6;
            got++;
            b = next;
            if (b == NULL || (uintptr_t)b - start >= carved) break;
            /* The run goes on: b is in this span, carved. */
            bool multiple;
            i = block_number(cls, (uintptr_t)b - start, &multiple);
            if (!multiple) _hak_fatal_ptr("free", "invalid pointer", b);
        }
        given += got;
        s->scan = low;
        s->nfree += got;
        s->used -= got;
        if (s->state == HAK_SPAN_FULL) {
            s->state = HAK_SPAN_PARTIAL;
            hak_span_list_push(&k->partial, s);
        }
        if (s->used == 0) {
            /* Every block is back: hand them out again in address order, as
             * a fresh span would, not in the order the program freed them,
             * so that blocks allocated one after another share cache lines
             * and pages again (a program that frees a structure in hash or
             * tree order otherwise scatters the next one it builds). */
            memset(bits, 0, (carved / _hak_cls_size[cls] + 63) / 64 * sizeof *bits);
            s->scan = 0;
            s->nfree = 0;
            s->bump = start;
            /* An owned span stays with its group, however empty (see the top). */
            if (s->state != HAK_SPAN_OWNED) {
                hak_span_list_remove(&k->partial, s);
                if (span_emptied(k, s) != NULL) {
                    s->next = *dead;
                    *dead = s;
                }
            }
        }
    }
    HAK_ASSERT(arr == NULL || given == n);
    k->used -= given;
    return given;
}

static unsigned give_locked(struct hak_central *k, unsigned cls, void *const *arr, unsigned n,
                            hak_span_t **dead)
{
    return give_locked_any(k, cls, arr, NULL, n, dead);
}

static unsigned give_locked_list(struct hak_central *k, unsigned cls, void *head, hak_span_t **dead)
{
    return give_locked_any(k, cls, NULL, head, 0, dead);
}

/* The inbox's blocks back on their spans (lock held). */
static void inbox_drain(struct hak_central *k, unsigned cls, hak_span_t **dead)
{
    if (atomic_load_explicit(&k->inbox, RELAXED) == NULL) return;
    void *head = atomic_exchange_explicit(&k->inbox, NULL, memory_order_acquire);
    give_locked_list(k, cls, head, dead);
}

static void release_dead(hak_span_t *dead)
{
    while (dead != NULL) {
        hak_span_t *s = dead;
        dead = s->next;
        _hak_span_release(s);
    }
}

/* Unlocks k, then gives back what flushes left in the inbox meanwhile: a
 * flush that found the lock taken pushed its blocks and tried the lock once
 * more; if that failed too, a holder was in, and it reaches this check after
 * the push. So no inbox is left full while nobody holds its lock. */
static HAK_NOINLINE HAK_COLD void drain_unlocked(struct hak_central *k, unsigned cls)
{
    while (atomic_load_explicit(&k->inbox, RELAXED) != NULL && pthread_mutex_trylock(&k->lock) == 0) {
        hak_span_t *dead = NULL;
        inbox_drain(k, cls, &dead);
        pthread_mutex_unlock(&k->lock);
        release_dead(dead);
    }
}

HAK_INLINE void unlock_drain(struct hak_central *k, unsigned cls)
{
    pthread_mutex_unlock(&k->lock);
    if (HAK_UNLIKELY(atomic_load_explicit(&k->inbox, RELAXED) != NULL)) drain_unlocked(k, cls);
}

/* Releases retained spans, class by class, until they fit the budget (which
 * a period's decay lowered). No class lock may be held: it takes each. */
static HAK_COLD void retain_trim(void)
{
    atomic_store_explicit(&trim_due, false, RELAXED);
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        struct hak_central *k = &central[c];
        hak_span_t *dead = NULL;
        pthread_mutex_lock(&k->lock);
        while (k->empty != NULL && atomic_load_explicit(&retained_bytes, RELAXED) > retain_budget()) {
            hak_span_t *s = k->empty;
            hak_span_list_remove(&k->empty, s);
            atomic_fetch_sub_explicit(&retained_bytes, span_size(s), RELAXED);
            atomic_fetch_add_explicit(&released_recent, span_size(s), RELAXED);
            s->state = HAK_SPAN_DEAD;
            s->next = dead;
            dead = s;
        }
        unlock_drain(k, c);
        release_dead(dead);
        if (atomic_load_explicit(&retained_bytes, RELAXED) <= retain_budget()) break;
    }
}

/* Every unlock but retain_trim's: the inbox, then a trim the decay asked for. */
HAK_INLINE void central_unlock(struct hak_central *k, unsigned cls)
{
    unlock_drain(k, cls);
    if (HAK_UNLIKELY(atomic_load_explicit(&trim_due, RELAXED))) retain_trim();
}

/* n blocks onto k's inbox, without the lock: linked in a list whose last
 * block is linked to what the inbox held, and the whole list replaces it in
 * one exchange. */
static void inbox_push(struct hak_central *k, void *const *blocks, unsigned n)
{
    uint64_t key = _hak_key;
    for (unsigned i = 0; i + 1 < n; i++) hak_block_set_next_k(blocks[i], blocks[i + 1], key);
    void *old = atomic_load_explicit(&k->inbox, RELAXED);
    do {
        hak_block_set_next(blocks[n - 1], old);
    } while (!atomic_compare_exchange_weak_explicit(&k->inbox, &old, blocks[0], memory_order_release, RELAXED));
}

void _hak_central_give(unsigned cls, void *const *blocks, unsigned n, int64_t cached_delta)
{
    struct hak_central *k = &central[cls];
    hak_span_t *dead = NULL;
    HAK_ASSERT(blocks != NULL && n > 0);
    atomic_fetch_add_explicit(&k->cached, cached_delta, RELAXED);
    _hak_stat_add(&_hak_g_stats.flushes, 1);
    if (pthread_mutex_trylock(&k->lock) != 0) {
        /* The lock is taken (a producer refilling from the blocks this
         * consumer frees): rather than sleep on it, leave the blocks to its
         * holder, and try once more in case it has just left. */
        inbox_push(k, blocks, n);
        if (pthread_mutex_trylock(&k->lock) != 0) return;
        inbox_drain(k, cls, &dead);
    } else {
        inbox_drain(k, cls, &dead);
        give_locked(k, cls, blocks, n, &dead);
    }
    central_unlock(k, cls);
    release_dead(dead);
}

unsigned _hak_central_take(unsigned cls, unsigned want, void **out, const void *tc,
                           hak_span_t **slot, int64_t told)
{
    struct hak_central *k = &central[cls];
    const uintptr_t size = _hak_cls_size[cls];
    /* Filled from its end: out[want - 1] is the first block, the one the
     * thread's stack hands out first. */
    void **o = out + want;
    unsigned n = 0;
    hak_span_t *dead = NULL;
    pthread_mutex_lock(&k->lock);
    /* What flushes left meanwhile first: resident, and often in the span
     * this thread refills from. */
    inbox_drain(k, cls, &dead);
    hak_span_t *s = slot != NULL ? *slot : NULL;
    while (n < want) {
        /* Blocks freed into another span are better than new ones carved
         * from this one: their pages are resident already, and the process
         * stays smaller. So the owned span gives way to the first partial
         * one once its own free blocks are spent (not when it is empty: that
         * one has nothing carved, so nothing to share). */
        if (s != NULL && s->nfree == 0 && s->used > 0 && k->partial != NULL &&
            k->partial->nfree != 0) {
            span_disown(k, s);
            s = NULL;
        }
        if (s == NULL && (s = span_next(k, cls, slot != NULL)) == NULL) break;
        unsigned got = 0;
        if (s->nfree != 0) {
            /* The span's free blocks in address order, from its bits: no
             * block is read to find the next (a chain of cache misses when
             * a list is followed), and blocks handed out one after another
             * lie side by side, as carved ones do. Each must still carry
             * the free mark: a write after free is caught here. */
            uint64_t *bits = hak_span_bits(s);
            const uintptr_t start = hak_span_start(s);
            uint64_t w = s->scan, words = (uint64_t)s->units * HAK_BITS_PER_UNIT;
            unsigned have = s->nfree < want - n ? s->nfree : want - n;
            while (got < have) {
                /* nfree bits lie at or past scan; fewer is a bug of ours. */
                if (HAK_UNLIKELY(w >= words))
                    _hak_fatal_ptr("malloc", "lost free blocks in span", (void *)start);
                uint64_t word = bits[w];
                while (word != 0 && got < have) {
                    void *b = (void *)(start + (w * 64 + (uint64_t)__builtin_ctzll(word)) * size);
                    word &= word - 1;
                    if (HAK_UNLIKELY(!hak_block_marked(b))) _hak_block_corrupt("malloc", b);
                    *--o = b;
                    got++;
                }
                bits[w] = word;
                if (word == 0) w++;
            }
            s->scan = w;
            s->nfree -= got;
        }
        while (n + got < want && s->bump < s->end) {
            void *b = (void *)s->bump;
            s->bump += size;
            HAK_VG_REUSE(b, 16); /* the link and the mark (vg.h) */
            hak_block_mark(b); /* every cached block carries the mark */
            *--o = b;
            got++;
        }
        s->used += got;
        s->last_tc = tc;
        n += got;
        if (s->nfree == 0 && s->bump >= s->end) {
            if (slot == NULL) hak_span_list_remove(&k->partial, s);
            s->state = HAK_SPAN_FULL;
            s = NULL;
        }
    }
    if (slot != NULL) *slot = s;
    if (n < want) {
        memmove(out, out + (want - n), n * sizeof *out);
#if HAK_VG_ACTIVE
        memset(out + n, 0, (want - n) * sizeof *out); /* see hak_tc_take */
#endif
    }
    k->used += n;
    atomic_fetch_add_explicit(&k->cached, (int64_t)n - told, RELAXED);
    central_unlock(k, cls);
    release_dead(dead);
    _hak_stat_add(&_hak_g_stats.refills, 1);
    return n;
}

void _hak_central_disown(unsigned cls, hak_span_t **slot)
{
    struct hak_central *k = &central[cls];
    hak_span_t *dead = NULL;
    pthread_mutex_lock(&k->lock);
    if (*slot != NULL) dead = span_disown(k, *slot);
    *slot = NULL;
    central_unlock(k, cls);
    if (dead != NULL) _hak_span_release(dead);
}

bool _hak_central_holds(unsigned cls, const void *p)
{
    if (!hak_in_arena(p) || hak_class_at(p) != cls) return false;
    struct hak_central *k = &central[cls];
    bool found = false;
    hak_span_t *dead = NULL;
    pthread_mutex_lock(&k->lock);
    inbox_drain(k, cls, &dead); /* p may be there: then it is on its span after */
    hak_span_t *s = hak_span_of(p);
    /* A block past bump is not handed out: free, uncarved again if its span
     * emptied (_hak_central_give). */
    bool multiple;
    uint64_t g = block_number(cls, (uintptr_t)p - hak_span_start(s), &multiple);
    found = (uintptr_t)p >= s->bump || (multiple && (hak_span_bits(s)[g >> 6] >> (g & 63) & 1));
    central_unlock(k, cls);
    release_dead(dead);
    return found;
}

size_t _hak_central_collect(void)
{
    size_t released = 0;
    /* Memory back now: what the churn earned is forgotten too. */
    atomic_store_explicit(&retain_extra, 0, RELAXED);
    atomic_store_explicit(&released_recent, 0, RELAXED);
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        struct hak_central *k = &central[c];
        hak_span_t *dead = NULL;
        pthread_mutex_lock(&k->lock);
        inbox_drain(k, c, &dead);
        hak_span_t *list = k->empty;
        k->empty = NULL;
        central_unlock(k, c);
        release_dead(dead);
        while (list != NULL) {
            hak_span_t *s = list;
            list = s->next;
            released += span_size(s);
            atomic_fetch_sub_explicit(&retained_bytes, span_size(s), RELAXED);
            _hak_span_release(s);
        }
    }
    return released;
}
