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
exit $fail
