/* bench_cache: false sharing between threads' small objects.
 *
 *   bench_cache thrash|scratch THREADS ITERS [SIZE [WRITES]]
 *   bench_cache --smoke
 *
 * Each of THREADS threads repeats ITERS times: malloc(SIZE) (default 8 bytes),
 * write every byte of the block WRITES times (default 100), free it. The
 * threads share nothing, so on a good allocator they scale with the cores.
 * They do not when the allocator gives two threads blocks on the same 64-byte
 * cache line: every write then takes the line away from the other core.
 *
 * thrash  (active false sharing): the threads start together and allocate
 *         their first blocks at the same moment, so an allocator that serves
 *         concurrent threads from one shared run of memory puts them side by
 *         side.
 * scratch (passive false sharing): the main thread first mallocs one block
 *         per thread, back to back (so they share lines), and gives each
 *         thread its own; each thread frees that block before its loop. An
 *         allocator that recycles a freed block into the freeing thread's
 *         cache hands it straight back to the thread, still sharing its line
 *         with the other threads' blocks.
 *
 * ops_per_s counts iterations (malloc, SIZE*WRITES byte writes, free) over all
 * threads per wall second. shared_lines= says how many of the threads' first
 * blocks share a cache line with another thread's first block: the cause,
 * where the speed is the symptom.
 *
 * Output, one line:
 *   bench_cache mode= threads= iters= size= writes= shared_lines= ops_per_s=
 *     cpu_s= wall_s= peak_rss_kb= allocator_version= allocator=
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define LINE 64

struct worker {
    pthread_t tid;
    char *given;          /* scratch: the block handed over by main */
    uintptr_t first;      /* address of the first block this thread allocated */
};

static struct {
    int scratch;
    uint64_t iters, size, writes;
    pthread_barrier_t start;
} g;

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&g.start);
    if (w->given != NULL)
        free(w->given);
    for (uint64_t i = 0; i < g.iters; i++) {
        /* volatile: each write must reach the cache line, as a real
         * program's stores to its own object would. */
        volatile char *p = malloc(g.size);
        if (p == NULL) {
            fprintf(stderr, "bench_cache: malloc(%llu) failed\n", (unsigned long long)g.size);
            exit(1);
        }
        if (i == 0)
            w->first = (uintptr_t)p;
        for (uint64_t r = 0; r < g.writes; r++)
            for (uint64_t b = 0; b < g.size; b++)
                p[b]++;
        free((void *)p);
    }
    return NULL;
}

/* One timed run of the current mode; prints its line. */
static int run(uint64_t threads)
{
    struct worker *ws = calloc(threads, sizeof *ws);
    if (ws == NULL) {
        perror("bench_cache");
        return 1;
    }
    pthread_barrier_init(&g.start, NULL, (unsigned)threads + 1);
    if (g.scratch)
        for (uint64_t i = 0; i < threads; i++)
            if ((ws[i].given = malloc(g.size)) == NULL) {
                perror("bench_cache");
                return 1;
            }

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < threads; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0) {
            fprintf(stderr, "bench_cache: pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&g.start);
    for (uint64_t i = 0; i < threads; i++)
        pthread_join(ws[i].tid, NULL);
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;
    pthread_barrier_destroy(&g.start);

    uint64_t shared = 0;
    for (uint64_t i = 0; i < threads; i++) {
        uintptr_t a0 = ws[i].first / LINE, a1 = (ws[i].first + g.size - 1) / LINE;
        for (uint64_t j = 0; j < threads; j++) {
            uintptr_t b0 = ws[j].first / LINE, b1 = (ws[j].first + g.size - 1) / LINE;
            if (j != i && a0 <= b1 && b0 <= a1) {
                shared++;
                break;
            }
        }
    }
    free(ws);

    printf("bench_cache mode=%s threads=%llu iters=%llu size=%llu writes=%llu shared_lines=%llu "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           g.scratch ? "scratch" : "thrash", (unsigned long long)threads,
           (unsigned long long)g.iters, (unsigned long long)g.size,
           (unsigned long long)g.writes, (unsigned long long)shared,
           wall > 0 ? (double)(threads * g.iters) / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cache thrash|scratch THREADS ITERS [SIZE [WRITES]]\n"
                    "       bench_cache --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t threads;

    g.size = 8, g.writes = 100;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        /* Both modes, one line each, so `make check` covers both. */
        g.iters = 20000;
        return run(2) || (g.scratch = 1, run(2));
    }
    if (argc < 4 || argc > 6)
        usage();
    if (strcmp(argv[1], "scratch") == 0)
        g.scratch = 1;
    else if (strcmp(argv[1], "thrash") != 0)
        usage();
    threads = bench_parse_count("THREADS", argv[2]);
    g.iters = bench_parse_count("ITERS", argv[3]);
    if (argc >= 5)
        g.size = bench_parse_count("SIZE", argv[4]);
    if (argc == 6)
        g.writes = bench_parse_count("WRITES", argv[5]);
    if (threads == 0 || threads > 1024 || g.size == 0 || g.size > (1u << 20)) {
        fprintf(stderr, "bench_cache: need 0 < THREADS <= 1024 and 0 < SIZE <= 1 MiB\n");
        return 2;
    }
    return run(threads);
}
