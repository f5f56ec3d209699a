"""Parity: the SWIG module (hakmem_swig) and the cffi package (hakmem, python/)
in one process, over one libhakmem_api, agree on usable sizes, alignment and
stats deltas for the same calls.

The SWIG module is imported first with RTLD_GLOBAL, so its libhakmem_api is the
process's hakmem when the cffi package loads: the package binds to a hakmem
already in the process (issue 4: one hakmem per process). Whether the two really
share one instance is checked, not assumed: a block from either side must be
owned by the other (hak_owns).

Exit 77 (skip) when the cffi package is not importable here; install it
(pip install ./python) or put it on PYTHONPATH to run this test.
"""
import os
import sys

# Per-call counters are read once, when the library starts: set before loading it.
os.environ.setdefault("HAKMEM_STATS", "1")

flags = sys.getdlopenflags()
sys.setdlopenflags(flags | os.RTLD_GLOBAL)
import hakmem_swig as swig  # noqa: E402
sys.setdlopenflags(flags)

try:
    import hakmem  # noqa: E402
    hakmem.malloc, hakmem.aligned_alloc, hakmem.stats, hakmem.lib.hak_usable_size
    hakmem.ffi.cast
except Exception as e:  # ImportError, or a package without issue 4's API yet
    print("SKIP: the cffi package 'hakmem' (python/, issue 4) is not usable here: %s: %s"
          % (type(e).__name__, e))
    print("      install it (pip install ./python) or put it on PYTHONPATH to run the parity test")
    sys.exit(77)

failures = []


def check(cond, what):
    print("%s  %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def value(x):
    """An attribute that may be a property or a method."""
    return x() if callable(x) else x


def cffi_ptr(address):
    return hakmem.ffi.cast("void *", address)


def mapped_hakmem_libraries():
    with open("/proc/self/maps") as maps:
        fields = [line.split(None, 5) for line in maps]
    paths = {f[5].strip() for f in fields if len(f) == 6}
    return sorted({os.path.realpath(p) for p in paths if "hakmem" in os.path.basename(p)})


print("hakmem_swig %s from %s" % (swig.hak_version(), swig.__file__))
print("hakmem (cffi) %s from %s" % (getattr(hakmem, "__version__", "?"), hakmem.__file__))
print("hakmem libraries mapped: %s" % ", ".join(mapped_hakmem_libraries()))

# ---- one instance? ---------------------------------------------------------------
p = swig.hak_malloc(64)
b = hakmem.malloc(64)
# (The SWIG module takes no raw addresses, so the check runs from the cffi side.)
shared = hakmem.lib.hak_owns(cffi_ptr(swig.hak_address(p))) == 1
if shared:
    check(hakmem.lib.hak_usable_size(cffi_ptr(swig.hak_address(p))) == swig.hak_usable_size(p),
          "cffi's hak_usable_size reads the SWIG module's block")
swig.hak_free(p)
b.free()
check(shared, "one hakmem instance: the cffi package owns the SWIG module's blocks "
      "(if not, the package loaded a second copy of the library instead of binding "
      "to the one already in the process)")

# ---- usable sizes ---------------------------------------------------------------------
for n in (0, 1, 8, 16, 17, 48, 100, 1000, 1024, 1025, 4096, 65536, 262144, 262145, 1 << 20):
    p = swig.hak_malloc(n)
    b = hakmem.malloc(n)
    us, uc = swig.hak_usable_size(p), value(b.usable_size)
    check(us == uc, "usable size of malloc(%d): swig %d, cffi %d" % (n, us, uc))
    swig.hak_free(p)
    b.free()

# ---- alignment ----------------------------------------------------------------------------
for align in (16, 64, 256, 4096, 65536, 1 << 17, 1 << 21):
    p = swig.hak_aligned_alloc(align, 100)
    b = hakmem.aligned_alloc(align, 100)
    a_s, a_c = swig.hak_address(p), value(b.address)
    check(a_s % align == 0 and a_c % align == 0,
          "aligned_alloc(%d, 100) aligned on both sides" % align)
    us, uc = swig.hak_usable_size(p), value(b.usable_size)
    check(us == uc, "usable size of aligned_alloc(%d, 100): swig %d, cffi %d" % (align, us, uc))
    swig.hak_free(p)
    b.free()

# ---- stats deltas -------------------------------------------------------------------------
KEYS = ("bytes_in_use", "large_blocks", "large_bytes", "tiny_mallocs", "mid_mallocs",
        "large_mallocs", "tiny_frees", "mid_frees", "large_frees")
SIZES = [48] * 10 + [3000] * 3 + [1 << 20]


def deltas(stats, alloc, free):
    """Stats deltas, read through `stats`, of allocating SIZES and then freeing them."""
    s0 = stats()
    blocks = [alloc(n) for n in SIZES]
    s1 = stats()
    for blk in blocks:
        free(blk)
    s2 = stats()
    return ({k: s1[k] - s0[k] for k in KEYS if k in s0},
            {k: s2[k] - s0[k] for k in KEYS if k in s0})


by_swig = deltas(swig.hak_stats_get, swig.hak_malloc, swig.hak_free)
by_cffi = deltas(hakmem.stats, hakmem.malloc, lambda blk: blk.free())
common = sorted(set(by_swig[0]) & set(by_cffi[0]))
check({"bytes_in_use", "large_blocks"} <= set(common),
      "both stats records carry bytes_in_use and large_blocks (cffi keys: %s)"
      % ", ".join(sorted(hakmem.stats())))
enabled = swig.hak_stats_get()["stats_enabled"]
for k in common:
    if k.endswith(("mallocs", "frees")) and not enabled:
        continue
    for phase, (ds, dc) in (("while live", (by_swig[0], by_cffi[0])),
                            ("after free", (by_swig[1], by_cffi[1]))):
        check(ds[k] == dc[k], "stats delta %s %s: swig %d, cffi %d" % (k, phase, ds[k], dc[k]))

# One instance: each side's stats see the other side's calls.
if shared:
    cross = deltas(hakmem.stats, swig.hak_malloc, swig.hak_free)
    for k in common:
        if k.endswith(("mallocs", "frees")) and not enabled:
            continue
        check(cross[0][k] == by_swig[0][k],
              "cffi stats see the SWIG module's calls: %s %d vs %d" % (k, cross[0][k], by_swig[0][k]))

if failures:
    print("%d parity check(s) failed" % len(failures))
    sys.exit(1)
print("parity: all checks passed")
