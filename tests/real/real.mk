# tests/real/real.mk: real programs under hakmem, soak mode (included by Makefile.am).
