/* heap.c: first-class heaps (heap.h says what they are).
 *
 * A heap (struct hak_heap, in a slot of a table reserved once) holds, under
 * its own lock: per class, the list of its spans with blocks to hand out
 * (partial: free blocks, or uncarved ones past bump); one list of its spans
 * with none (full); the set of its large blocks; the thread caches attached
 * to it; the SuperSlabs it owns whole; and its counts. Its spans are made
 * and released by superslab.c, but carry the heap ids (sizeclass.h) and the
 * heap's slot (hak_span_t.heap, _hak_heap_unit_slot), and are never on
 * central's lists. A small heap's spans share SuperSlabs with the default
 * heap's; one whose spans reach OWN_AFTER takes SuperSlabs of its own
 * (_hak_ss_own: huge pages, one purge each at destroy).
 *
 * Call tree:
 *   _hak_heap_new              table lock: a free slot (or the next one),
 *                              generation + 1, the handle
 *   _hak_heap_alloc            heap_at (the handle); class: heap_class_alloc
 *                              (tc_attach, pop, tc_refill -> heap_take ->
 *                              heap_span_new: owned SuperSlab, parked span
 *                              or _hak_span_new); else heap_large_alloc
 *   _hak_heap_tc_overflow      half the list back: heap_give
 *   _hak_heap_free             (free() of a heap block whose heap's cache
 *                              the thread has not attached) tc_attach, push
 *   _hak_heap_dealloc          the handle, p's heap, double free; push
 *   _hak_heap_destroy          under the lock: handle 0, every attached cache
 *                              detached, the span lists, owned SuperSlabs and
 *                              large set taken; then, outside the lock, each
 *                              owned SuperSlab purged whole, each shared span
 *                              released or parked, each large block purged
 *                              and freed
 *   _hak_heap_thread_exit      each cache: tc_detach (its lists back)
 * Lock order: the table lock alone; a heap's lock, then the registry's
 * (reg_lock), the park's, the SuperSlab lock or the large tier's. Nothing
 * holds a heap's lock while it takes the table lock or another heap's.
 *
 * Emptied spans: a span whose blocks have all come back is released at once
 * (its units purged) unless it is the only span its class has in the heap,
 * which stays for the next refill, so a heap that allocates and frees
 * around one block does not map and purge a span each time. hak_heap_collect
 * releases those too.
 */
#define _GNU_SOURCE
#include "heap.h"
#include "block.h"
#include "counters.h"
#include "large.h"
#include "os.h"
#include "report.h"
#include "sizeclass.h"
#include "superslab.h"
#include "tcache.h"
#include "vg.h"
#include "../include/hakmem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* ---- address maps: large blocks ------------------------------------------ */

/* Open addressing from a block's address to a 32-bit value, with
 * backward-shift deletion; its arrays come straight from the OS. Used for
 * each heap's set of large blocks and for the registry that tells which
 * heap (if any) owns a large block. */
struct addr_map {
    uintptr_t *key; /* 0: empty */
    uint32_t *val;
    size_t cap, n;  /* cap: a power of two, or 0 */
};

static size_t map_bytes(size_t cap) { return cap * (sizeof(uintptr_t) + sizeof(uint32_t)); }

static size_t map_hash(uintptr_t p)
{
    /* Large blocks are page-aligned or more: the product's high half mixes
     * the bits that vary into the low ones the mask keeps. */
    uint64_t x = (uint64_t)p * 0xD6E8FEB86659FD93ull;
    return (size_t)(x ^ (x >> 29));
}

static bool map_find(const struct addr_map *m, uintptr_t p, size_t *at)
{
    if (m->cap == 0) return false;
    size_t mask = m->cap - 1;
    for (size_t i = map_hash(p) & mask;; i = (i + 1) & mask) {
        if (m->key[i] == p) {
            *at = i;
            return true;
        }
        if (m->key[i] == 0) return false;
    }
}

static void map_put(struct addr_map *m, uintptr_t p, uint32_t v)
{
    size_t mask = m->cap - 1, i = map_hash(p) & mask;
    while (m->key[i] != 0) i = (i + 1) & mask;
    m->key[i] = p;
    m->val[i] = v;
    m->n++;
}

/* Inserts p (absent); false when the table cannot grow. Never grows after a
 * removal made room (at most half full before and after). */
static bool map_insert(struct addr_map *m, uintptr_t p, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        void *mem = _hak_os_map(map_bytes(ncap));
        if (mem == NULL) return false;
        struct addr_map n = {mem, (uint32_t *)((uintptr_t *)mem + ncap), ncap, 0};
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i] != 0) map_put(&n, m->key[i], m->val[i]);
        if (m->cap) _hak_os_unmap(m->key, map_bytes(m->cap));
        *m = n;
    }
    map_put(m, p, v);
    return true;
}

static void map_remove_at(struct addr_map *m, size_t i)
{
    size_t mask = m->cap - 1;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        uintptr_t q = m->key[j];
        if (q == 0) break;
        size_t home = map_hash(q) & mask;
        /* q may fill the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->key[i] = q;
            m->val[i] = m->val[j];
            i = j;
        }
    }
    m->key[i] = 0;
    m->n--;
}

static void map_free(struct addr_map *m)
{
    if (m->cap) _hak_os_unmap(m->key, map_bytes(m->cap));
    *m = (struct addr_map){0};
}

/* ---- the table of heaps ------------------------------------------------------- */

struct hak_heap {
    pthread_mutex_t lock;
    /* Its handle while it lives; 0 once destroyed (and while the slot is
     * free). Read without the lock by heap_at. */
    _Atomic uintptr_t handle;
    /* The thread walking it in hak_heap_visit (its token), else NULL. */
    _Atomic(const void *) visitor;
    hak_heap_tc_t *caches;            /* attached thread caches */
    hak_span_t *partial[HAK_NCLASS];  /* spans with blocks to hand out */
    hak_span_t *full;                 /* spans with none, every class */
    hak_ss_t *owned;                  /* SuperSlabs of its own, through next */
    struct addr_map large;            /* its large blocks (value unused) */
    /* Counts (hak_heap_stats), in bytes but spans. cached: of used, on
     * thread caches as their threads last told (refills and flushes). */
    uint64_t used, span_bytes, spans, large_blocks, large_bytes, peak;
    int64_t cached;
    uint64_t refills, flushes;
} HAK_ALIGNED(HAK_CACHE_LINE);

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hak_heap *slots;        /* HAK_HEAP_SLOTS of them, reserved */
static _Atomic uint32_t slots_used = 1; /* slots below were handed out once (0 never) */
static uint32_t free_slot;           /* 0: none */
/* Beside the structs, so that a free slot's struct holds nothing and
 * hak_collect may purge its pages: each slot's generation (of its current
 * or last heap; it only grows, so an old handle never matches a new heap),
 * the free list's links, and whether it is free (table lock). */
static _Atomic uint64_t slot_gen[HAK_HEAP_SLOTS];
static uint32_t slot_next[HAK_HEAP_SLOTS];
static uint8_t slot_free[HAK_HEAP_SLOTS];

/* A process that never made a heap holds none of these locks (nothing
 * takes them before the first hak_heap_new but hak_collect's look, which
 * finds nothing): fork then takes none of them, so that a program without
 * heaps holds no more locks over fork than before heaps existed (ThreadSanitizer
 * follows at most 64 held at once). A first hak_heap_new racing with the fork
 * leaves the child at most a half-made slot no handle names; the child
 * re-initialises every lock either way. */
static _Atomic bool heaps_made;
static bool fork_locked;
static hak_heap_tc_t *tc_pool;       /* caches no thread has (table lock) */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct addr_map reg;          /* large block -> its heap's slot */
_Atomic uint64_t _hak_heap_large_live;

uint16_t _hak_heap_unit_slot[HAK_ARENA_MAX >> HAK_UNIT_SHIFT];
static uint32_t heap_cap[HAK_NCLASS];
/* A heap whose spans reach this takes SuperSlabs of its own (superslab.h):
 * at that size the 2 MiB a huge page may add is at most its own size, and
 * its destroy purges them in one step each. */
#define OWN_AFTER ((uint64_t)2 << 20)
/* Owned SuperSlabs searched for room before a new one is taken. */
#define OWN_SEARCH 4

/* Spans of destroyed heaps kept warm, unpurged, for the next heap: a heap
 * made and destroyed with a few blocks in it then costs no page faults and
 * no purge. Only spans carved no further than PARK_SPAN_BYTES, at most
 * PARK_SLOTS of them and PARK_BYTES of carved memory in all (so at most
 * that stays resident), in a ring: when it is full the oldest goes (purged),
 * so classes no heap uses any more do not hold it. Under park_lock, taken
 * under a heap's lock or alone. */
#define PARK_SPAN_BYTES ((uintptr_t)16384)
#define PARK_BYTES ((uintptr_t)256 << 10)
#define PARK_SLOTS 64
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_span_t *parked[PARK_SLOTS]; /* oldest at park_first */
static unsigned park_first, park_n;
static uintptr_t parked_bytes;
static _Atomic uint64_t parked_classes; /* bit c: a span of class c may be parked */
#define REFILL_BYTES 16384u
#define SLOW_START_BLOCKS 4u

/* The calling thread's way w (tcache.h holds the ways). */
static const void **way_at(unsigned w) { return (const void **)&hak_tc_addr()->heap_ways[w & (HAK_HEAP_WAYS - 1)]; }
/* Its address tells the calling thread (hak_heap_visit's visitor). */
static __thread char visit_token HAK_TLS;

void _hak_heap_init(uint64_t tcache_bytes)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        uint64_t cap = tcache_bytes / _hak_cls_size[c];
        uint64_t max = hak_class_is_tiny(c) ? 256 : 64;
        heap_cap[c] = (uint32_t)(cap < 1 ? 1 : cap > max ? max : cap);
    }
}

static uint32_t slot_of(uintptr_t h) { return (uint32_t)(h & HAK_HEAP_IDX_MASK); }

/* The heap of handle h; aborts naming `what` unless h is a live heap's. */
static struct hak_heap *heap_at(uintptr_t h, const char *what)
{
    uint32_t slot = slot_of(h);
    if (slot == 0 || slot >= atomic_load_explicit(&slots_used, memory_order_acquire) ||
        (h >> HAK_HEAP_IDX_BITS) == 0)
        _hak_fatal_ptr(what, "not a heap", (void *)h);
    struct hak_heap *hp = &slots[slot];
    if (HAK_UNLIKELY(atomic_load_explicit(&hp->handle, memory_order_acquire) != h)) {
        bool was = (h >> HAK_HEAP_IDX_BITS) <= atomic_load_explicit(&slot_gen[slot], memory_order_relaxed);
        _hak_fatal_ptr(what, was ? "use of a destroyed heap" : "not a heap", (void *)h);
    }
    return hp;
}

static const void *self_token(void) { return &visit_token; }

static bool visited_by_me(const struct hak_heap *hp)
{
    return atomic_load_explicit(&hp->visitor, memory_order_relaxed) == self_token();
}

/* Locks hp; the thread that walks it in hak_heap_visit may not (it holds
 * the lock: its callback changed the heap). */
static void heap_lock(struct hak_heap *hp, const char *what)
{
    if (HAK_UNLIKELY(visited_by_me(hp)))
        _hak_fatal_ptr(what, "heap changed inside its own hak_heap_visit callback",
                       (void *)atomic_load(&hp->handle));
    pthread_mutex_lock(&hp->lock);
}

/* Locks hp and checks that h is still its handle. */
static void heap_lock_live(struct hak_heap *hp, uintptr_t h, const char *what)
{
    heap_lock(hp, what);
    if (HAK_UNLIKELY(atomic_load_explicit(&hp->handle, memory_order_relaxed) != h)) {
        pthread_mutex_unlock(&hp->lock);
        _hak_fatal_ptr(what, "use of a destroyed heap", (void *)h);
    }
}

static void heap_unlock(struct hak_heap *hp) { pthread_mutex_unlock(&hp->lock); }

uintptr_t _hak_heap_new(void)
{
    atomic_store_explicit(&heaps_made, true, memory_order_release);
    pthread_mutex_lock(&table_lock);
    if (slots == NULL) {
        slots = _hak_os_reserve(HAK_HEAP_SLOTS * sizeof(struct hak_heap));
        if (slots == NULL) {
            pthread_mutex_unlock(&table_lock);
            errno = ENOMEM;
            return 0;
        }
    }
    uint32_t slot = free_slot;
    if (slot != 0) {
        free_slot = slot_next[slot];
        slot_free[slot] = 0;
        /* Its struct is empty (destroy left it so), or zero if purged. */
        pthread_mutex_init(&slots[slot].lock, NULL);
    } else {
        slot = atomic_load_explicit(&slots_used, memory_order_relaxed);
        if (slot >= HAK_HEAP_SLOTS) {
            pthread_mutex_unlock(&table_lock);
            errno = ENOMEM;
            return 0;
        }
        pthread_mutex_init(&slots[slot].lock, NULL);
        atomic_store_explicit(&slots_used, slot + 1, memory_order_release);
    }
    struct hak_heap *hp = &slots[slot];
    /* Everything else was left empty by destroy (or never touched). */
    uint64_t gen = atomic_load_explicit(&slot_gen[slot], memory_order_relaxed) + 1;
    atomic_store_explicit(&slot_gen[slot], gen, memory_order_relaxed);
    uintptr_t h = (uintptr_t)(gen << HAK_HEAP_IDX_BITS) | slot;
    atomic_store_explicit(&hp->handle, h, memory_order_release);
    pthread_mutex_unlock(&table_lock);
    return h;
}

/* ---- spans ---------------------------------------------------------------------- */

static uint64_t span_bytes(const hak_span_t *s) { return (uint64_t)s->units << HAK_UNIT_SHIFT; }

static void count_used(struct hak_heap *hp, int64_t bytes)
{
    hp->used += (uint64_t)bytes;
    _hak_stat_add(&_hak_g_stats.heap_used, (uint64_t)bytes);
}

static void count_cached(struct hak_heap *hp, int64_t bytes)
{
    hp->cached += bytes;
    _hak_stat_add(&_hak_g_stats.heap_cached, (uint64_t)bytes);
}

/* The next block on span s's free list after b, NULL at the end; aborts
 * naming `what` if b's link does not decode to a block of s. */
static void *span_free_next(const hak_span_t *s, const void *b, const char *what)
{
    uintptr_t next = hak_block_link(b);
    if (next == 0) return NULL;
    uintptr_t start = hak_span_start(s);
    if (HAK_UNLIKELY(hak_link_bad(next) || next < start || next >= s->end ||
                     !hak_class_divides(s->cls, next - start)))
        _hak_block_corrupt(what, b);
    return (void *)next;
}

static uintptr_t parked_carved(const hak_span_t *s) { return (uintptr_t)s->last_tc; }

/* Under park_lock: takes the i-th oldest parked span out of the ring. */
static hak_span_t *park_remove(unsigned i)
{
    hak_span_t *s = parked[(park_first + i) % PARK_SLOTS];
    for (unsigned k = i; k + 1 < park_n; k++)
        parked[(park_first + k) % PARK_SLOTS] = parked[(park_first + k + 1) % PARK_SLOTS];
    park_n--;
    parked_bytes -= parked_carved(s);
    return s;
}

/* The newest parked span of class cls, or NULL. */
static hak_span_t *unpark(unsigned cls)
{
    if (!(atomic_load_explicit(&parked_classes, memory_order_relaxed) >> cls & 1)) return NULL;
    hak_span_t *s = NULL;
    pthread_mutex_lock(&park_lock);
    for (unsigned i = park_n; i-- > 0;) {
        if (parked[(park_first + i) % PARK_SLOTS]->cls == HAK_HEAP_CLS + cls) {
            s = park_remove(i);
            break;
        }
    }
    if (s == NULL) atomic_fetch_and_explicit(&parked_classes, ~((uint64_t)1 << cls), memory_order_relaxed);
    pthread_mutex_unlock(&park_lock);
    return s;
}

/* Under hp's lock: a new span of class cls for it, on its partial list:
 * from a SuperSlab of its own once it is big, else a parked one or one
 * shared with the default heap's; NULL when the arena is full. */
static hak_span_t *heap_span_new(struct hak_heap *hp, uint32_t slot, unsigned cls)
{
    unsigned id = HAK_HEAP_CLS + cls;
    hak_span_t *s = NULL;
    if (hp->span_bytes >= OWN_AFTER) {
        unsigned tries = 0;
        for (hak_ss_t *ss = hp->owned; ss != NULL && s == NULL && tries < OWN_SEARCH; ss = ss->next, tries++)
            s = _hak_span_new_in(ss, id);
        hak_ss_t *ss;
        if (s == NULL && (ss = _hak_ss_own()) != NULL) {
            ss->next = hp->owned;
            hp->owned = ss;
            s = _hak_span_new_in(ss, id);
        }
    }
    if (s == NULL && (s = unpark(cls)) != NULL) {
        /* Carved again from the start: its old blocks are gone. */
        s->free = NULL;
        s->nfree = 0;
        s->used = 0;
        s->bump = hak_span_start(s);
        HAK_VG_NOACCESS((void *)s->bump, (size_t)span_bytes(s));
    }
    if (s == NULL && (s = _hak_span_new(id)) == NULL) return NULL;
    s->heap = slot;
    s->last_tc = NULL;
    uintptr_t unit = (hak_span_start(s) - _hak_arena_base) >> HAK_UNIT_SHIFT;
    for (unsigned u = 0; u < s->units; u++) _hak_heap_unit_slot[unit + u] = (uint16_t)slot;
    s->state = HAK_SPAN_PARTIAL;
    hak_span_list_push(&hp->partial[cls], s);
    hp->spans++;
    hp->span_bytes += span_bytes(s);
    uint64_t now = hp->span_bytes + hp->large_bytes;
    if (now > hp->peak) hp->peak = now;
    return s;
}

/* Under hp's lock: s (empty, or of a heap being destroyed) leaves hp's
 * counts; a span of an owned SuperSlab goes back to it now, a shared one
 * onto *dead, to be released (or parked) once the lock is dropped. */
static void span_drop(struct hak_heap *hp, hak_span_t *s, hak_span_t **dead)
{
    hp->spans--;
    hp->span_bytes -= span_bytes(s);
    s->state = HAK_SPAN_DEAD;
    s->heap = 0;
    if (hak_ss_of(s)->owned) {
        _hak_span_release_in(s);
        return;
    }
    s->next = *dead;
    *dead = s;
}

/* Under hp's lock: up to want blocks of class cls, linked from *head, the
 * last one linked to end, each marked free; returns how many (0: the arena
 * is full). */
static unsigned heap_take(struct hak_heap *hp, uint32_t slot, unsigned cls, unsigned want,
                          void **head, void *end, const char *what)
{
    const uintptr_t size = _hak_cls_size[cls];
    void *first = NULL, *last = NULL;
    unsigned n = 0;
    while (n < want) {
        hak_span_t *s = hp->partial[cls];
        if (s == NULL && (s = heap_span_new(hp, slot, cls)) == NULL) break;
        unsigned got = 0;
        while (n + got < want && s->free != NULL) {
            void *b = s->free;
            if (HAK_UNLIKELY(!hak_block_marked(b))) _hak_block_corrupt(what, b);
            s->free = span_free_next(s, b, what);
            if (last != NULL) hak_block_set_next(last, b);
            else first = b;
            last = b;
            got++;
        }
        s->nfree -= got;
        while (n + got < want && s->bump < s->end) {
            void *b = (void *)s->bump;
            s->bump += size;
            HAK_VG_REUSE(b, 16);
            hak_block_mark(b);
            if (last != NULL) hak_block_set_next(last, b);
            else first = b;
            last = b;
            got++;
        }
        s->used += got;
        n += got;
        if (s->free == NULL && s->bump >= s->end) {
            hak_span_list_remove(&hp->partial[cls], s);
            hak_span_list_push(&hp->full, s);
            s->state = HAK_SPAN_FULL;
        }
    }
    if (last != NULL) hak_block_set_next(last, end);
    *head = first;
    count_used(hp, (int64_t)(n * size));
    return n;
}

/* The checks every block coming back to a heap passes, before its link is
 * read: a block of this heap's spans, of class cls, handed out, marked. */
static void give_check(uint32_t slot, unsigned cls, void *b, const char *what)
{
    if (!hak_in_arena(b) || ((uintptr_t)b & 15) != 0 || hak_class_at(b) != HAK_HEAP_CLS + cls)
        _hak_fatal_ptr(what, "invalid pointer", b);
    hak_span_t *s = hak_span_of(b);
    if (s->heap != slot) _hak_fatal_ptr(what, "block of another heap", b);
    uint64_t off = (uint64_t)((uintptr_t)b - hak_span_start(s));
    if ((uintptr_t)b >= s->end || !hak_class_divides(cls, off)) _hak_fatal_ptr(what, "invalid pointer", b);
    if ((uintptr_t)b >= s->bump || s->used == 0) _hak_fatal_ptr(what, "double free", b);
    if (!hak_block_marked(b)) _hak_block_corrupt(what, b);
}

/* Under hp's lock: n marked blocks of class cls linked from head back to
 * their spans. Spans emptied beyond the first of their class go on *dead,
 * to be released once the lock is dropped. */
static void heap_give(struct hak_heap *hp, uint32_t slot, unsigned cls, void *head, unsigned n,
                      hak_span_t **dead, const char *what)
{
    for (unsigned i = 0; i < n; i++) {
        void *b = head;
        give_check(slot, cls, b, what);
        if (i + 1 < n) head = hak_block_next(b, what);
        hak_span_t *s = hak_span_of(b);
        hak_block_set_next(b, s->free);
        s->free = b;
        s->nfree++;
        s->used--;
        if (s->state == HAK_SPAN_FULL) {
            hak_span_list_remove(&hp->full, s);
            hak_span_list_push(&hp->partial[cls], s);
            s->state = HAK_SPAN_PARTIAL;
        }
        if (s->used == 0) {
            /* Carved again from the start, in address order (central.c). */
            s->free = NULL;
            s->nfree = 0;
            s->bump = hak_span_start(s);
            if (hp->partial[cls] != s || s->next != NULL) {
                hak_span_list_remove(&hp->partial[cls], s);
                span_drop(hp, s, dead);
            }
        }
    }
    count_used(hp, -(int64_t)(n * _hak_cls_size[cls]));
}

#if HAK_DEBUG
/* The debug build's live bits of a span released with blocks still handed
 * out (destroy): cleared, or the next owner of its units would see them. */
static void clear_live_bits(const hak_span_t *s)
{
    hak_ss_t *ss = hak_ss_of(s);
    size_t first = ((hak_span_start(s) & (HAK_SS_SIZE - 1)) >> 4) / 64;
    size_t words = (span_bytes(s) >> 4) / 64;
    /* The tail bits too (a 16-byte class keeps them in a bitmap of their
     * own): a parked span's next heap must not find the old blocks' bits
     * on its new ones. Stores only where a bit is set, so that untouched
     * pages of the bitmaps stay untouched. */
    for (size_t i = 0; i < words; i++) {
        atomic_store(&ss->live_bits[first + i], 0);
        if (atomic_load(&ss->tail_bits[first + i])) atomic_store(&ss->tail_bits[first + i], 0);
    }
}
#endif

/* Keeps dead span s warm for the next heap if it is small enough and the
 * budget allows (destroy only: an emptied span is purged). The bytes it
 * was carved to are an upper bound of what stays resident; they ride in
 * last_tc, which heap spans do not otherwise use. */
static bool park(hak_span_t *s, hak_span_t **evicted)
{
    uintptr_t carved = hak_align_up(s->bump - hak_span_start(s), 4096);
    if (carved > PARK_SPAN_BYTES) return false;
    pthread_mutex_lock(&park_lock);
    while (park_n > 0 && (park_n == PARK_SLOTS || parked_bytes + carved > PARK_BYTES)) {
        hak_span_t *old = park_remove(0);
        old->next = *evicted;
        *evicted = old;
    }
    s->last_tc = (const void *)carved;
    parked[(park_first + park_n++) % PARK_SLOTS] = s;
    parked_bytes += carved;
    atomic_fetch_or_explicit(&parked_classes, (uint64_t)1 << (s->cls - HAK_HEAP_CLS), memory_order_relaxed);
    pthread_mutex_unlock(&park_lock);
    return true;
}

/* Releases shared spans linked through next (no lock held); with parking,
 * those park takes stay. Returns the bytes released. */
static size_t release_spans(hak_span_t *dead, bool parking)
{
    size_t bytes = 0;
    hak_span_t *evicted = NULL;
    while (dead != NULL) {
        hak_span_t *s = dead;
        dead = s->next;
#if HAK_DEBUG
        clear_live_bits(s);
#endif
        s->used = 0;
        s->state = HAK_SPAN_DEAD;
        s->heap = 0;
        /* A late free of one of its blocks finds no heap's cache (slot 0). */
        uintptr_t unit = (hak_span_start(s) - _hak_arena_base) >> HAK_UNIT_SHIFT;
        for (unsigned u = 0; u < s->units; u++) _hak_heap_unit_slot[unit + u] = 0;
        if (parking && park(s, &evicted)) continue;
        bytes += span_bytes(s);
        _hak_span_release(s);
    }
    /* The oldest parked ones, pushed out of the ring. */
    if (evicted != NULL) bytes += release_spans(evicted, false);
    return bytes;
}

/* Releases every parked span (hak_collect). */
static size_t release_parked(void)
{
    hak_span_t *all = NULL;
    pthread_mutex_lock(&park_lock);
    while (park_n > 0) {
        hak_span_t *s = park_remove(0);
        s->next = all;
        all = s;
    }
    atomic_store_explicit(&parked_classes, 0, memory_order_relaxed);
    pthread_mutex_unlock(&park_lock);
    return release_spans(all, false);
}

/* Under hp's lock: its emptied spans (those kept as the last of their
 * class) released (owned) or onto *dead, and its owned SuperSlabs left
 * without spans given back whole. */
static void take_empty_spans(struct hak_heap *hp, hak_span_t **dead)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        for (hak_span_t *s = hp->partial[c], *next; s != NULL; s = next) {
            next = s->next;
            if (s->used != 0) continue;
            hak_span_list_remove(&hp->partial[c], s);
            span_drop(hp, s, dead);
        }
    }
    for (hak_ss_t **pp = &hp->owned; *pp != NULL;) {
        hak_ss_t *ss = *pp;
        if (ss->free_units == (~(uint32_t)1)) {
            *pp = ss->next;
            _hak_ss_disown(ss);
        } else {
            pp = &ss->next;
        }
    }
}

/* ---- thread caches ---------------------------------------------------------------- */

static bool may_cache(void) { return hak_tc_self()->state == HAK_TC_ACTIVE; }

static hak_heap_tc_t *pool_get(void)
{
    pthread_mutex_lock(&table_lock);
    if (tc_pool == NULL) {
        const size_t chunk = 64 * 1024;
        hak_heap_tc_t *m = _hak_os_map(chunk);
        if (m != NULL) {
            for (size_t i = 0; i < chunk / sizeof *m; i++) {
                m[i].next = tc_pool;
                tc_pool = &m[i];
            }
        }
    }
    hak_heap_tc_t *c = tc_pool;
    if (c != NULL) tc_pool = c->next;
    pthread_mutex_unlock(&table_lock);
    return c;
}

static void pool_put(hak_heap_tc_t *c)
{
    pthread_mutex_lock(&table_lock);
    c->next = tc_pool;
    tc_pool = c;
    pthread_mutex_unlock(&table_lock);
}

static uint32_t tc_count(const hak_heap_tc_t *c, unsigned cls)
{
    return (uint32_t)((int64_t)heap_cap[cls] - c->room[cls]);
}

static void tc_set_detached(hak_heap_tc_t *c)
{
    __atomic_store_n(&c->handle, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->slot, HAK_HEAP_NO_SLOT, __ATOMIC_RELAXED);
    c->next = c->prev = NULL;
}

/* Gives every block of c back to its heap and unlinks it (if its heap still
 * lives; a destroyed heap's blocks are simply dropped). */
static void tc_detach(hak_heap_tc_t *c, const char *what)
{
    uint32_t slot = hak_heap_tc_slot(c);
    if (slot == HAK_HEAP_NO_SLOT) return;
    struct hak_heap *hp = &slots[slot];
    hak_span_t *dead = NULL;
    heap_lock(hp, what);
    /* Destroy detaches under this lock: c->handle tells. */
    if (hak_heap_tc_handle(c) != 0) {
        for (unsigned cls = 1; cls < HAK_NCLASS; cls++) {
            uint32_t n = tc_count(c, cls);
            if (n != 0) heap_give(hp, slot, cls, c->head[cls], n, &dead, what);
            count_cached(hp, -(int64_t)c->told[cls] * _hak_cls_size[cls]);
        }
        hp->flushes++;
        if (c->prev) c->prev->next = c->next;
        else hp->caches = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    tc_set_detached(c);
    heap_unlock(hp);
    release_spans(dead, false);
}

/* The calling thread's cache attached to hp (handle h), attaching it in
 * its way if need be (the way's previous heap gets its blocks back); NULL
 * when the thread keeps no caches (not set up, or exiting) or none can be
 * had: then each block comes from and goes to the heap itself. */
static hak_heap_tc_t *tc_attach(struct hak_heap *hp, uintptr_t h, const char *what)
{
    const void **way = way_at((unsigned)h);
    hak_heap_tc_t *c = (hak_heap_tc_t *)(uintptr_t)*way;
    if (hak_heap_tc_handle(c) == h) return c;
    if (!may_cache()) return NULL;
    if (c == HAK_HEAP_TC_NONE) {
        if ((c = pool_get()) == NULL) return NULL;
        tc_set_detached(c);
        *way = c;
    } else {
        uint32_t old = hak_heap_tc_slot(c);
        /* Inside a visit of that heap its lock is held: keep its cache. */
        if (old != HAK_HEAP_NO_SLOT && visited_by_me(&slots[old])) return NULL;
        tc_detach(c, what);
    }
    for (unsigned cls = 0; cls < HAK_NCLASS; cls++) {
        c->head[cls] = HAK_TC_END;
        c->room[cls] = (int32_t)heap_cap[cls];
        c->batch[cls] = 0;
        c->told[cls] = 0;
    }
    heap_lock_live(hp, h, what);
    c->prev = NULL;
    c->next = hp->caches;
    if (hp->caches) hp->caches->prev = c;
    hp->caches = c;
    __atomic_store_n(&c->slot, slot_of(h), __ATOMIC_RELAXED);
    __atomic_store_n(&c->handle, h, __ATOMIC_RELAXED);
    heap_unlock(hp);
    return c;
}

/* Pop for the slow paths: NULL when the list is empty; aborts if its head's
 * link was overwritten. */
static void *tc_pop(hak_heap_tc_t *c, unsigned cls, const char *what)
{
    void *p = c->head[cls];
    uintptr_t next = hak_block_link(p);
    if (HAK_UNLIKELY(hak_link_bad(next))) {
        if (p == HAK_TC_END) return NULL;
        _hak_block_corrupt(what, p);
    }
    return hak_heap_tc_take(c, cls, p, next);
}

static void *tc_refill(hak_heap_tc_t *c, struct hak_heap *hp, uintptr_t h, unsigned cls,
                       const char *what)
{
    uint32_t cap = heap_cap[cls];
    unsigned want = (cap + 1) / 2;
    unsigned most = REFILL_BYTES / _hak_cls_size[cls];
    if (want > most) want = most > 0 ? most : 1;
    /* Slow start, as the default heap's refills (tcache.c). */
    unsigned start = c->batch[cls] ? c->batch[cls] : SLOW_START_BLOCKS;
    if (want > start) want = start;
    if (start < 0x8000) c->batch[cls] = (uint16_t)(start * 2);
    void *head;
    heap_lock_live(hp, h, what);
    unsigned n = heap_take(hp, slot_of(h), cls, want, &head, HAK_TC_END, what);
    count_cached(hp, ((int64_t)n - c->told[cls]) * _hak_cls_size[cls]);
    c->told[cls] = (uint16_t)n;
    hp->refills++;
    heap_unlock(hp);
    if (n == 0) return NULL;
    c->head[cls] = head;
    c->room[cls] = (int32_t)cap - (int32_t)n;
    return tc_pop(c, cls, what);
}

void _hak_heap_tc_overflow(hak_heap_tc_t *c, unsigned cls)
{
    uint32_t slot = hak_heap_tc_slot(c);
    /* Detached since the push checked it: destroyed by another thread. */
    if (HAK_UNLIKELY(slot == HAK_HEAP_NO_SLOT))
        _hak_fatal_ptr("free", "block of a heap destroyed meanwhile", c->head[cls]);
    struct hak_heap *hp = &slots[slot];
    uint32_t count = tc_count(c, cls), keep = heap_cap[cls] / 2;
    /* Keep the most recently freed blocks (the head): they are warm. */
    void *rest;
    if (keep == 0) {
        rest = c->head[cls];
        c->head[cls] = HAK_TC_END;
    } else {
        void *cut = c->head[cls];
        for (uint32_t i = 1; i < keep; i++) cut = hak_block_next(cut, "free");
        rest = hak_block_next(cut, "free");
        hak_block_set_next(cut, HAK_TC_END);
    }
    c->room[cls] = (int32_t)heap_cap[cls] - (int32_t)keep;
    hak_span_t *dead = NULL;
    heap_lock(hp, "free");
    if (HAK_UNLIKELY(hak_heap_tc_handle(c) == 0)) {
        heap_unlock(hp);
        _hak_fatal_ptr("free", "block of a heap destroyed meanwhile", rest);
    }
    heap_give(hp, slot, cls, rest, count - keep, &dead, "free");
    count_cached(hp, ((int64_t)keep - c->told[cls]) * _hak_cls_size[cls]);
    c->told[cls] = (uint16_t)keep;
    hp->flushes++;
    heap_unlock(hp);
    release_spans(dead, false);
}

/* ---- allocation ------------------------------------------------------------------- */

static void *heap_large_alloc(struct hak_heap *hp, uintptr_t h, size_t size, size_t align,
                              bool zero, const char *what)
{
    void *p = _hak_large_alloc(size, align, zero);
    if (p == NULL) return NULL;
    size_t usable = _hak_large_usable(p, what);
    heap_lock(hp, what);
    if (atomic_load_explicit(&hp->handle, memory_order_relaxed) != h) {
        heap_unlock(hp);
        _hak_large_free(p);
        _hak_fatal_ptr(what, "use of a destroyed heap", (void *)h);
    }
    bool ok = map_insert(&hp->large, (uintptr_t)p, 0);
    if (ok) {
        pthread_mutex_lock(&reg_lock);
        ok = map_insert(&reg, (uintptr_t)p, slot_of(h));
        pthread_mutex_unlock(&reg_lock);
        if (!ok) {
            size_t at;
            if (map_find(&hp->large, (uintptr_t)p, &at)) map_remove_at(&hp->large, at);
        }
    }
    if (ok) {
        hp->large_blocks++;
        hp->large_bytes += usable;
        uint64_t now = hp->span_bytes + hp->large_bytes;
        if (now > hp->peak) hp->peak = now;
        atomic_fetch_add_explicit(&_hak_heap_large_live, 1, memory_order_relaxed);
    }
    heap_unlock(hp);
    if (!ok) {
        _hak_large_free(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

/* A block of class cls of hp (handle h), not zeroed; NULL: the arena is full. */
static void *heap_class_alloc(struct hak_heap *hp, uintptr_t h, unsigned cls, const char *what)
{
    hak_heap_tc_t *c = tc_attach(hp, h, what);
    if (c != NULL) {
        void *p = tc_pop(c, cls, what);
        return p != NULL ? p : tc_refill(c, hp, h, cls, what);
    }
    void *p;
    heap_lock_live(hp, h, what);
    unsigned n = heap_take(hp, slot_of(h), cls, 1, &p, HAK_TC_END, what);
    heap_unlock(hp);
    if (n == 0) return NULL;
    hak_block_unmark(p);
#if HAK_DEBUG
    _hak_debug_mark_live(p, what);
#endif
    return p;
}

void *_hak_heap_alloc(uintptr_t h, size_t size, size_t align, bool zero, const char *what)
{
    struct hak_heap *hp = heap_at(h, what);
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    unsigned cls = 0;
    if (size <= HAK_MID_MAX && align <= 65536)
        cls = align <= 16 ? hak_class_of(size) : _hak_class_aligned(size, align);
    if (cls != 0) {
        void *p = heap_class_alloc(hp, h, cls, what);
        if (p != NULL) {
            HAK_ASSERT(((uintptr_t)p & (align - 1)) == 0);
            if (zero) memset(p, 0, size);
            return p;
        }
        /* The arena is full: the large tier still serves, with the class's
         * alignment at least. */
        size_t csize = _hak_cls_size[cls];
        if ((csize & -csize) > align) align = csize & -csize;
    }
    void *p = heap_large_alloc(hp, h, size, align < 16 ? 16 : align, zero, what);
    if (p == NULL) errno = ENOMEM;
    return p;
}

/* ---- frees -------------------------------------------------------------------------- */

/* p: a heap's slab block, checked not free, its debug live bit cleared. */
static void heap_free_block(void *p, const char *what)
{
    hak_span_t *s = hak_span_of(p);
    uint32_t slot = s->heap;
    if (slot == 0 || slot >= atomic_load_explicit(&slots_used, memory_order_acquire))
        _hak_fatal_ptr(what, "invalid pointer", p);
    struct hak_heap *hp = &slots[slot];
    uintptr_t h = atomic_load_explicit(&hp->handle, memory_order_acquire);
    if (h == 0) _hak_fatal_ptr(what, "block of a destroyed heap", p);
    unsigned cls = hak_class_at(p) - HAK_HEAP_CLS;
    hak_heap_tc_t *c = tc_attach(hp, h, what);
    if (c != NULL) {
        hak_heap_tc_push(c, cls, p);
        return;
    }
    hak_block_mark(p);
    hak_span_t *dead = NULL;
    heap_lock_live(hp, h, what);
    heap_give(hp, slot, cls, p, 1, &dead, what);
    heap_unlock(hp);
    release_spans(dead, false);
}

void _hak_heap_free(void *p, const char *what) { heap_free_block(p, what); }

bool _hak_heap_block_is_free(const void *p)
{
    if (!hak_block_marked(p)) return false;
    hak_span_t *s = hak_span_of(p);
    uint32_t slot = s->heap;
    if (slot == 0 || slot >= atomic_load_explicit(&slots_used, memory_order_acquire)) return false;
    unsigned cls = hak_class_at(p) - HAK_HEAP_CLS;
    hak_heap_tc_t *c = hak_heap_way(slot);
    if (hak_heap_tc_slot(c) == slot) {
        uint32_t limit = tc_count(c, cls) + 1;
        for (void *q = c->head[cls]; q != HAK_TC_END && limit-- > 0; q = hak_block_next(q, "free"))
            if (q == p) return true;
    }
    struct hak_heap *hp = &slots[slot];
    heap_lock(hp, "free");
    /* Past bump: not handed out (or its span emptied since). */
    bool found = s->heap != slot || (uintptr_t)p >= s->bump;
    uint32_t limit = found ? 0 : s->nfree;
    for (void *q = s->free; q != NULL && limit-- > 0; q = span_free_next(s, q, "free")) {
        if (q == p) {
            found = true;
            break;
        }
    }
    heap_unlock(hp);
    return found;
}

void _hak_heap_free_suspect(void *p, const char *what)
{
    if (_hak_heap_block_is_free(p)) _hak_fatal_ptr(what, "double free", p);
#if HAK_DEBUG
    _hak_debug_mark_free(p, what);
#endif
    heap_free_block(p, what);
}

uint32_t _hak_heap_large_owner(const void *p)
{
    if (atomic_load_explicit(&_hak_heap_large_live, memory_order_relaxed) == 0) return 0;
    size_t at;
    uint32_t slot = 0;
    pthread_mutex_lock(&reg_lock);
    if (map_find(&reg, (uintptr_t)p, &at)) slot = reg.val[at];
    pthread_mutex_unlock(&reg_lock);
    return slot;
}

/* Frees large block p of the heap in slot; false if the heap does not
 * list it (then nothing is done). */
static bool heap_large_release(uint32_t slot, void *p, const char *what)
{
    struct hak_heap *hp = &slots[slot];
    size_t at;
    heap_lock(hp, what);
    if (!map_find(&hp->large, (uintptr_t)p, &at)) {
        heap_unlock(hp);
        return false;
    }
    map_remove_at(&hp->large, at);
    pthread_mutex_lock(&reg_lock);
    if (map_find(&reg, (uintptr_t)p, &at)) map_remove_at(&reg, at);
    pthread_mutex_unlock(&reg_lock);
    hp->large_blocks--;
    hp->large_bytes -= _hak_large_usable(p, what);
    heap_unlock(hp);
    atomic_fetch_sub_explicit(&_hak_heap_large_live, 1, memory_order_relaxed);
    if (!_hak_large_free(p)) _hak_fatal_ptr(what, "invalid pointer", p);
    return true;
}

bool _hak_heap_large_free(void *p, const char *what)
{
    uint32_t slot = _hak_heap_large_owner(p);
    return slot != 0 && heap_large_release(slot, p, what);
}

/* Aborts naming `what` unless p is a block of the heap in slot (arena) or
 * one of its large blocks; returns true for a large one. */
static bool check_owner(uint32_t slot, const void *p, const char *what)
{
    if (hak_in_arena(p)) {
        unsigned id = hak_class_at(p);
        if (!_hak_span_block_start(p)) _hak_fatal_ptr(what, "invalid pointer", p);
        if (!hak_class_is_heap(id) || hak_span_of(p)->heap != slot)
            _hak_fatal_ptr(what, "block of another heap", p);
        return false;
    }
    uint32_t owner = _hak_heap_large_owner(p);
    if (owner == slot) return true;
    if (owner != 0 || _hak_large_owns(p)) _hak_fatal_ptr(what, "block of another heap", p);
    _hak_fatal_ptr(what, "invalid pointer", p);
}

void _hak_heap_dealloc(uintptr_t h, void *p, const char *what)
{
    heap_at(h, what);
    if (p == NULL) return;
    if (check_owner(slot_of(h), p, what)) {
        if (!heap_large_release(slot_of(h), p, what)) _hak_fatal_ptr(what, "invalid pointer", p);
        return;
    }
    if (hak_block_marked(p) && _hak_heap_block_is_free(p)) _hak_fatal_ptr(what, "double free", p);
#if HAK_DEBUG
    _hak_debug_mark_free(p, what);
#endif
    heap_free_block(p, what);
}

void *_hak_heap_realloc(uintptr_t h, void *p, size_t size, size_t align, const char *what)
{
    if (h != 0) heap_at(h, what);
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) size = 1;
    if (p == NULL) return _hak_heap_alloc(h, size, align, false, what);
    uint32_t slot;
    if (h != 0) {
        slot = slot_of(h);
    } else if (hak_in_arena(p)) {
        slot = hak_span_of(p)->heap;
    } else {
        slot = _hak_heap_large_owner(p);
    }
    if (slot == 0 || slot >= atomic_load_explicit(&slots_used, memory_order_acquire))
        _hak_fatal_ptr(what, "invalid pointer", p);
    if (h == 0 && (h = atomic_load_explicit(&slots[slot].handle, memory_order_acquire)) == 0)
        _hak_fatal_ptr(what, "block of a destroyed heap", p);
    bool large = check_owner(slot, p, what);
    size_t usable;
    /* Under valgrind every realloc moves (as alloc.c's), so memcheck's idea
     * of a block's size is always the size asked for. */
    bool aligned = ((uintptr_t)p & (align - 1)) == 0 && !HAK_VG_RUNNING();
    if (!large) {
        if (hak_block_marked(p) && _hak_heap_block_is_free(p))
            _hak_fatal_ptr(what, "block already freed", p);
        usable = _hak_cls_size[hak_class_at(p)];
        if (aligned && size <= usable && (size >= usable / 2 || usable <= 16)) return p;
    } else {
        usable = _hak_large_usable(p, what);
        if (aligned && size <= usable && size >= usable / 2) return p;
        if (aligned && size > HAK_MID_MAX) {
            void *q = _hak_large_realloc(p, size);
            if (q != NULL) {
                struct hak_heap *hp = &slots[slot];
                size_t at;
                heap_lock(hp, what);
                if (q != p) {
                    /* Same count: neither map needs to grow. */
                    if (map_find(&hp->large, (uintptr_t)p, &at)) map_remove_at(&hp->large, at);
                    map_insert(&hp->large, (uintptr_t)q, 0);
                    pthread_mutex_lock(&reg_lock);
                    if (map_find(&reg, (uintptr_t)p, &at)) map_remove_at(&reg, at);
                    map_insert(&reg, (uintptr_t)q, slot);
                    pthread_mutex_unlock(&reg_lock);
                }
                hp->large_bytes += _hak_large_usable(q, what) - usable;
                heap_unlock(hp);
                return q;
            }
        }
    }
    void *q = _hak_heap_alloc(h, size, align, false, what);
    if (q == NULL) return NULL;
#if HAK_VG_ACTIVE
    /* The new block is the program's from here; the copy reads what of the
     * old one memcheck lets it (its definedness goes along) and the old
     * block is the program's no longer. */
    VALGRIND_MALLOCLIKE_BLOCK(q, size, 0, 0);
    VALGRIND_DISABLE_ERROR_REPORTING;
    memcpy(q, p, usable < size ? usable : size);
    VALGRIND_ENABLE_ERROR_REPORTING;
    HAK_VG_FREE(p);
#else
    memcpy(q, p, usable < size ? usable : size);
#endif
    if (large) {
        heap_large_release(slot, p, what);
    } else {
#if HAK_DEBUG
        _hak_debug_mark_free(p, what);
#endif
        heap_free_block(p, what);
    }
    return q;
}

/* ---- the whole heap --------------------------------------------------------------- */

static int visit_span(const hak_span_t *s, int (*fn)(void *, size_t, void *), void *arg)
{
    size_t size = _hak_cls_size[s->cls];
    for (uintptr_t b = hak_span_start(s); b < s->bump; b += size) {
        /* Every carved block is on a list (marked) or handed out. A free
         * block's link also decodes to the end of a span's list (0), of a
         * cache's (HAK_TC_END) or to a block in the arena: a live block
         * whose bytes match the mark by chance (1 in 2^32) is still
         * visited unless they match that too (1 in 2^46 more). */
        HAK_VG_DEFINED((void *)b, 16);
        if (hak_block_marked((void *)b)) {
            uintptr_t next = hak_block_link((void *)b);
            if (next == 0 || next == (uintptr_t)HAK_TC_END ||
                (!hak_link_bad(next) && hak_in_arena((const void *)next)))
                continue;
        }
        int rc = fn((void *)b, size, arg);
        if (rc != 0) return rc;
    }
    return 0;
}

int _hak_heap_visit(uintptr_t h, int (*fn)(void *, size_t, void *), void *arg)
{
    struct hak_heap *hp = heap_at(h, "hak_heap_visit");
    if (fn == NULL) _hak_fatal_ptr("hak_heap_visit", "fn is NULL", (void *)h);
    heap_lock_live(hp, h, "hak_heap_visit");
    atomic_store_explicit(&hp->visitor, self_token(), memory_order_relaxed);
    int rc = 0;
    for (unsigned c = 1; c < HAK_NCLASS && rc == 0; c++)
        for (hak_span_t *s = hp->partial[c]; s != NULL && rc == 0; s = s->next) rc = visit_span(s, fn, arg);
    for (hak_span_t *s = hp->full; s != NULL && rc == 0; s = s->next) rc = visit_span(s, fn, arg);
    for (size_t i = 0; i < hp->large.cap && rc == 0; i++) {
        void *p = (void *)hp->large.key[i];
        if (p != NULL) rc = fn(p, _hak_large_usable(p, "hak_heap_visit"), arg);
    }
    atomic_store_explicit(&hp->visitor, NULL, memory_order_relaxed);
    heap_unlock(hp);
    return rc;
}

void _hak_heap_collect(uintptr_t h)
{
    struct hak_heap *hp = heap_at(h, "hak_heap_collect");
    hak_heap_tc_t *c = hak_heap_way(h);
    if (hak_heap_tc_handle(c) == h) tc_detach(c, "hak_heap_collect");
    hak_span_t *dead = NULL;
    heap_lock_live(hp, h, "hak_heap_collect");
    take_empty_spans(hp, &dead);
    heap_unlock(hp);
    release_spans(dead, false);
}

/* The pages of the table that hold only free slots go back (a program that
 * had 10,000 heaps at once and destroyed them keeps none of their structs). */
static size_t purge_free_slots(void)
{
    size_t bytes = 0;
    pthread_mutex_lock(&table_lock);
    uint32_t used = atomic_load_explicit(&slots_used, memory_order_relaxed);
    if (slots != NULL && used > 1) {
        const uintptr_t page = _hak_os_page_size(), base = (uintptr_t)slots;
        const uintptr_t end = base + used * sizeof *slots;
        uintptr_t run = 0; /* start of a run of such pages, or 0 */
        for (uintptr_t a = hak_align_up(base + sizeof *slots, page);; a += page) {
            bool all_free = a + page <= end;
            uint32_t first = (uint32_t)((a - base) / sizeof *slots);
            uint32_t last = (uint32_t)((a + page - 1 - base) / sizeof *slots);
            for (uint32_t s = first; s <= last && all_free; s++) all_free = s == 0 || slot_free[s];
            if (all_free && run == 0) run = a;
            if (!all_free && run != 0) {
                if (_hak_os_purge((void *)run, a - run)) bytes += a - run;
                run = 0;
            }
            if (a + page > end) break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return bytes;
}

size_t _hak_heap_collect_all(void)
{
    if (!atomic_load_explicit(&heaps_made, memory_order_acquire)) return 0;
    for (unsigned w = 0; w < HAK_HEAP_WAYS; w++) tc_detach(hak_heap_way(w), "hak_collect");
    size_t bytes = 0;
    uint32_t used = atomic_load_explicit(&slots_used, memory_order_acquire);
    for (uint32_t slot = 1; slot < used; slot++) {
        struct hak_heap *hp = &slots[slot];
        if (atomic_load_explicit(&hp->handle, memory_order_relaxed) == 0) continue;
        hak_span_t *dead = NULL;
        heap_lock(hp, "hak_collect");
        if (atomic_load_explicit(&hp->handle, memory_order_relaxed) != 0) take_empty_spans(hp, &dead);
        heap_unlock(hp);
        bytes += release_spans(dead, false);
    }
    return bytes + release_parked() + purge_free_slots();
}

int _hak_heap_stats(uintptr_t h, struct hak_stats *out, size_t size)
{
    struct hak_heap *hp = heap_at(h, "hak_heap_stats");
    struct hak_stats s;
    if (!_hak_stats_begin(&s, out, size)) return -1;
    heap_lock_live(hp, h, "hak_heap_stats");
    /* The calling thread's cache exactly; other threads' as last told. */
    int64_t cached = hp->cached;
    hak_heap_tc_t *c = hak_heap_way(h);
    if (hak_heap_tc_handle(c) == h)
        for (unsigned cls = 1; cls < HAK_NCLASS; cls++)
            cached += ((int64_t)tc_count(c, cls) - c->told[cls]) * _hak_cls_size[cls];
    if (cached < 0) cached = 0;
    if ((uint64_t)cached > hp->used) cached = (int64_t)hp->used;
    s.bytes_in_use = hp->used - (uint64_t)cached + hp->large_bytes;
    s.bytes_cached = (uint64_t)cached;
    s.bytes_committed = hp->span_bytes + hp->large_bytes;
    s.bytes_committed_peak = hp->peak;
    s.bytes_mapped = s.bytes_committed;
    s.spans = hp->spans;
    s.large_blocks = hp->large_blocks;
    s.large_bytes = hp->large_bytes;
    s.refills = hp->refills;
    s.flushes = hp->flushes;
    heap_unlock(hp);
    _hak_stats_finish(out, &s);
    return 0;
}

/* A destroyed heap's large block: its pages go back to the OS now (all but
 * the one that holds its header), then the block to the large tier, which
 * would otherwise keep them resident for reuse (large.c: freed ranges stay
 * dirty within HAKMEM_LARGE_CACHE), so destroy would not return them. The
 * tier still counts the range as committed until it purges it itself (at
 * most HAKMEM_LARGE_IDLE_MS later, or hak_collect): then the purge finds
 * nothing resident. */
static void large_release_purged(void *p)
{
    size_t page = _hak_os_page_size();
    uintptr_t from = hak_align_up((uintptr_t)p, page);
#if HAK_DEBUG
    /* Its padding's canary is checked now, before the purge zeroes it. */
    _hak_large_debug_unrequest(p, "hak_heap_destroy");
#endif
    uintptr_t to = ((uintptr_t)p + _hak_large_usable(p, "hak_heap_destroy")) & ~(uintptr_t)(page - 1);
    if (to > from) _hak_os_purge((void *)from, to - from);
    _hak_large_free(p);
}

#if HAK_VG_ACTIVE
/* memcheck forgets every block still handed out of a destroyed heap. */
static void vg_forget(hak_span_t *s)
{
    size_t size = _hak_cls_size[s->cls];
    for (uintptr_t b = hak_span_start(s); b < s->bump; b += size) {
        VALGRIND_MAKE_MEM_DEFINED((void *)b, 16);
        if (!hak_block_marked((void *)b)) VALGRIND_FREELIKE_BLOCK((void *)b, 0);
    }
}
#endif

void _hak_heap_destroy(uintptr_t h)
{
    struct hak_heap *hp = heap_at(h, "hak_heap_destroy");
    uint32_t slot = slot_of(h);
    heap_lock_live(hp, h, "hak_heap_destroy");
    atomic_store_explicit(&hp->handle, 0, memory_order_release);
    /* No thread may pop or push a block of it from here on: every cache
     * attached to it is detached (its owner drops its blocks unread). */
    for (hak_heap_tc_t *c = hp->caches, *next; c != NULL; c = next) {
        next = c->next;
        tc_set_detached(c);
    }
    hp->caches = NULL;
    hak_span_t *spans = NULL;
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        while (hp->partial[c] != NULL) {
            hak_span_t *s = hp->partial[c];
            hp->partial[c] = s->next;
            s->next = spans;
            spans = s;
        }
    }
    while (hp->full != NULL) {
        hak_span_t *s = hp->full;
        hp->full = s->next;
        s->next = spans;
        spans = s;
    }
    hak_ss_t *owned = hp->owned;
    hp->owned = NULL;
    struct addr_map large = hp->large;
    hp->large = (struct addr_map){0};
    if (large.n != 0) {
        pthread_mutex_lock(&reg_lock);
        for (size_t i = 0; i < large.cap; i++) {
            size_t at;
            if (large.key[i] != 0 && map_find(&reg, large.key[i], &at)) map_remove_at(&reg, at);
        }
        pthread_mutex_unlock(&reg_lock);
    }
    _hak_stat_sub(&_hak_g_stats.heap_used, hp->used);
    _hak_stat_sub(&_hak_g_stats.heap_cached, (uint64_t)hp->cached);
    hp->used = hp->span_bytes = hp->spans = hp->large_blocks = hp->large_bytes = hp->peak = 0;
    hp->cached = 0;
    hp->refills = hp->flushes = 0;
    heap_unlock(hp);

#if HAK_VG_ACTIVE
    for (hak_span_t *s = spans; s != NULL; s = s->next) vg_forget(s);
#endif
    /* Spans of its own SuperSlabs go with them, one purge each; the
     * shared ones one by one, the smallest parked for the next heap. */
    hak_span_t *shared = NULL;
    while (spans != NULL) {
        hak_span_t *s = spans;
        spans = s->next;
        if (hak_ss_of(s)->owned) continue;
        s->next = shared;
        shared = s;
    }
    release_spans(shared, true);
    while (owned != NULL) {
        hak_ss_t *ss = owned;
        owned = ss->next;
        _hak_ss_disown(ss);
    }
    if (large.n != 0) {
        for (size_t i = 0; i < large.cap; i++) {
            if (large.key[i] == 0) continue;
#if HAK_VG_ACTIVE
            VALGRIND_FREELIKE_BLOCK((void *)large.key[i], 0);
#endif
            large_release_purged((void *)large.key[i]);
            atomic_fetch_sub_explicit(&_hak_heap_large_live, 1, memory_order_relaxed);
        }
    }
    map_free(&large);

    pthread_mutex_lock(&table_lock);
    slot_next[slot] = free_slot;
    slot_free[slot] = 1;
    free_slot = slot;
    pthread_mutex_unlock(&table_lock);
}

void _hak_heap_thread_exit(void)
{
    for (unsigned w = 0; w < HAK_HEAP_WAYS; w++) {
        hak_heap_tc_t *c = hak_heap_way(w);
        if (c == HAK_HEAP_TC_NONE) continue;
        tc_detach(c, "free");
        *way_at(w) = HAK_HEAP_TC_NONE;
        pool_put(c);
    }
}

/* ---- fork ---------------------------------------------------------------------------- */


void _hak_heap_lock_all(void)
{
    fork_locked = atomic_load_explicit(&heaps_made, memory_order_acquire);
    if (!fork_locked) return;
    pthread_mutex_lock(&table_lock);
    uint32_t used = atomic_load_explicit(&slots_used, memory_order_relaxed);
    for (uint32_t slot = 1; slot < used; slot++) pthread_mutex_lock(&slots[slot].lock);
    pthread_mutex_lock(&reg_lock);
    pthread_mutex_lock(&park_lock);
}

void _hak_heap_unlock_all(void)
{
    if (!fork_locked) return;
    pthread_mutex_unlock(&park_lock);
    pthread_mutex_unlock(&reg_lock);
    uint32_t used = atomic_load_explicit(&slots_used, memory_order_relaxed);
    for (uint32_t slot = 1; slot < used; slot++) pthread_mutex_unlock(&slots[slot].lock);
    pthread_mutex_unlock(&table_lock);
}

void _hak_heap_reset_locks(void)
{
    pthread_mutex_init(&park_lock, NULL);
    pthread_mutex_init(&reg_lock, NULL);
    uint32_t used = atomic_load_explicit(&slots_used, memory_order_relaxed);
    for (uint32_t slot = 1; slot < used; slot++) pthread_mutex_init(&slots[slot].lock, NULL);
    pthread_mutex_init(&table_lock, NULL);
}
