"""Allocator comparisons: each workload in a fresh process per allocator.

    result = hakmem.bench.compare(["random_mixed", "larson"], repeat=5)
    print(result.to_markdown())
    result.plot("compare.png")            # needs matplotlib (pip install hakmem[plot])

Each run is a subprocess with the allocator preloaded: the hakmem-stress
program for the stress kernels and traces, or any command (Workload.command).
The runs are interleaved (round after round, workload after workload, each
allocator in turn, the first one rotating every round), so a change of the
machine's load hits every contender alike; a round gives every contender the
same seed. Figures are medians with min and max, peak RSS, and ratios to the
baseline measured in the same call (default: the system allocator). A run
whose malloc did not come from the library it meant to preload stops the
comparison (RuntimeError): a figure from the wrong library is worse than none.

Allocators: "system", "hakmem" (the package's libhakmem.so), "mimalloc",
"jemalloc", "tcmalloc" (found with ldconfig -p), a library path, or
"name=path". Those not installed are skipped with a note.
"""
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from . import _allocators, stress

DEFAULT_ALLOCATORS = _allocators.DEFAULT


@dataclass(frozen=True)
class Workload:
    """What one run does: a stress kernel, a saved trace, or a command."""

    name: str
    kernel: Optional[str] = None
    params: Dict[str, object] = field(default_factory=dict)
    trace: Optional[str] = None
    argv: Optional[Sequence[str]] = None

    @classmethod
    def stress(cls, name, kernel, **params):
        if kernel not in stress.KERNELS:
            raise ValueError("unknown kernel %r" % (kernel,))
        return cls(name=name, kernel=kernel, params=params)

    @classmethod
    def replay(cls, name, path, repeat=1):
        return cls(name=name, trace=os.path.abspath(path), params={"repeat": repeat})

    @classmethod
    def command(cls, name, argv):
        """Any program; measured by wall time and peak RSS (lower is better)."""
        return cls(name=name, argv=tuple(argv))

    @property
    def higher_is_better(self):
        return self.argv is None

    @property
    def unit(self):
        return "ops/s" if self.argv is None else "s"

    def runner_args(self, quick, seed):
        if self.kernel is not None:
            p = dict(self.params)
            if quick and "ops" in p:
                p["ops"] = max(1, p["ops"] // 10)
            if quick and "duration" in p:
                p["duration"] = p["duration"] / 10
            p.setdefault("seed", seed)
            return [self.kernel] + ["%s=%s" % kv for kv in p.items()]
        if self.trace is not None:
            return ["replay", self.trace] + ["%s=%s" % kv for kv in self.params.items()]
        raise ValueError("a command workload has no runner arguments")


# Sized for about 0.1-0.5 s a run on a small machine (a tenth with quick),
# long enough that process start and first page faults stay small beside it.
PRESETS = {
    w.name: w
    for w in (
        Workload.stress("random_mixed", "random_mixed", ops=8_000_000, min_size=16,
                        max_size=1024, working_set=8192, fill="sparse"),
        Workload.stress("random_mixed_mid", "random_mixed", ops=2_000_000, min_size=1024,
                        max_size=65536, working_set=1024, fill="sparse"),
        Workload.stress("larson", "larson", threads=2, ops=4_000_000, min_size=16,
                        max_size=512, working_set=1024, generations=4, fill="sparse"),
        Workload.stress("prodcons", "prodcons", threads=2, ops=4_000_000, min_size=16,
                        max_size=1024, working_set=1024, fill="sparse"),
        Workload.stress("realloc_chains", "realloc_chains", ops=2_000_000, min_size=16,
                        max_size=16384, working_set=1024, fill="sparse"),
        Workload.stress("fragmentation", "fragmentation", ops=2_000_000, min_size=16,
                        max_size=2048, working_set=8192, fill="sparse"),
        Workload.stress("aligned", "aligned", ops=4_000_000, min_size=16, max_size=1024,
                        working_set=4096, max_align=4096, fill="sparse"),
    )
}


@dataclass(frozen=True)
class Run:
    workload: str
    allocator: str
    round: int
    value: float          # ops/s (kernels, traces) or seconds (commands)
    peak_rss_kb: int
    errors: int           # verification errors and failed allocations
    library: str          # what the run reported as its malloc's file
    version: str


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def _fmt_value(v, unit):
    if unit == "s":
        return "%.3f s" % v
    return "%.2f M" % (v / 1e6) if v >= 1e5 else "%.0f" % v


def _fmt_kb(kb):
    return "%.1f MiB" % (kb / 1024.0) if kb >= 0 else "?"


class Comparison:
    """The runs of one compare() call and their summary."""

    def __init__(self, workloads, allocators, runs, notes, baseline):
        self.workloads = list(workloads)      # Workload objects, in order
        self.allocators = dict(allocators)    # name -> library path (None: system)
        self.runs = list(runs)                # Run objects
        self.notes = list(notes)
        self.baseline = baseline

    def values(self, workload, allocator):
        return [r.value for r in self.runs if r.workload == workload and r.allocator == allocator]

    def median(self, workload, allocator):
        return _median(self.values(workload, allocator))

    def ratio(self, workload, allocator):
        """How many times better than the baseline (>1: better), medians."""
        w = next(w for w in self.workloads if w.name == workload)
        base = self.median(workload, self.baseline)
        this = self.median(workload, allocator)
        if not (base > 0 and this > 0):
            return float("nan")
        return this / base if w.higher_is_better else base / this

    def rows(self):
        """One dict per (workload, allocator)."""
        out = []
        for w in self.workloads:
            for a in self.allocators:
                runs = [r for r in self.runs if r.workload == w.name and r.allocator == a]
                if not runs:
                    continue
                vals = [r.value for r in runs]
                out.append({
                    "workload": w.name, "allocator": a, "unit": w.unit, "median": _median(vals),
                    "min": min(vals), "max": max(vals), "runs": len(vals),
                    "peak_rss_kb": _median([r.peak_rss_kb for r in runs]),
                    "errors": sum(r.errors for r in runs),
                    "ratio": self.ratio(w.name, a) if self.baseline in self.allocators
                    else float("nan"),
                })
        return out

    def to_markdown(self):
        lines = ["| workload | allocator | median | min - max | peak RSS | vs %s | errors |"
                 % self.baseline, "|---|---|---:|---|---:|---:|---:|"]
        for row in self.rows():
            u = row["unit"]
            ratio = row["ratio"]
            lines.append("| %s | %s | %s%s | %s - %s | %s | %s | %s |" % (
                row["workload"], row["allocator"], _fmt_value(row["median"], u),
                "" if u == "s" else " ops/s", _fmt_value(row["min"], u),
                _fmt_value(row["max"], u), _fmt_kb(row["peak_rss_kb"]),
                "%.2fx" % ratio if ratio == ratio else "-",
                "**%d**" % row["errors"] if row["errors"] else "0"))
        libs = []
        for a, path in self.allocators.items():
            version = next((r.version for r in self.runs if r.allocator == a), "?")
            libs.append("- %s: %s (%s)" % (a, path or "no preload", version))
        lines += ["", "Libraries:"] + libs
        lines.append("")
        rounds = max((r.round for r in self.runs), default=-1) + 1
        lines.append("Medians of %d interleaved round%s; vs %s > 1 is better." % (
            rounds, "" if rounds == 1 else "s", self.baseline))
        for n in self.notes:
            lines.append("Note: " + n)
        return "\n".join(lines) + "\n"

    __str__ = to_markdown

    def to_dict(self):
        return {
            "baseline": self.baseline,
            "allocators": self.allocators,
            "notes": self.notes,
            "rows": self.rows(),
            "runs": [r.__dict__ for r in self.runs],
        }

    def plot(self, path):
        """A bar chart of the ratios to the baseline, written to path (PNG, SVG...)."""
        try:
            import matplotlib
        except ImportError:
            raise ImportError("Comparison.plot() needs matplotlib: pip install 'hakmem[plot]'")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [w.name for w in self.workloads]
        allocs = list(self.allocators)
        width = 0.8 / max(1, len(allocs))
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names) * max(1, len(allocs)) / 2), 4))
        for i, a in enumerate(allocs):
            ratios = [self.ratio(n, a) for n in names]
            xs = [k + (i - (len(allocs) - 1) / 2) * width for k in range(len(names))]
            ax.bar(xs, [r if r == r else 0 for r in ratios], width, label=a)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20, ha="right")
        ax.set_ylabel("vs %s (higher is better)" % self.baseline)
        rounds = max((r.round for r in self.runs), default=-1) + 1
        ax.set_title("hakmem.bench.compare: medians of %d round%s"
                     % (rounds, "" if rounds == 1 else "s"))
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _run_command(argv, path, timeout):
    """(seconds, peak RSS kB, exit status) of argv with path preloaded."""
    env = _allocators.preload_env(path)
    t0 = time.monotonic()
    p = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL)
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.monotonic() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            raise RuntimeError("%s did not finish in %s s" % (argv[0], timeout))
        time.sleep(0.002)
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else status
    return time.monotonic() - t0, int(ru.ru_maxrss), p.returncode


def _one_run(w, name, path, rnd, quick, seed, timeout):
    if w.argv is not None:
        secs, rss, rc = _run_command(w.argv, path, timeout)
        return Run(w.name, name, rnd, secs, rss, 1 if rc != 0 else 0, path or "system", "-")
    f, _, _, _ = stress.run_runner(w.runner_args(quick, seed), name if path is None
                                   else "%s=%s" % (name, path), timeout=timeout)
    seconds = float(f["seconds"])
    return Run(w.name, name, rnd, int(f["ops"]) / seconds if seconds > 0 else 0.0,
               int(f["peak_rss_kb"]), int(f["errors"]) + int(f["alloc_failures"]),
               f["allocator"], f.get("allocator_version", "unknown"))


def compare(workloads=None, allocators=DEFAULT_ALLOCATORS, repeat=5, *, quick=False,
            baseline="system", seed=1, progress=None, timeout=600):
    """Runs every workload with every installed allocator, repeat rounds.

    workloads: names of PRESETS (default: all of them) or Workload objects.
    quick: a tenth of each preset's ops, for a smoke run.
    progress: called as progress(done, total, workload, allocator) before each run.
    Returns a Comparison.
    """
    if workloads is None:
        workloads = list(PRESETS)
    elif isinstance(workloads, (str, Workload)):
        workloads = [workloads]
    if isinstance(allocators, str):
        allocators = [allocators]
    ws = []
    for w in workloads:
        if isinstance(w, str):
            if w not in PRESETS:
                raise ValueError("unknown workload %r (presets: %s)" % (w, ", ".join(PRESETS)))
            w = PRESETS[w]
        elif not isinstance(w, Workload):
            raise TypeError("workloads are preset names or Workload objects, not %r" % (w,))
        ws.append(w)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError("repeat must be a positive int, got %r" % (repeat,))
    found, notes = _allocators.discover(allocators)
    if not found:
        raise RuntimeError("no allocator to compare: " + "; ".join(notes))
    if baseline not in found:
        notes.append("baseline %s was not run: no ratios" % baseline)
    names = list(found)
    runs: List[Run] = []
    total, done = repeat * len(ws) * len(names), 0
    for rnd in range(repeat):
        for w in ws:
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                if progress is not None:
                    progress(done, total, w.name, name)
                runs.append(_one_run(w, name, found[name], rnd, quick, seed + rnd, timeout))
                done += 1
    if progress is not None:
        progress(done, total, "", "")
    bad = sorted({(r.workload, r.allocator) for r in runs if r.errors})
    for wname, aname in bad:
        notes.append("%s under %s: verification errors or failed allocations" % (wname, aname))
    return Comparison(ws, found, runs, notes, baseline)


__all__ = ["Comparison", "DEFAULT_ALLOCATORS", "PRESETS", "Run", "Workload", "compare"]
