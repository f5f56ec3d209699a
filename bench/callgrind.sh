#!/usr/bin/env bash
# callgrind.sh: allocator instructions per call, exact and immune to noise.
#
#   bench/callgrind.sh [--quick] [--keep DIR]
#   environment: BUILDDIR (default .), CC (to build the baseline allocator)
#
# Instruction counts from valgrind's callgrind are the same on every run of the
# same binary and input, whatever else the machine is doing (MEASURING.md).
# Each figure is a difference of two runs that share all setup and differ only
# in the number of loop iterations, so start-up, warm-up and exit cancel:
#   pair S:          bench_pair S N vs bench_pair S N2
#                    -> (Ir(N) - Ir(N2)) / (N - N2) instructions per malloc+free pair
#   random_mixed M:  bench_random_mixed N M 1 8192 vs the same with ITERS=0
#                    -> (Ir(N) - Ir(0)) / calls, per malloc-or-free call
# The raw figure still contains the benchmark's own loop (RNG, slot table,
# touches, PLT jumps). To remove it, the same runs are made with
# bench_nullalloc.c preloaded; its total minus its own functions' instructions
# is the loop's cost, printed in the "loop" column and subtracted from every
# contender. Table cells read "net (raw)".
#
# --keep DIR keeps the callgrind.out files, for `callgrind_annotate FILE`.
# `make bench` runs this with $(SHELL), which may be dash: move to bash first.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=contenders.sh
. "$here/contenders.sh"

BUILDDIR=${BUILDDIR:-.}
quick=0
keep=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --keep) [ $# -ge 2 ] || { echo "callgrind.sh: --keep needs a directory" >&2; exit 2; }
                keep=$2; shift ;;
        -h | --help) sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) echo "callgrind.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v valgrind >/dev/null 2>&1; then
    echo "note: valgrind not found; instruction counts skipped (apt-get install valgrind)"
    exit 0
fi

if [ "$quick" = 1 ]; then
    pair_n=200000 pair_n2=50000 rm_n=500000
else
    pair_n=1000000 pair_n2=200000 rm_n=2000000
fi

bench_discover "$BUILDDIR"
bin_rm=$(bench_bin "$BUILDDIR" bench_random_mixed)
bin_pair=$(bench_bin "$BUILDDIR" bench_pair)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-cg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
outdir=$tmp
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    outdir=$(cd "$keep" && pwd)
fi

# The baseline allocator is built here rather than by make: it exists only to
# be measured against, and must never be mistaken for a product.
null=""
if ${CC:-cc} -O2 -shared -fPIC -std=c11 -D_GNU_SOURCE -fno-builtin \
        "$here/bench_nullalloc.c" -o "$tmp/libbench_null.so" 2>"$tmp/cc.log"; then
    null="$tmp/libbench_null.so"
    CONTENDER_LIB[loop]=$null
else
    BENCH_NOTES+=("could not build bench_nullalloc.c with ${CC:-cc}; loop cost not subtracted")
fi

failed=0

# cg CONTENDER TAG PROGRAM ARGS... -> prints "Ir self_null calls"
cg() {
    local c=$1 tag=$2; shift 2
    local lib=${CONTENDER_LIB[$c]} out="$outdir/callgrind.$c.$tag.out" line alloc ir self=0
    local -a pre=(env -u LD_PRELOAD)
    [ -n "$lib" ] && pre+=("LD_PRELOAD=$lib")
    if ! "${pre[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
            >"$out.stdout" 2>"$out.log"; then
        echo "FAILED under callgrind: $c: ${*##*/} (log: $out.log)" >&2
        tail -n 20 "$out.log" >&2
        return 1
    fi
    line=$(grep -E '^bench_' "$out.stdout" | tail -n 1)
    alloc=$(bench_field allocator "$line")
    if [ "$c" = loop ]; then
        [ "$(realpath "$alloc" 2>/dev/null)" = "$(realpath "$lib")" ] || alloc=""
    elif ! bench_check_allocator "$c" "$lib" "$alloc"; then
        alloc=""
    fi
    if [ -z "$alloc" ]; then
        echo "FAILED: contender $c should have loaded '${lib:-libc}' but the benchmark" \
             "reports: $line" >&2
        : >"$tmp/fatal" # a wrong library is fatal, not one missing cell
        exit 1
    fi
    ir=$(awk '/^summary:/ { print $2; exit } /^totals:/ { t = $2 } END { if (t) print t }' "$out" |
         head -n 1)
    if [ "$c" = loop ]; then
        self=$(callgrind_annotate --threshold=100 "$out" 2>/dev/null |
               awk -v obj="[$lib]" 'index($0, obj) { gsub(/,/, "", $1); s += $1 }
                                    END { printf "%.0f", s }')
    fi
    echo "$ir $self $(bench_field calls "$line")"
}

cols=()
[ -n "$null" ] && cols+=(loop)
cols+=("${CONTENDERS[@]}")

# Results: one line per (workload, contender): "workload contender raw loop_or_empty"
res="$tmp/results"
: >"$res"
rows=()
for s in 16 64 256 1024; do rows+=("pair/$s"); done
for m in 128 256 512 1024; do rows+=("random_mixed/$m"); done

for row in "${rows[@]}"; do
    echo "callgrind: $row" >&2
    kind=${row%%/*} arg=${row#*/}
    for c in "${cols[@]}"; do
        if [ "$kind" = pair ]; then
            ok=1
            a=$(cg "$c" "pair$arg.n" "$bin_pair" "$arg" "$pair_n") &&
                b=$(cg "$c" "pair$arg.n2" "$bin_pair" "$arg" "$pair_n2") || ok=0
            div=$((pair_n - pair_n2))
        else
            ok=1
            a=$(cg "$c" "rm$arg.n" "$bin_rm" "$rm_n" "$arg" 1 8192) &&
                b=$(cg "$c" "rm$arg.0" "$bin_rm" 0 "$arg" 1 8192) || ok=0
            div=${a##* }
        fi
        [ -e "$tmp/fatal" ] && exit 1
        if [ "$ok" = 0 ]; then failed=1; continue; fi
        read -r ir_a self_a _ <<<"$a"
        read -r ir_b self_b _ <<<"$b"
        # raw: everything per op; for the baseline, minus its own functions.
        awk -v w="$row" -v c="$c" -v ia="$ir_a" -v ib="$ir_b" -v sa="$self_a" -v sb="$self_b" \
            -v d="$div" 'BEGIN { printf "%s %s %.2f\n", w, c, ((ia - ib) - (sa - sb)) / d }' >>"$res"
    done
done

# ---- table ------------------------------------------------------------------
echo "# Allocator instructions per call (callgrind)"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z'); $(uname -m); $(valgrind --version)"
echo "- pair: instructions per malloc+free pair, N=$pair_n vs N2=$pair_n2 after the same warm-up"
echo "- random_mixed: instructions per malloc-or-free call, WS=8192, ITERS=$rm_n vs 0"
for c in "${CONTENDERS[@]}"; do
    echo "- $c: ${CONTENDER_LIB[$c]:-system (libc)}"
done
for n in ${BENCH_NOTES[@]+"${BENCH_NOTES[@]}"}; do echo "- note: $n"; done
echo
awk -v rows="${rows[*]}" -v cols="${cols[*]}" '
{ v[$1, $2] = $3 }
END {
    nr = split(rows, R, " "); nc = split(cols, C, " ")
    printf "| workload |"
    for (j = 1; j <= nc; j++) printf " %s |", (C[j] == "loop" ? "loop (subtracted)" : C[j])
    printf "\n|---|"
    for (j = 1; j <= nc; j++) printf "---|"
    printf "\n"
    for (i = 1; i <= nr; i++) {
        w = R[i]; base = ((w, "loop") in v) ? v[w, "loop"] : 0
        printf "| %s |", w
        for (j = 1; j <= nc; j++) {
            if (!((w, C[j]) in v)) { printf " failed |"; continue }
            if (C[j] == "loop") printf " %.1f |", v[w, C[j]]
            else printf " %.1f (%.1f) |", v[w, C[j]] - base, v[w, C[j]]
        }
        printf "\n"
    }
}' "$res"
[ -n "$keep" ] && echo && echo "callgrind files kept in $outdir"
exit $failed
