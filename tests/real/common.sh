# common.sh: what the real-program tests share; sourced by tests/real/test_*.sh.
#
# Each test runs one program on a fixed workload without hakmem (the
# baseline), then with the release library and the debug library under
# LD_PRELOAD, and compares what the runs printed. Any difference, a non-zero
# exit or a crash fails the test; a program that is not installed is skipped
# (exit 77) with a note saying which package provides it.
#
# HAKMEM_REAL_MODE=quick (the default, `make check`): small workloads, seconds.
# HAKMEM_REAL_MODE=full (`make check-real`): the whole suite, minutes.
# HAKMEM_REAL_KEEP=1: keep the runs' files (outputs, databases) afterwards.
#
# Provides: $mode, $tmp (removed at exit), $libs (the libraries to test),
# real_run, real_same, real_baseline_ok, real_served, real_skip, real_finish,
# real_tag. A test that starts a server sets real_cleanup to a command run at
# exit (before $tmp goes).

set -u
real_here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(cd "$real_here/../.." && pwd)}"
: "${top_srcdir:=$(cd "$real_here/../.." && pwd)}"
: "${HAKMEM_LIB:=$top_builddir/.libs/libhakmem.so}"
: "${HAKMEM_LIB_DEBUG:=$top_builddir/.libs/libhakmem_debug.so}"

mode=${HAKMEM_REAL_MODE:-quick}
case $mode in
quick | full) ;;
*)
    echo "ERROR: HAKMEM_REAL_MODE=$mode (quick or full)"
    exit 99
    ;;
esac

if [ ! -f "$HAKMEM_LIB" ]; then
    echo "ERROR: HAKMEM_LIB=$HAKMEM_LIB does not exist (run make first)"
    exit 99
fi
libs="$HAKMEM_LIB"
if [ -f "$HAKMEM_LIB_DEBUG" ]; then
    libs="$libs $HAKMEM_LIB_DEBUG"
else
    echo "note: no debug library at $HAKMEM_LIB_DEBUG: testing the release library only"
fi

# The same options and environment in every run: no hakmem option from the
# caller's environment, a fixed locale and time zone.
unset HAKMEM_STATS HAKMEM_FREE_ROUTE_TRACE HAKMEM_FREE_ROUTE_SAMPLE HAKMEM_VERBOSE \
    HAKMEM_FAULT_MAP_NTH HAKMEM_FAULT_MAP_EVERY HAKMEM_FAULT_PURGE_EVERY
LC_ALL=C TZ=UTC
export LC_ALL TZ

real_cleanup=:
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-real.XXXXXX") || exit 99
# HAKMEM_REAL_KEEP=1 keeps the files of the runs (their output) for a look.
if [ -n "${HAKMEM_REAL_KEEP:-}" ]; then
    trap 'eval "$real_cleanup"; echo "note: the runs are kept in $tmp"' EXIT
else
    trap 'eval "$real_cleanup"; rm -rf "$tmp"' EXIT
fi
trap 'exit 1' INT TERM HUP

# Every run is bounded: a hung program fails instead of stalling make check.
real_timeout=""
command -v timeout >/dev/null 2>&1 && real_timeout="timeout -k 10 ${REAL_TIMEOUT:-900}"

fail=0

# real_skip MESSAGE: the program is not there; automake's skip status.
real_skip() {
    echo "SKIP: $*"
    exit 77
}

# real_tag LIB: rel or dbg, for file names.
# By the file name: a build tree whose path contains "debug" must not make
# the release run share the debug run's names.
real_tag() { case "${1##*/}" in *debug*) echo dbg ;; *) echo rel ;; esac; }

# real_run NAME LIB CMD...: runs CMD with LIB preloaded (nothing preloaded if
# LIB is empty); stdout, stderr and the exit status go to $tmp/NAME.{out,err,rc}.
real_run() {
    real_name=$1 real_lib=$2
    shift 2
    if [ -n "$real_lib" ]; then
        $real_timeout env LD_PRELOAD="$real_lib" "$@" >"$tmp/$real_name.out" 2>"$tmp/$real_name.err" </dev/null
    else
        $real_timeout env -u LD_PRELOAD "$@" >"$tmp/$real_name.out" 2>"$tmp/$real_name.err" </dev/null
    fi
    echo $? >"$tmp/$real_name.rc"
}

# real_status NAME: a readable form of the exit status of run NAME.
real_status() {
    rs=$(cat "$tmp/$1.rc")
    if [ "$rs" = 124 ] || [ "$rs" = 137 ]; then
        echo "$rs (timed out)"
    elif [ "$rs" -gt 128 ]; then
        echo "$rs (killed by signal $((rs - 128)))"
    else
        echo "$rs"
    fi
}

# real_baseline_ok WHAT BASE: the run without hakmem must have worked, or the
# comparison means nothing (exit 99: the test's setup is broken, not hakmem).
real_baseline_ok() {
    if [ "$(cat "$tmp/$2.rc")" != 0 ]; then
        echo "ERROR: $1 failed without hakmem (status $(real_status "$2")):"
        tail -n 20 "$tmp/$2.err" | sed 's/^/    /'
        exit 99
    fi
}

# real_same WHAT BASE NAME: run NAME exited 0 and printed exactly what BASE
# printed, on stdout and on stderr. Prints ok or FAIL; sets fail.
real_same() {
    real_what=$1 real_base=$2 real_name=$3
    if [ "$(cat "$tmp/$real_name.rc")" != 0 ]; then
        echo "FAIL: $real_what exited with status $(real_status "$real_name")"
        tail -n 20 "$tmp/$real_name.err" | sed 's/^/    stderr: /'
        fail=1
        return 1
    fi
    for real_s in out err; do
        if ! cmp -s "$tmp/$real_base.$real_s" "$tmp/$real_name.$real_s"; then
            echo "FAIL: $real_what: std$real_s differs from the run without hakmem"
            diff "$tmp/$real_base.$real_s" "$tmp/$real_name.$real_s" | head -n 20 | sed 's/^/    /'
            fail=1
            return 1
        fi
    done
    echo "ok: $real_what ($(wc -l <"$tmp/$real_base.out") lines of output compared)"
    return 0
}

# real_served WHAT CMD...: CMD run with the release library and
# HAKMEM_STATS=1 must end with hakmem's statistics showing blocks it served.
# A program that links its own allocator statically, or never reaches
# malloc, would pass every comparison without testing anything.
real_served() {
    real_what=$1
    shift
    $real_timeout env LD_PRELOAD="$HAKMEM_LIB" HAKMEM_STATS=1 "$@" >/dev/null 2>"$tmp/served.err" </dev/null
    real_n=$(awk '$1 == "hakmem:" && $2 ~ /^(tiny|mid|large)_mallocs$/ { n += $3 } END { print n + 0 }' \
        "$tmp/served.err")
    if [ "$real_n" -gt 0 ]; then
        echo "ok: $real_what allocates through hakmem ($real_n mallocs counted)"
    else
        echo "FAIL: $real_what under LD_PRELOAD=$HAKMEM_LIB: hakmem served no block (statistics missing or zero)"
        tail -n 10 "$tmp/served.err" | sed 's/^/    /'
        fail=1
    fi
}

# real_hakmem_errors FILE...: prints the lines of FILEs in which hakmem
# reports a problem ("hakmem: free(): double free ..."): every line that
# starts with "hakmem: " and is not part of the HAKMEM_STATS report.
# Status 0 if there is one.
real_hakmem_errors() {
    grep -hE '^hakmem: ' "$@" 2>/dev/null |
        grep -vE '^hakmem: (statistics |class |free route distribution|route |[a-z_]+ [0-9]+$)' |
        grep .
}

# real_finish: the exit status for automake.
real_finish() {
    exit $fail
}
