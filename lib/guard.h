/* guard.h: guarded sampling (HAKMEM_GUARD_SAMPLE=N): about one allocation
 * in N is placed against an inaccessible page, and made inaccessible when
 * freed, so that an overflow past it or a use after free faults at once and
 * is reported with the allocation's size and threads (guard.c). */
#ifndef HAK_GUARD_H
#define HAK_GUARD_H

#include "platform.h"

/* Blocks up to this size are sampled. */
#define HAK_GUARD_MAX 16384u

/* Reserves the pool and installs the fault report (once, at start-up, only
 * when sampling is on). false if the pool could not be reserved. */
HAK_HIDDEN bool _hak_guard_init(void);
/* A guarded block of n bytes (16-aligned, ending as close to its guard page
 * as the alignment allows), or NULL when no slot is free. */
HAK_HIDDEN void *_hak_guard_alloc(size_t n);
/* True if p lies in the guarded pool (then the calls below apply). */
HAK_HIDDEN bool _hak_guard_owns(const void *p);
/* Frees a guarded block; aborts naming `what` on a double free, a pointer
 * that is not the block's start, or bytes past the request overwritten. */
HAK_HIDDEN void _hak_guard_free(void *p, const char *what);
/* The requested size of a live guarded block; aborts like _hak_guard_free. */
HAK_HIDDEN size_t _hak_guard_usable(const void *p, const char *what);
HAK_HIDDEN void _hak_guard_lock(void);
HAK_HIDDEN void _hak_guard_unlock(void);
HAK_HIDDEN void _hak_guard_reset_lock(void);

#endif
