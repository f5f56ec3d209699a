"""C extensions against hakmem: one source built both ways, linked to the
package's libhakmem_api.so and through the capsule (hakmem_capi.h), and both
must reach the same hakmem instance as the package."""
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sysconfig

import pytest

import hakmem
from hakmem import ffi, lib
from conftest import clean_env, run_python

pytestmark = pytest.mark.slow

DEMO = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#ifdef USE_CAPSULE
#define HAKMEM_CAPI_NAMES /* hak_* become calls through the capsule's table */
#include "hakmem_capi.h"
#else
#include "hakmem.h"
#endif

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define STR2(a) #a
#define STR(a) STR2(a)

static PyObject *alloc(PyObject *self, PyObject *arg)
{
    (void)self;
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    unsigned char *p = hak_malloc(n);
    if (p == NULL) return PyErr_NoMemory();
    memset(p, 0xAB, n);
    return PyLong_FromVoidPtr(p);
}

static PyObject *release(PyObject *self, PyObject *arg)
{
    (void)self;
    void *p = PyLong_AsVoidPtr(arg);
    if (p == NULL && PyErr_Occurred()) return NULL;
    hak_free(p);
    Py_RETURN_NONE;
}

static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyUnicode_FromString(hak_version());
}

/* (sum of the bytes, hak_owns, hak_usable_size) of any buffer: a Block too. */
static PyObject *inspect(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    unsigned long long sum = 0;
    for (Py_ssize_t i = 0; i < view.len; i++) sum += ((unsigned char *)view.buf)[i];
    int owns = hak_owns(view.buf);
    size_t usable = owns ? hak_usable_size(view.buf) : 0;
    PyBuffer_Release(&view);
    return Py_BuildValue("(Kin)", sum, owns, (Py_ssize_t)usable);
}

static PyMethodDef methods[] = {
    {"alloc", alloc, METH_O, NULL},
    {"release", release, METH_O, NULL},
    {"version", version, METH_NOARGS, NULL},
    {"inspect", inspect, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, STR(MODNAME), NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC CAT(PyInit_, MODNAME)(void)
{
#ifdef USE_CAPSULE
    if (import_hakmem() < 0) return NULL;
#endif
    return PyModule_Create(&module);
}
"""


def cc():
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def build(tmp_path, name, capsule, include=None):
    src = tmp_path / "demo.c"
    src.write_text(DEMO)
    out = tmp_path / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    args = cc() + ["-std=c11", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror",
                   "-DMODNAME=" + name, "-I" + sysconfig.get_paths()["include"],
                   "-I" + (include or hakmem.get_include()), str(src), "-o", str(out)]
    if capsule:
        args.append("-DUSE_CAPSULE")
    else:
        lib_dir = hakmem.get_library_dir()
        args += ["-L" + lib_dir, "-lhakmem_api", "-Wl,-rpath," + lib_dir]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return out, p


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exts(tmp_path_factory):
    if shutil.which(cc()[0]) is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("ext")
    mods = {}
    for name, capsule in (("demo_linked", False), ("demo_capsule", True)):
        path, p = build(d, name, capsule)
        assert p.returncode == 0, p.stdout
        mods[name] = (load(path, name), path)
    return mods


@pytest.mark.parametrize("name", ["demo_linked", "demo_capsule"])
def test_extension_uses_the_packages_hakmem(exts, name):
    mod, _ = exts[name]
    assert mod.version() == hakmem.__version__
    # Its blocks are hakmem's, and the package can free them...
    addr = mod.alloc(100)
    assert hakmem.owns(addr)
    assert ffi.buffer(ffi.cast("char *", addr), 100)[:] == b"\xab" * 100
    lib.hak_free(ffi.cast("void *", addr))
    # ...and the other way round.
    p = lib.hak_malloc(5000)
    mod.release(int(ffi.cast("uintptr_t", p)))
    # A Block through the buffer protocol, seen from C.
    b = hakmem.malloc(300)
    memoryview(b)[:] = bytes(range(256)) + bytes(44)
    assert mod.inspect(b) == (sum(range(256)), 1, b.usable_size)
    assert mod.inspect(b"abc")[1] == 0  # not hakmem's
    b.free()


def test_linked_extension_shares_the_loaded_library(exts):
    _, path = exts["demo_linked"]
    with open("/proc/self/maps") as f:
        maps = f.read()
    # One copy of the api library in the process: the package's.
    paths = set(re.findall(r"(/\S*libhakmem_api\.so)", maps))
    assert len({os.path.realpath(p) for p in paths}) == 1, paths


def test_both_ways_under_a_preloaded_hakmem(exts):
    """With hakmem preloaded, both extensions reach the process allocator."""
    (_, linked), (_, capsule) = exts["demo_linked"], exts["demo_capsule"]
    p = run_python("""
        import ctypes, importlib.util, hakmem
        assert hakmem.is_active() and hakmem.bound_to_process()
        for name, path in (("demo_linked", %r), ("demo_capsule", %r)):
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            addr = mod.alloc(64)
            assert hakmem.owns(addr)
            libc = ctypes.CDLL(None)
            libc.free(ctypes.c_void_p(addr))  # the process's free: the same hakmem
        print("ok")
    """ % (str(linked), str(capsule)), env=clean_env(LD_PRELOAD=hakmem.preload_library_path()))
    assert p.stdout.strip() == "ok"


def test_capsule_header_checks_the_table_against_hakmem_h(tmp_path):
    """If hakmem.h changes a prototype the table does not follow, extensions
    that include hakmem_capi.h stop building (a static assert), rather than
    calling through a mistyped pointer."""
    inc = tmp_path / "inc"
    shutil.copytree(hakmem.get_include(), str(inc))
    header = (inc / "hakmem.h").read_text()
    changed = header.replace("void *hak_malloc(size_t size);", "void *hak_malloc(unsigned size);")
    assert changed != header
    (inc / "hakmem.h").write_text(changed)
    _, p = build(tmp_path, "demo_bad", True, include=str(inc))
    assert p.returncode != 0
    assert "hakmem_capi.malloc does not match hak_malloc" in p.stdout


def test_abi_mismatch_is_refused(tmp_path):
    """A preloaded hakmem with another ABI: import fails with a clear message
    instead of binding to it (and a second copy cannot be loaded beside it)."""
    if shutil.which(cc()[0]) is None:
        pytest.skip("no C compiler")
    names = re.findall(r"HAK_EXPORT[^;]*?\b(hak_\w+)\(", open(
        os.path.join(hakmem.get_include(), "hakmem.h")).read())
    assert "hak_malloc" in names and "hak_abi_version" in names
    src = tmp_path / "fake.c"
    src.write_text("\n".join(
        ["const char *hak_version(void) { return \"9.9.9\"; }",
         "int hak_abi_version(void) { return 99; }"]
        + ["void %s(void) {}" % n for n in names if n not in ("hak_version", "hak_abi_version")]))
    so = tmp_path / "libfake.so"
    subprocess.run(cc() + ["-shared", "-fPIC", str(src), "-o", str(so)], check=True)
    p = run_python("import hakmem", env=clean_env(LD_PRELOAD=str(so)), check=False)
    assert p.returncode != 0
    assert "ImportError" in p.stderr and "ABI 99" in p.stderr


def test_a_hakmem_loaded_privately_first_is_the_one_used(tmp_path):
    """An extension linked to another copy of libhakmem_api.so (RTLD_LOCAL, so
    invisible to dlsym(RTLD_DEFAULT)) imported before hakmem: the package
    must bind to that copy instead of loading its own beside it."""
    if shutil.which(cc()[0]) is None:
        pytest.skip("no C compiler")
    other = tmp_path / "otherlib"
    other.mkdir()
    shutil.copy2(hakmem.api_library_path(), str(other / "libhakmem_api.so"))
    src = tmp_path / "demo.c"
    src.write_text(DEMO)
    out = tmp_path / ("demo_other" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(cc() + ["-shared", "-fPIC", "-DMODNAME=demo_other",
                           "-I" + sysconfig.get_paths()["include"], "-I" + hakmem.get_include(),
                           str(src), "-o", str(out), "-L" + str(other), "-lhakmem_api",
                           "-Wl,-rpath," + str(other)], check=True)
    p = run_python("""
        import importlib.util, os
        spec = importlib.util.spec_from_file_location("demo_other", %r)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)          # loads the other copy, privately
        addr = mod.alloc(64)
        import hakmem
        assert hakmem.bound_to_process()
        assert os.path.samefile(hakmem.loaded_library(), %r), hakmem.loaded_library()
        assert hakmem.owns(addr)
        maps = open("/proc/self/maps").read()
        assert hakmem.api_library_path() not in maps   # no second copy
        mod.release(addr)
        print("ok")
    """ % (str(out), str(other / "libhakmem_api.so")))
    assert p.stdout.strip() == "ok"


# ---- glibc's static TLS surplus full ----------------------------------------

HOG = """__attribute__((tls_model("initial-exec"))) __thread %s;
void *hog_addr(void) { return (void *)&hog; }
"""


def test_package_loads_its_own_initial_exec_library():
    """With room in glibc's static TLS surplus (any ordinary process), the
    package loads libhakmem_api.so, whose TLS pointer is initial-exec."""
    p = run_python("""
        import hakmem, os
        assert not hakmem.bound_to_process()
        assert os.path.samefile(hakmem.library_path(), hakmem.api_library_path())
        print("ok")
    """)
    assert p.stdout.strip() == "ok"


def test_full_static_tls_loads_the_dynamic_tls_library(tmp_path):
    """Libraries loaded before hakmem took the whole static TLS surplus, so
    that dlopen refuses libhakmem_api.so ("cannot allocate memory in static
    TLS block"): the package must say so once (a RuntimeWarning), load
    libhakmem_api_dyn.so instead, and allocate, free and serve CPython
    through it as usual."""
    if shutil.which(cc()[0]) is None:
        pytest.skip("no C compiler")
    # Libraries of initial-exec TLS in falling sizes (64 KiB down to a byte),
    # loaded greedily: what they leave of any surplus below 128 KiB is less
    # than a pointer, which the probe (8 bytes, aligned like hakmem's
    # pointer) proves before hakmem is imported.
    sizes = [1 << k for k in range(16, -1, -1)] + [8, 4, 2, 1, 1, 1]
    hogs = []
    for i, n in enumerate(sizes + [None]):
        src = tmp_path / ("hog%d.c" % i)
        src.write_text(HOG % ("void *hog" if n is None else "char hog[%d]" % n))
        out = tmp_path / ("libhog%d.so" % i)
        subprocess.run(cc() + ["-shared", "-fPIC", str(src), "-o", str(out)], check=True)
        hogs.append(str(out))
    probe = hogs.pop()
    p = run_python("""
        import ctypes, os
        for path in %r:
            try:
                ctypes.CDLL(path)
            except OSError as e:
                assert "static TLS" in str(e), e
        try:
            ctypes.CDLL(%r)
            raise SystemExit("static TLS still has room for a pointer: the test proves nothing")
        except OSError as e:
            assert "static TLS" in str(e), e
        import warnings
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            import hakmem
        told = [str(w.message) for w in said if issubclass(w.category, RuntimeWarning)]
        assert len(told) == 1 and "static TLS" in told[0] and "libhakmem_api_dyn.so" in told[0], told
        assert os.path.basename(hakmem.library_path()) == "libhakmem_api_dyn.so", hakmem.library_path()
        assert not hakmem.bound_to_process()
        with hakmem.malloc(64) as b:
            memoryview(b)[:2] = b"ok"
            assert bytes(b)[:2] == b"ok"
            assert hakmem.owns(b.address)
        import hakmem.pymem as pm
        pm.install()
        kept = [str(i) * 3 for i in range(20000)]
        assert pm.info()["obj"]["new_blocks"] > 0
        del kept
        pm.uninstall()
        print("ok")
    """ % (hogs, probe))
    assert p.stdout.strip() == "ok"
