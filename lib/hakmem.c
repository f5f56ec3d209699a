/* hakmem.c: the public hak_* entry points (include/hakmem.h).
 *
 * Each entry point is its fast path inlined (tcache.h) or a thin layer over
 * the tiers: argument checks with POSIX errors, overflow checks before any
 * rounding, and the glibc behaviours programs rely on (realloc(p, 0) frees
 * and returns NULL, malloc(0) is a unique pointer, everything 16-aligned).
 */
#define _GNU_SOURCE
#include "../include/hakmem.h"
#include "api.h"
#include "central.h"
#include "large.h"
#include "stats.h"
#include "superslab.h"
#include "tcache.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

HAK_HIDDEN void _hak_runtime_init(void);

/* ---- internal helpers shared with wrap.c ------------------------------- */

size_t _hak_usable(const void *p, const char *what)
{
    if (hak_in_arena(p)) {
        unsigned cls = hak_class_at(p);
        if (cls == 0 || ((uintptr_t)p & 15) != 0) _hak_fatal_ptr(what, "invalid pointer", p);
        return _hak_cls_size[cls];
    }
    size_t n = _hak_large_usable(p, what);
    if (n == 0) _hak_fatal_ptr(what, "invalid pointer", p);
    return n;
}

void *_hak_alloc_aligned(size_t size, size_t align, bool zero)
{
    if (align <= 16) {
        void *p = hak_tc_malloc(size);
        if (p && zero) memset(p, 0, size);
        if (p == NULL) errno = ENOMEM;
        return p;
    }
    unsigned cls = _hak_class_aligned(size, align);
    if (cls != 0) {
        void *p = hak_tc_class_malloc(cls);
        if (p == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        HAK_ASSERT(((uintptr_t)p & (align - 1)) == 0);
        HAK_VG_ALLOC(p, size, 0);
        if (zero) memset(p, 0, size);
        return p;
    }
    _hak_runtime_init();
    void *p = _hak_large_alloc(size, align, zero);
    HAK_VG_ALLOC(p, size, zero);
    return p;
}

void *_hak_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > HAK_MID_MAX) {
        _hak_runtime_init();
        /* Fresh mappings are zero already: no memset of untouched pages. */
        void *p = _hak_large_alloc(total, 16, true);
        HAK_VG_ALLOC(p, total, 1);
        return p;
    }
    void *p = hak_tc_malloc(total);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return memset(p, 0, total);
}

#if HAK_VG_ACTIVE
void _hak_vg_alloc(void *p, size_t n, int zero)
{
    if (p == NULL) return;
    size_t usable = hak_usable_size(p);
    VALGRIND_MALLOCLIKE_BLOCK(p, n ? n : 1, 0, zero);
    if (usable > n && n > 0) VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, usable - n);
}

/* The size memcheck knows for a block: its accessible prefix (the tail past
 * the request was made inaccessible above). GET_VBITS reports nothing, so
 * probing is silent; a binary search over the usable size. */
static size_t vg_request_size(const void *p, size_t usable)
{
    size_t lo = 0, hi = usable; /* bytes [0, lo) accessible; [hi, usable) not */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        unsigned char vbits;
        if (VALGRIND_GET_VBITS((const char *)p + mid - 1, &vbits, 1) == 3) hi = mid - 1;
        else lo = mid;
    }
    return lo;
}
#endif

/* Moves a block, keeping align; the old one is freed only on success. */
static void *realloc_move(void *p, size_t old_usable, size_t n, size_t align)
{
    void *q = _hak_alloc_aligned(n, align, false);
    if (q == NULL) return NULL;
#if HAK_VG_ACTIVE
    /* Copy only what memcheck lets the program use, not the whole block. */
    if (HAK_VG_RUNNING()) old_usable = vg_request_size(p, old_usable);
#endif
    memcpy(q, p, old_usable < n ? old_usable : n);
    hak_tc_free(p);
    return q;
}

void *_hak_realloc(void *p, size_t n, size_t align)
{
    size_t usable = _hak_usable(p, "realloc");
    /* Under valgrind every realloc moves, so memcheck's idea of the block's
     * size is always the size asked for. */
    if (HAK_VG_RUNNING()) {
        if (HAK_UNLIKELY(hak_in_arena(p) && _hak_block_is_free(p)))
            _hak_fatal_ptr("realloc", "block already freed", p);
        return realloc_move(p, usable, n, align);
    }
    if (hak_in_arena(p)) {
        if (HAK_UNLIKELY(_hak_block_is_free(p))) _hak_fatal_ptr("realloc", "block already freed", p);
        /* Stay if it fits and would not waste more than half the block. */
        if (n <= usable && (n >= usable / 2 || usable <= 16)) return p;
        /* Growing: at least a quarter more, so a buffer that grows by small
         * steps moves less often (the new block is still a class block, at
         * most one class larger than asked). */
        if (n > usable && n - usable < usable / 4 && usable + usable / 4 <= HAK_MID_MAX)
            return realloc_move(p, usable, usable + usable / 4, align);
        return realloc_move(p, usable, n, align);
    }
    if (n <= HAK_MID_MAX / 2 && align <= 16) return realloc_move(p, usable, n, align);
    if (n <= usable && n >= usable / 2) return p;
    void *q = _hak_large_realloc(p, n);
    if (q != NULL) return q;
    return realloc_move(p, usable, n, align);
}


/* ---- the prefixed malloc family ---------------------------------------- */

const char *hak_version(void) { return HAKMEM_VERSION_STRING; }
int hak_abi_version(void) { return HAKMEM_ABI_VERSION; }

void *hak_malloc(size_t size) { return hak_tc_malloc(size); }

void hak_free(void *ptr) { hak_tc_free(ptr); }

void *hak_calloc(size_t n, size_t size) { return _hak_calloc(n, size); }

void *hak_realloc(void *ptr, size_t size)
{
    if (ptr == NULL) return hak_malloc(size);
    if (size == 0) {
        hak_tc_free(ptr);
        return NULL;
    }
    /* The common case of a growing string or vector, inline: an arena block
     * whose class still fits, with the checks _hak_realloc makes (a block
     * carrying the free mark goes there, to be told apart from a freed one). */
    if (!HAK_VG_ACTIVE && hak_window_hit(ptr, _hak_window_base, _hak_window_size16)) {
        size_t usable = _hak_cls_size[hak_class_at(ptr)]; /* class 0: 0 */
        if (size <= usable && (size >= usable / 2 || usable <= 16) && !hak_block_marked(ptr))
            return ptr;
    }
    void *q = _hak_realloc(ptr, size, 16);
    if (q == NULL) errno = ENOMEM;
    return q;
}

void *hak_aligned_alloc(size_t align, size_t size)
{
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    void *p = hak_aligned_fast(size, align);
    return HAK_LIKELY(p != NULL) ? p : _hak_alloc_aligned(size, align, false);
}

size_t hak_usable_size(const void *ptr)
{
    if (ptr == NULL) return 0;
    if (hak_in_arena(ptr)) {
        unsigned cls = hak_class_at(ptr);
        return cls != 0 && ((uintptr_t)ptr & 15) == 0 ? _hak_cls_size[cls] : 0;
    }
    return _hak_large_usable(ptr, "malloc_usable_size");
}

void hak_free_sized(void *ptr, size_t size)
{
#if HAK_DEBUG
    if (ptr != NULL && size > _hak_usable(ptr, "free_sized"))
        _hak_fatal_ptr("free_sized", "size larger than the block", ptr);
#else
    (void)size;
#endif
    hak_tc_free(ptr);
}

/* ---- layout API ---------------------------------------------------------- */

void *hak_alloc(size_t size, size_t align) { return hak_aligned_alloc(align, size); }

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
    void *q = _hak_realloc(ptr, new_size, align);
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
    return _hak_large_owns(ptr);
}

size_t hak_collect(void)
{
    _hak_runtime_init();
    _hak_tc_flush_all();
    size_t released = _hak_central_collect();
    released += _hak_arena_collect();
    released += _hak_large_collect();
    return released;
}

/* ---- fork ---------------------------------------------------------------- */

/* Every allocator lock is taken before fork and released on both sides, so
 * the child never inherits a lock held by a thread that does not exist. */
void _hak_atfork_prepare(void)
{
    _hak_central_lock_all();
    _hak_arena_lock();
    _hak_large_lock();
}

void _hak_atfork_parent(void)
{
    _hak_large_unlock();
    _hak_arena_unlock();
    _hak_central_unlock_all();
}

void _hak_atfork_child(void)
{
    _hak_large_reset_lock();
    _hak_arena_reset_lock();
    _hak_central_reset_locks();
    _hak_tc_after_fork_child();
}

/* Sets up the process before main() even if no one allocates. */
__attribute__((constructor)) static void hak_constructor(void) { _hak_runtime_init(); }
