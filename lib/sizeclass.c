/* sizeclass.c: the class tables (see sizeclass.h for the layout). */
#include "sizeclass.h"

const uint32_t _hak_cls_size[HAK_NCLASS] = {
    0, 16, 32, 48, 64, 80, 96, 112,
    128, 160, 192, 224, 256, 320, 384, 448,
    512, 640, 768, 896, 1024, 1280, 1536, 1792,
    2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168,
    8192, 10240, 12288, 14336, 16384, 20480, 24576, 28672,
    32768, 40960, 49152, 57344, 65536, 81920, 98304, 114688,
    131072, 163840, 196608, 229376, 262144,
};

/* Indexed by (n + 15) / 16 for n <= 1024. */
const uint8_t _hak_cls_small[65] = {
    1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 11, 11, 12,
    12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16,
    16, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18,
    18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20,
    20,
};

/* 64 KiB units per slab: at least 8 blocks where that fits in 16 units, and
 * chosen so that the slab divides evenly where possible. */
const uint8_t _hak_cls_units[HAK_NCLASS] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 2, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12, 14,
    16, 15, 15, 14, 16,
};

uint8_t _hak_cls_align[HAK_NCLASS][32];

void _hak_sizeclass_init(void)
{
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
