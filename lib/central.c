/* central.c: per-class lists of spans, batch refill and flush.
 *
 * A span is on one of its class's lists: partial (it has free or uncarved
 * blocks), empty (every block returned), or none (full). Empty spans are
 * kept, unpurged, while all of them together (every class) stay within
 * HAKMEM_RETAIN_BYTES. So a program that frees and allocates in waves does
 * not pay a purge and page faults each time, and one that frees most of its
 * memory gets all but that budget back at once; hak_collect() purges the
 * rest. used counts blocks that left
 * the span for a thread list; a span whose used drops to 0 is empty, and only
 * then can it be released, so no thread can still hold one of its blocks.
 *
 * Call tree:
 *   _hak_central_take   lock; pop span free lists; carve; _hak_span_new
 *   _hak_central_give   lock; push each block on its span; empty spans
 *                       beyond the retain limit: _hak_span_release (unlocked)
 */
#define _GNU_SOURCE
#include "central.h"
#include "options.h"
#include "stats.h"
#include "superslab.h"
#include "block.h"
#include "vg.h"

#include <pthread.h>

struct hak_central {
    pthread_mutex_t lock;
    hak_span_t *partial;
    hak_span_t *empty;
    uint64_t used;
} HAK_ALIGNED(HAK_CACHE_LINE);

static struct hak_central central[HAK_NCLASS];
/* For the exact block-start test without a division: off % size == 0 iff
 * off * m <= m - 1 (mod 2^64), m = floor((2^64-1)/size) + 1, for off < 2^32. */
static uint64_t div_magic[HAK_NCLASS];
static uint64_t retain_budget;
static _Atomic uint64_t retained_bytes; /* the empty ones among them */

void _hak_central_init(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) {
        pthread_mutex_init(&central[c].lock, NULL);
        if (c > 0) div_magic[c] = UINT64_MAX / _hak_cls_size[c] + 1;
    }
    retain_budget = (uint64_t)_hak_option(HAK_OPT_RETAIN_BYTES);
}

void _hak_central_lock_all(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) pthread_mutex_lock(&central[c].lock);
}
void _hak_central_unlock_all(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) pthread_mutex_unlock(&central[c].lock);
}
void _hak_central_reset_locks(void)
{
    for (unsigned c = 0; c < HAK_NCLASS; c++) pthread_mutex_init(&central[c].lock, NULL);
}

uint64_t _hak_central_used(unsigned cls) { return __atomic_load_n(&central[cls].used, __ATOMIC_RELAXED); }

static uint64_t span_size(const hak_span_t *s) { return (uint64_t)s->units << HAK_UNIT_SHIFT; }

/* Keeps an empty span of `bytes` if the budget allows (and counts it). */
static bool retain(uint64_t bytes)
{
    /* Flushes of different classes run at once: claim the bytes atomically. */
    uint64_t held = atomic_load_explicit(&retained_bytes, memory_order_relaxed);
    do {
        if (held + bytes > retain_budget) return false;
    } while (!atomic_compare_exchange_weak_explicit(&retained_bytes, &held, held + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

static void list_push(hak_span_t **list, hak_span_t *s)
{
    s->prev = NULL;
    s->next = *list;
    if (*list) (*list)->prev = s;
    *list = s;
}

static void list_remove(hak_span_t **list, hak_span_t *s)
{
    if (s->prev) s->prev->next = s->next;
    else *list = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

unsigned _hak_central_take(unsigned cls, unsigned want, void **head, void *end, const void *tc)
{
    struct hak_central *k = &central[cls];
    const uintptr_t size = _hak_cls_size[cls];
    void *first = NULL;
    void **link = &first;
    unsigned n = 0;
    pthread_mutex_lock(&k->lock);
    while (n < want) {
        hak_span_t *s = k->partial;
        if (s == NULL) {
            s = k->empty;
            if (s != NULL) {
                list_remove(&k->empty, s);
                atomic_fetch_sub_explicit(&retained_bytes, span_size(s), memory_order_relaxed);
            } else {
                s = _hak_span_new(cls);
                if (s == NULL) break;
            }
            s->state = HAK_SPAN_PARTIAL;
            list_push(&k->partial, s);
        }
        unsigned got = 0;
        while (n + got < want && s->free != NULL) {
            void *b = s->free;
            if (HAK_UNLIKELY(!hak_block_marked(b)))
                _hak_fatal_ptr("malloc", "free list corrupted (write after free, overflow or double free) at", b);
            s->free = hak_block_next(b);
            *link = b;
            link = (void **)b;
            got++;
        }
        s->nfree -= got;
        while (n + got < want && s->bump < s->end) {
            void *b = (void *)s->bump;
            s->bump += size;
            HAK_VG_REUSE(b, 16); /* the link and the mark (vg.h) */
            hak_block_mark(b); /* every block on a list carries the mark */
            *link = b;
            link = (void **)b;
            got++;
        }
        s->used += got;
        s->last_tc = tc;
        n += got;
        if (s->free == NULL && s->bump >= s->end) {
            list_remove(&k->partial, s);
            s->state = HAK_SPAN_FULL;
        }
    }
    *link = end;
    k->used += n;
    pthread_mutex_unlock(&k->lock);
    *head = first;
    _hak_stat_add(&_hak_g_stats.refills, 1);
    return n;
}

/* The checks a flush makes on every block: cheap enough for release builds,
 * they turn a bad free that reached a thread list into a clear abort. */
static void give_check(unsigned cls, void *b)
{
    if (!hak_in_arena(b) || ((uintptr_t)b & 15) != 0 || hak_class_at(b) != cls)
        _hak_fatal_ptr("free", "invalid pointer", b);
    hak_span_t *s = hak_span_of(b);
    uint64_t off = (uint64_t)((uintptr_t)b - hak_span_start(s));
    if ((uintptr_t)b >= s->end || off * div_magic[cls] > div_magic[cls] - 1)
        _hak_fatal_ptr("free", "invalid pointer", b);
    /* Past bump: not handed out since the span was last carved or emptied. */
    if ((uintptr_t)b >= s->bump || s->used == 0) _hak_fatal_ptr("free", "double free", b);
    if (!hak_block_marked(b))
        _hak_fatal_ptr("free", "free list corrupted (write after free, overflow or double free) at", b);
}

void _hak_central_give(unsigned cls, void *head, unsigned n)
{
    struct hak_central *k = &central[cls];
    hak_span_t *dead = NULL;
    pthread_mutex_lock(&k->lock);
    for (unsigned i = 0; i < n; i++) {
        void *b = head;
        HAK_ASSERT(b != NULL);
        head = hak_block_next(b);
        give_check(cls, b);
        hak_span_t *s = hak_span_of(b);
        hak_block_set_next(b, s->free);
        s->free = b;
        s->nfree++;
        s->used--;
        if (s->state == HAK_SPAN_FULL) {
            s->state = HAK_SPAN_PARTIAL;
            list_push(&k->partial, s);
        }
        if (s->used == 0) {
            /* Every block is back: hand them out again in address order, as
             * a fresh span would, not in the order the program freed them,
             * so that blocks allocated one after another share cache lines
             * and pages again (a program that frees a structure in hash or
             * tree order otherwise scatters the next one it builds). */
            s->free = NULL;
            s->nfree = 0;
            s->bump = hak_span_start(s);
            list_remove(&k->partial, s);
            if (retain(span_size(s))) {
                s->state = HAK_SPAN_EMPTY;
                list_push(&k->empty, s);
            } else {
                s->state = HAK_SPAN_DEAD;
                s->next = dead;
                dead = s;
            }
        }
    }
    k->used -= n;
    pthread_mutex_unlock(&k->lock);
    _hak_stat_add(&_hak_g_stats.flushes, 1);
    while (dead != NULL) {
        hak_span_t *s = dead;
        dead = s->next;
        _hak_span_release(s);
    }
}

bool _hak_central_holds(unsigned cls, const void *p)
{
    if (!hak_in_arena(p) || hak_class_at(p) != cls) return false;
    struct hak_central *k = &central[cls];
    bool found = false;
    pthread_mutex_lock(&k->lock);
    hak_span_t *s = hak_span_of(p);
    /* A block past bump is not handed out: free, uncarved again if its span
     * emptied (_hak_central_give). */
    found = (uintptr_t)p >= s->bump;
    uint32_t limit = found ? 0 : s->nfree;
    for (void *q = s->free; q != NULL && limit-- > 0; q = hak_block_next(q)) {
        if (q == p) {
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&k->lock);
    return found;
}

size_t _hak_central_collect(void)
{
    size_t released = 0;
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        struct hak_central *k = &central[c];
        pthread_mutex_lock(&k->lock);
        hak_span_t *list = k->empty;
        k->empty = NULL;
        pthread_mutex_unlock(&k->lock);
        while (list != NULL) {
            hak_span_t *s = list;
            list = s->next;
            released += span_size(s);
            atomic_fetch_sub_explicit(&retained_bytes, span_size(s), memory_order_relaxed);
            _hak_span_release(s);
        }
    }
    return released;
}
