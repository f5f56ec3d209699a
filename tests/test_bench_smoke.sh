#!/bin/sh
# Runs every benchmark in its --smoke length under the release and the debug
# library, so that the programs behind `make bench` cannot rot.
set -u
fail=0
for prog in bench_random_mixed bench_pair bench_prodcons; do
    bin="$top_builddir/bench/$prog"
    if [ ! -x "$bin" ]; then
        echo "missing $bin"
        exit 99
    fi
    for lib in "$HAKMEM_LIB" "$HAKMEM_LIB_DEBUG"; do
        out=$(LD_PRELOAD="$lib" "$bin" --smoke 2>&1)
        rc=$?
        case "$out" in
        *"allocator=$lib"* | *"allocator=$(realpath "$lib")"*) ;;
        *) echo "FAIL $prog under $lib: did not run with that library: $out"; fail=1; continue ;;
        esac
        if [ $rc -ne 0 ]; then
            echo "FAIL $prog under $lib: exit $rc: $out"
            fail=1
        else
            echo "ok $prog under $(basename "$lib")"
        fi
    done
done
exit $fail
