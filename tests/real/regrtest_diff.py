"""regrtest_diff.py: compares the outcomes of two CPython regression-test runs.

Usage: python3 regrtest_diff.py BASE.xml RUN.xml [IDS_OUT]

Each file is the --junit-xml report of `python -m test`. Every test case
(test.test_dict.DictTest.test_copy, ...) has one outcome: passed, skipped,
failure or error. Prints a one-line summary and then every test case whose
outcome differs, or that ran in one report only (a module that crashed or
hung stops reporting). With IDS_OUT, writes the differing test ids there,
one a line (a --matchfile for a rerun).
Exit: 0 same outcomes, 1 differences, 2 a report is missing or unreadable.
Runs without hakmem: it reads files only.
"""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    root = ET.parse(path).getroot()
    got = {}
    for case in root.iter("testcase"):
        name = case.get("name")
        kinds = {child.tag for child in case}
        if "error" in kinds:
            got[name] = "error"
        elif "failure" in kinds:
            got[name] = "failure"
        elif "skipped" in kinds:
            got[name] = "skipped"
        else:
            got[name] = "passed"
    return got


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2])
        return 2
    try:
        base, run = outcomes(argv[1]), outcomes(argv[2])
    except (OSError, ET.ParseError) as e:
        print("regrtest_diff: cannot read a report: %s" % e)
        return 2
    counts = {}
    for o in run.values():
        counts[o] = counts.get(o, 0) + 1
    print("%d test cases: %s (without hakmem: %d test cases)" % (
        len(run), ", ".join("%d %s" % (n, o) for o, n in sorted(counts.items())), len(base)))
    diff = []
    for name in sorted(set(base) | set(run)):
        a, b = base.get(name, "not run"), run.get(name, "not run")
        if a != b:
            diff.append(name)
            print("  %s: %s without hakmem, %s with it" % (name, a, b))
    if len(argv) == 4:
        with open(argv[3], "w") as f:
            for name in diff:
                f.write(name + "\n")
    if not run:
        print("  no test case ran")
        return 1
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
