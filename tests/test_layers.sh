#!/bin/sh
# The layering of lib/ (tests/test_layers.py says what is checked).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export top_srcdir
exec "${PYTHON3:-python3}" "$top_srcdir/tests/test_layers.py"
