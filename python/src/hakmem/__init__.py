"""hakmem: the hakmem allocator from Python.

    >>> import hakmem
    >>> with hakmem.malloc(64) as block:
    ...     memoryview(block)[:5] = b"hello"
    ...     bytes(block)[:5]
    b'hello'

Layers, from the bottom (as in pynacl): ``hakmem.ffi`` / ``hakmem.lib``, the
C ABI of include/hakmem.h as is (cffi); a thin checking layer
(hakmem._bindings); and this module's Pythonic API, with the :class:`Block`
type from hakmem._core. Submodules: :mod:`hakmem.stress` (stress kernels in
C, trace replay), :mod:`hakmem.bench` (the benchmark suite, allocator
comparisons), :mod:`hakmem.pymem` (CPython's allocator through hakmem).

One hakmem per process: when hakmem is already loaded (preloaded as the
process allocator, linked, or loaded privately by an extension), the package
binds to that instance; otherwise it loads its own ``libhakmem_api.so``, the
build that is safe to load into a running process (or, when glibc's static
TLS surplus has no room left for its one initial-exec pointer,
``libhakmem_api_dyn.so``, the same with that pointer in dynamic TLS, about 3%
slower under :mod:`hakmem.pymem`). Two instances would each refuse
the other's pointers; :func:`library_path` names the file the package calls,
so ``ctypes.CDLL(hakmem.library_path())`` reaches the same instance.
"""
from __future__ import annotations

import os as _os
TYPE_CHECKING = False  # typing's, without importing typing: type checkers take it as true

if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings
    from typing import Dict, Union

from . import _core

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def get_library_dir() -> str:
    """Directory holding libhakmem.so and libhakmem_api.so, for ``-L`` and rpath."""
    return _os.path.join(_HERE, "lib")


def preload_library_path() -> str:
    """The package's ``libhakmem.so``: the process allocator (``malloc`` and
    the whole family), for ``LD_PRELOAD``. Never ``dlopen`` it into a running
    process: that makes a second hakmem (use :func:`library_path`)."""
    return _os.path.join(get_library_dir(), "libhakmem.so")


def api_library_path() -> str:
    """The package's ``libhakmem_api.so``: ``hak_*`` only, safe to dlopen or to
    link an extension to. The package loads it unless a hakmem was already in
    the process (or ``libhakmem_api_dyn.so`` beside it, when glibc refuses this
    one for want of static TLS: :func:`library_path` tells which)."""
    return _os.path.join(get_library_dir(), "libhakmem_api.so")


def get_include() -> str:
    """Directory holding hakmem.h and hakmem_capi.h, for C extensions."""
    return _os.path.join(_HERE, "include")


_bound_to_process, _loaded_library = _core.bind(api_library_path())
_C_API = _core._C_API  # the capsule "hakmem._C_API" (hakmem_capi.h)

if TYPE_CHECKING:  # for type checkers, the lazy attributes below are plain imports
    from . import _bindings, bench, stress  # noqa: F401
    from ._lib import ffi, lib  # noqa: F401
    from .heap import Heap  # noqa: F401

    #: The version of the hakmem library the package is bound to (hak_version()).
    __version__: str

Block = _core.Block
malloc = _core.malloc
calloc = _core.calloc
aligned_alloc = _core.aligned_alloc
realloc = _core.realloc
owns = _core.owns


def is_active() -> bool:
    """True when hakmem is the process allocator (``malloc`` itself is
    hakmem's), as with ``LD_PRELOAD=$(python -c 'import hakmem;
    print(hakmem.preload_library_path())')`` or ``python -m hakmem run``."""
    return _core.is_active()


def library_path() -> str:
    """The file of the hakmem library this package calls: the preloaded or
    linked one when the process had one, else the package's
    ``libhakmem_api.so``. ``dlopen`` (``ctypes.CDLL``) of this path returns
    the library already loaded, so C code reached that way shares the
    package's hakmem. For ``LD_PRELOAD`` use :func:`preload_library_path`."""
    if _loaded_library is None:
        raise RuntimeError("hakmem: cannot tell which file the bound library is (dladdr failed)")
    return _loaded_library


def loaded_library() -> str:
    """The same as :func:`library_path` (kept for older code)."""
    return library_path()


def bound_to_process() -> bool:
    """True when the package uses a hakmem that was already in the process
    rather than loading its own copy."""
    return bool(_bound_to_process)


def stats() -> Dict[str, Union[int, bool]]:
    """``hak_stats_get()`` as a dict: bytes in use, cached, committed,
    mapped; SuperSlabs, spans, large blocks; and, when the process started
    with ``HAKMEM_STATS=1`` or ``HAKMEM_FREE_ROUTE_TRACE=1``
    (``stats_enabled``), calls per tier and the route every free took."""
    from . import _bindings

    return _bindings.hak_stats_get()


def collect() -> int:
    """``hak_collect()``: give cached memory back to the OS now; the bytes released."""
    from . import _bindings

    return _bindings.hak_collect()


from . import pymem  # noqa: E402

# cffi (hakmem.ffi, hakmem.lib and what uses them: Heap, __version__) costs a
# few milliseconds at import, the benchmark harness (bench, stress: argparse,
# subprocess, dataclasses...) tens: each is imported on first use, so that
# ``import hakmem.pymem`` before install(), the first thing a program runs,
# costs no more than the hooks need.
_LAZY_MODULES = {"bench": ".bench", "stress": ".stress", "ffi": "._lib", "lib": "._lib",
                 "Heap": ".heap"}


def __getattr__(name: str) -> object:
    if name == "__version__":
        from ._lib import ffi, lib

        version = ffi.string(lib.hak_version()).decode("ascii")
        globals()["__version__"] = version
        return version
    if name in _LAZY_MODULES:
        import importlib

        module = importlib.import_module(_LAZY_MODULES[name], __name__)
        value = module if name in ("bench", "stress") else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


__all__ = [
    "Block", "Heap", "aligned_alloc", "api_library_path", "bench", "bound_to_process", "calloc",
    "collect", "ffi", "get_include", "get_library_dir", "is_active", "lib", "library_path",
    "loaded_library", "malloc", "owns", "preload_library_path", "pymem", "realloc", "stats",
    "stress",
]
