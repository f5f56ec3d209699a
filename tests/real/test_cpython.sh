#!/bin/sh
# test_cpython.sh: CPython's own regression tests (python -m test) under
# hakmem give every test case the same outcome (passed, skipped, failure,
# error) as without it. PYTHONMALLOC=malloc in every run, so that every
# object goes through malloc rather than pymalloc's arenas; subprocesses the
# tests start inherit LD_PRELOAD.
#
# Quick: test_dict test_list test_json test_re test_gc in one interpreter,
# release and debug library. Full: about 70 modules (containers, strings,
# json, re, threading, pickle, gc, io, decimal, datetime, email, ...) with -j.
# The outcomes are read from regrtest's --junit-xml reports
# (tests/real/regrtest_diff.py). A test case whose outcome differs is run
# again, with and without hakmem: if both runs then agree, the difference is
# reported as a flaky test (a warning); if not, the test fails. A crash, a
# timeout or a message from hakmem fails at once.
#
# The python used is the first of $HAKMEM_REAL_PYTHON, python3, python3.13 ..
# python3.11, /usr/bin/python3 that has its test package (Debian: apt-get
# install libpython3.11-testsuite for /usr/bin/python3.11).
# Exit: 0 pass, 1 fail, 77 skip (no python with its tests), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

py=""
for cand in ${HAKMEM_REAL_PYTHON:-} python3 python3.13 python3.12 python3.11 /usr/bin/python3; do
    command -v "$cand" >/dev/null 2>&1 || continue
    if env -u LD_PRELOAD "$cand" -c 'import test.libregrtest, test.test_dict, test.test_json' >/dev/null 2>&1; then
        # the interpreter itself, not a wrapper script (pyenv's shims)
        py=$(env -u LD_PRELOAD "$cand" -c 'import sys; print(sys.executable)')
        break
    fi
done
[ -n "$py" ] || real_skip "no python3 with its regression tests (Debian: apt-get install libpython3.11-testsuite)"
echo "python: $py ($(env -u LD_PRELOAD "$py" -c 'import sys; print(sys.version.split()[0])'))"

if [ "$mode" = full ]; then
    want="test_dict test_list test_tuple test_set test_deque test_collections test_ordered_dict
        test_userdict test_userlist test_userstring test_weakref test_weakset test_array
        test_string test_unicode test_str test_bytes test_memoryview test_codecs test_unicodedata
        test_fstring test_textwrap test_difflib test_re test_json test_csv test_xml_etree
        test_pickle test_marshal test_copy test_struct test_gc test_threading test_thread
        test_threading_local test_queue test_itertools test_functools test_iter test_generators
        test_sort test_heapq test_bisect test_long test_float test_decimal test_fractions test_math
        test_statistics test_random test_descr test_class test_scope test_exceptions test_enum
        test_dataclasses test_typing test_grammar test_ast test_compile test_tokenize test_io
        test_zlib test_hashlib test_base64 test_binascii test_datetime test_sqlite3 test_email
        test_capi"
    jobs=$(nproc 2>/dev/null || echo 2)
    [ "$jobs" -gt 4 ] && jobs=4
    jflag="-j$jobs"
else
    want="test_dict test_list test_json test_re test_gc"
    jflag=""
fi
modules=""
for m in $want; do
    if env -u LD_PRELOAD "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('test.$m') is None)" \
        >/dev/null 2>&1; then
        modules="$modules $m"
    elif [ "$m" != test_str ] && [ "$m" != test_unicode ]; then # renamed in 3.12
        echo "note: this python has no test.$m: left out"
    fi
done
echo "modules:$modules"

# regrtest NAME LIB ARGS...: python -m test ARGS (the modules and options),
# in a directory of its own.
regrtest() {
    rt_name=$1 rt_lib=$2
    shift 2
    [ $# -gt 0 ] || exit 99 # no module named: regrtest would run them all
    mkdir -p "$tmp/$rt_name.d"
    (cd "$tmp/$rt_name.d" && real_run "$rt_name" "$rt_lib" env PYTHONMALLOC=malloc PYTHONHASHSEED=0 \
        "$py" -m test --junit-xml "$tmp/$rt_name.xml" --timeout 900 $jflag "$@")
}

# crashed NAME: 0 if run NAME died, hung, or printed a message from hakmem.
crashed() {
    rc=$(cat "$tmp/$1.rc")
    if [ "$rc" -gt 128 ] || [ "$rc" = 124 ]; then
        echo "FAIL: $2 exited with status $(real_status "$1")"
    elif { grep -hE 'Fatal Python error|crashed \(Exit code|Timeout \(' "$tmp/$1.out" "$tmp/$1.err"
        real_hakmem_errors "$tmp/$1.out" "$tmp/$1.err"; } >"$tmp/$1.bad"; [ -s "$tmp/$1.bad" ]; then
        echo "FAIL: $2 crashed or timed out:"
    else
        return 1
    fi
    head -n 10 "$tmp/$1.bad" 2>/dev/null | sed 's/^/    /'
    tail -n 15 "$tmp/$1.err" | sed 's/^/    stderr: /'
    return 0
}

real_served "$py" "$py" -c 'import json; json.dumps({str(i): [i] * 10 for i in range(1000)})'
regrtest py.base "" $modules
if [ ! -s "$tmp/py.base.xml" ] || crashed py.base "regrtest without hakmem" >/dev/null; then
    echo "ERROR: regrtest without hakmem did not run (status $(real_status py.base)):"
    tail -n 20 "$tmp/py.base.out" | sed 's/^/    /'
    exit 99
fi
for lib in $libs; do
    t=$(real_tag "$lib")
    what="regrtest ($(echo $modules | wc -w) modules) under $(basename "$lib")"
    regrtest "py.$t" "$lib" $modules
    if crashed "py.$t" "$what"; then
        fail=1
        continue
    fi
    if [ ! -s "$tmp/py.$t.xml" ]; then
        echo "FAIL: $what wrote no report (status $(real_status "py.$t"))"
        tail -n 20 "$tmp/py.$t.out" | sed 's/^/    /'
        fail=1
        continue
    fi
    if env -u LD_PRELOAD "$py" "$real_here/regrtest_diff.py" "$tmp/py.base.xml" "$tmp/py.$t.xml" \
        "$tmp/py.$t.ids" >"$tmp/py.$t.diff"; then
        echo "ok: $what: $(head -n 1 "$tmp/py.$t.diff"), as without hakmem"
        continue
    fi
    if [ ! -s "$tmp/py.$t.ids" ]; then
        echo "FAIL: $what:"
        sed 's/^/    /' "$tmp/py.$t.diff"
        fail=1
        continue
    fi
    # Again, only the test cases that differed, with and without hakmem.
    echo "note: $what: $(grep -c . "$tmp/py.$t.ids") test cases differ; running them again:"
    sed -n '2,21p' "$tmp/py.$t.diff"
    again=$(sed 's/^test\.\([^.]*\)\..*/\1/' "$tmp/py.$t.ids" | sort -u | tr '\n' ' ')
    regrtest "py.$t.base2" "" --matchfile "$tmp/py.$t.ids" $again
    regrtest "py.$t.2" "$lib" --matchfile "$tmp/py.$t.ids" $again
    if crashed "py.$t.2" "$what (again)"; then
        fail=1
    elif env -u LD_PRELOAD "$py" "$real_here/regrtest_diff.py" "$tmp/py.$t.base2.xml" "$tmp/py.$t.2.xml" \
        >"$tmp/py.$t.diff2"; then
        echo "warning: $what: the differing test cases agree when run again (flaky tests, not counted)"
    else
        echo "FAIL: $what: the test cases still differ when run again:"
        sed 's/^/    /' "$tmp/py.$t.diff2"
        fail=1
    fi
done
real_finish
