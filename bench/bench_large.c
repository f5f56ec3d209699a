/* bench_large: large blocks, 64 KiB to 8 MiB, with realloc.
 *
 *   bench_large ITERS [MINSIZE MAXSIZE [WS]]
 *   bench_large --smoke
 *
 * A table of WS slots (default 16). Each step picks a slot at random: an
 * empty one gets malloc(size); a full one is freed or, as often, realloc'ed
 * to a new size (larger or smaller). Sizes are log-uniform between MINSIZE and
 * MAXSIZE (default 64 KiB and 8 MiB): each doubling is as likely, uniform
 * within it. Every page of a new block, and of the part a realloc adds, gets
 * one byte written, as a program that uses what it asks for would: so the
 * figure includes the page faults an allocator causes by returning memory to
 * the kernel and mapping it again, which is where allocators differ most for
 * large blocks (and what peak RSS weighs against).
 *
 * A realloc that loses the block's first byte or the last page's byte below
 * the kept length stops the run (exit 1).
 *
 * ops_per_s counts allocator calls (malloc, realloc, free) per wall second.
 *
 * Output, one line:
 *   bench_large iters= minsize= maxsize= ws= reallocs= ops_per_s= cpu_s= wall_s=
 *     peak_rss_kb= allocator_version= allocator=
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define PAGE 4096

struct slot {
    unsigned char *p;
    size_t size;
};

static volatile uint64_t sink;

static uint64_t minsize = 64 << 10, maxsize = 8 << 20;
static uint32_t octaves;

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = bench_rng_next(rng);
    uint32_t o = bench_rng_below((uint32_t)(r >> 32), octaves);
    uint64_t base = minsize << o;
    uint64_t size = base + bench_rng_below((uint32_t)r, (uint32_t)base);
    return size > maxsize ? maxsize : size;
}

static inline unsigned char tag(size_t i)
{
    return (unsigned char)(i / PAGE * 7 + 1);
}

/* Writes one byte in every page of [from, to). */
static void touch(unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i = (i / PAGE + 1) * PAGE)
        p[i] = tag(i);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_large ITERS [MINSIZE MAXSIZE [WS]]\n"
                    "       bench_large --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t iters, ws = 16;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        iters = 2000, ws = 8;
    } else if (argc == 2 || argc == 4 || argc == 5) {
        iters = bench_parse_count("ITERS", argv[1]);
        if (argc >= 4) {
            minsize = bench_parse_count("MINSIZE", argv[2]);
            maxsize = bench_parse_count("MAXSIZE", argv[3]);
        }
        if (argc == 5)
            ws = bench_parse_count("WS", argv[4]);
    } else {
        usage();
    }
    if (minsize < PAGE || maxsize < minsize || maxsize > (1ULL << 31) || ws == 0 ||
        ws > UINT32_MAX) {
        fprintf(stderr, "bench_large: need 4096 <= MINSIZE <= MAXSIZE <= 2 GiB, 0 < WS < 2^32\n");
        return 2;
    }
    octaves = 1;
    while ((minsize << octaves) < maxsize)
        octaves++;

    struct slot *slots = calloc(ws, sizeof *slots);
    if (slots == NULL) {
        perror("bench_large");
        return 1;
    }
    uint64_t rng = 5, calls = 0, reallocs = 0, check = 0;

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t r = bench_rng_next(&rng);
        struct slot *s = &slots[bench_rng_below((uint32_t)(r >> 32), (uint32_t)ws)];
        calls++;
        if (s->p == NULL) {
            size_t size = pick_size(&rng);
            if ((s->p = malloc(size)) == NULL) {
                fprintf(stderr, "bench_large: malloc(%zu) failed\n", size);
                return 1;
            }
            s->size = size;
            touch(s->p, 0, size);
        } else if (r & 1) {
            check += s->p[0];
            free(s->p);
            s->p = NULL;
        } else {
            size_t size = pick_size(&rng), keep = size < s->size ? size : s->size;
            unsigned char *p = realloc(s->p, size);
            if (p == NULL) {
                fprintf(stderr, "bench_large: realloc(%zu) failed\n", size);
                return 1;
            }
            size_t lastpage = (keep - 1) / PAGE * PAGE;
            if (p[0] != tag(0) || p[lastpage] != tag(lastpage)) {
                fprintf(stderr, "bench_large: realloc from %zu to %zu bytes lost data\n",
                        s->size, size);
                return 1;
            }
            touch(p, keep, size);
            s->p = p, s->size = size;
            reallocs++;
        }
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    for (uint64_t k = 0; k < ws; k++)
        free(slots[k].p);
    free(slots);
    sink = check;

    printf("bench_large iters=%llu minsize=%llu maxsize=%llu ws=%llu reallocs=%llu "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           (unsigned long long)iters, (unsigned long long)minsize,
           (unsigned long long)maxsize, (unsigned long long)ws, (unsigned long long)reallocs,
           wall > 0 ? (double)calls / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}
