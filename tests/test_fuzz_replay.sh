#!/bin/sh
# Replays the fuzz target over the seed corpus and every input that ever
# crashed it (tests/fuzz/regress/), against the debug library, with gcc: no
# clang needed, so every `make check` keeps old fuzz findings fixed.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
exec "$top_builddir/tests/fuzz/replay_fuzz" "$top_srcdir/tests/fuzz/corpus" "$top_srcdir/tests/fuzz/regress"
