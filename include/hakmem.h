/* hakmem.h: the public, stable C ABI of the hakmem allocator.
 *
 * Three libraries are built from the same sources:
 *   libhakmem.so      the process allocator: link with -lhakmem or load with
 *                     LD_PRELOAD. Exports the hak_* API below and the standard
 *                     malloc family (malloc, free, calloc, realloc, ...).
 *   libhakmem_api.so  safe to dlopen into a running process (Python, plugins):
 *                     exports only hak_*; takes 16 bytes of glibc's static
 *                     TLS surplus (one pointer, reached in one load).
 *   libhakmem_api_dyn.so  the same, none of the surplus (the pointer reached
 *                     through a TLS descriptor, a little slower): loads
 *                     however full the surplus is.
 *
 * ABI rules: functions only take scalars, pointers and structs that carry their
 * own size (struct hak_stats). New fields are appended, never reordered, and
 * HAKMEM_ABI_VERSION changes only when an existing entry point changes meaning.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0
#define HAKMEM_VERSION_STRING "0.1.0"
/* Bumped on any incompatible change of an exported entry point. */
#define HAKMEM_ABI_VERSION 1

#if defined(__GNUC__)
#define HAK_EXPORT __attribute__((visibility("default")))
#define HAK_MALLOC_ATTR __attribute__((malloc))
#define HAK_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define HAK_EXPORT
#define HAK_MALLOC_ATTR
#define HAK_WARN_UNUSED
#endif

/* ---- Library identity -------------------------------------------------- */

/** Version of the loaded library, "MAJOR.MINOR.PATCH". Never NULL. */
HAK_EXPORT const char *hak_version(void);
/** HAKMEM_ABI_VERSION of the loaded library. */
HAK_EXPORT int hak_abi_version(void);

/* ---- The malloc family, prefixed (always exported) --------------------- */

/** Like malloc(3): NULL with errno=ENOMEM on failure; malloc(0) is unique. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_malloc(size_t size);
/** Like free(3): hak_free(NULL) does nothing; never changes errno.
 *  Aborts with "hakmem: free(): invalid pointer" for a pointer hakmem did
 *  not hand out, where that can be seen cheaply. */
HAK_EXPORT void hak_free(void *ptr);
/** Like calloc(3); n*size overflow gives NULL with errno=ENOMEM. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_calloc(size_t n, size_t size);
/** Like glibc's realloc(3): realloc(p, 0) frees p and returns NULL. */
HAK_EXPORT HAK_WARN_UNUSED void *hak_realloc(void *ptr, size_t size);
/** Like aligned_alloc(3): align must be a power of two, else NULL/EINVAL. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_aligned_alloc(size_t align, size_t size);
/** Bytes usable in a block hakmem handed out (>= the request); 0 for NULL. */
HAK_EXPORT size_t hak_usable_size(const void *ptr);
/** free() with the size that was requested (or any size up to the usable size). */
HAK_EXPORT void hak_free_sized(void *ptr, size_t size);

/* ---- Layout API (in the manner of Rust's GlobalAlloc) ------------------ */

/** A block of at least size bytes aligned to align (a power of two). */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_alloc(size_t size, size_t align);
/** As hak_alloc, zero-filled. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_alloc_zeroed(size_t size, size_t align);
/** Frees a block from hak_alloc with the same size and align. */
HAK_EXPORT void hak_dealloc(void *ptr, size_t size, size_t align);
/** Resizes a block from hak_alloc; the result keeps align. On failure returns
 *  NULL and leaves ptr untouched. new_size 0 is treated as 1. */
HAK_EXPORT HAK_WARN_UNUSED void *hak_realloc_layout(void *ptr, size_t old_size,
                                                    size_t align, size_t new_size);

/* ---- Ownership and maintenance ------------------------------------------ */

/** Tells hakmem's memory from anyone else's: 1 if ptr lies in a slab of the
 *  Tiny or Mid tier (any address in it, whether the block there is live or
 *  free) or is the start of a live large block; else 0. O(1) and safe for
 *  any pointer value, garbage and NULL included. A pointer that some other
 *  allocator handed out always answers 0. */
HAK_EXPORT int hak_owns(const void *ptr);
/** hak_free(ptr) if hak_owns(ptr), in one call: returns 1 once ptr is
 *  freed, 0 (touching nothing) where hak_owns answers 0, NULL included. For
 *  code that holds blocks of hakmem and of another allocator side by side
 *  and frees each to its own (hakmem.pymem): faster than the two calls. A
 *  pointer into hakmem's memory that is not a live block's start aborts as
 *  hak_free does. */
HAK_EXPORT int hak_free_if_owned(void *ptr);
/** Returns cached memory to the OS now: the calling thread's cache, empty
 *  slabs, empty SuperSlabs and the large tier's free resident memory. Returns bytes
 *  released. */
HAK_EXPORT size_t hak_collect(void);

/* ---- Statistics --------------------------------------------------------- */

#define HAK_STATS_VERSION 2

/** Snapshot of allocator state. Caller sets nothing; hak_stats_get fills
 *  size and version. Counts of calls per route are only kept when the process
 *  started with HAKMEM_STATS=1 or HAKMEM_FREE_ROUTE_TRACE=1 (stats_enabled). */
struct hak_stats {
    size_t size;              /* sizeof the struct as the library filled it */
    uint32_t version;         /* HAK_STATS_VERSION */
    uint32_t stats_enabled;   /* per-call counters were kept */
    /* memory */
    uint64_t bytes_in_use;    /* bytes in blocks handed out and not freed */
    uint64_t bytes_cached;    /* bytes on every thread's free lists: the caller's
                                 exactly, other threads' as of their last refill
                                 or flush (their fast paths count nothing) */
    uint64_t bytes_committed; /* slab spans + SuperSlab headers + large mappings */
    uint64_t bytes_committed_peak;
    uint64_t bytes_mapped;    /* mappings that hold memory (large blocks mapped one
                                 by one, tables); reserved space is bytes_reserved */
    uint64_t superslabs;      /* SuperSlabs in use */
    uint64_t spans;           /* slabs (spans) carved */
    uint64_t large_blocks;    /* live large blocks */
    uint64_t large_bytes;
    /* calls, counted when stats_enabled */
    /* mallocs are derived (frees + blocks in use), so blocks cached by other
     * live threads make them run ahead by at most those caches. */
    uint64_t tiny_mallocs, tiny_frees;
    uint64_t mid_mallocs, mid_frees;
    uint64_t large_mallocs, large_frees;
    /* free routes, counted when stats_enabled */
    uint64_t route_tiny_fast;   /* pushed onto the thread list, tiny class */
    uint64_t route_mid_fast;    /* pushed onto the thread list, mid class */
    uint64_t route_slab_lookup; /* slab block that missed the fast path (should stay 0) */
    uint64_t route_remote;      /* of the fast ones: block last handed out to another thread */
    uint64_t route_large;       /* large block */
    uint64_t route_null;        /* free(NULL) */
    /* slow-path events, always counted */
    uint64_t refills, flushes;
    uint64_t os_maps, os_unmaps, os_purges;
    /* version 2 */
    uint64_t bytes_reserved;  /* address space reserved for later use (the arena,
                                 the large region): no memory until committed */
};

typedef struct hak_stats hak_stats_t;

/** Fills up to size bytes of *out; returns 0, or -1 with errno=EINVAL when
 *  out is NULL or size is smaller than the first two fields. */
HAK_EXPORT int hak_stats_get(struct hak_stats *out, size_t size);
/** Prints the statistics report (as HAKMEM_STATS=1 does at exit) to fd. */
HAK_EXPORT void hak_stats_print(int fd);

/* ---- First-class heaps -------------------------------------------------- */

/** A heap: blocks allocated into it from any thread, all freed at once by
 *  hak_heap_destroy. A handle, not a pointer to dereference. Every call that
 *  takes one aborts ("hakmem: <call>(): use of a destroyed heap 0x...")
 *  when given a destroyed heap's handle, or one that never was a heap's. */
typedef struct hak_heap hak_heap_t;

/** A new empty heap; NULL with errno=ENOMEM on failure (up to 65535 heaps
 *  exist at once). */
HAK_EXPORT HAK_WARN_UNUSED hak_heap_t *hak_heap_new(void);
/** As hak_alloc, from heap h. The block is an ordinary hakmem block
 *  otherwise: hak_free (and free() in libhakmem), hak_usable_size,
 *  hak_owns and realloc work on it from any thread; realloc keeps it in h. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_heap_alloc(hak_heap_t *h, size_t size,
                                                                size_t align);
/** As hak_alloc_zeroed, from heap h. */
HAK_EXPORT HAK_MALLOC_ATTR HAK_WARN_UNUSED void *hak_heap_alloc_zeroed(hak_heap_t *h, size_t size,
                                                                       size_t align);
/** As hak_realloc_layout for a block of h (NULL ptr: hak_heap_alloc); the
 *  new block is in h. Aborts if ptr is a block of another heap. */
HAK_EXPORT HAK_WARN_UNUSED void *hak_heap_realloc(hak_heap_t *h, void *ptr, size_t old_size,
                                                  size_t align, size_t new_size);
/** Frees a block of h (as hak_dealloc); aborts if ptr is a block of another
 *  heap (the default heap included). */
HAK_EXPORT void hak_heap_dealloc(hak_heap_t *h, void *ptr, size_t size, size_t align);
/** Calls fn(block, usable size, arg) on each live block of h once (blocks
 *  on other threads' caches are free, not live). A non-zero return stops
 *  the walk and is returned; 0 after a full walk. fn must not allocate in h
 *  or free its blocks: the heap is locked during the walk, and a call that
 *  needs its lock aborts. */
HAK_EXPORT int hak_heap_visit(hak_heap_t *h, int (*fn)(void *block, size_t usable, void *arg),
                              void *arg);
/** Returns h's free memory: the calling thread's cache of h and h's empty
 *  spans. */
HAK_EXPORT void hak_heap_collect(hak_heap_t *h);
/** hak_stats_get for heap h: its bytes in use, cached, committed (and
 *  peak), spans and large blocks; the per-call counts are 0. */
HAK_EXPORT int hak_heap_stats(hak_heap_t *h, hak_stats_t *out, size_t size);
/** Frees every block of h at once and h itself: its memory goes back to
 *  the OS. Its blocks and its handle must not be used afterwards. */
HAK_EXPORT void hak_heap_destroy(hak_heap_t *h);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
