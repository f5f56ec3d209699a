#!/usr/bin/env python3
"""test_layers.py: lib/ keeps its layers (lib/LAYERS).

Fails, naming the file and line, when:
- a file of lib/ is not listed in lib/LAYERS (or a listed file does not exist);
- a file includes a hakmem file of a higher layer;
- a .c file declares a function or an extern variable by hand (every
  cross-file name must come from the header of the file that defines it);
- a header declares a hidden function that no file of its own layer defines;
- a file other than os.c calls the OS for memory or machine facts, or
  includes a system header made for them;
- the README's "Sources" list differs from lib/LAYERS.
"""
import os
import re
import sys

TOP = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIB = os.path.join(TOP, "lib")

# The OS's memory and machine calls, and the headers that declare them: only
# the platform layer (os.c) may use them. message.c keeps write(2) and
# abort(3) for diagnostics (unistd.h, stdlib.h), below everything.
OS_CALLS = re.compile(r"\b(mmap|munmap|mprotect|madvise|mremap|sysconf|getrlimit|setrlimit|"
                      r"sched_getaffinity|clock_gettime|getrandom|getauxval|syscall|open|read)\s*\(")
OS_HEADERS = {"sys/mman.h", "sys/resource.h", "sched.h", "time.h", "sys/auxv.h",
              "sys/syscall.h", "fcntl.h", "unistd.h", "sys/random.h"}
OS_OWNERS = {"os.c"}
HEADER_EXCEPTIONS = {("message.c", "unistd.h")}

failures = []


def fail(msg):
    failures.append(msg)


def read_layers():
    rank, order = {}, []
    with open(os.path.join(LIB, "LAYERS")) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            order.append(line)
            for name in line:
                if name in rank:
                    fail("lib/LAYERS:%d: %s listed twice" % (lineno, name))
                rank[name] = len(order) - 1
    return rank, order


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def main():
    rank, order = read_layers()
    files = sorted(f for f in os.listdir(LIB) if f.endswith((".c", ".h")))
    for f in files:
        if f not in rank:
            fail("lib/%s is not in lib/LAYERS" % f)
    for name in rank:
        if not os.path.exists(os.path.join(LIB, name)):
            fail("lib/LAYERS names %s, which does not exist" % name)

    texts = {}
    for f in files:
        with open(os.path.join(LIB, f)) as fh:
            texts[f] = fh.read()

    defined_in = {}  # function -> file that defines it
    for f in files:
        if not f.endswith(".c"):
            continue
        code = strip_comments(texts[f])
        for m in re.finditer(r"^[A-Za-z_][^\n;{}()]*?\b(_hak_\w+)\s*\([^;{]*\)\s*(?:\{|$)", code, re.M):
            defined_in.setdefault(m.group(1), f)

    for f in files:
        code = strip_comments(texts[f])
        own = rank.get(f)
        for lineno, line in enumerate(code.split("\n"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m:
                inc = m.group(1)
                if inc not in rank:
                    fail("lib/%s:%d: includes %s, which lib/LAYERS does not list" % (f, lineno, inc))
                elif own is not None and rank[inc] > own:
                    fail("lib/%s:%d: includes %s, of a higher layer (%s above %s)"
                         % (f, lineno, inc, " ".join(order[rank[inc]]), " ".join(order[own])))
            m = re.match(r"\s*#\s*include\s+<([^>]+)>", line)
            if m and m.group(1) in OS_HEADERS and f not in OS_OWNERS and (f, m.group(1)) not in HEADER_EXCEPTIONS:
                fail("lib/%s:%d: includes <%s>: the OS's memory and machine calls belong to os.c"
                     % (f, lineno, m.group(1)))
            if f not in OS_OWNERS and not line.lstrip().startswith("#"):
                for call in OS_CALLS.finditer(line):
                    # A name of our own that merely ends like a system call
                    # (fr_remove, ...) is preceded by a word character.
                    fail("lib/%s:%d: calls %s(): the OS's memory and machine calls belong to os.c"
                         % (f, lineno, call.group(1)))
            if f.endswith(".c"):
                if re.match(r"\s*HAK_HIDDEN\b[^;{]*\(", line) and line.rstrip().endswith(";"):
                    fail("lib/%s:%d: declares a function by hand; include its header" % (f, lineno))
                if re.match(r"\s*extern\b", line) and "environ" not in line:
                    fail("lib/%s:%d: extern declaration in a .c file; include the header" % (f, lineno))

        if f.endswith(".h") and own is not None:
            for m in re.finditer(r"HAK_HIDDEN\b[^;{]*?\b(_hak_\w+)\s*\(", code):
                fn = m.group(1)
                where = defined_in.get(fn)
                if where is None:
                    fail("lib/%s declares %s, which no file of lib/ defines" % (f, fn))
                elif rank.get(where) != own:
                    fail("lib/%s declares %s, defined in %s of another layer" % (f, fn, where))

    # The README's list is the same list, in the same order.
    with open(os.path.join(TOP, "README.md")) as fh:
        readme = fh.read()
    m = re.search(r"<!-- layers -->\n(.*?)<!-- /layers -->", readme, re.S)
    if not m:
        fail("README.md has no layer list between <!-- layers --> and <!-- /layers -->")
    else:
        listed = [re.findall(r"`([^`]+)`", row)
                  for row in m.group(1).split("\n") if row.startswith("|") and "`" in row]
        expected = [[("include/hakmem.h" if n == "../include/hakmem.h" else n) for n in layer]
                    for layer in order]
        if listed != expected:
            fail("README.md's layer list differs from lib/LAYERS:\n  README: %s\n  LAYERS: %s"
                 % (listed, expected))

    for msg in failures:
        print("FAIL " + msg)
    print("test_layers: %d files, %d layers, %d problems" % (len(files), len(order), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
