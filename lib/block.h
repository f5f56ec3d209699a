/* block.h: the layout of a free block, known only here.
 *
 *   bytes 0..3    the free mark while the block is free: the key's low 32
 *                 bits; 0 once handed out. malloc checks it on the block it
 *                 takes (a write after free, or a double free whose mark a
 *                 write wiped in between, stops there). First, because the
 *                 first bytes are what bugs write most: a use after free
 *                 of an object's first field (a reference count, a next
 *                 pointer), and the byte an off-by-one write puts past the
 *                 block before (a string's terminator)
 *   bytes 4..11   the link to the next free block on a list (a
 *                 first-class heap's lists, a central inbox), encoded:
 *                 next ^ key ^ the block's own address. A default-heap
 *                 block on a thread's stack (tcache.h) or in its span's
 *                 bits (central.c) is an address there or a bit, and these
 *                 bytes are stale: nothing reads them. Unaligned (copied
 *                 with memcpy, one move on the machines we build for), so
 *                 that bytes 12..15 stay free for the debug build's free
 *                 tail of a 16-byte block (its last 4 bytes)
 *
 * The key (_hak_key) is drawn from the kernel's random source at start
 * (init.c), so a writer who has read this file still cannot forge either.
 * A decoded link is checked before it is followed: every link hakmem
 * writes decodes to a 16-byte aligned user-space address, so bits 0..3 and
 * 48..63 are zero (HAK_LINK_BAD). A raw pointer written over a link decodes
 * with the key's bit 63 and bit 0 set, which are always set; a byte
 * written over a link's low end moves it off the 16-byte grid 15 times in
 * 16; a link read at another address than its own (a corrupted link that
 * points into another free block) decodes off by the distance, because the
 * address is part of the code. An overflow from the block before lands on
 * the mark, which every block taken from a list or a stack must carry.
 * The mark lets free() see a double free at once: a block freed twice
 * carries it already, and is then looked up to confirm (a live block whose
 * bytes 0..3 happen to equal the key's low half is pushed as usual).
 * Every block is at least 16 bytes, so both fit.
 */
#ifndef HAK_BLOCK_H
#define HAK_BLOCK_H

#include "platform.h"

#include <string.h>

/* Bits 63 and 0 set (so the low 32 bits, the mark, are never 0). The value
 * before start-up is fixed but no block exists then: the end block (zeros)
 * under every empty stack never carries the mark, and an empty heap list's
 * end decodes to a bad link, under any such key, so the first malloc falls
 * into the slow path. */
HAK_HIDDEN extern uint64_t _hak_key;
/* Draws the key (once, at start-up, before any block exists). */
HAK_HIDDEN void _hak_block_key_init(void);

typedef uint32_t __attribute__((may_alias)) hak_u32_alias_t;

/* Where the mark and the link lie in a free block (bytes; the fast paths'
 * assembly in alloc.h uses HAK_MARK_OFF too). */
#define HAK_MARK_OFF 0
#define HAK_LINK_OFF 4

/* The decoded link of free block b (check it with hak_link_bad). */
HAK_INLINE uintptr_t hak_block_link(const void *b)
{
    uint64_t w;
    memcpy(&w, (const char *)b + HAK_LINK_OFF, sizeof w);
    return (uintptr_t)(w ^ _hak_key ^ (uintptr_t)b);
}
/* Bits no link hakmem wrote has (user space is below 2^48 on x86-64 with
 * 4-level page tables and on aarch64). */
#define HAK_LINK_BAD 0xFFFF00000000000Full
HAK_INLINE bool hak_link_bad(uintptr_t link) { return (link & HAK_LINK_BAD) != 0; }
/* HAK_LINK_BAD in memory, for a fast path's test with a memory operand. */
HAK_HIDDEN extern const uint64_t _hak_link_bad;
/* The _k forms take the key read once by the caller: a store through a
 * block may alias _hak_key for the compiler, which would read it again. */
HAK_INLINE void hak_block_set_next_k(void *b, const void *next, uint64_t key)
{
    uint64_t w = (uint64_t)(uintptr_t)next ^ key ^ (uintptr_t)b;
    memcpy((char *)b + HAK_LINK_OFF, &w, sizeof w);
}
HAK_INLINE bool hak_block_marked_k(const void *b, uint64_t key)
{
    return *(const hak_u32_alias_t *)((const char *)b + HAK_MARK_OFF) == (uint32_t)key;
}
HAK_INLINE void hak_block_mark_k(void *b, uint64_t key)
{
    *(hak_u32_alias_t *)((char *)b + HAK_MARK_OFF) = (uint32_t)key;
}
HAK_INLINE void hak_block_set_next(void *b, const void *next) { hak_block_set_next_k(b, next, _hak_key); }
HAK_INLINE bool hak_block_marked(const void *b) { return hak_block_marked_k(b, _hak_key); }
HAK_INLINE void hak_block_mark(void *b) { hak_block_mark_k(b, _hak_key); }
HAK_INLINE void hak_block_unmark(void *b) { *(hak_u32_alias_t *)((char *)b + HAK_MARK_OFF) = 0; }

/* The slow paths' reading of a link: aborts naming `what` if it was not
 * written by hakmem. */
HAK_HIDDEN HAK_NORETURN HAK_COLD void _hak_block_corrupt(const char *what, const void *b);
HAK_INLINE void *hak_block_next(const void *b, const char *what)
{
    uintptr_t next = hak_block_link(b);
    if (HAK_UNLIKELY(hak_link_bad(next))) _hak_block_corrupt(what, b);
    return (void *)next;
}

#if HAK_DEBUG
/* The debug build's tail canaries (checked by superslab.c and large.c).
 * A live block handed out for n bytes of its usable size keeps the padding
 * [n, usable) filled with bytes keyed by _hak_key and its address, never 0
 * (bit 7 set), and its last byte also says how long the padding is (1..7,
 * or "long": the length in the 4 bytes before it). A freed block of the
 * default heap carries a shorter keyed tail in its last 4 bytes instead.
 * So a write of any byte past the request, or before the next block (into
 * this one's end), changes a byte that can be checked. */
HAK_HIDDEN void _hak_debug_tail_set(void *p, size_t usable, size_t n);
HAK_HIDDEN void _hak_debug_free_tail_set(void *p, size_t usable);
/* 1: a live block's padding intact; 2: a free block's tail intact; 0: neither. */
HAK_HIDDEN int _hak_debug_tail_state(const void *p, size_t usable);
/* A live block's intact padding back to zeros (its canary dropped). */
HAK_HIDDEN void _hak_debug_tail_zero(void *p, size_t usable);
#endif

#endif
