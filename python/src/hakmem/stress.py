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
``count_routes=True`` where nothing can count them is a ValueError.

Before a kernel starts, the most memory its live blocks could reach
(:func:`live_bytes_bound`) is checked against ``max_memory`` (default: half
the memory available now), so a typo in ``max_size`` is an error, not
minutes of swapping. Ctrl-C stops a kernel within 64 allocator calls per
thread and raises KeyboardInterrupt.

A workload can also be written as a trace of calls (:class:`Trace`) and
replayed in C (:func:`replay`), or saved to a file that ``hakmem-stress
replay FILE`` reads (any allocator preloaded).
"""
from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _allocators, _bindings

#: The kernels, by name.
KERNELS: Tuple[str, ...] = tuple(_bindings.KERNELS)
_heap_runs = threading.Lock()  # heap=True runs one at a time (build.py's glue)
_HERE = os.path.dirname(os.path.abspath(__file__))


def runner_path() -> str:
    """The hakmem-stress program: kernels and the trace replayer, calling the
    process's malloc (preload an allocator to test it)."""
    return os.path.join(_HERE, "bin", "hakmem-stress")


@dataclass(frozen=True)
class StressResult:
    """What one kernel run did and found."""

    kernel: str
    ops: int                 #: allocator calls made
    allocs: int              #: blocks allocated
    frees: int               #: blocks freed
    bytes_allocated: int     #: bytes asked for, over all allocations
    errors: int              #: blocks whose contents or alignment were wrong
    alloc_failures: int      #: NULL returns
    seconds: float           #: wall time of the run (threads started to joined)
    cpu_seconds: float       #: process user+system time meanwhile
    peak_rss_kb: int         #: VmHWM after the run (reset before in-process runs)
    first_error: Optional[str]  #: the first verification error, in words
    routes: Optional[Dict[str, int]]  #: hakmem's free routes (see the module doc), or None
    allocator: str           #: the library that served the run
    allocator_version: str   #: the version that library reports

    @property
    def ops_per_s(self) -> float:
        """Allocator calls per wall second."""
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """No verification error and no failed allocation."""
        return self.errors == 0 and self.alloc_failures == 0


def _fill_flag(fill: str) -> bool:
    if fill not in ("full", "sparse"):
        raise ValueError("fill must be 'full' or 'sparse', got %r" % (fill,))
    return fill == "full"


def _ops_or_duration(ops: Optional[int], duration: Optional[float]) -> Tuple[int, float]:
    if ops is not None and duration is not None:
        raise ValueError("give ops or duration, not both")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) \
                or not 0 < duration <= 1e6:
            raise ValueError("duration must be between 0 and 1e6 seconds, got %r" % (duration,))
        return 0, float(duration)
    if ops is None:
        ops = 1_000_000
    if isinstance(ops, bool) or not isinstance(ops, int) or ops <= 0:
        raise ValueError("ops must be a positive int, got %r" % (ops,))
    return ops, 0.0


def _check_count(name: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < low:
        raise ValueError("%s must be at least %d, got %d" % (name, low, value))
    return value


def _available_bytes() -> Optional[int]:
    """MemAvailable from /proc/meminfo, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def live_bytes_bound(kernel: str, *, threads: int, working_set: int, max_size: int,
                     max_align: int = 16) -> int:
    """The most memory a kernel can hold in live blocks at once with these
    parameters: every slot of every thread full of ``max_size`` blocks (and,
    for ``aligned``, each with its alignment's slack). The bound that
    ``max_memory`` is checked against."""
    if kernel == "prodcons":
        depth = 2
        while depth < working_set:
            depth *= 2
        return max(1, threads // 2) * (depth + 1) * max_size
    per_block = max_size + (max_align if kernel == "aligned" else 0)
    extra = 1 if kernel in ("larson", "realloc_chains") else 0  # one block in flight
    return threads * (working_set + extra) * per_block


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return ("%.0f %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0
    return "%d B" % n


def _check_memory(kernel: str, threads: int, working_set: int, max_size: int, max_align: int,
                  max_memory: Optional[int]) -> None:
    bound = live_bytes_bound(kernel, threads=threads, working_set=working_set,
                             max_size=max_size, max_align=max_align)
    if max_memory is None:
        avail = _available_bytes()
        if avail is None:
            return
        limit, what = avail // 2, "half the memory available now"
    else:
        limit, what = _check_count("max_memory", max_memory, 1), "max_memory"
    if bound > limit:
        raise ValueError(
            "%s could hold up to %s in live blocks (threads %d x working_set %d x max_size %s), "
            "more than %s (%s): lower max_size or working_set, or raise max_memory"
            % (kernel, _human(bound), threads, working_set, _human(max_size), _human(limit),
               what))


def _routes_delta(before: Dict[str, Any], after: Dict[str, Any]) -> Optional[Dict[str, int]]:
    if not after["stats_enabled"]:
        return None
    return {r: int(after["route_" + r]) - int(before["route_" + r]) for r in _bindings.ROUTES}


def _in_process(kernel: str, run: Callable[[], Dict[str, Any]]) -> StressResult:
    """run() -> result dict, framed by hakmem's stats for the route deltas."""
    before = _bindings.hak_stats_get()
    r = run()
    after = _bindings.hak_stats_get()
    from . import __version__, library_path

    return StressResult(kernel=kernel, routes=_routes_delta(before, after),
                        allocator=library_path(), allocator_version=__version__, **r)


def _parse_runner_line(line: str) -> Dict[str, str]:
    """The key=value line of hakmem-stress; allocator= is last and may hold spaces."""
    head, sep, path = line.partition(" allocator=")
    if not sep:
        raise RuntimeError("hakmem-stress printed no allocator=: %r" % line)
    fields = dict(w.split("=", 1) for w in head.split()[1:] if "=" in w)
    fields["allocator"] = path.strip()
    return fields


def run_runner(args: Sequence[Union[str, int, float]], allocator: str, count_routes: bool = False,
               timeout: Optional[float] = None
               ) -> Tuple[Dict[str, str], str, Optional[str], str]:
    """Runs hakmem-stress ARGS with allocator preloaded; returns
    (fields, name, path, stderr). Raises RuntimeError when the run did not
    use that allocator or did not finish, ValueError for bad arguments.
    Ctrl-C ends the run (the child gets the signal, or is killed)."""
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


def _from_runner(kernel: str, args: Sequence[Union[str, int, float]], allocator: str,
                 count_routes: bool, timeout: Optional[float] = None) -> StressResult:
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


def _is_hakmem(allocator: Optional[str]) -> bool:
    if allocator is None or allocator == "hakmem":
        return True
    try:
        _, path = _allocators.resolve(allocator)
        _, mine = _allocators.resolve("hakmem")
    except (ValueError, LookupError):
        return False
    return path is not None and mine is not None and os.path.samefile(path, mine)


def run(kernel: str, *, threads: Optional[int] = None, ops: Optional[int] = None,
        duration: Optional[float] = None, min_size: int = 16, max_size: int = 1024,
        working_set: int = 1024, seed: int = 42, fill: str = "full", max_align: int = 4096,
        generations: int = 4, allocator: Optional[str] = None, count_routes: bool = False,
        max_memory: Optional[int] = None, corrupt_every: int = 0,
        timeout: Optional[float] = None, heap: bool = False) -> StressResult:
    """Runs one of :data:`KERNELS` (each also has a function of its own).

    threads: worker threads (default 1; prodcons 2, an even number).
    ops: allocator calls over all threads, the final frees included (default
    1,000,000); or duration: seconds (not both).
    min_size, max_size: sizes are uniform in [min_size, max_size].
    working_set: live blocks per thread (prodcons: the queue's depth).
    seed: the random sequence (each thread derives its own).
    fill: "full" writes and checks every byte; "sparse" one byte per 4 KiB and the ends.
    max_align: aligned only: alignments 16..max_align, powers of two.
    generations: larson only: short-lived threads each worker goes through.
    allocator: None runs in this process against the hakmem the package is
    bound to; "system", "hakmem", "mimalloc", "jemalloc", "tcmalloc", a
    library path or "name=path" runs hakmem-stress with it preloaded.
    count_routes: count hakmem's free routes (only for hakmem: in this process
    they count only when hakmem started with HAKMEM_STATS=1 or
    HAKMEM_FREE_ROUTE_TRACE=1, else use allocator="hakmem"); ValueError
    otherwise, never a silent None.
    max_memory: bytes the live blocks may reach at most (see
    :func:`live_bytes_bound`); default half the memory available now. A
    configuration that could exceed it is a ValueError before anything runs.
    corrupt_every: damage every Nth block just before its check: it exists
    to test the checker (every damaged block must count as an error).
    timeout: seconds, for a run in a subprocess.
    heap: in this process only (allocator None): every allocation in a fresh
    :class:`hakmem.Heap`, destroyed after the run.

    Ctrl-C stops the run within 64 allocator calls per thread and raises
    KeyboardInterrupt.
    """
    if kernel not in _bindings.KERNELS:
        raise ValueError("unknown kernel %r (one of %s)" % (kernel, ", ".join(KERNELS)))
    if threads is None:
        threads = 2 if kernel == "prodcons" else 1
    nops, secs = _ops_or_duration(ops, duration)
    full = _fill_flag(fill)
    for name, value, low in (("threads", threads, 1), ("min_size", min_size, 0),
                             ("max_size", max_size, 0), ("working_set", working_set, 1),
                             ("seed", seed, 0), ("max_align", max_align, 1),
                             ("generations", generations, 1), ("corrupt_every", corrupt_every, 0)):
        _check_count(name, value, low)
    _check_memory(kernel, threads, working_set, max_size, max_align if kernel == "aligned" else 16,
                  max_memory)
    if count_routes and not _is_hakmem(allocator):
        raise ValueError("count_routes counts hakmem's free routes: it needs allocator None or "
                         "'hakmem', not %r" % (allocator,))
    if heap and allocator is not None:
        raise ValueError("heap=True runs in this process: give no allocator")
    if allocator is None:
        if count_routes and not _bindings.hak_stats_get()["stats_enabled"]:
            raise ValueError("count_routes: this process's hakmem counts no routes (it started "
                             "without HAKMEM_STATS=1 or HAKMEM_FREE_ROUTE_TRACE=1); set one "
                             "before importing hakmem, or pass allocator='hakmem'")
        if heap:
            from .heap import Heap

            with _heap_runs, Heap() as h:
                handle = h.handle
                return _in_process(kernel, lambda: _bindings.stress_run(
                    kernel, threads, nops, secs, min_size, max_size, working_set, seed,
                    max_align, generations, full, corrupt_every, True, heap=handle))
        return _in_process(kernel, lambda: _bindings.stress_run(
            kernel, threads, nops, secs, min_size, max_size, working_set, seed, max_align,
            generations, full, corrupt_every, True))
    params: Dict[str, Union[int, str]] = dict(
        threads=threads, min_size=min_size, max_size=max_size, working_set=working_set,
        seed=seed, max_align=max_align, generations=generations, fill=fill,
        corrupt_every=corrupt_every)
    args = [kernel] + ["%s=%s" % kv for kv in params.items()]
    args.append("duration=%r" % secs if secs else "ops=%d" % nops)
    return _from_runner(kernel, args, allocator, count_routes, timeout)


def random_mixed(*, threads: int = 1, ops: Optional[int] = None,
                 duration: Optional[float] = None, min_size: int = 16, max_size: int = 1024,
                 working_set: int = 1024, seed: int = 42, fill: str = "full",
                 allocator: Optional[str] = None, count_routes: bool = False,
                 max_memory: Optional[int] = None, corrupt_every: int = 0,
                 timeout: Optional[float] = None) -> StressResult:
    """The original hakmem workload: each op picks one of ``working_set``
    slots of its thread at random, frees it if full, else allocates into it.
    Parameters as for :func:`run`."""
    return run("random_mixed", threads=threads, ops=ops, duration=duration, min_size=min_size,
               max_size=max_size, working_set=working_set, seed=seed, fill=fill,
               allocator=allocator, count_routes=count_routes, max_memory=max_memory,
               corrupt_every=corrupt_every, timeout=timeout)


def larson(*, threads: int = 1, ops: Optional[int] = None, duration: Optional[float] = None,
           min_size: int = 16, max_size: int = 1024, working_set: int = 1024, seed: int = 42,
           fill: str = "full", generations: int = 4, allocator: Optional[str] = None,
           count_routes: bool = False, max_memory: Optional[int] = None,
           corrupt_every: int = 0, timeout: Optional[float] = None) -> StressResult:
    """Larson-style cross-thread churn: threads swap blocks into random slots
    of one shared table (``working_set * threads`` slots) and free what they
    swap out, mostly another thread's block. Each worker lives through
    ``generations`` short-lived threads, so exiting threads' caches churn too.
    min_size must be >= 1 (the freeing thread reads the size from the
    block). Parameters as for :func:`run`."""
    return run("larson", threads=threads, ops=ops, duration=duration, min_size=min_size,
               max_size=max_size, working_set=working_set, seed=seed, fill=fill,
               generations=generations, allocator=allocator, count_routes=count_routes,
               max_memory=max_memory, corrupt_every=corrupt_every, timeout=timeout)


def prodcons(*, threads: int = 2, ops: Optional[int] = None, duration: Optional[float] = None,
             min_size: int = 16, max_size: int = 1024, working_set: int = 1024, seed: int = 42,
             fill: str = "full", allocator: Optional[str] = None, count_routes: bool = False,
             max_memory: Optional[int] = None, corrupt_every: int = 0,
             timeout: Optional[float] = None) -> StressResult:
    """Producer/consumer pairs (threads must be even): one thread allocates
    and fills, the other checks and frees, through a lock-free queue of
    ``working_set`` slots. Every free is a cross-thread free; peak RSS shows
    whether remotely freed memory is reused. Parameters as for :func:`run`."""
    return run("prodcons", threads=threads, ops=ops, duration=duration, min_size=min_size,
               max_size=max_size, working_set=working_set, seed=seed, fill=fill,
               allocator=allocator, count_routes=count_routes, max_memory=max_memory,
               corrupt_every=corrupt_every, timeout=timeout)


def realloc_chains(*, threads: int = 1, ops: Optional[int] = None,
                   duration: Optional[float] = None, min_size: int = 16, max_size: int = 1024,
                   working_set: int = 1024, seed: int = 42, fill: str = "full",
                   allocator: Optional[str] = None, count_routes: bool = False,
                   max_memory: Optional[int] = None, corrupt_every: int = 0,
                   timeout: Optional[float] = None) -> StressResult:
    """Realloc growth chains: a slot starts at ``min_size`` and grows by up to
    2x per step (1 step in 8 halves it) until ``max_size``, then is freed.
    The kept prefix is checked after every realloc. Parameters as for :func:`run`."""
    return run("realloc_chains", threads=threads, ops=ops, duration=duration,
               min_size=min_size, max_size=max_size, working_set=working_set, seed=seed,
               fill=fill, allocator=allocator, count_routes=count_routes,
               max_memory=max_memory, corrupt_every=corrupt_every, timeout=timeout)


def fragmentation(*, threads: int = 1, ops: Optional[int] = None,
                  duration: Optional[float] = None, min_size: int = 16, max_size: int = 1024,
                  working_set: int = 1024, seed: int = 42, fill: str = "full",
                  allocator: Optional[str] = None, count_routes: bool = False,
                  max_memory: Optional[int] = None, corrupt_every: int = 0,
                  timeout: Optional[float] = None) -> StressResult:
    """Rounds of: fill ``working_set`` blocks of sizes in the lower half of the
    range, free every other one, allocate larger ones (the upper half) into
    the holes, free all. Peak RSS shows how well freed holes are reused.
    Parameters as for :func:`run`."""
    return run("fragmentation", threads=threads, ops=ops, duration=duration,
               min_size=min_size, max_size=max_size, working_set=working_set, seed=seed,
               fill=fill, allocator=allocator, count_routes=count_routes,
               max_memory=max_memory, corrupt_every=corrupt_every, timeout=timeout)


def aligned(*, threads: int = 1, ops: Optional[int] = None, duration: Optional[float] = None,
            min_size: int = 16, max_size: int = 1024, working_set: int = 1024, seed: int = 42,
            fill: str = "full", max_align: int = 4096, allocator: Optional[str] = None,
            count_routes: bool = False, max_memory: Optional[int] = None,
            corrupt_every: int = 0, timeout: Optional[float] = None) -> StressResult:
    """random_mixed with ``aligned_alloc`` at alignments 16..``max_align``
    (powers of two, uniform); a misaligned block counts as an error.
    Parameters as for :func:`run`."""
    return run("aligned", threads=threads, ops=ops, duration=duration, min_size=min_size,
               max_size=max_size, working_set=working_set, seed=seed, fill=fill,
               max_align=max_align, allocator=allocator, count_routes=count_routes,
               max_memory=max_memory, corrupt_every=corrupt_every, timeout=timeout)


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

    def __init__(self) -> None:
        self._buf = bytearray()
        self._live: Dict[Any, int] = {}     # name -> slot
        self._spare: List[int] = []         # freed slots, reused last-in first-out
        self._nslots = 0

    def __len__(self) -> int:
        return len(self._buf) // _OP.size

    @property
    def slots(self) -> int:
        """Size of the slot table the replay needs."""
        return self._nslots

    def _check_size(self, size: object) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError("size must be an int, not %s" % type(size).__name__)
        if not 0 <= size < _MAX_SIZE:
            raise ValueError("size must be between 0 and 2**48 - 1, got %d" % size)

    def _append(self, kind: int, slot: int, size: int = 0, align: int = 0) -> None:
        self._buf += _OP.pack(kind, slot, size, align)

    def _new(self, name: Any, kind: int, size: int, align: int = 0) -> None:
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

    def _slot(self, name: Any, what: str) -> int:
        try:
            return self._live[name]
        except KeyError:
            raise ValueError("op %d: %s of block %r, which is not live" % (len(self), what, name))

    def alloc(self, name: Any, size: int) -> None:
        """name = malloc(size)"""
        self._new(name, _bindings.OP_KINDS["alloc"], size)

    def calloc(self, name: Any, size: int) -> None:
        """name = calloc(1, size); the replayer checks the block is zero."""
        self._new(name, _bindings.OP_KINDS["calloc"], size)

    def aligned_alloc(self, name: Any, alignment: int, size: int) -> None:
        """name = aligned_alloc(alignment, size)"""
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 \
                or alignment & (alignment - 1) or alignment > 1 << 30:
            raise ValueError("alignment must be a power of two up to 2**30, got %r" % (alignment,))
        self._new(name, _bindings.OP_KINDS["aligned_alloc"], size, alignment)

    def realloc(self, name: Any, size: int) -> None:
        """name = realloc(name, size); size >= 1 (use free to free)."""
        self._check_size(size)
        if size == 0:
            raise ValueError("op %d: realloc to 0 bytes; use free()" % len(self))
        self._append(_bindings.OP_KINDS["realloc"], self._slot(name, "realloc"), size)

    def free(self, name: Any) -> None:
        """free(name)"""
        slot = self._slot(name, "free")
        del self._live[name]
        self._spare.append(slot)
        self._append(_bindings.OP_KINDS["free"], slot)

    def ops(self) -> Iterator[Tuple[str, int, int, int]]:
        """The ops as (kind, slot, size, alignment) tuples."""
        for kind, slot, size, align in _OP.iter_unpack(bytes(self._buf)):
            yield _KIND_NAMES[kind], slot, size, align

    @classmethod
    def from_ops(cls, ops: Iterable[Sequence[Any]]) -> "Trace":
        """A Trace from tuples: ("alloc", name, size), ("calloc", name, size),
        ("aligned_alloc", name, alignment, size), ("realloc", name, size),
        ("free", name)."""
        t = cls()
        for op in ops:
            if not op or op[0] not in _bindings.OP_KINDS:
                raise ValueError("unknown op %r" % (op,))
            getattr(t, op[0])(*op[1:])
        return t

    def to_bytes(self) -> bytes:
        """The file format: "HAKTRACE", version, slots, count, then the ops."""
        return _HEADER.pack(b"HAKTRACE", _bindings.TRACE_VERSION, self._nslots,
                            len(self)) + bytes(self._buf)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the trace for ``hakmem-stress replay PATH`` (or Trace.load)."""
        with open(path, "wb") as f:
            f.write(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> "Trace":
        """A Trace from the bytes of a trace file (ValueError if it is not one)."""
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
        live: Dict[Any, int] = {}
        for kind, slot, _, _ in t.ops():
            if kind == "free":
                live.pop(slot, None)
            elif kind != "realloc":
                live[slot] = slot
        t._live = live
        t._spare = sorted(set(range(nslots)) - set(live.values()), reverse=True)
        return t

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Trace":
        """Reads a trace file written by :meth:`save`."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())


def replay(trace: Union["Trace", Iterable[Sequence[Any]]], *, repeat: int = 1,
           fill: str = "full", allocator: Optional[str] = None, count_routes: bool = False,
           timeout: Optional[float] = None) -> StressResult:
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
           "live_bytes_bound", "prodcons", "random_mixed", "realloc_chains", "replay", "run",
           "run_runner", "runner_path"]
