"""Shared fixtures of the hakmem Python suites.

They test the installed package (pip install ./python), never python/src:
run them as the README says,
    python3 -m venv .venv && .venv/bin/pip install './python[test]'
    .venv/bin/python -m pytest tests/python -q

Markers: ``bench`` (the long allocator comparison) is deselected unless -m
names it; ``slow`` (builds and fresh virtual environments) runs by default.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: the long allocator comparison (pytest -m bench)")
    config.addinivalue_line("markers", "slow: builds a wheel or a C extension (runs by default)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("markexpr"):
        return  # the user chose with -m
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("bench") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def builddir(repo):
    """The autotools build tree (make check exports top_builddir), with the
    benchmark programs of make bench built; else skip."""
    d = Path(os.environ.get("top_builddir") or repo)
    if not (d / "bench" / "bench_pair").is_file() or not (d / ".libs" / "libhakmem.so").exists():
        pytest.skip("no build tree with bench/bench_pair and .libs/libhakmem.so")
    return d


@pytest.fixture(scope="session")
def buggy_libs(tmp_path_factory):
    """Two broken allocators for the harness's tests (data/buggy_alloc.c):
    (misaligned, misaligned and realloc aborts)."""
    cc = os.environ.get("CC", "cc")
    src = Path(__file__).parent / "data" / "buggy_alloc.c"
    d = tmp_path_factory.mktemp("buggy")
    out = []
    for name, flags in (("libbuggy.so", []), ("libbuggy_realloc.so", ["-DBUGGY_REALLOC_ABORTS"])):
        lib = d / name
        subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)] + flags,
                       check=True)
        out.append(str(lib))
    return tuple(out)


@pytest.fixture(scope="session")
def repo():
    """The source tree (python/, lib/, include/), or skip."""
    if not (REPO / "python" / "setup.py").is_file() or not (REPO / "lib" / "hakmem.c").is_file():
        pytest.skip("not run from a hakmem source tree")
    return REPO


def clean_env(**extra):
    """The environment without anything that would change which allocator a
    child uses or what hakmem counts, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HAKMEM_") and k not in ("LD_PRELOAD", "PYTHONMALLOC")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code, env=None, timeout=120, check=True, cwd=None):
    """Runs code (dedented) in a fresh interpreter of this venv."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                       env=clean_env() if env is None else env, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("child failed (%d)\n--- stdout\n%s\n--- stderr\n%s"
                             % (p.returncode, p.stdout, p.stderr))
    return p
