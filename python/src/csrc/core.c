/* core.c: hakmem._core, the part of the package that needs CPython's C API.
 *
 *   bind(path)      chooses the one hakmem instance of the process: the one
 *                   already loaded (preloaded, linked, loaded RTLD_GLOBAL, or
 *                   loaded privately by another extension), else the bundled
 *                   libhakmem_api.so at path. Two instances would each refuse
 *                   the other's pointers, so nothing here ever loads a second.
 *   _C_API          the instance's function table in a capsule: the cffi
 *                   module and third-party extensions (hakmem_capi.h) call
 *                   through the same table.
 *   Block           a block of hakmem memory that exports the buffer protocol
 *                   and refuses every use after it was freed.
 *   HeapState       the C side of hakmem.Heap (heap.py): owns a first-class
 *                   heap's handle; its Blocks point at it, so that none of
 *                   them is used (or freed) once the heap is destroyed.
 *   pymem_*         CPython's allocator domains routed through hakmem.
 *
 * Everything here runs with the GIL held, except the pymem hooks of the raw
 * domain, which CPython calls without it (see the pymem section).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hakmem_capi.h"

#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>

static hakmem_capi_t table; /* size != 0 once bound */
static int bound_to_process;

static int check_bound(void)
{
    if (table.size != 0) return 0;
    PyErr_SetString(PyExc_RuntimeError, "hakmem._core is not bound yet (import hakmem first)");
    return -1;
}

/* ---- binding ------------------------------------------------------------ */

#define SYM(field, name) {name, offsetof(hakmem_capi_t, field)}
static const struct {
    const char *name;
    size_t offset;
} table_syms[] = {
    SYM(version, "hak_version"),
    SYM(malloc, "hak_malloc"),
    SYM(free, "hak_free"),
    SYM(calloc, "hak_calloc"),
    SYM(realloc, "hak_realloc"),
    SYM(aligned_alloc, "hak_aligned_alloc"),
    SYM(usable_size, "hak_usable_size"),
    SYM(free_sized, "hak_free_sized"),
    SYM(alloc, "hak_alloc"),
    SYM(alloc_zeroed, "hak_alloc_zeroed"),
    SYM(dealloc, "hak_dealloc"),
    SYM(realloc_layout, "hak_realloc_layout"),
    SYM(owns, "hak_owns"),
    SYM(collect, "hak_collect"),
    SYM(stats_get, "hak_stats_get"),
    SYM(stats_print, "hak_stats_print"),
    SYM(heap_new, "hak_heap_new"),
    SYM(heap_alloc, "hak_heap_alloc"),
    SYM(heap_alloc_zeroed, "hak_heap_alloc_zeroed"),
    SYM(heap_realloc, "hak_heap_realloc"),
    SYM(heap_dealloc, "hak_heap_dealloc"),
    SYM(heap_visit, "hak_heap_visit"),
    SYM(heap_collect, "hak_heap_collect"),
    SYM(heap_stats, "hak_heap_stats"),
    SYM(heap_destroy, "hak_heap_destroy"),
    SYM(free_if_owned, "hak_free_if_owned"),
};
#undef SYM

static PyObject *bound_library(void)
{
    Dl_info info;
    if (dladdr((void *)table.version, &info) == 0 || info.dli_fname == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(info.dli_fname);
}

/* Names of the loaded objects, collected first: calling dlopen from inside
 * dl_iterate_phdr's callback would nest the loader's locks. */
struct loaded_names {
    char *names[256];
    int count;
};

static int collect_name(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct loaded_names *l = data;
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0' && l->count < 256) {
        char *copy = strdup(info->dlpi_name);
        if (copy != NULL) l->names[l->count++] = copy;
    }
    return 0;
}

/* A handle on a hakmem that some object loaded privately (RTLD_LOCAL: an
 * extension linked to libhakmem_api, a SWIG module), or NULL. */
static void *find_local_hakmem(void)
{
    struct loaded_names l = {.count = 0};
    void *found = NULL;
    dl_iterate_phdr(collect_name, &l);
    for (int i = 0; i < l.count; i++) {
        if (found == NULL) {
            void *h = dlopen(l.names[i], RTLD_NOW | RTLD_NOLOAD);
            if (h != NULL && dlsym(h, "hak_version") != NULL && dlsym(h, "hak_malloc") != NULL)
                found = h;
            else if (h != NULL)
                dlclose(h);
        }
        free(l.names[i]);
    }
    return found;
}

static PyObject *core_bind(PyObject *module, PyObject *arg)
{
    if (table.size != 0) return Py_BuildValue("(iN)", bound_to_process, bound_library());
    PyObject *bytes;
    if (!PyUnicode_FSConverter(arg, &bytes)) return NULL;
    const char *path = PyBytes_AS_STRING(bytes);
    /* One instance per process: the global one (preloaded or linked), else
     * one already loaded privately, else the package's own. */
    void *h = RTLD_DEFAULT;
    /* The file loaded, for the messages below. */
    const char *loaded = path;
    char dyn[4096];
    int process = dlsym(RTLD_DEFAULT, "hak_version") != NULL;
    if (!process && (h = find_local_hakmem()) != NULL) process = 1;
    if (!process) {
        /* RTLD_LOCAL: the library's names stay out of the global scope, so
         * it never interposes on anything else in the process. */
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            /* Most likely glibc's static TLS surplus is full (other
             * libraries loaded late took it): the same library with its
             * TLS pointer in dynamic TLS, beside it, loads anyway. */
            char first[512];
            const char *err = dlerror();
            snprintf(first, sizeof first, "%s", err != NULL ? err : "unknown error");
            size_t len = strlen(path);
            if (len > 3 && strcmp(path + len - 3, ".so") == 0 && len + 5 < sizeof dyn) {
                snprintf(dyn, sizeof dyn, "%.*s_dyn.so", (int)(len - 3), path);
                h = dlopen(dyn, RTLD_NOW | RTLD_LOCAL);
                if (h == NULL) {
                    err = dlerror();
                    PyErr_Format(PyExc_ImportError, "cannot load hakmem's library %s: %s; nor %s: %s",
                                 path, first, dyn, err != NULL ? err : "unknown error");
                }
            } else {
                PyErr_Format(PyExc_ImportError, "cannot load hakmem's library %s: %s", path, first);
            }
            if (h == NULL) {
                Py_DECREF(bytes);
                return NULL;
            }
            loaded = dyn;
            /* Said once: the process runs hakmem, a little slower. */
            if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                 "hakmem: %s refused (%s); loaded %s instead, which keeps its "
                                 "thread cache pointer in dynamic TLS (about 3%% slower under "
                                 "hakmem.pymem)", path, first, dyn) < 0) {
                Py_DECREF(bytes);
                return NULL;
            }
        }
    }
    hakmem_capi_t t = {0};
    for (size_t i = 0; i < sizeof table_syms / sizeof table_syms[0]; i++) {
        void *f = dlsym(h, table_syms[i].name);
        if (f == NULL) {
            PyErr_Format(PyExc_ImportError, "%s lacks %s: not a hakmem %s library",
                         process ? "the hakmem loaded in this process" : loaded,
                         table_syms[i].name, HAKMEM_VERSION_STRING);
            Py_DECREF(bytes);
            return NULL;
        }
        memcpy((char *)&t + table_syms[i].offset, &f, sizeof f);
    }
    int (*abi)(void) = (int (*)(void))dlsym(h, "hak_abi_version");
    t.abi_version = abi != NULL ? abi() : -1;
    if (t.abi_version != HAKMEM_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "%s is hakmem %s with ABI %d; this package needs ABI %d%s",
                     process ? "the hakmem loaded in this process" : loaded, t.version(),
                     t.abi_version, HAKMEM_ABI_VERSION,
                     process ? " (and cannot load its own copy beside it)" : "");
        Py_DECREF(bytes);
        return NULL;
    }
    Py_DECREF(bytes);
    /* The library stays loaded for good: blocks may outlive any module. */
    t.capi_version = HAKMEM_CAPI_VERSION;
    t.size = sizeof t;
    table = t;
    bound_to_process = process;
    PyObject *capsule = PyCapsule_New(&table, HAKMEM_CAPSULE_NAME, NULL);
    if (capsule == NULL || PyModule_AddObject(module, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        return NULL;
    }
    return Py_BuildValue("(iN)", process, bound_library());
}

/* True when the process's malloc is defined by the object we are bound to. */
static PyObject *core_is_active(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    if (check_bound() < 0) return NULL;
    Dl_info m, v;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    int active = sym != NULL && dladdr(sym, &m) != 0 && dladdr((void *)table.version, &v) != 0 &&
                 m.dli_fbase == v.dli_fbase;
    return PyBool_FromLong(active);
}

/* ---- argument conversion ------------------------------------------------ */

/* A size for an allocation: ValueError when negative, MemoryError when no
 * buffer could be that large (a buffer's length is a Py_ssize_t). */
static int size_arg(PyObject *o, const char *what, size_t *out)
{
    PyObject *i = PyNumber_Index(o);
    if (i == NULL) return -1;
    Py_ssize_t n = PyLong_AsSsize_t(i);
    if (n == -1 && PyErr_Occurred()) {
        /* Out of range one way or the other. */
        PyErr_Clear();
        PyObject *zero = PyLong_FromLong(0);
        int huge = zero != NULL && PyObject_RichCompareBool(i, zero, Py_GT) > 0;
        Py_XDECREF(zero);
        if (huge) {
            PyErr_Format(PyExc_MemoryError,
                         "cannot allocate %S bytes: more than any buffer can hold", i);
            Py_DECREF(i);
            return -1;
        }
    }
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %S", what, i);
        Py_DECREF(i);
        return -1;
    }
    Py_DECREF(i);
    *out = (size_t)n;
    return 0;
}

/* An alignment: a power of two that fits a size_t, else ValueError. */
static int align_arg(PyObject *o, size_t *out)
{
    PyObject *i = PyNumber_Index(o);
    if (i == NULL) return -1;
    size_t a = PyLong_AsSize_t(i); /* negative or too large: OverflowError */
    if (a == (size_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        a = 0;
    }
    if (a == 0 || (a & (a - 1)) != 0) {
        PyErr_Format(PyExc_ValueError, "alignment must be a power of two, got %S", i);
        Py_DECREF(i);
        return -1;
    }
    Py_DECREF(i);
    *out = a;
    return 0;
}

/* ---- Block ------------------------------------------------------------- */

enum { BLOCK_LIVE, BLOCK_FREED, BLOCK_MOVED };

/* A first-class heap as Python sees it (hakmem.Heap holds one; so does every
 * Block allocated in it). The C heap is destroyed once: by destroy(), or
 * when the last reference goes (the Heap and every Block of it). */
typedef struct {
    PyObject_HEAD
    hak_heap_t *heap;   /* NULL once destroyed */
    Py_ssize_t exports; /* buffers of its Blocks handed out and not yet released */
    PyObject *registry; /* address -> Block, a mapping given by heap.py (weak values) */
} HeapStateObject;

static PyTypeObject HeapState_Type;

typedef struct {
    PyObject_HEAD
    void *ptr;
    size_t size;
    size_t align;          /* as asked; 0 for malloc and calloc */
    Py_ssize_t exports;    /* buffers handed out and not yet released */
    int state;
    PyObject *weakrefs;
    HeapStateObject *heap; /* the heap it was allocated in, or NULL */
} BlockObject;

static PyTypeObject Block_Type;

/* Its heap is gone: the memory is, and no use of the Block may touch it. */
static int block_orphan(const BlockObject *b) { return b->heap != NULL && b->heap->heap == NULL; }

static int block_live(BlockObject *b)
{
    if (b->state == BLOCK_LIVE && !block_orphan(b)) return 0;
    if (b->state == BLOCK_LIVE) {
        PyErr_SetString(PyExc_ValueError, "use of a hakmem Block whose Heap was destroyed");
        return -1;
    }
    PyErr_SetString(PyExc_ValueError, b->state == BLOCK_FREED
                                          ? "use of a freed hakmem Block"
                                          : "use of a hakmem Block after realloc() moved it "
                                            "(use the Block realloc() returned)");
    return -1;
}

/* Memory under an exported buffer must stay: a memoryview could still read it. */
static int block_unexported(BlockObject *b, const char *what)
{
    if (b->exports == 0) return 0;
    PyErr_Format(PyExc_BufferError,
                 "cannot %s a hakmem Block while %zd buffer(s) (memoryviews, arrays) use it; "
                 "release them first",
                 what, b->exports);
    return -1;
}

static PyObject *block_new(void *ptr, size_t size, size_t align)
{
    BlockObject *b = PyObject_New(BlockObject, &Block_Type);
    if (b == NULL) {
        table.free(ptr);
        return NULL;
    }
    b->ptr = ptr;
    b->size = size;
    b->align = align;
    b->exports = 0;
    b->state = BLOCK_LIVE;
    b->weakrefs = NULL;
    b->heap = NULL;
    return (PyObject *)b;
}

/* block_new for a block of heap hs, entered in its registry. */
static PyObject *block_new_in(void *ptr, size_t size, size_t align, HeapStateObject *hs)
{
    if (hs == NULL) return block_new(ptr, size, align);
    PyObject *o = block_new(ptr, size, align);
    if (o == NULL) return NULL;
    Py_INCREF(hs);
    ((BlockObject *)o)->heap = hs;
    PyObject *key = PyLong_FromVoidPtr(ptr);
    if (key == NULL || PyObject_SetItem(hs->registry, key, o) < 0) {
        Py_XDECREF(key);
        Py_DECREF(o); /* frees the memory */
        return NULL;
    }
    Py_DECREF(key);
    return o;
}

/* Takes b out of its heap's registry (if it is the entry for its address). */
static void block_unregister(BlockObject *b)
{
    if (b->heap == NULL || b->heap->registry == NULL || b->ptr == NULL) return;
    PyObject *exc_type, *exc, *tb;
    PyErr_Fetch(&exc_type, &exc, &tb);
    PyObject *key = PyLong_FromVoidPtr(b->ptr);
    if (key != NULL) {
        PyObject *cur = PyObject_GetItem(b->heap->registry, key);
        if (cur == (PyObject *)b && PyObject_DelItem(b->heap->registry, key) < 0) PyErr_Clear();
        Py_XDECREF(cur);
        Py_DECREF(key);
    }
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

static PyObject *no_memory(size_t n)
{
    return PyErr_Format(PyExc_MemoryError, "hakmem could not allocate %zu bytes", n);
}

static void Block_dealloc(BlockObject *b)
{
    if (b->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)b);
    /* exports is 0 here: every exported buffer holds a reference. A block
     * of a destroyed heap went with it. */
    if (b->state == BLOCK_LIVE && !block_orphan(b)) table.free(b->ptr);
    Py_XDECREF(b->heap);
    PyObject_Free(b);
}

static PyObject *Block_free(BlockObject *b, PyObject *unused)
{
    (void)unused;
    if (block_live(b) < 0 || block_unexported(b, "free") < 0) return NULL;
    block_unregister(b);
    table.free(b->ptr);
    b->ptr = NULL;
    b->state = BLOCK_FREED;
    Py_RETURN_NONE;
}

static PyObject *Block_enter(BlockObject *b, PyObject *unused)
{
    (void)unused;
    if (block_live(b) < 0) return NULL;
    Py_INCREF(b);
    return (PyObject *)b;
}

/* Leaving a with block frees the block unless the body already did. */
static PyObject *Block_exit(BlockObject *b, PyObject *args)
{
    (void)args;
    if (b->state != BLOCK_LIVE) Py_RETURN_NONE;
    return Block_free(b, NULL);
}

static PyObject *Block_get_address(BlockObject *b, void *closure)
{
    (void)closure;
    if (block_live(b) < 0) return NULL;
    return PyLong_FromVoidPtr(b->ptr);
}

static PyObject *Block_get_size(BlockObject *b, void *closure)
{
    (void)closure;
    if (block_live(b) < 0) return NULL;
    return PyLong_FromSize_t(b->size);
}

static PyObject *Block_get_usable_size(BlockObject *b, void *closure)
{
    (void)closure;
    if (block_live(b) < 0) return NULL;
    return PyLong_FromSize_t(table.usable_size(b->ptr));
}

static PyObject *Block_get_alignment(BlockObject *b, void *closure)
{
    (void)closure;
    if (block_live(b) < 0) return NULL;
    return PyLong_FromSize_t(b->align > 16 ? b->align : 16);
}

static PyObject *Block_get_freed(BlockObject *b, void *closure)
{
    (void)closure;
    return PyBool_FromLong(b->state != BLOCK_LIVE || block_orphan(b));
}

static PyObject *Block_get_heap_state(BlockObject *b, void *closure)
{
    (void)closure;
    if (b->heap == NULL) Py_RETURN_NONE;
    Py_INCREF(b->heap);
    return (PyObject *)b->heap;
}

static Py_ssize_t Block_length(BlockObject *b)
{
    if (block_live(b) < 0) return -1;
    return (Py_ssize_t)b->size;
}

static PyObject *Block_repr(BlockObject *b)
{
    if (b->state == BLOCK_LIVE && block_orphan(b))
        return PyUnicode_FromString("<hakmem.Block of a destroyed Heap>");
    if (b->state != BLOCK_LIVE)
        return PyUnicode_FromFormat("<hakmem.Block %s>",
                                    b->state == BLOCK_FREED ? "freed" : "moved by realloc");
    return PyUnicode_FromFormat("<hakmem.Block of %zu bytes at %p>", b->size, b->ptr);
}

static int Block_getbuffer(BlockObject *b, Py_buffer *view, int flags)
{
    if (block_live(b) < 0) {
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)b, b->ptr, (Py_ssize_t)b->size, 0, flags) < 0)
        return -1;
    b->exports++;
    if (b->heap != NULL) b->heap->exports++;
    return 0;
}

static void Block_releasebuffer(BlockObject *b, Py_buffer *view)
{
    (void)view;
    b->exports--;
    if (b->heap != NULL) b->heap->exports--;
}

static PyBufferProcs Block_as_buffer = {
    (getbufferproc)Block_getbuffer,
    (releasebufferproc)Block_releasebuffer,
};

static PySequenceMethods Block_as_sequence = {.sq_length = (lenfunc)Block_length};

static PyMethodDef Block_methods[] = {
    {"free", (PyCFunction)Block_free, METH_NOARGS,
     "free()\n--\n\nGive the block back to hakmem. Raises ValueError if it was already freed "
     "and BufferError while a memoryview or other buffer still uses it."},
    {"__enter__", (PyCFunction)Block_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Block_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Block_getset[] = {
    {"address", (getter)Block_get_address, NULL, "The block's address, an int.", NULL},
    {"size", (getter)Block_get_size, NULL, "The size that was asked for (the buffer's length).",
     NULL},
    {"usable_size", (getter)Block_get_usable_size, NULL,
     "Bytes hakmem actually reserved (hak_usable_size), >= size.", NULL},
    {"alignment", (getter)Block_get_alignment, NULL, "The alignment the address is known to have.",
     NULL},
    {"freed", (getter)Block_get_freed, NULL,
     "True once the block was freed or moved (or its Heap destroyed).", NULL},
    {"_heap_state", (getter)Block_get_heap_state, NULL,
     "The HeapState of the Heap it was allocated in, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Block_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hakmem.Block",
    .tp_basicsize = sizeof(BlockObject),
    .tp_dealloc = (destructor)Block_dealloc,
    .tp_repr = (reprfunc)Block_repr,
    .tp_as_sequence = &Block_as_sequence,
    .tp_as_buffer = &Block_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A block of memory from hakmem.\n\n"
              "Made by hakmem.malloc, calloc, aligned_alloc and realloc. Supports the buffer "
              "protocol (memoryview(block), bytes(block), numpy.frombuffer(block)), and is freed "
              "once: by free(), at the end of a with block, or when it is collected.",
    .tp_weaklistoffset = offsetof(BlockObject, weakrefs),
    .tp_methods = Block_methods,
    .tp_getset = Block_getset,
};

static PyObject *core_malloc(PyObject *module, PyObject *arg)
{
    (void)module;
    size_t n;
    if (check_bound() < 0 || size_arg(arg, "size", &n) < 0) return NULL;
    void *p = table.malloc(n);
    return p != NULL ? block_new(p, n, 0) : no_memory(n);
}

static PyObject *core_calloc(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *on, *osize;
    size_t n, size, total;
    if (!PyArg_ParseTuple(args, "OO:calloc", &on, &osize)) return NULL;
    if (check_bound() < 0 || size_arg(on, "count", &n) < 0 || size_arg(osize, "size", &size) < 0)
        return NULL;
    if (__builtin_mul_overflow(n, size, &total) || total > (size_t)PY_SSIZE_T_MAX)
        return PyErr_Format(PyExc_MemoryError, "calloc(%zu, %zu): the product is too large", n,
                            size);
    void *p = table.calloc(n, size);
    return p != NULL ? block_new(p, total, 0) : no_memory(total);
}

static PyObject *core_aligned_alloc(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *oalign, *osize;
    size_t align, n;
    if (!PyArg_ParseTuple(args, "OO:aligned_alloc", &oalign, &osize)) return NULL;
    if (check_bound() < 0 || align_arg(oalign, &align) < 0 || size_arg(osize, "size", &n) < 0)
        return NULL;
    void *p = table.aligned_alloc(align, n);
    if (p == NULL)
        return PyErr_Format(PyExc_MemoryError,
                            "hakmem could not allocate %zu bytes aligned to %zu", n, align);
    return block_new(p, n, align);
}

/* realloc(block, size): a new Block for the resized memory; the old Block
 * is spent (as the C pointer is). On failure the old Block stays valid.
 * A block from aligned_alloc keeps its alignment (hak_realloc_layout). */
static PyObject *core_realloc(PyObject *module, PyObject *args)
{
    PyObject *oblock, *osize;
    size_t n;
    if (!PyArg_ParseTuple(args, "OO:realloc", &oblock, &osize)) return NULL;
    if (oblock == Py_None) return core_malloc(module, osize);
    if (!PyObject_TypeCheck(oblock, &Block_Type))
        return PyErr_Format(PyExc_TypeError, "realloc() needs a hakmem.Block or None, not %.100s",
                            Py_TYPE(oblock)->tp_name);
    BlockObject *b = (BlockObject *)oblock;
    if (check_bound() < 0 || block_live(b) < 0 || size_arg(osize, "size", &n) < 0 ||
        block_unexported(b, "realloc") < 0)
        return NULL;
    /* C's realloc(p, 0) frees p; a Block of size 0 keeps a (1-byte) block. */
    size_t ask = n != 0 ? n : 1;
    void *q = b->align > 16 ? table.realloc_layout(b->ptr, b->size, b->align, ask)
                            : table.realloc(b->ptr, ask);
    if (q == NULL) return no_memory(n);
    /* A heap's block stays in its heap (hak_realloc keeps it there). */
    block_unregister(b);
    b->ptr = NULL;
    b->state = BLOCK_MOVED;
    return block_new_in(q, n, b->align, b->heap);
}

/* owns(address or Block): hak_owns, safe for any value. */
static PyObject *core_owns(PyObject *module, PyObject *arg)
{
    (void)module;
    if (check_bound() < 0) return NULL;
    if (PyObject_TypeCheck(arg, &Block_Type)) {
        BlockObject *b = (BlockObject *)arg;
        return PyBool_FromLong(b->state == BLOCK_LIVE && !block_orphan(b) && table.owns(b->ptr));
    }
    if (!PyLong_Check(arg))
        return PyErr_Format(PyExc_TypeError, "owns() needs an int address or a Block, not %.100s",
                            Py_TYPE(arg)->tp_name);
    unsigned long long a = PyLong_AsUnsignedLongLong(arg);
    if (a == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear(); /* negative or wider than a pointer: no block lives there */
        Py_RETURN_FALSE;
    }
    if (a > UINTPTR_MAX) Py_RETURN_FALSE;
    return PyBool_FromLong(table.owns((const void *)(uintptr_t)a));
}

/* ---- pymem: CPython's allocators through hakmem --------------------------
 *
 * install() wraps the current allocator of each domain (it never replaces
 * it outright): a new block comes from hakmem; free and realloc ask hak_owns
 * (O(1), safe for any pointer, and false for every pointer of another
 * allocator, whose memory never lies in hakmem's arena or its large set), and
 * hand blocks that the previous allocator gave out back to it. free asks
 * through hak_free_if_owned, which frees in the same call.
 *
 * uninstall() cannot take the wrappers out again: blocks hakmem handed out
 * meanwhile (interned strings, module dicts) may live until exit, and the
 * previous allocator would crash on them. It sends new allocations back to
 * the previous allocator at once; the wrappers stay, only to free and resize
 * hakmem's remaining blocks.
 *
 * The raw domain is called without the GIL, from any thread: the hooks read
 * only `table`, the saved allocators (both fixed before a hook is installed)
 * and one atomic flag per domain, and hakmem itself is thread-safe. Each hook
 * is installed with the previous allocator's ctx and ignores its own ctx, so
 * a thread that reads the allocator struct half-updated still makes a valid
 * call, whichever half it got.
 */
static PyMemAllocatorEx pm_prev[3];
static int pm_hooked[3];
static _Atomic int pm_on[3];
static _Atomic unsigned long long pm_new_blocks[3], pm_prev_frees[3], pm_prev_reallocs[3];

static inline int pm_active(int d) { return atomic_load_explicit(&pm_on[d], memory_order_relaxed); }

static inline void pm_count(_Atomic unsigned long long *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Counting every new block would put an atomic on CPython's hottest path;
 * new_blocks counts the first 2**16 per domain only, which is enough for
 * "did hakmem serve anything", and frees of old blocks are rare. */
#define PM_COUNT_NEW(d)                                                                  \
    do {                                                                                 \
        if (atomic_load_explicit(&pm_new_blocks[d], memory_order_relaxed) < (1u << 16)) \
            pm_count(&pm_new_blocks[d]);                                                 \
    } while (0)

#define PM_DOMAIN(d, name)                                                               \
    static void *pm_malloc_##name(void *ctx, size_t n)                                   \
    {                                                                                    \
        (void)ctx;                                                                       \
        if (!pm_active(d)) return pm_prev[d].malloc(pm_prev[d].ctx, n);                  \
        PM_COUNT_NEW(d);                                                                 \
        return table.malloc(n);                                                          \
    }                                                                                    \
    static void *pm_calloc_##name(void *ctx, size_t n, size_t size)                      \
    {                                                                                    \
        (void)ctx;                                                                       \
        if (!pm_active(d)) return pm_prev[d].calloc(pm_prev[d].ctx, n, size);            \
        PM_COUNT_NEW(d);                                                                 \
        return table.calloc(n, size);                                                    \
    }                                                                                    \
    static void *pm_realloc_##name(void *ctx, void *p, size_t n)                         \
    {                                                                                    \
        (void)ctx;                                                                       \
        if (p == NULL) return pm_malloc_##name(ctx, n);                                  \
        if (!table.owns(p)) {                                                            \
            pm_count(&pm_prev_reallocs[d]);                                              \
            return pm_prev[d].realloc(pm_prev[d].ctx, p, n);                             \
        }                                                                                \
        /* PyMem_Realloc(p, 0) keeps a block; hak_realloc(p, 0) would free p. */         \
        return table.realloc(p, n != 0 ? n : 1);                                         \
    }                                                                                    \
    static void pm_free_##name(void *ctx, void *p)                                       \
    {                                                                                    \
        (void)ctx;                                                                       \
        if (p == NULL || table.free_if_owned(p)) return;                                 \
        pm_count(&pm_prev_frees[d]);                                                     \
        pm_prev[d].free(pm_prev[d].ctx, p);                                              \
    }

PM_DOMAIN(PYMEM_DOMAIN_RAW, raw)
PM_DOMAIN(PYMEM_DOMAIN_MEM, mem)
PM_DOMAIN(PYMEM_DOMAIN_OBJ, obj)

static PyMemAllocatorEx pm_hook(int d)
{
    PyMemAllocatorEx h = {pm_prev[d].ctx, NULL, NULL, NULL, NULL};
    switch (d) {
    case PYMEM_DOMAIN_RAW:
        h.malloc = pm_malloc_raw, h.calloc = pm_calloc_raw;
        h.realloc = pm_realloc_raw, h.free = pm_free_raw;
        break;
    case PYMEM_DOMAIN_MEM:
        h.malloc = pm_malloc_mem, h.calloc = pm_calloc_mem;
        h.realloc = pm_realloc_mem, h.free = pm_free_mem;
        break;
    default:
        h.malloc = pm_malloc_obj, h.calloc = pm_calloc_obj;
        h.realloc = pm_realloc_obj, h.free = pm_free_obj;
        break;
    }
    return h;
}

static int domain_arg(PyObject *o, int *d)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v != PYMEM_DOMAIN_RAW && v != PYMEM_DOMAIN_MEM && v != PYMEM_DOMAIN_OBJ) {
        PyErr_Format(PyExc_ValueError, "unknown allocator domain %ld", v);
        return -1;
    }
    *d = (int)v;
    return 0;
}

static PyObject *core_pymem_install(PyObject *module, PyObject *arg)
{
    (void)module;
    int d;
    if (check_bound() < 0 || domain_arg(arg, &d) < 0) return NULL;
    if (!pm_hooked[d]) {
        PyMem_GetAllocator((PyMemAllocatorDomain)d, &pm_prev[d]);
        atomic_store_explicit(&pm_on[d], 1, memory_order_relaxed);
        /* pm_prev is written before any thread can reach a hook that reads it. */
        atomic_thread_fence(memory_order_release);
        PyMemAllocatorEx h = pm_hook(d);
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &h);
        pm_hooked[d] = 1;
    } else {
        /* Our hook is still in the chain (perhaps wrapped by another, such
         * as tracemalloc's): switching it back on is all it takes. */
        atomic_store_explicit(&pm_on[d], 1, memory_order_release);
    }
    Py_RETURN_NONE;
}

static PyObject *core_pymem_uninstall(PyObject *module, PyObject *arg)
{
    (void)module;
    int d;
    if (domain_arg(arg, &d) < 0) return NULL;
    atomic_store_explicit(&pm_on[d], 0, memory_order_release);
    Py_RETURN_NONE;
}

static PyObject *core_pymem_state(PyObject *module, PyObject *arg)
{
    (void)module;
    int d;
    if (domain_arg(arg, &d) < 0) return NULL;
    return Py_BuildValue("{s:O,s:O,s:K,s:K,s:K}", "installed", pm_active(d) ? Py_True : Py_False,
                         "hooked", pm_hooked[d] ? Py_True : Py_False, "new_blocks",
                         atomic_load(&pm_new_blocks[d]), "previous_frees",
                         atomic_load(&pm_prev_frees[d]), "previous_reallocs",
                         atomic_load(&pm_prev_reallocs[d]));
}

/* ---- HeapState (hakmem.heap) ------------------------------------------------- */

/* HeapState(registry): a new first-class heap; registry maps addresses to
 * the Blocks made in it (heap.py gives a WeakValueDictionary). */
static PyObject *HeapState_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *registry;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "HeapState() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O:HeapState", &registry) || check_bound() < 0) return NULL;
    HeapStateObject *hs = (HeapStateObject *)type->tp_alloc(type, 0);
    if (hs == NULL) return NULL;
    hak_heap_t *h;
    Py_BEGIN_ALLOW_THREADS
    h = table.heap_new();
    Py_END_ALLOW_THREADS
    if (h == NULL) {
        Py_DECREF(hs);
        return PyErr_Format(PyExc_MemoryError, "hakmem could not create a heap");
    }
    hs->heap = h;
    hs->exports = 0;
    Py_INCREF(registry);
    hs->registry = registry;
    return (PyObject *)hs;
}

/* The C heap goes when the last reference does (every Block of it has
 * freed its memory by then, or was never Python's). */
static void HeapState_dealloc(HeapStateObject *hs)
{
    if (hs->heap != NULL) table.heap_destroy(hs->heap);
    Py_XDECREF(hs->registry);
    Py_TYPE(hs)->tp_free((PyObject *)hs);
}

/* destroy(): every block of the heap freed at once; its Blocks refuse every
 * use from then on. BufferError (nothing destroyed) while a buffer of one of
 * them is alive; a second call does nothing. */
static PyObject *HeapState_destroy(HeapStateObject *hs, PyObject *unused)
{
    (void)unused;
    if (hs->heap == NULL) Py_RETURN_NONE;
    if (hs->exports != 0)
        return PyErr_Format(PyExc_BufferError,
                            "cannot destroy a hakmem Heap while %zd buffer(s) (memoryviews, "
                            "arrays) of its Blocks are alive; release them first",
                            hs->exports);
    hak_heap_t *h = hs->heap;
    /* First: from here on no Block of it gives out its memory or frees it. */
    hs->heap = NULL;
    Py_BEGIN_ALLOW_THREADS
    table.heap_destroy(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *HeapState_get_handle(HeapStateObject *hs, void *closure)
{
    (void)closure;
    if (hs->heap == NULL) Py_RETURN_NONE;
    return PyLong_FromVoidPtr(hs->heap);
}

static PyObject *HeapState_get_exports(HeapStateObject *hs, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(hs->exports);
}

/* adopt(address, size, alignment): a Block for a block of this heap that
 * heap.py allocated (alignment 0: 16). The memory is freed if no Block can
 * be made. */
static PyObject *HeapState_adopt(HeapStateObject *hs, PyObject *args)
{
    PyObject *oaddr;
    Py_ssize_t size, align;
    if (!PyArg_ParseTuple(args, "Onn:adopt", &oaddr, &size, &align)) return NULL;
    void *p = PyLong_AsVoidPtr(oaddr);
    if (p == NULL && PyErr_Occurred()) return NULL;
    if (hs->heap == NULL) {
        PyErr_SetString(PyExc_ValueError, "use of a destroyed hakmem Heap");
        return NULL;
    }
    if (p == NULL || size < 0 || align < 0) {
        PyErr_SetString(PyExc_ValueError, "adopt(): a block address, a size and an alignment");
        return NULL;
    }
    return block_new_in(p, (size_t)size, (size_t)align, hs);
}

static PyMethodDef HeapState_methods[] = {
    {"destroy", (PyCFunction)HeapState_destroy, METH_NOARGS,
     "destroy()\n--\n\nhak_heap_destroy; BufferError while a buffer of one of its Blocks "
     "is alive (nothing is destroyed then)."},
    {"adopt", (PyCFunction)HeapState_adopt, METH_VARARGS,
     "adopt(address, size, alignment, /)\n--\n\nThe Block for a block just allocated in "
     "this heap."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef HeapState_getset[] = {
    {"handle", (getter)HeapState_get_handle, NULL,
     "The hak_heap_t * as an int; None once destroyed.", NULL},
    {"exports", (getter)HeapState_get_exports, NULL,
     "Buffers of its Blocks alive now.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject HeapState_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hakmem._core.HeapState",
    .tp_basicsize = sizeof(HeapStateObject),
    .tp_dealloc = (destructor)HeapState_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The C side of hakmem.Heap: one first-class heap (internal).",
    .tp_new = HeapState_new,
    .tp_methods = HeapState_methods,
    .tp_getset = HeapState_getset,
};

/* ---- module ---------------------------------------------------------------- */

static PyMethodDef core_methods[] = {
    {"bind", core_bind, METH_O,
     "bind(path) -> (is_process_instance, library)\n\nBind to the hakmem already in the "
     "process, or load the library at path. Once."},
    {"is_active", core_is_active, METH_NOARGS,
     "True when hakmem is the process allocator (malloc is hakmem's)."},
    {"malloc", core_malloc, METH_O,
     "malloc(size, /)\n--\n\nA Block of size bytes from hakmem (contents undefined).\n"
     "ValueError for a negative size, MemoryError when hakmem cannot allocate it."},
    {"calloc", core_calloc, METH_VARARGS,
     "calloc(count, size, /)\n--\n\nA zeroed Block of count*size bytes. MemoryError when "
     "the product overflows or hakmem cannot allocate it."},
    {"aligned_alloc", core_aligned_alloc, METH_VARARGS,
     "aligned_alloc(alignment, size, /)\n--\n\nA Block whose address is a multiple of "
     "alignment (a power of two, else ValueError). realloc() keeps the alignment."},
    {"realloc", core_realloc, METH_VARARGS,
     "realloc(block, size, /)\n--\n\nResize block (a Block, or None for malloc) to size "
     "bytes, keeping its contents up to the smaller size. Returns a new Block; the old one may "
     "no longer be used (ValueError). On MemoryError the old Block is unchanged; BufferError "
     "while a memoryview still uses it."},
    {"owns", core_owns, METH_O,
     "owns(address, /)\n--\n\nTrue if the int address (or Block) is a block in hakmem's "
     "memory (hak_owns). Safe for any value."},
    {"pymem_install", core_pymem_install, METH_O, NULL},
    {"pymem_uninstall", core_pymem_uninstall, METH_O, NULL},
    {"pymem_state", core_pymem_state, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "hakmem._core", "The CPython side of hakmem (see core.c).", -1,
    core_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&Block_Type) < 0 || PyType_Ready(&HeapState_Type) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    Py_INCREF(&Block_Type);
    Py_INCREF(&HeapState_Type);
    if (PyModule_AddObject(m, "Block", (PyObject *)&Block_Type) < 0 ||
        PyModule_AddObject(m, "HeapState", (PyObject *)&HeapState_Type) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_RAW", PYMEM_DOMAIN_RAW) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_MEM", PYMEM_DOMAIN_MEM) < 0 ||
        PyModule_AddIntConstant(m, "DOMAIN_OBJ", PYMEM_DOMAIN_OBJ) < 0 ||
        PyModule_AddIntConstant(m, "CAPI_VERSION", HAKMEM_CAPI_VERSION) < 0) {
        Py_DECREF(&Block_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
