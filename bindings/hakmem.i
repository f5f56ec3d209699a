/* hakmem.i: the one SWIG interface for the Python, Perl 5 and Tcl bindings.
 *
 * It %includes the public header, so every hak_* function keeps its C name and
 * signature; what it adds is how values cross into each language:
 *   size_t, int            native integers; a negative size raises ValueError,
 *                          one beyond SIZE_MAX counts as SIZE_MAX (so an
 *                          allocation of it raises MemoryError, a read past
 *                          the block IndexError), as C would see it
 *   void *                 an opaque handle (SWIG pointer object); NULL is
 *                          None / undef / "NULL"
 *   NULL from an allocator raised: MemoryError when memory cannot be had,
 *                          ValueError for a bad alignment (errno EINVAL)
 *   a handle that is not live (freed already, or never handed out by this
 *                          module) given to free, realloc, usable_size, read
 *                          or write raised as ValueError: the module keeps the
 *                          set of the blocks it handed out and has not freed,
 *                          so a double free or a read of freed memory is an
 *                          error, never an abort or freed bytes
 *   hak_stats_get()        no arguments; returns a dict / hash ref / Tcl dict
 *   hak_read, hak_write    binding-only helpers: bytes of a block, bounds-checked
 *   hak_address            binding-only helper: a handle's address as an integer
 *   hak_heap_t *           an opaque handle, like void *; a heap's blocks are live
 *                          handles as any others, and hak_heap_destroy takes them
 *                          all out of the live set; misuse of a heap itself (a
 *                          destroyed one) aborts as in C
 *   hak_heap_visit(h)      no callback: returns the heap's live blocks as a list
 *                          (Python list, Perl array ref, Tcl list) of handles
 *   hak_heap_stats(h)      as hak_stats_get: a dict / hash ref / Tcl dict
 * "raised" means a Python exception, a Perl die ("ValueError msg") or a Tcl
 * error ("ValueError msg").
 *
 * Module names: hakmem_swig in Python (the import name hakmem belongs to the
 * cffi package in python/), Hakmem in Perl, hakmem in Tcl.
 */
#if defined(SWIGPYTHON)
%module(docstring="hakmem's C API (include/hakmem.h) through SWIG; see bindings/hakmem.i.") hakmem_swig
#elif defined(SWIGPERL)
%module Hakmem
#else
%module hakmem
#endif

%include <stdint.i>

%{
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "hakmem.h"
%}

/* ---- What the header declares that the bindings leave out ------------------ */

/* The struct reaches each language as a native record (hak_stats_get below);
 * a wrapped C struct would only add a second, mutable way to read it. */
%ignore hak_stats;

/* ---- Allocation failures raise --------------------------------------------- */

%{
/* The language error for an allocator that returned NULL with errno err. */
static int hak_swig_alloc_error(const char *fn, int err, char *msg, size_t cap)
{
    if (err == EINVAL) {
        snprintf(msg, cap, "%s: alignment is not a power of two", fn);
        return SWIG_ValueError;
    }
    snprintf(msg, cap, "%s: %s", fn, strerror(err ? err : ENOMEM));
    return SWIG_MemoryError;
}
%}

/* ---- Live handles -------------------------------------------------------------- */

%{
#include <pthread.h>
#include <sys/mman.h>

/* The blocks this module handed out and has not freed: an open-addressing
 * hash set of addresses (0: empty, 1: a deleted entry; blocks are 16-aligned,
 * so neither is ever a block). hak_owns cannot stand in for it: a freed slab
 * block is still inside hakmem's arena. The table is mmap'd, never taken from
 * hakmem, whose statistics the tests compare, and a mutex guards it (Perl and
 * Tcl threads). */
static pthread_mutex_t hak_swig_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *hak_swig_set;
static size_t hak_swig_cap, hak_swig_count, hak_swig_used; /* used: live + deleted */

#define HAK_SWIG_NOT_LIVE "not a live block (freed already, or not one this module handed out)"

static size_t hak_swig_slot(uintptr_t p, size_t cap)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

/* Index of p, or of the empty slot where it would go; lock held. */
static size_t hak_swig_find(uintptr_t p)
{
    size_t i = hak_swig_slot(p, hak_swig_cap);
    while (hak_swig_set[i] != 0 && hak_swig_set[i] != p) i = (i + 1) & (hak_swig_cap - 1);
    return i;
}

static int hak_swig_grow(void)
{
    size_t cap = hak_swig_cap ? hak_swig_cap * 2 : 1024;
    while (hak_swig_count * 2 >= cap) cap *= 2;
    uintptr_t *t = mmap(NULL, cap * sizeof *t, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) return -1;
    for (size_t i = 0; i < hak_swig_cap; i++) {
        uintptr_t p = hak_swig_set[i];
        if (p > 1) {
            size_t j = hak_swig_slot(p, cap);
            while (t[j] != 0) j = (j + 1) & (cap - 1);
            t[j] = p;
        }
    }
    if (hak_swig_set != NULL) munmap(hak_swig_set, hak_swig_cap * sizeof *hak_swig_set);
    hak_swig_set = t;
    hak_swig_cap = cap;
    hak_swig_used = hak_swig_count;
    return 0;
}

/* Remember a block handed out; -1 if the table cannot grow. */
static int hak_swig_keep(const void *block)
{
    int rc = 0;
    pthread_mutex_lock(&hak_swig_lock);
    if ((hak_swig_used + 1) * 4 >= hak_swig_cap * 3 && hak_swig_grow() != 0) {
        rc = -1;
    } else {
        size_t i = hak_swig_find((uintptr_t)block);
        if (hak_swig_set[i] == 0) {
            hak_swig_set[i] = (uintptr_t)block;
            hak_swig_count++;
            hak_swig_used++;
        }
    }
    pthread_mutex_unlock(&hak_swig_lock);
    return rc;
}

/* Is the block live? With take, also forget it (it is about to be freed or
 * moved): one step, so two threads cannot both free it. */
static int hak_swig_live(const void *block, int take)
{
    int live = 0;
    pthread_mutex_lock(&hak_swig_lock);
    if (hak_swig_cap != 0) {
        size_t i = hak_swig_find((uintptr_t)block);
        live = hak_swig_set[i] == (uintptr_t)block;
        if (live && take) {
            hak_swig_set[i] = 1;
            hak_swig_count--;
        }
    }
    pthread_mutex_unlock(&hak_swig_lock);
    return live;
}
%}

/* An allocation: NULL raises (unless allowed says the call asked for it);
 * a block is remembered as live. */
%define HAK_SWIG_ALLOCATES(func, allowed)
%exception func {
    errno = 0;
    $action
    if (result == NULL && !(allowed)) {
        char hak_msg[128];
        int hak_code = hak_swig_alloc_error("$name", errno, hak_msg, sizeof hak_msg);
        SWIG_exception_fail(hak_code, hak_msg);
    }
    if (result != NULL && hak_swig_keep(result) != 0) {
        hak_free(result);
        SWIG_exception_fail(SWIG_MemoryError, "$name: no memory to track the block");
    }
}
%enddef
HAK_SWIG_ALLOCATES(hak_malloc, 0)
HAK_SWIG_ALLOCATES(hak_calloc, 0)
HAK_SWIG_ALLOCATES(hak_aligned_alloc, 0)
HAK_SWIG_ALLOCATES(hak_alloc, 0)
HAK_SWIG_ALLOCATES(hak_alloc_zeroed, 0)

/* A resize takes the old block out of the live set first and puts it back
 * when the call fails (C leaves it intact). hak_realloc(p, 0) frees p and
 * returns NULL: that NULL is the answer, not a failure. */
%define HAK_SWIG_RESIZES(func, newsize)
%exception func {
    if (arg1 != NULL && !hak_swig_live(arg1, 1))
        SWIG_exception_fail(SWIG_ValueError, "$name: " HAK_SWIG_NOT_LIVE);
    errno = 0;
    $action
    if (result == NULL && newsize != 0) {
        char hak_msg[128];
        int hak_code = hak_swig_alloc_error("$name", errno, hak_msg, sizeof hak_msg);
        if (arg1 != NULL) (void)hak_swig_keep(arg1); /* was there: the table has room */
        SWIG_exception_fail(hak_code, hak_msg);
    }
    if (result != NULL && hak_swig_keep(result) != 0) {
        hak_free(result);
        SWIG_exception_fail(SWIG_MemoryError, "$name: no memory to track the block");
    }
}
%enddef
HAK_SWIG_RESIZES(hak_realloc, arg2)
HAK_SWIG_RESIZES(hak_realloc_layout, arg4)

/* A free takes the block out of the live set; one that is not in it raises. */
%define HAK_SWIG_FREES(func)
%exception func {
    if (arg1 != NULL && !hak_swig_live(arg1, 1))
        SWIG_exception_fail(SWIG_ValueError, "$name: " HAK_SWIG_NOT_LIVE);
    $action
}
%enddef
HAK_SWIG_FREES(hak_free)
HAK_SWIG_FREES(hak_free_sized)
HAK_SWIG_FREES(hak_dealloc)

/* ---- First-class heaps ---------------------------------------------------------- */

/* A heap is a handle, not a block: NULL raises, nothing is remembered. */
%exception hak_heap_new {
    errno = 0;
    $action
    if (result == NULL) {
        char hak_msg[128];
        int hak_code = hak_swig_alloc_error("$name", errno, hak_msg, sizeof hak_msg);
        SWIG_exception_fail(hak_code, hak_msg);
    }
}
HAK_SWIG_ALLOCATES(hak_heap_alloc, 0)
HAK_SWIG_ALLOCATES(hak_heap_alloc_zeroed, 0)

/* As HAK_SWIG_RESIZES, with the block in the second argument (new_size 0
 * counts as 1: NULL is always a failure). */
%exception hak_heap_realloc {
    if (arg2 != NULL && !hak_swig_live(arg2, 1))
        SWIG_exception_fail(SWIG_ValueError, "$name: " HAK_SWIG_NOT_LIVE);
    errno = 0;
    $action
    if (result == NULL) {
        char hak_msg[128];
        int hak_code = hak_swig_alloc_error("$name", errno, hak_msg, sizeof hak_msg);
        if (arg2 != NULL) (void)hak_swig_keep(arg2); /* was there: the table has room */
        SWIG_exception_fail(hak_code, hak_msg);
    }
    if (hak_swig_keep(result) != 0) {
        hak_free(result);
        SWIG_exception_fail(SWIG_MemoryError, "$name: no memory to track the block");
    }
}
%exception hak_heap_dealloc {
    if (arg2 != NULL && !hak_swig_live(arg2, 1))
        SWIG_exception_fail(SWIG_ValueError, "$name: " HAK_SWIG_NOT_LIVE);
    $action
}

%{
/* hak_heap_destroy frees every block of the heap: none stays live here. */
static int hak_swig_forget(void *block, size_t usable, void *arg)
{
    (void)usable;
    (void)arg;
    (void)hak_swig_live(block, 1);
    return 0;
}
%}
%exception hak_heap_destroy {
    (void)hak_heap_visit(arg1, hak_swig_forget, NULL);
    $action
}

/* hak_owns takes any value; hak_usable_size only a live block. */
%exception hak_usable_size {
    if (arg1 != NULL && !hak_swig_live(arg1, 0))
        SWIG_exception_fail(SWIG_ValueError, "hak_usable_size: " HAK_SWIG_NOT_LIVE);
    $action
}

/* ---- hak_stats_get() returns the struct as a native record ------------------ */

%{
/* Every field of struct hak_stats, in order. The static assertion fails to
 * compile when the header gains a field that is not listed here. */
#define HAK_SWIG_STATS_FIELDS(X) \
    X(size) X(version) X(stats_enabled) \
    X(bytes_in_use) X(bytes_cached) X(bytes_committed) X(bytes_committed_peak) \
    X(bytes_mapped) X(superslabs) X(spans) X(large_blocks) X(large_bytes) \
    X(tiny_mallocs) X(tiny_frees) X(mid_mallocs) X(mid_frees) \
    X(large_mallocs) X(large_frees) \
    X(route_tiny_fast) X(route_mid_fast) X(route_slab_lookup) X(route_remote) \
    X(route_large) X(route_null) \
    X(refills) X(flushes) X(os_maps) X(os_unmaps) X(os_purges) \
    X(bytes_reserved)

#define HAK_SWIG_FIELD_SIZE(f) + sizeof(((struct hak_stats *)0)->f)
_Static_assert(0 HAK_SWIG_STATS_FIELDS(HAK_SWIG_FIELD_SIZE) == sizeof(struct hak_stats),
               "struct hak_stats changed: update HAK_SWIG_STATS_FIELDS in bindings/hakmem.i");

struct hak_swig_field {
    const char *name;
    size_t offset, width;
};
#define HAK_SWIG_FIELD_ENTRY(f) \
    { #f, offsetof(struct hak_stats, f), sizeof(((struct hak_stats *)0)->f) },
static const struct hak_swig_field hak_swig_stats_fields[] = {
    HAK_SWIG_STATS_FIELDS(HAK_SWIG_FIELD_ENTRY)
};
#define HAK_SWIG_NFIELDS (sizeof hak_swig_stats_fields / sizeof hak_swig_stats_fields[0])

static unsigned long long hak_swig_field_value(const struct hak_stats *s, size_t i)
{
    const char *at = (const char *)s + hak_swig_stats_fields[i].offset;
    if (hak_swig_stats_fields[i].width == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, at, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, at, sizeof v);
    return v;
}
%}

/* The caller passes nothing: the wrapper owns the struct and its size. */
%typemap(in, numinputs=0) (struct hak_stats *out, size_t size) (struct hak_stats tmp) {
    memset(&tmp, 0, sizeof tmp);
    $1 = &tmp;
    $2 = sizeof tmp;
}
/* -1 (errno set) raises; 0 gives no value of its own: the record comes from argout. */
%typemap(out, noblock=1) int hak_stats_get {
    if ($1 != 0) {
        char hak_msg[96];
        snprintf(hak_msg, sizeof hak_msg, "hak_stats_get: %s", strerror(errno));
        SWIG_exception_fail(SWIG_RuntimeError, hak_msg);
    }
}

/* hak_heap_stats(h, out, size) takes its struct the same way (the %apply
 * is below the per-language typemaps, which it copies). */
%typemap(out, noblock=1) int hak_heap_stats {
    if ($1 != 0) {
        char hak_msg[96];
        snprintf(hak_msg, sizeof hak_msg, "hak_heap_stats: %s", strerror(errno));
        SWIG_exception_fail(SWIG_RuntimeError, hak_msg);
    }
}

/* ---- hak_heap_visit(h) returns the live blocks ------------------------------------ */

%{
/* The blocks a visit saw, gathered by the callback (with the C library's
 * malloc: inside the visit the heap itself is locked). */
typedef struct {
    void **block;
    size_t n, cap;
    int failed;
} hak_swig_blocks;

static int hak_swig_gather(void *block, size_t usable, void *arg)
{
    hak_swig_blocks *b = (hak_swig_blocks *)arg;
    (void)usable;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        void **nb = (void **)realloc(b->block, ncap * sizeof *nb);
        if (nb == NULL) {
            b->failed = 1;
            return 1;
        }
        b->block = nb;
        b->cap = ncap;
    }
    b->block[b->n++] = block;
    return 0;
}
%}

/* The script passes only the heap: the wrapper supplies the callback. */
%typemap(in, numinputs=0) (int (*fn)(void *block, size_t usable, void *arg), void *arg)
    (hak_swig_blocks tmp) {
    memset(&tmp, 0, sizeof tmp);
    $1 = hak_swig_gather;
    $2 = &tmp;
}
%typemap(freearg) (int (*fn)(void *block, size_t usable, void *arg), void *arg) {
    free(tmp$argnum.block);
}
/* The walk's own value is 0 (the callback never stops it) or a failure. */
%typemap(out, noblock=1) int hak_heap_visit {
    if (tmp2.failed) SWIG_exception_fail(SWIG_MemoryError, "hak_heap_visit: out of memory");
}

/* ---- Bytes of a block -------------------------------------------------------- */

%{
/* A view of bytes inside a block; each language copies it into its own string. */
typedef struct {
    const char *data;
    size_t len;
} hak_swig_bytes;

/* 0 if [offset, offset + n) lies inside the block at block; else the SWIG
 * error code, with the reason in msg. */
static int hak_swig_range_error(const void *block, size_t offset, size_t n,
                                char *msg, size_t cap)
{
    if (block == NULL) {
        snprintf(msg, cap, "NULL block");
        return SWIG_ValueError;
    }
    if (!hak_swig_live(block, 0)) {
        snprintf(msg, cap, "%s", HAK_SWIG_NOT_LIVE);
        return SWIG_ValueError;
    }
    size_t usable = hak_usable_size(block);
    if (offset > usable || n > usable - offset) {
        snprintf(msg, cap, "bytes %zu..%zu are outside the block (usable size %zu)",
                 offset, offset + n, usable);
        return SWIG_IndexError;
    }
    return 0;
}

static hak_swig_bytes hak_read(const void *block, size_t offset, size_t n)
{
    hak_swig_bytes b = { (const char *)block + offset, n };
    return b;
}

static void hak_write(void *block, size_t offset, const void *data, size_t len)
{
    if (len != 0)
        memcpy((char *)block + offset, data, len);
}

static uint64_t hak_address(const void *block)
{
    return (uint64_t)(uintptr_t)block;
}
%}

%define HAK_SWIG_CHECK_RANGE(func, blockarg, offsetarg, lenarg)
%exception func {
    {
        char hak_msg[128], hak_full[160];
        int hak_code = hak_swig_range_error(blockarg, offsetarg, lenarg, hak_msg, sizeof hak_msg);
        if (hak_code != 0) {
            snprintf(hak_full, sizeof hak_full, "$name: %s", hak_msg);
            SWIG_exception_fail(hak_code, hak_full);
        }
    }
    $action
}
%enddef
HAK_SWIG_CHECK_RANGE(hak_read, arg1, arg2, arg3)
HAK_SWIG_CHECK_RANGE(hak_write, arg1, arg2, arg4)

/* ---- Per-language conversions -------------------------------------------------- */

#if defined(SWIGPYTHON)

/* A size: an int; negative raises ValueError, beyond SIZE_MAX counts as SIZE_MAX. */
%typemap(in) size_t {
    if (!PyLong_Check($input))
        SWIG_exception_fail(SWIG_TypeError, "$symname: argument $argnum ($1_name) must be an int");
    {
        int hak_ovf = 0;
        long long hak_v = PyLong_AsLongLongAndOverflow($input, &hak_ovf);
        if (hak_v == -1 && PyErr_Occurred()) SWIG_fail;
        if (hak_ovf < 0 || (hak_ovf == 0 && hak_v < 0))
            SWIG_exception_fail(SWIG_ValueError, "$symname: $1_name must be >= 0");
        if (hak_ovf == 0) {
            $1 = (size_t)hak_v;
        } else {
            $1 = PyLong_AsSize_t($input);
            if ($1 == (size_t)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                $1 = SIZE_MAX;
            }
        }
    }
}

%typemap(argout) (struct hak_stats *out, size_t size) {
    PyObject *d = PyDict_New();
    for (size_t i = 0; d != NULL && i < HAK_SWIG_NFIELDS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(hak_swig_field_value($1, i));
        if (v == NULL || PyDict_SetItemString(d, hak_swig_stats_fields[i].name, v) != 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
        } else {
            Py_DECREF(v);
        }
    }
    if (d == NULL) SWIG_fail;
    Py_XDECREF($result);
    $result = d;
}
%typemap(argout) (int (*fn)(void *block, size_t usable, void *arg), void *arg) {
    PyObject *list = PyList_New((Py_ssize_t)tmp$argnum.n);
    for (size_t i = 0; list != NULL && i < tmp$argnum.n; i++) {
        PyObject *h = SWIG_NewPointerObj(tmp$argnum.block[i], $descriptor(void *), 0);
        if (h == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, h);
    }
    if (list == NULL) SWIG_fail;
    Py_XDECREF($result);
    $result = list;
}
%typemap(out) hak_swig_bytes {
    $result = PyBytes_FromStringAndSize($1.data, (Py_ssize_t)$1.len);
}
/* Any bytes-like object (bytes, bytearray, memoryview); str is a TypeError. */
%typemap(arginit) (const void *data, size_t len) "view$argnum.obj = NULL;"
%typemap(in) (const void *data, size_t len) (Py_buffer view) {
    if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) != 0) SWIG_fail;
    $1 = view.buf;
    $2 = (size_t)view.len;
}
%typemap(freearg) (const void *data, size_t len) {
    if (view$argnum.obj != NULL) PyBuffer_Release(&view$argnum);
}

#elif defined(SWIGPERL)

/* A size: a number; negative dies with ValueError, beyond SIZE_MAX counts as SIZE_MAX. */
%typemap(in) size_t {
    if (!SvOK($input) || !looks_like_number($input))
        SWIG_exception_fail(SWIG_TypeError, "$symname: argument $argnum ($1_name) must be a number");
    if (SvIOK_UV($input)) {
        $1 = (size_t)SvUV($input);
    } else if (SvIOK($input)) {
        IV hak_v = SvIV($input);
        if (hak_v < 0) SWIG_exception_fail(SWIG_ValueError, "$symname: $1_name must be >= 0");
        $1 = (size_t)hak_v;
    } else {
        NV hak_v = SvNV($input);
        if (hak_v < 0) SWIG_exception_fail(SWIG_ValueError, "$symname: $1_name must be >= 0");
        $1 = hak_v >= 18446744073709551615.0 ? SIZE_MAX : (size_t)hak_v;
    }
}

%typemap(argout) (struct hak_stats *out, size_t size) {
    HV *hv = newHV();
    for (size_t i = 0; i < HAK_SWIG_NFIELDS; i++)
        (void)hv_store(hv, hak_swig_stats_fields[i].name,
                       (I32)strlen(hak_swig_stats_fields[i].name),
                       newSVuv((UV)hak_swig_field_value($1, i)), 0);
    if (argvi >= items) EXTEND(sp, argvi + 1);
    $result = sv_2mortal(newRV_noinc((SV *)hv));
    argvi++;
}
%typemap(argout) (int (*fn)(void *block, size_t usable, void *arg), void *arg) {
    AV *av = newAV();
    for (size_t i = 0; i < tmp$argnum.n; i++) {
        SV *h = sv_newmortal();
        SWIG_MakePtr(h, tmp$argnum.block[i], $descriptor(void *), 0);
        av_push(av, SvREFCNT_inc(h));
    }
    if (argvi >= items) EXTEND(sp, argvi + 1);
    $result = sv_2mortal(newRV_noinc((SV *)av));
    argvi++;
}
%typemap(out) hak_swig_bytes {
    $result = sv_2mortal(newSVpvn($1.data, $1.len));
    argvi++;
}
/* A byte string; a string with characters above 255 dies ("Wide character"). */
%typemap(in) (const void *data, size_t len) {
    STRLEN len;
    $1 = (void *)SvPVbyte($input, len);
    $2 = (size_t)len;
}

#elif defined(SWIGTCL)

/* A size: an integer; negative is a ValueError, beyond SIZE_MAX counts as SIZE_MAX. */
%typemap(in) size_t {
    Tcl_WideInt hak_v;
    if (Tcl_GetWideIntFromObj(NULL, $input, &hak_v) == TCL_OK) {
        if (hak_v < 0) SWIG_exception_fail(SWIG_ValueError, "$symname: $1_name must be >= 0");
        $1 = (size_t)hak_v;
    } else {
        /* Too wide for a wide int: a big positive integer, or not a number. */
        const char *hak_s = Tcl_GetString($input);
        size_t hak_i = (hak_s[0] == '+' || hak_s[0] == '-') ? 1 : 0;
        int hak_digits = hak_s[hak_i] != '\0';
        for (; hak_s[hak_i] != '\0'; hak_i++)
            if (hak_s[hak_i] < '0' || hak_s[hak_i] > '9') hak_digits = 0;
        if (!hak_digits)
            SWIG_exception_fail(SWIG_TypeError, "$symname: argument $argnum ($1_name) must be an integer");
        if (hak_s[0] == '-') SWIG_exception_fail(SWIG_ValueError, "$symname: $1_name must be >= 0");
        $1 = SIZE_MAX;
    }
}

%typemap(argout) (struct hak_stats *out, size_t size) {
    Tcl_Obj *d = Tcl_NewDictObj();
    for (size_t i = 0; i < HAK_SWIG_NFIELDS; i++)
        Tcl_DictObjPut(interp, d, Tcl_NewStringObj(hak_swig_stats_fields[i].name, -1),
                       Tcl_NewWideIntObj((Tcl_WideInt)hak_swig_field_value($1, i)));
    Tcl_SetObjResult(interp, d);
}
%typemap(argout) (int (*fn)(void *block, size_t usable, void *arg), void *arg) {
    Tcl_Obj *list = Tcl_NewListObj(0, NULL);
    for (size_t i = 0; i < tmp$argnum.n; i++)
        Tcl_ListObjAppendElement(interp, list,
                                 SWIG_NewInstanceObj(tmp$argnum.block[i], $descriptor(void *), 0));
    Tcl_SetObjResult(interp, list);
}
%typemap(out) hak_swig_bytes {
    if ($1.len > INT_MAX) SWIG_exception_fail(SWIG_OverflowError, "hak_read: over 2 GiB");
    Tcl_SetObjResult(interp, Tcl_NewByteArrayObj((const unsigned char *)$1.data, (int)$1.len));
}
/* A byte array; characters above 255 keep their low byte, as Tcl's binary commands do. */
%typemap(in) (const void *data, size_t len) {
    int len;
    $1 = Tcl_GetByteArrayFromObj($input, &len);
    $2 = (size_t)len;
}

#endif

/* ---- The API --------------------------------------------------------------------- */

%apply (struct hak_stats *out, size_t size) { (hak_stats_t *out, size_t size) };
%include "hakmem.h"

/** Bytes offset..offset+n of a block, as a byte string. IndexError past
 *  hak_usable_size(block); ValueError for NULL or a foreign handle. */
hak_swig_bytes hak_read(const void *block, size_t offset, size_t n);
/** Copies a byte string into a block from offset on, under the same checks. */
void hak_write(void *block, size_t offset, const void *data, size_t len);
/** The address a handle holds, as an integer (0 for NULL). */
uint64_t hak_address(const void *block);
