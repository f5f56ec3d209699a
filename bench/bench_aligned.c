/* bench_aligned: aligned allocation, 16 bytes to 4 KiB.
 *
 *   bench_aligned ITERS [MINALIGN MAXALIGN [MAXSIZE [WS]]]
 *   bench_aligned --smoke
 *
 * random_mixed's pattern with aligned blocks: a table of WS slots (default
 * 4096); each step picks a slot at random and frees its block if it has one,
 * else allocates a block whose alignment is a power of two drawn uniformly
 * between MINALIGN and MAXALIGN (default 16 and 4096, so each of the 9
 * alignments is as likely) and whose size is uniform in [16, MAXSIZE]
 * (default 1024). The call rotates between posix_memalign (half), aligned_alloc
 * (a quarter; size rounded up to a multiple of the alignment, as C11 asks)
 * and memalign (a quarter), the three ways programs ask. The first and last
 * bytes are written.
 *
 * A block that is not aligned as asked is counted in misaligned= (run.sh
 * prints a warning for it) and not used; the run goes on, so that an
 * allocator's known bug does not hide its speed.
 *
 * ops_per_s counts allocator calls (allocations and frees) per wall second.
 *
 * Output, one line:
 *   bench_aligned iters= minalign= maxalign= maxsize= ws= misaligned= ops_per_s=
 *     cpu_s= wall_s= peak_rss_kb= allocator_version= allocator=
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static volatile uint64_t sink;

static void usage(void)
{
    fprintf(stderr, "usage: bench_aligned ITERS [MINALIGN MAXALIGN [MAXSIZE [WS]]]\n"
                    "       bench_aligned --smoke\n");
    exit(2);
}

static int log2_exact(uint64_t v)
{
    if (v == 0 || (v & (v - 1)) != 0)
        return -1;
    int n = 0;
    while (v >>= 1)
        n++;
    return n;
}

int main(int argc, char **argv)
{
    uint64_t iters, minalign = 16, maxalign = 4096, maxsize = 1024, ws = 4096;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        iters = 200000, ws = 512;
    } else if (argc == 2 || (argc >= 4 && argc <= 6)) {
        iters = bench_parse_count("ITERS", argv[1]);
        if (argc >= 4) {
            minalign = bench_parse_count("MINALIGN", argv[2]);
            maxalign = bench_parse_count("MAXALIGN", argv[3]);
        }
        if (argc >= 5)
            maxsize = bench_parse_count("MAXSIZE", argv[4]);
        if (argc == 6)
            ws = bench_parse_count("WS", argv[5]);
    } else {
        usage();
    }
    int lo = log2_exact(minalign), hi = log2_exact(maxalign);
    if (lo < 3 || hi < lo || hi > 30 || maxsize < 16 || maxsize > UINT32_MAX || ws == 0 ||
        ws > UINT32_MAX) {
        fprintf(stderr, "bench_aligned: need powers of two 8 <= MINALIGN <= MAXALIGN <= 2^30,"
                        " 16 <= MAXSIZE < 2^32, 0 < WS < 2^32\n");
        return 2;
    }

    void **slots = calloc(ws, sizeof *slots);
    if (slots == NULL) {
        perror("bench_aligned");
        return 1;
    }
    const uint32_t nsize = (uint32_t)(maxsize - 16 + 1), nslot = (uint32_t)ws;
    const uint32_t nalign = (uint32_t)(hi - lo + 1);
    uint64_t rng = 99, misaligned = 0, check = 0;

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t r = bench_rng_next(&rng);
        uint32_t k = bench_rng_below((uint32_t)(r >> 32), nslot);
        if (slots[k] != NULL) {
            free(slots[k]);
            slots[k] = NULL;
            continue;
        }
        uint64_t r2 = bench_rng_next(&rng);
        size_t align = (size_t)1 << (lo + (int)bench_rng_below((uint32_t)(r2 >> 32), nalign));
        size_t size = 16 + bench_rng_below((uint32_t)r, nsize);
        char *p = NULL;
        switch (r2 & 3) {
        case 0:
        case 1:
            if (posix_memalign((void **)&p, align, size) != 0)
                p = NULL;
            break;
        case 2:
            size = (size + align - 1) & ~(align - 1);
            p = aligned_alloc(align, size);
            break;
        default:
            p = memalign(align, size);
            break;
        }
        if (p == NULL) {
            fprintf(stderr, "bench_aligned: allocating %zu bytes aligned to %zu failed\n", size,
                    align);
            return 1;
        }
        if (((uintptr_t)p & (align - 1)) != 0) {
            misaligned++;
            free(p);
            continue;
        }
        p[0] = (char)i;
        p[size - 1] = (char)size;
        slots[k] = p;
        check += (uintptr_t)p;
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    for (uint32_t k = 0; k < nslot; k++)
        free(slots[k]);
    free(slots);
    sink = check;

    printf("bench_aligned iters=%llu minalign=%llu maxalign=%llu maxsize=%llu ws=%llu "
           "misaligned=%llu ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           (unsigned long long)iters, (unsigned long long)minalign,
           (unsigned long long)maxalign, (unsigned long long)maxsize, (unsigned long long)ws,
           (unsigned long long)misaligned, wall > 0 ? (double)iters / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}
