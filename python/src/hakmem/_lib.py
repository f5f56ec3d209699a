"""hakmem._native (the cffi module) bound to the hakmem instance the package
chose (hakmem._core.bind, run by the package's __init__): the modules that
call C through cffi import ffi and lib from here, never from _native, so no
cffi call reaches an unbound library. Imported on first use only (hakmem's
__getattr__): cffi costs milliseconds at import.
"""
from ._native import ffi, lib

if lib.hakpy_bind() != 0:
    raise ImportError(ffi.string(lib.hakpy_bind_error()).decode("utf-8", "replace"))

__all__ = ["ffi", "lib"]
