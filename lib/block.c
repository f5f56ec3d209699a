/* block.c: the per-process key of the free-block layout (block.h). */
#include "block.h"
#include "os.h"

#define START_KEY 0x8000000000000001ull
uint64_t _hak_key = START_KEY;
const uint64_t _hak_link_bad = HAK_LINK_BAD;

void _hak_block_key_init(void)
{
    uint64_t k;
    /* Without the kernel's random source, AT_RANDOM stirred with ASLR'd
     * addresses and the clock (os.c): weaker, still unknown to a writer. */
    _hak_os_random(&k, sizeof k);
    k |= (uint64_t)1 << 63 | 1;
    /* A link encoded with the key's value before start-up (public) must
     * still decode as bad: the two keys differ in a checked bit. */
    if (((k ^ START_KEY) & HAK_LINK_BAD) == 0) k ^= (uint64_t)1 << 62;
    _hak_key = k;
}

void _hak_block_corrupt(const char *what, const void *b)
{
    _hak_fatal_ptr(what, "free list corrupted (write after free, overflow or double free) at", b);
}
