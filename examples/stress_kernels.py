"""The stress kernels: every block filled and checked, in this process or in
hakmem-stress under another allocator. Ctrl-C stops a run.

    python examples/stress_kernels.py [SECONDS]
"""
import sys

from hakmem import stress


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    for kernel in stress.KERNELS:
        threads = 2 if kernel in ("prodcons", "larson") else 1
        r = stress.run(kernel, threads=threads, duration=seconds, max_size=4096)
        print("%-15s %6.1f M ops/s  errors %d  peak RSS %6d kB"
              % (kernel, r.ops_per_s / 1e6, r.errors, r.peak_rss_kb))
    # The same kernel under the system allocator, in a subprocess.
    r = stress.larson(threads=2, duration=seconds, allocator="system")
    print("larson under %s: %.1f M ops/s" % (r.allocator, r.ops_per_s / 1e6))
    # A configuration that could not fit in memory is refused before it runs.
    try:
        stress.random_mixed(max_size=4_000_000_000)
    except ValueError as e:
        print("refused:", e)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted")
