#!/bin/sh
# test_sanitizers.sh: the C tests against hakmem built with sanitizers.
#
#   ubsan-rel, ubsan-dbg  the preload library (release and debug flags) and
#                         every C test built with -fsanitize=undefined
#                         -fno-sanitize-recover=undefined (gcc's libubsan):
#                         the first undefined behaviour aborts the test.
#   tsan                  the hak_* library and test_threads built with
#                         -fsanitize=thread, test_threads calling hak_malloc
#                         and friends (tests/real/hak_prefixed.h): a
#                         ThreadSanitizer runtime replaces malloc, so hakmem
#                         cannot be the process allocator there. Any report
#                         (data race, lock-order inversion, ...) fails.
#
# The sources, the compiler flags and the list of C tests come from the
# configured Makefile (`make real-sanitize-vars`, tests/real/real.mk), so the
# builds follow Makefile.am. They are made out of line, in a temporary
# directory, by a generated Makefile (make -j2); each test run's log is kept
# there when something fails, with the command that reproduces it.
# Before trusting a clean run, two tiny programs with a known signed overflow
# and a known data race must be reported by the same flags.
#
# Quick (make check): test_threads at --size=25 under tsan. Full
# (make check-sanitize): test_threads at full size under tsan, and a 30 s soak
# under ubsan-rel.
# Exit: 0 pass, 1 fail, 77 skip (no gcc or no sanitizer runtime), 99 setup error.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
mode=${HAKMEM_REAL_MODE:-quick}
cc=${HAKMEM_SAN_CC:-gcc}
jobs=${HAKMEM_SAN_JOBS:-2}

command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: $cc not found (apt-get install gcc)"; exit 77; }
command -v make >/dev/null 2>&1 || { echo "SKIP: make not found"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL HAKMEM_STATS HAKMEM_FREE_ROUTE_TRACE HAKMEM_FREE_ROUTE_SAMPLE \
    HAKMEM_VERBOSE HAKMEM_FAULT_MAP_NTH HAKMEM_FAULT_MAP_EVERY HAKMEM_FAULT_PURGE_EVERY

if ! vars=$(make -s -C "$top_builddir" real-sanitize-vars 2>&1); then
    echo "ERROR: make -C $top_builddir real-sanitize-vars failed:"
    echo "$vars" | sed 's/^/    /'
    exit 99
fi
eval "$vars"
if [ -z "${san_preload_src:-}" ] || [ -z "${san_api_src:-}" ] || [ -z "${san_tests:-}" ]; then
    echo "ERROR: no sources or no C tests from make real-sanitize-vars"
    exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-sanitize.XXXXXX") || exit 99
keep=""
trap 'if [ -z "$keep" ]; then rm -rf "$work"; else echo "note: builds and logs kept in $work"; fi' EXIT
trap 'exit 1' INT TERM HUP

UB="-fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
TS="-fsanitize=thread -fno-omit-frame-pointer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# die_after_fork=0: the fork test forks while threads run (its children start
# no thread under tsan, see test_threads.c).
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:die_after_fork=0:second_deadlock_stack=1"

# ---- the sanitizers work at all ---------------------------------------------------
cat >"$work/canary_ub.c" <<'EOF'
#include <limits.h>
int main(int argc, char **argv) { (void)argv; int x = INT_MAX - 1 + argc; x += argc; return x == 0; }
EOF
cat >"$work/canary_race.c" <<'EOF'
#include <pthread.h>
#include <unistd.h>
static long counter;
static void *bump(void *arg) { for (int i = 0; i < 100000; i++) counter++; return arg; }
int main(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, bump, NULL);
    pthread_create(&b, NULL, bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return counter == 0;
}
EOF
if ! $cc $UB -o "$work/canary_ub" "$work/canary_ub.c" 2>"$work/canary_ub.err"; then
    cat "$work/canary_ub.err"
    echo "SKIP: $cc cannot build with -fsanitize=undefined (Debian: libubsan1 comes with gcc)"
    exit 77
fi
if "$work/canary_ub" 2>"$work/canary_ub.out" || ! grep -q 'runtime error' "$work/canary_ub.out"; then
    echo "ERROR: a signed overflow built with $UB was not reported:"
    cat "$work/canary_ub.out"
    exit 99
fi
if ! $cc $TS -O1 -o "$work/canary_race" "$work/canary_race.c" -lpthread 2>"$work/canary_race.err"; then
    cat "$work/canary_race.err"
    echo "SKIP: $cc cannot build with -fsanitize=thread (Debian: libtsan2 comes with gcc)"
    exit 77
fi
"$work/canary_race" >/dev/null 2>"$work/canary_race.out"
if [ $? != 66 ] || ! grep -q 'WARNING: ThreadSanitizer: data race' "$work/canary_race.out"; then
    echo "ERROR: a data race built with $TS was not reported:"
    head -n 20 "$work/canary_race.out"
    exit 99
fi
echo "ok: the sanitizers report a planted signed overflow and a planted data race"

# ---- the builds and the runs, as a Makefile -------------------------------------------
inc="-I$top_builddir -I$top_srcdir/include -I$top_srcdir/lib"
tinc="-I$top_srcdir/include -I$top_srcdir/tests"
tsan_size="--size=25"
[ "$mode" = full ] && tsan_size=""
runs=""
{
    echo "all: runs"
    # $1 variant, $2 compile flags, $3 sources; defines <variant>_OBJS
    lib_rules() {
        objs=""
        for src in $3; do
            o="$1/$(echo "$src" | tr '/' '_' | sed 's/\.c$/.o/')"
            objs="$objs $o"
            echo "$o: $top_srcdir/$src"
            printf '\t@mkdir -p %s && %s %s -c %s -o %s\n' "$1" "$cc" "$2 $inc" "$top_srcdir/$src" "$o"
        done
        echo "$1_OBJS =$objs"
    }
    # $1 log name, $2 directory, $3 command: a run whose status goes to
    # $1.rc and output to $1.log, never failing make.
    run_rule() {
        runs="$runs $1.rc"
        echo "cd $work/$(dirname "$2") && $3" >"$work/$1.cmd"
        echo "$1.rc: $2"
        printf '\t@cd %s && (%s) >%s/%s.log 2>&1 </dev/null; echo $$? >%s/%s.rc\n' \
            "$work/$(dirname "$2")" "$3" "$work" "$1" "$work" "$1"
    }
    for v in rel dbg; do
        if [ $v = rel ]; then
            lib_rules "ubsan-$v" "$san_preload_cflags -fPIC $UB" "$san_preload_src"
        else
            lib_rules "ubsan-$v" "$san_debug_cflags -fPIC $UB" "$san_debug_src"
        fi
        echo "ubsan-$v/libhakmem.so: \$(ubsan-${v}_OBJS)"
        printf '\t@%s -shared %s -o $@ $^ -lpthread\n' "$cc" "$UB"
        for t in $san_tests; do
            eval "srcs=\$san_src_$t extra=\$san_${v}_$t"
            src_paths=""
            for s in $srcs; do src_paths="$src_paths $top_srcdir/$s"; done
            echo "ubsan-$v/$t: ubsan-$v/libhakmem.so$src_paths"
            printf '\t@%s %s %s %s %s -O1 -g -o $@%s -Lubsan-%s -lhakmem -Wl,-rpath,%s -lpthread -ldl\n' \
                "$cc" "$san_test_cflags" "$UB" "$extra" "$tinc" "$src_paths" "$v" "$work/ubsan-$v"
            run_rule "ubsan-$v.$t" "ubsan-$v/$t" "./$t"
        done
    done
    if [ "$mode" = full ]; then
        run_rule "ubsan-rel.soak" "ubsan-rel/test_threads" "./test_threads soak 30 8"
    fi
    lib_rules tsan "$san_api_cflags $TS" "$san_api_src"
    eval "srcs=\$san_src_test_threads"
    src_paths=""
    for s in $srcs; do src_paths="$src_paths $top_srcdir/$s"; done
    echo "tsan/test_threads: \$(tsan_OBJS)$src_paths $here/hak_prefixed.h"
    printf '\t@%s %s %s -O1 -g -include %s %s -o $@%s $(tsan_OBJS) -lpthread\n' \
        "$cc" "$san_test_cflags" "$TS" "$here/hak_prefixed.h" "$tinc" "$src_paths"
    run_rule "tsan.test_threads" "tsan/test_threads" "./test_threads $tsan_size"
    echo "runs:$runs"
} >"$work/Makefile"

t0=$(date +%s)
if ! make -s -k -j"$jobs" -C "$work" >"$work/make.log" 2>&1; then
    keep=1
    echo "FAIL: the sanitizer builds did not build:"
    grep -v '^make' "$work/make.log" | head -n 40 | sed 's/^/    /'
    exit 1
fi
echo "built ubsan-rel, ubsan-dbg, tsan and ran them in $(($(date +%s) - t0)) s"

# ---- the results ---------------------------------------------------------------------
fail=0
for rc_file in $runs; do
    name=${rc_file%.rc}
    rc=$(cat "$work/$rc_file")
    log=$work/$name.log
    if [ "$rc" = 0 ] && ! grep -qE 'runtime error:|WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|ThreadSanitizer: ' "$log"; then
        echo "ok: $name: $(tail -n 1 "$log")"
        continue
    fi
    fail=1
    keep=1
    echo "FAIL: $name exited with status $rc; from its log ($log):"
    grep -m 1 -A 25 -E 'runtime error:|WARNING: ThreadSanitizer|ERROR: ThreadSanitizer' "$log" | sed 's/^/    /'
    tail -n 15 "$log" | sed 's/^/    /'
    echo "    reproduce: UBSAN_OPTIONS=$UBSAN_OPTIONS TSAN_OPTIONS=$TSAN_OPTIONS; $(cat "$work/$name.cmd")"
done
exit $fail
