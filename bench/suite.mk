# bench/suite.mk: the benchmark suite of issue 6 (included by Makefile.am).
