"""The thin layer over hakmem._native (cffi): one function per C entry point
it uses, checking arguments before they reach C and turning C's error
returns into exceptions. The Pythonic API (hakmem, hakmem.stress) sits on
top; nothing above this file touches ffi structs.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing's, without importing typing: type checkers take it as true

if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings
    from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

    _T = TypeVar("_T")

from ._lib import ffi, lib

STATS_FIELDS = tuple(name for name, _ in ffi.typeof("struct hak_stats").fields)
ROUTES = ("tiny_fast", "mid_fast", "slab_lookup", "remote", "large", "null")

KERNELS = {
    "random_mixed": lib.HAKPY_RANDOM_MIXED,
    "larson": lib.HAKPY_LARSON,
    "prodcons": lib.HAKPY_PRODCONS,
    "realloc_chains": lib.HAKPY_REALLOC,
    "fragmentation": lib.HAKPY_FRAGMENT,
    "aligned": lib.HAKPY_ALIGNED,
}
OP_KINDS = {
    "alloc": lib.HAKPY_OP_ALLOC,
    "free": lib.HAKPY_OP_FREE,
    "realloc": lib.HAKPY_OP_REALLOC,
    "aligned_alloc": lib.HAKPY_OP_ALIGNED,
    "calloc": lib.HAKPY_OP_CALLOC,
}
TRACE_OP_SIZE = ffi.sizeof("struct hakpy_trace_op")
TRACE_HEADER = lib.HAKPY_TRACE_HEADER
TRACE_VERSION = lib.HAKPY_TRACE_VERSION


def hak_stats_get() -> Dict[str, Union[int, bool]]:
    """hak_stats_get() as a dict of every field of struct hak_stats."""
    s = ffi.new("struct hak_stats *")
    if lib.hak_stats_get(s, ffi.sizeof("struct hak_stats")) != 0:
        raise OSError(ffi.errno, "hak_stats_get failed")
    out: Dict[str, Union[int, bool]] = {name: int(getattr(s, name)) for name in STATS_FIELDS}
    out["stats_enabled"] = bool(out["stats_enabled"])
    return out


def hak_collect() -> int:
    """hak_collect(): bytes given back to the OS."""
    return int(lib.hak_collect())


def _uint(name: str, value: object, bits: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if not 0 <= value < 1 << bits:
        raise ValueError("%s must be between 0 and 2**%d - 1, got %d" % (name, bits, value))
    return value


def _result(r: Any) -> Dict[str, Any]:
    return {
        "ops": int(r.ops),
        "allocs": int(r.allocs),
        "frees": int(r.frees),
        "bytes_allocated": int(r.bytes_allocated),
        "errors": int(r.errors),
        "alloc_failures": int(r.alloc_failures),
        "seconds": float(r.seconds),
        "cpu_seconds": float(r.cpu_seconds),
        "peak_rss_kb": int(r.peak_rss_kb),
        "first_error": ffi.string(r.first_error).decode("utf-8", "replace") or None,
    }


def interruptible(call: Callable[[], _T], stop: Callable[[], None]) -> _T:
    """call() in a helper thread while this one waits, so that Ctrl-C
    (KeyboardInterrupt, delivered only to the main thread, and only between
    bytecodes) reaches a wait instead of a C call that runs for minutes. On
    KeyboardInterrupt: stop(), wait for call() to return, re-raise."""
    box: List[_T] = []
    failure: List[BaseException] = []

    def target() -> None:
        try:
            box.append(call())
        except BaseException as e:  # handed to the waiting thread
            failure.append(e)

    import threading  # here: it costs milliseconds at ``import hakmem``

    t = threading.Thread(target=target, name="hakmem-kernel", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.1)
    except KeyboardInterrupt:
        stop()
        t.join()
        raise
    if failure:
        raise failure[0]
    return box[0]


def stress_run(kernel: str, threads: int, ops: int, duration: float, min_size: int,
               max_size: int, working_set: int, seed: int, max_align: int, generations: int,
               fill: bool, corrupt_every: int, reset_peak_rss: bool,
               heap: Optional[int] = None) -> Dict[str, Any]:
    """hakpy_stress_hakmem: one kernel against the bound hakmem; a dict.
    Ctrl-C stops the kernel's threads (within 64 ops each) and raises
    KeyboardInterrupt. heap: a hak_heap_t * as an int, to allocate in
    (hakpy_stress_hakmem_heap)."""
    if kernel not in KERNELS:
        raise ValueError("unknown kernel %r (one of %s)" % (kernel, ", ".join(KERNELS)))
    c = ffi.new("struct hakpy_stress_config *")
    c.kernel = KERNELS[kernel]
    c.threads = _uint("threads", threads, 32)
    c.ops = _uint("ops", ops)
    c.duration = float(duration)
    c.min_size = _uint("min_size", min_size)
    c.max_size = _uint("max_size", max_size)
    c.working_set = _uint("working_set", working_set)
    c.seed = _uint("seed", seed)
    c.max_align = _uint("max_align", max_align)
    c.generations = _uint("generations", generations, 32)
    c.fill = 1 if fill else 0
    c.corrupt_every = _uint("corrupt_every", corrupt_every, 32)
    c.reset_peak_rss = 1 if reset_peak_rss else 0
    r = ffi.new("struct hakpy_stress_result *")
    if heap is not None:
        h = ffi.cast("hak_heap_t *", heap)
        rc = interruptible(lambda: int(lib.hakpy_stress_hakmem_heap(c, r, h)),
                           lambda: lib.hakpy_stress_stop(c))
    else:
        rc = interruptible(lambda: int(lib.hakpy_stress_hakmem(c, r)),
                           lambda: lib.hakpy_stress_stop(c))
    if rc != 0:  # a bad configuration, found by the C check
        raise ValueError(ffi.string(r.first_error).decode("utf-8", "replace"))
    return _result(r)


def trace_check(buf: Any, count: int, nslots: int) -> None:
    """hakpy_trace_check over a buffer of count packed ops; ValueError if bad."""
    if len(buf) < count * TRACE_OP_SIZE:
        raise ValueError("trace buffer holds fewer than %d ops" % count)
    ops = ffi.from_buffer("struct hakpy_trace_op[]", buf)
    err = ffi.new("char[]", 200)
    if lib.hakpy_trace_check(ops, count, _uint("slots", nslots, 32), err, 200) != 0:
        raise ValueError(ffi.string(err).decode("utf-8", "replace"))


def replay(buf: Any, count: int, nslots: int, repeat: int, fill: bool) -> Dict[str, Any]:
    """hakpy_replay_hakmem over a buffer of count packed ops; a dict."""
    if len(buf) < count * TRACE_OP_SIZE:
        raise ValueError("trace buffer holds fewer than %d ops" % count)
    ops = ffi.from_buffer("struct hakpy_trace_op[]", buf)
    r = ffi.new("struct hakpy_stress_result *")
    if lib.hakpy_replay_hakmem(ops, count, _uint("slots", nslots, 32),
                               _uint("repeat", repeat, 32), 1 if fill else 0, r) != 0:
        raise ValueError(ffi.string(r.first_error).decode("utf-8", "replace"))
    return _result(r)
