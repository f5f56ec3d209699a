"""hakmem.stress: the kernels, their checker, traces and the C replayer."""
import os
import struct
import subprocess
import sys

import pytest

import hakmem
from hakmem import stress
from conftest import clean_env, run_python

SMALL = dict(ops=60000, working_set=256)


@pytest.mark.parametrize("kernel", stress.KERNELS)
def test_kernel_in_process(kernel):
    threads = 2 if kernel in ("prodcons", "larson") else 1
    r = stress.run(kernel, threads=threads, min_size=1, max_size=5000, **SMALL)
    assert r.ok, r.first_error
    assert r.kernel == kernel
    assert r.ops >= SMALL["ops"] and r.allocs > 0 and r.frees == r.allocs
    assert r.seconds > 0 and r.ops_per_s > 0 and r.peak_rss_kb > 0
    assert r.bytes_allocated > 0
    assert r.allocator == hakmem.loaded_library() and r.allocator_version == hakmem.__version__
    assert r.routes is None  # not counted: hakmem started without HAKMEM_STATS


@pytest.mark.parametrize("allocator", ["system", "hakmem"])
@pytest.mark.parametrize("kernel", stress.KERNELS)
def test_kernel_in_a_subprocess(kernel, allocator):
    r = stress.run(kernel, allocator=allocator, fill="sparse", **SMALL)
    assert r.ok, r.first_error
    assert r.ops >= SMALL["ops"] and r.frees == r.allocs
    if allocator == "hakmem":
        assert os.path.samefile(r.allocator, hakmem.preload_library_path())
        assert r.allocator_version == hakmem.__version__
    else:
        assert os.path.basename(r.allocator).startswith("libc")


def test_all_sizes_and_tiers():
    # Across the tiny/mid/large boundaries, every byte written and checked.
    r = stress.random_mixed(ops=20000, min_size=0, max_size=600000, working_set=64)
    assert r.ok, r.first_error
    r = stress.aligned(ops=20000, min_size=0, max_size=300000, max_align=1 << 20,
                       working_set=64)
    assert r.ok, r.first_error


def test_duration():
    r = stress.random_mixed(duration=0.3)
    assert r.ok
    assert 0.3 <= r.seconds < 5
    assert r.ops > 1000


@pytest.mark.parametrize("kernel", stress.KERNELS)
def test_checker_reports_damage(kernel):
    # Every 7th block is damaged just before its check: each must be counted.
    threads = 2 if kernel == "prodcons" else 1
    r = stress.run(kernel, threads=threads, ops=20000, corrupt_every=7, min_size=1)
    assert r.errors > 0
    checks = r.frees + (r.ops - r.allocs - r.frees if kernel == "realloc_chains" else 0)
    assert r.errors >= checks // 7 - 1
    assert "expected" in r.first_error or "header" in r.first_error
    clean = stress.run(kernel, threads=threads, ops=20000, min_size=1)
    assert clean.errors == 0


def test_checker_reports_damage_in_the_runner():
    r = stress.random_mixed(ops=20000, corrupt_every=10, allocator="system")
    assert r.errors > 0 and not r.ok
    assert "expected 0xb5" in r.first_error


@pytest.mark.parametrize("kw, match", [
    (dict(threads=0), "threads"),
    (dict(threads=2000), "threads"),
    (dict(min_size=100, max_size=10), "min_size"),
    (dict(max_size=1 << 50), "max_size"),
    (dict(working_set=0), "working_set"),
    (dict(ops=5, duration=1.0), "not both"),
    (dict(ops=-1), "ops"),
    (dict(duration=-1.0), "duration"),
    (dict(fill="some"), "fill"),
    (dict(seed=-1), "seed"),
])
def test_bad_configuration(kw, match):
    with pytest.raises(ValueError, match=match):
        stress.random_mixed(**kw)


def test_bad_kernel_specific_configuration():
    with pytest.raises(ValueError, match="even"):
        stress.prodcons(threads=3)
    with pytest.raises(ValueError, match="min_size"):
        stress.larson(min_size=0)
    with pytest.raises(ValueError, match="max_align"):
        stress.aligned(max_align=24)
    with pytest.raises(ValueError, match="generations"):
        stress.larson(generations=0)
    with pytest.raises(ValueError, match="unknown kernel"):
        stress.run("nope")
    with pytest.raises(ValueError, match="threads"):
        stress.random_mixed(threads=0, allocator="system")
    with pytest.raises(ValueError, match="does not exist"):
        stress.random_mixed(allocator="/no/such/lib.so")
    with pytest.raises(ValueError, match="unknown allocator 'nosuchalloc'"):
        stress.random_mixed(allocator="nosuchalloc")


@pytest.mark.parametrize("kernel", stress.KERNELS)
def test_every_kernel_names_its_parameters(kernel):
    """Item 7: explicit keyword parameters with defaults, so a misspelt one
    names the function and the signature shows what a run uses."""
    import inspect
    fn = getattr(stress, kernel)
    sig = inspect.signature(fn)
    for name in ("threads", "ops", "duration", "min_size", "max_size", "working_set", "seed",
                 "fill", "allocator", "count_routes", "max_memory", "timeout"):
        param = sig.parameters[name]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, (kernel, name)
        assert param.default is not inspect.Parameter.empty, (kernel, name)
        assert param.annotation is not inspect.Parameter.empty, (kernel, name)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    with pytest.raises(TypeError, match=r"%s\(\) got an unexpected keyword argument 'duraton'"
                       % kernel):
        fn(duraton=1)
    assert fn.__doc__ and sig.return_annotation in ("StressResult", stress.StressResult)


@pytest.mark.parametrize("kernel", stress.KERNELS)
@pytest.mark.parametrize("allocator", [None, "system"])
def test_a_configuration_too_big_for_memory_is_refused(kernel, allocator):
    """Item 3: --max-size 99999999999999 ran silently for minutes, and 4e9
    grew RSS to several GB: now a ValueError before anything runs."""
    import time
    threads = 2 if kernel == "prodcons" else 1
    t0 = time.monotonic()
    for max_size in (99999999999999, 4000000000):
        with pytest.raises(ValueError, match="could hold up to .* more than .*max_memory"):
            stress.run(kernel, threads=threads, max_size=max_size, ops=100000,
                       allocator=allocator)
    assert time.monotonic() - t0 < 5
    # An explicit budget counts too; a small one refuses even a default run.
    with pytest.raises(ValueError, match="more than 1.0 KiB"):
        stress.run(kernel, threads=threads, ops=1000, max_memory=1024)
    r = stress.run(kernel, threads=threads, ops=1000, max_memory=1 << 30, allocator=allocator)
    assert r.ok


def test_live_bytes_bound():
    assert stress.live_bytes_bound("random_mixed", threads=2, working_set=100,
                                   max_size=1000) == 200000
    assert stress.live_bytes_bound("aligned", threads=1, working_set=10, max_size=100,
                                   max_align=4096) == 10 * 4196
    assert stress.live_bytes_bound("prodcons", threads=2, working_set=1000,
                                   max_size=10) == (1024 + 1) * 10


def test_routes_are_never_silently_dropped():
    """Item 5: --routes was ignored under another allocator and in a process
    whose hakmem counted no routes."""
    with pytest.raises(ValueError, match="count_routes .* not 'system'"):
        stress.random_mixed(ops=1000, allocator="system", count_routes=True)
    p = run_python("""
        from hakmem import stress
        try:
            stress.random_mixed(ops=1000, count_routes=True)
        except ValueError as e:
            print(e)
    """)
    assert "allocator='hakmem'" in p.stdout


@pytest.mark.parametrize("kernel,where", [(k, "in-process") for k in stress.KERNELS]
                         + [("larson", "subprocess")])
def test_ctrl_c_stops_a_kernel(kernel, where):
    """Item 3: the kernels ignored Ctrl-C until their duration ended. Now
    SIGINT stops them within a moment, with KeyboardInterrupt, and the
    process can go on (here: one more run)."""
    import signal
    import time
    threads = 2 if kernel == "prodcons" else 1
    code = """
        import sys, time
        from hakmem import stress
        print("ready", flush=True)
        t0 = time.monotonic()
        try:
            stress.run(%r, threads=%d, duration=60, allocator=%r)
        except KeyboardInterrupt:
            print("interrupted after %%.1f s" %% (time.monotonic() - t0), flush=True)
        r = stress.run(%r, threads=%d, ops=20000)
        print("again", r.ok)
    """ % (kernel, threads, None if where == "in-process" else "system", kernel, threads)
    import textwrap
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=clean_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, (out, err)
    secs = float(out.split("interrupted after ")[1].split()[0])
    assert secs < 10, out
    assert out.endswith("again True\n"), out


def test_cli_stress_ctrl_c_exits_130():
    import signal
    import time
    p = subprocess.Popen([sys.executable, "-m", "hakmem", "stress", "larson", "--duration", "60"],
                         env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    try:
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130 and "interrupted" in err, (out, err)
    assert time.monotonic() - t0 < 10


def test_routes_counted_when_hakmem_counts():
    # In-process: hakmem must have started with the route trace on.
    p = run_python("""
        import hakmem
        r = hakmem.stress.random_mixed(ops=200000, max_size=1024)
        assert r.ok
        print(r.frees, r.routes["tiny_fast"], r.routes["slab_lookup"], r.routes["large"])
    """, env=clean_env(HAKMEM_FREE_ROUTE_TRACE=1))
    frees, tiny_fast, slab_lookup, large = map(int, p.stdout.split())
    # The kernel's frees all took the fast route (other frees may add more).
    assert tiny_fast >= frees and slab_lookup == 0 and large == 0
    assert "free route distribution" in p.stderr


def test_routes_counted_in_the_runner():
    r = stress.larson(threads=2, ops=100000, max_size=512, allocator="hakmem",
                      count_routes=True)
    assert r.ok and r.routes is not None
    assert r.routes["tiny_fast"] >= 0.99 * r.frees
    assert r.routes["remote"] > 0  # larson frees other threads' blocks
    assert stress.random_mixed(ops=1000, allocator="hakmem").routes is None


# ---- traces -------------------------------------------------------------------------


def make_trace():
    t = stress.Trace()
    for i in range(200):
        t.alloc(("a", i), 16 + i * 7)
    for i in range(0, 200, 2):
        t.realloc(("a", i), 5000 + i)
    t.calloc("zero", 70000)
    t.aligned_alloc("al", 4096, 3000)
    t.alloc("big", 1 << 20)
    t.realloc("big", 3 << 20)
    for i in range(0, 200, 3):
        t.free(("a", i))
    t.free("zero")
    return t


def test_trace_replay_in_process():
    t = make_trace()
    assert t.slots == 203  # no free before the last alloc: no slot reused
    r = stress.replay(t, repeat=3)
    assert r.ok, r.first_error
    per_pass = len(t) + (203 - 67 - 1)  # ops + the frees of what stays live
    assert r.ops == 3 * per_pass
    assert r.allocs == 3 * 203 and r.frees == r.allocs


def test_trace_from_tuples_and_slot_reuse():
    ops = [("alloc", "x", 10), ("free", "x"), ("alloc", "y", 20), ("aligned_alloc", "z", 64, 8),
           ("realloc", "y", 4000), ("free", "y"), ("free", "z")]
    t = stress.Trace.from_ops(ops)
    assert t.slots == 2 and len(t) == len(ops)
    assert [op[0] for op in t.ops()] == [o[0] for o in ops]
    assert stress.replay(ops).ok


@pytest.mark.parametrize("ops, match", [
    ([("free", "x")], "not live"),
    ([("alloc", "x", 8), ("alloc", "x", 8)], "already live"),
    ([("realloc", "x", 8)], "not live"),
    ([("alloc", "x", 8), ("realloc", "x", 0)], "use free"),
    ([("alloc", "x", -1)], "size"),
    ([("alloc", "x", 1 << 48)], "size"),
    ([("aligned_alloc", "x", 48, 8)], "alignment"),
    ([("mmap", "x", 8)], "unknown op"),
])
def test_bad_trace_ops(ops, match):
    with pytest.raises(ValueError, match=match):
        stress.Trace.from_ops(ops)


def test_trace_file_roundtrip_and_the_c_replayer(tmp_path):
    t = make_trace()
    path = tmp_path / "t.bin"
    t.save(path)
    data = path.read_bytes()
    assert data[:8] == b"HAKTRACE"
    assert struct.unpack_from("<IIQ", data, 8) == (1, t.slots, len(t))
    assert len(data) == 24 + 24 * len(t)
    u = stress.Trace.load(path)
    assert list(u.ops()) == list(t.ops()) and u.slots == t.slots
    # More ops can follow a loaded trace: its names are slot numbers.
    live_slot = next(s for k, s, _, _ in u.ops() if k == "alloc" and s % 3 == 1)
    u.free(live_slot)
    with pytest.raises(ValueError):
        u.free(live_slot)
    # The C replayer reads the file under any allocator.
    for allocator in ("system", "hakmem"):
        env = clean_env()
        if allocator == "hakmem":
            env["LD_PRELOAD"] = hakmem.preload_library_path()
        p = subprocess.run([stress.runner_path(), "replay", str(path), "repeat=2"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "kernel=replay" in p.stdout and " errors=0 " in p.stdout
    r = stress.replay(u, allocator="hakmem", repeat=2)
    assert r.ok and r.allocs == 2 * 203


def test_c_replayer_rejects_bad_files(tmp_path):
    good = make_trace().to_bytes()
    cases = {
        "short": b"HAKT",
        "magic": b"NOTTRACE" + good[8:],
        "length": good[:-5],
        # A free of slot 0 before anything was allocated in it.
        "order": good[:8] + struct.pack("<IIQ", 1, 1, 1) + struct.pack("<IIQQ", 2, 0, 0, 0),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        p = subprocess.run([stress.runner_path(), "replay", str(path)], env=clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        assert p.returncode == 2, name
        assert p.stderr.startswith("hakmem-stress: "), name
        with pytest.raises(ValueError):
            stress.Trace.from_bytes(data)


def test_cli_stress_and_replay(tmp_path):
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["stress", "prodcons", "--ops", "20000", "--allocator", "system"]))
    """)
    assert "prodcons:" in p.stdout and "0 errors" in p.stdout
    path = tmp_path / "t.bin"
    make_trace().save(path)
    p = run_python("""
        import sys
        from hakmem.__main__ import main
        sys.exit(main(["replay", %r, "--repeat", "2"]))
    """ % str(path))
    assert "replay:" in p.stdout and "0 errors" in p.stdout
