#!/usr/bin/env bash
# run.sh: the harness behind `make bench`.
#
#   bench/run.sh [--quick] [--rounds N] [--only REGEX] [--cpu] [--out DIR] [--csv FILE]
#   environment: BUILDDIR (default .): holds bench/bench_* and .libs/libhakmem.so;
#                HAKMEM_BENCH_LIB: measure this libhakmem.so instead of BUILDDIR's
#
# Compares hakmem with the system allocator and with whichever of mimalloc,
# jemalloc and tcmalloc `ldconfig -p` finds, each loaded with LD_PRELOAD into
# the same benchmark binaries, over the whole suite of bench/README.md. The
# machines are small and shared, so (see MEASURING.md):
#   - contenders run interleaved: round after round, workload after workload,
#     each contender in turn, the starting contender rotating every round so
#     none always runs first after a change of workload;
#   - figures are medians over the rounds, shown with min-max, and ratios to
#     the system allocator measured in the same run;
#   - every run must print allocator=<the library it was meant to load>, or the
#     harness stops: a figure from the wrong (or a stale) library is worse than
#     no figure.
#
# Writes, in --out DIR (default BUILDDIR/bench/results): bench.md (the report
# printed here), bench.csv (one row per run; --csv FILE puts it elsewhere) and
# bench.png (a chart: python3 with matplotlib, else gnuplot, else a note).
#
# --quick: 3 rounds and short runs (a few minutes). --cpu: rank by operations
# per CPU second (user+sys) instead of per wall second; steadier for the
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
outdir=""
metric=wall
only=""

usage() {
    sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; rounds=3 ;;
        --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift ;;
        --csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
        --out) [ $# -ge 2 ] || usage; outdir=$2; shift ;;
        --cpu) metric=cpu ;;
        --only) [ $# -ge 2 ] || usage; only=$2; shift ;;
        -h | --help) usage 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case $rounds in '' | *[!0-9]* | 0) echo "run.sh: --rounds needs a positive number" >&2; exit 2 ;; esac

# Run lengths: each run should last long enough (~0.3-1 s on this kind of
# machine) that process start and the first touches of memory are small beside
# it, yet the default 5 rounds of the whole suite under 5 contenders stay
# under ~15 minutes on 2 cores (--quick: a few minutes). The slowest contender
# of a workload sets its length: glibc's prodcons, hakmem's large blocks.
if [ "$quick" = 1 ]; then
    rm_iters=10000000 pair_iters=20000000 pc_items=1000000
    larson_s=0.15 cache_iters=80000 ms_rounds=6 rstep_iters=2000000 rdouble_iters=1000
    al_iters=2000000 large_iters=800 py_scale=2
else
    rm_iters=50000000 pair_iters=100000000 pc_items=4000000
    larson_s=0.5 cache_iters=300000 ms_rounds=20 rstep_iters=8000000 rdouble_iters=4000
    al_iters=6000000 large_iters=3000 py_scale=8
fi
ncpu=$(nproc 2>/dev/null || echo 2)
# Thread counts: the false-sharing pair needs threads running at once, one per
# core; larson is a server pool, a few threads per core; mstress is "many".
t_cache=$ncpu
t_larson=$((2 * ncpu > 8 ? 8 : 2 * ncpu))
t_mstress=16

bench_discover "$BUILDDIR"
bin_rm=$(bench_bin "$BUILDDIR" bench_random_mixed)
bin_pair=$(bench_bin "$BUILDDIR" bench_pair)
bin_pc=$(bench_bin "$BUILDDIR" bench_prodcons)
bin_larson=$(bench_bin "$BUILDDIR" bench_larson)
bin_cache=$(bench_bin "$BUILDDIR" bench_cache)
bin_ms=$(bench_bin "$BUILDDIR" bench_mstress)
bin_realloc=$(bench_bin "$BUILDDIR" bench_realloc)
bin_al=$(bench_bin "$BUILDDIR" bench_aligned)
bin_large=$(bench_bin "$BUILDDIR" bench_large)
bin_py=$(bench_bin "$BUILDDIR" bench_cpython)

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
workloads+=("larson/10-1000/t$t_larson|$bin_larson|$t_larson $larson_s 10 1000")
workloads+=("cache_thrash/8/t$t_cache|$bin_cache|thrash $t_cache $cache_iters 8 100")
workloads+=("cache_scratch/8/t$t_cache|$bin_cache|scratch $t_cache $cache_iters 8 100")
workloads+=("mstress/8-64K/t$t_mstress|$bin_ms|$t_mstress $ms_rounds 65536")
workloads+=("realloc/step-8K|$bin_realloc|step $rstep_iters 8192")
workloads+=("realloc/double-4M|$bin_realloc|double $rdouble_iters 4194304")
workloads+=("aligned/16-4096|$bin_al|$al_iters 16 4096")
workloads+=("large/64K-8M|$bin_large|$large_iters 65536 8388608")
workloads+=("cpython|$bin_py|$py_scale")
# CPython is the one contender-independent dependency: without it (the
# launcher exits 77) its row is left out, with a note, rather than failing.
py_note="" py_rc=0
py_line=$(env -u LD_PRELOAD "$bin_py" --smoke 2>/dev/null) || py_rc=$?
if [ "$py_rc" = 77 ]; then
    py_note="cpython: no python3 to run (set BENCH_PYTHON); the cpython row is left out"
    kept=()
    for w in "${workloads[@]}"; do [ "${w%%|*}" = cpython ] || kept+=("$w"); done
    workloads=("${kept[@]}")
fi
if [ -n "$only" ]; then
    kept=()
    for w in "${workloads[@]}"; do
        if printf '%s\n' "${w%%|*}" | grep -Eq -- "$only"; then kept+=("$w"); fi
    done
    [ ${#kept[@]} -gt 0 ] || { echo "run.sh: --only '$only' matches no workload" >&2; exit 2; }
    workloads=("${kept[@]}")
fi

[ -n "$outdir" ] || outdir="$BUILDDIR/bench/results"
mkdir -p "$outdir"
[ -n "$csv" ] || csv="$outdir/bench.csv"
report="$outdir/bench.md"
chart="$outdir/bench.png"
medians="$outdir/bench-medians.tsv"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
data="$tmp/data"
: >"$data"
: >"$tmp/warnings"
: >"$tmp/failures"
timer=""
[ -x /usr/bin/time ] && timer=/usr/bin/time

# Runs one benchmark under one contender; prints its output line. A run that
# fails (a crash, a non-zero exit) returns 1, and the loop below records it
# and goes on: one crash must not throw away a quarter of an hour of figures,
# and the report lists it. A wrong allocator= returns 3, which stops the
# harness: every later figure would be suspect.
run_one() {
    local c=$1; shift
    local lib=${CONTENDER_LIB[$c]} out alloc
    local -a pre=(env -u LD_PRELOAD)
    [ -n "$lib" ] && pre+=("LD_PRELOAD=$lib")
    if [ -n "$timer" ]; then
        pre=("$timer" -f %M -o "$tmp/rss" "${pre[@]}")
    fi
    local rc=0
    out=$("${pre[@]}" "$@" 2>"$tmp/err") || rc=$?
    if [ $rc != 0 ]; then
        # /usr/bin/time reports a signal as "Command terminated by signal N".
        echo "FAILED (exit $rc): contender $c: ${*##*/}" >&2
        cat "$tmp/err" >&2
        return 1
    fi
    out=$(printf '%s\n' "$out" | grep -E '^bench_' | tail -n 1)
    alloc=$(bench_field allocator "$out")
    if ! bench_check_allocator "$c" "$lib" "$alloc"; then
        echo "FAILED: contender $c should have loaded '${lib:-libc}'" \
             "but the benchmark reports allocator=$alloc" >&2
        echo "  (stale or wrong library, or the program links an allocator itself)" >&2
        echo "  command: ${pre[*]} $*" >&2
        return 3
    fi
    printf '%s\n' "$out"
}

# The report (stdout) is kept in bench.md as well.
exec 3>&1
exec > >(tee "$report")
tee_pid=$!

# ---- header: where, when, what ---------------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "# hakmem benchmarks"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "- machine: $(uname -m), $ncpu CPUs${cpu_model:+ ($cpu_model)}, kernel $(uname -r)"
echo "- build dir: $(cd "$BUILDDIR" && pwd)"
echo "- rounds: $rounds$([ "$quick" = 1 ] && echo ' (--quick)'), metric: ops per $metric second"
echo "- lengths: random_mixed ITERS=$rm_iters, pair ITERS=$pair_iters, prodcons ITEMS=$pc_items," \
     "larson ${larson_s} s, cache ITERS=$cache_iters per thread, mstress ROUNDS=$ms_rounds," \
     "realloc ITERS=$rstep_iters (step) and $rdouble_iters (double), aligned ITERS=$al_iters," \
     "large ITERS=$large_iters, cpython SCALE=$py_scale"
echo "- reproduce: make bench$([ "$quick" = 1 ] && echo '-quick'), or" \
     "BUILDDIR=<build dir> bench/run.sh$([ "$quick" = 1 ] && echo ' --quick') --rounds $rounds$([ "$metric" = cpu ] && echo ' --cpu')${only:+ --only '$only'}"
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
if [ "$py_rc" = 0 ]; then
    echo "- cpython: $(bench_field python "$py_line") $(bench_field python_version "$py_line")," \
         "script bench/bench_cpython.py, PYTHONMALLOC=malloc"
elif [ -n "$py_note" ]; then
    BENCH_NOTES+=("$py_note")
fi
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
            rc=0
            line=$(run_one "$c" "$wbin" "${argv[@]}") || rc=$?
            [ $rc = 3 ] && exit 1
            if [ $rc != 0 ]; then
                # The last word from the program, or time's "terminated by signal".
                why=$({ cat "$tmp/err"; grep -v '^[0-9]*$' "$tmp/rss" 2>/dev/null; } |
                      grep -v '^$' | tail -n 1 | tr -s ' \t' ' ')
                echo "$wname $c $r ${why:-exit status $rc}" >>"$tmp/failures"
                continue
            fi
            ops=$(bench_field ops_per_s "$line")
            cpu=$(bench_field cpu_s "$line")
            wall=$(bench_field wall_s "$line")
            rss=$(bench_field peak_rss_kb "$line")
            if [ -n "$timer" ] && [ -s "$tmp/rss" ]; then rss=$(tail -n 1 "$tmp/rss"); fi
            echo "$wname $c $r $ops $cpu $rss $wall $(bench_field allocator "$line")" >>"$data"
            # An allocator that breaks a promise (bench_aligned's misaligned=)
            # is timed all the same, but the report says so.
            bad=$(bench_field misaligned "$line")
            if [ -n "$bad" ] && [ "$bad" != 0 ]; then
                echo "$c $wname $bad" >>"$tmp/warnings"
            fi
        done
    done
done
echo "done in $(($(date +%s) - start)) s" >&2

{
    echo "workload,contender,round,ops_per_s,cpu_s,maxrss_kb,wall_s,allocator"
    tr ' ' ',' <"$data"
} >"$csv"

# ---- summary tables ---------------------------------------------------------
order_w=$(for w in "${workloads[@]}"; do printf '%s ' "${w%%|*}"; done)
awk -v order_w="$order_w" -v order_c="${CONTENDERS[*]}" -v metric="$metric" -v medfile="$medians" '
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
# Operations per second, short: 3 significant digits and a k/M/G suffix.
function fmt(v) {
    if (v >= 1e9) return sprintf("%.3gG", v / 1e9)
    if (v >= 1e6) return sprintf("%.3gM", v / 1e6)
    if (v >= 1e3) return sprintf("%.3gk", v / 1e3)
    return sprintf("%.3g", v)
}
function geo_add(key, r) { if (r > 0) { gs[key] += log(r); gn[key]++ } }
function geo(key) { return gn[key] ? sprintf("%.2f", exp(gs[key] / gn[key])) : "-" }
FILENAME == ARGV[1] { failed[$1, $2]++; next }  # the failures file
{
    # wall: ops_per_s as printed; cpu: the same count over the CPU seconds.
    v = $4
    if (metric == "cpu" && $5 > 0) v = $4 * $7 / $5
    k = $1 SUBSEP $2
    n[k]++; val[k, n[k]] = v; rss[k, n[k]] = $6 / 1024
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

    print "workload\tcontender\tmedian_ops_per_s\tmin\tmax\tmedian_peak_rss_mib" > medfile
    for (i = 1; i <= nw; i++) for (j = 1; j <= nc; j++) {
        k = W[i] SUBSEP C[j]
        if (k in med)
            printf "%s\t%s\t%.6g\t%.6g\t%.6g\t%.3f\n", W[i], C[j], med[k], lo[k], hi[k], mrss[k] > medfile
    }
    close(medfile)

    printf "## Throughput: median ops per %s second [min-max], ratio to system\n\n", metric
    printf "One op: random_mixed, larson, mstress, realloc, aligned, large: one allocator call;\n"
    printf "pair: a malloc+free pair; prodcons: one item (malloc in one thread, free in the\n"
    printf "other); cache_*: one malloc, 800 byte writes and a free; cpython: one run of the\n"
    printf "script, interpreter start included. Last column: hakmem median / the best peer\n"
    printf "median (above 1: hakmem is faster).\n\n"
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
            if (!(k in med)) { printf " %s |", (k in failed) ? "all runs failed" : "-"; continue }
            printf " %s [%s-%s]", fmt(med[k]), fmt(lo[k]), fmt(hi[k])
            if (sys > 0) { printf " x%.2f", med[k] / sys; geo_add("t" C[j], med[k] / sys) }
            if (k in failed) printf " (%d failed)", failed[k]
            printf " |"
        }
        best = 0; bestname = ""
        for (j = 1; j <= nc; j++) {
            if (C[j] == "system" || C[j] == "hakmem") continue
            k = w SUBSEP C[j]
            if ((k in med) && med[k] > best) { best = med[k]; bestname = C[j] }
        }
        if (hak && best > 0 && ((w, "hakmem") in med)) {
            printf " %.2f (%s) |\n", med[w, "hakmem"] / best, bestname
            geo_add("tbest", med[w, "hakmem"] / best)
        } else printf " n/a |\n"
    }
    printf "| geomean |"
    for (j = 1; j <= nc; j++) printf " x%s |", geo("t" C[j])
    printf " %s |\n", hak ? geo("tbest") : "n/a"

    printf "\n## Peak RSS: median MiB, ratio to system\n\n| workload |"
    for (j = 1; j <= nc; j++) printf " %s |", C[j]
    printf "\n|---|"
    for (j = 1; j <= nc; j++) printf "---|"
    printf "\n"
    over = ""
    for (i = 1; i <= nw; i++) {
        w = W[i]; sys = mrss[w, "system"]
        printf "| %s |", w
        for (j = 1; j <= nc; j++) {
            k = w SUBSEP C[j]
            if (!(k in mrss)) { printf " - |"; continue }
            printf " %.1f", mrss[k]
            if (sys > 0) {
                printf " x%.2f", mrss[k] / sys
                geo_add("r" C[j], mrss[k] / sys)
                if (C[j] == "hakmem" && mrss[k] / sys > 1.5)
                    over = over sprintf("%s %s (x%.2f)", over == "" ? "" : ",", w, mrss[k] / sys)
            }
            printf " |"
        }
        printf "\n"
    }
    printf "| geomean |"
    for (j = 1; j <= nc; j++) printf " x%s |", geo("r" C[j])
    printf "\n\nPeak-RSS geometric mean over the %d workloads, relative to system:", nw
    sep = ""
    for (j = 1; j <= nc; j++)
        if (C[j] != "system") { printf "%s %s %s", sep, C[j], geo("r" C[j]); sep = "," }
    printf ".\n"
    if (hak) printf "hakmem above 1.5x the system peak RSS on:%s.\n", over == "" ? " none" : over
}' "$tmp/failures" "$data"

if [ -s "$tmp/failures" ]; then
    echo
    echo "## Failed runs (left out of the medians)"
    echo
    awk '{ w = $1; c = $2; r = $3; $1 = $2 = $3 = ""; sub(/^ +/, "")
           printf "- %s on %s, round %s: %s\n", c, w, r, $0 }' "$tmp/failures"
fi
if [ -s "$tmp/warnings" ]; then
    echo
    echo "## Warnings"
    echo
    awk '{ k = $1 " on " $2; if (!(k in s)) order[++n] = k; s[k] += $3 }
         END { for (i = 1; i <= n; i++)
                   printf "- %s: %d blocks not aligned as asked, over all rounds\n", order[i], s[order[i]] }' \
        "$tmp/warnings"
fi

# ---- chart --------------------------------------------------------------------
# Two panels from the medians: throughput and peak RSS, each relative to the
# system allocator. matplotlib where some python3 has it, else gnuplot; never
# fatal, since the tables above are the result.
chart_title="hakmem benchmarks, $(date '+%Y-%m-%d'), $(uname -m), $ncpu CPUs, $rounds rounds"
[ "$quick" = 1 ] && chart_title="$chart_title (--quick)"

chart_matplotlib() {
    local py
    for py in ${PYTHON:-} python3 /usr/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" -c 'import matplotlib' 2>/dev/null || continue
        "$py" "$here/chart.py" "$medians" "$chart" "$chart_title" 2>"$tmp/chart.err" && return 0
        cat "$tmp/chart.err" >&2
    done
    return 1
}

chart_gnuplot() {
    command -v gnuplot >/dev/null 2>&1 || return 1
    # One row per workload, one column per contender: the ratio to system.
    local f
    for f in ops rss; do
        awk -F'\t' -v order_c="${CONTENDERS[*]}" -v col=$([ $f = ops ] && echo 3 || echo 6) '
            NR == 1 { next }
            !($1 in seen) { seen[$1] = 1; order[++nw] = $1 }
            { v[$1, $2] = $col }
            END {
                nc = split(order_c, C, " ")
                printf "workload"; for (j = 1; j <= nc; j++) printf " %s", C[j]; printf "\n"
                for (i = 1; i <= nw; i++) {
                    w = order[i]; base = v[w, "system"]
                    printf "%s", w
                    for (j = 1; j <= nc; j++)
                        printf " %s", ((w, C[j]) in v && base > 0) ? sprintf("%.4f", v[w, C[j]] / base) : "NaN"
                    printf "\n"
                }
            }' "$medians" >"$tmp/chart.$f"
    done
    gnuplot >"$tmp/gnuplot.err" 2>&1 <<GNUPLOT || { cat "$tmp/gnuplot.err" >&2; return 1; }
set terminal pngcairo size 1600,1200 noenhanced font ",9"
set output "$chart"
set multiplot layout 2,1 title "$chart_title"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set xtics rotate by -40 scale 0
set grid ytics
set key outside right top
set yrange [0:*]
set title "throughput, median, relative to system (higher is better)"
plot for [i=2:$((nc + 1))] "$tmp/chart.ops" using i:xtic(1) title columnheader(i)
set title "peak RSS, median, relative to system (lower is better)"
plot for [i=2:$((nc + 1))] "$tmp/chart.rss" using i:xtic(1) title columnheader(i)
unset multiplot
GNUPLOT
}

echo
rm -f "$chart"
# BENCH_CHART=matplotlib, gnuplot or none picks one way (to test each).
chart_with=${BENCH_CHART:-auto}
if [ "$chart_with" != gnuplot ] && [ "$chart_with" != none ] && chart_matplotlib; then
    echo "Chart: $chart (matplotlib)"
elif [ "$chart_with" != matplotlib ] && [ "$chart_with" != none ] && chart_gnuplot; then
    echo "Chart: $chart (gnuplot)"
elif [ "$chart_with" = none ]; then
    echo "note: chart skipped (BENCH_CHART=none)"
else
    echo "note: chart skipped (no python3 with matplotlib, and no gnuplot);" \
         "the tables above and the CSV are the result"
fi
echo "CSV: $csv"
echo "Medians: $medians"
echo "Report: $report"
for n in ${BENCH_NOTES[@]+"${BENCH_NOTES[@]}"}; do echo "note: $n" >&2; done
status=0
if [ -s "$tmp/failures" ]; then
    echo "run.sh: $(wc -l <"$tmp/failures") run(s) failed; see 'Failed runs' in the report" >&2
    status=1
fi
# Close the tee'd stdout and let tee finish writing bench.md before exiting.
exec 1>&3 3>&-
wait "$tee_pid" 2>/dev/null || true
exit $status
