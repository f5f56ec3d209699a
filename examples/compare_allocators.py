"""The benchmark suite of make bench, from Python: every allocator installed,
interleaved rounds, the report and the chart.

    python examples/compare_allocators.py            # smoke length: seconds
    python examples/compare_allocators.py --quick    # a real (short) comparison
"""
import sys

from hakmem import bench


def main() -> None:
    quick = "--quick" in sys.argv
    res = bench.compare(["pair/64", "prodcons", "larson"], smoke=not quick, quick=quick,
                        progress=bench.Progress(sys.stderr))
    print(res.to_markdown(header=False))
    print("hakmem / system on pair/64: %.2f" % res.ratio("pair/64", "hakmem"))
    try:
        print("chart:", res.plot("compare.png"))
    except ImportError as e:
        print(e)


if __name__ == "__main__":
    main()
