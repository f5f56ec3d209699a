/* init.h: process start-up, thread set-up and exit, fork (init.c). */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include "platform.h"

/* Sets the process up once, in the order the layers need (options, the
 * platform's fault settings, size classes, thread caches, central pool,
 * large tier, arena, thread key); later calls return at once. Safe inside
 * the process's first malloc: it allocates nothing. */
HAK_HIDDEN void _hak_runtime_init(void);
/* The calling thread's first slow path: sets the process up if needed,
 * then the thread's cache. A thread that cannot be given a cache (no
 * thread key) stays uncached and works, slowly. */
HAK_HIDDEN void _hak_thread_init(void);

#endif
