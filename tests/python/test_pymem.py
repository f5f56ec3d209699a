"""CPython's allocator through hakmem: pymem.install() in a running
interpreter, and the whole-process route (preload + PYTHONMALLOC=malloc).

Each test runs in a fresh interpreter: an allocator switch is process-wide,
and a crash must fail one test, not end the session.
"""
import pytest

import hakmem
from conftest import clean_env, run_python

WORKLOAD = """
import json, re, collections
def workload():
    d = {i: str(i) * 3 for i in range(50000)}
    l = [list(range(i % 17)) for i in range(20000)]
    text = json.dumps({"d": d, "l": l})
    back = json.loads(text)
    assert back["d"] == {str(k): v for k, v in d.items()} and back["l"] == l
    words = re.findall(r'"(\\d+)"', text)
    assert len(words) == 100000  # keys and values
    c = collections.Counter(w[-1] for w in words)
    assert sum(c.values()) == 100000
    return d, l, back
"""


def test_install_serves_a_real_workload_and_uninstall_restores():
    p = run_python(WORKLOAD + """
import gc, hakmem, hakmem.pymem as pm
old = [object() for _ in range(100)]            # from pymalloc
old_bytes = [b"x" * 5000 for _ in range(20)]    # from the raw domain, via pymalloc
assert not any(hakmem.owns(id(o)) for o in old)
s0 = hakmem.stats()

pm.install()
assert pm.installed() == ("raw", "mem", "obj")
d, l, back = workload()
new = [object() for _ in range(100)]
s1 = hakmem.stats()
info = pm.info()

# hakmem served it: the new objects are hakmem's, and its counters moved.
# (ids of objects without a free list: a dict or list may be a recycled one)
assert all(hakmem.owns(id(o)) for o in new)
assert all(hakmem.owns(id(s)) for s in [("k%d" % i) * 50 for i in range(100)])
assert all(hakmem.owns(id(b)) for b in [b"y" * 100000 for i in range(10)])  # large objects
assert s1["stats_enabled"]
assert s1["tiny_mallocs"] - s0["tiny_mallocs"] > 100000, (s0, s1)
assert s1["bytes_in_use"] - s0["bytes_in_use"] > 1 << 20
assert info["obj"]["new_blocks"] > 0 and info["mem"]["new_blocks"] > 0

# Blocks of the previous allocator are handed back to it.
del old, old_bytes
gc.collect()
assert pm.info()["obj"]["previous_frees"] >= 100

pm.uninstall()
assert pm.installed() == ()
late = [object() for _ in range(100)]
assert not any(hakmem.owns(id(o)) for o in late)
# hakmem's blocks outlive the switch and are still freed by hakmem.
in_use = hakmem.stats()["bytes_in_use"]
del d, l, back, new
gc.collect()
assert hakmem.stats()["bytes_in_use"] < in_use - (1 << 20)
d, l, back = workload()          # and the interpreter still works
print("ok")
""", env=clean_env(HAKMEM_STATS=1))
    assert p.stdout.strip() == "ok"
    # HAKMEM_STATS=1 also prints hakmem's report when the process exits.
    assert "hakmem: statistics" in p.stderr


def test_raw_domain_from_threads_without_the_gil():
    """zlib, bz2 and lzma take their buffers from the raw domain while the GIL
    is released; several threads do so at once while the main thread
    switches hakmem on and off."""
    p = run_python("""
import bz2, lzma, os, threading, zlib, hakmem.pymem as pm
data = os.urandom(1 << 18) + bytes(1 << 18)
errors = []
def work():
    try:
        for _ in range(6):
            assert zlib.decompress(zlib.compress(data)) == data
            assert bz2.decompress(bz2.compress(data)) == data
            assert lzma.decompress(lzma.compress(data, preset=0)) == data
    except Exception as e:
        errors.append(e)
pm.install(["raw"])
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for i in range(200):
    (pm.uninstall if i % 2 else pm.install)(["raw"])
pm.install(["raw"])
for t in ts: t.join()
assert not errors, errors
info = pm.info()["raw"]
assert info["installed"] and info["new_blocks"] > 0, info
print(info["new_blocks"])
""")
    assert int(p.stdout) > 0


def test_realloc_of_old_blocks_goes_to_the_old_allocator():
    p = run_python("""
import hakmem, hakmem.pymem as pm
l = []
for i in range(1000): l.append(i)      # list storage from the mem domain (pymalloc)
ba = bytearray(100)                    # bytearray storage: PyObject_Realloc
pm.install()
for i in range(100000): l.append(i)    # grows by realloc: the first one is pymalloc's block
ba.extend(b"y" * 100000)
assert l[-1] == 99999 and len(ba) == 100100
info = pm.info()
assert info["mem"]["previous_reallocs"] + info["obj"]["previous_reallocs"] >= 2, info
pm.uninstall()
print("ok")
""")
    assert p.stdout.strip() == "ok"


def test_enabled_context_and_bad_domains():
    p = run_python("""
import hakmem, hakmem.pymem as pm
with pm.enabled(["obj"]):
    assert pm.installed() == ("obj",)
    o = object()
    assert hakmem.owns(id(o))
assert pm.installed() == ()
try:
    pm.install(["heap"])
except ValueError as e:
    print("ValueError", e)
""")
    assert "unknown allocator domain 'heap'" in p.stdout


def test_whole_process_route_with_run():
    p = run_python("""
import subprocess, sys
from hakmem.__main__ import main
sys.exit(main(["run", "--", sys.executable, "-c",
               "import hakmem, json; json.dumps(list(range(10000))); "
               "print(hakmem.is_active(), hakmem.bound_to_process(), hakmem.owns(id(object())))"]))
""")
    assert p.stdout.split() == ["True", "True", "True"]
    assert "free route distribution" in p.stderr
    assert "hakmem: statistics" in p.stderr


def test_run_returns_the_exit_status():
    p = run_python("""
import sys
from hakmem.__main__ import main
sys.exit(main(["run", "--no-stats", "--", "sh", "-c", "exit 3"]))
""", check=False)
    assert p.returncode == 3
    assert "free route distribution" not in p.stderr


@pytest.mark.parametrize("domains", [["raw"], ["mem"], ["obj"], ["raw", "mem", "obj"]])
def test_each_domain_alone(domains):
    run_python(WORKLOAD + """
import hakmem.pymem as pm
pm.install(%r)
workload()
pm.uninstall()
workload()
pm.install(%r)
workload()
""" % (domains, domains))


def test_no_install_in_this_process():
    # The suite's own interpreter is never switched (tests run children).
    assert hakmem.pymem.installed() == ()


TRACEMALLOC_SEQUENCE = """
import tracemalloc, warnings, hakmem, hakmem.pymem as pm
warnings.simplefilter("error")
if not tracemalloc.is_tracing():
    tracemalloc.start(3)
limit = tracemalloc.get_traceback_limit()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pm.install()
assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)], caught
# tracemalloc still traces, with the same frame limit, and sees hakmem's blocks.
assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == limit
before = tracemalloc.get_traced_memory()[0]
kept = [("v" + str(i)) * 40 for i in range(5000)]
assert all(hakmem.owns(id(s)) for s in kept[:100])
grown = tracemalloc.get_traced_memory()[0] - before
assert grown > 5000 * 80, grown
snap = tracemalloc.take_snapshot()
assert any(st.size > 100000 for st in snap.statistics("lineno")[:3])
pm.uninstall()
%s
more = [str(i) * 9 for i in range(20000)]
del kept
import gc; gc.collect()
print("still alive")
"""


@pytest.mark.parametrize("how", ["start() then install()", "-X tracemalloc"])
@pytest.mark.parametrize("stop", [True, False])
def test_install_over_tracemalloc(how, stop):
    """Item 2: install() over an active tracemalloc used to abort the
    interpreter at tracemalloc.stop() or at exit (free(): invalid pointer),
    and tracemalloc traced nothing meanwhile."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent(TRACEMALLOC_SEQUENCE % ("tracemalloc.stop()" if stop else ""))
    args = [sys.executable] + (["-X", "tracemalloc=3"] if how == "-X tracemalloc" else []) \
        + ["-c", code]
    p = subprocess.run(args, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "still alive\n"


def test_tracemalloc_started_after_install_needs_nothing():
    p = run_python("""
        import tracemalloc, warnings, hakmem, hakmem.pymem as pm
        warnings.simplefilter("error")         # no restart, no warning
        pm.install()
        tracemalloc.start()
        x = [str(i) * 20 for i in range(3000)]
        assert tracemalloc.get_traced_memory()[0] > 3000 * 40
        pm.uninstall()
        tracemalloc.stop()
        y = [str(i) for i in range(3000)]
        del x
        print("ok")
    """)
    assert p.stdout == "ok\n"


def test_import_and_install_load_no_heavy_modules():
    """install() is the first thing a program runs, and every run pays for
    what ``import hakmem.pymem`` imports: typing, tracemalloc (with pickle,
    linecache and tokenize) and threading cost 17 ms together in CPython
    3.11, more than the allocator saves on a short script. The package uses
    _tracemalloc and _thread, and imports typing for type checkers only.
    cffi (1-2 ms with the modules that use it) waits for the first use of
    hakmem.ffi, hakmem.lib or what needs them (Heap, __version__)."""
    p = run_python("""
        import sys
        before = set(sys.modules)
        import hakmem, hakmem.pymem as pm
        pm.install()
        print(sorted({"_cffi_backend", "hakmem._native", "hakmem.heap"} & set(sys.modules)))
        h = hakmem.Heap()                      # a Heap needs no threading either
        h.malloc(10)
        h.destroy()
        heavy = {"typing", "tracemalloc", "threading", "pickle", "linecache", "tokenize"}
        print(sorted(heavy & (set(sys.modules) - before)))
        pm.uninstall()
    """)
    assert p.stdout == "[]\n[]\n", p.stdout
