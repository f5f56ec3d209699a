/* os.c: mmap and friends, with counters for the stats, and (debug builds)
 * fault injection: HAKMEM_FAULT_MAP_NTH / _MAP_EVERY make mapping calls fail
 * as the kernel would (ENOMEM), HAKMEM_FAULT_PURGE_EVERY makes madvise fail,
 * so tests can show that every failure ends as NULL + ENOMEM or as memory
 * kept, never as a crash or a damaged block. */
#define _GNU_SOURCE
#include "os.h"
#include "options.h"
#include "stats.h"

#include <errno.h>
#include <sys/mman.h>

#if HAK_DEBUG
static _Atomic uint64_t map_calls, purge_calls;

/* True if this mapping call is to fail. */
static bool fault_map(void)
{
    uint64_t n = atomic_fetch_add_explicit(&map_calls, 1, memory_order_relaxed) + 1;
    uint64_t nth = (uint64_t)_hak_option(HAK_OPT_FAULT_MAP_NTH);
    uint64_t every = (uint64_t)_hak_option(HAK_OPT_FAULT_MAP_EVERY);
    return (nth != 0 && n == nth) || (every != 0 && n % every == 0);
}

static bool fault_purge(void)
{
    uint64_t n = atomic_fetch_add_explicit(&purge_calls, 1, memory_order_relaxed) + 1;
    uint64_t every = (uint64_t)_hak_option(HAK_OPT_FAULT_PURGE_EVERY);
    return every != 0 && n % every == 0;
}
#else
static inline bool fault_map(void) { return false; }
static inline bool fault_purge(void) { return false; }
#endif

void *_hak_os_map(size_t size)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    _hak_stat_add(&_hak_g_stats.os_maps, 1);
    return p;
}

void *_hak_os_reserve(size_t size)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    _hak_stat_add(&_hak_g_stats.os_maps, 1);
    return p;
}

void *_hak_os_reserve_none(size_t size)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    _hak_stat_add(&_hak_g_stats.os_maps, 1);
    return p;
}

bool _hak_os_commit(void *p, size_t size)
{
    int saved = errno;
    if (fault_map()) return false;
    bool ok = mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
    errno = saved;
    return ok;
}

void _hak_os_unmap(void *p, size_t size)
{
    int saved = errno;
    if (munmap(p, size) == 0) _hak_stat_add(&_hak_g_stats.os_unmaps, 1);
    errno = saved;
}

bool _hak_os_purge(void *p, size_t size)
{
    int saved = errno;
    if (fault_purge()) return false;
    bool ok = madvise(p, size, MADV_DONTNEED) == 0;
    if (ok) _hak_stat_add(&_hak_g_stats.os_purges, 1);
    errno = saved;
    return ok;
}

void *_hak_os_remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return q == MAP_FAILED ? NULL : q;
}
