"""Builds hakmem's C core for the Python package, without autotools.

Used by setup.py (the shared libraries, the hakmem-stress program, the
benchmark programs of bench/, the C sources vendored into an sdist) and by
src/bindings/build.py (include paths).

The core is compiled straight from lib/*.c with the flags configure.ac gives
it, three times: libhakmem.so (the process allocator, with wrap.c,
initial-exec TLS, for LD_PRELOAD), libhakmem_api.so (hak_* only, safe to
dlopen: the library the package loads; one initial-exec TLS pointer) and
libhakmem_api_dyn.so (the same with that pointer in dynamic TLS: what the
package loads when glibc's static TLS surplus has no room left for it). The
benchmark programs the suite of src/hakmem/_harness.py names (the programs
of `make bench`) go into the package's bin/ with bench_cpython.py, so
`python -m hakmem bench` runs the same suite. The C sources come from, in order: $HAKMEM_SOURCE_DIR, csrc/
beside this file (an sdist carries a copy there), or the source tree that
holds this python/ directory.
"""
import glob
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.abspath(__file__))  # python/
CSRC = os.path.join(ROOT, "src", "csrc")  # the package's own C (kernels, glue)
CAPI_INCLUDE = os.path.join(ROOT, "src", "hakmem", "include")

# configure.ac's HAK_WARN_CFLAGS; HAKMEM_WERROR=1 (the package's tests set
# it) turns them into errors, left off by default so that a newer compiler's
# new warning never stops a user's install.
WARN = ["-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes"]
# configure.ac's HAK_LIB_CFLAGS: the allocator must not let the compiler turn
# its own code into calls of malloc/calloc (malloc+memset becomes calloc).
LIB_CFLAGS = [
    "-std=gnu11", "-fvisibility=hidden", "-fno-builtin-malloc", "-fno-builtin-calloc",
    "-fno-builtin-realloc", "-fno-builtin-free", "-fno-plt",
]
OPT_CFLAGS = ["-O2", "-g", "-DNDEBUG"]  # configure's release build


def c_source_dirs():
    """(lib_dir, include_dir) of hakmem's C core."""
    env = os.environ.get("HAKMEM_SOURCE_DIR")
    bases = [env] if env else [os.path.join(ROOT, "csrc"), os.path.dirname(ROOT)]
    for base in bases:
        lib, inc = os.path.join(base, "lib"), os.path.join(base, "include")
        if os.path.isfile(os.path.join(lib, "hakmem.c")) and os.path.isfile(
            os.path.join(inc, "hakmem.h")
        ):
            return lib, inc
    raise SystemExit(
        "hakmem: cannot find the C sources (lib/hakmem.c and include/hakmem.h) in %s. "
        "Build from the hakmem source tree (pip install ./python), from an sdist, or set "
        "HAKMEM_SOURCE_DIR to a tree that has lib/ and include/." % " or ".join(bases)
    )


def bench_source_dir():
    """bench/ beside lib/ and include/: the benchmark programs' sources."""
    d = os.path.join(os.path.dirname(c_source_dirs()[0]), "bench")
    if not os.path.isfile(os.path.join(d, "bench_common.h")):
        raise SystemExit("hakmem: no bench/bench_common.h beside %s: the benchmark programs' "
                         "sources are missing" % c_source_dirs()[0])
    return d


def suite_programs():
    """The programs the benchmark suite runs (from src/hakmem/_harness.py,
    loaded by path: the package itself is not built yet)."""
    spec = importlib.util.spec_from_file_location(
        "hakmem_build_harness", os.path.join(ROOT, "src", "hakmem", "_harness.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return sorted({w.program for w in mod.suite(2)} | {"bench_pair"})


def include_dirs():
    return [c_source_dirs()[1], CAPI_INCLUDE, CSRC]


def version():
    with open(os.path.join(c_source_dirs()[1], "hakmem.h")) as f:
        m = re.search(r'#define\s+HAKMEM_VERSION_STRING\s+"([^"]+)"', f.read())
    if m is None:
        raise SystemExit("hakmem: no HAKMEM_VERSION_STRING in include/hakmem.h")
    return m.group(1)


def vendor_c_sources(dest):
    """Copy the C core into dest/lib and dest/include (for an sdist)."""
    lib, inc = c_source_dirs()
    bench = bench_source_dir()
    for sub, files in (("lib", glob.glob(os.path.join(lib, "*.[ch]"))),
                       ("include", [os.path.join(inc, "hakmem.h")]),
                       ("bench", glob.glob(os.path.join(bench, "bench_*.[ch]"))
                        + [os.path.join(bench, "bench_cpython.py")])):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
        for f in files:
            shutil.copy2(f, os.path.join(dest, sub, os.path.basename(f)))


def compiler():
    """The C compiler: $CC, else the one Python was built with, else cc."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cmd = shlex.split(cc)
    if not os.environ.get("CC") and shutil.which(cmd[0]) is None:
        cmd = ["cc"]
    return cmd


def strict_flags():
    flags = list(WARN)
    if os.environ.get("HAKMEM_WERROR") == "1":
        flags.append("-Werror")
    return flags


class NativeBuild:
    """Compiles the C core and the stress program into a package directory."""

    def __init__(self, tmp_dir, log=print):
        self.cc = compiler()
        self.tmp = tmp_dir
        self.log = log
        self._accepted = {}
        os.makedirs(tmp_dir, exist_ok=True)

    def run(self, args):
        self.log(" ".join(shlex.quote(a) for a in args))
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if p.stdout:
            sys.stderr.write(p.stdout)
        if p.returncode != 0:
            raise SystemExit("hakmem: command failed (%d): %s" % (p.returncode, " ".join(args)))

    def accepts(self, flag):
        """configure's hak_try_cflag: does the compiler take flag without a warning?"""
        if flag not in self._accepted:
            with tempfile.TemporaryDirectory() as d:
                src = os.path.join(d, "probe.c")
                with open(src, "w") as f:
                    f.write("int main(void) { return 0; }\n")
                p = subprocess.run(self.cc + ["-Werror", flag, "-c", src, "-o",
                                              os.path.join(d, "probe.o")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self._accepted[flag] = p.returncode == 0
        return self._accepted[flag]

    def optional(self, *flags):
        return [f for f in flags if self.accepts(f)]

    def compile_all(self, jobs):
        """jobs: (source, object, flags); compiled in parallel."""
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for _ in pool.map(lambda j: self.run(self.cc + j[2] + ["-c", j[0], "-o", j[1]]), jobs):
                pass

    def build(self, pkg_dir):
        """Writes lib/, bin/ and include/ under pkg_dir; returns the PIC
        object of the stress kernels, for the cffi module to link."""
        lib_src, inc = c_source_dirs()
        lib_out, bin_out, inc_out = (os.path.join(pkg_dir, d) for d in ("lib", "bin", "include"))
        for d in (lib_out, bin_out, inc_out):
            os.makedirs(d, exist_ok=True)
        shutil.copy2(os.path.join(inc, "hakmem.h"), os.path.join(inc_out, "hakmem.h"))

        common = (LIB_CFLAGS + self.optional("-fno-semantic-interposition") + OPT_CFLAGS
                  + ["-fPIC", "-pthread"] + strict_flags())
        variants = {
            "libhakmem.so": common + self.optional("-ftls-model=initial-exec")
            + ["-DHAK_TLS_INITIAL_EXEC=1"],
            # TLS descriptors make dynamic TLS nearly as cheap as static TLS
            # (x86-64: gnu2; aarch64 uses descriptors by default).
            "libhakmem_api.so": common + self.optional("-mtls-dialect=gnu2"),
            "libhakmem_api_dyn.so": common + self.optional("-mtls-dialect=gnu2")
            + ["-DHAK_TCP_DYNAMIC=1"],
        }
        sources = sorted(glob.glob(os.path.join(lib_src, "*.c")))
        jobs, objects = [], {}
        for name, flags in variants.items():
            d = os.path.join(self.tmp, name.split(".")[0])
            os.makedirs(d, exist_ok=True)
            objects[name] = []
            for src in sources:
                if os.path.basename(src) == "wrap.c" and name != "libhakmem.so":
                    continue  # the standard names: only the process allocator has them
                obj = os.path.join(d, os.path.basename(src)[:-2] + ".o")
                jobs.append((src, obj, flags))
                objects[name].append(obj)
        # The package's own C: strict C11, and no builtin malloc knowledge so
        # the compiler cannot fold an allocation the kernels meant to make.
        own = (["-std=c11", "-O2", "-g", "-fPIC", "-pthread", "-fno-builtin-malloc",
                "-fno-builtin-free", "-fno-builtin-calloc", "-fno-builtin-realloc",
                "-I" + CSRC, "-I" + inc, "-I" + bench_source_dir()] + strict_flags())
        stress_o = os.path.join(self.tmp, "stress.o")
        main_o = os.path.join(self.tmp, "stress_main.o")
        jobs.append((os.path.join(CSRC, "stress.c"), stress_o, own))
        jobs.append((os.path.join(CSRC, "stress_main.c"), main_o, own))
        # The suite's programs, with Makefile.am's BENCH_CFLAGS: they call the
        # process's malloc (no hakmem linked), so LD_PRELOAD picks the allocator.
        bench_src = bench_source_dir()
        bench_flags = (["-std=c11", "-D_GNU_SOURCE", "-O2", "-fno-builtin-malloc",
                        "-fno-builtin-free", "-pthread"] + strict_flags())
        bench_objs = []
        for prog in suite_programs():
            obj = os.path.join(self.tmp, prog + ".o")
            jobs.append((os.path.join(bench_src, prog + ".c"), obj, bench_flags))
            bench_objs.append((prog, obj))
        self.compile_all(jobs)

        for name, objs in objects.items():
            self.run(self.cc + ["-shared", "-o", os.path.join(lib_out, name)] + objs
                     + ["-Wl,-soname," + name, "-Wl,-z,defs", "-Wl,-z,nodelete", "-pthread"])
        exe = os.path.join(bin_out, "hakmem-stress")
        self.run(self.cc + ["-o", exe, stress_o, main_o, "-pthread", "-ldl"])
        os.chmod(exe, 0o755)
        for prog, obj in bench_objs:
            exe = os.path.join(bin_out, prog)
            self.run(self.cc + ["-o", exe, obj, "-pthread", "-ldl"])
            os.chmod(exe, 0o755)
        shutil.copy2(os.path.join(bench_src, "bench_cpython.py"),
                     os.path.join(bin_out, "bench_cpython.py"))
        return stress_o
