#!/bin/sh
# Replays the fuzz target over the seed corpus and every input that ever
# crashed it (tests/fuzz/regress/), against the debug library, with gcc: no
# clang needed, so every `make check` keeps old fuzz findings fixed. A second
# pass runs with guarded sampling on every other slow-path allocation
# (HAKMEM_GUARD_SAMPLE=2), so the same inputs also drive the guarded pool:
# sampled blocks freed, reallocated across tiers, counted by usable size.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
set -e
"$top_builddir/tests/fuzz/replay_fuzz" "$top_srcdir/tests/fuzz/corpus" "$top_srcdir/tests/fuzz/regress"
echo "again with HAKMEM_GUARD_SAMPLE=2:"
HAKMEM_GUARD_SAMPLE=2 "$top_builddir/tests/fuzz/replay_fuzz" "$top_srcdir/tests/fuzz/corpus" "$top_srcdir/tests/fuzz/regress"
