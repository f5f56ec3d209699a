#!/bin/sh
# memcheck on programs using hakmem (preloaded, the build with valgrind
# client requests): a clean program comes out clean, and a real use after
# free, leak, overrun and read of uninitialised memory in the program are
# reported as such. Skips (77) without valgrind or without the vg library.
set -u
vglib=$top_builddir/.libs/libhakmem_vg.so
prog=$top_builddir/tests/vg_prog
command -v valgrind >/dev/null 2>&1 || { echo "skip: valgrind not installed"; exit 77; }
[ -e "$vglib" ] || { echo "skip: $vglib not built (valgrind/memcheck.h missing)"; exit 77; }
fail=0
run() { # mode expected-text
    # nouserintercepts: memcheck must not replace the preloaded malloc with
    # its own (it would, by default), so hakmem really serves the program.
    out=$(LD_PRELOAD=$vglib HAKMEM_STATS=1 valgrind --soname-synonyms=somalloc=nouserintercepts \
        --leak-check=full --error-exitcode=42 "$prog" "$1" 2>&1)
    rc=$?
    case "$1" in
    clean | heap-clean)
        if [ $rc -ne 0 ] || ! printf '%s\n' "$out" | grep -q "ERROR SUMMARY: 0 errors" ||
            ! printf '%s\n' "$out" | grep -q "clean done"; then
            echo "FAIL clean program: exit $rc"; printf '%s\n' "$out" | tail -n 40; fail=1; return
        fi ;;
    *)
        if [ $rc -ne 42 ] || ! printf '%s\n' "$out" | grep -q "$2"; then
            echo "FAIL $1: exit $rc, expected \"$2\""; printf '%s\n' "$out" | tail -n 40; fail=1; return
        fi ;;
    esac
    # Proof that hakmem, not valgrind's own allocator, served the program.
    if ! printf '%s\n' "$out" | grep -q "^hakmem: statistics"; then
        echo "FAIL $1: hakmem did not run (no statistics report)"; fail=1; return
    fi
    if [ "$1" = clean ] && printf '%s\n' "$out" | grep -q "^hakmem: tiny_mallocs 0$"; then
        echo "FAIL clean: hakmem served no small allocation"; fail=1; return
    fi
    echo "ok $1: $(printf '%s\n' "$out" | grep -m1 -E "$2|ERROR SUMMARY" | sed 's/^==[0-9]*== //')"
}
run clean "ERROR SUMMARY"
run uaf "Invalid read of size 1"
run leak "definitely lost: 100 bytes in 1 blocks"
run overrun "Invalid write of size 1"
run uninit "Conditional jump or move depends on uninitialised value"
run heap-clean "ERROR SUMMARY"
run heap-uaf "Invalid read of size 1"
exit $fail
