# trace/trace.mk: the allocation recorder and replayer of issue 15 (included by
# Makefile.am, so it shares its variables).
#
#   libhakmem_trace.so  preloaded into any program, records every call of the
#                       malloc family (trace/recorder.c; format: trace/format.h)
#   hakmem-replay       reads a trace: `info` (what trace-info shows) and
#                       `replay` under whatever malloc is preloaded (trace/replay.c)
#   trace/test_trace    the C test: the recorder under threads and fork, its
#                       counts, replays under glibc and hakmem, cut and damaged copies
#
# zlib compresses the traces: without zlib.h configure leaves all of it out.
if HAK_HAVE_ZLIB
lib_LTLIBRARIES += libhakmem_trace.la
libhakmem_trace_la_SOURCES = trace/recorder.c trace/format.h
# The recorder must not let the compiler turn its own code into malloc calls,
# and binds every symbol at load time (no lazy PLT resolution inside malloc).
libhakmem_trace_la_CFLAGS = $(AM_CFLAGS) -std=gnu11 -fvisibility=hidden -fno-builtin-malloc \
	-fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free
libhakmem_trace_la_LDFLAGS = -module -shared -avoid-version -no-undefined -Wl,-z,now -Wl,-z,nodelete
libhakmem_trace_la_LIBADD = -lz -ldl -lpthread

bin_PROGRAMS = trace/hakmem-replay
trace_hakmem_replay_SOURCES = trace/replay.c trace/format.h bench/bench_allocator.h
trace_hakmem_replay_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/bench
trace_hakmem_replay_CFLAGS = $(AM_CFLAGS) -std=gnu11
trace_hakmem_replay_LDADD = -lz -ldl -lpthread

check_PROGRAMS += trace/test_trace
trace_test_trace_SOURCES = trace/test_trace.c
trace_test_trace_CFLAGS = $(AM_CFLAGS) -std=gnu11 -fno-builtin
trace_test_trace_LDADD = -ldl -lpthread
TESTS += trace/test_trace
AM_TESTS_ENVIRONMENT += \
	HKT_RECORDER='$(abs_builddir)/.libs/libhakmem_trace.so'; \
	HKT_REPLAY='$(abs_builddir)/trace/hakmem-replay'; \
	export HKT_RECORDER HKT_REPLAY;

# Recording overhead, trace sizes and a replay table of real programs (minutes;
# needs the Python package in .venv-test, as `make check` leaves it).
trace-measure: libhakmem_trace.la trace/hakmem-replay bench/bench_larson
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' $(SHELL) $(srcdir)/trace/measure.sh
endif
