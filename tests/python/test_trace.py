"""hakmem.trace and `python -m hakmem record / trace-info / replay`.

Real programs are recorded (a C program with threads and fork, a Python
program, an empty program, programs that die by a signal or exec), their
traces checked against what the programs say they did, read by both readers
(hakmem-replay in C, Recording.iter_calls in Python, which must agree), and
replayed under the system allocator and hakmem with every block checked.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import clean_env
from hakmem import bench, stress, trace

CC = shutil.which("cc") or shutil.which("gcc")

# A program whose worker threads call only the malloc family (so their calls,
# per thread, are exactly what they count), hand blocks to each other, and
# fork a child that frees 10 of its parent's blocks and makes its own.
C_PROGRAM = r"""
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MALLOC, CALLOC, REALLOC, FREE, ALIGNED, NF };
static const char *names[NF] = {"malloc", "calloc", "realloc", "free", "aligned_alloc"};
struct w { pthread_t id; long tid; int index; unsigned long n[NF]; };
static struct w ws[3];
static void *handoff[3][100];
static pthread_barrier_t barrier;

static void *work(void *arg)
{
    struct w *w = arg;
    w->tid = syscall(SYS_gettid);
    void *mine[200];
    for (int i = 0; i < 200; i++) {
        size_t n = 16 + (size_t)(i * 37 + w->index * 11) % 3000;
        if (i % 5 == 0) { mine[i] = calloc(2, n); w->n[CALLOC]++; }
        else if (i % 7 == 0) { mine[i] = aligned_alloc(64, n); w->n[ALIGNED]++; }
        else { mine[i] = malloc(n); w->n[MALLOC]++; }
        memset(mine[i], 1, 8);
    }
    for (int i = 0; i < 200; i += 3) { mine[i] = realloc(mine[i], 5000 + (size_t)i); w->n[REALLOC]++; }
    /* the first 100 go to the next thread, which frees them */
    for (int i = 0; i < 100; i++) handoff[(w->index + 1) % 3][i] = mine[i];
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 100; i++) { free(handoff[w->index][i]); w->n[FREE]++; }
    for (int i = 100; i < 200; i++) { free(mine[i]); w->n[FREE]++; }
    return NULL;
}

int main(void)
{
    pthread_barrier_init(&barrier, NULL, 3);
    for (int i = 0; i < 3; i++) { ws[i].index = i; pthread_create(&ws[i].id, NULL, work, &ws[i]); }
    for (int i = 0; i < 3; i++) pthread_join(ws[i].id, NULL);
    printf("{\"threads\": [");
    for (int i = 0; i < 3; i++) {
        printf("%s{\"tid\": %ld", i ? ", " : "", ws[i].tid);
        for (int k = 0; k < NF; k++) printf(", \"%s\": %lu", names[k], ws[i].n[k]);
        printf("}");
    }
    void *kept[10];
    for (int i = 0; i < 10; i++) kept[i] = malloc(100);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 10; i++) free(kept[i]);
        void *p[50];
        for (int i = 0; i < 50; i++) p[i] = malloc(24);
        for (int i = 0; i < 50; i++) free(p[i]);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("], \"child\": {\"pid\": %d, \"malloc\": 50, \"free\": 60, \"unknown\": 10}}\n", pid);
    for (int i = 0; i < 10; i++) free(kept[i]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_program(tmp_path_factory):
    if CC is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("prog")
    src = d / "prog.c"
    src.write_text(C_PROGRAM)
    exe = d / "prog"
    subprocess.run([CC, "-O1", "-pthread", "-o", str(exe), str(src)], check=True)
    return str(exe)


def record(argv, path, **kw):
    """trace.record with the child's stdout captured; returns (Recorded, stdout)."""
    kw.setdefault("env", clean_env())
    r = trace.record(argv, str(path), stdout=subprocess.PIPE, timeout=120, **kw)
    return r


def run_cli(*args, check_rc=None, env=None):
    p = subprocess.run([sys.executable, "-m", "hakmem"] + [str(a) for a in args],
                       env=clean_env() if env is None else env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stdout, p.stderr)
    return p


def by_tid(summary):
    return {t["tid"]: t for t in summary["threads"]}


@pytest.fixture(scope="module", params=["system", "hakmem"])
def recorded(request, c_program, tmp_path_factory):
    """The C program recorded with glibc, then with hakmem, behind the recorder."""
    d = tmp_path_factory.mktemp("rec-" + request.param)
    path = d / "prog.trace"
    env = clean_env()
    p = subprocess.run([sys.executable, "-m", "hakmem", "record", "-o", str(path),
                        "--allocator", request.param, "--", c_program], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr
    said = json.loads(p.stdout)
    return request.param, path, said, p.stderr


def test_record_counts_match_what_the_program_did(recorded):
    allocator, path, said, stderr = recorded
    assert "hakmem record: trace %s:" % path in stderr and "calls" in stderr
    t = trace.load(str(path))
    assert t.complete and not t.truncated
    assert t.malloc_library.endswith("libhakmem.so" if allocator == "hakmem" else "libc.so.6")
    threads = by_tid(t.summary)
    for w in said["threads"]:
        got = threads[w["tid"]]["calls_by_function"]
        for fn in ("malloc", "calloc", "realloc", "free", "aligned_alloc"):
            assert got.get(fn, 0) == w[fn], (allocator, w["tid"], fn)
        assert threads[w["tid"]]["calls"] == sum(w[k] for k in got)
    # 300 blocks went from one worker to the next
    assert t.summary["cross_thread_releases"] >= 300
    assert t.unknown_releases == 0
    assert any(e["type"] == "fork" and e["pid"] == said["child"]["pid"] for e in t.events)


def test_the_fork_child_has_its_own_trace(recorded):
    _, path, said, stderr = recorded
    child = said["child"]
    c = trace.load("%s.%d" % (path, child["pid"]))
    assert c.forked and c.pid == child["pid"]
    assert c.calls_by_function == {"malloc": child["malloc"], "free": child["free"]}
    assert c.unknown_releases == child["unknown"]  # the parent's blocks
    assert "pid %d (fork)" % child["pid"] in stderr
    files = trace.trace_files(str(path))
    assert files[0] == str(path) and "%s.%d" % (path, child["pid"]) in files


def test_c_and_python_readers_agree(recorded):
    _, path, _, _ = recorded
    t = trace.load(str(path))
    calls = list(t.iter_calls())
    counts = collections.Counter(c.function for c in calls)
    assert dict(counts) == t.calls_by_function
    # In seq order, a realloc at its second seq (the id of its new block).
    order = [c.result if c.function == "realloc" and c.result is not None else c.seq
             for c in calls]
    assert order == sorted(order) and len(set(c.seq for c in calls)) == len(calls)
    # Every free names a block that an earlier call produced, never freed twice.
    live = set()
    for c in calls:
        if c.ptr is not None:
            assert c.ptr in live, c
            live.discard(c.ptr)
        if c.result is not None:
            live.add(c.result)
    assert len(live) == t.summary["live_at_end_blocks"]


def test_replay_under_system_and_hakmem_without_errors(recorded):
    _, path, _, _ = recorded
    result = trace.replay(str(path), allocators=["system", "hakmem"], repeat=1)
    # The kind of result bench.compare returns, its runs bench Runs.
    assert isinstance(result, bench.Results) and isinstance(result, bench.Comparison)
    assert set(result.allocators) == {"system", "hakmem"}
    assert [w.name for w in result.workloads] == ["prog.trace"]
    assert len(result.runs) == 2
    for r in result.runs:
        assert isinstance(r, trace.ReplayRun) and isinstance(r, bench.Run)
        assert r.errors == 0 and r.verification_errors == 0 and r.alloc_failures == 0
        assert r.ok and r.round == 1 and r.failed is None
        assert r.calls == trace.load(str(path)).calls
        assert r.skipped_unknown == 0 and r.value > 0 and r.peak_rss_kb > 0
        assert r.value == pytest.approx(r.calls / r.wall_s) and r.calls_per_s == r.value
        assert ("hakmem" in os.path.basename(r.library)) == (r.allocator == "hakmem")
    # The bench figures: ratios to the baseline and to the best peer.
    assert result.ratio("prog.trace", "system") == pytest.approx(1.0)
    assert result.ratio("prog.trace", "hakmem") > 0
    assert result.median("prog.trace", "hakmem") == result.runs[
        [r.allocator for r in result.runs].index("hakmem")].value
    rows = result.replay_rows()
    assert {r["allocator"] for r in rows} == {"system", "hakmem"}
    assert max(r["vs_best"] for r in rows) == pytest.approx(1.0)
    hak = next(r for r in rows if r["allocator"] == "hakmem")
    assert hak["vs_baseline"] == pytest.approx(result.ratio("prog.trace", "hakmem"))
    md = result.to_markdown()
    assert "| prog.trace | system |" in md and "vs best" in md
    assert "- hakmem: " in md and "- machine: " in md  # the bench report's header
    assert "- rounds: 1, interleaved" in md and "full length" not in md
    # The bench report itself works on replays too.
    assert "| prog.trace | " in bench.Results.to_markdown(result)


def test_a_cut_trace_reads_to_its_last_whole_record(recorded, tmp_path):
    _, path, _, _ = recorded
    data = path.read_bytes()
    full = trace.load(str(path))
    cut = tmp_path / "cut.trace"
    # In the middle of the largest chunk's compressed data.
    chunks = [c for cs in full._chunks()[0].values() for c in cs]
    big = max(chunks, key=lambda c: c.comp_len)
    cut.write_bytes(data[:big.offset + big.comp_len // 2])
    t = trace.load(str(cut))
    assert t.truncated and not t.complete
    assert 0 < t.calls < full.calls
    assert sum(1 for _ in t.iter_calls()) == t.calls  # the Python reader stops there too
    r = trace.replay_once(str(cut), "hakmem")
    assert r["errors"] == "0" and r["truncated"] == "1"
    p = run_cli("trace-info", cut, check_rc=0)
    assert "truncated" in p.stdout


def test_a_damaged_trace_is_refused_cleanly(recorded, tmp_path):
    _, path, _, _ = recorded
    data = bytearray(path.read_bytes())
    bad = tmp_path / "bad.trace"
    # A byte inside the first chunk's compressed data.
    hlen = int.from_bytes(data[12:16], "little")
    data[16 + hlen + 40] ^= 0xFF
    bad.write_bytes(bytes(data))
    for args in (("trace-info", bad), ("replay", bad, "--allocators", "system")):
        p = run_cli(*args, check_rc=2)
        assert "corrupt" in p.stderr and "Traceback" not in p.stderr
    with pytest.raises(trace.TraceError):
        list(trace.Recording(str(bad)).iter_calls())
    # Not a trace at all, another version, nothing there.
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world, not a trace")
    other = tmp_path / "v9.trace"
    other.write_bytes(trace.MAGIC + (9).to_bytes(4, "little") + bytes(4))
    for f, word in ((junk, "not a hakmem trace"), (other, "version 9"),
                    (tmp_path / "missing", "No such file")):
        for cmd in ("trace-info", "replay"):
            p = run_cli(cmd, f, check_rc=2)
            assert word in p.stderr and "Traceback" not in p.stderr
    p = run_cli("replay", "/nonexistent", check_rc=2)
    assert "Traceback" not in p.stderr


def test_an_empty_program(tmp_path):
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / "empty.c"
    src.write_text("int main(void) { return 3; }\n")
    exe = tmp_path / "empty"
    subprocess.run([CC, "-o", str(exe), str(src)], check=True)
    r = record([str(exe)], tmp_path / "e.trace")
    assert r.returncode == 3
    t = trace.load(str(tmp_path / "e.trace"))
    assert t.complete and t.calls == 0 and t.peak_live_bytes == 0
    assert list(t.iter_calls()) == []
    res = trace.replay(str(tmp_path / "e.trace"), allocators=["system"], repeat=1)
    assert res.runs[0].calls == 0 and res.runs[0].errors == 0


# CPython itself never calls posix_memalign: the program's own blocks are the
# posix_memalign ones, and what follows them (found by block id).
PY_PROGRAM = """
import ctypes, json, threading
libc = ctypes.CDLL(None)
libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
                                ctypes.c_size_t]
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
N = 300
blocks = []
def work():
    for i in range(N):
        p = ctypes.c_void_p()
        assert libc.posix_memalign(ctypes.byref(p), 64, 1000 + i) == 0
        blocks.append(p.value)
t = threading.Thread(target=work)
t.start(); t.join()
moved = [libc.realloc(p, 5000 + i) for i, p in enumerate(blocks[:100])]
for p in moved + blocks[100:]:
    libc.free(p)    # freed by the main thread: blocks of another thread
print(json.dumps({"posix_memalign": N, "realloc": 100, "free": N}))
"""


def test_record_a_python_program(tmp_path):
    path = tmp_path / "py.trace"
    p = run_cli("record", "-o", path, "--", sys.executable, "-c", PY_PROGRAM, check_rc=0)
    said = json.loads(p.stdout)
    t = trace.load(str(path))
    # PYTHONMALLOC=malloc: the interpreter's own objects come from malloc too.
    assert t.calls > 10000
    calls = list(t.iter_calls())
    mine = [c for c in calls if c.function == "posix_memalign"]
    assert len(mine) == said["posix_memalign"] == t.calls_by_function["posix_memalign"]
    assert sorted(c.size for c in mine) == list(range(1000, 1000 + said["posix_memalign"]))
    ids = {c.result for c in mine}
    resized = [c for c in calls if c.function == "realloc" and c.ptr in ids]
    assert len(resized) == said["realloc"]
    ids |= {c.result for c in resized}
    freed = [c for c in calls if c.function == "free" and c.ptr in ids]
    assert len(freed) == said["free"]
    assert len({c.thread for c in mine}) == 1
    assert {c.thread for c in freed} == {0} and mine[0].thread != 0
    assert t.summary["cross_thread_releases"] >= said["free"]
    r = trace.replay(str(path), allocators=["system", "hakmem"], repeat=1)
    assert all(run.errors == 0 for run in r.runs)
    # --keep-pymalloc: pymalloc serves the objects, far fewer calls.
    kept = tmp_path / "kept.trace"
    run_cli("record", "-o", kept, "--keep-pymalloc", "--", sys.executable, "-c", PY_PROGRAM,
            check_rc=0)
    assert trace.load(str(kept)).calls < t.calls


def test_trace_info_json_and_plot(recorded, tmp_path):
    _, path, _, _ = recorded
    p = run_cli("trace-info", path, "--json", check_rc=0)
    d = json.loads(p.stdout)
    t = trace.load(str(path))
    assert d["calls"] == t.calls and d["peak_live_bytes"] == t.peak_live_bytes
    assert sum(n for _, n in d["size_histogram"]) == d["blocks_produced"]
    assert sum(n for _, n in d["lifetime_histogram_calls"]) == d["blocks_released"]
    assert len(d["threads"]) == 4  # main and 3 workers
    png = tmp_path / "live.png"
    p = run_cli("trace-info", path, "--plot", png, check_rc=0)
    assert "peak live" in p.stdout and "calls:" in p.stdout and "lifetimes" in p.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_replay_cli_table_csv_png(recorded, tmp_path):
    _, path, _, _ = recorded
    png = tmp_path / "r.png"
    js = tmp_path / "r.json"
    p = run_cli("replay", path, "--allocators", "system,hakmem", "--repeat", "2", "--png", png,
                "--json", js, check_rc=0)
    assert "| prog.trace | hakmem |" in p.stdout and "Medians of 2 interleaved rounds" in p.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    # The JSON: every run, with the replay's figures, read back whole.
    with open(js) as f:
        d = json.load(f)
    assert len(d["runs"]) == 4 and {r["round"] for r in d["runs"]} == {1, 2}
    assert {r["allocator"] for r in d["replay_rows"]} == {"system", "hakmem"}
    back = trace.ReplayResults.from_dict(d)
    calls = trace.load(str(path)).calls
    assert all(isinstance(r, trace.ReplayRun) and r.calls == calls and r.errors == 0
               for r in back.runs)
    assert back.replay_rows()[0]["calls"] == calls
    assert back.median("prog.trace", "hakmem") > 0
    p = run_cli("replay", path, "--allocators", "system", "--repeat", "1", "--csv", check_rc=0)
    header, row = p.stdout.strip().splitlines()
    assert header.startswith("trace,allocator,") and row.startswith("prog.trace,system,")


def test_writer_unknown_and_cross_thread_frees(tmp_path):
    path = str(tmp_path / "w.trace")
    with trace.TraceWriter(path) as w:
        w.call("malloc", size=100, res=0x1000)
        w.call("calloc", nmemb=4, size=25, res=0x2000, thread=1)
        w.call("free", ptr=0x1000, thread=1)      # another thread's block
        w.call("free", ptr=0x9999)                # never produced
        w.call("realloc", ptr=0x2000, size=5000, res=0x3000, thread=1)
        w.call("realloc", ptr=0x3000, size=0, res=0)   # a free
        w.call("posix_memalign", align=256, size=300, res=0x4000)
        w.call("free_sized", ptr=0x4000, size=300)
    t = trace.load(path)
    assert t.calls == 8 and t.unknown_releases == 1
    assert t.summary["cross_thread_releases"] == 2  # 0x1000 by thread 1, 0x3000 by thread 0
    assert t.summary["realloc"]["to_zero"] == 1
    calls = list(t.iter_calls())
    assert [c.function for c in calls] == ["malloc", "calloc", "free", "free", "realloc",
                                          "realloc", "posix_memalign", "free_sized"]
    assert calls[3].ptr == trace.UNKNOWN and calls[2].ptr == calls[0].result
    assert calls[1].size == 100 and calls[4].ptr == calls[1].result
    r = trace.replay_once(path, "system")
    assert r["skipped_unknown"] == "1" and r["errors"] == "0" and r["calls"] == "7"


def test_stress_trace_saves_in_the_new_format(tmp_path):
    t = stress.Trace()
    t.alloc("a", 64)
    t.calloc("b", 1000)
    t.aligned_alloc("c", 4096, 100)
    t.realloc("a", 10000)
    t.free("b")
    t.free("a")
    path = trace.save(t, str(tmp_path / "s.trace"))
    rec = trace.load(path)
    assert rec.calls_by_function == {"malloc": 1, "calloc": 1, "aligned_alloc": 1,
                                     "realloc": 1, "free": 2}
    assert rec.summary["live_at_end_blocks"] == 1
    # The old format replays too, converted on the way.
    old = tmp_path / "s.bin"
    t.save(str(old))
    res = trace.replay(str(old), allocators=["system", "hakmem"], repeat=1)
    assert all(r.errors == 0 and r.calls == 6 for r in res.runs)
    with pytest.raises(trace.TraceError, match="hand-written"):
        trace.load(str(old))


def test_abort_and_signals_flush_the_trace(tmp_path):
    prog = textwrap.dedent("""
        import ctypes, os, signal, sys
        libc = ctypes.CDLL(None)
        p = ctypes.c_void_p()
        for i in range(2000):
            libc.posix_memalign(ctypes.byref(p), 32, 100)
        print(signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), flush=True)
        if sys.argv[1] == "abort":
            libc.abort()
        os.kill(os.getpid(), signal.SIGTERM)
    """)
    for how, sig in (("abort", signal.SIGABRT), ("term", signal.SIGTERM)):
        path = tmp_path / ("%s.trace" % how)
        r = trace.record([sys.executable, "-c", prog, how], str(path), env=clean_env(),
                         stdout=subprocess.PIPE)
        assert r.returncode == 128 + sig
        t = trace.load(str(path))
        assert t.complete
        assert t.calls_by_function["posix_memalign"] == 2000
    # The program saw the default disposition (and Python its own SIGINT handler).
    code = ("import signal; print([signal.getsignal(s) for s in (signal.SIGTERM, "
            "signal.SIGINT, signal.SIGSEGV, signal.SIGPIPE)])")
    outs = [subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout
            for env in (clean_env(), clean_env(LD_PRELOAD=trace.recorder_path(),
                                               HAKMEM_TRACE_FILE=str(tmp_path / "sig.trace")))]
    assert outs[0] == outs[1] and "default_int_handler" in outs[1]


def test_exec_children_are_recorded_or_listed(tmp_path):
    path = tmp_path / "x.trace"
    script = ("%s -c 'import json' && exec env -u LD_PRELOAD %s -c 'pass'"
              % (sys.executable, sys.executable))
    p = run_cli("record", "-o", path, "--", "/bin/sh", "-c", script, check_rc=0)
    files = trace.trace_files(str(path))
    recs = [trace.Recording(f) for f in files]
    assert any(r.argv[:2] == [sys.executable, "-c"] and r.argv[2] == "import json"
               for r in recs)  # the child the shell started records too
    assert any(r.argv and os.path.basename(r.argv[0]) == "env" for r in recs)
    res = trace.Recorded(0, str(path), recs)
    # env exec'd python without LD_PRELOAD: that one is listed as not recorded.
    assert any(pth.endswith(os.path.basename(sys.executable)) or "python" in pth
               for _, pth in res.unrecorded_execs())
    assert "not recorded" in p.stderr
