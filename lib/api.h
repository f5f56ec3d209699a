/* api.h: helpers of the public entry points, shared by hakmem.c (hak_*) and
 * wrap.c (the standard names). */
#ifndef HAK_API_H
#define HAK_API_H

#include "platform.h"

/* Usable size; aborts naming `what` for a pointer hakmem did not hand out. */
HAK_HIDDEN size_t _hak_usable(const void *p, const char *what);
/* NULL with errno=ENOMEM on failure. */
HAK_HIDDEN void *_hak_alloc_aligned(size_t size, size_t align, bool zero);
HAK_HIDDEN void *_hak_calloc(size_t n, size_t size);
/* p non-NULL, n > 0; NULL (p intact) on failure. */
HAK_HIDDEN void *_hak_realloc(void *p, size_t n, size_t align);
HAK_HIDDEN void _hak_atfork_prepare(void);
HAK_HIDDEN void _hak_atfork_parent(void);
HAK_HIDDEN void _hak_atfork_child(void);

#endif
