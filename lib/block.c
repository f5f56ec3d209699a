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

#if HAK_DEBUG
#include <string.h>

/* A keyed hash of the block's address: its canary bytes. */
static uint64_t tail_hash(const void *p)
{
    uint64_t x = _hak_key ^ (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* The canary's 8 bytes, repeated along the block (byte j of the block is
 * byte j % 8 of this word, little-endian), so that fills and checks go a
 * word at a time. Bit 7 of every byte set: never 0 (a string's terminator
 * one byte too far is the most common overflow) and never ASCII text. */
static uint64_t canary_word(uint64_t h) { return h | 0x8080808080808080ull; }
static uint8_t canary_byte(uint64_t w, size_t j) { return (uint8_t)(w >> ((j & 7) * 8)); }

/* The last byte's canary XOR one of these (bit 7 of the result stays set). */
#define TAIL_LONG 0x40u /* padding of 8 or more: its length in the 4 bytes before */
#define TAIL_FREE 0x20u /* a free block's tail */
#define FREE_TAIL_LEN 4u

static void canary_fill(uint8_t *b, size_t from, size_t to, uint64_t w)
{
    size_t j = from;
    for (; j < to && (j & 7); j++) b[j] = canary_byte(w, j);
    for (; j + 8 <= to; j += 8) memcpy(b + j, &w, 8); /* j % 8 == 0: w as is */
    for (; j < to; j++) b[j] = canary_byte(w, j);
}

static bool canary_ok(const uint8_t *b, size_t from, size_t to, uint64_t w)
{
    size_t j = from;
    for (; j < to && (j & 7); j++)
        if (b[j] != canary_byte(w, j)) return false;
    for (; j + 8 <= to; j += 8) {
        uint64_t v;
        memcpy(&v, b + j, 8);
        if (v != w) return false;
    }
    for (; j < to; j++)
        if (b[j] != canary_byte(w, j)) return false;
    return true;
}

void _hak_debug_tail_set(void *p, size_t usable, size_t n)
{
    uint8_t *b = p;
    uint64_t h = tail_hash(p), w = canary_word(h);
    size_t pad = usable - n, end = usable - 1;
    unsigned tag = (unsigned)pad;
    if (pad >= 8) {
        uint32_t v = (uint32_t)pad ^ (uint32_t)(h >> 32);
        end = usable - 5;
        for (unsigned i = 0; i < 4; i++) b[end + i] = (uint8_t)(v >> (8 * i));
        tag = TAIL_LONG;
    }
    canary_fill(b, n, end, w);
    b[usable - 1] = (uint8_t)(canary_byte(w, usable - 1) ^ tag);
}

void _hak_debug_free_tail_set(void *p, size_t usable)
{
    uint8_t *b = p;
    uint64_t w = canary_word(tail_hash(p));
    canary_fill(b, usable - FREE_TAIL_LEN, usable - 1, w);
    b[usable - 1] = (uint8_t)(canary_byte(w, usable - 1) ^ TAIL_FREE);
}

/* 1: a live block's padding intact (*from: where it starts); 2: a free
 * block's tail intact; 0: neither. */
static int tail_state(const void *p, size_t usable, size_t *from)
{
    /* A neighbour's check (superslab.c) rereads bytes that another thread
     * may be writing: every call reads memory afresh. */
    __asm__ __volatile__("" ::: "memory");
    const uint8_t *b = p;
    uint64_t h = tail_hash(p), w = canary_word(h);
    unsigned tag = (unsigned)(b[usable - 1] ^ canary_byte(w, usable - 1));
    size_t pad, end = usable - 1;
    if (tag == TAIL_FREE) return canary_ok(b, usable - FREE_TAIL_LEN, usable - 1, w) ? 2 : 0;
    if (tag >= 1 && tag < 8) {
        pad = tag;
    } else if (tag == TAIL_LONG && usable >= 8) {
        uint32_t v = 0;
        for (unsigned i = 0; i < 4; i++) v |= (uint32_t)b[usable - 5 + i] << (8 * i);
        pad = (size_t)(v ^ (uint32_t)(h >> 32));
        end = usable - 5;
        if (pad < 8 || pad > usable) return 0;
    } else {
        return 0;
    }
    if (!canary_ok(b, usable - pad, end, w)) return 0;
    *from = usable - pad;
    return 1;
}

int _hak_debug_tail_state(const void *p, size_t usable)
{
    size_t from;
    return tail_state(p, usable, &from);
}

void _hak_debug_tail_zero(void *p, size_t usable)
{
    size_t from;
    if (tail_state(p, usable, &from) == 1) memset((char *)p + from, 0, usable - from);
}
#endif
