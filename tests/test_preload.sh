#!/bin/sh
# test_preload.sh: real programs under LD_PRELOAD of the release and the debug
# library give the same output as without it.
#
#   python3  dicts, lists, json round trip, re, sorting, threads
#            (PYTHONMALLOC=malloc: every Python object goes through malloc)
#   sort     a generated file of 200k lines: in memory, 2 threads, external merge
#   gcc      compiles a small C program (driver, cc1, as, ld all preloaded);
#            the program's output is compared
#   git      init, add 500 files, two commits with fixed author and dates,
#            repack; log --format=%H, status, ls-tree, fsck
# A program that is absent is skipped with a note. Any difference in stdout
# or stderr, or a non-zero exit, fails.
#
# Also: each preload library exports the whole malloc family and every hak_*
# function of include/hakmem.h; libhakmem_api.so ($HAKMEM_API_LIB) exports
# only hak_* and can be dlopen()ed late into python3 (ctypes).
#
# Run from `make check`, or by hand: top_builddir=$PWD sh tests/test_preload.sh
# Exit: 0 pass, 1 fail, 77 skip (none of the programs found), 99 setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(cd "$here/.." && pwd)}"
: "${HAKMEM_LIB:=$top_builddir/.libs/libhakmem.so}"
: "${HAKMEM_LIB_DEBUG:=$top_builddir/.libs/libhakmem_debug.so}"
: "${HAKMEM_API_LIB:=$top_builddir/.libs/libhakmem_api.so}"
: "${top_srcdir:=$(cd "$here/.." && pwd)}"

if [ ! -f "$HAKMEM_LIB" ]; then
    echo "ERROR: HAKMEM_LIB=$HAKMEM_LIB does not exist"
    exit 99
fi
libs="$HAKMEM_LIB"
if [ -f "$HAKMEM_LIB_DEBUG" ]; then
    libs="$libs $HAKMEM_LIB_DEBUG"
else
    echo "note: no debug library at $HAKMEM_LIB_DEBUG: testing the release library only"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-preload.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

# Keep the options and the environment the programs see the same in every run.
unset HAKMEM_STATS HAKMEM_FREE_ROUTE_TRACE HAKMEM_FREE_ROUTE_SAMPLE HAKMEM_VERBOSE
LC_ALL=C
export LC_ALL
to=""
command -v timeout >/dev/null 2>&1 && to="timeout 300"

fail=0
ran=0

# run NAME LIB CMD...: runs CMD with LIB preloaded (none if LIB is empty);
# stdout, stderr and the exit status go to $tmp/NAME.{out,err,rc}.
run() {
    name=$1 lib=$2
    shift 2
    if [ -n "$lib" ]; then
        $to env LD_PRELOAD="$lib" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    else
        $to env -u LD_PRELOAD "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    fi
    echo $? >"$tmp/$name.rc"
}

# same WHAT BASE NAME: the run NAME exited 0 and printed what BASE printed.
same() {
    what=$1 base=$2 name=$3
    rc=$(cat "$tmp/$name.rc")
    if [ "$rc" != 0 ]; then
        echo "FAIL: $what exited with status $rc"
        sed 's/^/    stderr: /' "$tmp/$name.err" | head -20
        fail=1
        return 1
    fi
    for s in out err; do
        if ! cmp -s "$tmp/$base.$s" "$tmp/$name.$s"; then
            echo "FAIL: $what: std$s differs from the run without LD_PRELOAD"
            diff "$tmp/$base.$s" "$tmp/$name.$s" | head -20 | sed 's/^/    /'
            fail=1
            return 1
        fi
    done
    echo "ok: $what"
    return 0
}

# the baseline itself must have worked
baseline_ok() {
    what=$1 base=$2
    if [ "$(cat "$tmp/$base.rc")" != 0 ]; then
        echo "ERROR: $what failed without LD_PRELOAD (status $(cat "$tmp/$base.rc")):"
        sed 's/^/    /' "$tmp/$base.err" | head -20
        exit 99
    fi
}

# By the file name: a build tree whose path contains "debug" must not make
# the release run share the debug run's names.
tag() { case "${1##*/}" in *debug*) echo dbg ;; *) echo rel ;; esac; }

# ---- the library is really loaded ----------------------------------------------------
for lib in $libs; do
    real=$(readlink -f "$lib")
    if LD_PRELOAD="$lib" cat /proc/self/maps | grep -qF "$real"; then
        echo "ok: LD_PRELOAD=$lib is mapped into the process"
    else
        echo "FAIL: LD_PRELOAD=$lib did not load (cat /proc/self/maps does not show $real)"
        fail=1
    fi
done

# ---- exported names ------------------------------------------------------------------------
# A name missing from the preload library sends that call to glibc, and the
# pointer then reaches hakmem's free (PITFALLS.md: incomplete override set).
family="malloc free calloc realloc posix_memalign aligned_alloc memalign valloc pvalloc
    reallocarray malloc_usable_size free_sized free_aligned_sized mallinfo2 malloc_trim malloc_stats"
hak_names=$(grep -oE '\bhak_[a-z0-9_]+ *\(' "$top_srcdir/include/hakmem.h" | tr -d ' (' | sort -u)
exports() { nm -D --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[TWiV]$/ { print $3 }' | sed 's/@.*//' | sort -u; }
if ! command -v nm >/dev/null 2>&1; then
    echo "note: nm not found: exported names not checked"
elif [ -z "$hak_names" ]; then
    echo "ERROR: no hak_ functions found in $top_srcdir/include/hakmem.h"
    exit 99
else
    for lib in $libs; do
        exports "$lib" >"$tmp/exports"
        missing=""
        for n in $family $hak_names; do grep -qx "$n" "$tmp/exports" || missing="$missing $n"; done
        if [ -n "$missing" ]; then
            echo "FAIL: $(basename "$lib") does not export:$missing"
            fail=1
        else
            echo "ok: $(basename "$lib") exports the malloc family and every hak_ function"
        fi
    done
    if [ -f "$HAKMEM_API_LIB" ]; then
        exports "$HAKMEM_API_LIB" >"$tmp/exports"
        missing=""
        for n in $hak_names; do grep -qx "$n" "$tmp/exports" || missing="$missing $n"; done
        extra=$(grep -v '^hak_' "$tmp/exports" | grep -vE '^(_init|_fini|_edata|_end|__bss_start)$' | tr '\n' ' ')
        if [ -n "$missing" ] || [ -n "$extra" ]; then
            echo "FAIL: $(basename "$HAKMEM_API_LIB") must export exactly the hak_ functions; missing:${missing:- none}; extra: ${extra:-none}"
            fail=1
        else
            echo "ok: $(basename "$HAKMEM_API_LIB") exports only hak_ functions, all of them"
        fi
    fi
fi

# ---- libhakmem_api.so dlopen()ed into python3 -------------------------------------------------
if [ -f "$HAKMEM_API_LIB" ] && command -v python3 >/dev/null 2>&1; then
    want=$(sed -n 's/^#define HAKMEM_VERSION_STRING "\(.*\)"$/\1/p' "$top_srcdir/include/hakmem.h")
    cat >"$tmp/dlopen.py" <<'EOF'
import ctypes, json, sys
json.dumps({"warm": list(range(1000))})  # the interpreter is up before the load
lib = ctypes.CDLL(sys.argv[1])
lib.hak_version.restype = ctypes.c_char_p
lib.hak_malloc.restype = ctypes.c_void_p
lib.hak_malloc.argtypes = [ctypes.c_size_t]
lib.hak_free.argtypes = [ctypes.c_void_p]
lib.hak_owns.argtypes = [ctypes.c_void_p]
blocks = []
for n in (1, 100, 5000, 300000):
    p = lib.hak_malloc(n)
    ctypes.memset(p, 0x5A, n)
    blocks.append((p, n))
ok = all(lib.hak_owns(p) == 1 for p, n in blocks)
ok = ok and all(ctypes.string_at(p, n) == b"\x5a" * n for p, n in blocks)
for p, n in blocks:
    lib.hak_free(p)
print(lib.hak_version().decode(), "blocks ok" if ok else "blocks BAD")
EOF
    got=$(env -u LD_PRELOAD python3 "$tmp/dlopen.py" "$HAKMEM_API_LIB" 2>&1)
    if [ "$got" = "$want blocks ok" ]; then
        echo "ok: python3 dlopen()s $(basename "$HAKMEM_API_LIB") (hak_version $want) and allocates through it"
    else
        echo "FAIL: python3 + ctypes.CDLL($HAKMEM_API_LIB): expected \"$want blocks ok\", got:"
        echo "$got" | head -20 | sed 's/^/    /'
        fail=1
    fi
fi

# ---- python3 ---------------------------------------------------------------------------
if command -v python3 >/dev/null 2>&1; then
    ran=1
    cat >"$tmp/work.py" <<'EOF'
import hashlib, json, random, re, threading

random.seed(12345)
N = 80000

d = {}
for i in range(N):
    d["k%d" % i] = [i, str(i) * (i % 7), {"x": i % 13, "y": [i] * (i % 5)}]
for i in range(0, N, 3):
    del d["k%d" % i]
items = sorted(d.items(), key=lambda kv: (kv[1][2]["x"], kv[0]))
h = hashlib.sha256()
for k, v in items[::7]:
    h.update(k.encode())
print("dict", len(d), h.hexdigest())

s = json.dumps(d, sort_keys=True)
back = json.loads(s)
print("json", len(s), back == d, hashlib.sha256(s.encode()).hexdigest())

text = " ".join("word%d-%03d" % (i, i * 7 % 1000) for i in range(N // 2))
m = re.findall(r"word(\d+)-(\d{3})\b", text)
print("re", len(m), sum(int(a) * int(b) for a, b in m) % 1000003)
print("sub", len(re.sub(r"(\d)(\d)", r"\2\1", text)))

nums = [random.random() for _ in range(N)]
strs = [("%.12f" % x)[::-1] for x in nums]
tuples = [(int(x * 1000), s) for x, s in zip(nums, strs)]
nums.sort()
strs.sort()
tuples.sort(reverse=True)
print("sort", nums[0], nums[-1], strs[N // 2], tuples[N // 3])

buf = bytearray()
for i in range(20000):
    buf += bytes([i % 256]) * (i % 100)
print("bytes", len(buf), hashlib.md5(bytes(buf)).hexdigest())

results = [None] * 4
def work(t):
    r = random.Random(t)
    acc = []
    for i in range(20000):
        acc.append({"t": t, "i": i, "v": r.random()})
        if len(acc) > 500:
            acc = acc[250:]
    results[t] = json.dumps(acc, sort_keys=True)
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", [hashlib.sha1(r.encode()).hexdigest()[:12] for r in results])
EOF
    run py.base "" env PYTHONMALLOC=malloc PYTHONHASHSEED=0 python3 "$tmp/work.py"
    baseline_ok python3 py.base
    for lib in $libs; do
        t=$(tag "$lib")
        run "py.$t" "$lib" env PYTHONMALLOC=malloc PYTHONHASHSEED=0 python3 "$tmp/work.py"
        same "python3 workload under $(basename "$lib")" py.base "py.$t"
    done
else
    echo "note: python3 not found: skipped"
fi

# ---- sort ------------------------------------------------------------------------------
if command -v sort >/dev/null 2>&1 && command -v awk >/dev/null 2>&1; then
    ran=1
    awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++)
             printf "%08d %s%d %d\n", int(rand() * 100000000), substr("abcdefghij", i % 10 + 1, 3), i % 977, i }' \
        >"$tmp/lines.txt"
    mkdir "$tmp/sorttmp"
    # in memory; by a numeric key, reversed; unique; 2 threads; external merge
    cat >"$tmp/sort.sh" <<'EOF'
sort "$1" | cksum
sort -k3,3nr -k1,1 "$1" | cksum
sort -u -k2,2 "$1" | cksum
sort --parallel=2 -S 8M "$1" | cksum
sort -S 1M -T "$2" "$1" | cksum
EOF
    run sort.base "" sh "$tmp/sort.sh" "$tmp/lines.txt" "$tmp/sorttmp"
    baseline_ok sort sort.base
    for lib in $libs; do
        t=$(tag "$lib")
        run "sort.$t" "$lib" sh "$tmp/sort.sh" "$tmp/lines.txt" "$tmp/sorttmp"
        same "sort under $(basename "$lib")" sort.base "sort.$t"
    done
else
    echo "note: sort or awk not found: skipped"
fi

# ---- gcc ---------------------------------------------------------------------------------
if command -v gcc >/dev/null 2>&1; then
    ran=1
    cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; unsigned long v; };

static unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int cmp(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

static unsigned long list_sum(unsigned n)
{
    struct node *head = NULL;
    for (unsigned i = 0; i < n; i++) {
        struct node *e = malloc(sizeof *e);
        e->v = i * 2654435761u % 1000003u;
        e->next = head;
        head = e;
    }
    unsigned long s = 0;
    while (head) {
        struct node *e = head;
        s += e->v;
        head = e->next;
        free(e);
    }
    return s;
}

int main(void)
{
    unsigned long a[1000];
    for (int i = 0; i < 1000; i++) a[i] = (unsigned long)i * 7919u % 1009u;
    qsort(a, 1000, sizeof a[0], cmp);
    char *s = strdup("hakmem preload test");
    printf("fib(25)=%lu min=%lu max=%lu median=%lu sum=%lu %s\n", fib(25), a[0], a[999], a[500],
           list_sum(100000), s);
    free(s);
    return 0;
}
EOF
    # $1: a fresh directory to build in, $2: the source
    printf '%s\n' 'set -e' 'mkdir "$1"' 'cd "$1"' 'gcc -O2 -Wall -o prog "$2"' './prog' >"$tmp/gcc.sh"
    run gcc.base "" sh "$tmp/gcc.sh" "$tmp/gcc.base.d" "$tmp/prog.c"
    baseline_ok gcc gcc.base
    for lib in $libs; do
        t=$(tag "$lib")
        run "gcc.$t" "$lib" sh "$tmp/gcc.sh" "$tmp/gcc.$t.d" "$tmp/prog.c"
        same "gcc compile + run under $(basename "$lib")" gcc.base "gcc.$t"
    done
else
    echo "note: gcc not found: skipped"
fi

# ---- git ------------------------------------------------------------------------------------
if command -v git >/dev/null 2>&1; then
    ran=1
    # The tree: 500 files in 20 directories, made once, copied for each run.
    mkdir "$tmp/tree"
    i=0
    while [ $i -lt 20 ]; do mkdir "$tmp/tree/d$i"; i=$((i + 1)); done
    awk -v dir="$tmp/tree" 'BEGIN {
        for (i = 0; i < 500; i++) {
            f = sprintf("%s/d%d/file%03d.txt", dir, i % 20, i)
            for (j = 0; j <= i % 40; j++) printf "line %d of file %d: %d\n", j, i, (i * 31 + j * 17) % 1000 > f
            close(f)
        } }'
    cat >"$tmp/git.sh" <<'EOF'
set -e
export HOME="$1/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Hak Mem" GIT_AUTHOR_EMAIL="hak@example.invalid"
export GIT_COMMITTER_NAME="Hak Mem" GIT_COMMITTER_EMAIL="hak@example.invalid"
export GIT_AUTHOR_DATE="2024-01-02T03:04:05+0000" GIT_COMMITTER_DATE="2024-01-02T03:04:05+0000"
mkdir -p "$HOME"
cp -R "$2" "$1/repo"
cd "$1/repo"
git init -q
git symbolic-ref HEAD refs/heads/main
git add -A
git commit -q -m "500 files"
for f in d3/file003.txt d7/file107.txt d19/file499.txt; do echo changed >>"$f"; done
git rm -q d0/file000.txt
echo new >d5/new.txt
git add -A
export GIT_AUTHOR_DATE="2024-01-03T03:04:05+0000" GIT_COMMITTER_DATE="2024-01-03T03:04:05+0000"
git commit -q -m "second"
echo untracked >d1/untracked.txt
echo dirty >>d2/file002.txt
git repack -adq
git log --format=%H
git status --porcelain
git ls-tree -r HEAD | cksum
git diff --stat HEAD~1 HEAD
git fsck --full --strict 2>&1
EOF
    run git.base "" sh "$tmp/git.sh" "$tmp/git.base.d" "$tmp/tree"
    baseline_ok git git.base
    for lib in $libs; do
        t=$(tag "$lib")
        run "git.$t" "$lib" sh "$tmp/git.sh" "$tmp/git.$t.d" "$tmp/tree"
        same "git under $(basename "$lib")" git.base "git.$t"
    done
else
    echo "note: git not found: skipped"
fi

if [ $ran = 0 ]; then
    echo "SKIP: none of python3, sort, gcc, git found"
    exit 77
fi
exit $fail
