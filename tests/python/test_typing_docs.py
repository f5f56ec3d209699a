"""The package as a typed, documented library: py.typed and mypy --strict
clean, a docstring on every public name, the Sphinx documentation builds
with warnings as errors (item 7)."""
import importlib
import inspect
import os
import subprocess
import sys

import pytest

import hakmem
from conftest import clean_env

PUBLIC_MODULES = ("hakmem", "hakmem.stress", "hakmem.bench", "hakmem.pymem", "hakmem._harness")


def test_py_typed_and_stubs_are_installed():
    here = os.path.dirname(hakmem.__file__)
    for f in ("py.typed", "_core.pyi", "_native.pyi"):
        assert os.path.isfile(os.path.join(here, f)), f


def test_mypy_strict_on_the_package(repo, tmp_path):
    pytest.importorskip("mypy")
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir",
                        str(tmp_path / "cache"), str(repo / "python" / "src" / "hakmem")],
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    assert p.returncode == 0, p.stdout
    assert "Success: no issues found" in p.stdout


def public_names():
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, v in vars(mod).items() if not n.startswith("_") and
                     (inspect.isfunction(v) or inspect.isclass(v)) and
                     getattr(v, "__module__", "") == modname]
        for name in names:
            yield modname, name, getattr(mod, name)


def test_every_public_name_has_a_docstring():
    missing = []
    for modname, name, obj in public_names():
        if inspect.ismodule(obj) or not (callable(obj) or isinstance(obj, type)):
            continue  # constants and submodules: documented where they are defined
        if name in ("ffi", "lib"):
            continue  # the cffi module itself
        if not (obj.__doc__ or "").strip():
            missing.append("%s.%s" % (modname, name))
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") or attr in getattr(obj, "__dataclass_fields__", {}):
                    continue
                fn = value.fget if isinstance(value, property) else \
                    value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if callable(fn) and not (fn.__doc__ or "").strip():
                    missing.append("%s.%s.%s" % (modname, name, attr))
    for mod in PUBLIC_MODULES:
        if not (importlib.import_module(mod).__doc__ or "").strip():
            missing.append(mod)
    assert not missing, missing


def test_public_functions_are_annotated():
    bare = []
    for modname, name, obj in public_names():
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            if sig.return_annotation is inspect.Signature.empty or any(
                    p.annotation is inspect.Parameter.empty for p in sig.parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)):
                bare.append("%s.%s" % (modname, name))
    assert not bare, bare


def test_sphinx_builds_without_warnings(repo, tmp_path):
    pytest.importorskip("sphinx")
    p = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        "-d", str(tmp_path / "doctrees"), str(repo / "docs" / "python"),
                        str(tmp_path / "html")],
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    assert p.returncode == 0, p.stdout
    api = (tmp_path / "html" / "api.html").read_text()
    assert "preload_library_path" in api and "usable_size" in api
    stress = (tmp_path / "html" / "stress.html").read_text()
    assert "max_memory" in stress and "live_bytes_bound" in stress
    assert "compare" in (tmp_path / "html" / "bench.html").read_text()
