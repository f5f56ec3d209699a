/* buggy_alloc.c: a deliberately broken allocator for the benchmark harness's
 * tests. glibc's allocator underneath (__libc_*), with two bugs:
 *   - aligned_alloc, posix_memalign and memalign ignore any alignment above
 *     16 (what mimalloc 2.0.9 did for some sizes): bench_aligned counts the
 *     blocks as misaligned= and the harness must report a warning;
 *   - with -DBUGGY_REALLOC_ABORTS, realloc aborts: the realloc workloads
 *     crash and the harness must list failed runs and go on.
 * Build: cc -shared -fPIC -O1 -o libbuggy.so buggy_alloc.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

void *malloc(size_t n) { return __libc_malloc(n); }
void free(void *p) { __libc_free(p); }
void *calloc(size_t n, size_t size) { return __libc_calloc(n, size); }

void *realloc(void *p, size_t n)
{
#ifdef BUGGY_REALLOC_ABORTS
    (void)p, (void)n;
    abort();
#else
    return __libc_realloc(p, n);
#endif
}

void *aligned_alloc(size_t align, size_t n)
{
    (void)align;
    return __libc_malloc(n);
}

void *memalign(size_t align, size_t n)
{
    (void)align;
    return __libc_malloc(n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    (void)align;
    void *p = __libc_malloc(n);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
