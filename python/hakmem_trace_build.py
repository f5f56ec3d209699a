"""Builds the trace tools (issue 15) into the Python package.

Called by setup.py after hakmem_build's core: lib/libhakmem_trace.so (the
recorder, preloaded by ``python -m hakmem record``) and bin/hakmem-replay
(trace info and replays), from trace/recorder.c and trace/replay.c beside the
C core's lib/ (the source tree, $HAKMEM_SOURCE_DIR, or the sdist's csrc/).
Both need zlib (Debian: zlib1g-dev, which python3-dev pulls in).
"""
import glob
import os
import shutil

import hakmem_build


def trace_source_dir():
    """trace/ beside the C core's lib/."""
    lib, _ = hakmem_build.c_source_dirs()
    d = os.path.join(os.path.dirname(lib), "trace")
    if not os.path.isfile(os.path.join(d, "recorder.c")):
        raise SystemExit("hakmem: cannot find the trace sources (trace/recorder.c) beside %s"
                         % lib)
    return d


def vendor_c_sources(dest):
    """Copies trace/*.c and *.h into dest/trace (for an sdist)."""
    src = trace_source_dir()
    os.makedirs(os.path.join(dest, "trace"), exist_ok=True)
    for f in glob.glob(os.path.join(src, "*.[ch]")):
        shutil.copy2(f, os.path.join(dest, "trace", os.path.basename(f)))


def build(native, pkg_dir):
    """Compiles the recorder and the replayer into pkg_dir/lib and pkg_dir/bin
    with native (a hakmem_build.NativeBuild): its compiler and warnings."""
    src = trace_source_dir()
    common = ["-std=gnu11", "-O2", "-g", "-pthread", "-I" + src] + hakmem_build.strict_flags()
    lib = os.path.join(pkg_dir, "lib", "libhakmem_trace.so")
    # The recorder must not let the compiler turn its own code into malloc
    # calls; -z now: no lazy symbol binding from inside a malloc.
    native.run(native.cc + common + [
        "-fPIC", "-shared", "-fvisibility=hidden", "-fno-builtin-malloc", "-fno-builtin-calloc",
        "-fno-builtin-realloc", "-fno-builtin-free", "-Wl,-soname,libhakmem_trace.so",
        "-Wl,-z,now", "-Wl,-z,nodelete", "-o", lib, os.path.join(src, "recorder.c"),
        "-lz", "-ldl"])
    exe = os.path.join(pkg_dir, "bin", "hakmem-replay")
    native.run(native.cc + common + ["-I" + hakmem_build.bench_source_dir(), "-o", exe,
                                     os.path.join(src, "replay.c"), "-lz", "-ldl"])
    os.chmod(exe, 0o755)
