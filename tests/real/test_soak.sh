#!/bin/sh
# test_soak.sh: test_threads' soak mode (see tests/test_threads.c): load
# threads handing blocks to each other the whole time, while cycles of
# producer/consumer, fork and thread churn run; every block's content is
# checked, resident memory must not grow from cycle to cycle and must come
# back after hak_collect().
#
#   SOAK_SECONDS  how long (default 20: the short run of make check;
#                 `make soak` passes 300)
#   SOAK_THREADS  load threads (default 16)
#   SOAK_DEBUG=1  against the debug library (tests/test_threads_dbg)
# Exit: 0 pass, 1 fail, 99 setup error.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(cd "$here/../.." && pwd)}"
seconds=${SOAK_SECONDS:-20}
threads=${SOAK_THREADS:-16}
prog=$top_builddir/tests/test_threads
[ -n "${SOAK_DEBUG:-}" ] && prog=$top_builddir/tests/test_threads_dbg
if [ ! -x "$prog" ]; then
    echo "ERROR: $prog not built (make check builds it)"
    exit 99
fi
unset HAKMEM_STATS HAKMEM_FREE_ROUTE_TRACE HAKMEM_FREE_ROUTE_SAMPLE HAKMEM_VERBOSE \
    HAKMEM_FAULT_MAP_NTH HAKMEM_FAULT_MAP_EVERY HAKMEM_FAULT_PURGE_EVERY
echo "soak: $(basename "$prog") soak $seconds $threads"
exec "$prog" soak "$seconds" "$threads"
