"""Random malloc/calloc/aligned_alloc/realloc/write/free sequences, checked
against a model: a bytearray per live block holding what it must contain.

After every step, every live block must still hold exactly its model's
bytes, sit at its alignment, be owned by hakmem, and not overlap any other
live block's usable range. Sizes cover the tiny, mid and large tiers and the
boundaries between them.
"""
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

import hakmem

SIZES = st.one_of(
    st.integers(0, 64),
    st.sampled_from([1023, 1024, 1025, 1280, 65535, 65536, 262143, 262144, 262145]),
    st.integers(0, 4096),
    st.integers(4096, 300000),
    st.integers(300000, 3 << 20),
)
ALIGNS = st.sampled_from([1, 2, 8, 16, 32, 64, 256, 4096, 65536, 1 << 17, 1 << 21])


class Heap(RuleBasedStateMachine):
    blocks = Bundle("blocks")

    def __init__(self):
        super().__init__()
        self.model = {}  # id(Block) -> (Block, bytearray, alignment)

    def _add(self, b, data, align=16):
        assert b.size == len(data)
        assert b.usable_size >= b.size
        assert b.address % align == 0
        self.model[id(b)] = (b, data, align)
        return b

    @rule(target=blocks, size=SIZES)
    def malloc(self, size):
        b = hakmem.malloc(size)
        data = bytearray(bytes([size % 251 + 1])) * size
        memoryview(b)[:] = data
        return self._add(b, data)

    @rule(target=blocks, n=st.integers(0, 64), size=st.integers(0, 8192))
    def calloc(self, n, size):
        b = hakmem.calloc(n, size)
        assert bytes(b) == bytes(n * size)  # zero, whatever the memory held before
        return self._add(b, bytearray(n * size))

    @rule(target=blocks, align=ALIGNS, size=SIZES)
    def aligned_alloc(self, align, size):
        b = hakmem.aligned_alloc(align, size)
        data = bytearray(bytes([align % 253 + 2])) * size
        memoryview(b)[:] = data
        return self._add(b, data, max(align, 16))

    @rule(target=blocks, b=blocks, size=SIZES)
    def realloc(self, b, size):
        if id(b) not in self.model:
            return b  # already freed or moved; hypothesis may draw it again
        _, data, align = self.model.pop(id(b))
        nb = hakmem.realloc(b, size)
        assert b.freed
        keep = min(size, len(data))
        assert bytes(nb)[:keep] == data[:keep]
        new = data[:keep] + bytearray(size - keep)
        if size > keep:
            memoryview(nb)[keep:] = bytes(size - keep)
        return self._add(nb, new, align)

    @rule(b=blocks, data=st.data())
    def write(self, b, data):
        if id(b) not in self.model or b.size == 0:
            return
        _, model, _ = self.model[id(b)]
        start = data.draw(st.integers(0, b.size - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=min(64, b.size - start)))
        memoryview(b)[start:start + len(chunk)] = chunk
        model[start:start + len(chunk)] = chunk

    @rule(b=blocks)
    def free(self, b):
        if id(b) not in self.model:
            return
        del self.model[id(b)]
        b.free()
        assert b.freed

    @invariant()
    def contents_match(self):
        spans = []
        for b, data, align in self.model.values():
            assert not b.freed
            assert bytes(b) == data
            assert b.address % align == 0
            assert hakmem.owns(b.address)
            spans.append((b.address, b.address + max(b.usable_size, 1)))
        spans.sort()
        for (s0, e0), (s1, _) in zip(spans, spans[1:]):
            assert e0 <= s1, "live blocks overlap"

    def teardown(self):
        for b, _, _ in self.model.values():
            b.free()


Heap.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestHeap = Heap.TestCase
