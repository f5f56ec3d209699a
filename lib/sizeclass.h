/* sizeclass.h: the size classes shared by the Tiny and Mid tiers.
 *
 * One definition, HAK_CLASS_SIZE(c) below; everything else is derived from
 * it at compile time in sizeclass.c (the class of a size, the Tiny lookup
 * table, each class's slab length in units, the division-free constants)
 * and checked there by _Static_asserts, so a change that makes them
 * disagree does not build.
 *
 * Class 0 is not a class: it marks a slab unit that holds no blocks. Its
 * thread list has capacity 0, so a free that finds class 0 falls straight
 * into the slow path, which reports the bad pointer (alloc.h).
 * Classes 1..4 are 16..64 bytes in steps of 16; from there on, 4 classes per
 * doubling: 1..20 are Tiny (up to 1 KiB), 21..52 Mid (1280 bytes..256 KiB).
 * Every class size is a multiple of 16 and every slab starts on a 64 KiB
 * boundary, so every block is 16-byte aligned, and a block of a class whose
 * size is a multiple of a power of two A <= 64 KiB is A-aligned (used by the
 * aligned allocators).
 */
#ifndef HAK_SIZECLASS_H
#define HAK_SIZECLASS_H

#include "platform.h"

#define HAK_NCLASS 53
#define HAK_FIRST_MID 21
/* The ids a unit of the arena may carry (superslab.h): the classes above
 * for the default heap, and HAK_HEAP_CLS + c for a span of class c that
 * belongs to a first-class heap (heap.h). The thread cache's lists for the
 * heap ids have no room, like class 0's, so free() of a heap block leaves
 * its fast path for the slow path that gives it to its heap, and the fast
 * paths pay nothing for heaps. Bit 6 tells a heap id. */
#define HAK_HEAP_CLS 64
#define HAK_CLASS_IDS (HAK_HEAP_CLS + HAK_NCLASS)
_Static_assert(HAK_NCLASS <= HAK_HEAP_CLS && HAK_CLASS_IDS <= 256, "heap ids fit the unit byte");
#define HAK_TINY_MAX 1024u
#define HAK_MID_MAX (256u * 1024u)

/* Slabs are runs of 64 KiB units (superslab.h); each class's slab length in
 * units is derived here with its size. */
#define HAK_UNIT_SHIFT 16
#define HAK_UNIT_SIZE ((uintptr_t)1 << HAK_UNIT_SHIFT)

/* The definition: class c >= 5 is the (i+1)-th quarter step above 64 << g,
 * with g = (c - 5) / 4 and i = (c - 5) % 4. */
#define HAK_CLASS_G_(c) ((c) < 5 ? 0 : ((c) - 5) / 4)
#define HAK_CLASS_I_(c) ((c) < 5 ? 0 : ((c) - 5) % 4)
#define HAK_CLASS_SIZE(c)                                                              \
    ((c) <= 4 ? 16u * (unsigned)(c)                                                    \
              : (64u << HAK_CLASS_G_(c)) + (unsigned)(HAK_CLASS_I_(c) + 1) * (16u << HAK_CLASS_G_(c)))

/* Its inverse, for n > 64: x = n - 1 lies in [64 << g, 128 << g) with
 * g = log2(x) - 6, and its two bits below the top pick the quarter. A
 * constant expression for constant n (gcc and clang fold the builtin). */
#define HAK_LOG2(x) (63 - __builtin_clzll((unsigned long long)(x)))
#define HAK_CLASS_OF_ABOVE_64(n)                                                       \
    (5u + (unsigned)(HAK_LOG2((n) - 1) - 6) * 4u +                                     \
     (unsigned)((((n) - 1) >> (HAK_LOG2((n) - 1) - 2)) & 3))
#define HAK_CLASS_OF(n) ((n) <= 64 ? ((n) <= 16 ? 1u : (unsigned)(((n) + 15) / 16)) : HAK_CLASS_OF_ABOVE_64(n))

/* Indexed by n itself for n <= HAK_TINY_MAX (HAK_CLASS_OF(n), n 0 as 1):
 * the malloc fast path's class in one load, with no rounding step. */
HAK_HIDDEN extern const uint8_t _hak_cls_byte[HAK_TINY_MAX + 1];
/* Indexed by a unit's id: a heap id gives its class's figures (0 between
 * the two ranges), so the code that reads a block's size needs no test. */
HAK_HIDDEN extern const uint32_t _hak_cls_size[HAK_CLASS_IDS];
HAK_HIDDEN extern const uint8_t _hak_cls_units[HAK_CLASS_IDS];
/* For the exact block-start test without a division: off % size == 0 iff
 * off * m <= m - 1 (mod 2^64), m = floor((2^64-1)/size) + 1, for off < 2^32. */
HAK_HIDDEN extern const uint64_t _hak_cls_div_magic[HAK_CLASS_IDS];
/* The free fast path's block-start test, within a 64 KiB unit: off (< 2^16,
 * from the unit's start) starts a block of a one-unit span of class id c iff
 * (uint32_t)(off * m) < limit, with [c] = {m, limit}. m = ceil(2^32 / size)
 * makes the product below m exactly for the multiples of size (for every
 * off < 2^16, since one-unit sizes are below 2^13: Lemire, Kaser and Kurz,
 * "Faster remainder by direct computation"), and for the multiple k * size
 * it is k * e, e = m * size - 2^32: growing with k when size is not a power
 * of two, so limit = cap * e (cap: the blocks a unit holds) also refuses the
 * multiple past the last block, in the unit's tail. A power of two divides
 * the unit (no tail): limit = m. {0, 0} for class 0 and for classes whose
 * spans are longer than a unit, where a unit's offset is not the block's:
 * their frees take the slow path's exact test. Every class size is a
 * multiple of 16, so a pass also means 16-aligned. */
HAK_HIDDEN extern const uint32_t _hak_cls_free_test[HAK_CLASS_IDS][2];
HAK_INLINE bool hak_unit_block_start(uint32_t magic, uint32_t limit, uintptr_t p)
{
    return (uint32_t)((uint32_t)(uint16_t)p * magic) < limit;
}

/* n <= HAK_TINY_MAX: one table load. */
HAK_INLINE unsigned hak_class_tiny(size_t n) { return _hak_cls_byte[n]; }

/* HAK_TINY_MAX < n <= HAK_MID_MAX. */
HAK_INLINE unsigned hak_class_mid(size_t n) { return HAK_CLASS_OF_ABOVE_64(n); }

HAK_INLINE unsigned hak_class_of(size_t n)
{
    return n <= HAK_TINY_MAX ? hak_class_tiny(n) : hak_class_mid(n);
}

HAK_INLINE bool hak_class_is_tiny(unsigned c) { return c < HAK_FIRST_MID; }
HAK_INLINE bool hak_class_is_heap(unsigned id) { return id >= HAK_HEAP_CLS; }

/* off (from its span's start) is a multiple of class c's size; off < 2^32. */
HAK_INLINE bool hak_class_divides(unsigned c, uint64_t off)
{
    return off * _hak_cls_div_magic[c] <= _hak_cls_div_magic[c] - 1;
}

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
