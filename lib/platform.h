/* platform.h: compiler annotations, assertions and fatal errors.
 *
 * The bottom layer: includes nothing of hakmem's. Every other file may use it.
 * HAK_DEBUG (configure --enable-debug) turns on HAK_ASSERT and every internal
 * consistency check; a release build keeps only the cheap checks that the free
 * path makes anyway (see tcache.h).
 */
#ifndef HAK_PLATFORM_H
#define HAK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif

#define HAK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_INLINE static inline __attribute__((always_inline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_COLD __attribute__((cold, noinline))
#define HAK_HIDDEN __attribute__((visibility("hidden")))
#define HAK_NORETURN __attribute__((noreturn))
#define HAK_CACHE_LINE 64
#define HAK_ALIGNED(n) __attribute__((aligned(n)))

/* Writes a message to stderr without allocating. */
HAK_HIDDEN void _hak_write_str(int fd, const char *s);
HAK_HIDDEN void _hak_write_u64(int fd, uint64_t v);
HAK_HIDDEN void _hak_write_hex(int fd, uint64_t v);

/* "hakmem: <what>(): <problem> 0x<ptr>" on stderr, then abort(). */
HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_fatal_ptr(const char *what, const char *problem,
                                                     const void *ptr);
HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_fatal(const char *msg);

#if HAK_DEBUG
#define HAK_ASSERT(c)                                                                  \
    do {                                                                               \
        if (HAK_UNLIKELY(!(c))) _hak_fatal("internal check failed: " #c " (" __FILE__ ")"); \
    } while (0)
#else
#define HAK_ASSERT(c) ((void)0)
#endif

HAK_INLINE bool hak_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
HAK_INLINE uintptr_t hak_align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
HAK_INLINE uintptr_t hak_rotr(uintptr_t x, unsigned r)
{
    return (x >> r) | (x << ((sizeof(uintptr_t) * 8 - r) & (sizeof(uintptr_t) * 8 - 1)));
}

#endif
