"""examples/: every script runs as written (each prints something and exits
0), and the C extension builds with a modern pyproject.toml build."""
import os
import subprocess
import sys

import pytest

from conftest import REPO, clean_env

SCRIPTS = sorted(p.name for p in (REPO / "examples").glob("*.py")) \
    if (REPO / "examples").is_dir() else []


def test_there_are_examples():
    assert len(SCRIPTS) >= 5, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(repo, script, tmp_path):
    p = subprocess.run([sys.executable, str(repo / "examples" / script)], cwd=str(tmp_path),
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip(), script
    assert "Traceback" not in p.stderr, p.stderr


SHARED = r"""
import hakmem, demo_capsule, demo_linked
for mod in (demo_capsule, demo_linked):
    p = mod.alloc(64)
    assert hakmem.owns(p), mod
    mod.release(p)
print("both ways:", hakmem.library_path())
"""


@pytest.mark.slow
def test_c_extension_builds_without_build_isolation(repo, tmp_path):
    """Item 6: the C-extension route with a pyproject.toml build: pip's
    build isolation has no hakmem unless asked; --no-build-isolation uses the
    one installed here."""
    pytest.importorskip("setuptools")
    site = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                        "--no-deps", "--target", str(site), str(repo / "examples" / "c_extension")],
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    assert p.returncode == 0, p.stdout
    p = subprocess.run([sys.executable, "-c", SHARED], env=clean_env(PYTHONPATH=str(site)),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("both ways: ")


def test_readme_c_extension_is_the_example(repo):
    """The README's demo files are examples/c_extension's, word for word."""
    import re
    text = (repo / "README.md").read_text()
    for name in ("demo.c", "setup.py", "pyproject.toml"):
        m = re.search(r"<!-- file: demo/%s -->\n```\w+\n(.*?)\n```" % re.escape(name), text, re.S)
        assert m, name
        assert m.group(1) + "\n" == (repo / "examples" / "c_extension" / name).read_text(), name
