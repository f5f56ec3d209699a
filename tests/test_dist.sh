#!/bin/sh
# make dist: the release tarball holds every file git tracks (but the CI
# script and git's own files), and nothing a build leaves in the source tree,
# so a tarball builds, pip installs and tests like a checkout.
# Needs a git checkout to compare with: a build from a tarball has no list
# of what should be in it, and skips (77).
set -u
src=${top_srcdir:-.}
build=${top_builddir:-.}
if ! git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "not a git checkout: nothing to compare the tarball with"; exit 77
fi
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT
# distdir, not dist: the same files without the compression. (distdir= on
# make's command line would reach the bindings/ sub-make too and misplace
# its files, so the tree is made where automake puts it and moved.)
tree=$(sed -n 's/^PACKAGE = //p' "$build/Makefile")-$(sed -n 's/^VERSION = //p' "$build/Makefile")
# Without the calling make's flags: a `make check SUBDIRS=` would otherwise
# reach this make too and leave bindings/ out of the tree.
if [ "$tree" = - ] || ! env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES make -s -C "$build" distdir >"$work/log" 2>&1; then
    cat "$work/log"; echo "FAIL: make distdir"; exit 1
fi
mv "$build/$tree" "$work/tree" || exit 99
(cd "$work/tree" && find . -type f | sed 's|^\./||' | sort) >"$work/in_tarball"
git -C "$src" ls-files | grep -v -e '^\.ci/' -e '\.gitignore$' -e '^m4/\.keep$' | sort >"$work/tracked"
# gitignore files are kept where they are listed (python/, bindings/rust/): not required.
missing=$(comm -23 "$work/tracked" "$work/in_tarball")
if [ -n "$missing" ]; then
    echo "FAIL: tracked by git but not in the tarball (add them to EXTRA_DIST):"; echo "$missing"; exit 1
fi
# Files under the directories copied whole must all be tracked: anything else
# is a build's leftover (a .so, __pycache__, target/).
junk=$(grep -E '^(python|bindings/rust|tests/python|docs|examples)/' "$work/in_tarball" | grep -v '\.gitignore$' |
       comm -23 - "$work/tracked")
if [ -n "$junk" ]; then
    echo "FAIL: in the tarball but not tracked (dist-hook should drop them):"; echo "$junk"; exit 1
fi
echo "tarball: $(wc -l <"$work/in_tarball") files, every tracked file among them"
