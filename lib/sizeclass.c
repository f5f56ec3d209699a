/* sizeclass.c: the class tables, all derived from HAK_CLASS_SIZE
 * (sizeclass.h) at compile time, and the checks that they agree. */
#include "sizeclass.h"

/* Repetition: M(b), M(b+1), ... */
#define REP4(M, b) M(b) M((b) + 1) M((b) + 2) M((b) + 3)
#define REP16(M, b) REP4(M, b) REP4(M, (b) + 4) REP4(M, (b) + 8) REP4(M, (b) + 12)
#define REP64(M, b) REP16(M, b) REP16(M, (b) + 16) REP16(M, (b) + 32) REP16(M, (b) + 48)
#define REP256(M, b) REP64(M, b) REP64(M, (b) + 64) REP64(M, (b) + 128) REP64(M, (b) + 192)
#define REP1024(M, b) REP256(M, b) REP256(M, (b) + 256) REP256(M, (b) + 512) REP256(M, (b) + 768)
/* Classes 0..52 */
#define EACH_CLASS(M) REP16(M, 0) REP16(M, 16) REP16(M, 32) REP4(M, 48) M(52)

/* A slab holds at least 8 blocks where 8 fit in 16 units; bigger classes
 * take the fewest units that hold as many blocks as 16 units would, so
 * that the slab divides evenly where it can (15 units of 160 KiB blocks
 * hold 6, as 16 would, and waste nothing). */
#define SLAB_MAX_UNITS 16u
#define SLAB_BLOCKS(s) ((SLAB_MAX_UNITS * HAK_UNIT_SIZE / (s)) < 8u ? (SLAB_MAX_UNITS * HAK_UNIT_SIZE / (s)) : 8u)
#define SLAB_UNITS(s) ((SLAB_BLOCKS(s) * (s) + HAK_UNIT_SIZE - 1) / HAK_UNIT_SIZE)

#define SIZE_ENTRY(c) HAK_CLASS_SIZE(c),
#define UNITS_ENTRY(c) (uint8_t)((c) == 0 ? 0 : SLAB_UNITS(HAK_CLASS_SIZE(c) + ((c) == 0))),
#define MAGIC_ENTRY(c) (UINT64_MAX / ((c) == 0 ? 1u : HAK_CLASS_SIZE(c)) + 1),
#define BYTE_ENTRY(n) (uint8_t)HAK_CLASS_OF(n),
/* sizeclass.h, the free test: {m, limit}. */
#define FREE_M_(c) (uint32_t)(UINT32_MAX / HAK_CLASS_SIZE(c) + 1u)
#define FREE_E_(c) (uint32_t)((uint64_t)FREE_M_(c) * HAK_CLASS_SIZE(c) - ((uint64_t)1 << 32))
#define FREE_LIMIT_(c) (FREE_E_(c) != 0 ? (uint32_t)(HAK_UNIT_SIZE / HAK_CLASS_SIZE(c)) * FREE_E_(c) : FREE_M_(c))
#define FREE_TEST_ENTRY(c) {(c) == 0 || SLAB_UNITS(HAK_CLASS_SIZE(c) + ((c) == 0)) != 1 ? 0u : FREE_M_((c) + ((c) == 0)), \
                            (c) == 0 || SLAB_UNITS(HAK_CLASS_SIZE(c) + ((c) == 0)) != 1 ? 0u : FREE_LIMIT_((c) + ((c) == 0))},

#define AT_HEAP_ID(M, c) [HAK_HEAP_CLS + (c)] = M(c)
#define HEAP_SIZE_ENTRY(c) AT_HEAP_ID(SIZE_ENTRY, c)
#define HEAP_UNITS_ENTRY(c) AT_HEAP_ID(UNITS_ENTRY, c)
#define HEAP_MAGIC_ENTRY(c) AT_HEAP_ID(MAGIC_ENTRY, c)
#define HEAP_FREE_TEST_ENTRY(c) AT_HEAP_ID(FREE_TEST_ENTRY, c)

const uint32_t _hak_cls_size[HAK_CLASS_IDS] = {EACH_CLASS(SIZE_ENTRY) EACH_CLASS(HEAP_SIZE_ENTRY)};
const uint8_t _hak_cls_units[HAK_CLASS_IDS] = {EACH_CLASS(UNITS_ENTRY) EACH_CLASS(HEAP_UNITS_ENTRY)};
const uint64_t _hak_cls_div_magic[HAK_CLASS_IDS] = {EACH_CLASS(MAGIC_ENTRY) EACH_CLASS(HEAP_MAGIC_ENTRY)};
const uint32_t _hak_cls_free_test[HAK_CLASS_IDS][2] = {EACH_CLASS(FREE_TEST_ENTRY)
                                                       EACH_CLASS(HEAP_FREE_TEST_ENTRY)};
const uint8_t _hak_cls_byte[HAK_TINY_MAX + 1] = {REP1024(BYTE_ENTRY, 0) BYTE_ENTRY(1024)};

/* ---- checks: the build fails if the derived tables disagree ------------------ */

#define CHECK_CLASS(c)                                                                 \
    _Static_assert(HAK_CLASS_SIZE(c) % 16 == 0, "class sizes are 16-byte multiples");          \
    _Static_assert(HAK_CLASS_OF(HAK_CLASS_SIZE(c)) == (c), "a class's size maps to it");        \
    _Static_assert(SLAB_UNITS(HAK_CLASS_SIZE(c)) >= 1 && SLAB_UNITS(HAK_CLASS_SIZE(c)) <= SLAB_MAX_UNITS, \
                   "a slab fits a SuperSlab");                                                  \
    _Static_assert(SLAB_UNITS(HAK_CLASS_SIZE(c)) * HAK_UNIT_SIZE / HAK_CLASS_SIZE(c) >= 4,      \
                   "a slab holds at least 4 blocks");                                        \
    _Static_assert(SLAB_UNITS(HAK_CLASS_SIZE(c)) != 1 || HAK_CLASS_SIZE(c) <= 8192,             \
                   "one-unit classes below 2^13: the free test's 32-bit magic is exact");
/* Classes 2..52 against the one below. */
#define CHECK_STEP(c)                                                                  \
    _Static_assert(HAK_CLASS_SIZE(c) > HAK_CLASS_SIZE((c) - 1), "class sizes grow");            \
    _Static_assert(HAK_CLASS_OF(HAK_CLASS_SIZE((c) - 1) + 1) == (c),                           \
                   "the byte after the previous class maps to this one");
REP16(CHECK_CLASS, 1) REP16(CHECK_CLASS, 17) REP16(CHECK_CLASS, 33) REP4(CHECK_CLASS, 49)
REP16(CHECK_STEP, 2) REP16(CHECK_STEP, 18) REP16(CHECK_STEP, 34) REP4(CHECK_STEP, 49)

_Static_assert(HAK_CLASS_SIZE(HAK_FIRST_MID - 1) == HAK_TINY_MAX, "Tiny ends at HAK_TINY_MAX");
_Static_assert(HAK_CLASS_SIZE(HAK_NCLASS - 1) == HAK_MID_MAX, "Mid ends at HAK_MID_MAX");
_Static_assert(HAK_CLASS_OF(HAK_TINY_MAX + 1) == HAK_FIRST_MID, "Mid starts after Tiny");
_Static_assert(SLAB_MAX_UNITS * HAK_UNIT_SIZE <= ((uint64_t)1 << 32), "block offsets fit the division-free test");

uint8_t _hak_cls_align[HAK_NCLASS][32];

void _hak_sizeclass_init(void)
{
#if HAK_DEBUG
    /* The free fast path's test against a division, at every offset of a
     * unit, for every id (a few ms, debug builds only). */
    for (unsigned id = 0; id < HAK_CLASS_IDS; id++) {
        uint32_t m = _hak_cls_free_test[id][0], limit = _hak_cls_free_test[id][1];
        uint32_t size = _hak_cls_size[id];
        HAK_ASSERT(m == 0 ? limit == 0 : (_hak_cls_units[id] == 1 && size != 0));
        if (m == 0) continue;
        for (uint32_t off = 0; off < HAK_UNIT_SIZE; off++)
            HAK_ASSERT(hak_unit_block_start(m, limit, off) ==
                       (off % size == 0 && off / size < HAK_UNIT_SIZE / size));
    }
#endif
    for (unsigned c = 1; c < HAK_NCLASS; c++)
        for (unsigned k = 0; k < 17; k++)
            _hak_cls_align[c][k] = (uint8_t)_hak_class_aligned(_hak_cls_size[c], (size_t)1 << k);
}

unsigned _hak_class_aligned(size_t n, size_t align)
{
    if (n > HAK_MID_MAX || align > 65536) return 0;
    if (n < align) n = align;
    for (unsigned c = hak_class_of(n); c < HAK_NCLASS; c++) {
        if ((_hak_cls_size[c] & (align - 1)) == 0) return c;
    }
    return 0;
}
