# bench/suite.mk: the benchmark programs of issue 6 (included by Makefile.am).
#
# Every program here calls only the standard allocator API and links no
# allocator, so the harness can swap one in with LD_PRELOAD; each has a --smoke
# length that tests/test_bench_smoke.sh runs in `make check`. BENCH_PROGS is
# what `make bench` builds before it runs (make expands it when the rule runs,
# so the additions below reach the bench: prerequisites). Which workloads run
# them, with which arguments, is listed once, in suite() of
# python/src/hakmem/_harness.py: a new workload is one entry there (a new
# program also its lines here; the Python package builds every program the
# suite names).
BENCH_SUITE = bench/bench_larson bench/bench_cache bench/bench_mstress \
	bench/bench_realloc bench/bench_aligned bench/bench_large bench/bench_cpython \
	bench/bench_churn bench/bench_coldpath bench/bench_xmalloc
BENCH_PROGS += $(BENCH_SUITE)
check_PROGRAMS += $(BENCH_SUITE)

bench_bench_larson_SOURCES = bench/bench_larson.c bench/bench_common.h
bench_bench_larson_CFLAGS = $(BENCH_CFLAGS)
bench_bench_cache_SOURCES = bench/bench_cache.c bench/bench_common.h
bench_bench_cache_CFLAGS = $(BENCH_CFLAGS)
bench_bench_mstress_SOURCES = bench/bench_mstress.c bench/bench_common.h
bench_bench_mstress_CFLAGS = $(BENCH_CFLAGS)
bench_bench_realloc_SOURCES = bench/bench_realloc.c bench/bench_common.h
bench_bench_realloc_CFLAGS = $(BENCH_CFLAGS)
bench_bench_aligned_SOURCES = bench/bench_aligned.c bench/bench_common.h
bench_bench_aligned_CFLAGS = $(BENCH_CFLAGS)
bench_bench_large_SOURCES = bench/bench_large.c bench/bench_common.h
bench_bench_large_CFLAGS = $(BENCH_CFLAGS)
bench_bench_churn_SOURCES = bench/bench_churn.c bench/bench_common.h
bench_bench_churn_CFLAGS = $(BENCH_CFLAGS)
bench_bench_coldpath_SOURCES = bench/bench_coldpath.c bench/bench_common.h
bench_bench_coldpath_CFLAGS = $(BENCH_CFLAGS)
bench_bench_xmalloc_SOURCES = bench/bench_xmalloc.c bench/bench_common.h
bench_bench_xmalloc_CFLAGS = $(BENCH_CFLAGS)
# First-class heaps against the default heap and mimalloc's heaps (the hak_*
# and mi_* calls are looked up at run time: it links no allocator either). Not
# a workload of the suite (it needs hakmem preloaded and compares heaps, not
# allocators): built with the tests for its smoke run; figures in the README.
check_PROGRAMS += bench/bench_heap
bench_bench_heap_SOURCES = bench/bench_heap.c bench/bench_common.h
bench_bench_heap_CFLAGS = $(BENCH_CFLAGS)
bench_bench_heap_LDADD = -ldl -lpthread
# The launcher finds its script in the source tree, wherever the build is.
bench_bench_cpython_SOURCES = bench/bench_cpython.c bench/bench_common.h
bench_bench_cpython_CFLAGS = $(BENCH_CFLAGS)
bench_bench_cpython_CPPFLAGS = -DBENCH_CPYTHON_SCRIPT='"$(abs_top_srcdir)/bench/bench_cpython.py"'

# run.sh runs the suite's one definition, which the Python package shares.
EXTRA_DIST += bench/bench_cpython.py python/src/hakmem/_harness.py
