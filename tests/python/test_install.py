"""Installing: an sdist made from a copy of just python/, lib/ and include/
(no autotools output), a wheel built from that sdist after the source tree is
gone, and that wheel installed into a fresh virtual environment elsewhere,
where the package must work on its own.

It needs the network (or a pip cache) for the isolated build's setuptools
and cffi and for the fresh venv's cffi, as any pip install does.
"""
import os
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


CHECK = r"""
import os, subprocess, sys, hakmem
venv = sys.argv[1]
here = os.path.realpath(hakmem.__file__)
assert here.startswith(os.path.realpath(venv)), here
assert os.path.realpath(hakmem.loaded_library()).startswith(os.path.realpath(venv))
b = hakmem.malloc(64)
m = memoryview(b)
m[:5] = b"hello"
assert bytes(b)[:5] == b"hello"
m.release()
b.free()
r = hakmem.stress.larson(threads=2, ops=50000)
assert r.ok, r.first_error
r = hakmem.stress.random_mixed(ops=50000, allocator="hakmem")
assert r.ok and os.path.samefile(r.allocator, hakmem.library_path())
env = dict(os.environ, LD_PRELOAD=hakmem.library_path(), PYTHONMALLOC="malloc")
out = subprocess.run([sys.executable, "-c", "import hakmem; print(hakmem.is_active())"],
                     env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
assert out.strip() == "True", out
print("installed ok", hakmem.__version__)
"""


def test_sdist_and_wheel_work_without_the_source_tree(repo, tmp_path):
    pytest.importorskip("setuptools")  # to make the sdist with this venv
    tree = tmp_path / "tree"
    copy_minimal_tree(repo, tree)
    sh([sys.executable, "setup.py", "-q", "sdist", "-d", tmp_path / "sdist"], cwd=tree / "python")
    (sdist,) = (tmp_path / "sdist").iterdir()
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for need in ("csrc/lib/hakmem.c", "csrc/lib/wrap.c", "csrc/include/hakmem.h",
                 "src/csrc/stress.c", "src/bindings/build.py", "src/bindings/stress.h",
                 "hakmem_build.py", "src/hakmem/include/hakmem_capi.h",
                 "csrc/trace/recorder.c", "csrc/trace/format.h", "hakmem_trace_build.py"):
        assert need in names, need
    shutil.rmtree(tree)  # from here on there is no source tree

    env = clean_env(HAKMEM_WERROR=1)  # the C must build without a warning
    sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "wheels", sdist],
       env=env, cwd=tmp_path)
    (wheel,) = (tmp_path / "wheels").glob("hakmem-*.whl")
    with zipfile.ZipFile(wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
    for need in ("hakmem/lib/libhakmem.so", "hakmem/lib/libhakmem_api.so",
                 "hakmem/include/hakmem.h", "hakmem/include/hakmem_capi.h",
                 "hakmem/bin/hakmem-stress", "hakmem/lib/libhakmem_trace.so",
                 "hakmem/bin/hakmem-replay"):
        assert need in infos, need
    assert (infos["hakmem/bin/hakmem-stress"].external_attr >> 16) & 0o111
    assert any(n.startswith("hakmem/_core.") for n in infos)
    assert any(n.startswith("hakmem/_native.") for n in infos)

    venv = tmp_path / "elsewhere" / "venv"
    sh([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    sh([py, "-m", "pip", "install", "-q", wheel], cwd=tmp_path)
    out = sh([py, "-c", textwrap.dedent(CHECK), venv], cwd=tmp_path / "elsewhere")
    assert "installed ok" in out
    out = sh([venv / "bin" / "hakmem", "info"], cwd=tmp_path)
    assert str(venv) in out
    runner = venv / "lib"
    assert "hakmem-stress kernel=aligned" in sh(
        [next(runner.glob("python*/site-packages/hakmem/bin/hakmem-stress")), "aligned",
         "ops=20000"])
