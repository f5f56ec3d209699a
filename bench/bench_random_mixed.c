/* bench_random_mixed: the original hakmem workload.
 *
 *   bench_random_mixed ITERS MAXSIZE SEED [WS]
 *   bench_random_mixed --smoke
 *
 * A table of WS slots (default 8192). Each step picks a slot at random: a full
 * slot is freed, an empty one gets malloc(size) with size uniform in
 * [16, MAXSIZE], and the block's first and last bytes are written (so the
 * allocator cannot hand out memory it never mapped, and the cache misses of a
 * real program are part of the figure). Every step is exactly one malloc or
 * one free, so ops_per_s counts allocator calls. At the end all live blocks are
 * freed; those frees are outside the timed loop but are counted in calls=, so
 * callgrind.sh can divide the instruction difference between ITERS=N and
 * ITERS=0 by the number of allocator calls.
 *
 * ITERS=0 does the setup and the final loop over the table but never calls
 * the allocator in between: the baseline for callgrind differencing.
 *
 * Output, one line:
 *   bench_random_mixed iters= maxsize= ws= seed= ops_per_s= cpu_s= wall_s=
 *     calls= peak_rss_kb= allocator_version= allocator=
 * cpu_s and wall_s cover the timed loop only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* Kept in memory so the compiler must produce every block's address. */
static volatile uint64_t sink;

static void usage(void)
{
    fprintf(stderr, "usage: bench_random_mixed ITERS MAXSIZE SEED [WS]\n"
                    "       bench_random_mixed --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t iters, maxsize, seed, ws = 8192;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        iters = 200000, maxsize = 1024, seed = 42, ws = 1024;
    } else if (argc == 4 || argc == 5) {
        iters = bench_parse_count("ITERS", argv[1]);
        maxsize = bench_parse_count("MAXSIZE", argv[2]);
        seed = bench_parse_count("SEED", argv[3]);
        if (argc == 5)
            ws = bench_parse_count("WS", argv[4]);
    } else {
        usage();
    }
    if (maxsize < 16 || maxsize > UINT32_MAX || ws == 0 || ws > UINT32_MAX) {
        fprintf(stderr, "bench_random_mixed: need 16 <= MAXSIZE < 2^32 and 0 < WS < 2^32\n");
        return 2;
    }

    void **slots = calloc(ws, sizeof *slots);
    if (slots == NULL) {
        perror("calloc");
        return 1;
    }
    const uint32_t nsize = (uint32_t)(maxsize - 16 + 1);
    const uint32_t nslot = (uint32_t)ws;
    uint64_t rng = seed;
    uint64_t check = 0;

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < iters; i++) {
        /* One draw serves both choices: high half picks the slot, low half
         * the size, so the RNG stays a small share of each step. */
        uint64_t r = bench_rng_next(&rng);
        uint32_t k = bench_rng_below((uint32_t)(r >> 32), nslot);
        char *p = slots[k];
        if (p != NULL) {
            free(p);
            slots[k] = NULL;
        } else {
            size_t size = 16 + bench_rng_below((uint32_t)r, nsize);
            p = malloc(size);
            if (p == NULL) {
                fprintf(stderr, "bench_random_mixed: malloc(%zu) failed\n", size);
                return 1;
            }
            p[0] = (char)i;
            p[size - 1] = (char)size;
            slots[k] = p;
            check += (uintptr_t)p ^ size;
        }
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    uint64_t calls = iters;
    for (uint32_t k = 0; k < nslot; k++) {
        if (slots[k] != NULL) {
            free(slots[k]);
            calls++;
        }
    }
    free(slots);
    sink = check;

    printf("bench_random_mixed iters=%llu maxsize=%llu ws=%llu seed=%llu "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f calls=%llu peak_rss_kb=%ld "
           "allocator_version=%s allocator=%s\n",
           (unsigned long long)iters, (unsigned long long)maxsize, (unsigned long long)ws,
           (unsigned long long)seed, wall > 0 ? (double)iters / wall : 0.0, cpu, wall,
           (unsigned long long)calls, bench_peak_rss_kb(), bench_allocator_version(),
           bench_allocator_path());
    return 0;
}
