"""Record any program's allocations and replay them under every allocator.

    >>> from hakmem import trace
    >>> rec = trace.record(["sqlite3", "db.sqlite", ".read load.sql"], "sqlite.trace")
    >>> t = trace.load("sqlite.trace")
    >>> t.calls, t.peak_live_bytes, t.calls_by_function["malloc"]
    >>> for call in t.iter_calls(): ...          # every call, in order
    >>> result = trace.replay("sqlite.trace", allocators=["system", "hakmem", "mimalloc"])
    >>> print(result.to_markdown())              # a bench.Results

Recording preloads the package's ``libhakmem_trace.so`` into the program (and
into every program it starts: children inherit LD_PRELOAD). It records each
call of the malloc family, hakmem's own API included, with its thread, sizes,
alignment, the earlier result a pointer argument refers to, the result and a
timestamp, and passes the call on to the allocator that would have served it
(glibc's, or hakmem's with ``allocator="hakmem"``). Each process writes its own
file: the first one ``path``, the others ``path.<pid>`` (``.<pid>.<n>`` for a
program exec'd in a process that already had a file).

Replaying runs the C replayer (``hakmem-replay``) once per allocator and
round, interleaved, with the allocator preloaded: one replay thread per
recorded thread, a call on another thread's block waits until that block
exists, every block stamped when produced and checked before it is resized or
freed. The result is the :class:`hakmem.bench.Results` that
``hakmem.bench.compare`` returns (a :class:`ReplayResults`), with the replay's
own figures on each run (:class:`ReplayRun`).

The file format is documented in trace/format.h and in the README
("Recording and replaying"); :class:`TraceWriter` writes it from Python, and
:func:`save` turns a hand-written :class:`hakmem.stress.Trace` into it.
"""
import dataclasses
import datetime
import heapq
import json
import math
import os
import re
import statistics
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set,
                    Tuple, Union)

from . import _allocators, _harness, bench

MAGIC = b"\x89HAKTRC\n"
FORMAT_VERSION = 1
UNKNOWN = -1  #: Call.ptr of a pointer the trace never produced
DEFAULT_ALLOCATORS = _allocators.DEFAULT

_HERE = os.path.dirname(os.path.abspath(__file__))
_MAX_RAW = 1 << 22

# Op numbers and fields: trace/format.h.
_OPS = {
    1: "malloc", 2: "calloc", 3: "realloc", 4: "reallocarray", 5: "free", 6: "free_sized",
    7: "free_aligned_sized", 8: "posix_memalign", 9: "aligned_alloc", 10: "memalign",
    11: "valloc", 12: "pvalloc", 13: "hak_malloc", 14: "hak_calloc", 15: "hak_realloc",
    16: "hak_free", 17: "hak_aligned_alloc", 18: "hak_free_sized", 19: "hak_alloc",
    20: "hak_alloc_zeroed", 21: "hak_dealloc", 22: "hak_realloc_layout",
    32: "thread", 33: "fork", 34: "exec",
}
_OP_NUMBERS = {name: op for op, name in _OPS.items()}
_FIELDS = {
    1: ("size", "res"), 2: ("nmemb", "size", "res"), 3: ("ptr", "size", "dseq2", "res"),
    4: ("ptr", "nmemb", "size", "dseq2", "res"), 5: ("ptr",), 6: ("ptr", "size"),
    7: ("ptr", "align", "size"), 8: ("align", "size", "ret", "res"),
    9: ("align", "size", "res"), 10: ("align", "size", "res"), 11: ("size", "res"),
    12: ("size", "res"), 13: ("size", "res"), 14: ("nmemb", "size", "res"),
    15: ("ptr", "size", "dseq2", "res"), 16: ("ptr",), 17: ("align", "size", "res"),
    18: ("ptr", "size"), 19: ("size", "align", "res"), 20: ("size", "align", "res"),
    21: ("ptr", "size", "align"), 22: ("ptr", "old", "align", "size", "dseq2", "res"),
    32: ("num",), 33: ("num",), 34: ("bytes",),
}
_HEADER_KEYS = {1: "pid", 2: "ppid", 3: "start_realtime_ns", 4: "start_mono_ns", 5: "cmdline",
                6: "malloc_library", 7: "allocator", 8: "forked", 9: "recorder", 10: "exe"}
_HEADER_BYTES = {"cmdline", "malloc_library", "allocator", "recorder", "exe"}


class TraceError(ValueError):
    """A file that is not a readable trace (missing, not a trace, another
    version, damaged), or a replay that could not read it."""


def recorder_path() -> str:
    """The package's libhakmem_trace.so (preload it to record a program)."""
    return os.path.join(_HERE, "lib", "libhakmem_trace.so")


def replayer_path() -> str:
    """The package's hakmem-replay program (trace info and replays)."""
    return os.path.join(_HERE, "bin", "hakmem-replay")


# ---- varints ----------------------------------------------------------------------


def _put_varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _zigzag(v: int) -> int:
    return ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF


def _get_varint(b: bytes, i: int, end: int) -> Tuple[int, int]:
    v = shift = 0
    while i < end:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            break
    raise IndexError("varint")


def _tlv(body: bytes) -> Iterator[Tuple[int, bytes]]:
    i = 0
    while i < len(body):
        key, i = _get_varint(body, i, len(body))
        n, i = _get_varint(body, i, len(body))
        if i + n > len(body):
            raise IndexError("field")
        yield key, body[i:i + n]
        i += n


# ---- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One recorded call (or event: function "thread", "fork" or "exec").

    Blocks are named by ids: the seq of the call that produced them. ``ptr`` is
    the id of the block a pointer argument refers to (None for NULL, UNKNOWN for
    a pointer the trace never produced); ``result`` the id of the block the call
    produced (None when it produced none or failed). A realloc that moved or
    not produces a new id (its second seq).
    """

    seq: int
    thread: int
    time_ns: int
    function: str
    size: int = 0        # bytes asked for (calloc and reallocarray: nmemb * size)
    nmemb: int = 0
    align: int = 0
    old_size: int = 0    # hak_realloc_layout's old size
    ptr: Optional[int] = None
    result: Optional[int] = None
    value: Union[int, str, None] = None  # posix_memalign's return; an event's tid, pid or path


@dataclass
class _Chunk:
    offset: int
    raw_len: int
    comp_len: int
    crc: int
    cut: bool


class Recording:
    """A trace file: its header at once, its summary from ``hakmem-replay
    info`` on first use, its calls from :meth:`iter_calls`."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        try:
            with open(self.path, "rb") as f:
                self._data = f.read()
        except OSError as e:
            raise TraceError("%s: %s" % (path, e.strerror)) from None
        data = self._data
        if data[:8] == b"HAKTRACE":
            raise TraceError("%s: a hand-written hakmem.stress.Trace file, not a recording "
                             "(trace.save() converts it)" % path)
        if len(data) < 16 or data[:8] != MAGIC:
            raise TraceError("%s: not a hakmem trace (no trace mark at its start)" % path)
        version, hlen = struct.unpack_from("<II", data, 8)
        if version != FORMAT_VERSION:
            raise TraceError("%s: trace format version %d; this hakmem reads version %d"
                             % (path, version, FORMAT_VERSION))
        if 16 + hlen > len(data):
            raise TraceError("%s: truncated inside its header" % path)
        self.header: Dict[str, Any] = {}
        try:
            for key, value in _tlv(data[16:16 + hlen]):
                name = _HEADER_KEYS.get(key)
                if name is None:
                    continue
                self.header[name] = (value.decode("utf-8", "replace") if name in _HEADER_BYTES
                                     else _get_varint(value, 0, len(value))[0])
        except IndexError:
            raise TraceError("%s: corrupt header" % path) from None
        self._body = 16 + hlen
        self._summary: Optional[Dict[str, Any]] = None

    # -- the header --
    @property
    def pid(self) -> int:
        return int(self.header.get("pid", 0))

    @property
    def ppid(self) -> int:
        return int(self.header.get("ppid", 0))

    @property
    def argv(self) -> List[str]:
        cmd = self.header.get("cmdline", "")
        return cmd.split("\0")[:-1] if cmd.endswith("\0") else cmd.split("\0") if cmd else []

    @property
    def exe(self) -> str:
        return str(self.header.get("exe", ""))

    @property
    def malloc_library(self) -> str:
        """The file that served the recorded calls (glibc or the preloaded allocator)."""
        return str(self.header.get("malloc_library", ""))

    @property
    def forked(self) -> bool:
        """A fork child (no exec): its parent's blocks are unknown to it."""
        return bool(self.header.get("forked", 0))

    @property
    def file_bytes(self) -> int:
        return len(self._data)

    # -- the summary (hakmem-replay info) --
    @property
    def summary(self) -> Dict[str, Any]:
        """Everything ``trace-info --json`` prints, as a dict."""
        if self._summary is None:
            self._summary = _run_info(self.path)
        return self._summary

    calls = property(lambda self: int(self.summary["calls"]), doc="recorded calls")
    calls_by_function = property(lambda self: dict(self.summary["calls_by_function"]))
    peak_live_bytes = property(lambda self: int(self.summary["peak_live_bytes"]))
    peak_live_blocks = property(lambda self: int(self.summary["peak_live_blocks"]))
    truncated = property(lambda self: bool(self.summary["truncated"]),
                         doc="the file ends inside a chunk (a crash or a kill)")
    complete = property(lambda self: bool(self.summary["complete"]),
                        doc="the process wrote its end record (exit, exec or a fatal signal)")
    unknown_releases = property(lambda self: int(self.summary["unknown_releases"]))
    threads = property(lambda self: list(self.summary["threads"]))
    events = property(lambda self: list(self.summary["events"]))

    @property
    def bytes_per_call(self) -> float:
        return self.file_bytes / self.calls if self.calls else float("nan")

    @property
    def duration_s(self) -> float:
        return float(self.summary["duration_ns"]) / 1e9

    @property
    def cross_thread_share(self) -> float:
        """Share of releases made by another thread than the one that produced the block."""
        r = self.summary["blocks_released"]
        return self.summary["cross_thread_releases"] / r if r else 0.0

    def size_histogram(self) -> List[Tuple[int, int]]:
        """(upper bound in bytes, blocks): bucket k holds sizes in (2**(k-1), 2**k]."""
        return [tuple(x) for x in self.summary["size_histogram"]]

    def lifetime_histogram(self) -> List[Tuple[int, int]]:
        """(upper bound, blocks): lifetimes in calls (any thread's) from produced to released."""
        return [tuple(x) for x in self.summary["lifetime_histogram_calls"]]

    # -- the calls (decoded here, in Python) --
    def _chunks(self) -> Tuple[Dict[int, List[_Chunk]], bool]:
        data, i, n = self._data, self._body, len(self._data)
        per_thread: Dict[int, List[_Chunk]] = {}
        cut = False
        while i < n:
            tag = data[i]
            i += 1
            try:
                if tag == 0x45:  # 'E'
                    ln, i = _get_varint(data, i, n)
                    if i + ln > n:
                        cut = True
                        break
                    i += ln
                    continue
                if tag != 0x43:  # 'C'
                    raise TraceError("%s: corrupt: unknown chunk type 0x%02x at offset %d"
                                     % (self.path, tag, i - 1))
                thread, i = _get_varint(data, i, n)
                raw_len, i = _get_varint(data, i, n)
                comp_len, i = _get_varint(data, i, n)
                if i + 4 > n:
                    raise IndexError
            except IndexError:
                cut = True
                break
            if raw_len > _MAX_RAW:
                raise TraceError("%s: corrupt: a chunk of %d bytes" % (self.path, raw_len))
            crc = struct.unpack_from("<I", data, i)[0]
            i += 4
            c = _Chunk(i, raw_len, min(comp_len, n - i), crc, i + comp_len > n)
            cut = cut or c.cut
            per_thread.setdefault(thread, []).append(c)
            i += comp_len
        return per_thread, cut

    def _records(self, thread: int, chunks: List[_Chunk]) -> Iterator[Tuple[int, int, Tuple[Any, ...]]]:
        """(key, phase, record) of one thread, in order; a realloc twice (phase
        1 at its first seq, 2 at its second)."""
        data = self._data
        for c in chunks:
            comp = data[c.offset:c.offset + c.comp_len]
            if c.cut:
                try:
                    raw = zlib.decompressobj().decompress(comp)
                except zlib.error:
                    raise TraceError("%s: corrupt: the last chunk does not inflate"
                                     % self.path) from None
            else:
                try:
                    raw = zlib.decompress(comp)
                except zlib.error:
                    raise TraceError("%s: corrupt: chunk at offset %d does not inflate"
                                     % (self.path, c.offset)) from None
                if len(raw) != c.raw_len or zlib.crc32(raw) != c.crc:
                    raise TraceError("%s: corrupt: chunk at offset %d fails its checksum"
                                     % (self.path, c.offset))
            end = len(raw)
            try:
                seq, i = _get_varint(raw, 0, end)
                t, i = _get_varint(raw, i, end)
            except IndexError:
                if c.cut:
                    return
                raise TraceError("%s: corrupt: a chunk without its base" % self.path) from None
            prev_ptr = 0
            while i < end:
                start = i
                op = raw[i]
                i += 1
                fields = _FIELDS.get(op)
                if fields is None:
                    raise TraceError("%s: corrupt: bad record (op %d) in thread %d"
                                     % (self.path, op, thread))
                rec: Dict[str, Any] = {}
                try:
                    dseq, i = _get_varint(raw, i, end)
                    dt, i = _get_varint(raw, i, end)
                    for f in fields:
                        v, i = _get_varint(raw, i, end)
                        if f in ("ptr", "res"):
                            prev_ptr = (prev_ptr + ((v >> 1) ^ -(v & 1))) & 0xFFFFFFFFFFFFFFFF
                            v = prev_ptr
                        elif f == "bytes":
                            if i + v > end:
                                raise IndexError
                            rec[f] = raw[i:i + v].decode("utf-8", "replace")
                            i += v
                            continue
                        rec[f] = v
                except IndexError:
                    if c.cut:
                        return  # the record the crash cut
                    raise TraceError("%s: corrupt: a record runs past its chunk (offset %d)"
                                     % (self.path, start)) from None
                seq += dseq
                t += dt
                seq2 = seq + rec["dseq2"] if "dseq2" in rec else seq
                r = (op, seq, seq2, t, thread, rec)
                if "dseq2" in rec:
                    yield seq, 1, r
                    yield seq2, 2, r
                else:
                    yield seq, 0, r
                seq = seq2

    def iter_calls(self, events: bool = False) -> Iterator[Call]:
        """Every call in seq order (a realloc at its second seq), pointers
        resolved to block ids; with events=True also thread starts, forks and
        execs. Decoded in Python: about a million calls a few seconds."""
        per_thread, _ = self._chunks()
        streams = [self._records(th, chunks) for th, chunks in sorted(per_thread.items())]
        live: Dict[int, int] = {}  # address -> id
        held: Dict[int, Optional[int]] = {}  # thread -> id of a realloc's old block
        for _, phase, (op, seq, seq2, t, thread, rec) in heapq.merge(
                *streams, key=lambda x: (x[0], x[2][4])):
            name = _OPS[op]
            if op >= 32:
                if events:
                    yield Call(seq, thread, t, name, value=rec.get("num", rec.get("bytes")))
                continue
            ptr = rec.get("ptr")
            res = rec.get("res")
            size = rec.get("size", 0)
            nmemb = rec.get("nmemb", 0)
            if "nmemb" in rec:
                size = nmemb * size
            if phase == 1:
                held[thread] = None if not ptr else live.pop(ptr, UNKNOWN)
                continue
            if phase == 2:
                pid = held.pop(thread, None)
                if res == 0 and size != 0:  # failed: the old block lives on
                    if pid is not None and pid != UNKNOWN:
                        live[ptr] = pid
                    yield Call(seq, thread, t, name, size, nmemb, rec.get("align", 0),
                               rec.get("old", 0), pid, None)
                    continue
                rid = None
                if res:
                    live[res] = seq2
                    rid = seq2
                yield Call(seq, thread, t, name, size, nmemb, rec.get("align", 0),
                           rec.get("old", 0), pid, rid)
                continue
            if "ptr" in rec:
                pid = None if not ptr else live.pop(ptr, UNKNOWN)
                yield Call(seq, thread, t, name, size, nmemb, rec.get("align", 0), 0, pid, None)
                continue
            rid = None
            if res:
                live[res] = seq
                rid = seq
            yield Call(seq, thread, t, name, size, nmemb, rec.get("align", 0), 0, None, rid,
                       rec.get("ret"))

    __iter__ = iter_calls

    def plot(self, path: str) -> str:
        """A picture of live bytes (and blocks) over time, written to path."""
        try:
            import matplotlib
        except ImportError:
            raise ImportError("Recording.plot() needs matplotlib: pip install 'hakmem[plot]'")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        tl = self.summary["timeline"]
        xs = [t / 1e9 for t in tl["time_ns"]]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.plot(xs, [b / 2**20 for b in tl["live_bytes"]], color="tab:blue", label="live MiB")
        ax.set_xlabel("seconds since the process started")
        ax.set_ylabel("live MiB (requested)")
        ax2 = ax.twinx()
        ax2.plot(xs, tl["live_blocks"], color="tab:orange", linewidth=0.8, label="live blocks")
        ax2.set_ylabel("live blocks")
        name = os.path.basename(self.argv[0]) if self.argv else os.path.basename(self.path)
        ax.set_title("%s: %d calls, peak %.1f MiB in %d blocks" % (
            name, self.calls, self.peak_live_bytes / 2**20, self.peak_live_blocks))
        fig.legend(loc="upper left", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def __repr__(self) -> str:
        return "<hakmem.trace.Recording %s pid %d>" % (self.path, self.pid)


def _run_info(path: str) -> Dict[str, Any]:
    exe = replayer_path()
    if not os.access(exe, os.X_OK):
        raise RuntimeError("%s is missing: reinstall the package" % exe)
    p = subprocess.run([exe, "info", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=_allocators.preload_env(None))
    if p.returncode == 2:
        raise TraceError(p.stderr.strip().replace("hakmem-replay: ", "", 1))
    if p.returncode != 0:
        raise RuntimeError("hakmem-replay info %s ended with status %d: %s"
                           % (path, p.returncode, p.stderr.strip()))
    summary: Dict[str, Any] = json.loads(p.stdout)
    return summary


def load(path: str) -> Recording:
    """Opens a trace file; raises TraceError when it is not a readable trace."""
    r = Recording(path)
    r.summary  # reads it all once: a damaged file is refused here, not later
    return r


# ---- recording ----------------------------------------------------------------------


@dataclass
class Recorded:
    """What record() did: the program's exit status and the traces it left."""

    returncode: int
    path: str                       # the first process's trace
    traces: List[Recording] = field(default_factory=list)  # every process's, path first

    @property
    def main(self) -> Optional[Recording]:
        return next((t for t in self.traces if t.path == self.path), None)

    @property
    def calls(self) -> int:
        return sum(t.calls for t in self.traces)

    def unrecorded_execs(self) -> List[Tuple[int, str]]:
        """(pid, path) of each exec after which no trace of that pid began: the
        program cleared LD_PRELOAD, was static or setuid. (An exec that failed
        has calls after it in the same trace and is not listed.)"""
        out = []
        for t in self.traces:
            for ev in t.events:
                if ev["type"] != "exec" or t.summary["last_seq"] > ev["seq"]:
                    continue
                later = [u for u in self.traces if u.pid == t.pid and u is not t and
                         u.header.get("start_realtime_ns", 0) >= t.header.get(
                             "start_realtime_ns", 0)]
                if not later:
                    out.append((t.pid, ev["path"]))
        return out


def trace_files(path: str) -> List[str]:
    """The files of a recording: path, then path.<pid> and path.<pid>.<n> by
    pid, those that are traces."""
    path = os.path.abspath(path)
    d, base = os.path.split(path)
    pat = re.compile(re.escape(base) + r"\.(\d+)(?:\.(\d+))?$")
    others = []
    try:
        names = os.listdir(d or ".")
    except OSError:
        names = []
    for n in names:
        m = pat.match(n)
        if m:
            others.append((int(m.group(1)), int(m.group(2) or 0), os.path.join(d, n)))
    files = ([path] if os.path.exists(path) else []) + [p for _, _, p in sorted(others)]
    return [f for f in files if _is_trace_file(f)]


def _is_trace_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def record(argv: Sequence[str], path: str, *, allocator: str = "system",
           keep_pymalloc: bool = False, env: Optional[Dict[str, str]] = None,
           cwd: Optional[str] = None, timeout: Optional[float] = None,
           stdout: Any = None, stderr: Any = None) -> Recorded:
    """Runs argv with the recorder preloaded; the traces go to path (first
    process) and path.<pid> (the others). The trace files of an earlier
    recording of the same name are removed first (files that are not traces
    are left alone, and a non-trace file at path itself makes the first process
    write path.<pid>).

    allocator: "system" (glibc) or "hakmem" (the package's libhakmem.so,
    preloaded after the recorder, serves every call). keep_pymalloc: leave
    PYTHONMALLOC alone (by default a Python child gets PYTHONMALLOC=malloc, so
    its objects come from malloc too). Raises FileNotFoundError when argv[0]
    cannot be run, ValueError for a bad allocator.
    """
    if not argv:
        raise ValueError("record: no command")
    if allocator not in ("system", "hakmem"):
        raise ValueError("record: allocator must be 'system' or 'hakmem', not %r "
                         "(others may not define glibc's __libc_malloc, which the recorder "
                         "calls)" % (allocator,))
    rec = recorder_path()
    if not os.path.isfile(rec):
        raise RuntimeError("%s is missing: reinstall the package" % rec)
    path = os.path.abspath(path)
    for old in trace_files(path):  # trace files only: never a file that shares the name
        os.unlink(old)
    e = dict(os.environ if env is None else env)
    preload = [rec]
    if allocator == "hakmem":
        # The malloc replacement (library_path() is the hak_* API library).
        from . import preload_library_path

        preload.append(preload_library_path())
    if e.get("LD_PRELOAD"):
        preload.append(e["LD_PRELOAD"])
    e["LD_PRELOAD"] = " ".join(preload)
    e["HAKMEM_TRACE_FILE"] = path
    e["HAKMEM_TRACE_ALLOCATOR"] = allocator
    if not keep_pymalloc:
        e.setdefault("PYTHONMALLOC", "malloc")
    p = subprocess.run(list(argv), env=e, cwd=cwd, timeout=timeout, stdout=stdout, stderr=stderr)
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return Recorded(rc, path, [Recording(f) for f in trace_files(path)])


# ---- writing -------------------------------------------------------------------------


class TraceWriter:
    """Writes the trace format from Python (one process; threads numbered by
    the caller). Pointers are any non-zero integers naming blocks: give each
    block a distinct one while it is live.

        with TraceWriter("t.trace") as w:
            w.call("malloc", size=64, res=0x1000)
            w.call("free", ptr=0x1000, thread=1)
    """

    CHUNK_RECORDS = 4096

    def __init__(self, path: str, argv: Sequence[str] = ("hakmem.trace.TraceWriter",)):
        self.path = path
        self._f = open(path, "wb")
        body = bytearray()
        for key, value in ((1, 0), (2, 0), (5, "\0".join(argv) + "\0"), (7, "written"),
                           (9, "python")):
            raw = bytearray()
            if isinstance(value, int):
                _put_varint(raw, value)
            else:
                raw += value.encode()
            _put_varint(body, key)
            _put_varint(body, len(raw))
            body += raw
        self._f.write(MAGIC + struct.pack("<II", FORMAT_VERSION, len(body)) + body)
        self._seq = 0
        self._time = 0
        self._bufs: Dict[int, List[Any]] = {}  # thread -> [raw, count, prev_seq, prev_time, prev_ptr]
        self._threads: Set[int] = set()

    def _buf(self, thread: int) -> List[Any]:
        b = self._bufs.get(thread)
        if b is None:
            raw = bytearray()
            _put_varint(raw, self._seq)
            _put_varint(raw, self._time)
            b = self._bufs[thread] = [raw, 0, self._seq, self._time, 0]
        return b

    def _flush(self, thread: int) -> None:
        b = self._bufs.pop(thread, None)
        if b is None or b[1] == 0:
            return
        raw = bytes(b[0])
        comp = zlib.compress(raw, 6)
        head = bytearray(b"C")
        _put_varint(head, thread)
        _put_varint(head, len(raw))
        _put_varint(head, len(comp))
        head += struct.pack("<I", zlib.crc32(raw))
        self._f.write(bytes(head) + comp)

    def call(self, function: str, *, thread: int = 0, size: int = 0, nmemb: int = 0,
             align: int = 0, old_size: int = 0, ptr: int = 0, res: int = 0, ret: int = 0,
             time_ns: Optional[int] = None) -> int:
        """Appends one call; returns its seq. ``size`` is the size argument
        as the function takes it (calloc: per element, with nmemb)."""
        op = _OP_NUMBERS.get(function)
        if op is None or op >= 32:
            raise ValueError("unknown function %r" % (function,))
        fields = _FIELDS[op]
        if thread not in self._threads:
            self._threads.add(thread)
        b = self._buf(thread)
        raw = b[0]
        self._time = max(self._time, b[3]) if time_ns is None else time_ns
        seq = self._seq
        self._seq += 2 if "dseq2" in fields else 1
        raw.append(op)
        _put_varint(raw, seq - b[2])
        _put_varint(raw, max(0, self._time - b[3]))
        values = {"size": size, "nmemb": nmemb, "align": align, "old": old_size, "ret": ret,
                  "dseq2": 1}
        for f in fields:
            if f in ("ptr", "res"):
                v = ptr if f == "ptr" else res
                _put_varint(raw, _zigzag(v - b[4]))
                b[4] = v
            else:
                _put_varint(raw, values[f])
        b[1] += 1
        b[2] = seq + (1 if "dseq2" in fields else 0)
        b[3] = self._time
        self._time += 100
        if b[1] >= self.CHUNK_RECORDS:
            self._flush(thread)
        return seq

    def close(self) -> None:
        if self._f.closed:
            return
        for th in sorted(self._bufs):
            self._flush(th)
        body = bytearray()
        for key, value in ((2, len(self._threads)), (3, 0)):
            raw = bytearray()
            _put_varint(raw, value)
            _put_varint(body, key)
            _put_varint(body, len(raw))
            body += raw
        head = bytearray(b"E")
        _put_varint(head, len(body))
        self._f.write(bytes(head) + bytes(body))
        self._f.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def save(trace: Any, path: str) -> str:
    """Writes a hakmem.stress.Trace (or an iterable of its op tuples, see
    stress.Trace.from_ops) in the recording format, one thread, each block
    at an address of its own, so it replays like a recording."""
    from . import stress

    if not isinstance(trace, stress.Trace):
        trace = stress.Trace.from_ops(trace)
    live: Dict[int, int] = {}
    nxt = 0x10000

    def fresh() -> int:
        nonlocal nxt
        nxt += 0x40
        return nxt

    with TraceWriter(path, argv=("hakmem.stress.Trace",)) as w:
        for kind, slot, size, align in trace.ops():
            if kind == "free":
                w.call("free", ptr=live.pop(slot))
            elif kind == "realloc":
                new = fresh()
                w.call("realloc", ptr=live.pop(slot), size=size, res=new)
                live[slot] = new
            else:
                live[slot] = fresh()
                if kind == "alloc":
                    w.call("malloc", size=size, res=live[slot])
                elif kind == "calloc":
                    w.call("calloc", nmemb=1, size=size, res=live[slot])
                else:
                    w.call("aligned_alloc", align=align, size=size, res=live[slot])
    return path


def _convert_if_stress(path: str, tmpdir: str) -> str:
    """A HAKTRACE file (stress.Trace.save) converted into a recording in tmpdir."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head != b"HAKTRACE":
        return path
    from . import stress

    out = os.path.join(tmpdir, os.path.basename(path) + ".trace")
    return save(stress.Trace.load(path), out)


# ---- replaying ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRun(bench.Run):
    """A :class:`hakmem.bench.Run` of one replay, with the replay's own figures.

    As a Run: ``value`` and ``ops_per_s`` are replayed calls per wall second
    (nan when the replay took no measurable time), ``wall_s`` and ``cpu_s``
    the replay's own time, ``peak_rss_kb`` the replayer's peak RSS,
    ``warnings`` the verification errors and failed allocations (so
    :attr:`errors` counts them and :attr:`ok` is False), ``fields`` every
    key=value the replayer printed (and ``first_error``).
    """

    calls: int = 0                #: calls replayed
    base_rss_kb: int = 0          #: the replayer's own memory, before the replay
    peak_live_bytes: int = 0      #: from the trace: the most bytes the program had live
    verification_errors: int = 0  #: blocks whose stamp was wrong when checked
    alloc_failures: int = 0       #: allocations that returned NULL
    skipped_unknown: int = 0      #: releases of pointers the trace never produced

    @property
    def seconds(self) -> float:
        """Wall seconds of the replay (``wall_s``)."""
        return self.wall_s

    @property
    def calls_per_s(self) -> float:
        """Replayed calls per wall second (``value`` with the wall metric)."""
        return self.ops_per_s

    @property
    def replay_rss_kb(self) -> int:
        """Peak RSS during the replay less the replayer's own."""
        return max(0, self.peak_rss_kb - self.base_rss_kb)

    @property
    def rss_per_live(self) -> float:
        """Replay RSS over the trace's peak live bytes (1.0: no overhead)."""
        return self.replay_rss_kb * 1024.0 / self.peak_live_bytes if self.peak_live_bytes \
            else float("nan")

    def to_dict(self) -> Dict[str, Any]:
        """The run as plain data (JSON): the Run's keys and the replay's figures."""
        d = super().to_dict()
        d.update(calls=self.calls, base_rss_kb=self.base_rss_kb,
                 peak_live_bytes=self.peak_live_bytes,
                 verification_errors=self.verification_errors,
                 alloc_failures=self.alloc_failures, skipped_unknown=self.skipped_unknown,
                 replay_rss_kb=self.replay_rss_kb, rss_per_live=self.rss_per_live)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ReplayRun":
        """The inverse of :meth:`to_dict`."""
        base = bench.Run.from_dict(d)
        return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(bench.Run)},
                   calls=int(d.get("calls", 0)), base_rss_kb=int(d.get("base_rss_kb", 0)),
                   peak_live_bytes=int(d.get("peak_live_bytes", 0)),
                   verification_errors=int(d.get("verification_errors", 0)),
                   alloc_failures=int(d.get("alloc_failures", 0)),
                   skipped_unknown=int(d.get("skipped_unknown", 0)))


class ReplayResults(bench.Results):
    """The result of :func:`replay`: a :class:`hakmem.bench.Results` (what
    :func:`hakmem.bench.compare` returns: medians, spreads, :meth:`ratio` to
    the baseline, :meth:`write_csv`, :meth:`write_json`, ...) whose runs are
    :class:`ReplayRun`, one workload per trace. Adds the ratio to the fastest
    contender (:meth:`ratio_to_best`), one row of replay figures per trace and
    allocator (:meth:`replay_rows`, :meth:`to_csv`), and a report and chart of
    its own: speed and memory per live byte."""

    def __init__(self, workloads: Sequence[bench.Workload],
                 allocators: Mapping[str, Optional[str]], runs: Sequence[ReplayRun],
                 notes: Sequence[str], meta: Mapping[str, Any],
                 baseline: str = "system") -> None:
        super().__init__(workloads, allocators, runs, notes, meta, baseline=baseline)

    def _replay_runs(self, workload: str, allocator: str) -> List[ReplayRun]:
        return [r for r in self.runs if isinstance(r, ReplayRun) and r.workload == workload
                and r.allocator == allocator]

    def best(self, workload: str) -> Tuple[Optional[str], float]:
        """(name, median calls/s) of the fastest contender on a trace, the
        baseline and hakmem included; (None, nan) when no run has a figure."""
        best: Tuple[Optional[str], float] = (None, float("nan"))
        for a in self.allocators:
            m = self.median(workload, a)
            if m > 0 and not (best[1] >= m):
                best = (a, m)
        return best

    def ratio_to_best(self, workload: str, allocator: str) -> float:
        """Median over the fastest contender's (1.0: the fastest)."""
        _, best = self.best(workload)
        m = self.median(workload, allocator)
        return m / best if best > 0 and m >= 0 else float("nan")

    def rounds(self) -> int:
        """The rounds run."""
        return max((r.round for r in self.runs), default=0)

    def header_lines(self) -> List[str]:
        """The bench report's header (date, machine, every library), its
        rounds and RSS lines said of replays."""
        out = []
        for line in super().header_lines():
            if line.startswith("- rounds: "):
                line = "- rounds: %d, interleaved; speed: replayed calls per wall second" \
                    % self.rounds()
            elif line.startswith("- peak RSS: "):
                line = "- peak RSS: the replayer's VmHWM; replay RSS: that less the " \
                    "replayer's own before the replay"
            out.append(line)
        return out

    def replay_rows(self) -> List[Dict[str, Any]]:
        """One dict per (trace, allocator): calls, seconds (median, min, max),
        calls/s, ratios to the baseline and to the best, peak and replay RSS,
        peak live bytes, RSS / live, errors, failed allocations, skipped
        unknown releases."""
        out = []
        for w in self.workloads:
            for a in self.allocators:
                runs = self._replay_runs(w.name, a)
                if not runs:
                    continue
                secs = [r.wall_s for r in runs]
                rss = float(statistics.median([r.replay_rss_kb for r in runs]))
                live = runs[0].peak_live_bytes
                out.append({
                    "trace": w.name, "allocator": a, "runs": len(runs),
                    "calls": runs[0].calls,
                    "seconds": float(statistics.median(secs)), "seconds_min": min(secs),
                    "seconds_max": max(secs),
                    "calls_per_s": self.median(w.name, a),
                    "vs_baseline": self.ratio(w.name, a) if self.baseline in self.allocators
                    else float("nan"),
                    "vs_best": self.ratio_to_best(w.name, a),
                    "peak_rss_kb": float(statistics.median([r.peak_rss_kb for r in runs])),
                    "replay_rss_kb": rss,
                    "peak_live_bytes": live,
                    "rss_per_live": rss * 1024.0 / live if live else float("nan"),
                    "errors": sum(r.verification_errors for r in runs),
                    "alloc_failures": sum(r.alloc_failures for r in runs),
                    "skipped_unknown": runs[0].skipped_unknown,
                })
        return out

    def to_markdown(self, header: bool = True) -> str:
        """The report: (with header) date, machine and every library, then a
        row per trace and allocator: time, calls/s, ratios to the baseline
        and to the best, replay RSS and RSS / live bytes, errors; notes."""
        lines: List[str] = []
        if header:
            lines += ["# hakmem trace replays", ""] + self.header_lines() + [""]
        lines += ["| trace | allocator | time (median [min-max]) | calls/s | vs %s | vs best | "
                  "replay RSS | RSS / live | errors |" % self.baseline,
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        rows = self.replay_rows()
        for r in rows:
            bad = r["errors"] + r["alloc_failures"]
            lines.append("| %s | %s | %.3f s [%.3f-%.3f] | %s | %s | %s | %.1f MiB | %s | %s |" % (
                r["trace"], r["allocator"], r["seconds"], r["seconds_min"], r["seconds_max"],
                _fmt_rate(r["calls_per_s"]), _fmt_ratio(r["vs_baseline"], "x"),
                _fmt_ratio(r["vs_best"]), r["replay_rss_kb"] / 1024.0,
                _fmt_ratio(r["rss_per_live"]), "**%d**" % bad if bad else "0"))
        lines.append("")
        seen = set()
        for r in rows:
            if r["trace"] in seen:
                continue
            seen.add(r["trace"])
            lines.append("%s: %d calls, peak %.1f MiB live%s." % (
                r["trace"], r["calls"], r["peak_live_bytes"] / 2**20,
                ", %d releases of unknown pointers skipped" % r["skipped_unknown"]
                if r["skipped_unknown"] else ""))
        if not header:
            lines += ["", "Libraries:"]
            for a, p in self.allocators.items():
                version = next((r.version for r in self.runs if r.allocator == a), "?")
                lines.append("- %s: %s (%s)" % (a, p or "no preload", version))
        rounds = self.rounds()
        lines += ["", "Medians of %d interleaved round%s. calls/s: replayed calls per second "
                  "of the replay's wall time; vs %s > 1 is faster; vs best: the fastest is 1.00. "
                  "replay RSS: peak RSS less the replayer's own; RSS / live: that over the "
                  "trace's peak live bytes (1.00: no overhead). errors: verification errors and "
                  "failed allocations." % (rounds, "" if rounds == 1 else "s", self.baseline)]
        for n in self.notes:
            lines.append("Note: " + n)
        return "\n".join(lines) + "\n"

    __str__ = to_markdown

    def to_csv(self) -> str:
        """:meth:`replay_rows` as CSV text (a header line, a row each)."""
        rows = self.replay_rows()
        keys = list(rows[0]) if rows else []
        out = [",".join(keys)]
        for r in rows:
            out.append(",".join(_csv_cell(r[k]) for k in keys))
        return "\n".join(out) + "\n"

    def to_dict(self) -> Dict[str, Any]:
        """Everything as plain data (see :meth:`hakmem.bench.Results.to_dict`),
        with the replay rows."""
        d = super().to_dict()
        d["replay_rows"] = self.replay_rows()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ReplayResults":
        """The inverse of :meth:`to_dict` (a JSON written by ``replay --json``
        and read back with ``json.load``)."""
        runs = [_nan_figures(r) for r in d["runs"]]
        base = bench.Results.from_dict(dict(d, runs=runs))
        return cls(base.workloads, base.allocators, [ReplayRun.from_dict(r) for r in runs],
                   base.notes,
                   base.meta, baseline=base.baseline)

    def plot(self, path: str) -> str:
        """Two panels per trace: speed against the baseline and RSS / live
        bytes; returns path. ImportError without matplotlib."""
        try:
            import matplotlib
        except ImportError:
            raise ImportError("ReplayResults.plot() needs matplotlib. "
                              + _harness.MATPLOTLIB_HINT) from None
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.replay_rows()
        traces = [w.name for w in self.workloads]
        allocs = list(self.allocators)
        width = 0.8 / max(1, len(allocs))
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(traces) + 5), 4))
        for i, a in enumerate(allocs):
            xs = [k + (i - (len(allocs) - 1) / 2) * width for k in range(len(traces))]
            sp = [next((r["vs_baseline"] for r in rows if r["trace"] == t and r["allocator"] == a),
                       0) for t in traces]
            fr = [next((r["rss_per_live"] for r in rows if r["trace"] == t and r["allocator"] == a),
                       0) for t in traces]
            ax1.bar(xs, [v if v == v else 0 for v in sp], width, label=a)
            ax2.bar(xs, [v if v == v else 0 for v in fr], width, label=a)
        for ax in (ax1, ax2):
            ax.set_xticks(range(len(traces)))
            ax.set_xticklabels(traces, rotation=15, ha="right")
            ax.axhline(1.0, color="black", linewidth=0.8)
        ax1.set_ylabel("speed vs %s (higher is better)" % self.baseline)
        ax2.set_ylabel("replay RSS / peak live bytes (lower is better)")
        ax1.set_title("replayed calls/s, medians of %d" % self.rounds())
        ax2.set_title("memory per live byte")
        ax1.legend(fontsize="small")
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=100)
        finally:
            plt.close(fig)
        return path


#: The former name of :class:`ReplayResults`.
ReplayComparison = ReplayResults


def _nan_figures(run: Mapping[str, Any]) -> Dict[str, Any]:
    """A run read from JSON: the figures written as null (nan) back to nan."""
    d = dict(run)
    for k in ("value", "ops_per_s", "cpu_s", "wall_s"):
        if d.get(k) is None:
            d[k] = float("nan")
    return d


def _fmt_rate(v: float) -> str:
    if math.isnan(v):
        return "-"
    return "%.2fM" % (v / 1e6) if v >= 1e5 else "%.0f" % v


def _fmt_ratio(v: float, suffix: str = "") -> str:
    return "-" if math.isnan(v) else "%.2f%s" % (v, suffix)


def _csv_cell(v: Any) -> str:
    if isinstance(v, float):
        return "%.6g" % v
    s = str(v)
    return '"%s"' % s.replace('"', '""') if ("," in s or '"' in s) else s


def _parse_replay_line(stdout: str) -> Dict[str, str]:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("hakmem-replay ")), None)
    if line is None:
        raise RuntimeError("hakmem-replay printed no result line: %r" % stdout[-500:])
    head, sep, path = line.partition(" allocator=")
    fields = dict(w.split("=", 1) for w in head.split()[1:] if "=" in w)
    fields["allocator"] = path.strip()
    return fields


def replay_once(path: str, allocator: str = "system", *, fill: str = "sparse",
                timeout: Optional[float] = 600) -> Dict[str, str]:
    """One replay of a recording under one allocator: the replayer's fields."""
    name, lib = _allocators.resolve(allocator)
    exe = replayer_path()
    if not os.access(exe, os.X_OK):
        raise RuntimeError("%s is missing: reinstall the package" % exe)
    p = subprocess.run([exe, "replay", "--fill", fill, path], env=_allocators.preload_env(lib),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    if p.returncode == 2:
        raise TraceError(p.stderr.strip().replace("hakmem-replay: ", "", 1))
    if p.returncode not in (0, 1):
        raise RuntimeError("hakmem-replay %s under %s ended with status %d: %s"
                           % (path, name, p.returncode, p.stderr.strip()[-2000:]))
    f = _parse_replay_line(p.stdout)
    if not _allocators.is_expected(lib, f["allocator"]):
        raise _harness.WrongAllocator("asked for %s (%s) but the replay's malloc came from %s"
                                      % (name, lib or "no preload", f["allocator"]))
    marker = "hakmem-replay: first error: "
    f["first_error"] = next((ln[len(marker):] for ln in p.stderr.splitlines()
                             if ln.startswith(marker)), "")
    return f


def replay(paths: Union[str, Sequence[str]], allocators: Sequence[str] = DEFAULT_ALLOCATORS,
           repeat: int = 3, *, fill: str = "sparse", baseline: str = "system",
           progress: Optional[_harness.ProgressFn] = None,
           timeout: Optional[float] = 600) -> ReplayResults:
    """Replays each trace under each installed allocator, ``repeat`` rounds,
    interleaved as :func:`hakmem.bench.compare` does (the first allocator
    rotating every round); returns a :class:`ReplayResults`, the
    :class:`hakmem.bench.Results` that compare returns (value: replayed calls
    per second), whose runs are :class:`ReplayRun`. A hakmem.stress.Trace
    file (HAKTRACE) is converted first. fill: "sparse" stamps each block's
    ends and one word per 4 KiB, "full" every byte. progress: called as
    ``progress(done, total, trace, allocator)`` before each run and once at
    the end. Raises TraceError for a file that is not a readable trace,
    ValueError for a bad argument, RuntimeError when no allocator is left,
    :class:`hakmem.bench.WrongAllocator` when a replay's malloc came from
    another library than the one preloaded."""
    if isinstance(paths, str):
        paths = [paths]
    if isinstance(allocators, str):
        allocators = [a for a in allocators.split(",") if a]
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError("repeat must be a positive int, got %r" % (repeat,))
    if fill not in ("sparse", "full"):
        raise ValueError("fill must be 'sparse' or 'full', got %r" % (fill,))
    with tempfile.TemporaryDirectory(prefix="hakmem-replay-") as tmp:
        files = []
        for p in paths:
            try:
                files.append(_convert_if_stress(p, tmp))
            except OSError as e:
                raise TraceError("%s: %s" % (p, e.strerror)) from None
        for f in files:
            Recording(f)  # the header: a clear error before any run
        found, notes = _allocators.discover(allocators)
        if not found:
            raise RuntimeError("no allocator to replay under: " + "; ".join(notes))
        if baseline not in found:
            notes.append("baseline %s was not run: no ratios" % baseline)
        names = list(found)
        used: Dict[str, str] = {}
        workloads: List[bench.Workload] = []
        for p, f in zip(paths, files):
            base = os.path.basename(p)
            name, k = base, 2
            while name in used:
                name, k = "%s#%d" % (base, k), k + 1
            used[name] = f
            # The command a replay runs (under each allocator in turn).
            args = ("replay", "--fill", fill, os.path.abspath(p))
            about = "trace %s" % os.path.abspath(p)
            if f != p:
                about += " (a hakmem.stress.Trace, converted)"
            workloads.append(bench.Workload(name=name, program=replayer_path(), args=args,
                                            quick=args, smoke=args, about=about))
        meta: Dict[str, Any] = {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": _harness.machine(), "rounds": repeat, "length": "full",
            "metric": "wall", "fill": fill, "contenders": {}, "baseline": baseline,
            "origin": "replayer: %s (--fill %s)" % (replayer_path(), fill)}
        runs: List[ReplayRun] = []
        total, done = repeat * len(workloads) * len(names), 0
        for rnd in range(1, repeat + 1):
            for w in workloads:
                k = (rnd - 1) % len(names)
                for a in names[k:] + names[:k]:
                    if progress is not None:
                        progress(done, total, w.name, a)
                    lib = found[a]
                    spec = a if lib is None or a in ("system", "hakmem") or \
                        a in _allocators.PEERS else "%s=%s" % (a, lib)
                    r = replay_once(used[w.name], spec, fill=fill, timeout=timeout)
                    runs.append(_replay_run(w.name, a, rnd, r))
                    meta["contenders"].setdefault(a, {"path": r["allocator"],
                                                      "version": r.get("allocator_version",
                                                                       "unknown")})
                    if r["first_error"] and not any(n.startswith("%s under %s" % (w.name, a))
                                                    for n in notes):
                        notes.append("%s under %s: first error: %s" % (w.name, a,
                                                                       r["first_error"]))
                    done += 1
        if progress is not None:
            progress(done, total, "", "")
    return ReplayResults(workloads, found, runs, notes, meta, baseline=baseline)


def _replay_run(workload: str, allocator: str, round_: int, r: Mapping[str, str]) -> ReplayRun:
    """The ReplayRun of one replay's fields (from :func:`replay_once`)."""
    secs = float(r["seconds"])
    calls = int(r["calls"])
    errs, fails = int(r["errors"]), int(r["alloc_failures"])
    rate = calls / secs if secs > 0 else float("nan")
    warnings = tuple("%s=%d" % (k, n) for k, n in (("errors", errs), ("alloc_failures", fails))
                     if n)
    return ReplayRun(
        workload=workload, allocator=allocator, round=round_, value=rate, ops_per_s=rate,
        cpu_s=float(r["cpu_seconds"]), wall_s=secs, peak_rss_kb=int(r["peak_rss_kb"]),
        library=r["allocator"], version=r.get("allocator_version", "unknown"), failed=None,
        warnings=warnings, fields=dict(r), calls=calls, base_rss_kb=int(r["base_rss_kb"]),
        peak_live_bytes=int(r["peak_live_bytes"]), verification_errors=errs,
        alloc_failures=fails, skipped_unknown=int(r["skipped_unknown"]))


__all__ = ["Call", "DEFAULT_ALLOCATORS", "FORMAT_VERSION", "Recorded", "Recording",
           "ReplayComparison", "ReplayResults", "ReplayRun", "TraceError", "TraceWriter",
           "UNKNOWN", "load", "record", "recorder_path", "replay", "replay_once",
           "replayer_path", "save", "trace_files"]
