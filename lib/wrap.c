/* wrap.c: the standard allocator names, only in libhakmem (the library for
 * LD_PRELOAD and -lhakmem), never in libhakmem_api.
 *
 * malloc and free carry their fast paths inlined: no wrapper call, no
 * recursion guard, no initialisation check (tcache.h says why none is
 * needed). glibc's __libc_* names are aliases, so code that calls them
 * directly never reaches glibc's allocator with a hakmem pointer.
 */
#define _GNU_SOURCE
#include "../include/hakmem.h"
#include "alloc.h"
#include "os.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

#define HAK_PUBLIC __attribute__((visibility("default")))
#if defined(__has_attribute) && __has_attribute(copy)
#define HAK_ALIAS(name) __attribute__((alias(#name), copy(name), visibility("default")))
#else
#define HAK_ALIAS(name) __attribute__((alias(#name), visibility("default")))
#endif

/* The slow path sets errno when it fails, so this is a pop or a tail call. */
HAK_PUBLIC void *malloc(size_t n) { return hak_tc_malloc(n); }

HAK_PUBLIC void free(void *p) { hak_tc_free(p); }

HAK_PUBLIC void *calloc(size_t n, size_t size) { return _hak_calloc(n, size); }

HAK_PUBLIC void *realloc(void *p, size_t n) { return hak_realloc(p, n); }

HAK_PUBLIC void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

/* errno must come out unchanged: saved and restored only off the fast path. */
static HAK_NOINLINE int posix_memalign_slow(void **out, size_t align, size_t size)
{
    int saved = errno;
    void *p = _hak_alloc_aligned(size, align, false);
    errno = saved;
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

HAK_PUBLIC int posix_memalign(void **out, size_t align, size_t size)
{
    if (HAK_UNLIKELY(!hak_is_pow2(align) || align % sizeof(void *) != 0)) return EINVAL;
    void *p = hak_aligned_fast(size, align);
    if (HAK_UNLIKELY(p == NULL)) return posix_memalign_slow(out, align, size);
    *out = p;
    return 0;
}

HAK_PUBLIC void *aligned_alloc(size_t align, size_t size) { return hak_aligned_alloc(align, size); }

/* glibc's memalign rounds a non-power-of-two alignment up; so does this. */
HAK_PUBLIC void *memalign(size_t align, size_t size)
{
    if (align > ((size_t)1 << (sizeof(size_t) * 8 - 2))) {
        errno = EINVAL;
        return NULL;
    }
    if (!hak_is_pow2(align)) {
        size_t a = 16;
        while (a < align) a <<= 1;
        align = a;
    }
    return hak_aligned_alloc(align, size);
}

HAK_PUBLIC void *valloc(size_t size) { return _hak_alloc_aligned(size, _hak_os_page_size(), false); }

HAK_PUBLIC void *pvalloc(size_t size)
{
    size_t page = _hak_os_page_size();
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded == 0) rounded = page;
    return _hak_alloc_aligned(rounded, page, false);
}

HAK_PUBLIC size_t malloc_usable_size(void *p)
{
    if (p == NULL) return 0;
#if HAK_DEBUG
    /* The program may now use every usable byte: no canary past its request. */
    _hak_debug_unrequest(p, "malloc_usable_size");
#endif
    return _hak_usable(p, "malloc_usable_size");
}

HAK_PUBLIC void free_sized(void *p, size_t size) { hak_free_sized(p, size); }

HAK_PUBLIC void free_aligned_sized(void *p, size_t align, size_t size) { hak_dealloc(p, size, align); }

HAK_PUBLIC void cfree(void *p) { hak_tc_free(p); }

HAK_PUBLIC struct mallinfo2 mallinfo2(void)
{
    struct hak_stats s;
    hak_stats_get(&s, sizeof s);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = s.bytes_committed - s.large_bytes;
    mi.ordblks = s.spans;
    mi.hblks = s.large_blocks;
    mi.hblkhd = s.large_bytes;
    mi.usmblks = s.bytes_committed_peak;
    mi.uordblks = s.bytes_in_use;
    mi.fordblks = s.bytes_committed > s.bytes_in_use ? s.bytes_committed - s.bytes_in_use : 0;
    mi.keepcost = s.bytes_cached;
    return mi;
}

/* The old int-sized variant: same figures, clamped. */
HAK_PUBLIC struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
#define CLAMP(x) ((int)((x) > (size_t)0x7fffffff ? 0x7fffffff : (x)))
    mi.arena = CLAMP(m2.arena);
    mi.ordblks = CLAMP(m2.ordblks);
    mi.smblks = 0;
    mi.hblks = CLAMP(m2.hblks);
    mi.hblkhd = CLAMP(m2.hblkhd);
    mi.usmblks = CLAMP(m2.usmblks);
    mi.fsmblks = 0;
    mi.uordblks = CLAMP(m2.uordblks);
    mi.fordblks = CLAMP(m2.fordblks);
    mi.keepcost = CLAMP(m2.keepcost);
#undef CLAMP
    return mi;
}

HAK_PUBLIC int malloc_trim(size_t pad)
{
    (void)pad;
    return hak_collect() > 0;
}

HAK_PUBLIC void malloc_stats(void) { hak_stats_print(2); }

/* hakmem has no tunables behind mallopt; accept and ignore, as glibc does
 * for parameters it does not know. */
HAK_PUBLIC int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}

void *__libc_malloc(size_t n) HAK_ALIAS(malloc);
void __libc_free(void *p) HAK_ALIAS(free);
void *__libc_calloc(size_t n, size_t size) HAK_ALIAS(calloc);
void *__libc_realloc(void *p, size_t n) HAK_ALIAS(realloc);
void *__libc_memalign(size_t align, size_t size) HAK_ALIAS(memalign);
void *__libc_valloc(size_t size) HAK_ALIAS(valloc);
void *__libc_pvalloc(size_t size) HAK_ALIAS(pvalloc);
