"""hakmem.trace: programs that call hakmem's own API, and signal handlers of
the program's own (they run as without the recorder; restoring the default
re-arms the recorder's flush)."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import hakmem
from conftest import clean_env
from hakmem import trace
from test_trace import CC

HAK_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <hakmem.h>

int main(void)
{
    /* each kind of hakmem call, counted; none of them may show up twice
       (libhakmem's realloc calls its exported hak_realloc, for one) */
    void *a[100];
    for (int i = 0; i < 100; i++) {
        a[i] = hak_alloc(64 + (size_t)i, 256);
        memset(a[i], 1, 64);
    }
    for (int i = 0; i < 100; i += 2)
        a[i] = hak_realloc_layout(a[i], 64 + (size_t)i, 256, 9000);
    for (int i = 0; i < 100; i++)
        hak_dealloc(a[i], i % 2 ? 64 + (size_t)i : 9000, 256);
    void *m = hak_malloc(100), *z = hak_alloc_zeroed(500, 64);
    m = hak_realloc(m, 20000);
    hak_free(m);
    hak_dealloc(z, 500, 64);
    void *p = hak_aligned_alloc(4096, 100);
    hak_free_sized(p, 100);
    void *q = malloc(10);
    q = realloc(q, 100000);     /* the standard names: recorded once each */
    free(q);
    printf("ok\n");
    return 0;
}
"""


def test_a_program_that_calls_hakmems_api(tmp_path):
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / "hak.c"
    src.write_text(HAK_PROGRAM)
    exe = tmp_path / "hak"
    subprocess.run([CC, "-O1", "-I" + hakmem.get_include(), "-o", str(exe), str(src),
                    "-L" + hakmem.get_library_dir(), "-lhakmem",
                    "-Wl,-rpath," + hakmem.get_library_dir()], check=True)
    for allocator in ("system", "hakmem"):
        path = tmp_path / ("hak-%s.trace" % allocator)
        r = trace.record([str(exe)], str(path), allocator=allocator, env=clean_env(),
                         stdout=subprocess.PIPE)
        assert r.returncode == 0
        t = trace.load(str(path))
        got = t.calls_by_function
        want = {"hak_alloc": 100, "hak_realloc_layout": 50, "hak_dealloc": 101,
                "hak_malloc": 1, "hak_alloc_zeroed": 1, "hak_realloc": 1, "hak_free": 1,
                "hak_aligned_alloc": 1, "hak_free_sized": 1}
        for fn, n in want.items():
            assert got.get(fn) == n, (allocator, fn, got)
        # the program's own standard calls, and libc's (stdio), but no hakmem-internal ones
        assert got.get("realloc") == 1 and got.get("malloc", 0) >= 1
        assert t.unknown_releases == 0
        # The linked hakmem served every call: the trace says so.
        assert t.malloc_library.endswith("libhakmem.so")
        res = trace.replay(str(path), allocators=["system", "hakmem"], repeat=1)
        for run in res.runs:
            assert run.errors == 0 and run.skipped_unknown == 0, run


PROGRAM = textwrap.dedent("""
    import ctypes, os, signal, sys
    libc = ctypes.CDLL(None)
    p = ctypes.c_void_p()
    for i in range(1000):
        libc.posix_memalign(ctypes.byref(p), 32, 100)
    how = sys.argv[1]
    if how == "exit":        # the program's handler ends it: an ordinary exit
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(5))
    else:                    # it cleans up, restores the default, and dies by the signal
        def h(*a):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        signal.signal(signal.SIGTERM, h)
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()
""")


@pytest.mark.parametrize("how,rc", [("exit", 5), ("reraise", 128 + signal.SIGTERM)])
def test_the_programs_own_signal_handlers(tmp_path, how, rc):
    path = tmp_path / ("%s.trace" % how)
    r = trace.record([sys.executable, "-c", PROGRAM, how], str(path), env=clean_env())
    assert r.returncode == rc
    t = trace.load(str(path))
    assert t.complete
    assert t.calls_by_function["posix_memalign"] == 1000


def test_record_replaces_only_trace_files(tmp_path):
    mine = tmp_path / "t.trace.1"
    mine.write_text("not a trace")
    path = tmp_path / "t.trace"
    first = trace.record(["/bin/true"], str(path), env=clean_env())
    assert first.returncode == 0 and first.main is not None
    stamp = first.main.header["start_realtime_ns"]
    again = trace.record(["/bin/true"], str(path), env=clean_env())
    assert again.main.header["start_realtime_ns"] > stamp  # a new recording, same name
    assert mine.read_text() == "not a trace"
    assert str(mine) not in trace.trace_files(str(path))
