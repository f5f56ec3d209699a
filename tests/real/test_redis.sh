#!/bin/sh
# test_redis.sh: redis-server under hakmem, driven by redis-cli and
# redis-benchmark on 127.0.0.1, on a private port, in a temporary directory,
# with nothing saved to disk. Each server (without hakmem, then under the
# release and the debug library) gets:
#   1. KEYS strings of 1 B to 300 KiB set, then read back: every GET must
#      return the value set (checked against the generated values, not only
#      against the run without hakmem);
#   2. lists, hashes (past the listpack limit), sets, sorted sets, counters,
#      string edits, Lua scripts, UNLINK and lazy frees (freed by redis's
#      background thread): the replies must be those of the run without hakmem;
#   3. redis-benchmark: REQUESTS requests per test, 20 clients, random keys;
#      every test must complete;
#   4. the values of step 1 read again (still intact), FLUSHALL, SHUTDOWN.
# INFO memory must stay sane: used_memory after step 1 within a factor 2 of
# the run without hakmem (redis counts malloc_usable_size), resident memory
# not above 4x the peak use plus 64 MiB, and used_memory back within 4 MiB of
# its start after FLUSHALL (what malloc_usable_size says at free matches what
# it said at malloc). The server must exit 0 and log no crash. The release
# run counts hakmem's calls (HAKMEM_STATS=1): the server's malloc must be
# hakmem's even though Debian's redis links jemalloc.
# Quick: 2,000 keys, 1,000 requests per benchmark test (11 tests). Full:
# 40,000 keys, 50,000 requests per test (all tests), then a pipelined run
# (-P 32, 200,000 requests per test, 1 KiB values).
# Exit: 0 pass, 1 fail, 77 skip (no redis), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

for p in redis-server redis-cli redis-benchmark; do
    command -v $p >/dev/null 2>&1 || real_skip "$p not found (apt-get install redis-server redis-tools)"
done

keys=2000 requests=1000 tests="set,get,incr,lpush,rpop,sadd,hset,spop,zadd,lrange_100,mset"
if [ "$mode" = full ]; then
    keys=40000 requests=50000 tests=""
fi

# ---- the workload --------------------------------------------------------------------
# Values without spaces (redis-cli splits lines on spaces); every 97th is
# 20-60 KiB, every 499th 300 KiB (hakmem's large tier).
awk -v n="$keys" -v out="$tmp" 'BEGIN {
    for (i = 0; i < n; i++) {
        len = 1 + (i * 37) % 2000
        if (i % 97 == 5) len = 20000 + (i * 131) % 40000
        if (i % 499 == 7) len = 300 * 1024
        v = sprintf("v%d.", i)
        while (length(v) < len) v = v v
        v = substr(v, 1, len)
        print "SET hk:s:" i " " v > (out "/load.txt")
        print "GET hk:s:" i > (out "/get.txt")
        print v > (out "/values.txt")
    } }'
awk -v n="$keys" 'BEGIN {
    m = int(n / 20)
    for (j = 0; j < 20; j++) {
        line = "RPUSH hk:l:" j
        for (i = 0; i < m; i++) line = line " e" j "-" i
        print line
        print "LRANGE hk:l:" j " 0 9"
        print "LTRIM hk:l:" j " 5 -5"
        print "LPOP hk:l:" j " 3"
        print "LLEN hk:l:" j
        line = "HSET hk:h:" j
        for (i = 0; i < 100 + 40 * j; i++) line = line " f" i " " sprintf("%0" (1 + i % 40) "d", i)
        print line
        print "HGET hk:h:" j " f" (7 * j)
        print "HINCRBY hk:h:" j " counter " j
        print "HDEL hk:h:" j " f1 f2 f3"
        print "HLEN hk:h:" j
        print "OBJECT ENCODING hk:h:" j
        line = "SADD hk:t:" j
        for (i = 0; i < 50 * j + 10; i++) line = line " m" (i * 7 % (30 * j + 10))
        print line
        print "SCARD hk:t:" j
        print "SISMEMBER hk:t:" j " m7"
        print "SORT hk:t:" j " ALPHA LIMIT 0 5"
        line = "ZADD hk:z:" j
        for (i = 0; i < 200; i++) line = line " " (i * 13 % 97) " z" i
        print line
        print "ZRANGE hk:z:" j " 0 6 WITHSCORES"
        print "ZRANGEBYSCORE hk:z:" j " 10 12"
        print "ZINCRBY hk:z:" j " 5 z3"
        print "ZREM hk:z:" j " z1 z2"
        print "ZCARD hk:z:" j
        print "INCRBY hk:c:" (j % 5) " " (j * 1000 + 1)
        print "APPEND hk:a:" (j % 3) " part" j "-" sprintf("%0" (10 * j) "d", 0)
        print "STRLEN hk:a:" (j % 3)
        print "GETRANGE hk:a:" (j % 3) " 2 40"
        print "SETRANGE hk:a:" (j % 3) " 3 XYZ"
    }
    print "SUNIONSTORE hk:u hk:t:3 hk:t:7 hk:t:19"
    print "SCARD hk:u"
    print "MSET hk:m:1 one hk:m:2 two hk:m:3 three"
    print "MGET hk:m:1 hk:m:3 hk:nothing hk:m:2"
    print "EVAL \"local t = {} for i = 1, tonumber(ARGV[1]) do t[i] = string.rep(\x27x\x27, i % 50) end return #table.concat(t)\" 0 20000"
    print "EVAL \"local s = 0 for i = 1, 2000 do redis.call(\x27SET\x27, \x27hk:lua:\x27 .. i, string.rep(\x27y\x27, i)) s = s + redis.call(\x27STRLEN\x27, \x27hk:lua:\x27 .. i) end return s\" 0"
    print "UNLINK hk:l:0 hk:h:19 hk:t:19 hk:z:19"
    print "DEL hk:l:1 hk:h:18"
    print "EXISTS hk:l:0 hk:l:2 hk:h:18 hk:h:17"
    print "DBSIZE"
}' >"$tmp/ops.txt"

# ---- the server --------------------------------------------------------------------
srv_pid=""
real_cleanup='[ -n "$srv_pid" ] && kill -9 $srv_pid 2>/dev/null'

# Clients run without hakmem, each bounded: a hung server fails the test.
cli() { timeout -k 5 120 env -u LD_PRELOAD redis-cli -h 127.0.0.1 -p "$port" "$@"; }
info() { cli info "$1" | tr -d '\r' >"$tmp/$2"; }
field() { sed -n "s/^$2:\\([0-9]*\\).*/\\1/p" "$tmp/$1"; }

# start NAME LIB: a server in $tmp/NAME.dir, on a free port (tries several).
start() {
    st_name=$1 st_lib=$2
    mkdir -p "$tmp/$st_name.dir"
    st_try=0
    while [ $st_try -lt 10 ]; do
        port=$((20000 + ($$ * 13 + st_try * 1009 + $(date +%N | sed 's/^0*//;s/^$/0/') % 7919) % 40000))
        st_try=$((st_try + 1))
        timeout 5 env -u LD_PRELOAD redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && continue # taken
        st_env="env -u LD_PRELOAD"
        [ -n "$st_lib" ] && st_env="env LD_PRELOAD=$st_lib"
        [ "$st_lib" = "$HAKMEM_LIB" ] && st_env="$st_env HAKMEM_STATS=1"
        $st_env redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
            --dir "$tmp/$st_name.dir" --logfile "$tmp/$st_name.dir/redis.log" --daemonize no \
            --save '' --appendonly no --unixsocket '' --crash-memcheck-enabled no \
            --lazyfree-lazy-user-del yes --lazyfree-lazy-user-flush yes --lazyfree-lazy-server-del yes \
            >"$tmp/$st_name.srv.out" 2>"$tmp/$st_name.srv.err" </dev/null &
        srv_pid=$!
        st_wait=0
        while [ $st_wait -lt 100 ]; do
            if ! kill -0 "$srv_pid" 2>/dev/null; then
                break
            fi
            # PONG from our server (not from one another test started on the port)
            [ "$(cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$srv_pid" ] &&
                return 0
            sleep 0.1
            st_wait=$((st_wait + 1))
        done
        kill -9 "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
        srv_pid=""
        grep -q 'Address already in use' "$tmp/$st_name.dir/redis.log" 2>/dev/null && continue
        echo "server log:"
        tail -n 20 "$tmp/$st_name.dir/redis.log" "$tmp/$st_name.srv.err" 2>/dev/null | sed 's/^/    /'
        return 1
    done
    return 1
}

# stop NAME: SHUTDOWN NOSAVE; prints the server's exit status.
stop() {
    cli shutdown nosave >/dev/null 2>&1
    sp_wait=0
    while kill -0 "$srv_pid" 2>/dev/null && [ $sp_wait -lt 200 ]; do
        sleep 0.1
        sp_wait=$((sp_wait + 1))
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        kill -9 "$srv_pid"
        wait "$srv_pid" 2>/dev/null
        srv_pid=""
        echo "hung (killed)"
        return
    fi
    wait "$srv_pid"
    echo $?
    srv_pid=""
}

# bench OUT ARGS...: redis-benchmark ARGS, output appended to $tmp/OUT and
# $tmp/OUT.err. redis-benchmark retries for ever when the server has gone:
# it is stopped as soon as the server exits, or after 10 minutes.
bench() {
    bn_out=$1
    shift
    env -u LD_PRELOAD redis-benchmark -h 127.0.0.1 -p "$port" -c 20 -r 100000 --csv "$@" \
        >>"$tmp/$bn_out" 2>>"$tmp/$bn_out.err" </dev/null &
    bn_pid=$!
    bn_wait=0
    while kill -0 "$bn_pid" 2>/dev/null; do
        if ! kill -0 "$srv_pid" 2>/dev/null || [ $bn_wait -ge 3000 ]; then
            kill "$bn_pid" 2>/dev/null
            wait "$bn_pid" 2>/dev/null
            echo "redis-benchmark stopped: the server exited, or 10 minutes passed" >>"$tmp/$bn_out.err"
            return 1
        fi
        sleep 0.2
        bn_wait=$((bn_wait + 1))
    done
    wait "$bn_pid"
}

# session NAME LIB: one server's whole run; files $tmp/NAME.*.
session() {
    s=$1
    if ! start "$s" "$2"; then
        echo "FAIL: redis-server $3 did not start"
        fail=1
        return 1
    fi
    info memory "$s.mem0"
    cli <"$tmp/load.txt" >"$tmp/$s.load"
    cli <"$tmp/get.txt" >"$tmp/$s.get1"
    cli <"$tmp/ops.txt" >"$tmp/$s.ops" 2>&1
    info memory "$s.mem1"
    : >"$tmp/$s.bench"
    : >"$tmp/$s.bench.err"
    bench "$s.bench" -n "$requests" -d 256 ${tests:+-t "$tests"}
    echo $? >"$tmp/$s.bench.rc"
    if [ "$mode" = full ] && [ "$(cat "$tmp/$s.bench.rc")" = 0 ]; then
        bench "$s.bench" -n 200000 -P 32 -d 1024 -t set,get,lpush,lpop,sadd,spop,hset
        echo $? >"$tmp/$s.bench.rc"
    fi
    cli ping >"$tmp/$s.ping" 2>&1
    cli <"$tmp/get.txt" >"$tmp/$s.get2"
    info memory "$s.mem2"
    info stats "$s.stats"
    cli flushall sync >/dev/null
    info memory "$s.mem3"
    stop "$s" >"$tmp/$s.exit"
}

# ---- the runs --------------------------------------------------------------------------
session base "" "without hakmem" || exit 99
if ! cmp -s "$tmp/base.get1" "$tmp/values.txt" || [ "$(cat "$tmp/base.exit")" != 0 ] ||
    [ "$(cat "$tmp/base.bench.rc")" != 0 ]; then
    echo "ERROR: redis-server without hakmem did not pass (exit $(cat "$tmp/base.exit"), benchmark status $(cat "$tmp/base.bench.rc")):"
    tail -n 20 "$tmp/base.dir/redis.log" "$tmp/base.bench.err" | sed 's/^/    /'
    exit 99
fi
base_used=$(field base.mem1 used_memory)
nbench=$(grep -c . "$tmp/base.bench")

for lib in $libs; do
    t=$(real_tag "$lib")
    what="redis-server under $(basename "$lib")"
    session "$t" "$lib" "under $(basename "$lib")" || continue
    bad=""
    note() {
        echo "FAIL: $what: $*"
        bad=1
        fail=1
    }
    code=$(cat "$tmp/$t.exit")
    [ "$code" = 0 ] || note "the server exited with status $code"
    grep -hE 'crashed by signal|REDIS BUG REPORT|Guru Meditation' "$tmp/$t.dir/redis.log" \
        "$tmp/$t.srv.err" >"$tmp/$t.crash" 2>/dev/null
    real_hakmem_errors "$tmp/$t.srv.err" >>"$tmp/$t.crash"
    if [ -s "$tmp/$t.crash" ]; then
        note "crash report in the server's log:"
        head -n 10 "$tmp/$t.crash" | sed 's/^/    /'
    fi
    for step in load ops; do
        if ! cmp -s "$tmp/base.$step" "$tmp/$t.$step"; then
            note "the replies to $step.txt differ from the run without hakmem:"
            diff "$tmp/base.$step" "$tmp/$t.$step" | head -n 10 | cut -c1-200 | sed 's/^/    /'
        fi
    done
    for g in get1 get2; do
        if ! cmp -s "$tmp/values.txt" "$tmp/$t.$g"; then
            note "GET did not return the values set ($g; first difference: $(cmp "$tmp/values.txt" "$tmp/$t.$g" 2>&1 | head -n 1))"
        fi
    done
    if [ "$(cat "$tmp/$t.bench.rc")" != 0 ] || [ "$(grep -c . "$tmp/$t.bench")" != "$nbench" ]; then
        note "redis-benchmark failed (status $(cat "$tmp/$t.bench.rc"), $(grep -c . "$tmp/$t.bench") of $nbench result lines):"
        tail -n 5 "$tmp/$t.bench.err" | cut -c1-200 | sed 's/^/    /'
    fi
    [ "$(cat "$tmp/$t.ping")" = PONG ] || note "no PONG after the benchmark: $(cat "$tmp/$t.ping")"
    used0=$(field "$t.mem0" used_memory) used1=$(field "$t.mem1" used_memory)
    used3=$(field "$t.mem3" used_memory) peak=$(field "$t.mem2" used_memory_peak)
    rss2=$(field "$t.mem2" used_memory_rss) cmds=$(field "$t.stats" total_commands_processed)
    if [ -z "$used0" ] || [ -z "$used1" ] || [ -z "$used3" ] || [ -z "$peak" ] || [ -z "$rss2" ]; then
        note "INFO memory unreadable"
    else
        [ $((used1 * 2)) -ge "$base_used" ] && [ "$used1" -le $((base_used * 2)) ] ||
            note "used_memory $used1 after loading the keys, $base_used without hakmem (not within a factor 2)"
        [ "$rss2" -le $((peak * 4 + 64 * 1048576)) ] ||
            note "used_memory_rss $rss2 is above 4 x used_memory_peak ($peak) + 64 MiB"
        [ "$used3" -le $((used0 + 4 * 1048576)) ] ||
            note "used_memory $used3 after FLUSHALL, $used0 at the start (more than 4 MiB left)"
    fi
    if [ "$lib" = "$HAKMEM_LIB" ]; then
        n=$(awk '$1 == "hakmem:" && $2 ~ /^(tiny|mid|large)_mallocs$/ { n += $3 } END { print n + 0 }' "$tmp/$t.srv.err")
        [ "$n" -gt "$keys" ] || note "hakmem's statistics at exit count $n mallocs: the server did not allocate through hakmem"
        served=", $n mallocs through hakmem"
    else
        served=""
    fi
    if [ -z "$bad" ]; then
        echo "ok: $what: $keys keys set and read back twice, $(grep -c . "$tmp/ops.txt") other commands as without hakmem," \
            "$((nbench - 1)) benchmark tests, $cmds commands in all$served;" \
            "used_memory $used1 (without hakmem $base_used), peak $peak, rss $rss2, after FLUSHALL $used3; exit 0"
    fi
done
real_finish
