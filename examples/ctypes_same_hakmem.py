"""C code reached through ctypes shares the package's hakmem.

hakmem.library_path() names the very file the package calls, so
ctypes.CDLL of it returns the library already loaded: one hakmem, whose
blocks both sides own. (hakmem.preload_library_path() is for LD_PRELOAD:
loading it into a running process would make a second hakmem.)

    python examples/ctypes_same_hakmem.py
"""
import ctypes

import hakmem


def main() -> None:
    c = ctypes.CDLL(hakmem.library_path())
    c.hak_malloc.restype = ctypes.c_void_p
    c.hak_malloc.argtypes = [ctypes.c_size_t]
    c.hak_owns.argtypes = [ctypes.c_void_p]
    c.hak_usable_size.restype = ctypes.c_size_t
    c.hak_usable_size.argtypes = [ctypes.c_void_p]
    c.hak_free.argtypes = [ctypes.c_void_p]

    block = hakmem.malloc(100)
    print("ctypes sees the package's block:", bool(c.hak_owns(block.address)),
          "usable", c.hak_usable_size(block.address))
    p = c.hak_malloc(200)
    print("the package sees ctypes' block:", hakmem.owns(p))
    c.hak_free(p)
    block.free()


if __name__ == "__main__":
    main()
