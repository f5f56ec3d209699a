/* hakmem_capi.h: hakmem for C extensions that must not link to it.
 *
 * The Python package publishes the function table of the hakmem instance it
 * is bound to (the process allocator when hakmem is preloaded, else the
 * package's own libhakmem_api.so) as the capsule "hakmem._C_API". An
 * extension that includes this header and calls import_hakmem() once (in its
 * module init) then reaches that same instance through `hakmem_capi`, so a
 * block it allocates can be freed by the package and the other way round:
 *
 *     #include "hakmem_capi.h"          // -I$(python -c 'import hakmem; print(hakmem.get_include())')
 *     PyMODINIT_FUNC PyInit_ext(void) {
 *         if (import_hakmem() < 0) return NULL;
 *         ...
 *         void *p = hakmem_capi->malloc(64);
 *         hakmem_capi->free(p);
 *
 * Define HAKMEM_CAPI_NAMES before the include to keep writing hak_malloc(64)
 * and friends: they become calls through the table, so one source can be
 * built both ways (linked with -lhakmem_api, or through the capsule).
 *
 * The table only grows: fields are appended, `size` says how many the package
 * filled, and HAKMEM_CAPI_VERSION changes only if a field changes meaning.
 */
#ifndef HAKMEM_CAPI_H
#define HAKMEM_CAPI_H

#include <Python.h>

#include "hakmem.h"

#define HAKMEM_CAPSULE_NAME "hakmem._C_API"
#define HAKMEM_CAPI_VERSION 1

typedef struct hakmem_capi {
    size_t size;      /* sizeof the table as the package filled it */
    int capi_version; /* HAKMEM_CAPI_VERSION of the package */
    int abi_version;  /* hak_abi_version() of the bound library */
    const char *(*version)(void);
    void *(*malloc)(size_t size);
    void (*free)(void *ptr);
    void *(*calloc)(size_t n, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void *(*aligned_alloc)(size_t align, size_t size);
    size_t (*usable_size)(const void *ptr);
    void (*free_sized)(void *ptr, size_t size);
    void *(*alloc)(size_t size, size_t align);
    void *(*alloc_zeroed)(size_t size, size_t align);
    void (*dealloc)(void *ptr, size_t size, size_t align);
    void *(*realloc_layout)(void *ptr, size_t old_size, size_t align, size_t new_size);
    int (*owns)(const void *ptr);
    size_t (*collect)(void);
    int (*stats_get)(struct hak_stats *out, size_t size);
    void (*stats_print)(int fd);
    /* First-class heaps (appended). */
    hak_heap_t *(*heap_new)(void);
    void *(*heap_alloc)(hak_heap_t *h, size_t size, size_t align);
    void *(*heap_alloc_zeroed)(hak_heap_t *h, size_t size, size_t align);
    void *(*heap_realloc)(hak_heap_t *h, void *ptr, size_t old_size, size_t align,
                          size_t new_size);
    void (*heap_dealloc)(hak_heap_t *h, void *ptr, size_t size, size_t align);
    int (*heap_visit)(hak_heap_t *h, int (*fn)(void *block, size_t usable, void *arg), void *arg);
    void (*heap_collect)(hak_heap_t *h);
    int (*heap_stats)(hak_heap_t *h, hak_stats_t *out, size_t size);
    void (*heap_destroy)(hak_heap_t *h);
    /* Appended. */
    int (*free_if_owned)(void *ptr);
} hakmem_capi_t;

/* Each field has the type of the hak_* function it stands for, as hakmem.h
 * declares it: a change of the header that the table missed stops the build
 * of every extension that includes this file, rather than crashing one. */
#if defined(__GNUC__) && !defined(__cplusplus)
#define HAKMEM_CAPI_SAME_TYPE(field, fn)                                                  \
    _Static_assert(__builtin_types_compatible_p(__typeof__(((hakmem_capi_t *)0)->field), \
                                                __typeof__(&fn)),                        \
                   "hakmem_capi." #field " does not match " #fn " in hakmem.h")
HAKMEM_CAPI_SAME_TYPE(version, hak_version);
HAKMEM_CAPI_SAME_TYPE(malloc, hak_malloc);
HAKMEM_CAPI_SAME_TYPE(free, hak_free);
HAKMEM_CAPI_SAME_TYPE(calloc, hak_calloc);
HAKMEM_CAPI_SAME_TYPE(realloc, hak_realloc);
HAKMEM_CAPI_SAME_TYPE(aligned_alloc, hak_aligned_alloc);
HAKMEM_CAPI_SAME_TYPE(usable_size, hak_usable_size);
HAKMEM_CAPI_SAME_TYPE(free_sized, hak_free_sized);
HAKMEM_CAPI_SAME_TYPE(alloc, hak_alloc);
HAKMEM_CAPI_SAME_TYPE(alloc_zeroed, hak_alloc_zeroed);
HAKMEM_CAPI_SAME_TYPE(dealloc, hak_dealloc);
HAKMEM_CAPI_SAME_TYPE(realloc_layout, hak_realloc_layout);
HAKMEM_CAPI_SAME_TYPE(owns, hak_owns);
HAKMEM_CAPI_SAME_TYPE(collect, hak_collect);
HAKMEM_CAPI_SAME_TYPE(stats_get, hak_stats_get);
HAKMEM_CAPI_SAME_TYPE(stats_print, hak_stats_print);
HAKMEM_CAPI_SAME_TYPE(heap_new, hak_heap_new);
HAKMEM_CAPI_SAME_TYPE(heap_alloc, hak_heap_alloc);
HAKMEM_CAPI_SAME_TYPE(heap_alloc_zeroed, hak_heap_alloc_zeroed);
HAKMEM_CAPI_SAME_TYPE(heap_realloc, hak_heap_realloc);
HAKMEM_CAPI_SAME_TYPE(heap_dealloc, hak_heap_dealloc);
HAKMEM_CAPI_SAME_TYPE(heap_visit, hak_heap_visit);
HAKMEM_CAPI_SAME_TYPE(heap_collect, hak_heap_collect);
HAKMEM_CAPI_SAME_TYPE(heap_stats, hak_heap_stats);
HAKMEM_CAPI_SAME_TYPE(heap_destroy, hak_heap_destroy);
HAKMEM_CAPI_SAME_TYPE(free_if_owned, hak_free_if_owned);
#undef HAKMEM_CAPI_SAME_TYPE
#endif

/* Set by import_hakmem(); one copy per translation unit that includes this. */
static const hakmem_capi_t *hakmem_capi;

/* Imports the hakmem package and takes its table. 0, or -1 with an exception
 * set (ImportError when the package is missing or too old for this header). */
static inline int import_hakmem(void)
{
    const hakmem_capi_t *t = (const hakmem_capi_t *)PyCapsule_Import(HAKMEM_CAPSULE_NAME, 0);
    if (t == NULL) return -1;
    if (t->capi_version != HAKMEM_CAPI_VERSION || t->size < sizeof *t) {
        PyErr_Format(PyExc_ImportError,
                     "hakmem._C_API is version %d with %zu bytes; this extension was built "
                     "for version %d with %zu bytes: rebuild it against the installed hakmem",
                     t->capi_version, t->size, HAKMEM_CAPI_VERSION, sizeof *t);
        return -1;
    }
    if (t->abi_version != HAKMEM_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "the hakmem library in this process has ABI %d; this extension was built "
                     "against hakmem.h with ABI %d",
                     t->abi_version, HAKMEM_ABI_VERSION);
        return -1;
    }
    hakmem_capi = t;
    return 0;
}

#ifdef HAKMEM_CAPI_NAMES
#define hak_version() (hakmem_capi->version())
#define hak_abi_version() (hakmem_capi->abi_version)
#define hak_malloc(size) (hakmem_capi->malloc(size))
#define hak_free(ptr) (hakmem_capi->free(ptr))
#define hak_calloc(n, size) (hakmem_capi->calloc((n), (size)))
#define hak_realloc(ptr, size) (hakmem_capi->realloc((ptr), (size)))
#define hak_aligned_alloc(align, size) (hakmem_capi->aligned_alloc((align), (size)))
#define hak_usable_size(ptr) (hakmem_capi->usable_size(ptr))
#define hak_free_sized(ptr, size) (hakmem_capi->free_sized((ptr), (size)))
#define hak_alloc(size, align) (hakmem_capi->alloc((size), (align)))
#define hak_alloc_zeroed(size, align) (hakmem_capi->alloc_zeroed((size), (align)))
#define hak_dealloc(ptr, size, align) (hakmem_capi->dealloc((ptr), (size), (align)))
#define hak_realloc_layout(ptr, old_size, align, new_size) \
    (hakmem_capi->realloc_layout((ptr), (old_size), (align), (new_size)))
#define hak_owns(ptr) (hakmem_capi->owns(ptr))
#define hak_collect() (hakmem_capi->collect())
#define hak_stats_get(out, size) (hakmem_capi->stats_get((out), (size)))
#define hak_stats_print(fd) (hakmem_capi->stats_print(fd))
#define hak_heap_new() (hakmem_capi->heap_new())
#define hak_heap_alloc(h, size, align) (hakmem_capi->heap_alloc((h), (size), (align)))
#define hak_heap_alloc_zeroed(h, size, align) (hakmem_capi->heap_alloc_zeroed((h), (size), (align)))
#define hak_heap_realloc(h, ptr, old_size, align, new_size) \
    (hakmem_capi->heap_realloc((h), (ptr), (old_size), (align), (new_size)))
#define hak_heap_dealloc(h, ptr, size, align) (hakmem_capi->heap_dealloc((h), (ptr), (size), (align)))
#define hak_heap_visit(h, fn, arg) (hakmem_capi->heap_visit((h), (fn), (arg)))
#define hak_heap_collect(h) (hakmem_capi->heap_collect(h))
#define hak_heap_stats(h, out, size) (hakmem_capi->heap_stats((h), (out), (size)))
#define hak_heap_destroy(h) (hakmem_capi->heap_destroy(h))
#define hak_free_if_owned(ptr) (hakmem_capi->free_if_owned(ptr))
#endif

#endif /* HAKMEM_CAPI_H */
