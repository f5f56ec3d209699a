/* init.c: process start-up, thread set-up and exit, fork handlers, and the
 * constructor. Nothing below calls up into this file: the slow paths of
 * alloc.c call it before a thread's first refill, and the lower layers are
 * given their settings as arguments rather than reading the options.
 *
 *   _hak_runtime_init   once, under init_lock: options; fault injection
 *                       (debug builds); counting on?; size-class tables;
 *                       thread-cache caps and span groups; heaps' cache
 *                       caps; central pool; large tier; arena and the free
 *                       path's window; the thread key. Then, unlocked: fork handlers, and the
 *                       HAKMEM_VERBOSE banner.
 *   _hak_thread_init    _hak_runtime_init; _hak_tc_activate; the thread key
 *   thread_exit         (key destructor) _hak_tc_retire, _hak_heap_thread_exit
 *   atfork_*            every allocator lock around fork()
 */
#define _GNU_SOURCE
#include "init.h"
#include "block.h"
#include "central.h"
#include "counters.h"
#include "guard.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "superslab.h"
#include "tcache.h"
#include "../include/hakmem.h"

#include <pthread.h>

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool runtime_ready;
static pthread_key_t tc_key;
static bool tc_key_ok;

static void thread_exit(void *arg);
static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Settings from the options, each to the layer that uses it. */
static void layers_init(void)
{
    _hak_options_init();
#if HAK_DEBUG
    _hak_os_set_faults((uint64_t)_hak_option(HAK_OPT_FAULT_MAP_NTH),
                       (uint64_t)_hak_option(HAK_OPT_FAULT_MAP_EVERY),
                       (uint64_t)_hak_option(HAK_OPT_FAULT_PURGE_EVERY));
#else
    if (_hak_option(HAK_OPT_FAULT_MAP_NTH) || _hak_option(HAK_OPT_FAULT_MAP_EVERY) ||
        _hak_option(HAK_OPT_FAULT_PURGE_EVERY))
        _hak_write_str(2, "hakmem: HAKMEM_FAULT_* needs a debug build; ignored\n");
#endif
    _hak_g_count_calls = _hak_option(HAK_OPT_STATS) || _hak_option(HAK_OPT_ROUTE_TRACE);
    /* Before the arena exists, so before any block does. */
    _hak_block_key_init();
    _hak_sizeclass_init();
    uint32_t sample = (uint32_t)_hak_option(HAK_OPT_GUARD_SAMPLE);
    if (sample != 0 && !_hak_guard_init()) {
        _hak_write_str(2, "hakmem: HAKMEM_GUARD_SAMPLE: no address space for the guarded pool; off\n");
        sample = 0;
    }
    _hak_tc_init((uint64_t)_hak_option(HAK_OPT_TCACHE_BYTES), sample);
    _hak_heap_init((uint64_t)_hak_option(HAK_OPT_TCACHE_BYTES));
    _hak_central_init((uint64_t)_hak_option(HAK_OPT_RETAIN_BYTES));
    _hak_large_init((uint64_t)_hak_option(HAK_OPT_LARGE_CACHE),
                    (uint64_t)_hak_option(HAK_OPT_LARGE_CACHE_PCT),
                    (uint64_t)_hak_option(HAK_OPT_LARGE_IDLE_MS));
    /* Without an arena every request is served by the large tier. */
    if (_hak_arena_init((uint64_t)_hak_option(HAK_OPT_ARENA_SIZE)))
        _hak_arena_open_fast_window(!_hak_g_count_calls);
}

static void verbose_banner(void)
{
    _hak_write_str(2, "hakmem: " HAKMEM_VERSION_STRING " active, arena ");
    _hak_write_u64(2, _hak_arena_size);
    _hak_write_str(2, " bytes at ");
    _hak_write_hex(2, _hak_arena_base);
    _hak_write_str(2, _hak_g_count_calls ? ", counting every free\n" : "\n");
    _hak_options_print(2);
}

void _hak_runtime_init(void)
{
    if (HAK_LIKELY(atomic_load_explicit(&runtime_ready, memory_order_acquire))) return;
    bool first = false;
    pthread_mutex_lock(&init_lock);
    if (!atomic_load_explicit(&runtime_ready, memory_order_relaxed)) {
        layers_init();
        /* Without the key, threads' caches cannot go back when they exit:
         * then no thread caches at all (class caps stay 0). */
        tc_key_ok = pthread_key_create(&tc_key, thread_exit) == 0;
        if (!tc_key_ok) _hak_write_str(2, "hakmem: pthread_key_create failed; thread caches off\n");
        atomic_store_explicit(&runtime_ready, true, memory_order_release);
        first = true;
    }
    pthread_mutex_unlock(&init_lock);
    if (!first) return;
    /* Outside the lock: registering may itself call malloc. */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    if (_hak_option(HAK_OPT_VERBOSE)) verbose_banner();
}

void _hak_thread_init(void)
{
    _hak_runtime_init();
    if (hak_tc_self()->state != HAK_TC_NEW || !tc_key_ok) return;
    _hak_tc_activate();
    /* No list of threads is kept: a thread that first allocates while glibc
     * tears it down (after the key destructors ran, e.g. in its freeres)
     * never gets its destructor called, and a list would keep a pointer to
     * its freed TLS. Such a thread can only leave its cached blocks behind
     * (at most twice each class's cap: a full stack). Last: may allocate
     * (glibc's second-level key array), which now works. */
    pthread_setspecific(tc_key, hak_tc_addr());
}

static void thread_exit(void *arg)
{
    if (arg != hak_tc_addr()) return;
    _hak_tc_retire();
    /* After the retire: the thread is dying, so heap calls made by later
     * destructors attach no cache again. */
    _hak_heap_thread_exit();
}

/* ---- fork ---------------------------------------------------------------- */

/* Every allocator lock is taken before fork and released on both sides, so
 * the child never inherits a lock held by a thread that does not exist. */
static void atfork_prepare(void)
{
    /* Heaps' locks first: a heap's lock is held while it takes the
     * SuperSlab lock or the large tier's. */
    _hak_heap_lock_all();
    _hak_central_lock_all();
    _hak_arena_lock();
    _hak_large_lock();
    _hak_guard_lock();
}

static void atfork_parent(void)
{
    _hak_guard_unlock();
    _hak_large_unlock();
    _hak_arena_unlock();
    _hak_central_unlock_all();
    _hak_heap_unlock_all();
}

static void atfork_child(void)
{
    _hak_guard_reset_lock();
    _hak_large_reset_lock();
    _hak_arena_reset_lock();
    _hak_central_reset_locks();
    _hak_heap_reset_locks();
    pthread_mutex_init(&init_lock, NULL);
    _hak_tc_after_fork_child();
}

/* Sets up the process before main() even if no one allocates. */
__attribute__((constructor)) static void init_constructor(void) { _hak_runtime_init(); }
