"""Blocks of hakmem memory: allocate, write through the buffer protocol,
resize, align, free, and the errors a wrong use raises.

    python examples/blocks.py
"""
import hakmem


def main() -> None:
    print("hakmem", hakmem.__version__, "from", hakmem.library_path())

    # A with block frees the Block at its end; memoryview writes in place.
    with hakmem.malloc(64) as block:
        view = memoryview(block)
        view[:5] = b"hello"
        print(bytes(view[:5]), "at", hex(block.address), "usable", block.usable_size)
        view.release()  # free() refuses (BufferError) while a view lives

    # realloc keeps the contents and, for an aligned block, the alignment.
    b = hakmem.aligned_alloc(4096, 1000)
    memoryview(b)[:4] = b"keep"
    b = hakmem.realloc(b, 100_000)
    assert b.address % 4096 == 0 and bytes(memoryview(b)[:4]) == b"keep"
    b.free()

    # calloc's memory is zero.
    z = hakmem.calloc(100, 10)
    assert bytes(z) == bytes(1000)
    z.free()

    # Every misuse raises; none crashes the interpreter.
    for what, call in (("negative size", lambda: hakmem.malloc(-1)),
                       ("bad alignment", lambda: hakmem.aligned_alloc(48, 8)),
                       ("too large", lambda: hakmem.malloc(1 << 62)),
                       ("use after free", lambda: b.size)):
        try:
            call()
        except (ValueError, MemoryError) as e:
            print("%-15s %s: %s" % (what, type(e).__name__, e))

    s = hakmem.stats()
    print("bytes in use", s["bytes_in_use"], "committed", s["bytes_committed"])
    print("returned to the OS:", hakmem.collect(), "bytes")


if __name__ == "__main__":
    main()
