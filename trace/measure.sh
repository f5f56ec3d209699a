#!/bin/sh
# trace/measure.sh: the figures of the README's "Recording and replaying":
# recording overhead and trace sizes for CPython running a regression test
# module and for sqlite3 on 100k rows, then a replay table of those traces
# (and of a threaded C program) under every installed allocator.
#
#   make trace-measure            (ROUNDS=5, OUT=trace-measure/ in the build tree)
#
# Each workload runs ROUNDS times without and with the recorder, interleaved;
# times are medians [min-max] of wall and of user+system CPU (/usr/bin/time).
# The replay table needs the Python package (PYTHON: a python that imports
# hakmem, by default the test venv's).
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-$top_builddir/trace-measure}
REC=${RECORDER:-$top_builddir/.libs/libhakmem_trace.so}
PY=${PYTHON:-$top_builddir/.venv-test/bin/python}
CPY=${CPYTHON:-$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')}
mkdir -p "$OUT"
cd "$OUT"

cat >sqlite.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, val REAL, grp INTEGER);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, 'name-' || x || '-' || hex(randomblob(8)), x * 1.5, x % 100 FROM c;
COMMIT;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), avg(val) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
SELECT count(*) FROM t WHERE name LIKE 'name-9%';
SELECT id, name FROM t ORDER BY name DESC LIMIT 3;
UPDATE t SET val = val + 1 WHERE grp < 50;
DELETE FROM t WHERE grp = 7;
VACUUM;
SQL

median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f [%.2f-%.2f]", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR]}'; }

# One run of workload $1, with the recorder if $2 is "rec": appends "wall cpu" to $1.$2.
run() {
    pre=""
    if [ "$2" = rec ]; then
        rm -f "$1.trace" "$1.trace".*
        pre="LD_PRELOAD=$REC HAKMEM_TRACE_FILE=$OUT/$1.trace"
    fi
    rm -f db.sqlite
    case $1 in
    cpython) /usr/bin/time -f "%e %U %S" -o t.out env $pre PYTHONMALLOC=malloc "$CPY" -m test -q \
                 test_json >/dev/null 2>&1 || true ;;
    sqlite) /usr/bin/time -f "%e %U %S" -o t.out env $pre sqlite3 db.sqlite <sqlite.sql \
                >/dev/null 2>&1 || true ;;
    esac
    awk '{print $1, $2 + $3}' t.out >>"$1.$2"
}

for w in cpython sqlite; do
    : >"$w.plain"
    : >"$w.rec"
    for r in $(seq "$ROUNDS"); do
        run $w plain
        run $w rec
    done
    pw=$(cut -d' ' -f1 "$w.plain" | median); rw=$(cut -d' ' -f1 "$w.rec" | median)
    pc=$(cut -d' ' -f2 "$w.plain" | median); rc=$(cut -d' ' -f2 "$w.rec" | median)
    ratio_w=$(echo "$pw $rw" | awk '{printf "%.2f", $3 / $1}')
    ratio_c=$(echo "$pc $rc" | awk '{printf "%.2f", $3 / $1}')
    echo "$w: wall s plain $pw recorded $rw (x$ratio_w); cpu s plain $pc recorded $rc (x$ratio_c)"
done

# The traces of the last round: calls and bytes of every process's file.
for w in cpython sqlite; do
    "$PY" - "$OUT/$w.trace" <<'PYEOF'
import sys
from hakmem import trace
files = trace.trace_files(sys.argv[1])
recs = [trace.load(f) for f in files]
calls = sum(r.calls for r in recs)
size = sum(r.file_bytes for r in recs)
main = max(recs, key=lambda r: r.calls)
print("%s: %d processes, %d calls, %d bytes, %.2f bytes/call; main process %d calls, "
      "%.2f bytes/call, peak live %.1f MiB" % (
          sys.argv[1].rsplit("/", 1)[-1], len(recs), calls, size, size / calls, main.calls,
          main.bytes_per_call, main.peak_live_bytes / 2**20))
PYEOF
done

# A threaded C program: bench_larson (4 threads, cross-thread frees).
rm -f larson.trace larson.trace.*
LD_PRELOAD=$REC HAKMEM_TRACE_FILE=$OUT/larson.trace "$top_builddir/bench/bench_larson" \
    4 0.3 >/dev/null
# The main process of each recording (env exec'd it: the biggest file).
main_of() { "$PY" -c 'import sys; from hakmem import trace
print(max(trace.trace_files(sys.argv[1]), key=lambda f: trace.load(f).calls))' "$1"; }
"$PY" -m hakmem replay "$(main_of cpython.trace)" "$(main_of sqlite.trace)" larson.trace --repeat "$ROUNDS" \
    --png replay.png --csv replay.csv
"$PY" -m hakmem trace-info "$(main_of sqlite.trace)" --plot sqlite-live.png >/dev/null
