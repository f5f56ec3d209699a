/* block.h: the layout of a free block, known only here.
 *
 *   bytes 0..7    link to the next free block (thread list or span free list)
 *   bytes 8..11   HAK_FREE_MARK while the block is free, 0 once handed out
 *
 * Every block is at least 16 bytes, so both fit. The mark is what makes a
 * double free visible wherever the block sits (a thread's list or its
 * span's free list): free() finds the mark already set and confirms by
 * looking the block up (tcache.c), since a program may by chance have left
 * the same bytes there. malloc clears it on the way out.
 */
#ifndef HAK_BLOCK_H
#define HAK_BLOCK_H

#include "platform.h"

/* Odd, not a small integer, not a pointer, not a common hash constant. */
#define HAK_FREE_MARK 0xd1f5e3a7u

typedef uint32_t __attribute__((may_alias)) hak_u32_alias_t;
typedef void *__attribute__((may_alias)) hak_ptr_alias_t;

HAK_INLINE void *hak_block_next(const void *b) { return *(const hak_ptr_alias_t *)b; }
HAK_INLINE void hak_block_set_next(void *b, void *next) { *(hak_ptr_alias_t *)b = next; }
HAK_INLINE bool hak_block_marked(const void *b)
{
    return ((const hak_u32_alias_t *)b)[2] == HAK_FREE_MARK;
}
HAK_INLINE void hak_block_mark(void *b) { ((hak_u32_alias_t *)b)[2] = HAK_FREE_MARK; }
HAK_INLINE void hak_block_unmark(void *b) { ((hak_u32_alias_t *)b)[2] = 0; }

#endif
