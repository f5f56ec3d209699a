#!/bin/sh
# Runs every benchmark in its --smoke length under the release and the debug
# library, so that the programs behind `make bench` cannot rot. Each run must
# exit 0 and say it ran with that library (allocator=). bench_cpython exits 77
# when there is no Python to run: that one is skipped, not failed.
set -u
fail=0
for prog in bench_random_mixed bench_pair bench_prodcons bench_larson bench_cache \
            bench_mstress bench_realloc bench_aligned bench_large bench_cpython bench_churn \
            bench_coldpath bench_heap bench_xmalloc; do
    bin="$top_builddir/bench/$prog"
    if [ ! -x "$bin" ]; then
        echo "missing $bin"
        exit 99
    fi
    for lib in "$HAKMEM_LIB" "$HAKMEM_LIB_DEBUG"; do
        out=$(LD_PRELOAD="$lib" "$bin" --smoke 2>&1)
        rc=$?
        if [ $rc -eq 77 ]; then
            echo "skip $prog under $(basename "$lib"): $out"
            continue
        fi
        if [ $rc -ne 0 ]; then
            echo "FAIL $prog under $lib: exit $rc: $out"
            fail=1
            continue
        fi
        case "$out" in
        *"allocator=$lib"* | *"allocator=$(realpath "$lib")"*)
            echo "ok $prog under $(basename "$lib")" ;;
        *) echo "FAIL $prog under $lib: did not run with that library: $out"; fail=1 ;;
        esac
    done
done
exit $fail
