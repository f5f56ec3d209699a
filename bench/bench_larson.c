/* bench_larson: server churn, objects freed by threads that did not allocate them.
 *
 *   bench_larson THREADS SECONDS [MINSIZE MAXSIZE [BLOCKS [LIFE]]]
 *   bench_larson --smoke
 *
 * The pattern of a server whose worker threads come and go (after Larson and
 * Krishnan's description of such servers): THREADS lanes run at once. Each
 * lane owns a table of BLOCKS live blocks (default 1000). A step picks a slot
 * at random, frees its block and mallocs a new one of a size uniform in
 * [MINSIZE, MAXSIZE] (default 10 to 1000 bytes), writing its first and last
 * bytes. After LIFE steps (default 10000) the lane's thread ends, and before it
 * does it hands its table on: it swaps the table with a shared stash (so the
 * table it takes was filled by some other lane's threads) and starts the
 * lane's next thread, which goes on with that table. So nearly every free is
 * of a block that another, often already exited, thread allocated, and
 * threads are born and die all through the run, as in a server's pool.
 *
 * The run lasts SECONDS (wall clock); each thread then stops at its next step.
 * ops_per_s counts allocator calls (mallocs and frees) per wall second over
 * all threads; cpu_s is the process's user+sys over the same span.
 *
 * Output, one line:
 *   bench_larson threads= seconds= minsize= maxsize= blocks= life= generations=
 *     calls= ops_per_s= cpu_s= wall_s= peak_rss_kb= allocator_version= allocator=
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

struct lane {
    void **table;          /* BLOCKS slots, swapped through the stash */
    uint64_t rng;
    uint64_t calls;        /* written only by the lane's current thread */
    uint64_t generations;  /* threads this lane has run */
    uint64_t check;
};

static struct {
    uint64_t minsize, maxsize, blocks, life;
    _Atomic int stop;
    _Atomic(void **) stash;  /* one spare table: lanes trade through it */
    _Atomic int done;        /* lanes whose last thread has finished */
    _Atomic int failed;
} g;

static volatile uint64_t sink;

static void *lane_run(void *arg);

/* Starts the lane's next thread, detached: no one needs to join it, and a
 * joinable thread would have to be waited for by its successor. */
static int lane_spawn(struct lane *lane)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, lane_run, lane);
    pthread_attr_destroy(&attr);
    return rc;
}

static void *lane_run(void *arg)
{
    struct lane *lane = arg;
    void **table = lane->table;
    const uint32_t nslot = (uint32_t)g.blocks;
    const uint32_t nsize = (uint32_t)(g.maxsize - g.minsize + 1);
    uint64_t rng = lane->rng, calls = 0, check = lane->check;

    for (uint64_t step = 0; step < g.life; step++) {
        if (atomic_load_explicit(&g.stop, memory_order_relaxed))
            break;
        uint64_t r = bench_rng_next(&rng);
        uint32_t k = bench_rng_below((uint32_t)(r >> 32), nslot);
        char *p = table[k];
        if (p != NULL) {
            check += (unsigned char)p[0]; /* the read a server makes of a request */
            free(p);
            calls++;
        }
        size_t size = g.minsize + bench_rng_below((uint32_t)r, nsize);
        p = malloc(size);
        if (p == NULL) {
            fprintf(stderr, "bench_larson: malloc(%zu) failed\n", size);
            atomic_store(&g.failed, 1);
            atomic_store(&g.stop, 1);
            break;
        }
        p[0] = (char)step;
        p[size - 1] = (char)size;
        table[k] = p;
        calls++;
    }
    lane->rng = rng;
    lane->calls += calls;
    lane->check = check;
    lane->generations++;
    /* Hand the table on: the next thread of this lane frees another lane's
     * blocks, and this lane's blocks go to whoever takes the stash next. */
    lane->table = atomic_exchange(&g.stash, table);

    if (atomic_load(&g.stop) || lane_spawn(lane) != 0) {
        if (!atomic_load(&g.stop)) {
            fprintf(stderr, "bench_larson: pthread_create failed\n");
            atomic_store(&g.failed, 1);
            atomic_store(&g.stop, 1);
        }
        atomic_fetch_add(&g.done, 1);
    }
    return NULL;
}

/* A table of `n` live blocks, filled the way the lanes refill them. */
static void **table_new(uint64_t n, uint64_t *rng)
{
    void **t = calloc(n, sizeof *t);
    if (t == NULL)
        return NULL;
    for (uint64_t k = 0; k < n; k++) {
        size_t size = bench_rng_range(rng, g.minsize, g.maxsize);
        char *p = malloc(size);
        if (p == NULL)
            return NULL;
        p[0] = 0;
        p[size - 1] = 0;
        t[k] = p;
    }
    return t;
}

static void table_free(void **t, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++)
        free(t[k]);
    free(t);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_larson THREADS SECONDS [MINSIZE MAXSIZE [BLOCKS [LIFE]]]\n"
                    "       bench_larson --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t threads;
    double seconds;

    g.minsize = 10, g.maxsize = 1000, g.blocks = 1000, g.life = 10000;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        threads = 4, seconds = 0.2, g.blocks = 200, g.life = 2000;
    } else if (argc == 3 || (argc >= 5 && argc <= 7)) {
        threads = bench_parse_count("THREADS", argv[1]);
        seconds = bench_parse_seconds("SECONDS", argv[2]);
        if (argc >= 5) {
            g.minsize = bench_parse_count("MINSIZE", argv[3]);
            g.maxsize = bench_parse_count("MAXSIZE", argv[4]);
        }
        if (argc >= 6)
            g.blocks = bench_parse_count("BLOCKS", argv[5]);
        if (argc == 7)
            g.life = bench_parse_count("LIFE", argv[6]);
    } else {
        usage();
    }
    if (threads == 0 || threads > 4096 || g.minsize == 0 || g.minsize > g.maxsize ||
        g.maxsize - g.minsize >= UINT32_MAX || g.blocks == 0 || g.blocks > UINT32_MAX ||
        g.life == 0) {
        fprintf(stderr, "bench_larson: need 0 < THREADS <= 4096, 0 < MINSIZE <= MAXSIZE,"
                        " 0 < BLOCKS < 2^32, LIFE > 0\n");
        return 2;
    }

    /* Setup, untimed: every lane and the stash start with a full table. */
    struct lane *lanes = calloc(threads, sizeof *lanes);
    uint64_t rng = 12345;
    void **spare = lanes ? table_new(g.blocks, &rng) : NULL;
    if (spare == NULL) {
        perror("bench_larson: setup");
        return 1;
    }
    atomic_init(&g.stash, spare);
    for (uint64_t i = 0; i < threads; i++) {
        lanes[i].rng = 0x5eed0000 + i;
        lanes[i].table = table_new(g.blocks, &rng);
        if (lanes[i].table == NULL) {
            perror("bench_larson: setup");
            return 1;
        }
    }

    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    for (uint64_t i = 0; i < threads; i++) {
        if (lane_spawn(&lanes[i]) != 0) {
            fprintf(stderr, "bench_larson: pthread_create failed\n");
            return 1;
        }
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    atomic_store(&g.stop, 1);
    while (atomic_load(&g.done) < (int)threads) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;
    if (atomic_load(&g.failed))
        return 1;

    uint64_t calls = 0, generations = 0, check = 0;
    for (uint64_t i = 0; i < threads; i++) {
        calls += lanes[i].calls;
        generations += lanes[i].generations;
        check += lanes[i].check;
        table_free(lanes[i].table, g.blocks);
    }
    table_free(atomic_load(&g.stash), g.blocks);
    free(lanes);
    sink = check;

    printf("bench_larson threads=%llu seconds=%g minsize=%llu maxsize=%llu blocks=%llu "
           "life=%llu generations=%llu calls=%llu ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f ",
           (unsigned long long)threads, seconds, (unsigned long long)g.minsize,
           (unsigned long long)g.maxsize, (unsigned long long)g.blocks,
           (unsigned long long)g.life, (unsigned long long)generations,
           (unsigned long long)calls, wall > 0 ? (double)calls / wall : 0.0, cpu, wall);
    bench_print_identity();
    return 0;
}
