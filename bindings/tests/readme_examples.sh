#!/bin/sh
# Runs the examples of the README's "Bindings (SWIG)" section as written, from the
# top of the build tree and without the test environment, and compares what each
# prints with the ```text block that follows it. An example whose language was not
# built (HAK_SWIG_BUILT, from bindings/Makefile.am) is skipped.
set -u
readme="$top_srcdir/README.md"
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT

# example.N.sh and expected.N.txt for each ```sh block and the ```text block after it.
awk -v dir="$work" '
    /^## Bindings \(SWIG\)/ { on = 1; next }
    on && /^## /            { on = 0 }
    !on                     { next }
    /^```sh$/   { n++; out = dir "/example." n ".sh"; next }
    /^```text$/ { out = dir "/expected." n ".txt"; next }
    /^```$/     { out = ""; next }
    out != ""   { print > out }
' "$readme"

ran=0
for ex in "$work"/example.*.sh; do
    [ -f "$ex" ] || { echo "no examples found in $readme"; exit 99; }
    n=${ex#"$work"/example.}; n=${n%.sh}
    case $(cat "$ex") in
        *python3*) lang=python ;;
        *perl*) lang=perl ;;
        *tclsh*) lang=tcl ;;
        *) echo "example $n: no known language"; exit 99 ;;
    esac
    case " $HAK_SWIG_BUILT " in
        *" $lang "*) ;;
        *) echo "example $n ($lang): binding not built, skipped"; continue ;;
    esac
    (cd "$top_builddir" &&
     env -u LD_LIBRARY_PATH -u PYTHONPATH -u PERL5LIB -u TCLLIBPATH -u HAKMEM_STATS \
         sh "$ex") >"$work/got.$n.txt" 2>"$work/err.$n.txt"
    rc=$?
    if [ $rc -ne 0 ] || ! diff -u "$work/expected.$n.txt" "$work/got.$n.txt"; then
        echo "example $n ($lang) failed (exit $rc):"; cat "$ex" "$work/err.$n.txt"
        exit 1
    fi
    echo "example $n ($lang): prints what the README shows"
    ran=$((ran + 1))
done
[ $ran -gt 0 ] || exit 77
