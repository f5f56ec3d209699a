#define PY_SSIZE_T_CLEAN
#include <Python.h>
#ifdef DEMO_LINKED
#include "hakmem.h"
#define MODINIT PyInit_demo_linked
#define MODNAME "demo_linked"
#else
#define HAKMEM_CAPI_NAMES /* hak_* become calls through the capsule's table */
#include "hakmem_capi.h"
#define MODINIT PyInit_demo_capsule
#define MODNAME "demo_capsule"
#endif

static PyObject *alloc(PyObject *self, PyObject *arg)
{
    (void)self;
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    void *p = hak_malloc(n);
    return p != NULL ? PyLong_FromVoidPtr(p) : PyErr_NoMemory();
}

static PyObject *release(PyObject *self, PyObject *arg)
{
    (void)self;
    hak_free(PyLong_AsVoidPtr(arg));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"alloc", alloc, METH_O, "alloc(n) -> address of n bytes from hakmem"},
    {"release", release, METH_O, "release(address)"},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, MODNAME, NULL, -1, methods};

PyMODINIT_FUNC MODINIT(void)
{
#ifndef DEMO_LINKED
    if (import_hakmem() < 0) return NULL; /* takes hakmem._C_API */
#endif
    return PyModule_Create(&module);
}
