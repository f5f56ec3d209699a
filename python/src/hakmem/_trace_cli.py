"""The record, trace-info and replay subcommands of ``python -m hakmem``.

    python -m hakmem record -o FILE [--allocator system|hakmem] [--keep-pymalloc] -- CMD [ARG...]
    python -m hakmem trace-info FILE [--json] [--plot PNG]
    python -m hakmem replay FILE... [--allocators a,b,...] [--repeat N] [--fill sparse|full]
                                    [--csv [OUT]] [--png OUT] [--json OUT]

``register`` adds them to the command's subparsers. A ``replay`` of a
hand-written hakmem.stress.Trace file without --allocators (or with
--allocator A) keeps its earlier behaviour: one run in this process (or under
A) through hakmem.stress.replay.
"""
import argparse
import json
import os
import sys
from typing import Any, Callable, List, Optional

from . import trace


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return str(n)


def _bound(b: int) -> str:
    return "0" if b == 0 else "<= " + _human_bytes(b) if b >= 1024 else "<= %d" % b


def _bar(n: int, top: int, width: int = 30) -> str:
    return "#" * max(1 if n else 0, round(width * n / top)) if top else ""


def describe(rec: "trace.Recording", out: Any = None) -> None:
    """trace-info's text: what the trace holds, for a person."""
    w = (out or sys.stdout).write
    s = rec.summary
    calls = s["calls"]
    state = "complete" if s["complete"] else "truncated (the process was cut short)" \
        if s["truncated"] else "incomplete (no end record: killed?)"
    w("trace: %s\n" % rec.path)
    w("  %s, %s calls, %s bytes/call, format %d, %s\n" % (
        _human_bytes(rec.file_bytes), "{:,}".format(calls),
        "%.2f" % rec.bytes_per_call if calls else "-", s["format_version"], state))
    w("process: pid %d (parent %d)%s: %s\n" % (s["pid"], s["ppid"],
                                                ", a fork child" if s["forked"] else "",
                                                " ".join(s["argv"]) or s["exe"]))
    w("malloc: %s%s\n" % (s["malloc_library"] or "?",
                          " (asked for %s)" % s["allocator"] if s["allocator"] else ""))
    secs = s["duration_ns"] / 1e9
    w("calls: %s in %d thread%s over %.3f s%s\n" % (
        "{:,}".format(calls), len(s["threads"]), "" if len(s["threads"]) == 1 else "s", secs,
        " (%.2f M calls/s)" % (calls / secs / 1e6) if secs > 0 else ""))
    for fn, n in sorted(s["calls_by_function"].items(), key=lambda kv: -kv[1]):
        w("  %-20s %12s  %5.1f%%\n" % (fn, "{:,}".format(n), 100.0 * n / calls))
    rel = s["blocks_released"]
    w("blocks: %s produced, %s released (%.1f%% by another thread), %s live at the end "
      "(%s)\n" % ("{:,}".format(s["blocks_produced"]), "{:,}".format(rel),
                  100.0 * s["cross_thread_releases"] / rel if rel else 0.0,
                  "{:,}".format(s["live_at_end_blocks"]), _human_bytes(s["live_at_end_bytes"])))
    if s["unknown_releases"] or s["failed_calls"] or s["unrecorded_releases"]:
        w("  unknown pointers released: %d (replays skip them); failed calls: %d; "
          "blocks whose release was not seen: %d\n" % (
              s["unknown_releases"], s["failed_calls"], s["unrecorded_releases"]))
    w("peak live: %s in %s blocks, at %.3f s\n" % (
        _human_bytes(s["peak_live_bytes"]), "{:,}".format(s["peak_live_blocks"]),
        s["peak_time_ns"] / 1e9))
    for title, hist in (("sizes (bytes asked for)", s["size_histogram"]),
                        ("lifetimes (calls from produced to released)",
                         s["lifetime_histogram_calls"])):
        w("%s:\n" % title)
        top = max((n for _, n in hist), default=0)
        for b, n in hist:
            w("  %-12s %12s %s\n" % (_bound(b), "{:,}".format(n), _bar(n, top)))
    r = s["realloc"]
    if any(r[k] for k in ("in_place", "moved", "from_null", "to_zero")):
        w("realloc: %d in place, %d moved, %d from NULL, %d to size 0\n" % (
            r["in_place"], r["moved"], r["from_null"], r["to_zero"]))
        w("  new size / old: %s\n" % ", ".join("%s %d" % kv for kv in r["growth"].items()
                                               if kv[1]))
    if len(s["threads"]) > 1:
        w("threads (most calls first):\n")
        for t in sorted(s["threads"], key=lambda t: -t["calls"])[:10]:
            w("  thread %d (tid %d): %s calls\n" % (t["thread"], t["tid"],
                                                   "{:,}".format(t["calls"])))
    for ev in s["events"]:
        if ev["type"] == "fork":
            w("fork: child %d (its trace: %s.%d)\n" % (ev["pid"], rec.path, ev["pid"]))
        else:
            w("exec: %s\n" % ev["path"])


def cmd_record(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("python -m hakmem record: give a command after --", file=sys.stderr)
        return 2
    try:
        r = trace.record(cmd, args.output, allocator=args.allocator,
                         keep_pymalloc=args.keep_pymalloc)
    except OSError as e:
        print("python -m hakmem record: %s: %s" % (cmd[0], e.strerror), file=sys.stderr)
        return 127
    err = sys.stderr
    if not r.traces:
        print("hakmem record: no trace: %s did not load the recorder (a static or setuid "
              "program?)" % cmd[0], file=err)
        return r.returncode or 1
    main = r.main or r.traces[0]
    print("hakmem record: trace %s: %s calls, %s (%.2f bytes/call)" % (
        main.path, "{:,}".format(main.calls), _human_bytes(main.file_bytes),
        main.bytes_per_call if main.calls else 0.0), file=err)
    others = [t for t in r.traces if t is not main]
    if others:
        print("hakmem record: %d more process%s:" % (len(others), "" if len(others) == 1
                                                     else "es"), file=err)
        for t in others[:20]:
            print("  %s: pid %d%s, %s calls, %s: %s" % (
                os.path.basename(t.path), t.pid, " (fork)" if t.forked else "",
                "{:,}".format(t.calls), _human_bytes(t.file_bytes),
                " ".join(t.argv)[:100]), file=err)
        if len(others) > 20:
            print("  ... and %d more (%s.*)" % (len(others) - 20, main.path), file=err)
    for pid, path in r.unrecorded_execs():
        print("hakmem record: not recorded: pid %d exec'd %s (it did not load the recorder)"
              % (pid, path), file=err)
    return r.returncode


def cmd_trace_info(args: argparse.Namespace) -> int:
    rec = trace.load(args.file)
    try:
        if args.json:
            json.dump(rec.summary, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            describe(rec)
        sys.stdout.flush()
    except BrokenPipeError:
        # `trace-info FILE | head`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.plot:
        rec.plot(args.plot)
        print("chart: %s" % args.plot, file=sys.stderr if args.json else sys.stdout)
    return 0


def _is_stress_trace(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"HAKTRACE"
    except OSError:
        return False


def cmd_replay(args: argparse.Namespace, print_result: Optional[Callable[[Any], int]] = None) -> int:
    legacy = (args.allocators is None and args.csv is None and args.png is None and
              args.json is None and len(args.files) == 1 and _is_stress_trace(args.files[0]))
    if legacy:
        # A hand-written stress.Trace, as before: one run, in this process or under --allocator.
        from . import stress

        t = stress.Trace.load(args.files[0])
        r = stress.replay(t, repeat=args.repeat, fill=args.fill or "full",
                          allocator=args.allocator, count_routes=args.routes)
        if print_result is not None:
            return int(print_result(r))
        print("%s: %d ops, %d errors" % (r.kernel, r.ops, r.errors))
        return 0 if r.ok else 1
    if args.routes:
        print("python -m hakmem replay: --routes is for hakmem.stress.Trace files",
              file=sys.stderr)
        return 2
    allocators: List[str]
    if args.allocators is not None:
        allocators = [a for a in args.allocators.split(",") if a]
    elif args.allocator is not None:
        allocators = [args.allocator]
    else:
        allocators = list(trace.DEFAULT_ALLOCATORS)
    def progress(done: int, total: int, w: str, a: str) -> None:
        sys.stderr.write("\r%d/%d %-50s" % (done, total, "%s %s" % (w, a)))
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    result = trace.replay(args.files, allocators, repeat=args.repeat, fill=args.fill or "sparse",
                          baseline=args.baseline,
                          progress=progress if sys.stderr.isatty() else None)
    if args.csv == "-":
        sys.stdout.write(result.to_csv())
    else:
        sys.stdout.write(result.to_markdown())
        if args.csv:
            with open(args.csv, "w") as f:
                f.write(result.to_csv())
            print("csv: %s" % args.csv)
    # With the CSV on stdout, the names of the files written go to stderr.
    files_to = sys.stderr if args.csv == "-" else sys.stdout
    if args.json:
        result.write_json(args.json)
        print("json: %s" % args.json, file=files_to)
    if args.png:
        result.plot(args.png)
        print("chart: %s" % args.png, file=files_to)
    return 1 if any(r.errors for r in result.runs) else 0


def register(sub: Any, print_result: Optional[Callable[[Any], int]] = None) -> None:
    """Adds record, trace-info and replay to an argparse subparsers object.
    print_result: how the legacy stress.Trace replay prints its StressResult."""
    s = sub.add_parser("record", help="run a command with the allocation recorder preloaded",
                       description="Runs CMD with libhakmem_trace.so preloaded and writes "
                                   "every malloc-family call to FILE (child processes: "
                                   "FILE.<pid>). Exit status: the command's.")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="the trace file")
    s.add_argument("--allocator", choices=("system", "hakmem"), default="system",
                   help="the allocator that serves the recorded calls (default: %(default)s)")
    s.add_argument("--keep-pymalloc", action="store_true",
                   help="do not set PYTHONMALLOC=malloc for Python children")
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("trace-info", help="what a trace holds: calls, sizes, lifetimes, "
                                          "threads, peak live memory")
    s.add_argument("file")
    s.add_argument("--json", action="store_true", help="everything, as JSON")
    s.add_argument("--plot", metavar="PNG", help="also draw live bytes over time (matplotlib)")
    s.set_defaults(func=cmd_trace_info)

    s = sub.add_parser("replay", help="replay traces under allocators (interleaved rounds, "
                                      "medians)")
    s.add_argument("files", nargs="+", metavar="FILE",
                   help="recorded traces (or hakmem.stress.Trace files)")
    s.add_argument("--allocators", help="comma-separated: system, hakmem, mimalloc, jemalloc, "
                                        "tcmalloc, a library path or name=path (default: all "
                                        "installed)")
    s.add_argument("--allocator", help="one allocator (a stress.Trace file alone: run it "
                                       "under this one, as before)")
    s.add_argument("--repeat", type=int, default=3, help="rounds (default: %(default)s)")
    s.add_argument("--fill", choices=("sparse", "full"),
                   help="stamp each block's ends and a word per 4 KiB (sparse, the default), "
                        "or every byte")
    s.add_argument("--baseline", default="system")
    s.add_argument("--csv", nargs="?", const="-", metavar="OUT",
                   help="CSV instead of the table (or also, to OUT)")
    s.add_argument("--png", metavar="OUT", help="also write a chart (matplotlib)")
    s.add_argument("--json", metavar="OUT", help="also write every run as JSON")
    s.add_argument("--routes", action="store_true", help=argparse.SUPPRESS)
    s.set_defaults(func=lambda a: cmd_replay(a, print_result))


__all__ = ["cmd_record", "cmd_replay", "cmd_trace_info", "describe", "register"]
