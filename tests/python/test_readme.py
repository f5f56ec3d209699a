"""The README's Python section, run as written.

Every fenced block of the section runs in order in one scratch directory:
``sh`` blocks with bash (this venv's python first in PATH), ``python`` blocks
with this venv's python. A block after ``<!-- file: NAME -->`` is written to
NAME instead; a block after ``<!-- not run ... -->`` is skipped (the install
lines, which CI itself runs).
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import clean_env

pytestmark = pytest.mark.slow


def python_section(readme):
    text = readme.read_text()
    start = text.index("\n## Python\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def blocks(section):
    """(directive, language, body) for each fenced block, in order."""
    pattern = re.compile(r"(?:<!--\s*(.*?)\s*-->\n)?```(\w+)\n(.*?)\n```", re.S)
    return [(m.group(1) or "", m.group(2), m.group(3)) for m in pattern.finditer(section)]


def test_readme_python_examples(repo, tmp_path):
    found = blocks(python_section(repo / "README.md"))
    assert len(found) >= 8
    env = clean_env(PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    ran = 0
    for directive, lang, body in found:
        if directive.startswith("not run"):
            continue
        if directive.startswith("file:"):
            path = tmp_path / directive.split(":", 1)[1].strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body + "\n")
            continue
        if lang == "python":
            args = [sys.executable, "-c", body]
        elif lang == "sh":
            args = ["bash", "-euo", "pipefail", "-c", body]
        else:
            raise AssertionError("a %s block with no file: directive" % lang)
        p = subprocess.run(args, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        assert p.returncode == 0, "README block failed:\n%s\n--- output\n%s" % (body, p.stdout)
        assert p.stdout.strip(), "README block printed nothing:\n%s" % body
        ran += 1
    assert ran >= 7
    assert (tmp_path / "trace.bin").read_bytes()[:8] == b"HAKTRACE"
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
