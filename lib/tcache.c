/* tcache.c: the thread cache's out-of-line operations (tcache.h).
 *
 * Call tree:
 *   _hak_tc_refill(cls)      batch size (slow start, byte limit), the group's
 *                            span for Tiny classes; _hak_central_take
 *                            writes the addresses straight onto the stack
 *   _hak_tc_overflow(cls, p) a consumer's class: the whole stack back; else
 *                            the older half (bin_flush -> _hak_central_give,
 *                            which reads the addresses off the stack); p
 *                            pushed
 *   _hak_tc_activate         stacks from the pool, join the least busy
 *                            span group
 *   _hak_tc_retire           every stack back; leave the group; no stacks
 * Each class's stack holds twice the class's cap: a flush keeps the cap
 * (the newest blocks), so a thread that frees and allocates a cap's worth
 * and a little more in turn moves no batch at all.
 * Every refill and flush tells the central pool how many blocks the thread
 * holds now (the told counts), so the stats can count every thread's
 * cache, not only the caller's: exact as of each thread's last refill or
 * flush.
 * Nothing here runs unless a fast path missed (alloc.h), and nothing here
 * sets the process up: init.c does that before a thread's first refill.
 */
#define _GNU_SOURCE
#include "tcache.h"
#include "central.h"
#include "counters.h"
#include "os.h"

#include <pthread.h>
#include <string.h>

/* Never carries the free mark (block.h): the block under every stack. */
const uint64_t _hak_tc_end[2] HAK_ALIGNED(16) = {0, 0};

const uint64_t _hak_tc_heap_none[2] HAK_ALIGNED(16) = {0, UINT32_MAX};

/* Never written: a stack there is full (and empty) to every fast path. */
void *_hak_tc_nostack[2] = {(void *)_hak_tc_end, (void *)_hak_tc_end};

/* What a new thread's cache holds: no stacks (empty and full), state NEW. */
#define TC_IMAGE                                                   \
    {                                                              \
        .top = {[0 ... HAK_CLASS_IDS - 1] = _hak_tc_nostack + 1},  \
        .bot = {[0 ... HAK_CLASS_IDS - 1] = _hak_tc_nostack + 1},  \
        .lim = {[0 ... HAK_CLASS_IDS - 1] = _hak_tc_nostack + 1},  \
        .heap_ways = {[0 ... HAK_TC_HEAP_WAYS - 1] = _hak_tc_heap_none}, \
    }

#if !HAK_TC_INDIRECT
__thread hak_tcache_t _hak_tc HAK_TLS = TC_IMAGE;
#else
/* The dlopen-safe build's caches (tcache.h): carved from mappings of
 * POOL_CHUNK bytes, never unmapped, and reused. A cache is owned from its
 * thread's first call. When the thread's key destructor has run, the cache
 * joins the queue of retired ones, but stays its thread's: later
 * destructors may still call hakmem through it, as a dying thread (no
 * stacks: what it frees goes straight back). A new thread takes a retired cache once the
 * kernel no longer knows its thread, which then runs no more code (a
 * thread id the kernel has given again only keeps it queued longer); the
 * oldest are asked first, and at most POOL_PROBES a time, so that threads
 * still in their destructors do not make each new thread wait. */
__thread hak_tcache_t *_hak_tcp HAK_TCP_TLS;
static const hak_tcache_t tc_image = TC_IMAGE;
/* Its destructor queues the thread's cache as retired. A key of the pool's
 * own, set at attach: a thread whose only calls are hak_stats_get or
 * hak_collect attaches a cache but is never set up (no init.c key), and its
 * cache must come back too. Destructors run in any order: the queue only
 * says "reuse once the thread is gone". */
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;
static bool pool_key_ok;
#define POOL_CHUNK 65536u
#define POOL_PROBES 8u
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_tcache_t *pool_all;              /* every cache carved (for fork) */
static hak_tcache_t *retired, *retired_last; /* oldest first */
static char *pool_cur, *pool_end;

/* ThreadSanitizer cannot take the kernel's word that a thread is gone as
 * ordering its last writes before our reads (it knows pthread_join, not
 * thread exit), so under it a retired cache is never taken back, except
 * after a fork. */
#if defined(__SANITIZE_THREAD__)
#define POOL_REUSE_RETIRED 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POOL_REUSE_RETIRED 0
#endif
#endif
#ifndef POOL_REUSE_RETIRED
#define POOL_REUSE_RETIRED 1
#endif

static hak_tcache_t *pool_carve(void)
{
    size_t size = (sizeof(hak_tcache_t) + 63) & ~(size_t)63;
    if (pool_cur == NULL || (size_t)(pool_end - pool_cur) < size) {
        char *chunk = _hak_os_map(POOL_CHUNK);
        if (chunk == NULL) return NULL;
        _hak_stat_add(&_hak_g_stats.mapped, POOL_CHUNK);
        pool_cur = chunk;
        pool_end = chunk + POOL_CHUNK;
    }
    hak_tcache_t *tc = (hak_tcache_t *)(void *)pool_cur;
    pool_cur += size;
    tc->pool_all_next = pool_all;
    pool_all = tc;
    return tc;
}

static void retired_push(hak_tcache_t *tc)
{
    if (tc->pool_queued) return;
    tc->pool_queued = 1;
    tc->pool_next = NULL;
    if (retired_last != NULL) retired_last->pool_next = tc;
    else retired = tc;
    retired_last = tc;
}

/* A retired cache whose thread is gone, off the queue; or NULL. */
static hak_tcache_t *retired_take(void)
{
    hak_tcache_t *prev = NULL;
    unsigned probes = 0;
    for (hak_tcache_t *q = retired; q != NULL && probes < POOL_PROBES; prev = q, q = q->pool_next) {
        if (q->owner_tid != 0) {
            probes++;
            if (!POOL_REUSE_RETIRED || !_hak_os_thread_gone(q->owner_tid)) continue;
            /* The thread's last writes to the cache came before its exit,
             * which came before the kernel's answer: none of our reads of
             * the cache may move above that answer. */
            atomic_thread_fence(memory_order_acquire);
        }
        if (prev != NULL) prev->pool_next = q->pool_next;
        else retired = q->pool_next;
        if (retired_last == q) retired_last = prev;
        q->pool_queued = 0;
        return q;
    }
    return NULL;
}

static void pool_release(void *arg);

static void pool_key_make(void) { pool_key_ok = pthread_key_create(&pool_key, pool_release) == 0; }

hak_tcache_t *_hak_tc_attach(void)
{
    long tid = _hak_os_tid();
    pthread_mutex_lock(&pool_lock);
    hak_tcache_t *tc = retired_take();
    if (tc == NULL) tc = pool_carve();
    if (tc == NULL) {
        pthread_mutex_unlock(&pool_lock);
        _hak_fatal("cannot map memory for a thread's cache");
    }
    hak_tcache_t *all_next = tc->pool_all_next;
    *tc = tc_image;
    tc->pool_all_next = all_next;
    tc->owner_tid = tid;
    pthread_mutex_unlock(&pool_lock);
    _hak_tcp = tc;
    /* (Without a key the cache is never reused: one lost per thread.) */
    pthread_once(&pool_key_once, pool_key_make);
    if (pool_key_ok) pthread_setspecific(pool_key, tc);
    return tc;
}

static void pool_release(void *arg)
{
    hak_tcache_t *tc = arg;
    pthread_mutex_lock(&pool_lock);
    retired_push(tc);
    pthread_mutex_unlock(&pool_lock);
}

/* In a fork's child only the forking thread lives on: every other cache is
 * free at once (owner 0: no thread to ask about; the blocks on them are
 * lost, as in the initial-exec build). */
static void pool_after_fork_child(void)
{
    pthread_mutex_init(&pool_lock, NULL);
    hak_tcache_t *self = _hak_tcp;
    retired = retired_last = NULL;
    for (hak_tcache_t *q = pool_all; q != NULL; q = q->pool_all_next) {
        q->pool_queued = 0;
        if (q == self) continue;
        q->owner_tid = 0;
        retired_push(q);
    }
    if (self != NULL) self->owner_tid = _hak_os_tid();
}
#endif

static uint32_t class_cap[HAK_NCLASS];
#define REFILL_BYTES 16384u
#define SLOW_START_BLOCKS 4u

/* Span groups: each owns one span per Tiny class to refill from (central.c),
 * so threads of different groups never get blocks on one cache line. A
 * thread joins the group with fewest live threads; there are 4 per CPU, as
 * jemalloc has arenas: fewer and threads would share often, more and every
 * thread of a many-threaded program would hold a span per class, and spans
 * of exited threads would be emptied and purged only to be mapped again.
 * Groups outlive threads. group_span: under the class's central lock. */
#define GROUPS_MAX 64
static hak_span_t *group_span[GROUPS_MAX][HAK_FIRST_MID];
static uint32_t group_threads[GROUPS_MAX]; /* under group_lock */
static uint32_t ngroups = 1;
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t _hak_tc_sample_every;

/* Mallocs before the next sample: uniform in [0, 2N - 2], so one in N on
 * average, at no fixed stride a program could fall in step with. */
static uint32_t sample_interval(hak_tc_ref_t *tc)
{
    uint64_t x = tc->sample_seed;
    if (x == 0) x = (uint64_t)(uintptr_t)hak_tc_addr() * 0x9E3779B97F4A7C15ull | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    tc->sample_seed = x;
    uint64_t span = 2 * (uint64_t)_hak_tc_sample_every - 1;
    return (uint32_t)(x % span);
}

bool _hak_tc_sample_now(bool mid)
{
    hak_tc_ref_t *tc = hak_tc_self();
    if (tc->sample_left == 0) {
        tc->sample_left = sample_interval(tc);
        return true;
    }
    if (mid) tc->sample_left--;
    return false;
}

void _hak_tc_init(uint64_t tcache_bytes, uint32_t sample_every)
{
    _hak_tc_sample_every = sample_every;
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        uint64_t cap = tcache_bytes / _hak_cls_size[c];
        uint64_t max = hak_class_is_tiny(c) ? 256 : 64;
        class_cap[c] = (uint32_t)(cap < 1 ? 1 : cap > max ? max : cap);
    }
    unsigned ncpu = _hak_os_cpu_count();
    ngroups = ncpu >= GROUPS_MAX / 4 ? GROUPS_MAX : 4 * ncpu;
}

/* The class's cap for this thread (0 unless it is set up and alive). */
static uint32_t tc_cap(const hak_tc_ref_t *tc, unsigned cls)
{
    return tc->state == HAK_TC_ACTIVE ? class_cap[cls] : 0;
}

static uint32_t bin_count(const hak_tc_ref_t *tc, unsigned cls)
{
    return (uint32_t)(tc->top[cls] - tc->bot[cls]);
}

int64_t _hak_tc_untold(unsigned cls)
{
    hak_tc_ref_t *tc = hak_tc_self();
    return (int64_t)bin_count(tc, cls) - (int64_t)tc->told[cls];
}

/* The thread holds `held` blocks of cls: the pool is told if that is not
 * what it was told last. */
static void tell(hak_tc_ref_t *tc, unsigned cls, uint32_t held)
{
    if (tc->told[cls] == held) return;
    _hak_central_tell(cls, (int64_t)held - tc->told[cls]);
    tc->told[cls] = (uint16_t)held;
}

/* Each class's stack holds twice its cap: the cap the flush keeps, and as
 * many again before the next flush. */
static size_t stack_slots(void)
{
    size_t n = 0;
    for (unsigned c = 1; c < HAK_NCLASS; c++) n += 1 + 2 * (size_t)class_cap[c];
    return n;
}

/* A Tiny class's stack stops at the cap until the thread first refills the
 * class: a thread that frees a class it never allocates (a consumer, see
 * _hak_tc_overflow) gives its whole stack back at the cap. */
static void stacks_set(hak_tc_ref_t *tc, void **s)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) {
        *s++ = HAK_TC_END; /* what malloc finds on an empty stack */
        tc->bot[c] = tc->top[c] = s;
        tc->lim[c] = s + (hak_class_is_tiny(c) ? 1 : 2) * (size_t)class_cap[c];
        s += 2 * (size_t)class_cap[c];
    }
}

/* Stacks of exited threads, for the next ones (a program that starts and
 * ends threads all day maps none after the first, and the slots its
 * threads use stay resident): linked through their first slot. A thread's
 * stacks take 70 KiB of slots with the default caps (a page or two of it
 * resident for most threads), counted as mapped. */
static void **stack_free;
static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;

static void **stack_get(size_t bytes)
{
    pthread_mutex_lock(&stack_lock);
    void **s = stack_free;
    if (s != NULL) stack_free = (void **)s[0];
    pthread_mutex_unlock(&stack_lock);
    if (s != NULL) return s;
    s = _hak_os_map(bytes);
    if (s != NULL) _hak_stat_add(&_hak_g_stats.mapped, bytes);
    return s;
}

static void stack_put(void **s)
{
    pthread_mutex_lock(&stack_lock);
    s[0] = (void *)stack_free;
    stack_free = s;
    pthread_mutex_unlock(&stack_lock);
}

static void stacks_none(hak_tc_ref_t *tc)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) tc->bot[c] = tc->top[c] = tc->lim[c] = _hak_tc_nostack + 1;
}

void _hak_tc_activate(void)
{
    hak_tc_ref_t *tc = hak_tc_self();
    HAK_ASSERT(tc->state == HAK_TC_NEW);
    size_t bytes = hak_align_up(stack_slots() * sizeof(void *), _hak_os_page_size());
    void **s = stack_get(bytes);
    if (s != NULL) {
        tc->stack = s;
        stacks_set(tc, s);
    }
    for (unsigned id = 0; id < HAK_CLASS_IDS; id++) {
        tc->free_magic[id] = _hak_cls_free_test[id][0];
        tc->free_limit[id] = _hak_cls_free_test[id][1];
    }
    pthread_mutex_lock(&group_lock);
    uint32_t g = 0;
    for (uint32_t i = 1; i < ngroups; i++)
        if (group_threads[i] < group_threads[g]) g = i;
    group_threads[g]++;
    pthread_mutex_unlock(&group_lock);
    tc->group = g;
    tc->state = HAK_TC_ACTIVE;
    if (_hak_tc_sample_every) tc->sample_left = sample_interval(tc);
}

static void bin_flush(hak_tc_ref_t *tc, unsigned cls, uint32_t keep)
{
    uint32_t count = bin_count(tc, cls);
    if (count <= keep) {
        /* Nothing to give back, but the stack may hold fewer blocks than
         * the pool was told (a refill's batch, handed out since): say so,
         * or a thread that exits with an empty stack leaves its last batch
         * counted as cached for good (bytes_cached too high, bytes_in_use
         * too low, by up to a batch per class per thread that ever ran). */
        tell(tc, cls, count);
        return;
    }
    /* The oldest blocks go (the bottom of the stack); the newest stay. */
    void **bot = tc->bot[cls];
    uint32_t n = count - keep;
    int64_t delta = (int64_t)keep - tc->told[cls];
    tc->told[cls] = (uint16_t)keep;
    _hak_central_give(cls, bot, n, delta);
    memmove(bot, bot + n, (size_t)keep * sizeof(void *));
    tc->top[cls] = bot + keep;
#if HAK_VG_ACTIVE
    memset(bot + keep, 0, (size_t)n * sizeof(void *)); /* see hak_tc_take */
#endif
}

static void tc_return_all(hak_tc_ref_t *tc)
{
    for (unsigned c = 1; c < HAK_NCLASS; c++) bin_flush(tc, c, 0);
}

void _hak_tc_flush_class(unsigned cls) { bin_flush(hak_tc_self(), cls, 0); }

/* hak_collect: every group's spans too, which may now be empty and so
 * releasable; groups take new ones when they next refill. */
void _hak_tc_flush_all(void)
{
    tc_return_all(hak_tc_self());
    for (unsigned g = 0; g < ngroups; g++)
        for (unsigned c = 1; c < HAK_FIRST_MID; c++) _hak_central_disown(c, &group_span[g][c]);
}

void _hak_tc_retire(void)
{
    hak_tc_ref_t *tc = hak_tc_self();
    if (tc->state != HAK_TC_ACTIVE) return;
    tc_return_all(tc);
    pthread_mutex_lock(&group_lock);
    group_threads[tc->group]--;
    pthread_mutex_unlock(&group_lock);
    /* Dying: no stacks, so whatever later destructors free goes straight back. */
    stacks_none(tc);
    if (tc->stack != NULL) stack_put(tc->stack);
    tc->stack = NULL;
    tc->state = HAK_TC_DYING;
}

void _hak_tc_after_fork_child(void)
{
    /* Only the forking thread lives on; the others' caches are lost (their
     * blocks stay counted as cached, bounded by twice the caps: a full
     * stack each, and their stacks' storage with them), and so are they in
     * their groups, which keep their spans. */
    pthread_mutex_init(&group_lock, NULL);
    pthread_mutex_init(&stack_lock, NULL);
    for (unsigned g = 0; g < ngroups; g++) group_threads[g] = 0;
    hak_tc_ref_t *tc = hak_tc_self();
    if (tc->state == HAK_TC_ACTIVE) group_threads[tc->group] = 1;
#if HAK_TC_INDIRECT
    pool_after_fork_child();
#endif
}

void *_hak_tc_refill(unsigned cls)
{
    hak_tc_ref_t *tc = hak_tc_self();
    uint32_t cap = tc_cap(tc, cls);
    unsigned want = cap == 0 ? 1 : (cap + 1) / 2;
    /* At most REFILL_BYTES a batch. Fresh blocks are touched as they are
     * carved, and each span group carves its own span of every class, so a
     * batch of half a 64 KiB cap left each group up to 32 KiB a class of
     * resident memory it might never use (mstress, 8 groups: peak RSS
     * 14.0 MiB against 10.7 with this limit). Classes up to 128 bytes keep
     * their half cap; callgrind's random_mixed counts do not rise. */
    unsigned most = REFILL_BYTES / _hak_cls_size[cls];
    if (want > most) want = most > 0 ? most : 1;
    /* Slow start: a class's first batch is small and each refill doubles
     * it up to the limit above, so a thread that uses a class for a few
     * blocks carves (and touches) a few blocks, not a full batch of each of
     * the classes it ever touches (a program's start-up, a thread that
     * allocates a handful of objects). */
    unsigned start = tc->batch[cls] ? tc->batch[cls] : SLOW_START_BLOCKS;
    if (want > start) want = start;
    /* Sampling: the list runs dry at the sampled malloc (alloc.c). */
    if (HAK_UNLIKELY(_hak_tc_sample_every) && want > tc->sample_left)
        want = tc->sample_left > 0 ? tc->sample_left : 1;
    if (start < 0x8000) tc->batch[cls] = (uint16_t)(start * 2);
    /* A thread not set up (or dying) has no group. */
    hak_span_t **slot = tc->state == HAK_TC_ACTIVE && hak_class_is_tiny(cls) ? &group_span[tc->group][cls] : NULL;
    if (tc->bot[cls] == tc->lim[cls]) {
        /* No stack (not set up, dying): one block, the caller's. */
        void *one[1];
        unsigned n = _hak_central_take(cls, 1, one, hak_tc_addr(), slot, tc->told[cls]);
        if (n == 0) return NULL;
        _hak_central_tell(cls, -1);
        tc->told[cls] = 0;
#if HAK_DEBUG
        _hak_debug_mark_live(one[0], "malloc");
#endif
        hak_block_unmark(one[0]);
        return one[0];
    }
    /* Straight onto the stack, the first block on top. */
    void **bot = tc->bot[cls];
    unsigned n = _hak_central_take(cls, want, bot, hak_tc_addr(), slot, tc->told[cls]);
    tc->told[cls] = (uint16_t)n;
    if (n == 0) return NULL;
    if (HAK_UNLIKELY(_hak_tc_sample_every)) tc->sample_left -= n < tc->sample_left ? n : tc->sample_left;
    if (hak_class_is_tiny(cls) && !(tc->allocates >> cls & 1)) {
        tc->allocates |= 1u << cls;
        tc->lim[cls] = bot + 2 * (size_t)cap;
    }
    tc->top[cls] = bot + n;
    return hak_tc_pop(tc, cls);
}

void _hak_tc_overflow(unsigned cls, void *p, const char *what)
{
    hak_tc_ref_t *tc = hak_tc_self();
    /* A thread that has never refilled a Tiny class does not allocate it
     * (a consumer): the blocks it would keep serve no malloc. It returns
     * them all, which also halves its flushes. (A lower cap for it, to hold
     * less memory, was measured: prodcons 16-1024 peak RSS -130 KiB for 18%
     * less throughput.) */
    bool keeps = !hak_class_is_tiny(cls) || (tc->allocates >> cls & 1);
#if HAK_DEBUG
    _hak_debug_mark_free(p, what);
#else
    (void)what;
#endif
    hak_block_mark(p);
#if HAK_DEBUG
    _hak_debug_freed(p);
#endif
    if (tc->bot[cls] == tc->lim[cls]) {
        /* No stack (dying, or not set up): p goes back at once. */
        _hak_central_give(cls, &p, 1, 0);
        return;
    }
    bin_flush(tc, cls, keeps ? tc_cap(tc, cls) : 0);
    void **t = tc->top[cls];
    *t = p;
    tc->top[cls] = t + 1;
}

void _hak_list_corrupt(const void *p) { _hak_block_corrupt("malloc", p); }

/* p carries the free mark: is it really free? Looks on the calling thread's
 * list of its class, then in its span's free bits. (A block sitting on
 * another live thread's list is not found: that thread owns its list.) */
bool _hak_block_is_free(const void *p)
{
    if (!hak_block_marked(p)) return false;
    hak_tc_ref_t *tc = hak_tc_self();
    unsigned cls = hak_class_at(p);
    /* A first-class heap's block: heap.c knows its lists. */
    if (hak_class_is_heap(cls)) return false;
    for (void **t = tc->bot[cls]; t != tc->top[cls]; t++)
        if (*t == p) return true;
    return cls != 0 && _hak_central_holds(cls, p);
}
