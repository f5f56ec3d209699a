"""Build of the hakmem Python package (configuration is in pyproject.toml).

build_ext first compiles hakmem's C core from ../lib and ../include (or the
copy an sdist carries) into the package: lib/libhakmem.so (for LD_PRELOAD),
lib/libhakmem_api.so (the library the package loads), include/hakmem.h and
bin/hakmem-stress. Then it builds the two extension modules: hakmem._core
(CPython C API: Block, pymem, the capsule) and hakmem._native (cffi).
See hakmem_build.py.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hakmem_build  # noqa: E402
import hakmem_trace_build  # noqa: E402  (the recorder and hakmem-replay: issue 15)


class BuildExt(build_ext):
    def run(self):
        pkg_dir = os.path.dirname(self.get_ext_fullpath("hakmem._core"))
        native = hakmem_build.NativeBuild(os.path.join(self.build_temp, "hakmem-native"),
                                          log=lambda msg: print(msg, file=sys.stderr))
        stress_o = native.build(pkg_dir)
        hakmem_trace_build.build(native, pkg_dir)
        for ext in self.extensions:
            if ext.name == "hakmem._native" and stress_o not in ext.extra_objects:
                ext.extra_objects.append(stress_o)
        super().run()


class SDist(sdist):
    """An sdist carries the C core, since it is built away from the tree."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        hakmem_build.vendor_c_sources(os.path.join(base_dir, "csrc"))
        hakmem_trace_build.vendor_c_sources(os.path.join(base_dir, "csrc"))


setup(
    version=hakmem_build.version(),
    ext_modules=[
        Extension(
            "hakmem._core",
            ["src/csrc/core.c"],
            include_dirs=hakmem_build.include_dirs(),
            extra_compile_args=["-std=c11"] + hakmem_build.strict_flags(),
            libraries=["dl"],
        )
    ],
    cffi_modules=["src/bindings/build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "sdist": SDist},
)
