#!/bin/sh
# Copies hakmem's C core (lib/ and include/ of the source tree this crate
# sits in) into csrc/, so that `cargo package` carries it: a packaged crate
# has no source tree around it, and build.rs then builds from csrc/.
#   sh vendor-c.sh && cargo package --offline --allow-dirty
set -eu
crate=$(cd "$(dirname "$0")" && pwd)
top=${HAKMEM_SOURCE_DIR:-$crate/../..}
if [ ! -f "$top/lib/hakmem.c" ] || [ ! -f "$top/include/hakmem.h" ]; then
    echo "vendor-c.sh: no lib/hakmem.c and include/hakmem.h under $top (set HAKMEM_SOURCE_DIR)" >&2
    exit 1
fi
rm -rf "$crate/csrc"
mkdir -p "$crate/csrc/lib" "$crate/csrc/include"
cp "$top"/lib/*.c "$top"/lib/*.h "$crate/csrc/lib/"
cp "$top/include/hakmem.h" "$crate/csrc/include/"
echo "vendor-c.sh: copied $(ls "$crate/csrc/lib" | wc -l) files of $top/lib and include/hakmem.h into csrc/"
