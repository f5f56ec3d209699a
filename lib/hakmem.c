/* hakmem.c: the public hak_* entry points (include/hakmem.h).
 *
 * Each entry point is its fast path inlined (alloc.h) or a thin layer over
 * the tiers: argument checks with POSIX errors, overflow checks before any
 * rounding, and the glibc behaviours programs rely on (realloc(p, 0) frees
 * and returns NULL, malloc(0) is a unique pointer, everything 16-aligned).
 */
#define _GNU_SOURCE
#include "../include/hakmem.h"
#include "alloc.h"
#include "central.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"

#include <errno.h>
#include <string.h>

/* ---- the prefixed malloc family ---------------------------------------- */

const char *hak_version(void) { return HAKMEM_VERSION_STRING; }
int hak_abi_version(void) { return HAKMEM_ABI_VERSION; }

void *hak_malloc(size_t size) { return hak_tc_malloc(size); }

void hak_free(void *ptr) { hak_tc_free_as(ptr, "hak_free"); }

void *hak_calloc(size_t n, size_t size) { return _hak_calloc(n, size); }

/* Copies n bytes rounded up to 16 from one Tiny block to another (both
 * 16-aligned, both at least that long), 16 bytes a move. Left to
 * itself gcc copies a size it knows to be at most 1 KiB with rep movsq, whose
 * start-up costs tens of cycles on Intel for the tens to hundreds of bytes
 * CPython's strings and lists move by (callgrind counts the rep as one
 * instruction, so only a profile shows it: 22% of hak_realloc's samples in
 * bench_cpython.py threads). */
HAK_INLINE void copy_block16(void *dst, const void *src, size_t n)
{
    typedef char v16 __attribute__((vector_size(16), aligned(16), may_alias));
    v16 *d = dst;
    const v16 *s = src;
    for (size_t i = 0; i < (n + 15) / 16; i++) d[i] = s[i];
}

/* The common cases of a growing string or vector, inline: an arena block
 * whose class still fits (size > 0) stays; a Tiny-sized one whose class does
 * not moves through the malloc and free fast paths. Both make the checks
 * _hak_realloc makes (a block carrying the free mark goes there, to be told
 * apart from a freed one). Every block is 16-aligned, so this serves any
 * alignment up to 16. NULL: not handled here. */
HAK_INLINE void *realloc_fast(void *ptr, size_t size, bool *handled)
{
    *handled = false;
    /* The debug build's realloc checks and renews the padding's canary. */
    if (HAK_VG_ACTIVE || HAK_DEBUG || !hak_window_hit(ptr, _hak_window_base, _hak_window_size16))
        return NULL;
    unsigned cls = hak_class_at(ptr);
    size_t usable = _hak_cls_size[cls]; /* class 0: 0 */
    /* The start of a block (a one-unit span starts on the unit; longer
     * spans take the slow path's exact test), not a freed one. */
    if (_hak_cls_units[cls] != 1 || !hak_class_divides(cls, (uintptr_t)ptr & (HAK_UNIT_SIZE - 1)) ||
        hak_block_marked(ptr))
        return NULL;
    if (size <= usable && (size >= usable / 2 || usable <= 16)) {
        *handled = true;
        return ptr;
    }
    /* A first-class heap's block stays in its heap (_hak_realloc). */
    if (size > HAK_TINY_MAX || hak_class_is_heap(cls)) return NULL;
    /* CPython's lists and strings grow and shrink by a few bytes at a time
     * (44 k reallocs in one 0.1 s dict workload): this path costs a malloc,
     * a copy and a free instead of _hak_realloc's usable-size lookup and
     * aligned allocation. Growing takes at least a quarter more, as
     * _hak_realloc does, so that small steps move less often. */
    size_t want = size > usable && size - usable < usable / 4 ? usable + usable / 4 : size;
    void *q = hak_tc_malloc(want);
    *handled = true;
    if (HAK_UNLIKELY(q == NULL)) { /* ptr is kept */
        errno = ENOMEM;
        return NULL;
    }
    copy_block16(q, ptr, size < usable ? size : usable);
    hak_tc_push(hak_tc_self(), cls, ptr, "realloc");
    return q;
}

void *hak_realloc(void *ptr, size_t size)
{
    if (ptr == NULL) return hak_malloc(size);
    if (size == 0) {
        hak_tc_free(ptr);
        return NULL;
    }
    bool handled;
    void *q = realloc_fast(ptr, size, &handled);
    if (handled) return q;
    q = _hak_realloc(ptr, size, 16);
    if (q == NULL) errno = ENOMEM;
    return q;
}

/* 1 <= align <= 16, a power of two: every block has it, so it is a malloc. */
HAK_INLINE bool align_is_small(size_t align) { return align - 1 < 16 && (align & (align - 1)) == 0; }

/* aligned_alloc and hak_alloc, inlined into each (their arguments come in
 * opposite orders). */
HAK_INLINE void *aligned_alloc_inline(size_t size, size_t align)
{
    if (HAK_LIKELY(align_is_small(align))) return hak_tc_malloc(size);
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    void *p = hak_aligned_fast(size, align);
    return HAK_LIKELY(p != NULL) ? p : _hak_alloc_aligned(size, align, false);
}

void *hak_aligned_alloc(size_t align, size_t size) { return aligned_alloc_inline(size, align); }

/* 0 for NULL and for a pointer that is no block's start (so a program may
 * ask); a freed block aborts, as malloc_usable_size does. */
size_t hak_usable_size(const void *ptr)
{
    if (ptr == NULL) return 0;
#if HAK_DEBUG
    /* The program may now use every usable byte: no canary past its request. */
    _hak_debug_unrequest((void *)(uintptr_t)ptr, "hak_usable_size");
#endif
    if (hak_in_arena(ptr)) {
        if (!_hak_span_block_start(ptr)) return 0;
        if (HAK_UNLIKELY(hak_block_is_free_any(ptr)))
            _hak_fatal_ptr("hak_usable_size", "block already freed", ptr);
        return _hak_cls_size[hak_class_at(ptr)];
    }
    if (_hak_guard_owns(ptr)) return _hak_guard_usable(ptr, "hak_usable_size");
    return _hak_large_usable(ptr, "hak_usable_size");
}

void hak_free_sized(void *ptr, size_t size)
{
#if HAK_DEBUG
    /* A freed block here is a double free, as free() would say. */
    if (ptr != NULL && hak_in_arena(ptr) && _hak_span_block_start(ptr) && hak_block_is_free_any(ptr))
        _hak_fatal_ptr("free_sized", "double free", ptr);
    if (ptr != NULL && size > _hak_usable(ptr, "free_sized"))
        _hak_fatal_ptr("free_sized", "size larger than the block", ptr);
#else
    (void)size;
#endif
    hak_tc_free(ptr);
}

/* ---- layout API ---------------------------------------------------------- */

void *hak_alloc(size_t size, size_t align) { return aligned_alloc_inline(size, align); }

void *hak_alloc_zeroed(size_t size, size_t align)
{
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    if (align <= 16) return _hak_calloc(1, size);
    return _hak_alloc_aligned(size, align, true);
}

void hak_dealloc(void *ptr, size_t size, size_t align)
{
#if HAK_DEBUG
    if (ptr != NULL && ((uintptr_t)ptr & (align - 1)) != 0)
        _hak_fatal_ptr("hak_dealloc", "pointer not aligned as its layout says", ptr);
#else
    (void)align;
#endif
    hak_free_sized(ptr, size);
}

void *hak_realloc_layout(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    if (new_size == 0) new_size = 1;
    if (ptr == NULL) return _hak_alloc_aligned(new_size, align, false);
    (void)old_size;
    void *q;
    if (align <= 16) {
        bool handled;
        q = realloc_fast(ptr, new_size, &handled);
        if (handled) return q;
    }
    q = _hak_realloc(ptr, new_size, align);
    if (q == NULL) errno = ENOMEM;
    return q;
}

/* ---- ownership and maintenance ------------------------------------------- */

int hak_owns(const void *ptr)
{
    if (ptr == NULL) return 0;
    if (hak_in_arena(ptr)) {
        if (hak_class_at(ptr) == 0) return 0;
        return (uintptr_t)ptr < hak_span_of(ptr)->end;
    }
    return _hak_guard_owns(ptr) || _hak_large_owns(ptr);
}

/* The free fast path first: nearly every call of a hook that shares
 * pointers with another allocator (hakmem.pymem's) frees a block of the
 * arena, which that path tells without reading the span's metadata, a line
 * hak_owns reads and the free itself does not need. */
int hak_free_if_owned(void *ptr)
{
#if !HAK_VG_ACTIVE
    if (HAK_LIKELY(hak_tc_free_fast(ptr, "hak_free_if_owned"))) return 1;
#endif
    if (!hak_owns(ptr)) return 0;
    hak_tc_free_as(ptr, "hak_free_if_owned");
    return 1;
}

size_t hak_collect(void)
{
    _hak_runtime_init();
    _hak_tc_flush_all();
    size_t released = _hak_heap_collect_all();
    released += _hak_central_collect();
    released += _hak_arena_collect();
    released += _hak_large_collect();
    return released;
}

/* ---- first-class heaps (heap.h) ------------------------------------------ */

hak_heap_t *hak_heap_new(void)
{
    _hak_runtime_init();
    return (hak_heap_t *)_hak_heap_new();
}

/* Everything but a small block off the calling thread's cache: a thread's
 * first call sets it up (so that it may keep caches), then heap.c. */
static HAK_NOINLINE void *heap_alloc_slow(uintptr_t h, size_t size, size_t align, bool zero,
                                          const char *what)
{
    if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
    void *p = _hak_heap_alloc(h, size, align, zero, what);
    HAK_VG_ALLOC(p, size, zero);
    HAK_DEBUG_ALLOC(p, size);
    return p;
}

/* The malloc fast path, on the thread's cache of heap h (heap.h): one more
 * load and compare than malloc's, for the cache's handle. */
HAK_INLINE void *heap_alloc_fast(uintptr_t h, size_t size, size_t align)
{
    if (HAK_LIKELY(size <= HAK_TINY_MAX && align_is_small(align))) {
        hak_heap_tc_t *c = hak_heap_way(h);
        if (HAK_LIKELY(hak_heap_tc_handle(c) == h)) {
            void *p = hak_heap_tc_pop_fast(c, (size_t)hak_class_tiny(size));
            if (HAK_LIKELY(p != NULL)) {
                HAK_VG_ALLOC(p, size, 0);
                HAK_DEBUG_ALLOC(p, size);
                return p;
            }
        }
    }
    return NULL;
}

void *hak_heap_alloc(hak_heap_t *heap, size_t size, size_t align)
{
    uintptr_t h = (uintptr_t)heap;
    void *p = heap_alloc_fast(h, size, align);
    return HAK_LIKELY(p != NULL) ? p : heap_alloc_slow(h, size, align, false, "hak_heap_alloc");
}

void *hak_heap_alloc_zeroed(hak_heap_t *heap, size_t size, size_t align)
{
    uintptr_t h = (uintptr_t)heap;
    void *p = heap_alloc_fast(h, size, align);
    if (HAK_LIKELY(p != NULL)) return memset(p, 0, size);
    return heap_alloc_slow(h, size, align, true, "hak_heap_alloc_zeroed");
}

static HAK_NOINLINE void heap_dealloc_slow(uintptr_t h, void *p)
{
    if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
    _hak_heap_dealloc(h, p, "hak_heap_dealloc");
}

/* The free fast path with the checks that make a block of another heap
 * abort: p's span belongs to h's slot, and the calling thread's cache is
 * h's (so h lives). A marked block goes to the slow path's double-free
 * test. */
void hak_heap_dealloc(hak_heap_t *heap, void *ptr, size_t size, size_t align)
{
    (void)size;
    (void)align;
    uintptr_t h = (uintptr_t)heap;
    HAK_VG_FREE(ptr);
    /* free's window: closed (size 0) when every call is counted, and then
     * the slow path takes the block. */
    uintptr_t off = (uintptr_t)ptr - _hak_fast_base;
    if (HAK_LIKELY(off < _hak_fast_size)) {
        /* The unit's id and heap slot from the flat tables (one index). */
        size_t unit = off >> HAK_UNIT_SHIFT, id = _hak_unit_cls[unit];
        hak_tc_ref_t *tc = hak_tc_self();
        hak_heap_tc_t *c = (hak_heap_tc_t *)(uintptr_t)tc->heap_ways[h & (HAK_HEAP_WAYS - 1)];
        /* A block's start (alloc.h's free test), else the slow path's exact one. */
        if (HAK_LIKELY(hak_class_is_heap((unsigned)id) &&
                       hak_unit_block_start(tc->free_magic[id], tc->free_limit[id], (uintptr_t)ptr) &&
                       _hak_heap_unit_slot[unit] == (h & HAK_HEAP_IDX_MASK) &&
                       hak_heap_tc_handle(c) == h && !hak_block_marked(ptr))) {
#if HAK_DEBUG
            _hak_debug_mark_free(ptr, "hak_heap_dealloc");
#endif
            hak_heap_tc_push_id(c, id, ptr);
            return;
        }
    }
    heap_dealloc_slow(h, ptr);
}

void *hak_heap_realloc(hak_heap_t *heap, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)old_size;
    if (hak_tc_self()->state == HAK_TC_NEW) _hak_thread_init();
#if HAK_DEBUG
    if (ptr != NULL) _hak_debug_unrequest(ptr, "hak_heap_realloc");
    void *q = _hak_heap_realloc((uintptr_t)heap, ptr, new_size, align, "hak_heap_realloc");
    HAK_DEBUG_ALLOC(q, new_size);
    return q;
#else
    /* It tells valgrind about a move itself (heap.c). */
    return _hak_heap_realloc((uintptr_t)heap, ptr, new_size, align, "hak_heap_realloc");
#endif
}

int hak_heap_visit(hak_heap_t *heap, int (*fn)(void *block, size_t usable, void *arg), void *arg)
{
    return _hak_heap_visit((uintptr_t)heap, fn, arg);
}

void hak_heap_collect(hak_heap_t *heap) { _hak_heap_collect((uintptr_t)heap); }

int hak_heap_stats(hak_heap_t *heap, hak_stats_t *out, size_t size)
{
    return _hak_heap_stats((uintptr_t)heap, out, size);
}

void hak_heap_destroy(hak_heap_t *heap) { _hak_heap_destroy((uintptr_t)heap); }
