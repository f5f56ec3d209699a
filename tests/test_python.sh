#!/bin/sh
# The Python package's pytest suites (tests/python/), as the README runs
# them: a virtual environment in the build tree, `pip install ./python[test]`
# from the source tree (which builds the C core and the cffi module), then
# pytest. The environment is kept, so the bindings' parity test can import
# the package, and is reused by the next run (the package is reinstalled).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
py=${PYTHON3:-python3}
venv=$top_builddir/.venv-test
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || { echo "cannot create a venv with $py (apt-get install python3-venv)"; exit 99; }
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
# pip builds in an isolated copy: it needs python/ with lib/ and include/ beside it.
if ! "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$top_srcdir/python" ||
    ! "$venv/bin/python" -m pip install -q "$top_srcdir/python[test]"; then
    echo "pip install ./python[test] failed"
    exit 99
fi
cd "$top_srcdir" || exit 99
exec "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
