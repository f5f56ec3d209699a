"""hakmem.bench and python -m hakmem bench: the benchmark suite of make bench
from the package. The default runs are smoke length (each program's short
fixed run: the whole pipeline, no timing assertion); ``pytest -m bench`` runs
the full suite."""
import io
import json
import math
import os
import signal
import subprocess
import sys

import pytest

import hakmem
from hakmem import _allocators, _harness, bench, stress
from conftest import clean_env, run_python


def sane(result, names, allocators, repeat):
    assert list(result.allocators)[:len(allocators)] == list(allocators)
    assert [w.name for w in result.workloads] == list(names)
    assert len(result.runs) == repeat * len(names) * len(result.allocators)
    for r in result.runs:
        assert r.failed is None, r
        assert r.value > 0 and math.isfinite(r.value), r
        assert r.peak_rss_kb > 0 or r.library == "-", r
        assert r.library, r
    # Interleaved: each round runs every workload once per allocator, and the
    # allocator that goes first changes from round to round.
    na = len(result.allocators)
    firsts = [result.runs[i].allocator for i in range(0, len(result.runs), na)]
    if repeat > 1 and na > 1:
        assert firsts[0] != firsts[len(names)]
    for name in names:
        assert result.ratio(name, result.baseline) == pytest.approx(1.0)
        for a in result.allocators:
            assert len(result.values(name, a)) == repeat
            assert result.ratio(name, a) > 0
    return result


def test_the_suite_is_make_bench_suite():
    # One list: the package's presets are the harness's suite, and the
    # package carries every program it names, as real programs.
    names = [w.name for w in _harness.suite()]
    assert list(bench.PRESETS) == names
    assert len(names) >= 20 and "pair/64" in names and "cpython/json" in names
    assert sum(1 for n in names if n.startswith("cpython/")) >= 7
    for w in _harness.suite():
        exe = os.path.join(bench.programs_dir(), w.program)
        assert os.access(exe, os.X_OK) and _harness.is_elf(exe), exe
    assert os.path.isfile(os.path.join(bench.programs_dir(), "bench_cpython.py"))


def test_workload_arguments():
    w = bench.Workload("w", "bench_pair", ("{seed}", "x"), ("q",), ("s", "{cpython_script}"))
    assert w.arguments("full", 3) == ["3", "x"]
    assert w.arguments("quick", 3) == ["q"]
    assert w.arguments("smoke", 3, "/p.py") == ["s", "/p.py"]
    c = bench.Workload.command("py", ["python3", "-c", "print({1: 2})"])
    assert c.arguments("full", 1) == ["-c", "print({1: 2})"] and not c.verified
    s = bench.Workload.stress("k", "larson", ops=100000, threads=2)
    assert s.arguments("quick", 2) == ["larson", "ops=10000", "threads=2", "seed=2"]
    assert set(_harness.STRESS_KERNELS) == set(stress.KERNELS)
    with pytest.raises(ValueError, match="length"):
        w.arguments("long", 1)


def test_smoke_comparison_of_every_kind_of_workload(tmp_path):
    trace = stress.Trace.from_ops([("alloc", i, 16 + i) for i in range(500)]
                                  + [("free", i) for i in range(0, 500, 2)])
    trace_path = tmp_path / "t.bin"
    trace.save(trace_path)
    workloads = [
        "pair/64", "prodcons",
        bench.Workload.stress("tiny-larson", "larson", threads=2, ops=20000, max_size=256),
        bench.Workload.replay("trace", trace_path, repeat=20),
        bench.Workload.command("true", ["true"]),
    ]
    names = ["pair/64", "prodcons/16-1024", "tiny-larson", "trace", "true"]
    seen = []
    res = bench.compare(workloads, ["system", "hakmem"], repeat=2, smoke=True,
                        progress=lambda *a: seen.append(a))
    sane(res, names, ["system", "hakmem"], 2)
    assert seen[-1][:2] == (len(res.runs), len(res.runs))
    assert all(r.ok for r in res.runs)
    hk = [r for r in res.runs if r.allocator == "hakmem" and r.workload != "true"]
    assert all(os.path.samefile(r.library, hakmem.preload_library_path()) for r in hk)
    assert all(r.version == hakmem.__version__ for r in hk)

    md = res.to_markdown()
    table = md.split("## Throughput")[1].split("## Peak RSS")[0]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert rows[0] == "| workload | system | hakmem |"
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == names + ["geomean"]
    assert "x1.00" in rows[1]
    d = json.loads(json.dumps(_harness._jsonable(res.to_dict())))
    assert len(d["rows"]) == len(names) * 2 and len(d["runs"]) == len(res.runs)


def test_allocator_names_are_checked():
    with pytest.raises(ValueError, match="unknown allocator 'nosuchalloc'"):
        bench.compare(["pair/64"], ["system", "nosuchalloc"], smoke=True)
    with pytest.raises(ValueError, match="does not exist"):
        bench.compare(["pair/64"], ["system", "nope=/no/such/libnope.so"], smoke=True)
    with pytest.raises(ValueError, match="named twice"):
        bench.compare(["pair/64"], ["system", "system"], smoke=True)


def test_peers_are_found_or_noted():
    found, notes = _allocators.discover(["system", "hakmem", "mimalloc", "jemalloc", "tcmalloc"])
    assert found["system"] is None
    assert os.path.samefile(found["hakmem"], hakmem.preload_library_path())
    for peer in ("mimalloc", "jemalloc", "tcmalloc"):
        assert (peer in found) != any(n.startswith(peer + ":") for n in notes)
        if peer in found:
            assert os.path.isfile(found[peer])


def test_installed_peers_really_run():
    found, _ = _allocators.discover()
    peers = [p for p in ("mimalloc", "jemalloc", "tcmalloc") if p in found]
    if not peers:
        pytest.skip("no peer allocator installed")
    res = bench.compare(["pair/64"], ["system"] + peers, smoke=True)
    for r in res.runs:
        assert _allocators.is_expected(found[r.allocator], r.library)
    md = res.to_markdown()
    assert "- %s: %s (reports " % (peers[0], found[peers[0]]) in md


def test_a_run_with_the_wrong_library_is_refused():
    # libm defines no malloc: a "comparison" with it would measure glibc.
    libm = _allocators.find_peer(("libm",))
    if libm is None:
        pytest.skip("no libm in the loader cache")
    with pytest.raises(bench.WrongAllocator, match="allocator="):
        bench.compare(["pair/64"], ["system", "fake=" + libm], smoke=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown workload"):
        bench.compare(["nope"])
    with pytest.raises(ValueError, match="rounds"):
        bench.compare(["pair/64"], repeat=0)
    with pytest.raises(ValueError, match="quick or smoke"):
        bench.compare(["pair/64"], quick=True, smoke=True)
    with pytest.raises(TypeError, match="unexpected parameter 'duraton'"):
        bench.Workload.stress("x", "larson", duraton=1)


def test_peer_bugs_are_reported_but_only_hakmem_fails_the_command(buggy_libs):
    """Item 4: a peer's broken promise (misaligned blocks) or crash is shown
    in the report; the command fails only for hakmem's own."""
    misaligned, crashes = buggy_libs
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--smoke", "--workloads", "aligned,realloc", "--no-progress",
                       "--allocators", "system,hakmem,buggy=%s,crashy=%s"]))
    """ % (misaligned, crashes), check=False)
    assert p.returncode == 0, p.stderr
    assert "## Warnings" in p.stdout and "- buggy on aligned/16-4096: misaligned=" in p.stdout
    assert "## Failed runs" in p.stdout and "crashy on realloc/step-8K, round 1: terminated " \
        "by SIGABRT" in p.stdout
    assert "| realloc/step-8K |" in p.stdout and "all runs failed" in p.stdout
    assert "not hakmem's failure" in p.stderr
    # The same bug in the library measured as hakmem fails the command.
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--smoke", "--workloads", "aligned", "--no-progress",
                       "--allocators", "system,hakmem=%s"]))
    """ % misaligned, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "hakmem run(s) failed or broke a promise" in p.stderr


def test_report_has_the_best_peer_column_when_peers_run(buggy_libs):
    misaligned, _ = buggy_libs
    res = bench.compare(["pair/64", "larson"], ["system", "hakmem", "peer=" + misaligned],
                        smoke=True)
    md = res.to_markdown()
    assert "| workload | system | hakmem | peer | hakmem / best peer |" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| pair/64 |"))
    assert row.endswith(" (peer) |")
    assert res.best_peer("pair/64")[0] == "peer"
    assert res.vs_best_peer("pair/64") == pytest.approx(
        res.median("pair/64", "hakmem") / res.median("pair/64", "peer"))
    assert "## Peak RSS: median MiB, ratio to system" in md
    for line in ("- date: ", "- machine: ", "- rounds: 1 (smoke length)", "- hakmem: ",
                 "- peer: ", "- system: "):
        assert line in md, line


def test_chart_has_log_axes_whiskers_rss_panel_date_machine_versions():
    pytest.importorskip("matplotlib")
    res = bench.compare(["pair/64", "prodcons"], ["system", "hakmem"], smoke=True, repeat=2)
    fig = _harness.chart_figure(res)
    try:
        ax_t, ax_r = fig.axes[:2]
        assert ax_t.get_xscale() == "log" and ax_r.get_xscale() == "log"
        assert "throughput" in ax_t.get_title() and "peak RSS" in ax_r.get_title()
        assert [t.get_text() for t in ax_t.get_yticklabels()] == ["pair/64", "prodcons/16-1024"]
        # The whiskers: min-max error bars on the throughput bars.
        from matplotlib.container import BarContainer, ErrorbarContainer
        bars = [c for c in ax_t.containers if isinstance(c, BarContainer)]
        assert bars and all(c.errorbar is not None for c in bars)
        assert any(isinstance(c, ErrorbarContainer) for c in ax_t.containers)
        title = fig._suptitle.get_text()
        assert res.meta["date"] in title and res.meta["machine"]["arch"] in title
        assert "%d CPUs" % res.meta["machine"]["cpus"] in title
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "hakmem %s" % hakmem.__version__ in legend
        assert any(t.startswith("system ") and t.endswith("= 1") for t in legend)
        w, h = fig.get_size_inches()
        assert w >= 10 and h >= 2
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    res = bench.compare(["pair/64"], ["system", "hakmem"], smoke=True)
    out = res.plot(str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.endswith("c.png")


def test_plot_without_matplotlib_says_how_to_get_it():
    p = run_python("""
        import sys
        sys.modules["matplotlib"] = None          # as if it were not installed
        from hakmem import bench
        res = bench.compare(["pair/64"], ["system", "hakmem"], smoke=True)
        try:
            res.plot("x.png")
        except ImportError as e:
            print(e)
    """)
    assert "pip install matplotlib" in p.stdout
    assert "from a hakmem source tree" in p.stdout and "python3-matplotlib" in p.stdout


def test_progress_shows_what_runs_how_far_and_time_left():
    out = io.StringIO()
    pr = _harness.Progress(out, rounds=2)
    for i, (w, a) in enumerate([("w1", "system"), ("w1", "hakmem"), ("w2", "system"),
                                ("w2", "hakmem")] * 2):
        pr(i, 8, w, a)
    pr(8, 8, "", "")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/8] round 1/2: w1 under system, 0:00 elapsed")
    assert "about" not in lines[0]
    assert any(ln.startswith("[5/8] round 2/2: w1 under system") and "left" in ln
               for ln in lines), lines
    assert lines[-1].startswith("8 runs done in ")


def test_cli_bench_smoke(tmp_path):
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--smoke", "--workloads", "pair/16,larson",
                       "--allocators", "system,hakmem,jemalloc", "--out", %r]))
    """ % str(tmp_path))
    assert "| pair/16 |" in p.stdout and "| larson/" in p.stdout
    # Progress on stderr (not a terminal: a line per workload and round).
    assert "round 1/1: pair/16 under " in p.stderr and "runs done in" in p.stderr
    for f in ("bench.md", "bench.csv", "bench.json"):
        assert (tmp_path / f).is_file(), f
    if "Chart: " in p.stdout:
        assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / "bench.csv").read_text().splitlines()
    assert rows[0] == "workload,contender,round,ops_per_s,cpu_s,maxrss_kb,wall_s,allocator,status"


def test_cli_bench_list_is_the_suite():
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--list"]))
    """)
    assert p.stdout == _harness.list_text(_harness.suite())


def test_cli_bench_ctrl_c_stops_it():
    p = subprocess.Popen([sys.executable, "-m", "hakmem", "bench", "--workloads", "pair"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=clean_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        import time
        time.sleep(2.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (out, err)
    assert "interrupted" in err


def test_cli_info():
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["info"]))
    """)
    assert p.stdout.startswith("hakmem %s\n" % hakmem.__version__)
    assert hakmem.preload_library_path() in p.stdout and hakmem.library_path() in p.stdout


@pytest.mark.bench
def test_full_suite():
    """The whole suite, every installed allocator, 5 rounds (about 6 minutes on 2 idle cores)."""
    res = bench.compare(repeat=5, progress=_harness.Progress(sys.stderr, 5))
    print()
    print(res.to_markdown())
    assert res.hakmem_ok
