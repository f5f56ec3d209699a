#!/bin/sh
# test_sqlite.sh: the sqlite3 shell builds a database (a table of N rows, a
# second table from a GROUP BY, two indexes), queries it (aggregates, joins,
# window functions, JSON, recursive CTEs, sorts without an index, full-text
# search where FTS5 is built in), updates and deletes, checks integrity,
# vacuums and dumps it. Every query's output and the checksum of the dump
# must be the same under hakmem as without it.
# Quick: 30,000 rows, release and debug library. Full: 400,000 rows.
# Exit: 0 pass, 1 fail, 77 skip (no sqlite3), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

command -v sqlite3 >/dev/null 2>&1 || real_skip "sqlite3 not found (apt-get install sqlite3)"

rows=30000
[ "$mode" = full ] && rows=400000

fts=""
if sqlite3 :memory: "CREATE VIRTUAL TABLE f USING fts5(body);" >/dev/null 2>&1; then
    fts=1
else
    echo "note: this sqlite3 has no FTS5: full-text queries left out"
fi

{
    cat <<EOF
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT, c REAL, d BLOB);
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $rows)
INSERT INTO t
SELECT i, (i * 2654435761) % 1000003,
       printf('name-%d-%s', i % 1009, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 3)),
       (i % 977) * 1.25 - 300.0,
       CASE WHEN i % 5 = 0 THEN NULL ELSE zeroblob(i % 300) END
FROM s;
COMMIT;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b, a);
CREATE TABLE u AS SELECT a % 1000 AS k, count(*) AS n, sum(c) AS s FROM t GROUP BY a % 1000;
CREATE UNIQUE INDEX u_k ON u(k);
.headers on
SELECT count(*), sum(a), total(c), min(b), max(b), sum(length(d)) FROM t;
SELECT b, count(*), avg(a), max(c) FROM t GROUP BY b ORDER BY count(*) DESC, b LIMIT 20;
SELECT t.id, t.a, u.n, round(u.s, 3) FROM t JOIN u ON u.k = t.a % 1000 WHERE t.id % 997 = 7 ORDER BY t.id LIMIT 40;
SELECT count(*) FROM t WHERE a BETWEEN 1000 AND 200000 AND b LIKE 'name-1%';
SELECT id, a, sum(a) OVER w, rank() OVER (PARTITION BY a % 7 ORDER BY c, id), lag(b, 2) OVER w
  FROM t WHERE id <= 40 WINDOW w AS (ORDER BY id ROWS BETWEEN 5 PRECEDING AND CURRENT ROW);
SELECT a % 10 AS g, count(DISTINCT b), length(group_concat(b, ',')) FROM t GROUP BY g ORDER BY g;
SELECT json_group_array(json_object('id', id, 'b', b, 'c', c)) FROM (SELECT id, b, c FROM t ORDER BY a, id LIMIT 60);
SELECT sum(x), count(*) FROM (SELECT (a * 7) % 1000 AS x FROM t ORDER BY c DESC, b, id LIMIT -1 OFFSET 100);
SELECT b FROM t ORDER BY b DESC, id LIMIT 5 OFFSET $((rows / 3));
WITH RECURSIVE f(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || printf('%d,', n * n) FROM f WHERE n < 2000)
SELECT n, length(s), substr(s, -30) FROM f WHERE n % 500 = 0;
SELECT k, n FROM u WHERE n = (SELECT max(n) FROM u) ORDER BY k;
BEGIN;
UPDATE t SET b = upper(b) || '-' || id, c = c * 2 WHERE id % 7 = 0;
DELETE FROM t WHERE id % 11 = 0;
INSERT INTO t(a, b, c, d) SELECT a + 1, b || '-copy', c, d FROM t WHERE id % 13 = 0;
COMMIT;
SELECT count(*), sum(a), total(c), sum(length(b)) FROM t;
SELECT b FROM t WHERE b GLOB '*-copy' ORDER BY a, id LIMIT 10;
SAVEPOINT sp;
DELETE FROM t WHERE id % 2 = 0;
SELECT count(*) FROM t;
ROLLBACK TO sp;
RELEASE sp;
SELECT count(*) FROM t;
EOF
    if [ -n "$fts" ]; then
        cat <<EOF
CREATE VIRTUAL TABLE f USING fts5(body);
INSERT INTO f(rowid, body) SELECT id, b || ' ' || replace(b, '-', ' ') || ' w' || (a % 100) FROM t WHERE id % 3 = 0;
SELECT count(*) FROM f WHERE f MATCH 'w42';
SELECT rowid, body FROM f WHERE f MATCH 'name AND abc' ORDER BY rowid LIMIT 10;
EOF
    fi
    cat <<EOF
PRAGMA integrity_check;
VACUUM;
PRAGMA integrity_check;
SELECT count(*), sum(a) FROM t;
EOF
} >"$tmp/work.sql"

# $1: the database file (new), $2: the SQL. The dump is read back by a second
# sqlite3 process, which the preload also covers.
cat >"$tmp/sqlite.sh" <<'EOF'
set -e
sqlite3 -bail "$1" <"$2"
sqlite3 "$1" .dump | cksum
rm -f "$1"
EOF

real_served sqlite3 sqlite3 :memory: "CREATE TABLE x(a); INSERT INTO x VALUES (1), (2); SELECT sum(a) FROM x;"
real_run sqlite.base "" sh "$tmp/sqlite.sh" "$tmp/base.db" "$tmp/work.sql"
real_baseline_ok sqlite3 sqlite.base
for lib in $libs; do
    t=$(real_tag "$lib")
    real_run "sqlite.$t" "$lib" sh "$tmp/sqlite.sh" "$tmp/$t.db" "$tmp/work.sql"
    real_same "sqlite3 on $rows rows under $(basename "$lib")" sqlite.base "sqlite.$t"
done
real_finish
