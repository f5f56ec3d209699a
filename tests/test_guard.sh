#!/bin/sh
# Guarded sampling (HAKMEM_GUARD_SAMPLE=1: every allocation of up to 16 KiB
# is sampled): a one-byte overflow is reported at free, an overflow into the
# guard page and a use after free fault at once and are reported with the
# block's size, and ordinary work runs clean. Release and debug libraries.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
prog=$top_builddir/tests/guard_prog
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# $1 library, $2 case, $3 expected signal (0: a clean exit), $4 text the report must contain
check() {
    ( ulimit -c 0; HAKMEM_GUARD_SAMPLE=1 LD_PRELOAD=$1 "$prog" "$2" ) >"$tmp/out" 2>"$tmp/err"
    rc=$?
    want=$(( $3 == 0 ? 0 : 128 + $3 ))
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$4" "$tmp/err" "$tmp/out"; then
        echo "FAIL $(basename "$1") $2: exit $rc (wanted $want), no '$4' in:"
        sed 's/^/  /' "$tmp/err" "$tmp/out"
        fail=1
    else
        echo "ok   $(basename "$1") $2: exit $rc; $(head -n 1 "$tmp/err")"
    fi
}
for lib in "$HAKMEM_LIB" "$HAKMEM_LIB_DEBUG"; do
    check "$lib" overflow1 6 "overflow past the end of a 100-byte block"
    check "$lib" overflow16 11 "overflow of 1 bytes past the end at"
    check "$lib" overflow16 11 "of a 112-byte block"
    check "$lib" uaf 11 "use after free at"
    check "$lib" uaf 11 "of a 100-byte block"
    check "$lib" churn 0 "survived"
done
# The misuse table's guarded column (README "Bad input"): every case of
# tests/test_misuse with every allocation up to 16 KiB guarded (release).
if ( ulimit -c 0; HAKMEM_GUARD_SAMPLE=1 "$top_builddir/tests/test_misuse" ) >"$tmp/misuse" 2>&1; then
    echo "ok   test_misuse with HAKMEM_GUARD_SAMPLE=1: $(tail -n 1 "$tmp/misuse")"
else
    echo "FAIL test_misuse with HAKMEM_GUARD_SAMPLE=1:"
    sed 's/^/  /' "$tmp/misuse"
    fail=1
fi
exit $fail
