# tests/real/real.mk: real programs under hakmem, sanitizer builds, soak mode
# (included by Makefile.am, so it shares its variables).
#
#   make check           runs the quick form of each: every real program on a
#                        small workload, UBSan and TSan builds, a 20 s soak
#   make check-real      the real programs on their full workloads (minutes)
#   make check-sanitize  the sanitizer builds, TSan on the full-size thread test
#   make soak            test_threads' soak for SOAK_SECONDS (default 300);
#                        SOAK_THREADS load threads (default 16); SOAK_DEBUG=1
#                        runs it against the debug library

REAL_TESTS = tests/real/test_cpython.sh tests/real/test_sqlite.sh tests/real/test_git.sh \
	tests/real/test_gcc.sh tests/real/test_perl.sh tests/real/test_redis.sh
REAL_OTHER_TESTS = tests/real/test_sanitizers.sh tests/real/test_soak.sh
TESTS += $(REAL_TESTS) $(REAL_OTHER_TESTS)
EXTRA_DIST += $(REAL_TESTS) $(REAL_OTHER_TESTS) tests/real/common.sh tests/real/work.pl \
	tests/real/regrtest_diff.py tests/real/hak_prefixed.h

SOAK_SECONDS = 300

.PHONY: check-real check-sanitize soak real-sanitize-vars
check-real: $(lib_LTLIBRARIES) $(check_LTLIBRARIES)
	HAKMEM_REAL_MODE=full $(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(REAL_TESTS)' \
		TEST_SUITE_LOG=tests/real/check-real.log

check-sanitize:
	HAKMEM_REAL_MODE=full $(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS=tests/real/test_sanitizers.sh \
		TEST_SUITE_LOG=tests/real/check-sanitize.log

soak: tests/test_threads$(EXEEXT) tests/test_threads_dbg$(EXEEXT)
	SOAK_SECONDS='$(SOAK_SECONDS)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(srcdir)/tests/real/test_soak.sh

# What tests/real/test_sanitizers.sh needs to build the libraries and the C
# tests out of line, as shell assignments: each library's sources and flags
# and each C test's, as this Makefile builds them (without the user's
# CFLAGS), so that the sanitizer builds follow Makefile.am.
real-sanitize-vars:
	@echo "san_preload_src='$(filter %.c,$(libhakmem_la_SOURCES))'"
	@echo "san_preload_cflags='$(DEFS) $(CPPFLAGS) $(libhakmem_la_CFLAGS)'"
	@echo "san_debug_src='$(filter %.c,$(libhakmem_debug_la_SOURCES))'"
	@echo "san_debug_cflags='$(DEFS) $(CPPFLAGS) $(libhakmem_debug_la_CFLAGS)'"
	@echo "san_api_src='$(filter %.c,$(libhakmem_api_la_SOURCES))'"
	@echo "san_api_cflags='$(DEFS) $(CPPFLAGS) $(libhakmem_api_la_CFLAGS)'"
	@echo "san_test_cflags='$(filter-out -I%,$(TEST_CFLAGS))'"
	@echo "san_tests='$(notdir $(C_TESTS))'"
	@$(foreach t,$(notdir $(C_TESTS)),echo "san_src_$(t)='$(filter %.c,$(tests_$(t)_SOURCES))'"; \
		echo "san_rel_$(t)='$(filter-out $(TEST_CFLAGS),$(tests_$(t)_CFLAGS))'"; \
		echo "san_dbg_$(t)='$(filter-out $(TEST_CFLAGS),$(tests_$(t)_dbg_CFLAGS))'";)
