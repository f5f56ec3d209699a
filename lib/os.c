/* os.c: mmap and friends, with counters for the stats. */
#define _GNU_SOURCE
#include "os.h"
#include "stats.h"

#include <errno.h>
#include <sys/mman.h>

void *_hak_os_map(size_t size)
{
    int saved = errno;
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
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    _hak_stat_add(&_hak_g_stats.os_maps, 1);
    return p;
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
    bool ok = madvise(p, size, MADV_DONTNEED) == 0;
    if (ok) _hak_stat_add(&_hak_g_stats.os_purges, 1);
    errno = saved;
    return ok;
}

void *_hak_os_remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return q == MAP_FAILED ? NULL : q;
}
