"""The hakmem benchmark suite: one definition behind ``make bench`` and
``python -m hakmem bench``.

:func:`suite` lists every workload once: a program of ``bench/`` and its
arguments at each length (full, quick, smoke). Both front ends run that list
with this module, so they measure the same named workloads the same way and
write the same report, CSV, JSON and chart:

- ``make bench`` runs ``bench/run.sh``, which runs this file as a script
  straight from the source tree, with the programs of the build tree and the
  library ``.libs/libhakmem.so``;
- ``python -m hakmem bench`` (and :func:`hakmem.bench.compare`) runs it with
  the copies of the same programs that the package carries in ``hakmem/bin``
  and the package's own ``libhakmem.so``.

Each run is a fresh process with one allocator preloaded (``LD_PRELOAD``);
the runs are interleaved (round after round, workload after workload, each
contender in turn, the first one rotating), since the machines are small and
shared. Every program prints ``allocator=PATH``, the file that defines the
``malloc`` it called: a run that used another library than the one it was
meant to stops the harness, as a figure from the wrong library is worse than
none. Figures are medians with min and max, peak RSS (the program's VmHWM),
and ratios to the system allocator and to the best peer from the same run.

Standard library only (matplotlib, when installed, draws the chart), so that
``make bench`` works before anything is installed. Adding a workload is one
entry in :func:`suite` (and, for a new program, its ``bench/*.c`` file and
its line in ``bench/suite.mk``; the Python package builds every program the
suite names).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script (bench/run.sh), the interpreter puts this file's
    # directory, the package's, first on sys.path: its modules (trace.py,
    # bench.py...) must not shadow the standard library's.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import (IO, Any, Callable, Dict, Iterable, List, Mapping, Optional,  # noqa: E402
                    Sequence, Tuple, Union)

#: Run lengths: ``full`` (``make bench``), ``quick`` (about a fifth of the
#: work, fewer rounds by default) and ``smoke`` (each program's fixed short
#: run: checks that everything works, measures nothing).
LENGTHS = ("full", "quick", "smoke")
#: Rounds when none are asked for, per length.
DEFAULT_ROUNDS = {"full": 5, "quick": 3, "smoke": 1}
#: The contenders, in table order, when none are asked for.
DEFAULT_ALLOCATORS = ("system", "hakmem", "mimalloc", "jemalloc", "tcmalloc")
#: The contender that runs only the cpython family: stock CPython with
#: ``hakmem.pymem.install()`` (hakmem behind PyMem_SetAllocator), nothing
#: preloaded. In that family "system" is stock CPython (pymalloc over the C
#: library's malloc) and every preloaded allocator runs with
#: PYTHONMALLOC=malloc; see :func:`cpython_env`.
PYMEM = "hakmem-pymem"
#: The contenders of ``make bench`` and ``python -m hakmem bench``.
BENCH_ALLOCATORS = DEFAULT_ALLOCATORS + (PYMEM,)
#: Peers by name: library name prefixes looked up with ``ldconfig -p``, the
#: first found wins. gperftools' tcmalloc_minimal (no heap profiler) is the
#: one speed comparisons use.
PEERS: Dict[str, Tuple[str, ...]] = {
    "mimalloc": ("libmimalloc",),
    "jemalloc": ("libjemalloc",),
    "tcmalloc": ("libtcmalloc_minimal", "libtcmalloc"),
}
#: The kernels of the hakmem-stress program (hakmem.stress), for custom workloads.
STRESS_KERNELS = ("random_mixed", "larson", "prodcons", "realloc_chains", "fragmentation",
                  "aligned")
#: Output fields that, when above zero, mean the allocator broke a promise
#: (bench_aligned's misaligned blocks; hakmem-stress's verification errors
#: and failed allocations). The run is timed all the same and the report says so.
WARNING_FIELDS = ("misaligned", "errors", "alloc_failures")

# ---- the suite -------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One benchmark: a program and its arguments at each length.

    ``args``, ``quick`` and ``smoke`` are argument lists in which ``{seed}``
    becomes the round number (every contender of a round sees the same
    sequence) and ``{cpython_script}`` the path of bench_cpython.py.
    ``program`` is the name of a program of the suite (found in the build
    tree or the package), ``hakmem-stress``, or any command (see
    :meth:`command`). ``verified`` says the program prints ``allocator=`` for
    the check of which library it ran with; a command does not.
    """

    name: str
    program: str
    args: Tuple[str, ...]
    quick: Optional[Tuple[str, ...]] = None
    smoke: Tuple[str, ...] = ("--smoke",)
    about: str = ""
    verified: bool = True

    def arguments(self, length: str, seed: int, cpython_script: str = "") -> List[str]:
        """The argument list for one run at ``length`` in round ``seed``."""
        if length not in LENGTHS:
            raise ValueError("length must be one of %s, got %r" % (", ".join(LENGTHS), length))
        chosen = {"full": self.args, "quick": self.quick if self.quick is not None else self.args,
                  "smoke": self.smoke}[length]
        # replace, not format: a command's own braces stay as they are.
        return [a.replace("{seed}", str(seed)).replace("{cpython_script}", cpython_script)
                for a in chosen]

    @classmethod
    def stress(cls, name: str, kernel: str, **params: Union[int, float, str]) -> "Workload":
        """A kernel of ``hakmem-stress`` (see :mod:`hakmem.stress`) with these
        parameters; quick runs do a tenth of its ``ops`` or ``duration``, smoke
        runs a hundredth. ``seed`` defaults to the round number."""
        if kernel not in STRESS_KERNELS:
            raise ValueError("unknown kernel %r (one of %s)" % (kernel, ", ".join(STRESS_KERNELS)))
        for key, value in params.items():
            if key not in _STRESS_KEYS:
                raise TypeError("Workload.stress() got an unexpected parameter %r (kernel "
                                "parameters: %s)" % (key, ", ".join(sorted(_STRESS_KEYS))))
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError("%s must be a number or a string, not %r" % (key, value))

        def scaled(div: int) -> Tuple[str, ...]:
            p: Dict[str, Union[int, float, str]] = dict(params)
            if isinstance(p.get("ops"), int):
                p["ops"] = max(1000, int(p["ops"]) // div)
            if isinstance(p.get("duration"), (int, float)):
                p["duration"] = float(p["duration"]) / div
            p.setdefault("seed", "{seed}")
            return (kernel,) + tuple("%s=%s" % kv for kv in p.items())

        return cls(name=name, program="hakmem-stress", args=scaled(1), quick=scaled(10),
                   smoke=scaled(100), about="hakmem.stress kernel %s" % kernel)

    @classmethod
    def replay(cls, name: str, path: str, repeat: int = 1) -> "Workload":
        """A saved trace (``hakmem-stress replay PATH``), ``repeat`` times."""
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ValueError("repeat must be a positive int, got %r" % (repeat,))
        args = ("replay", os.path.abspath(os.fspath(path)), "repeat=%d" % repeat)
        return cls(name=name, program="hakmem-stress", args=args, quick=args, smoke=args,
                   about="trace %s" % os.path.basename(os.fspath(path)))

    @classmethod
    def command(cls, name: str, argv: Sequence[str]) -> "Workload":
        """Any program, timed from outside: ops/s is runs per second (1 / wall
        time), peak RSS from /usr/bin/time. Which allocator it really used cannot
        be checked (it prints no ``allocator=``)."""
        argv = tuple(str(a) for a in argv)
        if not argv:
            raise ValueError("a command workload needs a program to run")
        return cls(name=name, program=argv[0], args=argv[1:], quick=argv[1:], smoke=argv[1:],
                   about="the command %s" % " ".join(argv), verified=False)


_STRESS_KEYS = frozenset({"threads", "ops", "duration", "min_size", "max_size", "working_set",
                          "seed", "max_align", "generations", "fill", "corrupt_every"})


def suite(ncpu: Optional[int] = None) -> List[Workload]:
    """Every workload of ``make bench`` and ``python -m hakmem bench``, in
    table order. Thread counts follow the machine's CPU count: the
    false-sharing pair wants one thread per core, larson a server pool of two
    per core (at most 8), mstress many (16)."""
    n = ncpu or os.cpu_count() or 2
    t_cache, t_larson, t_ms = n, min(8, 2 * n), 16
    out: List[Workload] = []

    def add(name: str, program: str, full: str, quick: str, about: str,
            smoke: str = "--smoke") -> None:
        out.append(Workload(name, program, tuple(full.split()), tuple(quick.split()),
                            tuple(smoke.split()), about))

    # Lengths: ~0.3-1 s a run on a small machine (the slowest contender of a
    # workload sets it), so that process start and first page faults stay
    # small beside it; quick runs are 4-5 times shorter.
    for ws in (8192, 400):
        for mx in (128, 256, 512, 1024):
            add("random_mixed/%d/ws%d" % (mx, ws), "bench_random_mixed",
                "50M %d {seed} %d" % (mx, ws), "10M %d {seed} %d" % (mx, ws),
                "the thread cache under cache misses")
    for size in (16, 64, 256, 1024):
        add("pair/%d" % size, "bench_pair", "%d 100M" % size, "%d 20M" % size,
            "the fast path alone")
    add("prodcons/16-1024", "bench_prodcons", "4M 16 1024", "1M 16 1024",
        "remote frees and their reuse")
    # Producers and consumers in pairs (2 and 4 threads in all), blocks passed
    # in batches of 1,000 through a queue of at most 100 batches.
    for label, sizes in (("64", "64 64"), ("16-128", "16 128")):
        for t in (2, 4):
            add("xmalloc/%s/t%d" % (label, t),
                "bench_xmalloc", "%d 6M %s" % (t, sizes), "%d 1500k %s" % (t, sizes),
                "producers allocate, consumers free, in batches",
                smoke="%d 100k %s" % (t, sizes))
    add("larson/10-1000/t%d" % t_larson, "bench_larson", "%d 0.5 10 1000" % t_larson,
        "%d 0.15 10 1000" % t_larson, "cross-thread frees, thread birth and exit")
    add("cache_thrash/8/t%d" % t_cache, "bench_cache", "thrash %d 300k 8 100" % t_cache,
        "thrash %d 80k 8 100" % t_cache, "active false sharing",
        smoke="thrash %d 20k 8 100" % t_cache)
    add("cache_scratch/8/t%d" % t_cache, "bench_cache", "scratch %d 300k 8 100" % t_cache,
        "scratch %d 80k 8 100" % t_cache, "passive false sharing",
        smoke="scratch %d 20k 8 100" % t_cache)
    add("mstress/8-64K/t%d" % t_ms, "bench_mstress", "%d 20 65536" % t_ms, "%d 6 65536" % t_ms,
        "many threads, mixed sizes, orphaned blocks")
    add("realloc/step-8K", "bench_realloc", "step 8M 8192", "step 2M 8192",
        "small in-place growth", smoke="step 200k 8192")
    add("realloc/double-4M", "bench_realloc", "double 4000 4194304", "double 1000 4194304",
        "doubling into large blocks (mremap)", smoke="double 200 4194304")
    add("aligned/16-4096", "bench_aligned", "6M 16 4096", "2M 16 4096", "aligned allocation")
    add("large/64K-8M", "bench_large", "3000 65536 8388608", "800 65536 8388608",
        "large blocks, realloc, page reuse")
    # CPython: ~0.1 s of work per unit of scale (mixed: 0.2 s), start-up ~20 ms.
    for kind, scale in (("json", 5), ("objects", 5), ("strings", 6), ("dict", 5),
                        ("regex_sort", 5), ("bytearray", 5), ("threads", 5), ("mixed", 3)):
        add("cpython/%s" % kind, "bench_cpython", "%s %d {cpython_script}" % (kind, scale),
            "%s 1 {cpython_script}" % kind, "CPython: %s" % kind,
            smoke="%s 1 {cpython_script}" % kind)
    # Huge buffers freed and reallocated (image, compression, database
    # programs): the figure to read beside ops/s is peak RSS. Shorter than the
    # issue's 5,000 cycles because two peers take 5-6 ms a cycle here (map,
    # fault, unmap); the rate settles within a few hundred cycles.
    add("churn/5-25M", "bench_churn", "1000", "300", "huge buffers freed and reallocated")
    add("churn/1-4M", "bench_churn", "20000 1048576 4194304", "5000 1048576 4194304",
        "large buffers freed and reallocated")
    # Slow paths over big bookkeeping: 10k free large ranges, 1k SuperSlabs
    # with single free units. A search that grows with the heap shows here.
    add("coldpath/large-10k", "bench_coldpath", "large 10000 20000", "large 10000 5000",
        "large malloc+free among 10k free ranges")
    add("coldpath/arena-1k", "bench_coldpath", "arena 1000 20000", "arena 1000 5000",
        "new slabs in a fragmented arena")
    return out


#: What one op is, per program, for the report's table legend.
OP_MEANING = (
    "One op: random_mixed, larson, mstress, realloc, aligned, large: one allocator call; "
    "pair: a malloc+free pair; prodcons, xmalloc: one item (malloc in one thread, free "
    "in another); cache_*: one malloc, 800 byte writes and a free; churn, coldpath: one "
    "allocator call; cpython/*: one run of the "
    "script, interpreter start included (system: stock CPython, pymalloc; a preloaded "
    "allocator: PYTHONMALLOC=malloc; hakmem-pymem: stock CPython with "
    "hakmem.pymem.install()); a command: one run.")


def select(workloads: Sequence[Workload], names: Optional[Iterable[str]] = None,
           only: Optional[str] = None) -> List[Workload]:
    """The workloads named (a name, or a family: ``pair`` is every ``pair/...``),
    in suite order, and/or those whose name matches the regular expression
    ``only``. ValueError for a name that matches nothing."""
    chosen = list(workloads)
    if names is not None:
        wanted = [n for n in names if n]
        keep = []
        for n in wanted:
            hit = [w for w in chosen if w.name == n or w.name.startswith(n + "/")]
            if not hit:
                raise ValueError("unknown workload %r (the suite: %s)"
                                 % (n, ", ".join(w.name for w in workloads)))
            keep += [w for w in hit if w not in keep]
        chosen = [w for w in chosen if w in keep]
    if only:
        rx = re.compile(only)
        chosen = [w for w in chosen if rx.search(w.name)]
        if not chosen:
            raise ValueError("--only %r matches no workload" % only)
    return chosen


# ---- contenders --------------------------------------------------------------------

_ldconfig_cache: Optional[Dict[str, str]] = None


def ldconfig_cache() -> Dict[str, str]:
    """{library file name: path} from ``ldconfig -p``, read whole (never
    through a pipe that a reader leaves early: that killed ``make bench`` with
    SIGPIPE); {} without ldconfig."""
    global _ldconfig_cache
    if _ldconfig_cache is None:
        exe = shutil.which("ldconfig") or next(
            (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None)
        out = ""
        if exe is not None:
            try:
                out = subprocess.run([exe, "-p"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True,
                                     timeout=60).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
        found: Dict[str, str] = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s.*=>\s*(\S+)\s*$", line)
            if m and m.group(1) not in found:
                found[m.group(1)] = m.group(2)
        _ldconfig_cache = found
    return _ldconfig_cache


def find_peer(prefixes: Sequence[str]) -> Optional[str]:
    """Real path of the first library named ``PREFIX.so.<digits>`` in the
    loader cache, or None."""
    cache = ldconfig_cache()
    for prefix in prefixes:
        for name, path in cache.items():
            if re.fullmatch(re.escape(prefix) + r"\.so\.\d+", name):
                return os.path.realpath(path)
    return None


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or ".so" in os.path.basename(spec)


def resolve(spec: str, hakmem_lib: Optional[str]) -> Tuple[str, Optional[str]]:
    """(name, real path) of an allocator; path None for the system allocator.

    spec: ``system``, ``hakmem`` (the library ``hakmem_lib``), ``mimalloc``,
    ``jemalloc``, ``tcmalloc``, a path to a shared library, or ``name=path``.
    ValueError for a name that is none of these or a path that does not exist
    (a typo must not run a comparison without it); LookupError, with the
    reason, for a peer that is not installed or a missing hakmem library.
    """
    if "=" in spec:
        name, path = spec.split("=", 1)
        if not name or not path:
            raise ValueError("allocator %r: give name=path" % spec)
    elif spec in ("system", "hakmem", PYMEM) or spec in PEERS:
        name, path = spec, ""
    elif _looks_like_path(spec):
        name, path = os.path.basename(spec), spec
    else:
        raise ValueError("unknown allocator %r: give system, hakmem, %s, a library path or "
                         "name=path" % (spec, ", ".join(PEERS)))
    if path:
        if not os.path.isfile(path):
            raise ValueError("allocator %s: %s does not exist" % (name, path))
        return name, os.path.realpath(path)
    if name == "system":
        return name, None
    if name == PYMEM:
        d, why = pymem_dir()
        if d is None:
            raise LookupError(why)
        return name, None
    if name == "hakmem":
        if not hakmem_lib or not os.path.isfile(hakmem_lib):
            raise LookupError("hakmem: %s not found (build it first); hakmem is NOT in these "
                              "figures" % (hakmem_lib or "no library"))
        return name, os.path.realpath(hakmem_lib)
    found = find_peer(PEERS[name])
    if found is None:
        raise LookupError("%s: not found by ldconfig -p; skipped" % name)
    return name, found


_pymem_dir: Optional[Tuple[Optional[str], str]] = None


def pymem_dir() -> Tuple[Optional[str], str]:
    """(the directory that holds an importable hakmem package, for the
    hakmem-pymem contender, or None; why not). Tried in turn:
    $HAKMEM_BENCH_PYMEM, this package's own (``python -m hakmem bench``), the
    one ``python3`` (or $BENCH_PYTHON) imports. The one chosen must import
    with -S in the benchmark's Python: bench_cpython.py adds it to sys.path."""
    global _pymem_dir
    if _pymem_dir is not None:
        return _pymem_dir
    py = os.environ.get("BENCH_PYTHON") or "python3"
    tries = [os.environ.get("HAKMEM_BENCH_PYMEM", "")]
    if __package__ == "hakmem":
        tries.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        tries.append(subprocess.run(
            [py, "-c", "import os, hakmem._core; "
             "print(os.path.dirname(os.path.dirname(hakmem.__file__)))"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True,
            timeout=60, cwd="/").stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    _pymem_dir = (None, "%s: no hakmem package that %s imports (pip install ./python, or "
                        "HAKMEM_BENCH_PYMEM=its site-packages); skipped" % (PYMEM, py))
    for d in tries:
        if not d:
            continue
        try:
            ok = subprocess.run([py, "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                 "import hakmem.pymem", d], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=60, cwd="/").returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            _pymem_dir = (os.path.realpath(d), "")
            break
    return _pymem_dir


def cpython_env(contender: str, lib: Optional[str]) -> Dict[str, str]:
    """The environment bench_cpython needs for this contender: stock
    pymalloc for the system allocator, hakmem.pymem for hakmem-pymem,
    PYTHONMALLOC=malloc for a preloaded library."""
    if contender == PYMEM:
        return {"BENCH_CPYTHON_MALLOC": "pymem", "BENCH_CPYTHON_PYMEM": pymem_dir()[0] or ""}
    return {"BENCH_CPYTHON_MALLOC": "pymalloc" if lib is None else "malloc"}


def discover(specs: Iterable[str] = DEFAULT_ALLOCATORS, hakmem_lib: Optional[str] = None
             ) -> Tuple[Dict[str, Optional[str]], List[str]]:
    """({name: path, None for the system allocator}, notes) for the
    allocators asked for that are installed; those that are not get a note.
    ValueError for an unknown name or a path that does not exist."""
    if isinstance(specs, str):
        specs = [specs]
    found: Dict[str, Optional[str]] = {}
    notes: List[str] = []
    for spec in specs:
        if not spec:
            continue
        try:
            name, path = resolve(spec, hakmem_lib)
        except LookupError as e:
            notes.append(str(e))
            continue
        if name in found:
            raise ValueError("allocator %s is named twice" % name)
        found[name] = path
    return found, notes


def is_expected(path: Optional[str], reported: Optional[str]) -> bool:
    """Did a run meant to preload ``path`` (None: nothing) really call its
    ``malloc``? ``reported`` is the ``allocator=`` the run printed."""
    if path is None:
        return re.match(r"libc(\.so|-)", os.path.basename(reported or "")) is not None
    if not reported:
        return False
    try:
        return os.path.realpath(reported) == os.path.realpath(path)
    except (TypeError, ValueError):
        return False


def preload_env(path: Optional[str], base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """An environment with exactly this allocator preloaded (None: none)."""
    env = dict(os.environ if base is None else base)
    env.pop("LD_PRELOAD", None)
    if path is not None:
        env["LD_PRELOAD"] = path
    return env


def package_version(path: Optional[str]) -> str:
    """The Debian package and version that installed ``path``, or ''."""
    if not path or shutil.which("dpkg-query") is None:
        return ""
    for p in (path, path[4:] if path.startswith("/usr/") else ""):
        if not p:
            continue
        try:
            out = subprocess.run(["dpkg", "-S", p], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True,
                                 timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        pkg = out.split(":", 1)[0].strip() if out else ""
        if pkg:
            try:
                ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     universal_newlines=True, timeout=30).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                ver = ""
            return ("%s %s" % (pkg, ver)).strip()
    return ""


# ---- where the programs are ----------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Where a front end keeps the suite's programs and data files."""

    programs: Tuple[str, ...]
    data: Tuple[str, ...]
    hakmem_lib: Optional[str]
    #: What the report calls where the figures came from ("build dir: ...").
    origin: str = ""
    #: How to run this again (the report's last header line).
    reproduce: str = ""

    def program(self, name: str) -> str:
        """The path of a program by name (an absolute path is kept as is)."""
        if os.path.isabs(name):
            return name
        for d in self.programs:
            f = os.path.join(d, name)
            if os.path.isfile(f) and os.access(f, os.X_OK):
                return f
        raise LookupError("%s not found in %s (build the benchmarks first)"
                          % (name, " or ".join(self.programs)))

    def data_file(self, name: str) -> str:
        """The path of a data file (bench_cpython.py) by name."""
        for d in self.data:
            f = os.path.join(d, name)
            if os.path.isfile(f):
                return f
        raise LookupError("%s not found in %s" % (name, " or ".join(self.data)))


def is_elf(path: str) -> bool:
    """A real program, not a libtool wrapper script: a program linked to
    libhakmem would make "system" silently measure hakmem."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


# ---- one run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of one workload under one allocator."""

    workload: str
    allocator: str            #: the contender's name
    round: int                #: 1-based
    value: float              #: ops/s by the chosen metric (wall or CPU time); nan if it failed
    ops_per_s: float          #: ops per wall second, as the program printed it
    cpu_s: float              #: user + system seconds of the measured part
    wall_s: float             #: wall seconds of the measured part
    peak_rss_kb: int          #: the program's peak RSS (VmHWM), -1 if unknown
    library: str              #: the file that defined malloc (allocator=), '-' if unverified
    version: str              #: the version that library reports
    failed: Optional[str] = None  #: why the run failed (a crash, an exit status), or None
    warnings: Tuple[str, ...] = ()  #: broken promises it reported (misaligned=3, errors=2)
    fields: Mapping[str, str] = field(default_factory=dict)  #: every key=value printed

    @property
    def ok(self) -> bool:
        """Finished, with no broken promise."""
        return self.failed is None and not self.warnings

    @property
    def errors(self) -> int:
        """Broken promises counted by the program, plus one if the run failed."""
        n = sum(int(w.split("=", 1)[1]) for w in self.warnings if w.split("=", 1)[1].isdigit())
        return n + (1 if self.failed is not None else 0)

    def to_dict(self) -> Dict[str, Any]:
        """The run as plain data (JSON)."""
        return {"workload": self.workload, "allocator": self.allocator, "round": self.round,
                "value": self.value, "ops_per_s": self.ops_per_s, "cpu_s": self.cpu_s,
                "wall_s": self.wall_s, "peak_rss_kb": self.peak_rss_kb,
                "library": self.library, "version": self.version, "failed": self.failed,
                "warnings": list(self.warnings), "fields": dict(self.fields)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Run":
        """The inverse of :meth:`to_dict`."""
        return cls(workload=d["workload"], allocator=d["allocator"], round=int(d["round"]),
                   value=float(d["value"]), ops_per_s=float(d["ops_per_s"]),
                   cpu_s=float(d["cpu_s"]), wall_s=float(d["wall_s"]),
                   peak_rss_kb=int(d["peak_rss_kb"]), library=d["library"],
                   version=d["version"], failed=d.get("failed"),
                   warnings=tuple(d.get("warnings", ())), fields=dict(d.get("fields", {})))


class WrongAllocator(RuntimeError):
    """A run's malloc came from another library than the one preloaded."""


def parse_line(stdout: str) -> Optional[Dict[str, str]]:
    """The key=value fields of a program's last line that names its
    allocator (``allocator=`` comes last and may hold spaces), or None."""
    for line in reversed(stdout.splitlines()):
        head, sep, path = line.partition(" allocator=")
        if sep:
            fields = dict(w.split("=", 1) for w in head.split() if "=" in w)
            fields["allocator"] = path.strip()
            return fields
    return None


def _number(fields: Mapping[str, str], *keys: str) -> float:
    for k in keys:
        if k in fields:
            try:
                return float(fields[k])
            except ValueError:
                pass
    return float("nan")


def _last_words(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[-1].split()) if lines else ""


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return "signal %d" % sig


def run_once(workload: Workload, contender: str, lib: Optional[str], argv: Sequence[str],
             round_: int, metric: str = "wall", timeout: Optional[float] = 600.0,
             env: Optional[Mapping[str, str]] = None) -> Run:
    """Runs argv with ``lib`` preloaded; the :class:`Run` it made.

    A crash, a non-zero exit or a timeout gives a failed Run (the loop goes
    on: one crash must not throw away a quarter of an hour of figures).
    Raises WrongAllocator when a verified program reports another allocator.
    """
    run_env = preload_env(lib, env)
    # The rusage of a child counts the memory of this (large) Python process
    # it was forked from: a program of the suite reports its own peak (VmHWM),
    # and a command is measured by /usr/bin/time, whose child is clean.
    timer_exe = "/usr/bin/time" if not workload.verified and os.access("/usr/bin/time", os.X_OK) \
        else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rssf:
        cmd = list(argv)
        if timer_exe is not None:
            cmd = [timer_exe, "-f", "%M", "-o", rssf.name] + cmd
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=run_env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err)
        timer: Optional[threading.Timer] = None
        timed_out = threading.Event()
        if timeout is not None:
            def kill() -> None:
                timed_out.set()
                p.kill()
            timer = threading.Timer(timeout, kill)
            timer.daemon = True
            timer.start()
        try:
            _, status = os.waitpid(p.pid, 0)
        except BaseException:  # Ctrl-C: the run goes with the harness
            if p.poll() is None:  # poll() copes with a child already reaped
                p.kill()
                p.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.monotonic() - t0
        p.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        rss = -1
        if timer_exe is not None:
            words = [ln for ln in rssf.read().split("\n") if ln.strip()]
            if words and words[-1].strip().isdigit():
                rss = int(words[-1])
            if len(words) > 1:
                stderr += "\n" + "\n".join(words[:-1])  # "Command terminated by signal 9"
    name = workload.name
    if timed_out.is_set():
        return _failed(name, contender, round_, rss, "timed out after %g s" % (timeout or 0))
    if os.WIFSIGNALED(status):
        return _failed(name, contender, round_, rss, "terminated by %s%s" % (
            _signal_name(os.WTERMSIG(status)),
            (": " + _last_words(stderr)) if _last_words(stderr) else ""))
    code = os.WEXITSTATUS(status)
    if not workload.verified:
        if code != 0:
            return _failed(name, contender, round_, rss, "exit status %d%s" % (
                code, (": " + _last_words(stderr)) if _last_words(stderr) else ""))
        return Run(name, contender, round_, 1.0 / wall if wall > 0 else float("nan"),
                   1.0 / wall if wall > 0 else float("nan"), float("nan"), wall, rss, "-", "-")
    fields = parse_line(stdout)
    if fields is None or code != 0:
        why = "exit status %d" % code if code != 0 else "no allocator= line"
        last = _last_words(stderr) or (_last_words(stdout) if fields is None else "")
        return _failed(name, contender, round_, rss, why + (": " + last if last else ""))
    rss = int(_number(fields, "peak_rss_kb")) if not math.isnan(_number(fields, "peak_rss_kb")) \
        else -1
    if not is_expected(lib, fields["allocator"]):
        raise WrongAllocator(
            "contender %s should have loaded %s but the run reports allocator=%s (a stale or "
            "wrong library, or a program that links an allocator itself); command: %s"
            % (contender, lib or "the C library's malloc", fields["allocator"],
               " ".join(shlex.quote(a) for a in argv)))
    ops = _number(fields, "ops_per_s")
    cpu = _number(fields, "cpu_s", "cpu_seconds")
    wall_s = _number(fields, "wall_s", "seconds")
    if math.isnan(ops) and "ops" in fields and wall_s > 0:
        ops = float(fields["ops"]) / wall_s
    value = ops
    if metric == "cpu":
        value = ops * wall_s / cpu if cpu > 0 and wall_s > 0 else float("nan")
    warnings = tuple("%s=%s" % (k, fields[k]) for k in WARNING_FIELDS
                     if fields.get(k, "0") not in ("0", ""))
    return Run(name, contender, round_, value, ops, cpu, wall_s, rss, fields["allocator"],
               fields.get("allocator_version", "unknown"), None, warnings, fields)


def _failed(workload: str, contender: str, round_: int, rss: int, why: str) -> Run:
    nan = float("nan")
    return Run(workload, contender, round_, nan, nan, nan, nan, rss, "-", "-", failed=why)


# ---- progress ------------------------------------------------------------------------


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else \
        "%d:%02d" % (s // 60, s % 60)


class Progress:
    """Prints what runs now, how far the run is, and an estimate of the time
    left, on a stream (a terminal: one line rewritten in place; else a line
    per workload and round). Called as ``progress(done, total, workload,
    allocator)`` before each run and once more at the end (workload ''). The
    estimate is the runs left times the mean of the last duration of each
    workload and allocator pair seen so far."""

    def __init__(self, stream: Optional[IO[str]] = None, rounds: int = 1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.rounds = max(1, rounds)
        self.start = time.monotonic()
        self.last: Optional[Tuple[str, str, float]] = None
        self.took: Dict[Tuple[str, str], float] = {}
        self.shown: Optional[Tuple[int, str]] = None

    def estimate(self, done: int, total: int) -> Optional[float]:
        """Seconds left, or None before the first run has finished."""
        if not self.took:
            return None
        return (total - done) * sum(self.took.values()) / len(self.took)

    def __call__(self, done: int, total: int, workload: str, allocator: str) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.took[self.last[0], self.last[1]] = now - self.last[2]
        self.last = (workload, allocator, now) if workload else None
        elapsed = now - self.start
        if done >= total or not workload:
            msg = "%d runs done in %s" % (done, _clock(elapsed))
            self.stream.write(("\r\033[K" if self.tty else "") + msg + "\n")
            self.stream.flush()
            return
        per_round = max(1, total // self.rounds)
        rnd = done // per_round + 1
        left = self.estimate(done, total)
        msg = "[%*d/%d] round %d/%d: %s under %s, %s elapsed%s" % (
            len(str(total)), done + 1, total, rnd, self.rounds, workload, allocator,
            _clock(elapsed), ", about %s left" % _clock(left) if left is not None else "")
        if self.tty:
            self.stream.write("\r\033[K" + msg)
            self.stream.flush()
        elif self.shown != (rnd, workload):
            self.shown = (rnd, workload)
            self.stream.write(msg + "\n")
            self.stream.flush()


ProgressFn = Callable[[int, int, str, str], None]

# ---- the comparison ----------------------------------------------------------------------


def machine() -> Dict[str, Any]:
    """Where the figures come from: architecture, CPUs, CPU model, kernel."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"arch": platform.machine(), "cpus": os.cpu_count() or 0, "cpu_model": model,
            "kernel": platform.release()}


def machine_text(m: Mapping[str, Any]) -> str:
    """``x86_64, 2 CPUs (AMD EPYC), kernel 6.1``."""
    return "%s, %s CPUs%s, kernel %s" % (m.get("arch", "?"), m.get("cpus", "?"),
                                        " (%s)" % m["cpu_model"] if m.get("cpu_model") else "",
                                        m.get("kernel", "?"))


def compare(workloads: Sequence[Workload], allocators: Iterable[str], paths: Paths, *,
            rounds: Optional[int] = None, length: str = "full", metric: str = "wall",
            progress: Optional[ProgressFn] = None, timeout: Optional[float] = 600.0,
            baseline: str = "system") -> "Results":
    """Runs every workload under every allocator found, ``rounds`` times,
    interleaved; the :class:`Results`.

    ValueError for bad arguments or an unknown allocator; RuntimeError when no
    allocator is left; WrongAllocator when a run used the wrong library.
    """
    if length not in LENGTHS:
        raise ValueError("length must be one of %s, got %r" % (", ".join(LENGTHS), length))
    if metric not in ("wall", "cpu"):
        raise ValueError("metric must be 'wall' or 'cpu', got %r" % (metric,))
    if rounds is None:
        rounds = DEFAULT_ROUNDS[length]
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError("rounds must be a positive int, got %r" % (rounds,))
    ws = list(workloads)
    if not ws:
        raise ValueError("no workload to run")
    names = [w.name for w in ws]
    if len(set(names)) != len(names):
        raise ValueError("workload names must be unique: %s" % ", ".join(names))
    if isinstance(allocators, str):
        allocators = [allocators]
    if not any(w.program == "bench_cpython" for w in ws):
        allocators = [a for a in allocators if a != PYMEM]  # it runs cpython/* only
    found, notes = discover(allocators, paths.hakmem_lib)
    if not found:
        raise RuntimeError("no allocator to compare: " + "; ".join(notes))
    programs: Dict[str, str] = {}
    for w in ws:
        if w.verified:
            exe = paths.program(w.program)
            if not is_elf(exe):
                raise RuntimeError("%s is not an ELF program (a libtool wrapper?); benchmarks "
                                   "must not link libhakmem" % exe)
        else:
            exe = shutil.which(w.program) or w.program
        programs[w.name] = exe
    script = ""
    if any("{cpython_script}" in a for w in ws for a in w.args + (w.quick or ()) + w.smoke):
        script = paths.data_file("bench_cpython.py")

    # A probe run of each contender proves it loads before the long run
    # starts, and gives the library's own idea of its version.
    probe = [paths.program("bench_pair"), "64", "1000"]
    contenders: Dict[str, Dict[str, Any]] = {}
    probe_w = Workload("probe", "bench_pair", ("64", "1000"))
    for name, lib in list(found.items()):
        r = run_once(probe_w, name, lib, probe, 0, timeout=timeout)
        if r.failed is not None:
            notes.append("%s: the probe run (bench_pair 64 1000) failed (%s); left out"
                         % (name, r.failed))
            del found[name]
            continue
        contenders[name] = {"path": r.library, "version": r.version,
                            "package": package_version(r.library) if name != "hakmem" else ""}
        if name == PYMEM:
            contenders[name] = {"path": os.path.join(pymem_dir()[0] or "?", "hakmem"),
                                "version": "hakmem.pymem.install(), cpython/* only"}
        if name == "hakmem":
            try:
                contenders[name]["built"] = datetime.datetime.fromtimestamp(
                    os.stat(r.library).st_mtime).strftime("%Y-%m-%d %H:%M:%S")
            except OSError:
                pass
    if not found:
        raise RuntimeError("no allocator left to compare: " + "; ".join(notes))
    if baseline not in found:
        notes.append("baseline %s was not run: no ratios" % baseline)

    meta: Dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(), "rounds": rounds, "length": length, "metric": metric,
        "origin": paths.origin, "reproduce": paths.reproduce, "contenders": contenders,
        "baseline": baseline,
    }
    order = list(found)
    runs: List[Run] = []
    total = rounds * sum(1 for w in ws for a in order
                         if a != PYMEM or w.program == "bench_cpython")
    done = 0
    try:
        for rnd in range(1, rounds + 1):
            for w in ws:
                argv = [programs[w.name]] + w.arguments(length, rnd, script)
                k = (rnd - 1) % len(order)
                for name in order[k:] + order[:k]:
                    env = None
                    if w.program == "bench_cpython":
                        env = dict(os.environ, **cpython_env(name, found[name]))
                    elif name == PYMEM:
                        continue
                    if progress is not None:
                        progress(done, total, w.name, name)
                    done += 1
                    run = run_once(w, name, found[name], argv, rnd, metric, timeout, env)
                    runs.append(run)
                    if w.program == "bench_cpython" and "cpython" not in meta and run.fields:
                        meta["cpython"] = "%s %s" % (run.fields.get("python", "?"),
                                                     run.fields.get("python_version", "?"))
    finally:
        if progress is not None and done == total:
            progress(done, total, "", "")
    return Results(ws, found, runs, notes, meta, baseline=baseline)


# ---- results ---------------------------------------------------------------------------------


def _median(xs: Sequence[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(statistics.median(xs)) if xs else float("nan")


def _geomean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x > 0 and not math.isnan(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def fmt_ops(v: float) -> str:
    """3 significant digits and a k/M/G suffix: ``92.8M``."""
    if math.isnan(v):
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return "%.3g%s" % (v / scale, suffix)
    return "%.3g" % v


def _x(v: float) -> str:
    return "x%.2f" % v if not math.isnan(v) else "-"


class Results:
    """The runs of one comparison and everything said about them: medians,
    spreads, ratios to the baseline and to the best peer, peak RSS, the
    report (:meth:`to_markdown`), the data (:meth:`to_dict`, :meth:`write_csv`)
    and the chart (:meth:`plot`)."""

    def __init__(self, workloads: Sequence[Workload], allocators: Mapping[str, Optional[str]],
                 runs: Sequence[Run], notes: Sequence[str], meta: Mapping[str, Any],
                 baseline: str = "system") -> None:
        self.workloads: List[Workload] = list(workloads)  #: in table order
        self.allocators: Dict[str, Optional[str]] = dict(allocators)  #: name -> library (None: system)
        self.runs: List[Run] = list(runs)
        self.notes: List[str] = list(notes)
        self.meta: Dict[str, Any] = dict(meta)
        self.baseline = baseline

    # -- figures --
    def _runs(self, workload: str, allocator: str) -> List[Run]:
        return [r for r in self.runs if r.workload == workload and r.allocator == allocator]

    def values(self, workload: str, allocator: str) -> List[float]:
        """The figures (ops/s) of the runs that finished."""
        return [r.value for r in self._runs(workload, allocator)
                if r.failed is None and not math.isnan(r.value)]

    def median(self, workload: str, allocator: str) -> float:
        """Median ops/s; nan when no run finished."""
        return _median(self.values(workload, allocator))

    def spread(self, workload: str, allocator: str) -> Tuple[float, float]:
        """(min, max) ops/s of the runs that finished."""
        v = self.values(workload, allocator)
        return (min(v), max(v)) if v else (float("nan"), float("nan"))

    def peak_rss_mib(self, workload: str, allocator: str) -> float:
        """Median peak RSS in MiB of the runs that finished."""
        return _median([r.peak_rss_kb / 1024.0 for r in self._runs(workload, allocator)
                        if r.failed is None and r.peak_rss_kb >= 0])

    def ratio(self, workload: str, allocator: str) -> float:
        """Median over the baseline's median (> 1: faster); nan without both."""
        base = self.median(workload, self.baseline)
        this = self.median(workload, allocator)
        return this / base if base > 0 and this > 0 else float("nan")

    def rss_ratio(self, workload: str, allocator: str) -> float:
        """Median peak RSS over the baseline's (< 1: less memory)."""
        base = self.peak_rss_mib(workload, self.baseline)
        this = self.peak_rss_mib(workload, allocator)
        return this / base if base > 0 and this > 0 else float("nan")

    def peers(self) -> List[str]:
        """The contenders that are neither the baseline nor hakmem."""
        return [a for a in self.allocators if a not in (self.baseline, "hakmem", PYMEM)]

    def best_peer(self, workload: str) -> Tuple[Optional[str], float]:
        """(name, median) of the fastest peer on a workload, (None, nan) without one."""
        best: Tuple[Optional[str], float] = (None, float("nan"))
        for a in self.peers():
            m = self.median(workload, a)
            if m > 0 and not (best[1] >= m):
                best = (a, m)
        return best

    def vs_best_peer(self, workload: str) -> float:
        """hakmem's median over the best peer's (> 1: hakmem is faster)."""
        _, best = self.best_peer(workload)
        mine = self.median(workload, "hakmem")
        return mine / best if best > 0 and mine > 0 else float("nan")

    def failed_runs(self) -> List[Run]:
        """Runs that crashed, exited non-zero or timed out."""
        return [r for r in self.runs if r.failed is not None]

    def warned_runs(self) -> List[Run]:
        """Runs that finished but reported a broken promise."""
        return [r for r in self.runs if r.failed is None and r.warnings]

    @property
    def hakmem_ok(self) -> bool:
        """No hakmem run failed or reported a broken promise. A peer's bug is
        shown in the report but is not hakmem's failure."""
        return all(r.ok for r in self.runs if r.allocator == "hakmem")

    def rows(self) -> List[Dict[str, Any]]:
        """One dict per (workload, allocator) with runs: median, min, max,
        ratio, peak RSS and its ratio, failures and warnings."""
        out = []
        for w in self.workloads:
            for a in self.allocators:
                runs = self._runs(w.name, a)
                if not runs:
                    continue
                lo, hi = self.spread(w.name, a)
                out.append({
                    "workload": w.name, "allocator": a, "median": self.median(w.name, a),
                    "min": lo, "max": hi, "runs": len(runs),
                    "failed": sum(1 for r in runs if r.failed is not None),
                    "warnings": sum(1 for r in runs if r.failed is None and r.warnings),
                    "ratio": self.ratio(w.name, a),
                    "peak_rss_mib": self.peak_rss_mib(w.name, a),
                    "rss_ratio": self.rss_ratio(w.name, a),
                })
        return out

    # -- text --
    def header_lines(self) -> List[str]:
        """The report's header: date, machine, rounds, every library and how to rerun."""
        m = self.meta
        lines = ["- date: %s" % m.get("date", "?"),
                 "- machine: %s" % machine_text(m.get("machine", {}))]
        if m.get("origin"):
            lines.append("- %s" % m["origin"])
        rounds = max((r.round for r in self.runs), default=0)
        lines.append("- rounds: %d (%s length), metric: ops per %s second"
                     % (rounds, m.get("length", "?"), m.get("metric", "wall")))
        lines.append("- peak RSS: VmHWM as each program reports it (a command: /usr/bin/time)")
        for name in self.allocators:
            c = m.get("contenders", {}).get(name, {})
            extra = []
            if c.get("package"):
                extra.append("package " + c["package"])
            if c.get("built"):
                extra.append("built " + c["built"])
            lines.append("- %s: %s (reports %s%s)" % (name, c.get("path", "?"),
                                                     c.get("version", "?"),
                                                     "; " + "; ".join(extra) if extra else ""))
        if m.get("cpython"):
            lines.append("- cpython: %s, script bench_cpython.py; in cpython/*, system is stock "
                         "CPython (pymalloc), a preloaded allocator runs with "
                         "PYTHONMALLOC=malloc, %s with hakmem.pymem.install()"
                         % (m["cpython"], PYMEM))
        if m.get("reproduce"):
            lines.append("- reproduce: %s" % m["reproduce"])
        return lines

    def to_markdown(self, header: bool = True) -> str:
        """The report: header, throughput table (median [min-max] and ratio to
        the baseline, hakmem / best peer), peak-RSS table, failed runs,
        warnings and notes."""
        out: List[str] = []
        if header:
            out += ["# hakmem benchmarks", ""] + self.header_lines() + [""]
        allocs = list(self.allocators)
        has_hakmem = "hakmem" in allocs and bool(self.peers())
        metric = self.meta.get("metric", "wall")
        out += ["## Throughput: median ops per %s second [min-max], ratio to %s"
                % (metric, self.baseline), "", OP_MEANING
                + (" Last column: hakmem median / the best peer median (above 1: hakmem is "
                   "faster)." if has_hakmem else ""), ""]
        out.append("| workload | " + " | ".join(allocs) + " |"
                   + (" hakmem / best peer |" if has_hakmem else ""))
        out.append("|---|" + "---|" * len(allocs) + ("---|" if has_hakmem else ""))
        for w in self.workloads:
            cells = []
            for a in allocs:
                runs = self._runs(w.name, a)
                nfail = sum(1 for r in runs if r.failed is not None)
                nwarn = sum(1 for r in runs if r.failed is None and r.warnings)
                med = self.median(w.name, a)
                if not runs:
                    cells.append("-")
                    continue
                if math.isnan(med):
                    cells.append("all runs failed")
                    continue
                lo, hi = self.spread(w.name, a)
                cell = "%s [%s-%s]" % (fmt_ops(med), fmt_ops(lo), fmt_ops(hi))
                if self.baseline in self.allocators:
                    cell += " " + _x(self.ratio(w.name, a))
                if nfail:
                    cell += " (%d failed)" % nfail
                if nwarn:
                    cell += " (%d warned)" % nwarn
                cells.append(cell)
            row = "| %s | %s |" % (w.name, " | ".join(cells))
            if has_hakmem:
                v = self.vs_best_peer(w.name)
                name, _ = self.best_peer(w.name)
                row += " %s |" % ("%.2f (%s)" % (v, name) if not math.isnan(v) else "n/a")
            out.append(row)
        if self.baseline in self.allocators:
            row = "| geomean | " + " | ".join(
                _x(_geomean([self.ratio(w.name, a) for w in self.workloads])) for a in allocs)
            row += " |"
            if has_hakmem:
                g = _geomean([self.vs_best_peer(w.name) for w in self.workloads])
                row += " %s |" % ("%.2f" % g if not math.isnan(g) else "n/a")
            out.append(row)

        out += ["", "## Peak RSS: median MiB, ratio to %s" % self.baseline, "",
                "| workload | " + " | ".join(allocs) + " |", "|---|" + "---|" * len(allocs)]
        for w in self.workloads:
            cells = []
            for a in allocs:
                v = self.peak_rss_mib(w.name, a)
                if math.isnan(v):
                    cells.append("-")
                    continue
                cells.append("%.1f" % v + (" " + _x(self.rss_ratio(w.name, a))
                                           if self.baseline in self.allocators else ""))
            out.append("| %s | %s |" % (w.name, " | ".join(cells)))
        if self.baseline in self.allocators:
            geo = {a: _geomean([self.rss_ratio(w.name, a) for w in self.workloads])
                   for a in allocs}
            out.append("| geomean | " + " | ".join(_x(geo[a]) for a in allocs) + " |")
            others = [a for a in allocs if a != self.baseline]
            if others:
                out += ["", "Peak-RSS geometric mean over the %d workloads, relative to %s: %s."
                        % (len(self.workloads), self.baseline,
                           ", ".join("%s %s" % (a, _x(geo[a])[1:]) for a in others))]
            if "hakmem" in allocs:
                over = ["%s (x%.2f)" % (w.name, self.rss_ratio(w.name, "hakmem"))
                        for w in self.workloads if self.rss_ratio(w.name, "hakmem") > 1.5]
                out.append("hakmem above 1.5x the %s peak RSS on: %s."
                           % (self.baseline, ", ".join(over) or "none"))

        failed = self.failed_runs()
        if failed:
            out += ["", "## Failed runs (left out of the medians)", ""]
            out += ["- %s on %s, round %d: %s" % (r.allocator, r.workload, r.round, r.failed)
                    for r in failed]
        warned = self.warned_runs()
        if warned:
            out += ["", "## Warnings (runs timed all the same)", ""]
            seen: Dict[Tuple[str, str], Dict[str, int]] = {}
            for r in warned:
                d = seen.setdefault((r.allocator, r.workload), {})
                for wf in r.warnings:
                    key, _, count = wf.partition("=")
                    d[key] = d.get(key, 0) + (int(count) if count.isdigit() else 1)
            for (a, w_name), d in seen.items():
                what = ", ".join("%s=%d" % kv for kv in d.items())
                out.append("- %s on %s: %s over all rounds%s" % (
                    a, w_name, what, " (blocks not aligned as asked)" if "misaligned" in d else ""))
        if self.notes:
            out += [""] + ["Note: %s" % n for n in self.notes]
        return "\n".join(out) + "\n"

    __str__ = to_markdown

    # -- data --
    def to_dict(self) -> Dict[str, Any]:
        """Everything as plain data: meta, allocators, notes, summary rows and runs."""
        return {"meta": self.meta, "baseline": self.baseline, "allocators": self.allocators,
                "notes": self.notes,
                "workloads": [{"name": w.name, "program": w.program, "args": list(w.args),
                               "quick": list(w.quick) if w.quick is not None else None,
                               "smoke": list(w.smoke), "about": w.about,
                               "verified": w.verified} for w in self.workloads],
                "rows": self.rows(), "runs": [r.to_dict() for r in self.runs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Results":
        """The inverse of :meth:`to_dict` (for the chart from a saved JSON)."""
        ws = [Workload(w["name"], w["program"], tuple(w["args"]),
                       tuple(w["quick"]) if w.get("quick") is not None else None,
                       tuple(w.get("smoke", ("--smoke",))), w.get("about", ""),
                       bool(w.get("verified", True))) for w in d["workloads"]]
        return cls(ws, d["allocators"], [Run.from_dict(r) for r in d["runs"]], d["notes"],
                   d["meta"], baseline=d.get("baseline", "system"))

    def write_json(self, path: str) -> str:
        """Writes :meth:`to_dict` as JSON; returns path."""
        with open(path, "w") as f:
            json.dump(_jsonable(self.to_dict()), f, indent=1)
            f.write("\n")
        return path

    def write_csv(self, path: str) -> str:
        """One row per run: workload, contender, round, ops_per_s, cpu_s,
        maxrss_kb, wall_s, allocator, status; returns path."""
        with open(path, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["workload", "contender", "round", "ops_per_s", "cpu_s", "maxrss_kb",
                         "wall_s", "allocator", "status"])
            for r in self.runs:
                status = "failed: " + r.failed if r.failed is not None else (
                    "warning: " + " ".join(r.warnings) if r.warnings else "ok")
                wr.writerow([r.workload, r.allocator, r.round, "%.6g" % r.ops_per_s,
                             "%.6f" % r.cpu_s, r.peak_rss_kb, "%.6f" % r.wall_s, r.library,
                             status])
        return path

    def plot(self, path: str) -> str:
        """Draws the chart (see :func:`plot`) to path; returns path."""
        return plot(self, path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


# ---- the chart ----------------------------------------------------------------------------

#: Colours of the contenders on the chart (others take matplotlib's cycle).
COLOURS = {"hakmem": "#d62728", "mimalloc": "#1f77b4", "jemalloc": "#2ca02c",
           "tcmalloc": "#ff7f0e"}

MATPLOTLIB_HINT = ("matplotlib is not installed: pip install matplotlib (from a hakmem source "
                   "tree also: pip install './python[plot]'); Debian: apt-get install "
                   "python3-matplotlib")


def plot(results: Results, path: str) -> str:
    """The chart of a comparison (see :func:`chart_figure`), written to path
    (PNG, SVG or PDF by its extension); returns path. Raises ImportError
    (with the command to install it) without matplotlib."""
    fig = chart_figure(results)
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def chart_figure(results: Results) -> Any:
    """The chart as a matplotlib Figure: two panels sharing the workload
    axis, throughput and peak RSS, each the contender's median over the
    baseline's (log scale, so x2 and x0.5 look alike; 1 is the baseline),
    throughput with its min-max whisker; the date, the machine and the
    rounds in the title; every library's version in the legend; the suite's
    geometric means at the foot."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the chart needs matplotlib. " + MATPLOTLIB_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    base = results.baseline
    if base not in results.allocators:
        raise ValueError("the chart shows ratios to %s, which was not run" % base)
    bars = [a for a in results.allocators if a != base]
    workloads = [w.name for w in results.workloads]
    if not bars:
        raise ValueError("the chart needs a contender beside %s" % base)
    height = 0.8 / len(bars)
    m = results.meta
    contenders = m.get("contenders", {})
    notes = []
    for a in bars:
        gt = _geomean([results.ratio(w, a) for w in workloads])
        gr = _geomean([results.rss_ratio(w, a) for w in workloads])
        notes.append("%s: speed %s, peak RSS %s" % (a, _x(gt), _x(gr)))
    foot = textwrap.wrap("Geometric means over the %d workloads, relative to %s: %s."
                         % (len(workloads), base, "; ".join(notes)), 170)
    # Inches: the panels grow with the rows; title, legend and foot are fixed.
    body = max(1.2, 0.1 * len(workloads) * (len(bars) + 1))
    top, bottom = 1.15, 0.45 + 0.2 * len(foot)
    fig_h = body + top + bottom
    fig, (ax_t, ax_r) = plt.subplots(1, 2, sharey=True, figsize=(14, fig_h))
    fig.subplots_adjust(left=0.15, right=0.98, wspace=0.06, top=1 - top / fig_h,
                        bottom=bottom / fig_h)
    for j, a in enumerate(bars):
        ys: List[float] = []
        tput: List[float] = []
        lo: List[float] = []
        hi: List[float] = []
        rss: List[float] = []
        rys: List[float] = []
        for i, w in enumerate(workloads):
            y = i - 0.4 + height * (j + 0.5)
            b = results.median(w, base)
            med = results.median(w, a)
            if b > 0 and med > 0:
                mn, mx = results.spread(w, a)
                ys.append(y)
                tput.append(med / b)
                lo.append(max(med - mn, 0.0) / b)
                hi.append(max(mx - med, 0.0) / b)
            rr = results.rss_ratio(w, a)
            if not math.isnan(rr):
                rys.append(y)
                rss.append(rr)
        colour = COLOURS.get(a)
        # Bars grow from 1 (the baseline): right for more, left for less.
        ax_t.barh(ys, [t - 1 for t in tput], left=1, height=height, color=colour,
                  label=_label(a, contenders.get(a, {})), xerr=[lo, hi],
                  error_kw={"elinewidth": 0.7, "capsize": 1.5})
        ax_r.barh(rys, [r - 1 for r in rss], left=1, height=height, color=colour)
    for ax in (ax_t, ax_r):
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.grid(axis="x", which="both", linewidth=0.3)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
    ax_t.set_yticks(range(len(workloads)))
    ax_t.set_yticklabels(workloads, fontsize=9)
    ax_t.set_ylim(len(workloads) - 0.5, -0.5)
    ax_t.set_title("throughput / %s's (median, whisker: min-max); higher is better" % base,
                   fontsize=10)
    ax_r.set_title("peak RSS / %s's (median); lower is better" % base, fontsize=10)
    rounds = max((r.round for r in results.runs), default=0)
    fig.suptitle("hakmem benchmarks, %s, %s, %d round%s%s" % (
        m.get("date", "?"), machine_text(m.get("machine", {})), rounds,
        "" if rounds == 1 else "s",
        "" if m.get("length", "full") == "full" else " (%s length)" % m.get("length")),
        fontsize=11, y=1 - 0.12 / fig_h, va="top")
    handles, labels = ax_t.get_legend_handles_labels()
    handles.insert(0, Line2D([], [], color="black", linewidth=0.8))
    labels.insert(0, _label(base, contenders.get(base, {})) + " = 1")
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8,
               bbox_to_anchor=(0.5, 1 - 0.42 / fig_h), frameon=False)
    fig.text(0.5, 0.12 / fig_h, "\n".join(foot), ha="center", va="bottom", fontsize=8.5)
    return fig


def _label(name: str, contender: Mapping[str, Any]) -> str:
    """``mimalloc 2.0.9``: the name and the version the library reports
    (jemalloc's git suffix cut)."""
    v = str(contender.get("version", "") or "")
    v = re.sub(r"-0-g[0-9a-f]{7,}$", "", v)
    return "%s %s" % (name, v[:24]) if v and v != "unknown" else name


def plot_anywhere(results_json: str, png: str) -> Tuple[bool, str]:
    """Draws the chart with this interpreter's matplotlib or, failing that,
    with a system python3 that has it (Debian's python3-matplotlib). (drawn,
    message)."""
    try:
        plot(Results.from_dict(_load_json(results_json)), png)
        return True, "Chart: %s" % png
    except ImportError:
        pass
    me = os.path.realpath(sys.executable)
    for py in (os.environ.get("PYTHON", ""), "python3", "/usr/bin/python3"):
        exe = shutil.which(py) if py else None
        if exe is None or os.path.realpath(exe) == me:
            continue
        p = subprocess.run([exe, os.path.abspath(__file__), "chart", results_json, png],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if p.returncode == 0:
            return True, "Chart: %s (matplotlib of %s)" % (png, exe)
    return False, "note: chart skipped: " + MATPLOTLIB_HINT


def _load_json(path: str) -> Dict[str, Any]:
    with open(path) as f:
        d = json.load(f)

    def fix(run: Dict[str, Any]) -> Dict[str, Any]:
        for k in ("value", "ops_per_s", "cpu_s", "wall_s"):
            if run.get(k) is None:
                run[k] = float("nan")
        return run
    d["runs"] = [fix(r) for r in d["runs"]]
    return dict(d)


# ---- the command line (both front ends) ----------------------------------------------------


def add_arguments(p: argparse.ArgumentParser, default_out: Optional[str] = None) -> None:
    """The options both front ends take."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="shorter runs (about a fifth), %d rounds by default"
                   % DEFAULT_ROUNDS["quick"])
    g.add_argument("--smoke", action="store_true",
                   help="each program's short fixed run, 1 round: checks everything works, "
                        "measures nothing")
    p.add_argument("--rounds", "--repeat", dest="rounds", type=int, metavar="N",
                   help="rounds (default: %d, --quick %d, --smoke %d)" % (
                       DEFAULT_ROUNDS["full"], DEFAULT_ROUNDS["quick"], DEFAULT_ROUNDS["smoke"]))
    p.add_argument("--workloads", metavar="A,B",
                   help="comma-separated workload names or families (pair = every pair/...); "
                        "default: the whole suite (--list shows it)")
    p.add_argument("--only", metavar="REGEX", help="workloads whose name matches REGEX")
    p.add_argument("--allocators", default=",".join(BENCH_ALLOCATORS), metavar="A,B",
                   help="comma-separated: system, hakmem, mimalloc, jemalloc, tcmalloc, hakmem-pymem "
                        "(cpython/* only), a library path or name=path; peers not installed are skipped with a note "
                        "(default: %(default)s)")
    p.add_argument("--cpu", action="store_true",
                   help="rank by ops per CPU second (user+sys) instead of per wall second")
    p.add_argument("--out", metavar="DIR", default=default_out,
                   help="write bench.md, bench.csv, bench.json and bench.png there"
                   + (" (default: %(default)s)" if default_out else ""))
    p.add_argument("--csv", metavar="FILE", help="write the runs as CSV there")
    p.add_argument("--json", metavar="FILE", help="write everything as JSON there")
    p.add_argument("--png", metavar="FILE", help="draw the chart there (matplotlib)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds before a run is killed and counted as failed "
                        "(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")


def list_text(workloads: Sequence[Workload]) -> str:
    """The workload table: name, program and full arguments, what it exercises."""
    lines = ["| workload | program and arguments (full run) | what it exercises |",
             "|---|---|---|"]
    for w in workloads:
        args = " ".join(a.replace("{seed}", "r").replace("{cpython_script}", "SCRIPT")
                        for a in w.args)
        lines.append("| %s | `%s %s` | %s |" % (w.name, w.program, args, w.about))
    return "\n".join(lines) + "\n"


def run_cli(args: argparse.Namespace, paths: Paths, prog: str,
            workloads: Optional[Sequence[Workload]] = None,
            stdout: Optional[IO[str]] = None) -> int:
    """Runs a parsed command line: prints the report, writes the files.
    Exit status: 0; 1 when a hakmem run failed or broke a promise (a peer's
    failure is reported, not fatal); 2 for bad arguments."""
    out = stdout if stdout is not None else sys.stdout
    err = sys.stderr
    everything = list(workloads) if workloads is not None else suite()
    try:
        chosen = select(everything, args.workloads.split(",") if args.workloads else None,
                        args.only)
    except (ValueError, re.error) as e:
        print("%s: %s" % (prog, e), file=err)
        return 2
    if args.list:
        out.write(list_text(chosen))
        return 0
    length = "smoke" if args.smoke else "quick" if args.quick else "full"
    rounds = args.rounds if args.rounds is not None else DEFAULT_ROUNDS[length]
    progress: Optional[ProgressFn] = None if args.no_progress else Progress(err, rounds)
    try:
        res = compare(chosen, [a for a in args.allocators.split(",") if a], paths,
                      rounds=rounds, length=length, metric="cpu" if args.cpu else "wall",
                      progress=progress, timeout=args.timeout)
    except WrongAllocator as e:
        print("%s: FAILED: %s" % (prog, e), file=err)
        return 1
    except (ValueError, LookupError, RuntimeError) as e:
        print("%s: %s" % (prog, e), file=err)
        return 2
    for n in res.notes:
        print("note: %s" % n, file=err)
    out.write(res.to_markdown())
    files: List[str] = []
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        res.write_csv(args.csv or os.path.join(args.out, "bench.csv"))
        res.write_json(args.json or os.path.join(args.out, "bench.json"))
        with open(os.path.join(args.out, "bench.md"), "w") as f:
            f.write(res.to_markdown())
        files += ["Report: " + os.path.join(args.out, "bench.md"),
                  "CSV: " + (args.csv or os.path.join(args.out, "bench.csv")),
                  "JSON: " + (args.json or os.path.join(args.out, "bench.json"))]
    else:
        if args.csv:
            files.append("CSV: " + res.write_csv(args.csv))
        if args.json:
            files.append("JSON: " + res.write_json(args.json))
    png = args.png or (os.path.join(args.out, "bench.png") if args.out else None)
    if png:
        if os.path.exists(png):
            os.remove(png)
        if "system" not in res.allocators or len(res.allocators) < 2:
            files.append("note: chart skipped: it needs system and another allocator")
        else:
            js = args.json or (os.path.join(args.out, "bench.json") if args.out else None)
            if js is None:
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tmp:
                    js = tmp.name
                res.write_json(js)
            try:
                _, msg = plot_anywhere(js, png)
            finally:
                if not (args.json or args.out):
                    os.unlink(js)
            files.append(msg)
    if files:
        out.write("\n" + "\n".join(files) + "\n")
    out.flush()
    bad_hakmem = [r for r in res.runs if r.allocator == "hakmem" and not r.ok]
    if bad_hakmem:
        print("%s: %d hakmem run(s) failed or broke a promise; see the report"
              % (prog, len(bad_hakmem)), file=err)
        return 1
    others = [r for r in res.runs if r.allocator != "hakmem" and not r.ok]
    if others:
        print("%s: %d run(s) of other allocators failed or broke a promise (in the report; "
              "not hakmem's failure)" % (prog, len(others)), file=err)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``bench/run.sh``: the suite with the build tree's programs and library.

    Also ``_harness.py chart RESULTS.json OUT.png`` (the chart from a saved
    run, with whichever python3 has matplotlib)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["chart"]:
        if len(argv) != 3:
            print("usage: _harness.py chart RESULTS.json OUT.png", file=sys.stderr)
            return 2
        try:
            plot(Results.from_dict(_load_json(argv[1])), argv[2])
        except ImportError as e:
            print(e, file=sys.stderr)
            return 1
        return 0
    builddir = os.path.abspath(os.environ.get("BUILDDIR", "."))
    srcbench = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                            os.pardir, "bench")
    p = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="The hakmem benchmark suite (make bench): every workload under the system "
                    "allocator, hakmem and the peers installed, interleaved; a report, a CSV, a "
                    "JSON and a chart. Environment: BUILDDIR (default .), HAKMEM_BENCH_LIB (a "
                    "copy of libhakmem.so to measure instead of BUILDDIR/.libs/libhakmem.so).")
    add_arguments(p, default_out=os.path.join(builddir, "bench", "results"))
    args = p.parse_args(argv)
    lib = os.environ.get("HAKMEM_BENCH_LIB") or os.path.join(builddir, ".libs", "libhakmem.so")
    if argv in ([], ["--quick"]) and not os.environ.get("HAKMEM_BENCH_LIB"):
        again = "make bench" + ("-quick" if argv else "")
    else:
        again = "%sBUILDDIR=%s bench/run.sh %s" % (
            "HAKMEM_BENCH_LIB=%s " % shlex.quote(lib) if os.environ.get("HAKMEM_BENCH_LIB")
            else "", shlex.quote(builddir), " ".join(shlex.quote(a) for a in argv))
    paths = Paths(programs=(os.path.join(builddir, "bench"), builddir),
                  data=(os.path.normpath(srcbench),), hakmem_lib=lib,
                  origin="build dir: %s" % builddir, reproduce=again)
    try:
        return run_cli(args, paths, "bench/run.sh")
    except KeyboardInterrupt:
        print("\nbench/run.sh: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
