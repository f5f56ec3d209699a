#!/bin/sh
# run.sh: the harness behind `make bench` (and `make bench-quick`).
#
#   bench/run.sh [--quick | --smoke] [--rounds N] [--workloads A,B] [--only REGEX]
#                [--allocators A,B] [--cpu] [--out DIR] [--csv F] [--json F] [--png F]
#                [--list] [--no-progress]
#   environment: BUILDDIR (default .): holds bench/bench_* and .libs/libhakmem.so;
#                HAKMEM_BENCH_LIB: measure this libhakmem.so instead of BUILDDIR's;
#                HAKMEM_BENCH_PYMEM: the directory holding a built hakmem package, for
#                the hakmem-pymem contender of cpython/* (default: the one python3 imports);
#                PYTHON: the Python 3 to run the harness with (default python3)
#
# The suite, the runs, the report and the chart are defined once, in
# python/src/hakmem/_harness.py, which `python -m hakmem bench` uses too: this
# script runs that file with the build tree's programs and library (standard
# library only; matplotlib, in this or a system python3, draws the chart).
# See bench/README.md.
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../python/src/hakmem/_harness.py
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
    echo "bench/run.sh: $py not found: the harness needs Python 3 (apt-get install python3)" >&2
    exit 2
fi
exec "$py" "$harness" "$@"
