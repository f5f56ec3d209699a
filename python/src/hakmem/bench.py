"""Allocator comparisons: the benchmark suite of ``make bench``, from Python.

    from hakmem import bench
    res = bench.compare(["pair", "prodcons"], quick=True)
    print(res.to_markdown())             # the same report as make bench
    res.plot("compare.png")              # the same chart (needs matplotlib)

The suite (:data:`PRESETS`, from :func:`hakmem._harness.suite`) is the one
``make bench`` runs: the programs of the source tree's ``bench/``, which the
package carries in ``hakmem/bin``, with the same arguments, rounds, report
and chart. Each run is a fresh process with one allocator preloaded; the runs
are interleaved (round after round, workload after workload, each allocator
in turn, the first one rotating), so a change of the machine's load hits
every contender alike. Figures are medians with min and max, peak RSS, ratios
to the system allocator and hakmem's ratio to the best peer, all from the
same call. A run whose ``malloc`` did not come from the library it meant to
preload stops the comparison (:class:`WrongAllocator`).

Allocators: ``"system"``, ``"hakmem"`` (the package's
:func:`hakmem.preload_library_path`), ``"mimalloc"``, ``"jemalloc"``,
``"tcmalloc"`` (found with ``ldconfig -p``; those not installed are skipped
with a note), ``"hakmem-pymem"`` (the cpython workloads only: stock CPython
with :func:`hakmem.pymem.install`), a library path, or ``"name=path"``. Any other name is a
ValueError. Besides the suite, :meth:`Workload.stress`,
:meth:`Workload.replay` and :meth:`Workload.command` make workloads of your own.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Union

from . import _harness
from ._harness import (BENCH_ALLOCATORS, DEFAULT_ALLOCATORS, LENGTHS, Progress, ProgressFn, Results, Run,
                       Workload, WrongAllocator, suite)

#: The result of :func:`compare` (the harness's Results).
Comparison = Results

#: The suite by name, in table order (thread counts follow this machine's CPUs).
PRESETS = {w.name: w for w in suite()}

_HERE = os.path.dirname(os.path.abspath(__file__))


def programs_dir() -> str:
    """The directory of the benchmark programs the package carries."""
    return os.path.join(_HERE, "bin")


def package_paths() -> _harness.Paths:
    """Where the package keeps the suite's programs, data and library."""
    from . import preload_library_path

    return _harness.Paths(programs=(programs_dir(),), data=(programs_dir(),),
                          hakmem_lib=preload_library_path(),
                          origin="python package: %s" % _HERE,
                          reproduce="python -m hakmem bench (see --help)")


def compare(workloads: Union[None, str, Workload, Iterable[Union[str, Workload]]] = None,
            allocators: Union[str, Iterable[str]] = BENCH_ALLOCATORS, repeat: Optional[int] = None,
            *, quick: bool = False, smoke: bool = False, only: Optional[str] = None,
            baseline: str = "system", metric: str = "wall",
            progress: Optional[ProgressFn] = None, timeout: Optional[float] = 600.0) -> Results:
    """Runs workloads under every allocator installed, ``repeat`` rounds,
    interleaved; returns the :class:`Comparison`.

    workloads: names of the suite (a family such as ``"pair"`` is every
    ``pair/...``), :class:`Workload` objects, or None for the whole suite;
    ``only`` keeps those whose name matches a regular expression.
    repeat: rounds (default 5; 3 with quick; 1 with smoke).
    quick: shorter runs (about a fifth); smoke: each program's short fixed
    run (checks that everything works, measures nothing).
    metric: ``"wall"`` (ops per wall second) or ``"cpu"`` (per CPU second).
    progress: called as ``progress(done, total, workload, allocator)`` before
    each run and once at the end (:class:`Progress` prints a line with an
    estimate of the time left).
    timeout: seconds before a run is killed and counted as failed.

    Raises ValueError (an unknown workload or allocator, a bad argument),
    RuntimeError (no allocator to run) or WrongAllocator.
    """
    if quick and smoke:
        raise ValueError("give quick or smoke, not both")
    length = "smoke" if smoke else "quick" if quick else "full"
    everything = suite()
    if workloads is None:
        ws = list(everything)
    else:
        if isinstance(workloads, (str, Workload)):
            workloads = [workloads]
        ws = []
        for w in workloads:
            if isinstance(w, Workload):
                ws.append(w)
            elif isinstance(w, str):
                ws += [x for x in _harness.select(everything, [w]) if x not in ws]
            else:
                raise TypeError("workloads are suite names or Workload objects, not %r" % (w,))
    if only:
        ws = _harness.select(ws, None, only)
    if isinstance(allocators, str):
        allocators = [allocators]
    return _harness.compare(ws, list(allocators), package_paths(), rounds=repeat, length=length,
                            metric=metric, progress=progress, timeout=timeout, baseline=baseline)


def plot(results: Results, path: str) -> str:
    """The chart of a comparison (see :meth:`Comparison.plot`)."""
    return _harness.plot(results, path)


__all__ = ["Comparison", "DEFAULT_ALLOCATORS", "LENGTHS", "PRESETS", "Progress", "Results",
           "Run", "Workload", "WrongAllocator", "compare", "package_paths", "plot",
           "programs_dir", "suite"]
