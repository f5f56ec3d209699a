/* bench_realloc: buffers that grow, as strings and vectors do.
 *
 *   bench_realloc step|double ITERS [MAXSIZE [CHAINS]]
 *   bench_realloc --smoke
 *
 * CHAINS growing buffers (default 8) live side by side; each of ITERS steps
 * picks one at random and grows it with realloc:
 *
 * step    a string being appended to: by 1 to 32 bytes at a time, from empty up
 *         to MAXSIZE (default 8 KiB). Every appended byte is written.
 * double  a vector that doubles: from 16 to 64 bytes up to MAXSIZE (default
 *         4 MiB), which crosses from small blocks into large ones. One byte in
 *         every 64 of the new part is written (a cache line each), so the cost
 *         of moving memory stays in the figure without a memset drowning it.
 *
 * A buffer that would pass MAXSIZE is freed and starts again from nothing
 * (realloc(NULL, n)). Because the chains take turns at random, their blocks
 * interleave in memory and a realloc cannot always grow in place. The bytes
 * written are checked after every move (first and last written byte), so an
 * allocator that loses data stops the run (exit 1).
 *
 * ops_per_s counts allocator calls (reallocs and the frees of restarting
 * chains) per wall second.
 *
 * Output, one line:
 *   bench_realloc mode= iters= maxsize= chains= calls= moved= ops_per_s= cpu_s=
 *     wall_s= peak_rss_kb= allocator_version= allocator=
 * moved= counts reallocs that returned a new address (of those with an old
 * block).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

struct chain {
    unsigned char *buf;
    size_t len;  /* bytes in use; all written bytes lie below it */
    size_t last; /* index of the last byte written (valid when len > 0) */
};

static volatile uint64_t sink;

static inline unsigned char tag(size_t i, uint32_t k)
{
    return (unsigned char)((i >> 6) ^ i ^ k);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_realloc step|double ITERS [MAXSIZE [CHAINS]]\n"
                    "       bench_realloc --smoke\n");
    exit(2);
}

static int run(int doubling, uint64_t iters, uint64_t maxsize, uint64_t nchain)
{
    struct chain *ch = calloc(nchain, sizeof *ch);
    if (ch == NULL) {
        perror("bench_realloc");
        return 1;
    }
    const size_t stride = doubling ? 64 : 1;
    uint64_t rng = 7, calls = 0, moved = 0;

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t r = bench_rng_next(&rng);
        uint32_t k = bench_rng_below((uint32_t)(r >> 32), (uint32_t)nchain);
        struct chain *c = &ch[k];
        size_t len;
        if (c->len == 0)
            len = doubling ? 16 + bench_rng_below((uint32_t)r, 49) : 1 + bench_rng_below((uint32_t)r, 32);
        else
            len = doubling ? c->len * 2 : c->len + 1 + bench_rng_below((uint32_t)r, 32);
        if (len > maxsize) {
            free(c->buf);
            calls++;
            c->buf = NULL, c->len = 0;
            continue;
        }
        unsigned char *p = realloc(c->buf, len);
        calls++;
        if (p == NULL) {
            fprintf(stderr, "bench_realloc: realloc(%zu) failed\n", len);
            return 1;
        }
        if (c->len > 0) {
            if (p != c->buf)
                moved++;
            if (p[0] != tag(0, k) || p[c->last] != tag(c->last, k)) {
                fprintf(stderr, "bench_realloc: realloc from %zu to %zu bytes lost data\n",
                        c->len, len);
                return 1;
            }
        }
        /* Write the new part: from the first unwritten multiple of stride. */
        size_t from = c->len == 0 ? 0 : (c->last / stride + 1) * stride;
        for (size_t j = from; j < len; j += stride) {
            p[j] = tag(j, k);
            c->last = j;
        }
        c->buf = p, c->len = len;
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    uint64_t check = 0;
    for (uint64_t k = 0; k < nchain; k++) {
        if (ch[k].buf != NULL)
            check += ch[k].buf[0];
        free(ch[k].buf);
    }
    free(ch);
    sink = check;

    printf("bench_realloc mode=%s iters=%llu maxsize=%llu chains=%llu calls=%llu moved=%llu "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           doubling ? "double" : "step", (unsigned long long)iters,
           (unsigned long long)maxsize, (unsigned long long)nchain,
           (unsigned long long)calls, (unsigned long long)moved,
           wall > 0 ? (double)calls / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0)
        return run(0, 200000, 8192, 8) || run(1, 2000, 4 << 20, 8);
    if (argc < 3 || argc > 5)
        usage();
    int doubling;
    if (strcmp(argv[1], "double") == 0)
        doubling = 1;
    else if (strcmp(argv[1], "step") == 0)
        doubling = 0;
    else
        usage();
    uint64_t iters = bench_parse_count("ITERS", argv[2]);
    uint64_t maxsize = doubling ? 4 << 20 : 8192, nchain = 8;
    if (argc >= 4)
        maxsize = bench_parse_count("MAXSIZE", argv[3]);
    if (argc == 5)
        nchain = bench_parse_count("CHAINS", argv[4]);
    if (maxsize < 64 || nchain == 0 || nchain > UINT32_MAX) {
        fprintf(stderr, "bench_realloc: need MAXSIZE >= 64 and 0 < CHAINS < 2^32\n");
        return 2;
    }
    return run(doubling, iters, maxsize, nchain);
}
