"""The SWIG Python binding (module hakmem_swig) over the build tree's libhakmem_api_dyn.

Run by `make check` with PYTHONPATH and LD_LIBRARY_PATH set to the build tree
(bindings/Makefile.am); unittest's exit status is automake's.
"""
import os
import unittest

import hakmem_swig as hak

STAT_FIELDS = (
    "size version stats_enabled bytes_in_use bytes_cached bytes_committed "
    "bytes_committed_peak bytes_mapped superslabs spans large_blocks large_bytes "
    "tiny_mallocs tiny_frees mid_mallocs mid_frees large_mallocs large_frees "
    "route_tiny_fast route_mid_fast route_slab_lookup route_remote route_large "
    "route_null refills flushes os_maps os_unmaps os_purges bytes_reserved"
).split()


def mapped_hakmem_libraries():
    """Real paths of the hakmem libraries this process has mapped."""
    with open("/proc/self/maps") as maps:
        fields = [line.split(None, 5) for line in maps]
    paths = {f[5].strip() for f in fields if len(f) == 6}
    return {os.path.realpath(p) for p in paths if "libhakmem" in os.path.basename(p)}


def delta(after, before, key):
    return after[key] - before[key]


class Library(unittest.TestCase):
    def test_loads_the_build_tree_library(self):
        want = os.environ.get("HAKMEM_API_LIB")
        if not want:
            self.skipTest("HAKMEM_API_LIB is not set (make check sets it)")
        self.assertEqual(mapped_hakmem_libraries(), {os.path.realpath(want)})

    def test_version(self):
        self.assertEqual(hak.hak_version(), hak.HAKMEM_VERSION_STRING)
        self.assertEqual(hak.hak_abi_version(), hak.HAKMEM_ABI_VERSION)


class Blocks(unittest.TestCase):
    def test_write_read_realloc_free(self):
        data = bytes(range(256)) * 4
        p = hak.hak_malloc(100)
        self.assertTrue(hak.hak_owns(p))
        hak.hak_write(p, 0, data[:100])
        self.assertEqual(hak.hak_read(p, 0, 100), data[:100])
        hak.hak_write(p, 10, bytearray(b"xyz"))          # any bytes-like object
        hak.hak_write(p, 20, memoryview(b"uvw"))
        self.assertEqual(hak.hak_read(p, 9, 5), bytes([9]) + b"xyz" + bytes([13]))
        self.assertEqual(hak.hak_read(p, 20, 3), b"uvw")
        hak.hak_write(p, 0, data[:100])
        # Grow through every tier (tiny, mid, large); the content moves along.
        for n in (200, 5000, 300000, 3 << 20):
            p = hak.hak_realloc(p, n)
            self.assertGreaterEqual(hak.hak_usable_size(p), n)
            self.assertEqual(hak.hak_read(p, 0, 100), data[:100], "after realloc to %d" % n)
        p = hak.hak_realloc(p, 50)
        self.assertEqual(hak.hak_read(p, 0, 50), data[:50])
        self.assertIsNone(hak.hak_realloc(p, 0))          # realloc(p, 0) frees

    def test_calloc_and_zeroed_are_zero(self):
        p = hak.hak_calloc(10, 100)
        self.assertEqual(hak.hak_read(p, 0, 1000), bytes(1000))
        hak.hak_free(p)
        q = hak.hak_alloc_zeroed(3000, 64)
        self.assertEqual(hak.hak_read(q, 0, 3000), bytes(3000))
        hak.hak_dealloc(q, 3000, 64)

    def test_free_none_and_address(self):
        hak.hak_free(None)
        self.assertEqual(hak.hak_address(None), 0)
        self.assertEqual(hak.hak_usable_size(None), 0)
        self.assertFalse(hak.hak_owns(None))
        p = hak.hak_malloc(1)
        self.assertEqual(hak.hak_address(p), int(p))
        self.assertEqual(hak.hak_address(p) % 16, 0)
        hak.hak_free_sized(p, 1)


class Alignment(unittest.TestCase):
    ALIGNS = (16, 32, 64, 256, 4096, 65536, 1 << 17, 1 << 21)

    def test_aligned_alloc(self):
        for align in self.ALIGNS:
            for size in (1, 100, align, 3 * align):
                p = hak.hak_aligned_alloc(align, size)
                self.assertEqual(hak.hak_address(p) % align, 0, (align, size))
                self.assertGreaterEqual(hak.hak_usable_size(p), size)
                hak.hak_free(p)

    def test_layout_api_keeps_alignment(self):
        for align in self.ALIGNS:
            p = hak.hak_alloc(100, align)
            self.assertEqual(hak.hak_address(p) % align, 0)
            hak.hak_write(p, 0, b"layout")
            q = hak.hak_realloc_layout(p, 100, align, 400000)
            self.assertEqual(hak.hak_address(q) % align, 0, align)
            self.assertEqual(hak.hak_read(q, 0, 6), b"layout")
            hak.hak_dealloc(q, 400000, align)


class UsableSize(unittest.TestCase):
    def test_usable_size_covers_the_request_and_bounds_access(self):
        for n in (0, 1, 15, 16, 17, 100, 1024, 1025, 5000, 262144, 262145, 1 << 20):
            p = hak.hak_malloc(n)
            u = hak.hak_usable_size(p)
            self.assertGreaterEqual(u, max(n, 1))
            hak.hak_write(p, u - 1, b"\xff")              # the last usable byte
            self.assertEqual(hak.hak_read(p, u - 1, 1), b"\xff")
            self.assertEqual(hak.hak_read(p, u, 0), b"")
            with self.assertRaises(IndexError):
                hak.hak_read(p, u, 1)
            with self.assertRaises(IndexError):
                hak.hak_write(p, u - 1, b"ab")
            with self.assertRaises(IndexError):
                hak.hak_read(p, 1, (1 << 64) - 1)         # offset + n wraps
            hak.hak_free(p)


class Stats(unittest.TestCase):
    def test_stats_is_a_dict_of_every_field(self):
        s = hak.hak_stats_get()
        self.assertIsInstance(s, dict)
        self.assertEqual(sorted(s), sorted(STAT_FIELDS))
        self.assertEqual(s["version"], hak.HAK_STATS_VERSION)
        self.assertGreater(s["size"], 0)
        self.assertTrue(all(isinstance(v, int) and v >= 0 for v in s.values()))

    def test_stats_reflect_the_calls(self):
        before = hak.hak_stats_get()
        blocks = [hak.hak_malloc(48) for _ in range(10)]
        mid = [hak.hak_malloc(3000) for _ in range(3)]
        big = hak.hak_malloc(1 << 20)
        during = hak.hak_stats_get()
        expect = sum(hak.hak_usable_size(p) for p in blocks + mid)
        self.assertEqual(delta(during, before, "large_blocks"), 1)
        self.assertGreaterEqual(delta(during, before, "large_bytes"), 1 << 20)
        self.assertEqual(delta(during, before, "bytes_in_use"),
                         expect + delta(during, before, "large_bytes"))
        if during["stats_enabled"]:
            self.assertEqual(delta(during, before, "tiny_mallocs"), 10)
            self.assertEqual(delta(during, before, "mid_mallocs"), 3)
            self.assertEqual(delta(during, before, "large_mallocs"), 1)
        for p in blocks + mid + [big]:
            hak.hak_free(p)
        after = hak.hak_stats_get()
        self.assertEqual(after["bytes_in_use"], before["bytes_in_use"])
        self.assertEqual(after["large_blocks"], before["large_blocks"])
        if after["stats_enabled"]:
            self.assertEqual(delta(after, before, "tiny_frees"), 10)
            self.assertEqual(delta(after, before, "mid_frees"), 3)
            self.assertEqual(delta(after, before, "large_frees"), 1)
            self.assertEqual(delta(after, before, "route_tiny_fast"), 10)


class Errors(unittest.TestCase):
    def test_allocation_failure_is_memory_error(self):
        with self.assertRaises(MemoryError):
            hak.hak_malloc(1 << 62)
        with self.assertRaises(MemoryError):
            hak.hak_calloc(1 << 40, 1 << 40)                 # n * size overflows
        p = hak.hak_malloc(16)
        hak.hak_write(p, 0, b"kept")
        with self.assertRaises(MemoryError):
            hak.hak_realloc(p, 1 << 62)
        self.assertEqual(hak.hak_read(p, 0, 4), b"kept")     # untouched on failure
        hak.hak_free(p)

    def test_bad_alignment_is_value_error(self):
        with self.assertRaisesRegex(ValueError, "power of two"):
            hak.hak_aligned_alloc(3, 64)
        with self.assertRaisesRegex(ValueError, "power of two"):
            hak.hak_alloc(64, 48)

    def test_bad_arguments(self):
        # A negative size is a ValueError (as in the hakmem package); a size
        # beyond SIZE_MAX counts as SIZE_MAX, which memory cannot hold.
        for call in (lambda: hak.hak_malloc(-1), lambda: hak.hak_calloc(-1, 8),
                     lambda: hak.hak_aligned_alloc(64, -5), lambda: hak.hak_alloc(-1, 16)):
            with self.assertRaisesRegex(ValueError, "must be >= 0"):
                call()
        with self.assertRaises(MemoryError):
            hak.hak_malloc(1 << 70)
        with self.assertRaises(TypeError):
            hak.hak_malloc("10")
        p = hak.hak_malloc(16)
        with self.assertRaises(TypeError):
            hak.hak_write(p, 0, "text is not bytes")
        with self.assertRaises(ValueError):
            hak.hak_read(None, 0, 1)
        with self.assertRaisesRegex(ValueError, "must be >= 0"):
            hak.hak_read(p, -1, 1)
        with self.assertRaises(IndexError):
            hak.hak_read(p, 0, 1 << 70)
        hak.hak_free(p)

    def test_freed_handle_is_value_error_not_abort(self):
        # Every tier: a freed slab block is still inside hakmem's arena
        # (hak_owns), yet reading it, freeing it again or resizing it raises.
        for n in (16, 100, 5000, 1 << 20):
            p = hak.hak_malloc(n)
            hak.hak_write(p, 0, b"secret")
            hak.hak_free(p)
            for call in (lambda: hak.hak_free(p), lambda: hak.hak_usable_size(p),
                         lambda: hak.hak_realloc(p, 10), lambda: hak.hak_read(p, 0, 6),
                         lambda: hak.hak_write(p, 0, b"x"), lambda: hak.hak_free_sized(p, n),
                         lambda: hak.hak_dealloc(p, n, 16),
                         lambda: hak.hak_realloc_layout(p, n, 16, 2 * n)):
                with self.assertRaisesRegex(ValueError, "not a live block"):
                    call()

    def test_moved_handle_is_value_error(self):
        p = hak.hak_malloc(16)
        q = hak.hak_realloc(p, 1 << 20)                        # surely moves
        self.assertNotEqual(hak.hak_address(p), hak.hak_address(q))
        with self.assertRaisesRegex(ValueError, "not a live block"):
            hak.hak_read(p, 0, 1)
        hak.hak_free(q)
        r = hak.hak_alloc(100, 64)
        s = hak.hak_realloc_layout(r, 100, 64, 1 << 20)
        with self.assertRaisesRegex(ValueError, "not a live block"):
            hak.hak_dealloc(r, 100, 64)
        hak.hak_dealloc(s, 1 << 20, 64)

    def test_failed_realloc_keeps_the_block_live(self):
        p = hak.hak_malloc(64)
        with self.assertRaises(MemoryError):
            hak.hak_realloc(p, 1 << 62)
        self.assertEqual(hak.hak_usable_size(p) >= 64, True)
        hak.hak_free(p)
        with self.assertRaisesRegex(ValueError, "not a live block"):
            hak.hak_free(p)

    def test_many_live_handles(self):
        # The live set grows past its first table and keeps every handle.
        blocks = [hak.hak_malloc(8 + i % 200) for i in range(5000)]
        for i, p in enumerate(blocks):
            hak.hak_write(p, 0, bytes([i % 256]))
        for i, p in enumerate(blocks[::2]):
            hak.hak_free(p)
        for i, p in enumerate(blocks):
            if i % 2:
                self.assertEqual(hak.hak_read(p, 0, 1), bytes([i % 256]))
                hak.hak_free(p)
            else:
                with self.assertRaises(ValueError):
                    hak.hak_read(p, 0, 1)


class Heaps(unittest.TestCase):
    def test_blocks_live_in_their_heap_until_destroy(self):
        h = hak.hak_heap_new()
        blocks = [hak.hak_heap_alloc(h, n, 16) for n in (1, 100, 3000, 70000, 500000)]
        for i, p in enumerate(blocks):
            self.assertTrue(hak.hak_owns(p))
            hak.hak_write(p, 0, bytes([i]) * 10 if hak.hak_usable_size(p) >= 10 else b"")
        seen = sorted(hak.hak_address(p) for p in hak.hak_heap_visit(h))
        self.assertEqual(seen, sorted(hak.hak_address(p) for p in blocks))
        hak.hak_free(blocks[0])                       # the malloc family's free works on them
        hak.hak_heap_dealloc(h, blocks[1], 100, 16)
        self.assertEqual(len(hak.hak_heap_visit(h)), 3)
        stats = hak.hak_heap_stats(h)
        self.assertEqual(stats["large_blocks"], 1)
        self.assertGreaterEqual(stats["bytes_in_use"], 3000 + 70000 + 500000)
        hak.hak_heap_destroy(h)                       # the rest goes with it

    def test_zeroed_aligned_and_realloc(self):
        h = hak.hak_heap_new()
        z = hak.hak_heap_alloc_zeroed(h, 5000, 4096)
        self.assertEqual(hak.hak_address(z) % 4096, 0)
        self.assertEqual(hak.hak_read(z, 0, 5000), bytes(5000))
        hak.hak_write(z, 0, b"kept")
        for n in (100, 300000, 20):
            z = hak.hak_heap_realloc(h, z, 0, 4096, n)
            self.assertEqual(hak.hak_address(z) % 4096, 0)
            self.assertEqual(hak.hak_read(z, 0, 4), b"kept")
        self.assertEqual([hak.hak_address(p) for p in hak.hak_heap_visit(h)], [hak.hak_address(z)])
        z = hak.hak_realloc(z, 9000)                  # the malloc family's realloc keeps it there
        self.assertEqual([hak.hak_address(p) for p in hak.hak_heap_visit(h)], [hak.hak_address(z)])
        hak.hak_heap_collect(h)
        hak.hak_heap_destroy(h)

    def test_errors_raise(self):
        h = hak.hak_heap_new()
        with self.assertRaisesRegex(ValueError, "hak_heap_alloc: alignment"):
            hak.hak_heap_alloc(h, 64, 48)
        with self.assertRaisesRegex(MemoryError, "hak_heap_alloc_zeroed: "):
            hak.hak_heap_alloc_zeroed(h, 1 << 62, 16)
        with self.assertRaisesRegex(ValueError, "size must be >= 0"):
            hak.hak_heap_alloc(h, -1, 16)
        p = hak.hak_heap_alloc(h, 64, 16)
        hak.hak_heap_dealloc(h, p, 64, 16)
        with self.assertRaisesRegex(ValueError, "hak_heap_dealloc: not a live block"):
            hak.hak_heap_dealloc(h, p, 64, 16)            # a double free raises, no abort
        q = hak.hak_heap_alloc(h, 64, 16)
        big = hak.hak_heap_alloc(h, 1 << 20, 16)
        hak.hak_heap_destroy(h)
        # Destroy freed them: their handles are not live any more.
        for call in (lambda: hak.hak_free(q), lambda: hak.hak_read(big, 0, 1),
                     lambda: hak.hak_usable_size(q), lambda: hak.hak_realloc(big, 10)):
            with self.assertRaisesRegex(ValueError, "not a live block"):
                call()


if __name__ == "__main__":
    unittest.main(verbosity=2)
