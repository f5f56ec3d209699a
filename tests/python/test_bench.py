"""hakmem.bench: the allocator comparison. The default run is a short mode
that checks the runs happen and report sane figures (no timing assertion);
``pytest -m bench`` runs the long comparison."""
import json
import math
import os

import pytest

import hakmem
from hakmem import _allocators, bench, stress
from conftest import run_python


def sane(result, workloads, allocators, repeat):
    assert list(result.allocators)[:len(allocators)] == list(allocators)
    assert len(result.runs) == repeat * len(workloads) * len(result.allocators)
    for r in result.runs:
        assert r.value > 0 and math.isfinite(r.value), r
        assert r.peak_rss_kb > 0, r
        assert r.library, r
    # Interleaved: within a round, every workload ran once per allocator, and
    # the first allocator of a workload changes from round to round.
    firsts = [result.runs[i].allocator
              for i in range(0, len(result.runs), len(result.allocators))]
    if repeat > 1 and len(result.allocators) > 1:
        assert firsts[0] != firsts[len(workloads)]
    for w in workloads:
        name = w if isinstance(w, str) else w.name
        assert result.ratio(name, result.baseline) == pytest.approx(1.0)
        for a in result.allocators:
            assert len(result.values(name, a)) == repeat
            assert result.ratio(name, a) > 0
    return result


def test_short_comparison(tmp_path):
    trace = stress.Trace.from_ops([("alloc", i, 16 + i) for i in range(500)]
                                  + [("free", i) for i in range(0, 500, 2)])
    trace_path = tmp_path / "t.bin"
    trace.save(trace_path)
    workloads = [
        "random_mixed", "prodcons",
        bench.Workload.stress("tiny", "larson", threads=2, ops=20000, max_size=256),
        bench.Workload.replay("trace", trace_path, repeat=20),
        bench.Workload.command("true", ["true"]),
    ]
    seen = []
    res = bench.compare(workloads, ["system", "hakmem", "nope=/no/such/libnope.so"], repeat=2,
                        quick=True, progress=lambda *a: seen.append(a))
    sane(res, workloads, ["system", "hakmem"], 2)
    assert any("nope" in n and "does not exist" in n for n in res.notes)
    assert seen[-1][:2] == (len(res.runs), len(res.runs))
    assert all(r.errors == 0 for r in res.runs)
    hk = [r for r in res.runs if r.allocator == "hakmem" and r.workload != "true"]
    assert all(os.path.samefile(r.library, hakmem.library_path()) for r in hk)
    assert all(r.version == hakmem.__version__ for r in hk)

    md = res.to_markdown()
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(rows) == 1 + len(workloads) * 2  # the header, one row per pair
    assert "| random_mixed | hakmem |" in md and "1.00x" in md
    assert "Note: nope" in md
    d = json.loads(json.dumps(res.to_dict(), default=str))
    assert len(d["rows"]) == len(workloads) * 2


def test_peers_are_found_or_noted():
    found, notes = _allocators.discover(["system", "hakmem", "mimalloc", "jemalloc", "tcmalloc"])
    assert found["system"] is None and os.path.samefile(found["hakmem"], hakmem.library_path())
    for peer in ("mimalloc", "jemalloc", "tcmalloc"):
        assert (peer in found) != any(n.startswith(peer + ":") for n in notes)
        if peer in found:
            assert os.path.isfile(found[peer])


def test_installed_peers_really_run():
    found, _ = _allocators.discover()
    peers = [p for p in ("mimalloc", "jemalloc", "tcmalloc") if p in found]
    if not peers:
        pytest.skip("no peer allocator installed")
    res = bench.compare(["random_mixed"], ["system"] + peers, repeat=1, quick=True)
    for r in res.runs:
        assert _allocators.is_expected(found[r.allocator], r.library)


def test_a_run_with_the_wrong_library_is_refused():
    # libm defines no malloc: a "comparison" with it would measure glibc.
    libm = _allocators.find_peer(("libm",))
    if libm is None:
        pytest.skip("no libm in the loader cache")
    with pytest.raises(RuntimeError, match="malloc came from"):
        bench.compare(["random_mixed"], ["system", "fake=" + libm], repeat=1, quick=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown workload"):
        bench.compare(["nope"])
    with pytest.raises(ValueError, match="repeat"):
        bench.compare(["random_mixed"], repeat=0)
    with pytest.raises(RuntimeError, match="no allocator"):
        bench.compare(["random_mixed"], ["/no/such.so"])


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    res = bench.compare(["random_mixed"], ["system", "hakmem"], repeat=1, quick=True)
    out = res.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out).endswith("c.png")


def test_cli_bench():
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--quick", "--repeat", "1", "--workloads", "random_mixed,larson",
                       "--allocators", "system,hakmem,nope", "--no-progress"]))
    """)
    assert "Note: nope: nope does not exist" in p.stdout  # skipped with a note, not fatal
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["bench", "--quick", "--repeat", "1", "--workloads", "random_mixed,larson",
                       "--allocators", "system,hakmem", "--no-progress"]))
    """)
    assert "| larson | hakmem |" in p.stdout and "vs system" in p.stdout


def test_cli_info():
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["info"]))
    """)
    assert p.stdout.startswith("hakmem %s\n" % hakmem.__version__)
    assert hakmem.library_path() in p.stdout


@pytest.mark.bench
def test_long_comparison():
    """Every preset, every installed allocator, 5 rounds (several minutes)."""
    res = bench.compare(repeat=5)
    print()
    print(res.to_markdown())
    sane(res, list(bench.PRESETS), ["system", "hakmem"], 5)
    hk = [r for r in res.runs if r.allocator == "hakmem"]
    assert all(r.errors == 0 for r in hk)
