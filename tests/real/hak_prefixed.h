/* hak_prefixed.h: the standard allocation names as hakmem's prefixed API.
 *
 * `gcc -include tests/real/hak_prefixed.h test.c` builds a test written
 * against malloc/free so that it calls hak_malloc/hak_free instead. The
 * ThreadSanitizer build of test_threads needs this: ThreadSanitizer brings its
 * own malloc, so hakmem cannot be the process allocator there, but its hak_*
 * entry points can be compiled with -fsanitize=thread and called directly.
 *
 * The system headers that declare these names are included first, so that
 * only calls in the test itself are renamed. A test built this way must not
 * free what a library allocated with the real malloc (strdup, asprintf,
 * open_memstream ...).
 */
#ifndef HAK_PREFIXED_H
#define HAK_PREFIXED_H

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <hakmem.h>

#define malloc(n) hak_malloc(n)
#define calloc(n, size) hak_calloc(n, size)
#define realloc(p, n) hak_realloc(p, n)
#define free(p) hak_free(p)
#define aligned_alloc(align, n) hak_aligned_alloc(align, n)
#define malloc_usable_size(p) hak_usable_size(p)
#define malloc_trim(pad) ((void)(pad), (int)(hak_collect() > 0))

#endif
