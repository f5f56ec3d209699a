/* bench_coldpath: the cost of an allocator call when its bookkeeping is big.
 *
 *   bench_coldpath large RANGES ITERS
 *   bench_coldpath arena SUPERSLABS ITERS
 *   bench_coldpath --smoke
 *
 * A fast path's cost is easy to keep flat; a slow path that walks a list of
 * everything the allocator holds gets slower as the program grows, and a
 * benchmark with an empty heap never shows it. Each mode first builds a heap
 * with many pieces, then times ITERS calls that must search it; the figure
 * to compare is ns_per_call= across sizes (a search in O(1) or O(log n)
 * stays nearly flat from 1k to 50k pieces, a linear one grows 50x).
 *
 * large  2*RANGES+1 blocks of 257 to 512 KiB (above every small size class,
 *        so in any allocator's large-block path), each one's first byte
 *        written; then every other one is freed: RANGES free ranges, each
 *        between two live blocks, so none can merge. Timed: ITERS rounds of
 *        malloc + free, of 300 KiB (fits most ranges: a best-fit search)
 *        and of 1.5 MiB (fits none: a search that finds nothing) in turn.
 * arena  SUPERSLABS*248 blocks of 8 KiB fill 2 MiB SuperSlabs with 64 KiB
 *        slabs of 8 blocks; then the blocks of every other slab are freed and
 *        malloc_trim(0) gives the emptied slabs back, leaving each SuperSlab
 *        with single free units between live slabs (hakmem's layout; another
 *        allocator just holds many pages). Timed: ITERS mallocs of 128 KiB
 *        (kept), whose slabs need 16 units side by side: a new slab every 8
 *        calls, which none of those SuperSlabs can hold. No block is
 *        written: the figure is the search more than page faults.
 *
 * ns_per_call counts each malloc and each free as a call, over wall time
 * (the loops are single-threaded and short, so process CPU time is too
 * coarse); setup_s is the building time.
 *
 * Output, one line:
 *   bench_coldpath mode= pieces= iters= setup_s= ns_per_call= ops_per_s= cpu_s=
 *     wall_s= peak_rss_kb= allocator_version= allocator=
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

__attribute__((noreturn)) static void usage(void)
{
    fprintf(stderr, "usage: bench_coldpath large RANGES ITERS\n"
                    "       bench_coldpath arena SUPERSLABS ITERS\n"
                    "       bench_coldpath --smoke\n");
    exit(2);
}

/* malloc or exit; with `touch`, the first byte written. */
static void *must_malloc(size_t n, int touch)
{
    char *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench_coldpath: malloc(%zu) failed\n", n);
        exit(1);
    }
    if (touch)
        p[0] = 1;
    return p;
}

/* Each mode returns the timed loop's calls and sets its times. */
static uint64_t run_large(uint64_t ranges, uint64_t iters, double *setup, double *wall, double *cpu)
{
    uint64_t rng = 3, nblocks = 2 * ranges + 1;
    double s0 = bench_wall_s();
    char **b = must_malloc(nblocks * sizeof *b, 0);
    for (uint64_t i = 0; i < nblocks; i++)
        b[i] = must_malloc((257 << 10) + bench_rng_below((uint32_t)bench_rng_next(&rng), 255 << 10), 1);
    for (uint64_t i = 1; i < nblocks; i += 2)
        free(b[i]);
    *setup = bench_wall_s() - s0;

    const size_t sizes[2] = {300 << 10, 3 << 19};
    double c0 = bench_cpu_s(), t0 = bench_wall_s();
    for (uint64_t k = 0; k < iters; k++) {
        char *p = must_malloc(sizes[k & 1], 1);
        bench_escape(p);
        free(p);
    }
    *wall = bench_wall_s() - t0;
    *cpu = bench_cpu_s() - c0;
    for (uint64_t i = 0; i < nblocks; i += 2)
        free(b[i]);
    free(b);
    return 2 * iters;
}

static uint64_t run_arena(uint64_t superslabs, uint64_t iters, double *setup, double *wall,
                          double *cpu)
{
    /* 31 slabs of 8 blocks of 8 KiB per SuperSlab (its 32 units, less the
     * header's): block i is in slab i / 8, if the allocator lays them out in
     * order (hakmem does); another allocator just frees every other run. */
    uint64_t nblocks = superslabs * 31 * 8;
    double s0 = bench_wall_s();
    char **b = must_malloc(nblocks * sizeof *b, 0);
    for (uint64_t i = 0; i < nblocks; i++)
        b[i] = must_malloc(8192, 0);
    for (uint64_t i = 0; i < nblocks; i++)
        if ((i / 8) & 1) {
            free(b[i]);
            b[i] = NULL;
        }
    malloc_trim(0);
    *setup = bench_wall_s() - s0;

    char **keep = must_malloc(iters * sizeof *keep, 0);
    double c0 = bench_cpu_s(), t0 = bench_wall_s();
    for (uint64_t k = 0; k < iters; k++) {
        keep[k] = must_malloc(128 << 10, 0);
        bench_escape(keep[k]);
    }
    *wall = bench_wall_s() - t0;
    *cpu = bench_cpu_s() - c0;
    for (uint64_t k = 0; k < iters; k++)
        free(keep[k]);
    free(keep);
    for (uint64_t i = 0; i < nblocks; i++)
        free(b[i]);
    free(b);
    return iters;
}

int main(int argc, char **argv)
{
    const char *mode;
    uint64_t pieces, iters;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        /* Both modes, small. */
        double setup, wall, cpu;
        run_arena(8, 200, &setup, &wall, &cpu);
        mode = "large", pieces = 100, iters = 2000;
    } else if (argc == 4) {
        mode = argv[1];
        pieces = bench_parse_count("pieces", argv[2]);
        iters = bench_parse_count("ITERS", argv[3]);
    } else {
        usage();
    }
    if (pieces == 0 || pieces > 10000000 || iters == 0) {
        fprintf(stderr, "bench_coldpath: need 0 < RANGES or SUPERSLABS <= 10M, ITERS > 0\n");
        return 2;
    }
    double setup, wall, cpu;
    uint64_t calls;
    if (strcmp(mode, "large") == 0)
        calls = run_large(pieces, iters, &setup, &wall, &cpu);
    else if (strcmp(mode, "arena") == 0)
        calls = run_arena(pieces, iters, &setup, &wall, &cpu);
    else
        usage();
    printf("bench_coldpath mode=%s pieces=%llu iters=%llu setup_s=%.6f ns_per_call=%.1f "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           mode, (unsigned long long)pieces, (unsigned long long)iters, setup,
           calls ? wall * 1e9 / (double)calls : 0.0, wall > 0 ? (double)calls / wall : 0.0, cpu,
           wall);
    bench_print_identity();
    return 0;
}
