/* bench_churn: huge buffers freed and allocated over and over.
 *
 *   bench_churn CYCLES [MINSIZE MAXSIZE [LIVE]]
 *   bench_churn --smoke
 *
 * LIVE buffers (default 20) stay allocated, with sizes uniform in [MINSIZE,
 * MAXSIZE] (default 5 MiB to 25 MiB), as an image, compression or database
 * program keeps its working buffers. Each of CYCLES cycles frees one buffer,
 * picked at random, and allocates a new one of a new random size in its
 * place. Every buffer is written when it is allocated: one 8-byte word in
 * every 4 KiB page, so each page is resident, as it is in a program that fills
 * the buffer, while the figure stays the allocator's and the page faults'
 * rather than memset's. Before a buffer is freed, the words written in its
 * first and last pages are checked (exit 1 if either was lost).
 *
 * An allocator that hands every freed buffer back to the kernel and maps the
 * next one fresh pays a page fault for every page of every cycle; one that
 * keeps the freed pages and reuses them pays none. So the figure to read with
 * ops_per_s is minflt= (minor page faults of the whole run, from getrusage)
 * and peak_rss_kb= (what the kept pages cost), beside peak_live_kb=, the most
 * the program itself ever held in its buffers at once.
 *
 * ops_per_s counts allocator calls (a malloc and a free per cycle) per wall
 * second of the loop; cpu_s is user+system time of the loop, sys_s the kernel
 * part of it.
 *
 * Output, one line:
 *   bench_churn cycles= minsize= maxsize= live= ops_per_s= cpu_s= sys_s= wall_s=
 *     minflt= peak_live_kb= peak_rss_kb= allocator_version= allocator=
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_common.h"

#define PAGE 4096

struct buf {
    uint64_t *p;
    size_t size;
    uint64_t id; /* written into every page; checked before the free */
};

static volatile uint64_t sink;

static void usage(void)
{
    fprintf(stderr, "usage: bench_churn CYCLES [MINSIZE MAXSIZE [LIVE]]\n"
                    "       bench_churn --smoke\n");
    exit(2);
}

/* Allocates b->size bytes and writes b->id into the first word of every page. */
static void fill(struct buf *b)
{
    b->p = malloc(b->size);
    if (b->p == NULL) {
        fprintf(stderr, "bench_churn: malloc(%zu) failed\n", b->size);
        exit(1);
    }
    for (size_t off = 0; off + sizeof *b->p <= b->size; off += PAGE)
        b->p[off / sizeof *b->p] = b->id + off;
}

/* Checks the first and the last page's words, then frees. */
static void drop(struct buf *b)
{
    size_t last = (b->size - sizeof *b->p) / PAGE * PAGE; /* fill's last word */
    if (b->p[0] != b->id || b->p[last / sizeof *b->p] != b->id + last) {
        fprintf(stderr, "bench_churn: buffer of %zu bytes lost its contents\n", b->size);
        exit(1);
    }
    sink += b->p[0];
    free(b->p);
    b->p = NULL;
}

int main(int argc, char **argv)
{
    uint64_t cycles, minsize = 5 << 20, maxsize = 25 << 20, live = 20;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        cycles = 200, minsize = 1 << 20, maxsize = 4 << 20, live = 8;
    } else if (argc == 2 || argc == 4 || argc == 5) {
        cycles = bench_parse_count("CYCLES", argv[1]);
        if (argc >= 4) {
            minsize = bench_parse_count("MINSIZE", argv[2]);
            maxsize = bench_parse_count("MAXSIZE", argv[3]);
        }
        if (argc == 5)
            live = bench_parse_count("LIVE", argv[4]);
    } else {
        usage();
    }
    if (minsize < 8 || maxsize < minsize || maxsize - minsize >= (1ULL << 32) || live == 0 ||
        live > 1000000) {
        fprintf(stderr, "bench_churn: need 8 <= MINSIZE <= MAXSIZE < MINSIZE + 4 GiB, "
                        "0 < LIVE <= 1000000\n");
        return 2;
    }
    struct buf *bufs = calloc(live, sizeof *bufs);
    if (bufs == NULL) {
        perror("bench_churn");
        return 1;
    }
    uint64_t rng = 17, next_id = 1, live_bytes = 0, peak_live = 0;

    double cpu0 = bench_cpu_s(), sys0 = bench_sys_s();
    long flt0 = bench_minflt();
    double t0 = bench_wall_s();
    for (uint64_t k = 0; k < live; k++) {
        bufs[k].size = bench_rng_range(&rng, minsize, maxsize);
        bufs[k].id = next_id++ << 32;
        fill(&bufs[k]);
        live_bytes += bufs[k].size;
    }
    peak_live = live_bytes;
    for (uint64_t c = 0; c < cycles; c++) {
        uint64_t r = bench_rng_next(&rng);
        struct buf *b = &bufs[bench_rng_below((uint32_t)(r >> 32), (uint32_t)live)];
        drop(b);
        live_bytes -= b->size;
        b->size = bench_rng_range(&rng, minsize, maxsize);
        b->id = next_id++ << 32;
        fill(b);
        live_bytes += b->size;
        if (live_bytes > peak_live)
            peak_live = live_bytes;
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0, sys = bench_sys_s() - sys0;
    long flt = bench_minflt() - flt0;

    for (uint64_t k = 0; k < live; k++)
        drop(&bufs[k]);
    free(bufs);

    printf("bench_churn cycles=%llu minsize=%llu maxsize=%llu live=%llu ops_per_s=%.0f "
           "cpu_s=%.6f sys_s=%.6f wall_s=%.6f minflt=%ld peak_live_kb=%llu ",
           (unsigned long long)cycles, (unsigned long long)minsize,
           (unsigned long long)maxsize, (unsigned long long)live,
           wall > 0 ? (double)(2 * cycles + live) / wall : 0.0, cpu, sys, wall, flt,
           (unsigned long long)(peak_live >> 10));
    bench_print_identity();
    return 0;
}
