"""Installing: an sdist made from a copy of just python/, lib/, include/ and
bench/ (no autotools output), a wheel built from that sdist after the source
tree is gone (repaired to its manylinux tag), and that wheel installed into a
fresh virtual environment elsewhere, where the package must work on its own;
the C-extension example built in pip's isolated build with that wheel.

It needs the network (or a pip cache) for the isolated build's setuptools
and cffi and for the fresh venv's cffi, as any pip install does.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

from conftest import clean_env

pytestmark = pytest.mark.slow

# What a build leaves in python/ (see python/.gitignore); none of it may be needed.
BUILD_OUTPUTS = {"build", "dist", "csrc", ".venv", "src/hakmem/lib", "src/hakmem/bin",
                 "src/hakmem/include/hakmem.h", "src/hakmem/_native.c"}


def ignore_build_outputs(root):
    def ignore(d, names):
        rel = os.path.relpath(d, root)
        out = set()
        for n in names:
            path = os.path.normpath(os.path.join(rel, n))
            if (path in BUILD_OUTPUTS or n == "__pycache__" or n.endswith(".egg-info")
                    or n.endswith((".so", ".o"))):
                out.add(n)
        return out
    return ignore


def sh(args, cwd=None, env=None, timeout=600):
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout)
    assert p.returncode == 0, "%s failed:\n%s" % (" ".join(map(str, args)), p.stdout[-6000:])
    return p.stdout


def copy_minimal_tree(repo, dest):
    """python/ as committed, lib/*.c *.h, include/hakmem.h, trace/*.c *.h: nothing else."""
    shutil.copytree(repo / "python", dest / "python",
                    ignore=ignore_build_outputs(str(repo / "python")))
    (dest / "lib").mkdir()
    for f in os.listdir(repo / "lib"):
        if f.endswith((".c", ".h")):
            shutil.copy2(repo / "lib" / f, dest / "lib" / f)
    (dest / "include").mkdir()
    shutil.copy2(repo / "include" / "hakmem.h", dest / "include" / "hakmem.h")
    (dest / "trace").mkdir()  # the recorder and hakmem-replay (hakmem_trace_build.py)
    for f in os.listdir(repo / "trace"):
        if f.endswith((".c", ".h")):
            shutil.copy2(repo / "trace" / f, dest / "trace" / f)
    (dest / "bench").mkdir()
    for f in os.listdir(repo / "bench"):
        if f.startswith("bench_") and f.endswith((".c", ".h", ".py")):
            shutil.copy2(repo / "bench" / f, dest / "bench" / f)


CHECK = r"""
import ctypes, os, subprocess, sys, hakmem
venv = sys.argv[1]
here = os.path.realpath(hakmem.__file__)
assert here.startswith(os.path.realpath(venv)), here
assert os.path.realpath(hakmem.library_path()).startswith(os.path.realpath(venv))
b = hakmem.malloc(64)
m = memoryview(b)
m[:5] = b"hello"
assert bytes(b)[:5] == b"hello"
assert ctypes.CDLL(hakmem.library_path()).hak_owns(ctypes.c_void_p(b.address)) == 1
m.release()
b.free()
r = hakmem.stress.larson(threads=2, ops=50000)
assert r.ok, r.first_error
r = hakmem.stress.random_mixed(ops=50000, allocator="hakmem")
assert r.ok and os.path.samefile(r.allocator, hakmem.preload_library_path())
env = dict(os.environ, LD_PRELOAD=hakmem.preload_library_path(), PYTHONMALLOC="malloc")
out = subprocess.run([sys.executable, "-c", "import hakmem; print(hakmem.is_active())"],
                     env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
assert out.strip() == "True", out
os.environ["BENCH_PYTHON"] = sys.executable  # hakmem-pymem imports this package
res = hakmem.bench.compare(["pair/64", "cpython/mixed"], ["system", "hakmem", "hakmem-pymem"],
                           smoke=True)
# hakmem-pymem runs the cpython family only: 2 + 3 runs.
assert res.hakmem_ok and len(res.runs) == 5, res.to_markdown()
assert all(r.ok for r in res.runs), res.to_markdown()
assert [r.allocator for r in res.runs if r.workload == "pair/64"].count("hakmem-pymem") == 0
print("installed ok", hakmem.__version__)
"""


@pytest.fixture(scope="module")
def built(repo, tmp_path_factory):
    """(sdist, wheel) made without the source tree: the sdist from a copy of
    python/, lib/, include/ and bench/, then the source tree removed and the
    wheel built from the sdist alone by python/build_wheel.py (repaired to
    its manylinux tag when auditwheel is installed)."""
    pytest.importorskip("setuptools")  # to make the sdist with this venv
    tmp = tmp_path_factory.mktemp("install")
    tree = tmp / "tree"
    copy_minimal_tree(repo, tree)
    sh([sys.executable, "setup.py", "-q", "sdist", "-d", tmp / "sdist"], cwd=tree / "python")
    (sdist,) = (tmp / "sdist").iterdir()
    builder = tmp / "build_wheel.py"
    shutil.copy2(str(tree / "python" / "build_wheel.py"), str(builder))
    shutil.rmtree(tree)  # from here on there is no source tree
    env = clean_env(HAKMEM_WERROR=1)  # the C must build without a warning
    out = sh([sys.executable, builder, "-w", tmp / "wheels", sdist], env=env, cwd=tmp)
    (wheel,) = (tmp / "wheels").glob("hakmem-*.whl")
    assert out.strip().endswith(wheel.name)
    return tmp, sdist, wheel


def test_sdist_carries_the_c_sources_and_the_licence(built):
    _, sdist, _ = built
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        info = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO")))
        pkg_info = info.read().decode()
    for need in ("csrc/lib/hakmem.c", "csrc/lib/wrap.c", "csrc/include/hakmem.h",
                 "csrc/bench/bench_pair.c", "csrc/bench/bench_common.h",
                 "csrc/bench/bench_cpython.py", "src/csrc/stress.c", "src/bindings/build.py",
                 "src/bindings/stress.h", "hakmem_build.py", "src/hakmem/include/hakmem_capi.h",
                 "src/hakmem/_harness.py", "src/hakmem/py.typed", "src/hakmem/_core.pyi",
                 "LICENSE", "README.md", "build_wheel.py",
                 "csrc/trace/recorder.c", "csrc/trace/format.h", "hakmem_trace_build.py"):
        assert need in names, need
    assert "License: MIT" in pkg_info or "License-Expression: MIT" in pkg_info
    # The package description stands alone: no link into a source tree it has left.
    readme = pkg_info.split("\n\n", 1)[1]
    assert "](../" not in readme and "](./" not in readme


def test_license_files_agree(repo):
    assert (repo / "LICENSE").read_text() == (repo / "python" / "LICENSE").read_text()
    assert (repo / "LICENSE").read_text().startswith("MIT License")


def test_wheel_contents_metadata_and_tag(built):
    _, _, wheel = built
    with zipfile.ZipFile(str(wheel)) as z:
        infos = {i.filename: i for i in z.infolist()}
        meta = z.read(next(n for n in infos if n.endswith(".dist-info/METADATA"))).decode()
        tags = z.read(next(n for n in infos if n.endswith(".dist-info/WHEEL"))).decode()
    for need in ("hakmem/lib/libhakmem.so", "hakmem/lib/libhakmem_api.so",
                 "hakmem/lib/libhakmem_api_dyn.so", "hakmem/include/hakmem.h", "hakmem/include/hakmem_capi.h",
                 "hakmem/bin/hakmem-stress", "hakmem/bin/bench_pair", "hakmem/bin/bench_cpython",
                 "hakmem/bin/bench_cpython.py", "hakmem/py.typed", "hakmem/_core.pyi",
                 "hakmem/_harness.py", "hakmem/lib/libhakmem_trace.so", "hakmem/bin/hakmem-replay"):
        assert need in infos, need
    for exe in ("hakmem/bin/hakmem-stress", "hakmem/bin/bench_pair"):
        assert (infos[exe].external_attr >> 16) & 0o111, exe
    assert any(n.startswith("hakmem/_core.") for n in infos)
    assert any(n.startswith("hakmem/_native.") for n in infos)
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in infos)
    assert "License: MIT" in meta or "License-Expression: MIT" in meta
    try:
        import auditwheel  # noqa: F401
    except ImportError:
        assert "-linux_" in wheel.name
        pytest.skip("auditwheel is not installed: the wheel keeps its linux_ tag")
    # Item 6: repaired to a manylinux tag that auditwheel itself accepts.
    assert "manylinux_" in wheel.name and "Tag: " in tags and "manylinux_" in tags
    env = clean_env(PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    out = sh([sys.executable, "-m", "auditwheel", "show", wheel], env=env)
    assert re.search(r'consistent\s+with\s+the\s+following\s+platform\s+tag:\s*"manylinux_', out), out


def test_wheel_works_in_a_fresh_venv_elsewhere(built):
    tmp, _, wheel = built
    venv = tmp / "elsewhere" / "venv"
    sh([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    sh([py, "-m", "pip", "install", "-q", wheel], cwd=tmp)
    out = sh([py, "-c", textwrap.dedent(CHECK), venv], cwd=tmp / "elsewhere")
    assert "installed ok" in out
    out = sh([venv / "bin" / "hakmem", "info"], cwd=tmp)
    assert str(venv) in out
    runner = venv / "lib"
    assert "hakmem-stress kernel=aligned" in sh(
        [next(runner.glob("python*/site-packages/hakmem/bin/hakmem-stress")), "aligned",
         "ops=20000"])


def test_c_extension_isolated_build_finds_hakmem_with_find_links(repo, built):
    """Item 6: under pip's build isolation the demo's setup.py cannot import
    hakmem unless the build can install it: --find-links gives it the wheel."""
    tmp, _, wheel = built
    site = tmp / "demo-site"
    sh([sys.executable, "-m", "pip", "install", "-q", "--find-links", wheel.parent, "--no-deps",
        "--target", site, repo / "examples" / "c_extension"], cwd=tmp)
    p = subprocess.run([sys.executable, "-c", "import demo_capsule, demo_linked, hakmem; "
                        "p = demo_capsule.alloc(64); assert hakmem.owns(p); "
                        "demo_capsule.release(p); print('ok')"],
                       env=clean_env(PYTHONPATH=str(site)), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert p.stdout.strip() == "ok", p.stdout
