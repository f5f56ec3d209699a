"""python -m hakmem: info, bench, run, stress, record, trace-info, replay.

    python -m hakmem --version
    python -m hakmem info
    python -m hakmem bench [--quick | --smoke] [--rounds N] [--workloads A,B] [--allocators A,B]
                           [--out DIR] [--png F] [--json F] [--csv F] [--list]
    python -m hakmem run [--no-stats] -- CMD [ARG...]
    python -m hakmem stress KERNEL [--threads N] [--ops N | --duration S] [--allocator A] ...
    python -m hakmem record -o FILE [--allocator system|hakmem] -- CMD [ARG...]
    python -m hakmem trace-info FILE [--json] [--plot PNG]
    python -m hakmem replay FILE... [--allocators a,b] [--repeat N] [--csv] [--png F]

record, trace-info and replay live in hakmem._trace_cli.

Exit status: 0; 1 when a run found an error (a hakmem benchmark run that
failed, a kernel's verification error); 2 for bad arguments; 130 after Ctrl-C.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import shlex
import subprocess
import sys
from typing import Any, Callable, Dict, Optional, Sequence

import hakmem
from hakmem import _allocators, _harness, _trace_cli, bench, stress


def cmd_info(args: argparse.Namespace) -> int:
    """Prints the version, the libraries, the allocators found and the stats."""
    print("hakmem %s" % hakmem.__version__)
    print("  bound to:               %s (%s)" % (
        hakmem.library_path(),
        "the hakmem already in this process" if hakmem.bound_to_process()
        else "the package's own copy"))
    print("  process allocator:      %s" % ("hakmem" if hakmem.is_active() else "not hakmem"))
    print("  library_path():         %s (ctypes.CDLL of it reaches the same hakmem)"
          % hakmem.library_path())
    print("  preload_library_path(): %s (for LD_PRELOAD)" % hakmem.preload_library_path())
    print("  get_library_dir():      %s" % hakmem.get_library_dir())
    print("  get_include():          %s" % hakmem.get_include())
    print("  stress runner:          %s" % stress.runner_path())
    print("  benchmark programs:     %s" % bench.programs_dir())
    found, notes = _allocators.discover()
    print("  allocators:             %s" % ", ".join(
        "%s (%s)" % (n, p or "no preload") for n, p in found.items()))
    for n in notes:
        print("                          %s" % n)
    opts = sorted(k for k in os.environ if k.startswith("HAKMEM_"))
    print("  options:                %s" % (" ".join("%s=%s" % (k, os.environ[k]) for k in opts)
                                          or "defaults (no HAKMEM_* in the environment)"))
    s = hakmem.stats()
    print("  stats:                  %s" % " ".join("%s=%s" % (k, s[k]) for k in (
        "bytes_in_use", "bytes_cached", "bytes_committed", "bytes_mapped", "stats_enabled")))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark suite of make bench, with the package's programs."""
    paths = dataclasses.replace(bench.package_paths(), reproduce="python -m hakmem " + " ".join(
        shlex.quote(a) for a in args.argv))
    return _harness.run_cli(args, paths, "python -m hakmem bench")


def cmd_run(args: argparse.Namespace) -> int:
    """Runs a command with hakmem preloaded."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("python -m hakmem run: give a command after --", file=sys.stderr)
        return 2
    env = dict(os.environ)
    # hakmem first: the first object that defines malloc wins.
    env["LD_PRELOAD"] = " ".join([hakmem.preload_library_path()] + (
        [env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    if not args.no_stats:
        env.setdefault("HAKMEM_STATS", "1")
        env.setdefault("HAKMEM_FREE_ROUTE_TRACE", "1")
    if args.sample:
        env["HAKMEM_FREE_ROUTE_SAMPLE"] = str(args.sample)
    if not args.keep_pymalloc:
        # A Python child then takes every block (objects too) from malloc: hakmem.
        env.setdefault("PYTHONMALLOC", "malloc")
    print("hakmem: running %s with LD_PRELOAD=%s" % (cmd[0], hakmem.preload_library_path()),
          file=sys.stderr)
    try:
        rc = subprocess.call(cmd, env=env)
    except OSError as e:
        print("python -m hakmem run: %s: %s" % (cmd[0], e.strerror), file=sys.stderr)
        return 127
    return rc if rc >= 0 else 128 - rc


def _print_result(r: stress.StressResult) -> int:
    print("%s: %d ops in %.3f s (%.2f M ops/s), %d errors, %d failed allocations, "
          "peak RSS %d kB, allocator %s %s" % (r.kernel, r.ops, r.seconds, r.ops_per_s / 1e6,
                                               r.errors, r.alloc_failures, r.peak_rss_kb,
                                               r.allocator, r.allocator_version))
    if r.routes:
        print("routes: " + " ".join("%s=%d" % kv for kv in r.routes.items()))
    if r.first_error:
        print("first error: " + r.first_error)
    return 0 if r.ok else 1


# The stress options: (flag, run() parameter, type, help). Defaults come from
# stress.run's signature, so the help shows what a run really uses.
_STRESS_OPTIONS = (
    ("--threads", "threads", int, "worker threads (default: 1; prodcons: 2, an even number)"),
    ("--ops", "ops", int, "allocator calls over all threads (default: 1000000)"),
    ("--duration", "duration", float, "run for this many seconds instead of a number of ops"),
    ("--min-size", "min_size", int, "smallest block, bytes"),
    ("--max-size", "max_size", int, "largest block, bytes"),
    ("--working-set", "working_set", int, "live blocks per thread (prodcons: the queue's depth)"),
    ("--seed", "seed", int, "random seed"),
    ("--max-align", "max_align", int, "aligned: the largest alignment (a power of two)"),
    ("--generations", "generations", int, "larson: short-lived threads per worker"),
    ("--max-memory", "max_memory", int,
     "refuse a configuration whose live blocks could exceed this many bytes (default: half "
     "the memory available now)"),
)


def cmd_stress(args: argparse.Namespace) -> int:
    """Runs one stress kernel and prints its result."""
    kw: Dict[str, Any] = {p: getattr(args, p) for _, p, _, _ in _STRESS_OPTIONS
                          if getattr(args, p) is not None}
    allocator = args.allocator
    if args.routes:
        if allocator is not None and allocator != "hakmem":
            print("python -m hakmem stress: --routes counts hakmem's free routes: it cannot "
                  "run under --allocator %s" % allocator, file=sys.stderr)
            return 2
        if allocator is None and not hakmem.stats()["stats_enabled"]:
            # Route counting must be on when hakmem starts: run the kernel in
            # hakmem-stress with the package's hakmem preloaded.
            print("python -m hakmem stress: counting routes in hakmem-stress with the package's "
                  "hakmem preloaded (this process's hakmem started without route counting)",
                  file=sys.stderr)
            allocator = "hakmem"
    return _print_result(stress.run(args.kernel, fill=args.fill, allocator=allocator,
                                    count_routes=args.routes, **kw))


def _defaults() -> Dict[str, Any]:
    sig = inspect.signature(stress.run)
    return {n: p.default for n, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty}


def parser() -> argparse.ArgumentParser:
    """The command line of python -m hakmem."""
    p = argparse.ArgumentParser(
        prog="python -m hakmem", description="hakmem from Python: information, the benchmark "
        "suite, programs under hakmem, stress kernels.",
        epilog="Exit status: 0; 1 when a run found an error; 2 for bad arguments; 130 after "
               "Ctrl-C.")
    p.add_argument("--version", action="version",
                   version="hakmem %s" % hakmem.__version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("info", help="version, libraries, allocators found, stats",
                       description="Version, libraries, allocators found, options and stats.")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("bench", help="the benchmark suite of make bench: allocators compared",
                       description="The benchmark suite of `make bench` (one definition: "
                       "hakmem._harness), with the package's programs and libhakmem.so: every "
                       "workload under every allocator installed, interleaved; the same report, "
                       "CSV, JSON and chart. Exit status 1 only when a hakmem run failed or broke "
                       "a promise: another allocator's failure is reported, not fatal.")
    _harness.add_arguments(s)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("run", help="run a command with hakmem preloaded; print its stats "
                                   "and free routes at exit",
                       description="Run a command with hakmem preloaded (and, for Python "
                                   "children, PYTHONMALLOC=malloc); hakmem prints its statistics "
                                   "and free routes when the command exits.")
    s.add_argument("--no-stats", action="store_true", help="no HAKMEM_STATS / route trace")
    s.add_argument("--sample", type=int, metavar="N",
                   help="also print the first N frees of each route")
    s.add_argument("--keep-pymalloc", action="store_true",
                   help="do not set PYTHONMALLOC=malloc for Python children")
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    s.set_defaults(func=cmd_run)

    d = _defaults()
    s = sub.add_parser("stress", help="run a stress kernel",
                       description="Run one stress kernel (hakmem.stress): every block is filled "
                       "and checked. In this process with the package's hakmem, or with "
                       "--allocator in hakmem-stress with that allocator preloaded. Ctrl-C stops "
                       "it.")
    s.add_argument("kernel", choices=stress.KERNELS, help="the kernel")
    for flag, param, typ, text in _STRESS_OPTIONS:
        s.add_argument(flag, dest=param, type=typ, default=None, metavar=param.upper(),
                       help=text + ("" if d.get(param) is None else " (default: %s)" % d[param]))
    s.add_argument("--fill", choices=("full", "sparse"), default="full",
                   help="full: write and check every byte; sparse: one per 4 KiB and the ends "
                        "(default: %(default)s)")
    s.add_argument("--allocator", help="run in hakmem-stress with this allocator preloaded: "
                   "system, hakmem, mimalloc, jemalloc, tcmalloc, a library path or name=path "
                   "(default: in this process, with the package's hakmem)")
    s.add_argument("--routes", action="store_true",
                   help="count hakmem's free routes (hakmem only: in this process or with "
                        "--allocator hakmem)")
    s.set_defaults(func=cmd_stress)

    _trace_cli.register(sub, print_result=_print_result)  # record, trace-info, replay
    return p


def _run(argv: Optional[Sequence[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("\npython -m hakmem %s: interrupted" % args.command, file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main() ends quietly
    except (ValueError, LookupError, RuntimeError, OSError) as e:
        print("python -m hakmem %s: %s" % (args.command, e), file=sys.stderr)
        return 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The entry point of ``python -m hakmem`` and the ``hakmem`` script."""
    try:
        rc = _run(argv)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # The reader went away (`hakmem info | head -2`): nothing more to
        # say. Point stdout at /dev/null so the interpreter's final flush
        # does not complain, and exit as a killed-by-SIGPIPE writer would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
