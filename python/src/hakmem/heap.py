"""First-class heaps: blocks allocated into a heap, freed all at once.

    >>> import hakmem
    >>> with hakmem.Heap() as h:
    ...     b = h.malloc(100)
    ...     memoryview(b)[:2] = b"hi"
    ...     len(h)
    1

A :class:`Heap` is hak_heap_new() and friends (include/hakmem.h): its blocks
are ordinary :class:`hakmem.Block` objects (buffer protocol, ``free()``,
``hakmem.realloc``), and ``destroy()`` frees every block in it at once, in
one walk over the heap's memory rather than one free per block.

Once its heap is destroyed, a Block refuses every use (ValueError) and never
touches the freed memory; destroying a heap while a buffer (memoryview,
numpy array) of one of its Blocks is alive raises BufferError and destroys
nothing. A Heap that is simply dropped lives on while any of its Blocks does,
and goes with the last of them.
"""
from __future__ import annotations

import _thread
import weakref
TYPE_CHECKING = False  # typing's, without importing typing: type checkers take it as true

if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings
    from typing import Any, Dict, Iterator, List, Union

from . import _core
from ._lib import ffi, lib

Block = _core.Block

_STATS_FIELDS = tuple(name for name, _ in ffi.typeof("struct hak_stats").fields)
_MAX_SIZE = (1 << 63) - 1  # a Py_ssize_t: no buffer is larger


def _size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < 0:
        raise ValueError("%s must be >= 0, got %d" % (name, value))
    if value > _MAX_SIZE:
        raise MemoryError("cannot allocate %d bytes: more than any buffer can hold" % value)
    return value


def _alignment(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("alignment must be an int, not %s" % type(value).__name__)
    if value <= 0 or value & (value - 1) or value > _MAX_SIZE:
        raise ValueError("alignment must be a power of two, got %d" % value)
    return value


class Heap:
    """A first-class hakmem heap (hak_heap_new).

    Any thread may allocate into it. ``malloc``, ``calloc``,
    ``aligned_alloc`` and ``realloc`` return :class:`hakmem.Block` objects,
    as the functions of the same names in :mod:`hakmem` do; ``len(heap)`` is
    the number of live blocks and iterating yields them (hak_heap_visit), in
    address order. ``destroy()`` (also at the end of a ``with`` block) frees
    them all at once.
    """

    def __init__(self) -> None:
        # address -> Block, for iteration; weak, so it keeps no Block alive.
        self._blocks: "weakref.WeakValueDictionary[int, Block]" = weakref.WeakValueDictionary()
        self._state = _core.HeapState(self._blocks)  # MemoryError if none can be made
        # C calls on the heap never overlap destroy(): with the GIL released
        # around them, another thread could otherwise destroy it under one.
        self._lock = _thread.RLock()  # threading's RLock, without importing threading

    # ---- state ------------------------------------------------------------

    def _handle(self) -> Any:
        h = self._state.handle
        if h is None:
            raise ValueError("use of a destroyed hakmem Heap")
        return ffi.cast("hak_heap_t *", h)

    @property
    def destroyed(self) -> bool:
        """True once destroy() ran."""
        return self._state.handle is None

    @property
    def handle(self) -> int:
        """The hak_heap_t * as an int, for C code (hakmem_capi.h) that
        allocates in this heap; ValueError once destroyed."""
        with self._lock:
            return int(ffi.cast("uintptr_t", self._handle()))

    # ---- blocks -------------------------------------------------------------

    def _alloc(self, size: int, align: int, zero: bool) -> Block:
        with self._lock:
            h = self._handle()
            fn = lib.hak_heap_alloc_zeroed if zero else lib.hak_heap_alloc
            p = fn(h, size, align)
            if p == ffi.NULL:
                raise MemoryError("hakmem could not allocate %d bytes in a heap" % size)
            return self._state.adopt(int(ffi.cast("uintptr_t", p)), size, align if align > 16 else 0)

    def malloc(self, size: int) -> Block:
        """A Block of size bytes in this heap (contents undefined)."""
        return self._alloc(_size("size", size), 16, False)

    def calloc(self, count: int, size: int) -> Block:
        """A zeroed Block of count * size bytes in this heap."""
        total = _size("count", count) * _size("size", size)
        if total > _MAX_SIZE:
            raise MemoryError("calloc(%d, %d): the product is too large" % (count, size))
        return self._alloc(total, 16, True)

    def aligned_alloc(self, alignment: int, size: int) -> Block:
        """A Block in this heap whose address is a multiple of alignment (a
        power of two); realloc() keeps the alignment."""
        align = _alignment(alignment)
        return self._alloc(_size("size", size), align, False)

    def realloc(self, block: Block, size: int) -> Block:
        """Resizes a Block of this heap, as hakmem.realloc: a new Block (in
        this heap) with the contents up to the smaller size; the old one is
        spent. ValueError for a Block of another heap (or of none)."""
        if not isinstance(block, Block):
            raise TypeError("realloc() needs a hakmem.Block, not %s" % type(block).__name__)
        if block._heap_state is not self._state:
            raise ValueError("realloc(): not a Block of this Heap")
        _size("size", size)
        with self._lock:
            self._handle()
            return _core.realloc(block, size)

    def __len__(self) -> int:
        with self._lock:
            return int(lib.hakpy_heap_addresses(self._handle(), ffi.NULL, 0))

    def addresses(self) -> List[int]:
        """The addresses of the heap's live blocks, in address order
        (blocks allocated by C code through ``handle`` included)."""
        with self._lock:
            h = self._handle()
            cap = 64
            while True:
                buf = ffi.new("uintptr_t[]", cap)
                n = int(lib.hakpy_heap_addresses(h, buf, cap))
                if n <= cap:
                    return sorted(buf[i] for i in range(n))
                cap = n + n // 4

    def __iter__(self) -> Iterator[Union[Block, int]]:
        """The live blocks: the Block for each one Python allocated, the
        address (an int) of any that C code allocated through ``handle``."""
        for a in self.addresses():
            b = self._blocks.get(a)
            yield b if b is not None and not b.freed else a

    # ---- the whole heap ---------------------------------------------------------

    def stats(self) -> Dict[str, int]:
        """hak_heap_stats as a dict (the fields of hakmem.stats(); this
        heap's bytes in use, cached, committed and its peak, spans, large
        blocks; the per-call counts are 0)."""
        with self._lock:
            s = ffi.new("struct hak_stats *")
            if lib.hak_heap_stats(self._handle(), s, ffi.sizeof("struct hak_stats")) != 0:
                raise OSError(ffi.errno, "hak_heap_stats failed")
            out = {name: int(getattr(s, name)) for name in _STATS_FIELDS}
        out["stats_enabled"] = bool(out["stats_enabled"])
        return out

    def collect(self) -> None:
        """hak_heap_collect: the calling thread's cache of this heap and the
        heap's empty spans go back to the OS."""
        with self._lock:
            lib.hak_heap_collect(self._handle())

    def destroy(self) -> None:
        """Frees every block of the heap at once (hak_heap_destroy). Its
        Blocks refuse every use afterwards. BufferError, and nothing
        destroyed, while a buffer of one of its Blocks is alive. A second
        call does nothing."""
        with self._lock:
            self._state.destroy()
            self._blocks.clear()

    def __enter__(self) -> "Heap":
        self._handle()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        h = self._state.handle
        if h is None:
            return "<hakmem.Heap destroyed>"
        return "<hakmem.Heap %#x>" % h
