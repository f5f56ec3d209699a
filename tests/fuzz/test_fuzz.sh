#!/bin/sh
# test_fuzz.sh: builds fuzz_alloc with clang's libFuzzer and runs it for
# FUZZ_SECONDS (default 60) from the checked-in seed corpus, the last third
# of it with guarded sampling on. The allocator is
# compiled into the target with coverage, the debug checks and UBSan.
#   make check runs it (skipped, exit 77, without clang and libFuzzer);
#   `make fuzz-long` runs it for an hour (FUZZ_SECONDS=3600).
# A crash fails the test and leaves its input in tests/fuzz/regress/ of the
# build tree, to be committed: tests/test_fuzz_replay.sh replays that folder
# on every `make check`, with or without clang.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
seconds=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "skip: $cc not found (apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$top_srcdir/lib
bin=$work/fuzz_alloc
if ! "$cc" -std=c11 -D_GNU_SOURCE -O1 -g -DHAK_DEBUG=1 -fvisibility=hidden \
    -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
    -fsanitize=fuzzer,undefined -fno-sanitize-recover=undefined \
    -I"$top_srcdir/include" \
    $(ls "$src"/*.c | grep -v /wrap.c) \
    "$top_srcdir/tests/fuzz/fuzz_alloc.c" -o "$bin" -lpthread 2>"$work/cc.log"; then
    if grep -q "fuzzer" "$work/cc.log"; then
        cat "$work/cc.log"
        echo "skip: $cc cannot link libFuzzer (apt-get install libclang-rt-14-dev)"
        exit 77
    fi
    cat "$work/cc.log"
    exit 99
fi
mkdir -p "$work/corpus" "$work/crashes"
cp "$top_srcdir"/tests/fuzz/corpus/* "$work/corpus/"
# Two thirds of the time as the process starts by default, a third with
# guarded sampling on (the option is read once, at start-up): the same
# inputs then also drive the guarded pool's allocations, frees and reallocs.
plain=$((seconds - seconds / 3))
"$bin" -max_total_time="$plain" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$work/crashes/" "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && [ $((seconds / 3)) -gt 0 ]; then
    HAKMEM_GUARD_SAMPLE=3 "$bin" -max_total_time="$((seconds / 3))" -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/crashes/" "$work/corpus" >>"$work/log" 2>&1
    rc=$?
fi
grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$work/log"
crashes=$(ls "$work/crashes" 2>/dev/null | wc -l)
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    tail -n 30 "$work/log"
    mkdir -p "$top_builddir/tests/fuzz/regress"
    for f in "$work"/crashes/*; do
        [ -e "$f" ] || continue
        cp "$f" "$top_builddir/tests/fuzz/regress/"
        echo "kept $(basename "$f") in $top_builddir/tests/fuzz/regress/"
    done
    exit 1
fi
echo "fuzz_alloc: ${seconds}s, no crash"
