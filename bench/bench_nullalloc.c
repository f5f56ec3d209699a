/* bench_nullalloc: a trivial allocator that measures the benchmark, not itself.
 *
 * callgrind.sh preloads it to learn how many instructions a benchmark loop
 * spends outside the allocator (RNG, slot table, touches, PLT jumps), so that
 * figure can be subtracted from every contender. Its own instructions are
 * counted separately (callgrind_annotate, functions of this file) and removed
 * too, so how fast this allocator is does not matter; only that it is correct
 * enough to run a whole process: segregated LIFO lists by 16-byte class, a
 * bump pointer into big mappings, one mapping per large block.
 *
 * Built by callgrind.sh as a throwaway shared object:
 *   cc -O2 -shared -fPIC -std=c11 -D_GNU_SOURCE -fno-builtin bench_nullalloc.c \
 *      -o libbench_null.so
 * (-fno-builtin: without it gcc turns calloc's malloc + memset into a call
 * of calloc, itself, and the process crashes.)
 * Never installed and never used for timing.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define EXPORT __attribute__((visibility("default")))

#define ALIGN 16
#define HDR 16                      /* usable size is stored just below the block */
#define SMALL_MAX (64 * 1024)       /* larger blocks get a mapping of their own */
#define NCLASS (SMALL_MAX / ALIGN + 1)
#define CHUNK (64u << 20)           /* bump region grows by this much */

struct blk {
    struct blk *next;
};

static struct blk *list[NCLASS];
static char *bump, *bump_end;
/* The benchmarks it serves are single-threaded, but libc may still call in
 * from elsewhere; a spinlock keeps that correct, and its cost is subtracted
 * with the rest of this file. */
static atomic_flag lock = ATOMIC_FLAG_INIT;

static inline void lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        ;
}

static inline void lock_drop(void)
{
    atomic_flag_clear_explicit(&lock, memory_order_release);
}

static inline size_t *hdr_of(void *p)
{
    return (size_t *)((char *)p - HDR);
}

/* A block of usable size `size` whose start is aligned to `align` (>= 16). */
static void *null_alloc(size_t size, size_t align)
{
    if (size > SIZE_MAX - 2 * (size_t)SMALL_MAX || align > SMALL_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (size == 0)
        size = ALIGN;
    if (size > SMALL_MAX) {
        size_t len = size + align + HDR;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            errno = ENOMEM;
            return NULL;
        }
        char *p = (char *)(((uintptr_t)m + HDR + align - 1) & ~(uintptr_t)(align - 1));
        /* Large blocks record the mapping length in place of the size, with
         * the low bit set, and the mapping's start just below that. */
        hdr_of(p)[0] = len | 1;
        hdr_of(p)[1] = (size_t)m;
        return p;
    }
    lock_take();
    struct blk *b = align == ALIGN ? list[size / ALIGN] : NULL;
    if (b != NULL) {
        list[size / ALIGN] = b->next;
        lock_drop();
        return b;
    }
    char *p = (char *)(((uintptr_t)bump + HDR + align - 1) & ~(uintptr_t)(align - 1));
    if (bump == NULL || p + size > bump_end) {
        char *m = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            lock_drop();
            errno = ENOMEM;
            return NULL;
        }
        bump = m, bump_end = m + CHUNK;
        p = (char *)(((uintptr_t)bump + HDR + align - 1) & ~(uintptr_t)(align - 1));
    }
    bump = p + size;
    lock_drop();
    hdr_of(p)[0] = size;
    return p;
}

EXPORT void *malloc(size_t size)
{
    return null_alloc(size, ALIGN);
}

EXPORT void free(void *p)
{
    if (p == NULL)
        return;
    size_t size = hdr_of(p)[0];
    if (size & 1) {
        munmap((void *)hdr_of(p)[1], size & ~(size_t)1);
        return;
    }
    struct blk *b = p;
    lock_take();
    b->next = list[size / ALIGN];
    list[size / ALIGN] = b;
    lock_drop();
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    size_t size = hdr_of(p)[0];
    if (size & 1) /* large: from p to the end of its mapping */
        return (size & ~(size_t)1) - (size_t)((char *)p - (char *)hdr_of(p)[1]);
    return size;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size); /* recycled blocks are dirty */
    return p;
}

EXPORT void *realloc(void *p, size_t size)
{
    if (p == NULL)
        return malloc(size);
    if (size == 0) {
        free(p);
        return NULL;
    }
    size_t old = malloc_usable_size(p);
    if (size <= old)
        return p;
    void *q = malloc(size);
    if (q != NULL) {
        memcpy(q, p, old);
        free(p);
    }
    return q;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return null_alloc(size, align < ALIGN ? ALIGN : align);
}

EXPORT void *memalign(size_t align, size_t size)
{
    return aligned_alloc(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = aligned_alloc(align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t size)
{
    return aligned_alloc(4096, size);
}

EXPORT void *pvalloc(size_t size)
{
    if (size > SIZE_MAX - 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
}
