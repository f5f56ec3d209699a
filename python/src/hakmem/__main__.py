"""python -m hakmem: info, bench, run, stress, record, trace-info, replay.

    python -m hakmem info
    python -m hakmem bench [--quick] [--repeat N] [--workloads a,b] [--allocators a,b] [--png F]
    python -m hakmem run [--no-stats] -- CMD [ARG...]
    python -m hakmem stress KERNEL [--threads N] [--ops N | --duration S] [--allocator A] ...
    python -m hakmem record -o FILE [--allocator system|hakmem] -- CMD [ARG...]
    python -m hakmem trace-info FILE [--json] [--plot PNG]
    python -m hakmem replay FILE... [--allocators a,b] [--repeat N] [--csv] [--png F]

record, trace-info and replay live in hakmem._trace_cli.
"""
import argparse
import json
import os
import subprocess
import sys

import hakmem
from hakmem import _allocators, _trace_cli, bench, stress


def cmd_info(args):
    print("hakmem %s" % hakmem.__version__)
    print("  bound to:          %s (%s)" % (
        hakmem.loaded_library(),
        "the hakmem already in this process" if hakmem.bound_to_process()
        else "the package's own copy"))
    print("  process allocator: %s" % ("hakmem" if hakmem.is_active() else "not hakmem"))
    print("  library_path():    %s" % hakmem.library_path())
    print("  get_library_dir(): %s" % hakmem.get_library_dir())
    print("  get_include():     %s" % hakmem.get_include())
    print("  stress runner:     %s" % stress.runner_path())
    found, notes = _allocators.discover()
    print("  allocators:        %s" % ", ".join(
        "%s (%s)" % (n, p or "no preload") for n, p in found.items()))
    for n in notes:
        print("                     %s" % n)
    opts = sorted(k for k in os.environ if k.startswith("HAKMEM_"))
    print("  options:           %s" % (" ".join("%s=%s" % (k, os.environ[k]) for k in opts)
                                     or "defaults (no HAKMEM_* in the environment)"))
    s = hakmem.stats()
    print("  stats:             %s" % " ".join("%s=%s" % (k, s[k]) for k in (
        "bytes_in_use", "bytes_cached", "bytes_committed", "bytes_mapped", "stats_enabled")))
    return 0


class _Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, done, total, workload, allocator):
        if not self.enabled:
            return
        width = 30
        filled = width * done // max(1, total)
        sys.stderr.write("\r[%s%s] %d/%d %-40s" % ("#" * filled, "." * (width - filled), done,
                                                   total, "%s %s" % (workload, allocator)))
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _csv(s):
    return [x for x in s.split(",") if x]


def cmd_bench(args):
    workloads = _csv(args.workloads) if args.workloads else None
    result = bench.compare(workloads, _csv(args.allocators), repeat=args.repeat,
                           quick=args.quick, baseline=args.baseline,
                           progress=_Progress(not args.no_progress))
    print(result.to_markdown(), end="")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=1, default=str)
    if args.png:
        result.plot(args.png)
        print("chart: %s" % args.png)
    return 1 if any(r.errors for r in result.runs) else 0


def cmd_run(args):
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("python -m hakmem run: give a command after --", file=sys.stderr)
        return 2
    env = dict(os.environ)
    # hakmem first: the first object that defines malloc wins.
    env["LD_PRELOAD"] = " ".join([hakmem.library_path()] + (
        [env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    if not args.no_stats:
        env.setdefault("HAKMEM_STATS", "1")
        env.setdefault("HAKMEM_FREE_ROUTE_TRACE", "1")
    if args.sample:
        env["HAKMEM_FREE_ROUTE_SAMPLE"] = str(args.sample)
    if not args.keep_pymalloc:
        # A Python child then takes every block (objects too) from malloc: hakmem.
        env.setdefault("PYTHONMALLOC", "malloc")
    print("hakmem: running %s with LD_PRELOAD=%s" % (cmd[0], hakmem.library_path()),
          file=sys.stderr)
    try:
        rc = subprocess.call(cmd, env=env)
    except OSError as e:
        print("python -m hakmem run: %s: %s" % (cmd[0], e.strerror), file=sys.stderr)
        return 127
    return rc if rc >= 0 else 128 - rc


def _print_result(r):
    print("%s: %d ops in %.3f s (%.2f M ops/s), %d errors, %d failed allocations, "
          "peak RSS %d kB, allocator %s %s" % (r.kernel, r.ops, r.seconds, r.ops_per_s / 1e6,
                                               r.errors, r.alloc_failures, r.peak_rss_kb,
                                               r.allocator, r.allocator_version))
    if r.routes:
        print("routes: " + " ".join("%s=%d" % kv for kv in r.routes.items()))
    if r.first_error:
        print("first error: " + r.first_error)
    return 0 if r.ok else 1


def cmd_stress(args):
    kw = {k: v for k, v in vars(args).items() if v is not None and k in (
        "threads", "ops", "duration", "min_size", "max_size", "working_set", "seed",
        "max_align", "generations", "fill", "allocator")}
    return _print_result(stress.run(args.kernel, count_routes=args.routes, **kw))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hakmem", description="hakmem from Python.")
    sub = p.add_subparsers(dest="command")
    sub.required = True

    s = sub.add_parser("info", help="version, libraries, allocators found, stats")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("bench", help="compare allocators (interleaved runs, medians)")
    s.add_argument("--workloads", help="comma-separated presets (default: all): "
                   + ",".join(bench.PRESETS))
    s.add_argument("--allocators", default=",".join(bench.DEFAULT_ALLOCATORS),
                   help="comma-separated: system, hakmem, mimalloc, jemalloc, tcmalloc, "
                        "a library path or name=path (default: %(default)s)")
    s.add_argument("--repeat", type=int, default=3, help="rounds (default: %(default)s)")
    s.add_argument("--quick", action="store_true", help="a tenth of the ops: a smoke run")
    s.add_argument("--baseline", default="system")
    s.add_argument("--png", help="also write a chart of the ratios (needs matplotlib)")
    s.add_argument("--json", help="also write every run as JSON")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("run", help="run a command with hakmem preloaded; print its stats "
                                   "and free routes at exit")
    s.add_argument("--no-stats", action="store_true", help="no HAKMEM_STATS / route trace")
    s.add_argument("--sample", type=int, help="also print the first N frees of each route")
    s.add_argument("--keep-pymalloc", action="store_true",
                   help="do not set PYTHONMALLOC=malloc for Python children")
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    s.set_defaults(func=cmd_run)

    for name in ("stress",):
        s = sub.add_parser(name, help="run a stress kernel")
        if name == "stress":
            s.add_argument("kernel", choices=stress.KERNELS)
            s.add_argument("--threads", type=int)
            s.add_argument("--ops", type=int)
            s.add_argument("--duration", type=float)
            s.add_argument("--min-size", dest="min_size", type=int)
            s.add_argument("--max-size", dest="max_size", type=int)
            s.add_argument("--working-set", dest="working_set", type=int)
            s.add_argument("--seed", type=int)
            s.add_argument("--max-align", dest="max_align", type=int)
            s.add_argument("--generations", type=int)
            s.set_defaults(func=cmd_stress)
        s.add_argument("--fill", choices=("full", "sparse"), default="full")
        s.add_argument("--allocator", help="run in a subprocess with this allocator preloaded "
                                           "(default: in this process, with hakmem)")
        s.add_argument("--routes", action="store_true",
                       help="count hakmem's free routes (with --allocator hakmem)")
    _trace_cli.register(sub, print_result=_print_result)  # record, trace-info, replay

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, LookupError, RuntimeError) as e:
        print("python -m hakmem %s: %s" % (args.command, e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
