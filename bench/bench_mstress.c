/* bench_mstress: many threads, mixed sizes, blocks that outlive their thread.
 *
 *   bench_mstress THREADS ROUNDS [MAXSIZE [STEPS [SLOTS]]]
 *   bench_mstress --smoke
 *
 * ROUNDS times, THREADS threads are started together and joined. Each thread
 * keeps a table of SLOTS blocks (default 500) and makes STEPS steps (default
 * 20000). A step picks one of its slots and, seven times in eight, frees the
 * block there and mallocs a new one; the eighth time it swaps its block with
 * a random slot of a table shared by all threads (THREADS * 64 slots), so
 * blocks wander between threads and are freed by whichever holds them last.
 * When a thread ends it frees half its blocks and leaves the other half in
 * the shared table: they outlive the thread that allocated them, and threads
 * of later rounds free them. Sizes: 90% in [8, 256], 9% in [257, 4096] and 1%
 * in [4097, MAXSIZE] (default 64 KiB), each uniform.
 *
 * Every block carries its size, written at malloc and checked at free, so a
 * block handed out twice or overwritten by the allocator stops the run
 * (exit 1) rather than being timed.
 *
 * ops_per_s counts allocator calls (mallocs and frees) over all threads and
 * rounds per wall second.
 *
 * Output, one line:
 *   bench_mstress threads= rounds= maxsize= steps= slots= calls= ops_per_s=
 *     cpu_s= wall_s= peak_rss_kb= allocator_version= allocator=
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define TAG 0x6d737472ULL /* "mstr" */

struct worker {
    pthread_t tid;
    uint64_t seed, calls;
};

static struct {
    uint64_t maxsize, steps, slots, nshared;
    _Atomic(uint64_t *) *shared;
} g;

/* 90% small, 9% medium, 1% large (up to maxsize). */
static size_t pick_size(uint64_t *rng)
{
    uint64_t r = bench_rng_next(rng);
    uint32_t band = bench_rng_below((uint32_t)(r >> 32), 100);
    uint64_t lo = 8, hi = 256;
    if (band >= 99)
        lo = 4097, hi = g.maxsize;
    else if (band >= 90)
        lo = 257, hi = 4096;
    if (hi > g.maxsize)
        hi = g.maxsize;
    if (lo > hi)
        lo = 8;
    return lo + bench_rng_below((uint32_t)r, (uint32_t)(hi - lo + 1));
}

static uint64_t *block_new(size_t size)
{
    uint64_t *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "bench_mstress: malloc(%zu) failed\n", size);
        exit(1);
    }
    p[0] = (size << 32) ^ TAG;
    if (size > sizeof *p) /* the last byte, unless the header is the block */
        ((char *)p)[size - 1] = (char)size;
    return p;
}

static void block_free(uint64_t *p)
{
    if (p == NULL)
        return;
    size_t size = p[0] >> 32;
    if ((p[0] & 0xffffffffu) != TAG || size < 8 || size > g.maxsize ||
        (size > sizeof *p && ((char *)p)[size - 1] != (char)size)) {
        fprintf(stderr, "bench_mstress: block %p corrupted (header %#llx)\n", (void *)p,
                (unsigned long long)p[0]);
        exit(1);
    }
    free(p);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = w->seed, calls = 0;
    uint64_t **table = calloc(g.slots, sizeof *table);
    if (table == NULL) {
        perror("bench_mstress");
        exit(1);
    }
    for (uint64_t s = 0; s < g.steps; s++) {
        uint64_t r = bench_rng_next(&rng);
        uint32_t k = bench_rng_below((uint32_t)(r >> 32), (uint32_t)g.slots);
        if ((r & 7) == 0) {
            uint32_t t = bench_rng_below((uint32_t)bench_rng_next(&rng), (uint32_t)g.nshared);
            table[k] = atomic_exchange_explicit(&g.shared[t], table[k], memory_order_acq_rel);
        } else {
            if (table[k] != NULL) {
                block_free(table[k]);
                calls++;
            }
            table[k] = block_new(pick_size(&rng));
            calls++;
        }
    }
    /* Half the blocks outlive this thread, in the shared table. */
    for (uint64_t k = 0; k < g.slots; k++) {
        uint64_t *p = table[k];
        if (k & 1)
            p = atomic_exchange_explicit(&g.shared[bench_rng_below((uint32_t)bench_rng_next(&rng),
                                                                   (uint32_t)g.nshared)],
                                         p, memory_order_acq_rel);
        if (p != NULL) {
            block_free(p);
            calls++;
        }
    }
    free(table);
    w->calls = calls;
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_mstress THREADS ROUNDS [MAXSIZE [STEPS [SLOTS]]]\n"
                    "       bench_mstress --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t threads, rounds;

    g.maxsize = 65536, g.steps = 20000, g.slots = 500;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        threads = 8, rounds = 3, g.steps = 5000;
    } else if (argc >= 3 && argc <= 6) {
        threads = bench_parse_count("THREADS", argv[1]);
        rounds = bench_parse_count("ROUNDS", argv[2]);
        if (argc >= 4)
            g.maxsize = bench_parse_count("MAXSIZE", argv[3]);
        if (argc >= 5)
            g.steps = bench_parse_count("STEPS", argv[4]);
        if (argc == 6)
            g.slots = bench_parse_count("SLOTS", argv[5]);
    } else {
        usage();
    }
    if (threads == 0 || threads > 4096 || rounds == 0 || g.maxsize < 8 ||
        g.maxsize > UINT32_MAX || g.slots == 0 || g.slots > UINT32_MAX) {
        fprintf(stderr, "bench_mstress: need 0 < THREADS <= 4096, ROUNDS > 0,"
                        " 8 <= MAXSIZE < 2^32, 0 < SLOTS < 2^32\n");
        return 2;
    }
    g.nshared = threads * 64;
    g.shared = calloc(g.nshared, sizeof *g.shared);
    struct worker *ws = calloc(threads, sizeof *ws);
    if (g.shared == NULL || ws == NULL) {
        perror("bench_mstress");
        return 1;
    }

    uint64_t calls = 0;
    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t round = 0; round < rounds; round++) {
        for (uint64_t i = 0; i < threads; i++) {
            ws[i].seed = (round << 32) + i + 1;
            if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0) {
                fprintf(stderr, "bench_mstress: pthread_create failed\n");
                return 1;
            }
        }
        for (uint64_t i = 0; i < threads; i++) {
            pthread_join(ws[i].tid, NULL);
            calls += ws[i].calls;
        }
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;

    for (uint64_t t = 0; t < g.nshared; t++)
        block_free(atomic_load(&g.shared[t]));
    free((void *)g.shared);
    free(ws);

    printf("bench_mstress threads=%llu rounds=%llu maxsize=%llu steps=%llu slots=%llu "
           "calls=%llu ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           (unsigned long long)threads, (unsigned long long)rounds,
           (unsigned long long)g.maxsize, (unsigned long long)g.steps,
           (unsigned long long)g.slots, (unsigned long long)calls,
           wall > 0 ? (double)calls / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}
