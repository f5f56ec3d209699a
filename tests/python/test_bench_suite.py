"""make bench's side of the benchmark suite: bench/run.sh and contenders.sh,
and that `make bench` and `python -m hakmem bench` are one benchmark (the
same workloads from one list, the same report and chart)."""
import json
import os
import re
import stat
import subprocess
import sys

import pytest

from hakmem import _harness, bench
from conftest import clean_env


def test_contenders_survive_a_reader_that_leaves_early(repo, tmp_path):
    """Item 1: `ldconfig -p | awk '...; exit'` under `set -o pipefail` ended
    make bench with status 141 (SIGPIPE) and no word. A fake ldconfig that
    prints the match first and then a long cache makes that certain."""
    fake = tmp_path / "bin"
    fake.mkdir()
    lib = tmp_path / "libmimalloc.so.2"
    lib.write_bytes(b"")
    script = fake / "ldconfig"
    script.write_text("#!/bin/sh\n"
                      "printf '\\tlibmimalloc.so.2 (libc6,x86-64) => %s\\n'\n"
                      "i=0; while [ $i -lt 4000 ]; do\n"
                      "  printf '\\tlibpadding%%d.so.1 (libc6,x86-64) => /lib/x%%d.so.1\\n' $i $i\n"
                      "  i=$((i + 1)); done\n" % lib)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    p = subprocess.run(
        ["bash", "-c", "set -euo pipefail; . bench/contenders.sh; bench_discover /nonexistent; "
         "echo \"contenders: ${CONTENDERS[*]} mimalloc=${CONTENDER_LIB[mimalloc]}\"; "
         "bench_field allocator 'a=1 allocator=/x/y b=2'"],
        cwd=str(repo), env=clean_env(PATH="%s:%s" % (fake, os.environ["PATH"])),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "contenders: system mimalloc mimalloc=%s" % lib in p.stdout
    assert p.stdout.splitlines()[-1] == "/x/y"


def run_sh(repo, builddir, *args, timeout=300):
    env = clean_env(BUILDDIR=str(builddir), PYTHON=sys.executable)
    return subprocess.run(["sh", str(repo / "bench" / "run.sh")] + list(args), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def test_one_list_for_both_front_ends(repo):
    # --list needs no build: it is the definition itself.
    p = run_sh(repo, repo, "--list")
    assert p.returncode == 0, p.stderr
    q = subprocess.run([sys.executable, "-m", "hakmem", "bench", "--list"], env=clean_env(),
                       stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert p.stdout == q.stdout == _harness.list_text(_harness.suite())
    # The harness make bench runs is the very file the package carries.
    with open(repo / "python" / "src" / "hakmem" / "_harness.py") as f, \
            open(_harness.__file__) as g:
        assert f.read() == g.read()


def test_every_program_of_the_suite_is_built_by_make(repo):
    """Adding a workload with a new program: the suite names it, suite.mk
    (or Makefile.am) builds it for make bench, the package builds it from
    the suite. Nothing else lists the programs."""
    mk = (repo / "bench" / "suite.mk").read_text() + (repo / "Makefile.am").read_text()
    built = set(re.findall(r"bench/(bench_\w+)", mk))
    for w in _harness.suite():
        assert w.program in built, w.program


def table_rows(md, section):
    part = md.split("## " + section)[1].split("\n## ")[0]
    return [ln.split(" | ")[0][2:] for ln in part.splitlines() if ln.startswith("| ")]


def test_make_bench_and_python_bench_write_the_same_report(repo, builddir, tmp_path):
    pytest.importorskip("matplotlib")
    make_out, py_out = tmp_path / "make", tmp_path / "py"
    p = run_sh(repo, builddir, "--smoke", "--allocators", "system,hakmem", "--out",
               str(make_out), "--no-progress")
    assert p.returncode == 0, p.stdout + p.stderr
    q = subprocess.run([sys.executable, "-m", "hakmem", "bench", "--smoke", "--allocators",
                        "system,hakmem", "--out", str(py_out), "--no-progress"],
                       env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert q.returncode == 0, q.stdout + q.stderr
    mk, py = (make_out / "bench.md").read_text(), (py_out / "bench.md").read_text()
    for section in ("Throughput", "Peak RSS"):
        assert table_rows(mk, section) == table_rows(py, section)
        assert table_rows(mk, section)[1:-1] == list(bench.PRESETS)
    assert "- build dir: %s" % builddir in mk and "- python package: " in py
    jm = json.loads((make_out / "bench.json").read_text())
    jp = json.loads((py_out / "bench.json").read_text())
    assert jm["workloads"] == jp["workloads"]
    assert os.path.samefile(jm["allocators"]["hakmem"],
                            os.path.join(str(builddir), ".libs", "libhakmem.so"))
    for d in (make_out, py_out):
        assert (d / "bench.png").read_bytes()[:4] == b"\x89PNG"
        assert (d / "bench.csv").read_text().count("\n") == 1 + len(jm["runs"])


def test_run_sh_refuses_unknown_allocators_and_workloads(repo):
    p = run_sh(repo, repo, "--smoke", "--allocators", "system,nosuchalloc")
    assert p.returncode == 2 and "unknown allocator 'nosuchalloc'" in p.stderr
    p = run_sh(repo, repo, "--smoke", "--workloads", "nosuchload")
    assert p.returncode == 2 and "unknown workload 'nosuchload'" in p.stderr


def test_bench_readme_lists_the_suite(repo):
    text = (repo / "bench" / "README.md").read_text()
    table = text.split("| workload | program and arguments (full run) | what it exercises |")[1]
    for w in _harness.suite():
        family = w.name.split("/")[0]
        assert "| %s" % family in table and "`%s " % w.program in table, w.name
