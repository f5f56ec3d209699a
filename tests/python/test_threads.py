"""Many threads: the C kernels with threads, and Python threads passing
Blocks to each other (cross-thread frees through the package)."""
import gc
import os
import queue
import random
import subprocess
import sys
import threading
import time

import pytest

import hakmem
from hakmem import stress


@pytest.mark.parametrize("kernel", stress.KERNELS)
def test_kernels_with_four_threads(kernel):
    r = stress.run(kernel, threads=4, ops=200000, min_size=1, max_size=4096,
                   working_set=512, generations=8)
    assert r.ok, r.first_error
    assert r.frees == r.allocs and r.ops >= 200000


def test_kernels_leave_nothing_behind():
    gc.collect()
    before = hakmem.stats()["bytes_in_use"]
    stress.larson(threads=4, ops=200000, max_size=70000)
    stress.prodcons(threads=4, ops=20000, max_size=300000, fill="sparse")
    stress.realloc_chains(threads=3, ops=30000, max_size=500000, fill="sparse")
    # Worker threads exited: their caches went back; every block was freed.
    assert hakmem.stats()["bytes_in_use"] == before


def test_kernel_runs_beside_python_threads():
    # cffi releases the GIL: Python threads keep running during a C run.
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    r = stress.random_mixed(threads=2, duration=0.5)
    stop.set()
    t.join()
    assert r.ok
    assert len(ticks) >= 10


def test_python_threads_pass_blocks_across():
    """Producers fill Blocks with a pattern; consumers on other threads check
    and free them. Run twice as many threads as cores for real overlap."""
    nprod, ncons, per = 4, 4, 3000
    q = queue.Queue(maxsize=256)
    errors = []

    def produce(seed):
        rnd = random.Random(seed)
        for i in range(per):
            n = rnd.choice((rnd.randint(1, 1024),) * 8 + (rnd.randint(1024, 70000), 300000))
            b = hakmem.malloc(n) if i % 3 else hakmem.aligned_alloc(256, n)
            tag = bytes([(seed * 31 + i) % 255 + 1])
            memoryview(b)[:] = tag * n
            q.put((b, tag, threading.get_ident()), timeout=60)
        q.put(None, timeout=60)

    def consume():
        while True:
            item = q.get(timeout=60)
            if item is None:
                return
            b, tag, producer = item
            try:  # a failure is recorded, and the consumer goes on draining the queue
                assert producer != threading.get_ident()
                assert bytes(b) == tag * b.size
                assert hakmem.owns(b)
                b.free()
            except Exception as e:
                errors.append(e)

    threads = [threading.Thread(target=produce, args=(s,)) for s in range(nprod)]
    threads += [threading.Thread(target=consume) for _ in range(ncons)]
    gc.collect()
    before = hakmem.stats()["bytes_in_use"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a thread is stuck"
    assert not errors, errors[:3]
    if any(d["hooked"] for d in hakmem.pymem.info().values()):
        # An earlier test routed CPython's own objects through hakmem: its
        # statistics count them too, so the accounting check below would
        # measure the interpreter. It runs in a fresh one instead.
        _check_accounting_in_fresh_interpreter()
        return
    _wait_exited(threads)
    assert hakmem.stats()["bytes_in_use"] == before


def _wait_exited(threads):
    # Thread.join() returns before the OS thread has run its TLS destructors
    # (where hakmem takes back the thread's cache), and until then the
    # figures are off either way: a reading equal to the one before proves
    # nothing (the per-class figures are clamped at 0, which hides a
    # thread's part), and the next reading can catch a thread halfway
    # through giving its cache back. So wait until the OS threads are gone:
    # Linux drops /proc/self/task/<tid> only after their destructors ran.
    ids = {t.native_id for t in threads}
    deadline = time.monotonic() + 5
    while ids & {int(tid) for tid in os.listdir("/proc/self/task")}:
        assert time.monotonic() < deadline, "a thread did not exit"
        time.sleep(0.01)


def _check_accounting_in_fresh_interpreter():
    code = '''
import os, queue, threading, time, hakmem
q = queue.Queue(maxsize=256)
def produce(seed):
    for i in range(3000):
        n = (seed * 7919 + i * 104729) % 70000 + 1
        b = hakmem.malloc(n) if i % 3 else hakmem.aligned_alloc(256, n)
        q.put(b)
    q.put(None)
def consume():
    while True:
        b = q.get()
        if b is None:
            return
        b.free()
before = hakmem.stats()["bytes_in_use"]
ts = [threading.Thread(target=produce, args=(s,)) for s in range(4)]
ts += [threading.Thread(target=consume) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
ids = {t.native_id for t in ts}  # gone from /proc once their destructors ran
deadline = time.monotonic() + 5
while ids & {int(i) for i in os.listdir("/proc/self/task")} and time.monotonic() < deadline:
    time.sleep(0.01)
print(hakmem.stats()["bytes_in_use"] - before)
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stdout + out.stderr


def test_many_short_lived_threads():
    """Threads that allocate, free and exit: their caches must go back, so
    committed memory stays bounded."""
    def churn():
        bs = [hakmem.malloc(64 + i) for i in range(200)]
        for b in bs:
            b.free()

    for _ in range(3):  # warm up: spans exist
        t = threading.Thread(target=churn)
        t.start()
        t.join()
    committed = hakmem.stats()["bytes_committed"]
    for _ in range(300):
        t = threading.Thread(target=churn)
        t.start()
        t.join()
    assert hakmem.stats()["bytes_committed"] <= committed + (4 << 20)


def test_fork_while_threads_allocate():
    """A child forked while other threads allocate must be able to allocate
    (the library takes its locks around fork)."""
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            # 99 Blocks, freed when the list is dropped at the end of the line
            [hakmem.malloc(i * 16) for i in range(1, 100)]

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                ok = False
                try:
                    b = hakmem.malloc(1000)
                    memoryview(b)[:] = b"z" * 1000
                    ok = bytes(b) == b"z" * 1000 and stress.random_mixed(ops=2000).ok
                finally:
                    os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
