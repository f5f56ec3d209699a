#!/usr/bin/env bash
# run.sh: the harness behind `make bench`.
#
#   bench/run.sh [--quick] [--rounds N] [--csv FILE] [--cpu] [--only REGEX]
#   environment: BUILDDIR (default .): holds bench/bench_* and .libs/libhakmem.so
#
# Compares hakmem with the system allocator and with whichever of mimalloc,
# jemalloc and tcmalloc `ldconfig -p` finds, each loaded with LD_PRELOAD into
# the same benchmark binaries. The machines are small and shared, so
# (see MEASURING.md):
#   - contenders run interleaved: round after round, workload after workload,
#     each contender in turn, the starting contender rotating every round so
#     none always runs first after a change of workload;
#   - figures are medians over the rounds, shown with min-max, and ratios to
#     the system allocator measured in the same run;
#   - every run must print allocator=<the library it was meant to load>, or the
#     harness stops: a figure from the wrong (or a stale) library is worse than
#     no figure.
#
# --quick: 3 rounds and shorter loops. --cpu: rank by operations per CPU second
# (user+sys of the timed loop) instead of per wall second; steadier for the
# single-threaded workloads on a busy machine. --only: workloads whose name
# matches REGEX (e.g. 'pair|prodcons').
# `make bench` runs this with $(SHELL), which may be dash: move to bash first.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=contenders.sh
. "$here/contenders.sh"

BUILDDIR=${BUILDDIR:-.}
rounds=5
quick=0
csv=""
metric=wall
only=""

usage() {
    sed -n '3,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; rounds=3 ;;
        --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift ;;
        --csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
        --cpu) metric=cpu ;;
        --only) [ $# -ge 2 ] || usage; only=$2; shift ;;
        -h | --help) usage 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case $rounds in '' | *[!0-9]* | 0) echo "run.sh: --rounds needs a positive number" >&2; exit 2 ;; esac

# Loop lengths: each run should last long enough (~0.3-1 s on this kind of
# machine) that process start and page faults of the first touches are small
# beside it, yet the default 5 rounds stay under ~10 minutes on 2 cores.
if [ "$quick" = 1 ]; then
    rm_iters=10000000 pair_iters=20000000 pc_items=1000000
else
    rm_iters=50000000 pair_iters=100000000 pc_items=4000000
fi

bench_discover "$BUILDDIR"
bin_rm=$(bench_bin "$BUILDDIR" bench_random_mixed)
bin_pair=$(bench_bin "$BUILDDIR" bench_pair)
bin_pc=$(bench_bin "$BUILDDIR" bench_prodcons)

# name | program | arguments (SEED is replaced by the round number, so rounds
# differ but all contenders of a round see the same sequence).
workloads=()
for ws in 8192 400; do
    for max in 128 256 512 1024; do
        workloads+=("random_mixed/$max/ws$ws|$bin_rm|$rm_iters $max SEED $ws")
    done
done
for size in 16 64 256 1024; do
    workloads+=("pair/$size|$bin_pair|$size $pair_iters")
done
workloads+=("prodcons/16-1024|$bin_pc|$pc_items 16 1024")
if [ -n "$only" ]; then
    kept=()
    for w in "${workloads[@]}"; do
        if printf '%s\n' "${w%%|*}" | grep -Eq -- "$only"; then kept+=("$w"); fi
    done
    workloads=("${kept[@]}")
    [ ${#workloads[@]} -gt 0 ] || { echo "run.sh: --only '$only' matches no workload" >&2; exit 2; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
data="$tmp/data"
: >"$data"
timer=""
[ -x /usr/bin/time ] && timer=/usr/bin/time

# Runs one benchmark under one contender; prints its output line. Any failure
# or a wrong allocator= stops the whole harness.
run_one() {
    local c=$1; shift
    local lib=${CONTENDER_LIB[$c]} out alloc
    local -a pre=(env -u LD_PRELOAD)
    [ -n "$lib" ] && pre+=("LD_PRELOAD=$lib")
    if [ -n "$timer" ]; then
        pre=("$timer" -f %M -o "$tmp/rss" "${pre[@]}")
    fi
    if ! out=$("${pre[@]}" "$@" 2>"$tmp/err"); then
        echo "FAILED: contender $c: ${*##*/}" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
    out=$(printf '%s\n' "$out" | grep -E '^bench_' | tail -n 1)
    alloc=$(bench_field allocator "$out")
    if ! bench_check_allocator "$c" "$lib" "$alloc"; then
        echo "FAILED: contender $c should have loaded '${lib:-libc}'" \
             "but the benchmark reports allocator=$alloc" >&2
        echo "  (stale or wrong library, or the program links an allocator itself)" >&2
        echo "  command: ${pre[*]} $*" >&2
        exit 1
    fi
    printf '%s\n' "$out"
}

# ---- header: where, when, what ---------------------------------------------
echo "# hakmem benchmarks"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "- machine: $(uname -m), $(nproc) CPUs, kernel $(uname -r)"
echo "- build dir: $(cd "$BUILDDIR" && pwd)"
echo "- rounds: $rounds$([ "$quick" = 1 ] && echo ' (--quick)'), metric: ops per $metric second," \
     "random_mixed ITERS=$rm_iters, pair ITERS=$pair_iters, prodcons ITEMS=$pc_items"
if [ -n "$timer" ]; then
    echo "- peak RSS from: $timer -f %M"
else
    echo "- peak RSS from: VmHWM printed by the benchmark"
fi
for c in "${CONTENDERS[@]}"; do
    # A short probe run proves each contender loads before the long run starts,
    # and gives the library's own version string.
    line=$(run_one "$c" "$bin_pair" 64 1000)
    path=$(bench_field allocator "$line")
    extra=""
    [ "$c" = hakmem ] && extra=", built $(date -r "$path" '+%Y-%m-%d %H:%M:%S')"
    pkg=$(bench_pkg_version "$path" || true)
    echo "- $c: $path (reports $(bench_field allocator_version "$line")${pkg:+; package $pkg}$extra)"
done
for n in ${BENCH_NOTES[@]+"${BENCH_NOTES[@]}"}; do
    echo "- note: $n"
    echo "note: $n" >&2
done
echo

# ---- the interleaved runs ---------------------------------------------------
nc=${#CONTENDERS[@]}
start=$(date +%s)
for ((r = 1; r <= rounds; r++)); do
    echo "round $r/$rounds ($(($(date +%s) - start)) s so far)" >&2
    for w in "${workloads[@]}"; do
        IFS='|' read -r wname wbin wargs <<<"$w"
        read -r -a argv <<<"${wargs//SEED/$r}"
        for ((k = 0; k < nc; k++)); do
            c=${CONTENDERS[$(((k + r - 1) % nc))]}
            line=$(run_one "$c" "$wbin" "${argv[@]}")
            ops=$(bench_field ops_per_s "$line")
            cpu=$(bench_field cpu_s "$line")
            wall=$(bench_field wall_s "$line")
            rss=$(bench_field peak_rss_kb "$line")
            if [ -n "$timer" ] && [ -s "$tmp/rss" ]; then rss=$(tail -n 1 "$tmp/rss"); fi
            echo "$wname $c $r $ops $cpu $rss $wall $(bench_field allocator "$line")" >>"$data"
        done
    done
done
echo "done in $(($(date +%s) - start)) s" >&2

if [ -n "$csv" ]; then
    {
        echo "workload,contender,round,ops_per_s,cpu_s,maxrss_kb,wall_s,allocator"
        tr ' ' ',' <"$data"
    } >"$csv"
fi

# ---- summary tables ---------------------------------------------------------
order_w=$(for w in "${workloads[@]}"; do printf '%s ' "${w%%|*}"; done)
awk -v order_w="$order_w" -v order_c="${CONTENDERS[*]}" -v metric="$metric" '
function sort(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = a[i]
        for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
}
function median(a, n) {
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    # wall: ops_per_s as printed; cpu: the same count over the CPU seconds.
    v = $4
    if (metric == "cpu" && $5 > 0) v = $4 * $7 / $5
    k = $1 SUBSEP $2
    n[k]++; val[k, n[k]] = v / 1e6; rss[k, n[k]] = $6 / 1024
}
END {
    nw = split(order_w, W, " "); nc = split(order_c, C, " ")
    for (i = 1; i <= nw; i++) for (j = 1; j <= nc; j++) {
        k = W[i] SUBSEP C[j]; m = n[k]
        if (m == 0) continue
        delete a; delete b
        for (x = 1; x <= m; x++) { a[x] = val[k, x]; b[x] = rss[k, x] }
        sort(a, m); sort(b, m)
        med[k] = median(a, m); lo[k] = a[1]; hi[k] = a[m]; mrss[k] = median(b, m)
    }
    hak = 0
    for (j = 1; j <= nc; j++) if (C[j] == "hakmem") hak = 1

    printf "## Throughput: median M ops/%s s [min-max] and ratio to system\n\n", metric
    printf "pair: one op = one malloc+free pair; prodcons: one op = one item (malloc in\n"
    printf "one thread, free in the other); random_mixed: one op = one malloc or free.\n\n"
    printf "| workload |"
    for (j = 1; j <= nc; j++) printf " %s |", C[j]
    printf " hakmem / best peer |\n|---|"
    for (j = 1; j <= nc; j++) printf "---|"
    printf "---|\n"
    for (i = 1; i <= nw; i++) {
        w = W[i]; sys = med[w, "system"]
        printf "| %s |", w
        for (j = 1; j <= nc; j++) {
            k = w SUBSEP C[j]
            if (!(k in med)) { printf " - |"; continue }
            printf " %.1f [%.1f-%.1f]", med[k], lo[k], hi[k]
            if (sys > 0) printf " x%.2f", med[k] / sys
            printf " |"
        }
        best = 0; bestname = ""
        for (j = 1; j <= nc; j++) {
            if (C[j] == "system" || C[j] == "hakmem") continue
            k = w SUBSEP C[j]
            if ((k in med) && med[k] > best) { best = med[k]; bestname = C[j] }
        }
        if (hak && best > 0) printf " %.2f (%s) |\n", med[w, "hakmem"] / best, bestname
        else printf " n/a |\n"
    }

    printf "\n## Peak RSS: median MiB\n\n| workload |"
    for (j = 1; j <= nc; j++) printf " %s |", C[j]
    printf "\n|---|"
    for (j = 1; j <= nc; j++) printf "---|"
    printf "\n"
    for (i = 1; i <= nw; i++) {
        printf "| %s |", W[i]
        for (j = 1; j <= nc; j++) {
            k = W[i] SUBSEP C[j]
            if (k in mrss) printf " %.1f |", mrss[k]; else printf " - |"
        }
        printf "\n"
    }
}' "$data"

if [ -n "$csv" ]; then echo; echo "CSV: $csv"; fi
for n in ${BENCH_NOTES[@]+"${BENCH_NOTES[@]}"}; do echo "note: $n" >&2; done
exit 0
