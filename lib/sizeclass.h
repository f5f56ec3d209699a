/* sizeclass.h: the size classes shared by the Tiny and Mid tiers.
 *
 * Class 0 is not a class: it marks a slab unit that holds no blocks. Its
 * thread list has capacity 0, so a free that finds class 0 falls straight
 * into the slow path, which reports the bad pointer (tcache.h).
 * Classes 1..20 are Tiny (16..1024 bytes, 4 per doubling above 128), 21..52
 * are Mid (1280 bytes..256 KiB, 4 per doubling). Every class size is a
 * multiple of 16 and every slab starts on a 64 KiB boundary, so every block
 * is 16-byte aligned, and a block of a class whose size is a multiple of a
 * power of two A <= 64 KiB is A-aligned (used by the aligned allocators).
 */
#ifndef HAK_SIZECLASS_H
#define HAK_SIZECLASS_H

#include "platform.h"

#define HAK_NCLASS 53
#define HAK_FIRST_MID 21
#define HAK_TINY_MAX 1024u
#define HAK_MID_MAX (256u * 1024u)

HAK_HIDDEN extern const uint8_t _hak_cls_small[65];
HAK_HIDDEN extern const uint32_t _hak_cls_size[HAK_NCLASS];
HAK_HIDDEN extern const uint8_t _hak_cls_units[HAK_NCLASS];

/* n <= HAK_TINY_MAX: one table load. */
HAK_INLINE unsigned hak_class_tiny(size_t n) { return _hak_cls_small[(n + 15) >> 4]; }

/* HAK_TINY_MAX < n <= HAK_MID_MAX: 4 classes per power of two. */
HAK_INLINE unsigned hak_class_mid(size_t n)
{
    size_t x = n - 1;
    unsigned l = (unsigned)(63 - __builtin_clzll((unsigned long long)x));
    return HAK_FIRST_MID + (l - 10) * 4 + (unsigned)((x >> (l - 2)) & 3);
}

HAK_INLINE unsigned hak_class_of(size_t n)
{
    return n <= HAK_TINY_MAX ? hak_class_tiny(n) : hak_class_mid(n);
}

HAK_INLINE bool hak_class_is_tiny(unsigned c) { return c < HAK_FIRST_MID; }

/* Smallest class >= n whose size is a multiple of align (a power of two);
 * 0 if none. The search behind the table below. */
HAK_HIDDEN unsigned _hak_class_aligned(size_t n, size_t align);
/* [c][k]: the smallest class >= c whose size is a multiple of 2^k (k <= 16);
 * 0 if none or not yet filled (_hak_sizeclass_init, at start-up). Rows of 32
 * for a shift instead of a multiply. */
HAK_HIDDEN extern uint8_t _hak_cls_align[HAK_NCLASS][32];
HAK_HIDDEN void _hak_sizeclass_init(void);

/* _hak_class_aligned in one table load, for the fast paths: 0 also before
 * start-up, so the slow path must use _hak_class_aligned. */
HAK_INLINE unsigned hak_class_aligned_fast(size_t n, size_t align)
{
    if (n > HAK_MID_MAX || align > 65536) return 0;
    if (n < align) n = align;
    return _hak_cls_align[hak_class_of(n)][(unsigned)__builtin_ctzll((unsigned long long)align)];
}

#endif
