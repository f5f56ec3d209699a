"""Stress kernels written in C, configured from Python.

Every kernel takes the same knobs: ``threads``; ``ops`` (allocator calls over
all threads, the final frees included) or ``duration`` (seconds); sizes
uniform in ``[min_size, max_size]``; ``working_set`` (live blocks per thread);
``seed``; and ``fill`` ("full" writes and checks every byte of every block,
"sparse" one byte per 4 KiB and the ends). Every block is filled when
allocated and checked before it is freed or resized; a wrong byte counts as
a verification error (``errors``), never a crash of the kernel.

By default a kernel runs in this process against the hakmem instance the
package is bound to. ``allocator="system"``, ``"hakmem"``, ``"mimalloc"``,
``"jemalloc"``, ``"tcmalloc"`` or a library path runs it instead in the
hakmem-stress program with that allocator preloaded (what hakmem.bench does).

``heap=True`` runs an in-process kernel with every allocation in a fresh
:class:`hakmem.Heap` (hak_heap_alloc; the kernel's frees and reallocs are
the usual ones, which keep a heap's blocks in their heap), destroyed after
the run.

``routes`` in the result are the deltas of hakmem's free-route counters. They
are counted only when hakmem started with HAKMEM_STATS=1 or
HAKMEM_FREE_ROUTE_TRACE=1 (set it before ``import hakmem``), or with
``count_routes=True`` for a run in a subprocess; otherwise they are None.

A workload can also be written as a trace of calls (:class:`Trace`) and
replayed in C (:func:`replay`), or saved to a file that ``hakmem-stress
replay FILE`` reads (any allocator preloaded).
"""
import os
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Dict, Optional

from . import _allocators, _bindings

KERNELS = tuple(_bindings.KERNELS)
_heap_runs = threading.Lock()  # heap=True runs one at a time (build.py's glue)
_HERE = os.path.dirname(os.path.abspath(__file__))


def runner_path():
    """The hakmem-stress program: kernels and the trace replayer, calling the
    process's malloc (preload an allocator to test it)."""
    return os.path.join(_HERE, "bin", "hakmem-stress")


@dataclass(frozen=True)
class StressResult:
    kernel: str
    ops: int                 # allocator calls made
    allocs: int
    frees: int
    bytes_allocated: int
    errors: int              # blocks whose contents or alignment were wrong
    alloc_failures: int      # NULL returns
    seconds: float           # wall time of the run (threads started to joined)
    cpu_seconds: float       # process user+system time meanwhile
    peak_rss_kb: int         # VmHWM after the run (reset before in-process runs)
    first_error: Optional[str]
    routes: Optional[Dict[str, int]]  # hakmem's free routes (see the module doc)
    allocator: str           # the library that served the run
    allocator_version: str

    @property
    def ops_per_s(self):
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self):
        """No verification error and no failed allocation."""
        return self.errors == 0 and self.alloc_failures == 0


def _fill_flag(fill):
    if fill not in ("full", "sparse"):
        raise ValueError("fill must be 'full' or 'sparse', got %r" % (fill,))
    return fill == "full"


def _ops_or_duration(ops, duration):
    if ops is not None and duration is not None:
        raise ValueError("give ops or duration, not both")
    if duration is not None:
        if not duration > 0:
            raise ValueError("duration must be > 0 seconds, got %r" % (duration,))
        return 0, float(duration)
    if ops is None:
        ops = 1_000_000
    if isinstance(ops, bool) or not isinstance(ops, int) or ops <= 0:
        raise ValueError("ops must be a positive int, got %r" % (ops,))
    return ops, 0.0


def _routes_delta(before, after):
    if not after["stats_enabled"]:
        return None
    return {r: after["route_" + r] - before["route_" + r] for r in _bindings.ROUTES}


def _in_process(kernel, run):
    """run() -> result dict, framed by hakmem's stats for the route deltas."""
    before = _bindings.hak_stats_get()
    r = run()
    after = _bindings.hak_stats_get()
    from . import __version__, loaded_library

    return StressResult(kernel=kernel, routes=_routes_delta(before, after),
                        allocator=loaded_library(), allocator_version=__version__, **r)


def _parse_runner_line(line):
    """The key=value line of hakmem-stress; allocator= is last and may hold spaces."""
    head, sep, path = line.partition(" allocator=")
    if not sep:
        raise RuntimeError("hakmem-stress printed no allocator=: %r" % line)
    fields = dict(w.split("=", 1) for w in head.split()[1:] if "=" in w)
    fields["allocator"] = path.strip()
    return fields


def run_runner(args, allocator, count_routes=False, timeout=None):
    """Runs hakmem-stress ARGS with allocator preloaded; returns
    (fields, name, path, stderr). Raises RuntimeError when the run did not
    use that allocator or did not finish, ValueError for bad arguments."""
    name, path = _allocators.resolve(allocator)
    env = _allocators.preload_env(path)
    if count_routes:
        env["HAKMEM_FREE_ROUTE_TRACE"] = "1"
    p = subprocess.run([runner_path()] + [str(a) for a in args], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    if p.returncode == 2:
        raise ValueError(p.stderr.strip())
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("hakmem-stress ")]
    if p.returncode not in (0, 1) or not lines:
        raise RuntimeError("hakmem-stress %s under %s ended with status %d: %s"
                           % (" ".join(map(str, args)), name, p.returncode, p.stderr.strip()))
    fields = _parse_runner_line(lines[-1])
    # A figure from the wrong (or a stale) library is worse than none.
    if not _allocators.is_expected(path, fields["allocator"]):
        raise RuntimeError("asked for %s (%s) but the run's malloc came from %s"
                           % (name, path or "no preload", fields["allocator"]))
    return fields, name, path, p.stderr


def _from_runner(kernel, args, allocator, count_routes, timeout=None):
    f, name, path, stderr = run_runner(args, allocator, count_routes, timeout)
    routes = None
    if f.get("stats_enabled") == "1":
        routes = {r: int(f["route_" + r]) for r in _bindings.ROUTES}
    marker = "hakmem-stress: first error: "
    first_error = next((ln[len(marker):] for ln in stderr.splitlines()
                        if ln.startswith(marker)), None)
    return StressResult(
        kernel=kernel, ops=int(f["ops"]), allocs=int(f["allocs"]), frees=int(f["frees"]),
        bytes_allocated=int(f["bytes_allocated"]), errors=int(f["errors"]),
        alloc_failures=int(f["alloc_failures"]), seconds=float(f["seconds"]),
        cpu_seconds=float(f["cpu_seconds"]), peak_rss_kb=int(f["peak_rss_kb"]),
        first_error=first_error, routes=routes, allocator=f["allocator"],
        allocator_version=f.get("allocator_version", "unknown"))


def run(kernel, *, threads=None, ops=None, duration=None, min_size=16, max_size=1024,
        working_set=1024, seed=42, fill="full", max_align=4096, generations=4,
        allocator=None, count_routes=False, corrupt_every=0, timeout=None, heap=False):
    """Runs one of KERNELS; see the module doc and each kernel's function.

    corrupt_every=N damages every Nth block just before its check: it exists
    to test the checker (every damaged block must count as an error).
    timeout (seconds) applies to runs in a subprocess. heap=True: in-process
    only, every allocation in a hakmem.Heap destroyed after the run.
    """
    if kernel not in _bindings.KERNELS:
        raise ValueError("unknown kernel %r (one of %s)" % (kernel, ", ".join(KERNELS)))
    if threads is None:
        threads = 2 if kernel == "prodcons" else 1
    nops, secs = _ops_or_duration(ops, duration)
    full = _fill_flag(fill)
    if heap:
        if allocator is not None:
            raise ValueError("heap=True runs in this process: give no allocator")
        from .heap import Heap

        with _heap_runs, Heap() as h:
            return _in_process(kernel, lambda: _bindings.stress_run(
                kernel, threads, nops, secs, min_size, max_size, working_set, seed, max_align,
                generations, full, corrupt_every, True, heap=h.handle))
    if allocator is None:
        return _in_process(kernel, lambda: _bindings.stress_run(
            kernel, threads, nops, secs, min_size, max_size, working_set, seed, max_align,
            generations, full, corrupt_every, True))
    params = dict(threads=threads, min_size=min_size, max_size=max_size,
                  working_set=working_set, seed=seed, max_align=max_align,
                  generations=generations, fill=fill, corrupt_every=corrupt_every)
    for k, v in params.items():
        if k != "fill" and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError("%s must be a non-negative int, got %r" % (k, v))
    args = [kernel] + ["%s=%s" % kv for kv in params.items()]
    args.append("duration=%r" % secs if secs else "ops=%d" % nops)
    return _from_runner(kernel, args, allocator, count_routes, timeout)


def random_mixed(**kw):
    """The original hakmem workload: each op picks one of working_set slots
    of its thread at random, frees it if full, else allocates into it."""
    return run("random_mixed", **kw)


def larson(**kw):
    """Larson-style cross-thread churn: threads swap blocks into random slots
    of one shared table (working_set * threads slots) and free what they swap
    out, mostly another thread's block. Each worker lives through
    ``generations`` short-lived threads, so exiting threads' caches churn too.
    min_size must be >= 1 (the freeing thread reads the size from the block)."""
    return run("larson", **kw)


def prodcons(**kw):
    """Producer/consumer pairs (threads must be even): one thread allocates
    and fills, the other checks and frees, through a lock-free queue of
    working_set slots. Every free is a cross-thread free; peak RSS shows
    whether remotely freed memory is reused."""
    return run("prodcons", **kw)


def realloc_chains(**kw):
    """Realloc growth chains: a slot starts at min_size and grows by up to 2x
    per step (1 step in 8 halves it) until max_size, then is freed. The kept
    prefix is checked after every realloc."""
    return run("realloc_chains", **kw)


def fragmentation(**kw):
    """Rounds of: fill working_set blocks of sizes in the lower half of the
    range, free every other one, allocate larger ones (the upper half) into
    the holes, free all. Peak RSS shows how well freed holes are reused."""
    return run("fragmentation", **kw)


def aligned(**kw):
    """random_mixed with aligned_alloc at alignments 16..max_align (powers of
    two, uniform); a misaligned block counts as an error."""
    return run("aligned", **kw)


# ---- traces -------------------------------------------------------------------

_OP = struct.Struct("<IIQQ")
_HEADER = struct.Struct("<8sIIQ")
_KIND_NAMES = {v: k for k, v in _bindings.OP_KINDS.items()}
_MAX_SIZE = 1 << 48


class Trace:
    """A workload as a sequence of allocator calls on named blocks.

    >>> t = Trace()
    >>> t.alloc("a", 64); t.realloc("a", 4096); t.free("a")

    Block names are any hashable values; each live name holds one slot, and
    slots are reused after a free, so the replayer's table stays as small as
    the most blocks live at once. Ops are checked as they are added (an alloc
    of a live name or a free of a dead one raises ValueError) and packed at
    once into the format the C replayer reads.
    """

    def __init__(self):
        self._buf = bytearray()
        self._live = {}     # name -> slot
        self._spare = []    # freed slots, reused last-in first-out
        self._nslots = 0

    def __len__(self):
        return len(self._buf) // _OP.size

    @property
    def slots(self):
        """Size of the slot table the replay needs."""
        return self._nslots

    def _check_size(self, size):
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError("size must be an int, not %s" % type(size).__name__)
        if not 0 <= size < _MAX_SIZE:
            raise ValueError("size must be between 0 and 2**48 - 1, got %d" % size)

    def _append(self, kind, slot, size=0, align=0):
        self._buf += _OP.pack(kind, slot, size, align)

    def _new(self, name, kind, size, align=0):
        self._check_size(size)
        if name in self._live:
            raise ValueError("op %d: block %r is already live" % (len(self), name))
        if self._spare:
            slot = self._spare.pop()
        else:
            slot = self._nslots
            self._nslots += 1
        self._live[name] = slot
        self._append(kind, slot, size, align)

    def _slot(self, name, what):
        try:
            return self._live[name]
        except KeyError:
            raise ValueError("op %d: %s of block %r, which is not live" % (len(self), what, name))

    def alloc(self, name, size):
        """name = malloc(size)"""
        self._new(name, _bindings.OP_KINDS["alloc"], size)

    def calloc(self, name, size):
        """name = calloc(1, size); the replayer checks the block is zero."""
        self._new(name, _bindings.OP_KINDS["calloc"], size)

    def aligned_alloc(self, name, alignment, size):
        """name = aligned_alloc(alignment, size)"""
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 \
                or alignment & (alignment - 1) or alignment > 1 << 30:
            raise ValueError("alignment must be a power of two up to 2**30, got %r" % (alignment,))
        self._new(name, _bindings.OP_KINDS["aligned_alloc"], size, alignment)

    def realloc(self, name, size):
        """name = realloc(name, size); size >= 1 (use free to free)."""
        self._check_size(size)
        if size == 0:
            raise ValueError("op %d: realloc to 0 bytes; use free()" % len(self))
        self._append(_bindings.OP_KINDS["realloc"], self._slot(name, "realloc"), size)

    def free(self, name):
        """free(name)"""
        slot = self._slot(name, "free")
        del self._live[name]
        self._spare.append(slot)
        self._append(_bindings.OP_KINDS["free"], slot)

    def ops(self):
        """The ops as (kind, slot, size, alignment) tuples."""
        for kind, slot, size, align in _OP.iter_unpack(bytes(self._buf)):
            yield _KIND_NAMES[kind], slot, size, align

    @classmethod
    def from_ops(cls, ops):
        """A Trace from tuples: ("alloc", name, size), ("calloc", name, size),
        ("aligned_alloc", name, alignment, size), ("realloc", name, size),
        ("free", name)."""
        t = cls()
        for op in ops:
            if not op or op[0] not in _bindings.OP_KINDS:
                raise ValueError("unknown op %r" % (op,))
            getattr(t, op[0])(*op[1:])
        return t

    def to_bytes(self):
        """The file format: "HAKTRACE", version, slots, count, then the ops."""
        return _HEADER.pack(b"HAKTRACE", _bindings.TRACE_VERSION, self._nslots,
                            len(self)) + bytes(self._buf)

    def save(self, path):
        """Writes the trace for ``hakmem-stress replay PATH`` (or Trace.load)."""
        with open(path, "wb") as f:
            f.write(self.to_bytes())

    @classmethod
    def from_bytes(cls, data):
        if len(data) < _HEADER.size:
            raise ValueError("too short for a hakmem trace")
        magic, version, nslots, count = _HEADER.unpack_from(data)
        if magic != b"HAKTRACE":
            raise ValueError("not a hakmem trace (no HAKTRACE mark)")
        if version != _bindings.TRACE_VERSION:
            raise ValueError("trace version %d; this hakmem reads version %d"
                             % (version, _bindings.TRACE_VERSION))
        if len(data) != _HEADER.size + count * _OP.size:
            raise ValueError("trace length does not match its op count (%d)" % count)
        buf = bytearray(data[_HEADER.size:])
        _bindings.trace_check(buf, count, nslots)
        t = cls()
        t._buf, t._nslots = buf, nslots
        # Names of a loaded trace are its slot numbers: rebuild who is live
        # so that more ops can be appended.
        live = {}
        for kind, slot, _, _ in t.ops():
            if kind == "free":
                live.pop(slot, None)
            elif kind != "realloc":
                live[slot] = slot
        t._live = live
        t._spare = sorted(set(range(nslots)) - set(live.values()), reverse=True)
        return t

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())


def replay(trace, *, repeat=1, fill="full", allocator=None, count_routes=False, timeout=None):
    """Replays a Trace (or an iterable of op tuples, see Trace.from_ops) in C,
    ``repeat`` times, checking every block as the kernels do; blocks the
    trace leaves live are checked and freed at the end of each pass.
    allocator: as for the kernels (None: in this process, the bound hakmem)."""
    if not isinstance(trace, Trace):
        trace = Trace.from_ops(trace)
    full = _fill_flag(fill)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError("repeat must be a positive int, got %r" % (repeat,))
    if allocator is None:
        return _in_process("replay", lambda: _bindings.replay(
            trace._buf, len(trace), trace.slots, repeat, full))
    with tempfile.TemporaryDirectory(prefix="hakmem-trace-") as d:
        path = os.path.join(d, "trace.bin")
        trace.save(path)
        return _from_runner("replay", ["replay", path, "repeat=%d" % repeat, "fill=" + fill],
                            allocator, count_routes, timeout)


__all__ = ["KERNELS", "StressResult", "Trace", "aligned", "fragmentation", "larson",
           "prodcons", "random_mixed", "realloc_chains", "replay", "run", "runner_path"]
