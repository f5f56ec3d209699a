/* os.h: the only door to the kernel's memory calls (mmap, munmap, madvise,
 * mremap). Everything above asks here, so that counting, fault injection and
 * a port to another OS touch one file. */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "platform.h"

#define HAK_PAGE_SIZE 4096u

/* Fresh zeroed read-write anonymous memory, or NULL. */
HAK_HIDDEN void *_hak_os_map(size_t size);
/* Address space only: read-write, MAP_NORESERVE, untouched pages cost nothing. */
HAK_HIDDEN void *_hak_os_reserve(size_t size);
/* Address space only, inaccessible until committed: costs no memory, and
 * under strict overcommit accounting no commit charge either. */
HAK_HIDDEN void *_hak_os_reserve_none(size_t size);
/* Makes reserved pages read-write (a mapping call: may fail, ENOMEM). */
HAK_HIDDEN bool _hak_os_commit(void *p, size_t size);
HAK_HIDDEN void _hak_os_unmap(void *p, size_t size);
/* Drops the pages' contents and their memory; they read as zero afterwards. */
HAK_HIDDEN bool _hak_os_purge(void *p, size_t size);
/* Grows or shrinks a mapping, maybe moving it; NULL on failure (old one intact). */
HAK_HIDDEN void *_hak_os_remap(void *p, size_t old_size, size_t new_size);

#endif
