"""python -m hakmem as a command-line tool (item 5): --version, a reader
that goes away, help texts with defaults, names checked, no option silently
ignored, errors as one line instead of a traceback."""
import subprocess
import sys

import pytest

import hakmem
from conftest import clean_env


def cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "hakmem"] + list(args),
                          env=env or clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def test_version():
    p = cli("--version")
    assert p.returncode == 0 and p.stdout == "hakmem %s\n" % hakmem.__version__


def test_a_reader_that_goes_away_is_no_traceback():
    # hakmem info | head -2: the pipe closes while info still writes.
    p = subprocess.run("%s -m hakmem info | head -2; echo \"status=${PIPESTATUS[0]}\""
                       % sys.executable, shell=True, executable="/bin/bash", env=clean_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=60)
    assert p.stdout.startswith("hakmem %s\n" % hakmem.__version__)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
    assert p.stderr == ""
    assert p.stdout.splitlines()[-1] in ("status=0", "status=141")


def test_stress_help_names_every_option_with_its_default():
    p = cli("stress", "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    for opt, default in (("--min-size", "16"), ("--max-size", "1024"), ("--working-set", "1024"),
                         ("--seed", "42"), ("--max-align", "4096"), ("--generations", "4"),
                         ("--fill", "full")):
        assert opt in text and "(default: %s)" % default in text.split(opt, 2)[-1], opt
    for opt in ("--threads", "--ops", "--duration", "--allocator", "--routes", "--max-memory"):
        i = text.index(opt, text.index("options:"))
        assert len(text[i:].split("--")[1].strip()) > len(opt), opt   # a help text follows


@pytest.mark.parametrize("cmd", [["bench", "--smoke", "--allocators", "system,nosuchalloc"],
                                 ["stress", "larson", "--ops", "1000", "--allocator",
                                  "nosuchalloc"]])
def test_unknown_allocator_is_an_error(cmd):
    p = cli(*cmd)
    assert p.returncode == 2
    assert "unknown allocator 'nosuchalloc'" in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == ""


def test_routes_under_another_allocator_is_an_error():
    p = cli("stress", "larson", "--ops", "1000", "--allocator", "system", "--routes")
    assert p.returncode == 2 and "--routes counts hakmem's free routes" in p.stderr


def test_routes_in_process_are_counted_not_dropped():
    # This process's hakmem started without route counting: the CLI runs the
    # kernel in hakmem-stress with hakmem preloaded, and says so.
    p = cli("stress", "larson", "--threads", "2", "--ops", "20000", "--routes")
    assert p.returncode == 0, p.stderr
    assert "routes: tiny_fast=" in p.stdout and "counting routes in hakmem-stress" in p.stderr


def test_errors_are_one_line_not_a_traceback(tmp_path):
    for args in (["stress", "random_mixed", "--max-size", "99999999999999"],
                 ["stress", "prodcons", "--threads", "3", "--ops", "1000"],
                 ["replay", str(tmp_path / "nonexistent")]):
        p = cli(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_bench_help_says_what_it_runs():
    p = cli("bench", "--help")
    text = " ".join(p.stdout.split())
    for opt in ("--quick", "--smoke", "--rounds", "--workloads", "--allocators", "--out",
                "--list", "--no-progress", "--cpu"):
        assert opt in text, opt
    assert "make bench" in text and "(default: system,hakmem,mimalloc,jemalloc,tcmalloc,hakmem-pymem)" in text
