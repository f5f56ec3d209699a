#!/bin/sh
# test_route.sh: the tiny free fast path is the one actually taken.
#
# Runs bench/bench_random_mixed (sizes 16..1024: all tiny) under
# LD_PRELOAD=$HAKMEM_LIB with HAKMEM_FREE_ROUTE_TRACE=1 and reads the route
# report the library prints to stderr at exit:
#     hakmem: route tiny_fast 123456 (99.1%)
#     ...
#     hakmem: route tiny_frees 124000
# Fails unless tiny_fast / tiny_frees >= 0.99 (the original hakmem sent 100%
# of its frees down the slow lookup for weeks without anyone noticing).
# Also checks that without the variable the library prints nothing.
#
# Run from `make check`, or by hand: top_builddir=$PWD sh tests/test_route.sh
# Exit: 0 pass, 1 fail, 77 skip (bench not built), 99 setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(cd "$here/.." && pwd)}"
: "${HAKMEM_LIB:=$top_builddir/.libs/libhakmem.so}"
bench=$top_builddir/bench/bench_random_mixed
iters=2000000

if [ ! -x "$bench" ]; then
    echo "SKIP: $bench is not built"
    exit 77
fi
if [ ! -f "$HAKMEM_LIB" ]; then
    echo "ERROR: HAKMEM_LIB=$HAKMEM_LIB does not exist"
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-route.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

# The variables this test sets or must not inherit.
clean_env="env -u HAKMEM_FREE_ROUTE_TRACE -u HAKMEM_FREE_ROUTE_SAMPLE -u HAKMEM_STATS -u HAKMEM_VERBOSE"

fail=0

# ---- with the trace --------------------------------------------------------------
$clean_env LD_PRELOAD="$HAKMEM_LIB" HAKMEM_FREE_ROUTE_TRACE=1 \
    "$bench" "$iters" 1024 42 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: bench_random_mixed exited with $rc under LD_PRELOAD=$HAKMEM_LIB"
    sed 's/^/  stderr: /' "$tmp/err" | head -20
    exit 1
fi
echo "bench: $(cat "$tmp/out")"
echo "route report:"
grep '^hakmem: ' "$tmp/err" | sed 's/^/  /'

# name -> count, one per line
awk '$1 == "hakmem:" && $2 == "route" && $4 ~ /^[0-9]+$/ { print $3, $4 }' "$tmp/err" >"$tmp/routes"
# One line per route of struct hak_stats (route_*), and the tiny free count.
for r in tiny_fast mid_fast slab_lookup remote large null tiny_frees; do
    if ! grep -q "^$r " "$tmp/routes"; then
        echo "FAIL: the report has no line 'hakmem: route $r N'"
        fail=1
    fi
done

verdict=$(awk -v min_frees=$((iters / 4)) '
    $1 == "tiny_fast" { fast = $2 }
    $1 == "tiny_frees" { frees = $2 }
    END {
        if (frees == "" || fast == "") { print "FAIL: tiny_fast or tiny_frees missing"; exit }
        if (frees < min_frees) {
            printf "FAIL: tiny_frees = %d, expected at least %d for this run\n", frees, min_frees; exit
        }
        ratio = fast / frees
        if (ratio >= 0.99) printf "ok: tiny_fast / tiny_frees = %d / %d = %.4f >= 0.99\n", fast, frees, ratio
        else printf "FAIL: tiny_fast / tiny_frees = %d / %d = %.4f < 0.99: frees miss the fast path\n", fast, frees, ratio
    }' "$tmp/routes")
echo "$verdict"
case "$verdict" in ok:*) ;; *) fail=1 ;; esac

# ---- without it: nothing printed -------------------------------------------------------
$clean_env LD_PRELOAD="$HAKMEM_LIB" "$bench" 200000 1024 42 >"$tmp/out2" 2>"$tmp/err2"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: bench_random_mixed exited with $rc without the trace"
    fail=1
fi
if grep -q 'hakmem' "$tmp/err2" || grep -q '^hakmem:' "$tmp/out2"; then
    echo "FAIL: without HAKMEM_FREE_ROUTE_TRACE the library printed:"
    grep 'hakmem' "$tmp/err2" | head -10 | sed 's/^/  /'
    grep '^hakmem:' "$tmp/out2" | head -10 | sed 's/^/  /'
    fail=1
else
    echo "ok: nothing printed without HAKMEM_FREE_ROUTE_TRACE"
fi

exit $fail
