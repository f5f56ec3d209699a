/* vg.h: telling valgrind's memcheck about hakmem's blocks.
 *
 * Only in builds with HAK_CONFIG_VALGRIND (configure --enable-valgrind, and
 * the test library libhakmem_vg); elsewhere every macro is empty. memcheck
 * then sees each block handed out as a heap block (so it reports leaks, reads
 * of uninitialised bytes, overruns past the request and use after free in
 * the program) instead of as part of one big mapping. HAK_VG_ALLOC, which
 * needs a block's usable size, is in alloc.h. The first 16 bytes of
 * a free block stay accessible: they hold hakmem's link and free mark
 * (block.h), which the allocator itself reads.
 */
#ifndef HAK_VG_H
#define HAK_VG_H

#include "platform.h"

#if defined(HAK_CONFIG_VALGRIND) && HAK_CONFIG_VALGRIND
#include <valgrind/memcheck.h>
#define HAK_VG_ACTIVE 1
/* p comes back from the program. */
#define HAK_VG_FREE(p)                                                                 \
    do {                                                                               \
        if ((p) != NULL) {                                                             \
            VALGRIND_FREELIKE_BLOCK((p), 0);                                           \
            VALGRIND_MAKE_MEM_DEFINED((p), 16);                                        \
        }                                                                              \
    } while (0)
/* Memory about to be used inside the allocator before it is handed out. */
#define HAK_VG_REUSE(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
/* Memory no one may touch until hakmem hands it out (free slab space). */
#define HAK_VG_NOACCESS(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
/* hakmem's own metadata in the arena. */
#define HAK_VG_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define HAK_VG_RUNNING() (RUNNING_ON_VALGRIND != 0)
#else
#define HAK_VG_ACTIVE 0
#define HAK_VG_FREE(p) ((void)0)
#define HAK_VG_REUSE(p, n) ((void)0)
#define HAK_VG_NOACCESS(p, n) ((void)0)
#define HAK_VG_DEFINED(p, n) ((void)0)
#define HAK_VG_RUNNING() 0
#endif

#endif
