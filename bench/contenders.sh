# contenders.sh: which allocators the harnesses compare, and proof of which
# one a benchmark really ran with. Sourced (bash) by run.sh and callgrind.sh.
#
#   bench_discover BUILDDIR   sets CONTENDERS (names, in table order) and
#                             CONTENDER_LIB[name] (absolute path; "" = system);
#                             hakmem is $HAKMEM_BENCH_LIB if set, else
#                             BUILDDIR/.libs/libhakmem.so
#   bench_bin BUILDDIR NAME   path of a benchmark program, or exits
#   bench_check_allocator NAME EXPECTED_LIB ACTUAL_PATH
#                             true if a run printed the library it was meant to
#   bench_field KEY LINE      value of KEY=value in a benchmark's output line
#
# Peers are found with `ldconfig -p`, never by a fixed path, so the same
# scripts work on any distribution and architecture that packages them.

declare -a CONTENDERS
declare -A CONTENDER_LIB
declare -a BENCH_NOTES

# The loader cache, read once and whole. Never `ldconfig -p | awk '...; exit'`:
# awk leaving early kills ldconfig with SIGPIPE, and under `set -o pipefail`
# that status (141) ended run.sh without a word.
BENCH_LDCACHE=""
bench_ldcache() {
    if [ -z "$BENCH_LDCACHE" ]; then
        BENCH_LDCACHE=$(ldconfig -p 2>/dev/null) || BENCH_LDCACHE=""
    fi
}

# First library in the loader cache whose name is PREFIX.so.<digits>.
bench_peer_lib() {
    bench_ldcache
    printf '%s\n' "$BENCH_LDCACHE" | awk -v pre="$1" '
        !found && index($1, pre ".so.") == 1 && substr($1, length(pre) + 5) ~ /^[0-9]+$/ {
            print $NF; found = 1
        }'
}

bench_discover() {
    local builddir=$1 lib name spec
    CONTENDERS=(system)
    CONTENDER_LIB[system]=""
    BENCH_NOTES=()
    # HAKMEM_BENCH_LIB: a copy of the library to measure, so that a rebuild
    # in the build dir during a long run cannot mix two builds' figures.
    lib=${HAKMEM_BENCH_LIB:-$builddir/.libs/libhakmem.so}
    if [ -e "$lib" ]; then
        CONTENDERS+=(hakmem)
        CONTENDER_LIB[hakmem]=$(realpath "$lib")
    else
        BENCH_NOTES+=("hakmem: $lib not found (build it first); hakmem is NOT in these figures")
    fi
    # gperftools ships tcmalloc_minimal (no heap profiler) and the full one;
    # the minimal one is what allocation-speed comparisons use.
    for spec in mimalloc:libmimalloc jemalloc:libjemalloc \
                tcmalloc:libtcmalloc_minimal tcmalloc:libtcmalloc; do
        name=${spec%%:*}
        [ -n "${CONTENDER_LIB[$name]+set}" ] && continue
        lib=$(bench_peer_lib "${spec#*:}")
        if [ -n "$lib" ]; then
            CONTENDERS+=("$name")
            CONTENDER_LIB[$name]=$(realpath "$lib")
        fi
    done
    for name in mimalloc jemalloc tcmalloc; do
        [ -n "${CONTENDER_LIB[$name]+set}" ] ||
            BENCH_NOTES+=("$name: not found by ldconfig -p; skipped")
    done
}

bench_bin() {
    local builddir=$1 name=$2 f
    for f in "$builddir/bench/$name" "$builddir/$name"; do
        [ -x "$f" ] || continue
        # A libtool wrapper script would mean the program links libhakmem, and
        # then "system" would silently measure hakmem.
        if [ "$(head -c 4 "$f" | tr -d '\177')" != "ELF" ]; then
            echo "error: $f is not an ELF program (libtool wrapper?);" \
                 "benchmarks must not link libhakmem" >&2
            exit 99
        fi
        echo "$f"
        return 0
    done
    echo "error: $name not found under $builddir/bench/ (build the benchmarks," \
         "or set BUILDDIR)" >&2
    exit 99
}

bench_check_allocator() {
    local expected=$2 actual=$3
    if [ -z "$expected" ]; then
        case ${actual##*/} in
            libc.so* | libc-*.so) return 0 ;;
        esac
        return 1
    fi
    [ "$(realpath "$actual" 2>/dev/null)" = "$expected" ]
}

# Pure bash: a `... | head -n 1` pipeline can die of SIGPIPE under pipefail.
bench_field() {
    local w
    local -a words
    read -r -a words <<<"$2"
    for w in ${words[@]+"${words[@]}"}; do
        if [ "${w%%=*}" = "$1" ] && [ "$w" != "${w#*=}" ]; then
            printf '%s\n' "${w#*=}"
            return 0
        fi
    done
}

# Version the package manager knows for a file, e.g. "libmimalloc2.0 2.0.9-3".
bench_pkg_version() {
    local pkg
    command -v dpkg-query >/dev/null 2>&1 || return 0
    pkg=$(dpkg -S "$1" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') || pkg=""
    [ -n "$pkg" ] || pkg=$(dpkg -S "${1#/usr}" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') || pkg=""
    [ -n "$pkg" ] && echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)"
}
