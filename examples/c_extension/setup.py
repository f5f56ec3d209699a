import hakmem
from setuptools import Extension, setup

inc, libdir = [hakmem.get_include()], [hakmem.get_library_dir()]
setup(ext_modules=[
    Extension("demo_capsule", ["demo.c"], include_dirs=inc),
    Extension("demo_linked", ["demo.c"], include_dirs=inc, define_macros=[("DEMO_LINKED", None)],
              libraries=["hakmem_api"], library_dirs=libdir, runtime_library_dirs=libdir),
])
