"""cffi build script of hakmem._native (setup.py names it in cffi_modules).

Out-of-line API mode: the generated C file includes the real headers, so the
C compiler checks every declaration of the cdef files beside this script
(hakmem.h, stress.h) against include/hakmem.h and src/csrc/hakpy_stress.h.

The module links to no hakmem library. Its hak_* names are macros that call
through the function table of the instance the package bound to (the
capsule hakmem._C_API, see hakmem_capi.h), which hakpy_bind() takes when
hakmem/__init__.py has made it. The stress kernels (stress.c, compiled by
setup.py with the package's strict warning flags) are linked in as an object.
"""
import os
import sys

from cffi import FFI

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(_here)))
import hakmem_build  # noqa: E402  (python/hakmem_build.py)


def _cdef(name):
    with open(os.path.join(_here, name)) as f:
        return f.read()


PREAMBLE = r"""
#define HAKMEM_CAPI_NAMES
#include "hakmem_capi.h"
#include "hakpy_stress.h"

static struct hakpy_allocator hakpy_hakmem;
static char hakpy_bind_message[400];

/* cffi releases the GIL around every call; importing a capsule needs it. */
static int hakpy_bind(void)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    int rc = import_hakmem();
    if (rc == 0) {
        hakpy_hakmem.malloc = hakmem_capi->malloc;
        hakpy_hakmem.free = hakmem_capi->free;
        hakpy_hakmem.calloc = hakmem_capi->calloc;
        hakpy_hakmem.realloc = hakmem_capi->realloc;
        hakpy_hakmem.aligned_alloc = hakmem_capi->aligned_alloc;
    } else {
        PyObject *type, *value, *tb, *text = NULL, *utf8 = NULL;
        PyErr_Fetch(&type, &value, &tb);
        if (value != NULL) text = PyObject_Str(value);
        if (text != NULL) utf8 = PyUnicode_AsUTF8String(text);
        snprintf(hakpy_bind_message, sizeof hakpy_bind_message, "%s",
                 utf8 != NULL ? PyBytes_AsString(utf8) : "hakmem._C_API is missing");
        Py_XDECREF(utf8);
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
    }
    PyGILState_Release(gil);
    return rc;
}

static const char *hakpy_bind_error(void) { return hakpy_bind_message; }

static int hakpy_stress_hakmem(const struct hakpy_stress_config *c, struct hakpy_stress_result *r)
{
    return hakpy_stress_run(&hakpy_hakmem, c, r);
}

static int hakpy_replay_hakmem(const struct hakpy_trace_op *ops, uint64_t n, uint32_t nslots,
                               uint32_t repeat, uint32_t fill, struct hakpy_stress_result *r)
{
    return hakpy_replay(&hakpy_hakmem, ops, n, nslots, repeat, fill, r);
}

/* ---- first-class heaps (hakmem.heap) ---- */

/* The heap a heap=True kernel run allocates in (hakmem.stress holds a lock
 * around such runs, so there is one at a time). free and realloc are the
 * bound hakmem's: a heap's block goes back to, and stays in, its heap. */
static hak_heap_t *hakpy_stress_heap;

static void *hakpy_heap_malloc(size_t n) { return hak_heap_alloc(hakpy_stress_heap, n, 16); }

static void *hakpy_heap_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hak_heap_alloc_zeroed(hakpy_stress_heap, total, 16);
}

static void *hakpy_heap_aligned_alloc(size_t align, size_t n)
{
    return hak_heap_alloc(hakpy_stress_heap, n, align);
}

static int hakpy_stress_hakmem_heap(const struct hakpy_stress_config *c,
                                    struct hakpy_stress_result *r, hak_heap_t *h)
{
    struct hakpy_allocator a = hakpy_hakmem;
    a.malloc = hakpy_heap_malloc;
    a.calloc = hakpy_heap_calloc;
    a.aligned_alloc = hakpy_heap_aligned_alloc;
    hakpy_stress_heap = h;
    int rc = hakpy_stress_run(&a, c, r);
    hakpy_stress_heap = NULL;
    return rc;
}

struct hakpy_gather {
    uintptr_t *out;
    size_t cap, n;
};

static int hakpy_gather_block(void *block, size_t usable, void *arg)
{
    struct hakpy_gather *g = (struct hakpy_gather *)arg;
    (void)usable;
    if (g->n < g->cap) g->out[g->n] = (uintptr_t)block;
    g->n++;
    return 0;
}

static size_t hakpy_heap_addresses(hak_heap_t *h, uintptr_t *out, size_t cap)
{
    struct hakpy_gather g = {out, cap, 0};
    hak_heap_visit(h, hakpy_gather_block, &g);
    return g.n;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(_cdef("hakmem.h"))
ffibuilder.cdef(_cdef("stress.h"))
ffibuilder.set_source(
    "hakmem._native",
    PREAMBLE,
    include_dirs=hakmem_build.include_dirs(),
    # A cdef that disagrees with a header is a build error, not a warning.
    extra_compile_args=[
        "-Werror=incompatible-pointer-types",
        "-Werror=implicit-function-declaration",
    ],
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
