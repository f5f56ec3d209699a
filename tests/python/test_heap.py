"""hakmem.Heap: first-class heaps from Python (python/src/hakmem/heap.py)."""
import gc
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import hakmem
from hakmem import stress


def addresses(blocks):
    return sorted(b.address for b in blocks)


# ---- blocks ---------------------------------------------------------------------------------


def test_blocks_are_blocks_of_the_heap():
    with hakmem.Heap() as h:
        b = h.malloc(100)
        c = h.calloc(10, 30)
        a = h.aligned_alloc(4096, 5000)
        big = h.malloc(1 << 20)
        for x in (b, c, a, big):
            assert isinstance(x, hakmem.Block)
            assert hakmem.owns(x) and x.usable_size >= x.size
        assert bytes(c) == bytes(300)
        assert a.address % 4096 == 0 and a.alignment == 4096
        memoryview(b)[:5] = b"hello"
        assert bytes(b)[:5] == b"hello"
        assert len(h) == 4
        assert addresses(h) == addresses([b, c, a, big])
        assert list(h) == sorted([b, c, a, big], key=lambda x: x.address)
        b.free()  # Block.free: hak_free finds the heap
        assert len(h) == 3 and b.freed


def test_default_heap_blocks_are_not_the_heaps():
    d = hakmem.malloc(64)
    with hakmem.Heap() as h:
        x = h.malloc(64)
        assert len(h) == 1 and d.address not in h.addresses()
        with pytest.raises(ValueError, match="not a Block of this Heap"):
            h.realloc(d, 128)
        with hakmem.Heap() as other:
            y = other.malloc(64)
            with pytest.raises(ValueError, match="not a Block of this Heap"):
                h.realloc(y, 128)
            assert x.address not in other.addresses()
    assert not d.freed  # destroying the heap left the default heap alone
    d.free()


def test_realloc_keeps_contents_alignment_and_heap():
    with hakmem.Heap() as h:
        b = h.aligned_alloc(256, 10)
        memoryview(b)[:] = b"0123456789"
        for n in (100, 5000, 300_000, 3 << 20, 40):
            new = h.realloc(b, n)
            assert b.freed and not new.freed
            assert bytes(new)[:10] == b"0123456789"[: min(n, 10)] or n < 10
            assert new.address % 256 == 0
            assert h.addresses() == [new.address] and list(h) == [new]
            b = new
        # The package's realloc keeps a heap's Block in its heap too.
        c = hakmem.realloc(b, 70_000)
        assert h.addresses() == [c.address] and bytes(c)[:10] == b"0123456789"


def test_zero_sizes_and_errors():
    with hakmem.Heap() as h:
        z = h.malloc(0)
        assert len(z) == 0 and len(h) == 1
        with pytest.raises(ValueError):
            h.malloc(-1)
        with pytest.raises(ValueError, match="power of two"):
            h.aligned_alloc(48, 10)
        with pytest.raises(MemoryError):
            h.malloc(1 << 62)
        with pytest.raises(MemoryError):
            h.calloc(1 << 40, 1 << 40)
        with pytest.raises(TypeError):
            h.malloc(1.5)
        assert len(h) == 1


def test_stats_and_collect():
    with hakmem.Heap() as h:
        blocks = [h.malloc(200) for _ in range(100)] + [h.malloc(500_000)]
        s = h.stats()
        assert s["bytes_in_use"] == sum(b.usable_size for b in blocks)
        assert s["large_blocks"] == 1 and s["spans"] >= 1
        assert s["bytes_committed"] >= s["bytes_in_use"]
        for b in blocks:
            b.free()
        h.collect()
        s = h.stats()
        assert s["bytes_in_use"] == 0 and s["spans"] == 0 and s["bytes_cached"] == 0
        assert len(h) == 0


# ---- destroy ----------------------------------------------------------------------------------


def test_destroyed_heaps_blocks_refuse_every_use():
    h = hakmem.Heap()
    b = h.malloc(64)
    big = h.malloc(1 << 20)
    h.destroy()
    assert h.destroyed and b.freed and big.freed
    assert not hakmem.owns(b)
    for use in (lambda: b.size, lambda: b.address, lambda: memoryview(b), lambda: b.free(),
                lambda: hakmem.realloc(big, 10), lambda: len(big), lambda: bytes(b)):
        with pytest.raises(ValueError, match="Heap was destroyed"):
            use()
    for use in (lambda: h.malloc(1), lambda: h.calloc(1, 1), lambda: h.aligned_alloc(64, 1),
                lambda: h.stats(), lambda: h.collect(), lambda: len(h), lambda: list(h),
                lambda: h.handle):
        with pytest.raises(ValueError, match="destroyed hakmem Heap"):
            use()
    h.destroy()  # a second destroy does nothing
    del b, big   # and dropping the Blocks frees nothing twice
    gc.collect()


def test_destroy_refuses_while_a_buffer_is_alive():
    h = hakmem.Heap()
    b = h.malloc(100)
    c = h.malloc(100)
    view = memoryview(c)
    with pytest.raises(BufferError, match="buffer"):
        h.destroy()
    assert not h.destroyed and not b.freed and len(h) == 2  # nothing destroyed
    view[0] = 7
    view.release()
    h.destroy()
    assert c.freed


def test_with_block_destroys_and_exceptions_pass():
    with pytest.raises(KeyError):
        with hakmem.Heap() as h:
            b = h.malloc(10)
            raise KeyError("out")
    assert h.destroyed and b.freed


def test_a_dropped_heap_lives_while_its_blocks_do():
    h = hakmem.Heap()
    b = h.malloc(32)
    memoryview(b)[:3] = b"abc"
    del h
    gc.collect()
    assert bytes(b)[:3] == b"abc" and not b.freed
    b.free()


def test_destroy_returns_memory():
    hakmem.collect()
    before = hakmem.stats()["bytes_committed"]
    with hakmem.Heap() as h:
        keep = [h.malloc(64) for _ in range(50_000)]
        assert hakmem.stats()["bytes_committed"] > before + 3_000_000
    del keep
    assert hakmem.stats()["bytes_committed"] <= before + (1 << 20)


# ---- threads and kernels -------------------------------------------------------------------------


def test_threads_allocate_into_one_heap():
    with hakmem.Heap() as h:
        out, errors = [], []

        def work(seed):
            try:
                mine = []
                for i in range(2000):
                    b = h.malloc(16 + (seed * 7 + i) % 500)
                    memoryview(b)[:1] = bytes([seed])
                    mine.append(b)
                    if i % 3 == 0:
                        mine.pop(0).free()
                out.append((seed, mine))
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        live = [b for _, mine in out for b in mine]
        assert all(bytes(b)[0] == seed for seed, mine in out for b in mine)
        assert len(h) == len(live)
        assert addresses(h) == addresses(live)


@pytest.mark.parametrize("kernel", ["random_mixed", "larson", "realloc_chains", "aligned"])
def test_kernels_in_a_heap(kernel):
    threads = 2 if kernel == "larson" else 1
    r = stress.run(kernel, threads=threads, ops=100_000, heap=True)
    assert r.ok, r.first_error
    assert r.ops >= 100_000


def test_heap_kernels_refuse_a_runner():
    with pytest.raises(ValueError, match="heap=True"):
        stress.run("random_mixed", ops=1000, heap=True, allocator="system")


def test_misuse_from_c_aborts_naming_the_call():
    # Through the raw ABI, a block of another heap aborts the process.
    code = textwrap.dedent("""
        import hakmem
        from hakmem import ffi, lib
        a, b = lib.hak_heap_new(), lib.hak_heap_new()
        p = lib.hak_heap_alloc(a, 64, 16)
        lib.hak_heap_dealloc(b, p, 64, 16)
    """)
    p = subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE,
                       universal_newlines=True, env=dict(os.environ))
    assert p.returncode < 0
    assert "hakmem: hak_heap_dealloc(): block of another heap" in p.stderr
