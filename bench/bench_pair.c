/* bench_pair: the cost of one malloc(SIZE)/free pair on a hot cache.
 *
 *   bench_pair SIZE ITERS
 *   bench_pair --smoke
 *
 * After a fixed warm-up of WARMUP pairs (so thread caches and size-class
 * state exist before timing, and so callgrind.sh can difference two runs that
 * share it), ITERS pairs are timed. This is the allocator's best case: the
 * same block comes back every time. ops_per_s counts pairs per second.
 *
 * Output, one line:
 *   bench_pair size= iters= ns_per_pair= ops_per_s= cpu_s= wall_s=
 *     peak_rss_kb= allocator_version= allocator=
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define WARMUP 100000

/* GCC and clang delete a malloc/free pair whose block is never used. Passing
 * the pointer into an empty asm that may read memory makes the block escape
 * without adding an instruction. */
static inline void escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static void pairs(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(size);
        escape(p);
        free(p);
    }
}

int main(int argc, char **argv)
{
    uint64_t size, iters;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        size = 64, iters = 1000000;
    } else if (argc == 3) {
        size = bench_parse_count("SIZE", argv[1]);
        iters = bench_parse_count("ITERS", argv[2]);
    } else {
        fprintf(stderr, "usage: bench_pair SIZE ITERS\n       bench_pair --smoke\n");
        return 2;
    }

    /* One checked call: a failing allocator must not time as a fast one. */
    void *probe = malloc(size);
    if (probe == NULL) {
        fprintf(stderr, "bench_pair: malloc(%llu) failed\n", (unsigned long long)size);
        return 1;
    }
    free(probe);

    pairs(size, WARMUP);

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    pairs(size, iters);
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    printf("bench_pair size=%llu iters=%llu ns_per_pair=%.3f ops_per_s=%.0f "
           "cpu_s=%.6f wall_s=%.6f peak_rss_kb=%ld allocator_version=%s allocator=%s\n",
           (unsigned long long)size, (unsigned long long)iters,
           iters ? wall * 1e9 / (double)iters : 0.0,
           wall > 0 ? (double)iters / wall : 0.0, cpu, wall,
           bench_peak_rss_kb(), bench_allocator_version(), bench_allocator_path());
    return 0;
}
