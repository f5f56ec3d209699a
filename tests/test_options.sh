#!/bin/sh
# test_options.sh: the README's option table names exactly the options the
# library reads.
#
# The names are the {"HAKMEM_[A-Z0-9_]+" rows in lib/options.c (the option
# table) and the first name of each README row that starts with "| `HAKMEM_".
# Fails listing the names found on one side only.
#
# Run from `make check`, or by hand: sh tests/test_options.sh
# Exit: 0 pass, 1 fail, 99 setup error (a file missing, or no names found).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"

options=$top_srcdir/lib/options.c
readme=""
for f in README.md README; do
    if [ -f "$top_srcdir/$f" ]; then
        readme=$top_srcdir/$f
        break
    fi
done
if [ ! -f "$options" ]; then
    echo "ERROR: $options not found"
    exit 99
fi
if [ -z "$readme" ]; then
    echo "ERROR: no README.md or README in $top_srcdir"
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-options.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

# The table's rows: {"HAKMEM_NAME", ... (the tools' names are listed elsewhere).
grep -oE '\{"HAKMEM_[A-Z0-9_]+"' "$options" | tr -d '{"' | sort -u >"$tmp/code"
grep -E '^\| *`HAKMEM_' "$readme" | sed -E 's/^\| *`(HAKMEM_[A-Z0-9_]+).*/\1/' | sort -u >"$tmp/readme"

if [ ! -s "$tmp/code" ]; then
    echo "ERROR: no HAKMEM_ names in $options"
    exit 99
fi
if [ ! -s "$tmp/readme" ]; then
    echo "FAIL: $readme has no option table (rows starting with '| \`HAKMEM_')"
    echo "options in $options:"
    sed 's/^/  /' "$tmp/code"
    exit 1
fi

only_code=$(comm -23 "$tmp/code" "$tmp/readme")
only_readme=$(comm -13 "$tmp/code" "$tmp/readme")
fail=0
if [ -n "$only_code" ]; then
    echo "FAIL: in lib/options.c but not in the README's option table:"
    echo "$only_code" | sed 's/^/  /'
    fail=1
fi
if [ -n "$only_readme" ]; then
    echo "FAIL: in the README's option table but not in lib/options.c:"
    echo "$only_readme" | sed 's/^/  /'
    fail=1
fi
if [ $fail = 0 ]; then
    echo "ok: $(wc -l <"$tmp/code" | tr -d ' ') options, the same in lib/options.c and $(basename "$readme"):"
    sed 's/^/  /' "$tmp/code"
fi

# Nothing is dropped silently: each bad setting says what is used instead,
# a tool's variable passes without a word, and HAKMEM_STATS_FILE takes the
# report, named by pid and program. Needs the built library (make check).
if [ -n "${HAKMEM_LIB:-}" ] && [ -f "$HAKMEM_LIB" ]; then
    expect_line() { # $1 file, $2 fixed text, $3 what it shows
        if grep -qF -- "$2" "$1"; then
            echo "ok: $3"
        else
            echo "FAIL: $3: no line containing '$2' in:"
            sed 's/^/  /' "$1"
            fail=1
        fi
    }
    env HAKMEM_STATZ=1 HAKMEM_ARENA_SIZE=4M HAKMEM_TCACHE_BYTES=abc HAKMEM_RETAIN_BYTES=1000G \
        HAKMEM_STATS=yes HAKMEM_LIB_DEBUG=x HAKMEM_BENCH_FOO=1 \
        HAKMEM_STATS_FILE="$tmp/report-%p.txt" LD_PRELOAD="$HAKMEM_LIB" /bin/true 2>"$tmp/err"
    expect_line "$tmp/err" "hakmem: unknown option HAKMEM_STATZ ignored" "an unknown name is named"
    expect_line "$tmp/err" "hakmem: HAKMEM_ARENA_SIZE=4M is below the least value; using 16M" \
        "a value below the range is raised, and said"
    expect_line "$tmp/err" "hakmem: HAKMEM_RETAIN_BYTES=1000G is above the greatest value; using 64G" \
        "a value above the range is lowered, and said"
    expect_line "$tmp/err" "hakmem: HAKMEM_TCACHE_BYTES=abc is not a number; using 64k (the default)" \
        "a value that does not parse keeps the default, and says so"
    if grep -qE "HAKMEM_LIB_DEBUG|HAKMEM_BENCH_FOO|statistics" "$tmp/err"; then
        echo "FAIL: a tool's variable was warned about, or the report went to stderr:"
        sed 's/^/  /' "$tmp/err"
        fail=1
    fi
    reports=$(ls "$tmp"/report-*.txt 2>/dev/null)
    if [ "$(echo "$reports" | grep -c .)" != 1 ]; then
        echo "FAIL: HAKMEM_STATS_FILE=$tmp/report-%p.txt made: '$reports'"
        fail=1
    else
        pid=${reports##*/report-}
        pid=${pid%.txt}
        expect_line "$reports" "hakmem: statistics for pid $pid (true), hakmem " \
            "the report goes to the file named by pid, and starts with the pid and program"
        expect_line "$reports" "hakmem: bytes_reserved " "the report shows reserved address space apart"
    fi
fi
exit $fail
