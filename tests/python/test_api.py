"""The Python API: identity, Blocks, errors, stats, the low-level C ABI."""
import ctypes
import errno
import gc
import os
import re
import weakref

import pytest

import hakmem
from conftest import clean_env, run_python
from hakmem import ffi, lib


def alive_large_blocks():
    return hakmem.stats()["large_blocks"]


# ---- identity and paths ------------------------------------------------------------


def test_version_is_the_librarys():
    assert hakmem.__version__ == ffi.string(lib.hak_version()).decode()
    major, minor, patch = (int(x) for x in hakmem.__version__.split("."))
    assert (major, minor, patch) == (lib.HAKMEM_VERSION_MAJOR, lib.HAKMEM_VERSION_MINOR,
                                     lib.HAKMEM_VERSION_PATCH)
    assert lib.hak_abi_version() == lib.HAKMEM_ABI_VERSION


def test_version_matches_the_distribution():
    from importlib.metadata import version

    assert version("hakmem") == hakmem.__version__


def test_bundled_libraries_and_headers_exist():
    assert os.path.isfile(hakmem.preload_library_path())
    assert os.path.isfile(hakmem.api_library_path())
    assert os.path.dirname(hakmem.preload_library_path()) == hakmem.get_library_dir()
    with open(hakmem.preload_library_path(), "rb") as f:
        assert f.read(4) == b"\x7fELF"
    inc = hakmem.get_include()
    assert "hak_malloc" in open(os.path.join(inc, "hakmem.h")).read()
    assert "import_hakmem" in open(os.path.join(inc, "hakmem_capi.h")).read()
    assert os.access(hakmem.stress.runner_path(), os.X_OK)


def test_not_the_process_allocator_here():
    # pytest runs without a preload: the package loaded its own api library.
    assert not hakmem.is_active()
    assert not hakmem.bound_to_process()
    assert os.path.samefile(hakmem.loaded_library(), hakmem.api_library_path())


CDLL_SAME_HAKMEM = """
import ctypes, os, hakmem
def mapped():
    with open("/proc/self/maps") as f:
        return {os.path.realpath(l.split(None, 5)[5].strip()) for l in f
                if len(l.split(None, 5)) == 6 and "libhakmem" in l}
before = mapped()
c = ctypes.CDLL(hakmem.library_path())
c.hak_owns.argtypes = [ctypes.c_void_p]
c.hak_free.argtypes = [ctypes.c_void_p]
c.hak_malloc.restype = ctypes.c_void_p
c.hak_malloc.argtypes = [ctypes.c_size_t]
assert mapped() == before, (before, mapped())         # no second library
b = hakmem.malloc(64)
assert c.hak_owns(b.address) == 1                      # the package's block is its own
p = c.hak_malloc(100)
assert hakmem.owns(p)                                  # and its block is the package's
hakmem.lib.hak_free(hakmem.ffi.cast("void *", p))
print("one hakmem", len(before))
"""


@pytest.mark.parametrize("preloaded", [False, True])
def test_ctypes_cdll_of_library_path_is_the_same_hakmem(preloaded):
    """Item 9: ctypes.CDLL(hakmem.library_path()) used to load a second
    hakmem beside the package's, whose pointers the first refused."""
    env = clean_env(LD_PRELOAD=hakmem.preload_library_path()) if preloaded else clean_env()
    p = run_python(CDLL_SAME_HAKMEM, env=env)
    assert p.stdout == "one hakmem 1\n"


def test_capsule():
    cap = hakmem._C_API
    assert type(cap).__name__ == "PyCapsule"
    assert '"hakmem._C_API"' in repr(cap)


def test_block_cannot_be_made_directly():
    with pytest.raises(TypeError):
        hakmem.Block()


# ---- Blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 1024, 1025, 70000, 262144, 300000,
                                  3 << 20])
def test_malloc_write_read(size):
    b = hakmem.malloc(size)
    assert b.size == size == len(b)
    assert b.usable_size >= max(size, 1)
    assert b.address % 16 == 0
    assert hakmem.owns(b) and hakmem.owns(b.address)
    data = os.urandom(size)
    with memoryview(b) as m:
        assert m.nbytes == size and not m.readonly and m.format == "B"
        m[:] = data
    assert bytes(b) == data
    # The bytes really are at the address (not a copy somewhere else).
    assert ffi.buffer(ffi.cast("char *", b.address), size)[:] == data
    b.free()
    assert b.freed


def test_block_repr():
    b = hakmem.malloc(10)
    assert re.fullmatch(r"<hakmem.Block of 10 bytes at 0x[0-9a-f]+>", repr(b))
    b.free()
    assert repr(b) == "<hakmem.Block freed>"


def test_calloc_is_zero_even_over_dirty_memory():
    dirty = [hakmem.malloc(4000) for _ in range(64)]
    for d in dirty:
        memoryview(d)[:] = b"\xff" * 4000
        d.free()
    for _ in range(64):
        c = hakmem.calloc(1000, 4)
        assert c.size == 4000
        assert bytes(c) == bytes(4000)
        c.free()
    big = hakmem.calloc(3, 1 << 20)
    assert bytes(big) == bytes(3 << 20)


@pytest.mark.parametrize("align", [1 << k for k in range(0, 22)])
def test_aligned_alloc(align):
    blocks = [hakmem.aligned_alloc(align, n) for n in (1, align, 3 * align + 5)]
    for b in blocks:
        assert b.address % align == 0
        assert b.alignment == max(align, 16)
        memoryview(b)[:] = b"x" * b.size
    for b in blocks:
        assert bytes(b) == b"x" * b.size
        b.free()


def test_realloc_keeps_contents_and_spends_the_old_block():
    b = hakmem.malloc(100)
    memoryview(b)[:] = bytes(range(100))
    for size in (200, 5000, 100000, 400000, 3 << 20, 150, 50):
        old = b
        b = hakmem.realloc(b, size)
        assert old.freed and b.size == size
        keep = min(size, 100)
        assert bytes(b)[:keep] == bytes(range(100))[:keep]
        with pytest.raises(ValueError, match="realloc"):
            old.address
    b.free()


def test_realloc_keeps_alignment():
    b = hakmem.aligned_alloc(4096, 100)
    memoryview(b)[:] = b"a" * 100
    for size in (5000, 300000, 2 << 20, 64):
        b = hakmem.realloc(b, size)
        assert b.address % 4096 == 0, size
        assert bytes(b)[:min(size, 100)] == b"a" * min(size, 100)
    b.free()


def test_realloc_none_zero_and_failure():
    b = hakmem.realloc(None, 10)
    assert b.size == 10
    memoryview(b)[:] = b"0123456789"
    z = hakmem.realloc(b, 0)
    assert z.size == 0 and bytes(z) == b"" and hakmem.owns(z)
    z = hakmem.realloc(z, 4)
    with pytest.raises(MemoryError):
        hakmem.realloc(z, 1 << 62)
    assert not z.freed and z.size == 4  # a failed realloc leaves the block as it was
    z.free()
    with pytest.raises(TypeError):
        hakmem.realloc(b"bytes", 10)


def test_use_after_free_raises():
    b = hakmem.malloc(32)
    b.free()
    for use in (lambda: b.address, lambda: b.size, lambda: b.usable_size, lambda: len(b),
                lambda: memoryview(b), lambda: bytes(b), lambda: b.free(),
                lambda: hakmem.realloc(b, 10), lambda: b.__enter__(), lambda: b.alignment):
        with pytest.raises(ValueError, match="freed"):
            use()
    assert not hakmem.owns(b)


def test_no_free_or_realloc_while_a_buffer_uses_the_block():
    b = hakmem.malloc(64)
    m = memoryview(b)
    with pytest.raises(BufferError):
        b.free()
    with pytest.raises(BufferError):
        hakmem.realloc(b, 128)
    m[0] = 7  # the memory is still there
    m.release()
    assert bytes(b)[0] == 7
    b.free()


def test_with_block_frees_once():
    with hakmem.malloc(1 << 20) as b:
        assert alive_large_blocks() >= 1
        n = alive_large_blocks()
    assert b.freed and alive_large_blocks() == n - 1
    with hakmem.malloc(8) as c:
        c.free()  # freeing inside the block is fine; the exit does nothing more
    assert c.freed


def test_collected_blocks_are_freed():
    gc.collect()
    n = alive_large_blocks()
    b = hakmem.malloc(2 << 20)
    r = weakref.ref(b)
    assert alive_large_blocks() == n + 1
    del b
    assert r() is None
    assert alive_large_blocks() == n


def test_numpy_reads_and_writes_without_copy():
    np = pytest.importorskip("numpy")
    b = hakmem.malloc(4096)
    a = np.frombuffer(b, dtype=np.uint32)
    assert a.__array_interface__["data"][0] == b.address
    assert a.flags.writeable
    a[:] = np.arange(1024, dtype=np.uint32)
    assert memoryview(b).cast("I")[1023] == 1023
    memoryview(b).cast("I")[5] = 99
    assert a[5] == 99
    with pytest.raises(BufferError):
        b.free()
    del a
    b.free()


# ---- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("call, exc", [
    (lambda: hakmem.malloc(-1), ValueError),
    (lambda: hakmem.malloc(-(1 << 70)), ValueError),
    (lambda: hakmem.malloc(1 << 62), MemoryError),
    (lambda: hakmem.malloc(1 << 63), MemoryError),
    (lambda: hakmem.malloc(1 << 80), MemoryError),
    (lambda: hakmem.malloc("12"), TypeError),
    (lambda: hakmem.malloc(1.5), TypeError),
    (lambda: hakmem.calloc(-1, 8), ValueError),
    (lambda: hakmem.calloc(8, -1), ValueError),
    (lambda: hakmem.calloc(1 << 40, 1 << 40), MemoryError),
    (lambda: hakmem.calloc(1 << 33, 1 << 31), MemoryError),
    (lambda: hakmem.aligned_alloc(0, 8), ValueError),
    (lambda: hakmem.aligned_alloc(24, 8), ValueError),
    (lambda: hakmem.aligned_alloc(-16, 8), ValueError),
    (lambda: hakmem.aligned_alloc(1 << 64, 8), ValueError),
    (lambda: hakmem.aligned_alloc(1 << 62, 8), MemoryError),
    (lambda: hakmem.aligned_alloc(16, -8), ValueError),
    (lambda: hakmem.realloc(hakmem.malloc(8), -1), ValueError),
])
def test_bad_input_raises(call, exc):
    with pytest.raises(exc):
        call()


def test_bad_input_messages_are_clear():
    with pytest.raises(ValueError, match="size must be >= 0, got -5"):
        hakmem.malloc(-5)
    with pytest.raises(ValueError, match="power of two, got 48"):
        hakmem.aligned_alloc(48, 8)
    with pytest.raises(MemoryError, match="could not allocate"):
        hakmem.malloc(1 << 62)


@pytest.mark.parametrize("value", [0, 1, -1, 16, 4096, 1 << 64, 1 << 70, -(1 << 70),
                                   0xFFFFFFFFFFFFFFF0])
def test_owns_is_false_for_garbage(value):
    assert hakmem.owns(value) is False


def test_owns_other_memory():
    buf = ctypes.create_string_buffer(64)
    assert not hakmem.owns(ctypes.addressof(buf))
    assert not hakmem.owns(id(object()))  # pymalloc's memory (no install here)
    with pytest.raises(TypeError):
        hakmem.owns("0x1000")


# ---- stats, collect ---------------------------------------------------------------


def test_stats_has_every_field():
    s = hakmem.stats()
    names = [f for f, _ in ffi.typeof("struct hak_stats").fields]
    assert list(s) == names
    assert s["size"] == ffi.sizeof("struct hak_stats")
    assert s["version"] == lib.HAK_STATS_VERSION
    assert isinstance(s["stats_enabled"], bool)
    assert all(isinstance(v, int) for v in s.values())
    # The arena is reserved address space, not a mapping holding memory.
    assert s["bytes_reserved"] > 0
    assert s["bytes_mapped"] < s["bytes_reserved"]


def test_stats_follow_allocations():
    gc.collect()
    s0 = hakmem.stats()
    blocks = [hakmem.malloc(1 << 20) for _ in range(3)]
    s1 = hakmem.stats()
    assert s1["large_blocks"] == s0["large_blocks"] + 3
    assert s1["bytes_in_use"] - s0["bytes_in_use"] >= 3 << 20
    assert s1["bytes_committed"] >= s1["bytes_in_use"]
    del blocks
    s2 = hakmem.stats()
    assert s2["large_blocks"] == s0["large_blocks"]
    assert s2["bytes_in_use"] == s0["bytes_in_use"]


def test_collect_returns_cached_memory():
    blocks = [hakmem.malloc(1 << 20) for _ in range(4)]
    del blocks  # freed large mappings stay in the large cache...
    released = hakmem.collect()
    assert isinstance(released, int) and released >= 4 << 20  # ...until collect()
    assert hakmem.collect() < 4 << 20


# ---- the C ABI as is ----------------------------------------------------------------


def test_lib_functions():
    p = lib.hak_malloc(100)
    assert p != ffi.NULL and lib.hak_owns(p) == 1
    assert lib.hak_usable_size(p) >= 100
    ffi.memmove(p, b"abc", 3)
    q = lib.hak_realloc(p, 5000)
    assert ffi.buffer(q, 3)[:] == b"abc"
    lib.hak_free(q)
    lib.hak_free(ffi.NULL)
    a = lib.hak_alloc(1000, 256)
    assert int(ffi.cast("uintptr_t", a)) % 256 == 0
    a = lib.hak_realloc_layout(a, 1000, 256, 100000)
    assert int(ffi.cast("uintptr_t", a)) % 256 == 0
    lib.hak_dealloc(a, 100000, 256)
    z = lib.hak_alloc_zeroed(5000, 64)
    assert ffi.buffer(z, 5000)[:] == bytes(5000)
    lib.hak_free_sized(z, 5000)
    assert lib.hak_owns(ffi.NULL) == 0


def test_lib_errno():
    assert lib.hak_malloc(1 << 62) == ffi.NULL
    assert ffi.errno == errno.ENOMEM
    assert lib.hak_aligned_alloc(3, 16) == ffi.NULL
    assert ffi.errno == errno.EINVAL
    assert lib.hak_stats_get(ffi.NULL, 0) == -1
    assert ffi.errno == errno.EINVAL


def test_blocks_and_lib_share_one_instance():
    b = hakmem.malloc(48)
    p = ffi.cast("void *", b.address)
    assert lib.hak_usable_size(p) == b.usable_size
    q = lib.hak_malloc(48)
    assert hakmem.owns(int(ffi.cast("uintptr_t", q)))
    lib.hak_free(q)
    b.free()
