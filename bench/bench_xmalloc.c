/* bench_xmalloc: producers allocate, consumers free, in batches through a queue.
 *
 *   bench_xmalloc THREADS ITEMS [MINSIZE MAXSIZE [BATCH [QUEUE]]]
 *   bench_xmalloc --smoke
 *
 * The pattern of xmalloc-test (Lever and Boreham's multi-threaded malloc
 * test), written for this suite with a fixed amount of work and bounded
 * memory: THREADS / 2 producer threads malloc blocks (sizes uniform in
 * [MINSIZE, MAXSIZE], default 64 to 64), write their first and last bytes,
 * and collect them in batches of BATCH pointers (default 1000); a full batch
 * goes on a shared FIFO queue (one mutex, two condition variables) that holds
 * at most QUEUE batches (default 100): a producer that finds it full waits.
 * THREADS / 2 consumer threads take batches off the queue, check each
 * block's first byte and free it. So every free is of another thread's block,
 * in bursts of a batch, as in a pipeline of worker threads passing messages,
 * and a span's blocks come back while its allocator is already carving the
 * next one. At most (QUEUE + THREADS) * BATCH blocks are live at once
 * (6.4 MB of 64-byte blocks with the defaults), so peak RSS stays bounded by
 * the program; an allocator that keeps more shows in peak_rss_kb=. The
 * batch arrays themselves are malloc'd by the producer and freed by the
 * consumer (one 8 KB block per batch), as xmalloc-test does.
 *
 * Producer i runs on the (2i)-th allowed CPU and consumer i on the (2i+1)-th,
 * modulo the CPUs allowed (on two CPUs: producers on one, consumers on the
 * other), so that frees overlap mallocs the same way in every run rather
 * than whenever the scheduler happens to put both sides on one core.
 *
 * ITEMS is the total over all producers (rounded down to whole batches per
 * producer). Output, one line (ops_per_s counts items: a malloc and another
 * thread's free of that block):
 *   bench_xmalloc threads= items= minsize= maxsize= batch= queue= ops_per_s=
 *     cpu_s= sys_s= minflt= wall_s= peak_rss_kb= allocator_version= allocator=
 * sys_s= and minflt= are the kernel's share of cpu_s and the minor page
 * faults of the timed part: an allocator that gives memory back and takes
 * it again shows there first.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_common.h"

#define MAX_THREADS 64

struct batch {
    struct batch *next;
    void *item[]; /* BATCH pointers */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct batch *head, *tail;
    uint64_t count, limit;
    unsigned producers_left; /* consumers stop when it is 0 and the queue is empty */
};

struct config {
    uint64_t per_producer; /* batches */
    uint64_t batch, minsize, maxsize;
    struct queue *q;
};

struct worker {
    const struct config *cfg;
    unsigned id;
    uint64_t check; /* consumers: sum of first bytes; producers: blocks made */
    uint64_t bad;   /* consumers: blocks whose bytes changed */
};

static volatile uint64_t sink;

static void queue_put(struct queue *q, struct batch *b)
{
    pthread_mutex_lock(&q->lock);
    while (q->count >= q->limit) pthread_cond_wait(&q->not_full, &q->lock);
    b->next = NULL;
    if (q->tail != NULL) q->tail->next = b;
    else q->head = b;
    q->tail = b;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

/* NULL when every producer is done and the queue is drained. */
static struct batch *queue_take(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->lock);
    struct batch *b = q->head;
    if (b != NULL) {
        q->head = b->next;
        if (q->head == NULL) q->tail = NULL;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return b;
}

static void producer_done(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->producers_left--;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static void *producer(void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->cfg;
    const uint32_t nsize = (uint32_t)(cfg->maxsize - cfg->minsize + 1);
    uint64_t rng = 0x5eed0000u + w->id;
    for (uint64_t k = 0; k < cfg->per_producer; k++) {
        struct batch *b = malloc(sizeof *b + cfg->batch * sizeof(void *));
        if (b == NULL) {
            fprintf(stderr, "bench_xmalloc: malloc of a batch failed\n");
            exit(1);
        }
        for (uint64_t i = 0; i < cfg->batch; i++) {
            size_t size = cfg->minsize + bench_rng_below((uint32_t)bench_rng_next(&rng), nsize);
            unsigned char *p = malloc(size);
            if (p == NULL) {
                fprintf(stderr, "bench_xmalloc: malloc(%zu) failed\n", size);
                exit(1);
            }
            p[0] = (unsigned char)i;
            p[size - 1] = (unsigned char)size;
            b->item[i] = p;
        }
        w->check += cfg->batch;
        queue_put(cfg->q, b);
    }
    producer_done(cfg->q);
    return NULL;
}

static void *consumer(void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->cfg;
    struct batch *b;
    while ((b = queue_take(cfg->q)) != NULL) {
        for (uint64_t i = 0; i < cfg->batch; i++) {
            unsigned char *p = b->item[i];
            if (p[0] != (unsigned char)i) w->bad++;
            w->check += p[0];
            free(p);
        }
        free(b);
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_xmalloc THREADS ITEMS [MINSIZE MAXSIZE [BATCH [QUEUE]]]\n"
                    "       bench_xmalloc --smoke\n"
                    "THREADS: producers + consumers (even, 2..%d)\n",
            MAX_THREADS);
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t threads, items, minsize = 64, maxsize = 64, batch = 1000, qlimit = 100;
    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        threads = 4;
        items = 200000;
        minsize = 16;
        maxsize = 128;
    } else if (argc == 3 || argc == 5 || argc == 6 || argc == 7) {
        threads = bench_parse_count("THREADS", argv[1]);
        items = bench_parse_count("ITEMS", argv[2]);
        if (argc >= 5) {
            minsize = bench_parse_count("MINSIZE", argv[3]);
            maxsize = bench_parse_count("MAXSIZE", argv[4]);
        }
        if (argc >= 6) batch = bench_parse_count("BATCH", argv[5]);
        if (argc >= 7) qlimit = bench_parse_count("QUEUE", argv[6]);
    } else {
        usage();
    }
    if (threads < 2 || threads > MAX_THREADS || threads % 2 != 0 || minsize == 0 ||
        minsize > maxsize || maxsize - minsize >= UINT32_MAX || batch == 0 || batch > 1000000 ||
        qlimit == 0)
        usage();
    unsigned pairs = (unsigned)(threads / 2);
    uint64_t per_producer = items / pairs / batch;
    if (per_producer == 0) per_producer = 1;

    struct queue q = {.head = NULL, .tail = NULL, .count = 0, .limit = qlimit,
                      .producers_left = pairs};
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    struct config cfg = {per_producer, batch, minsize, maxsize, &q};
    struct worker w[MAX_THREADS];
    memset(w, 0, sizeof w);

    /* The allowed CPUs, in order; threads are spread over them as above. */
    int cpus[CPU_SETSIZE], ncpu = 0;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed)) cpus[ncpu++] = c;

    pthread_t tid[MAX_THREADS];
    double cpu0 = bench_cpu_s(), sys0 = bench_sys_s();
    long flt0 = bench_minflt();
    double t0 = bench_wall_s();
    for (unsigned i = 0; i < threads; i++) {
        w[i].cfg = &cfg;
        w[i].id = i;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (ncpu >= 2) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[i % (unsigned)ncpu], &one);
            pthread_attr_setaffinity_np(&attr, sizeof one, &one);
        }
        /* Even: producer i/2; odd: consumer i/2. */
        if (pthread_create(&tid[i], &attr, i % 2 == 0 ? producer : consumer, &w[i]) != 0) {
            fprintf(stderr, "bench_xmalloc: pthread_create failed\n");
            return 1;
        }
        pthread_attr_destroy(&attr);
    }
    uint64_t made = 0, check = 0, bad = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        if (i % 2 == 0) made += w[i].check;
        else check += w[i].check, bad += w[i].bad;
    }
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0, sys = bench_sys_s() - sys0;
    long flt = bench_minflt() - flt0;
    sink = check;
    if (bad != 0) {
        fprintf(stderr, "bench_xmalloc: %llu blocks lost their contents\n", (unsigned long long)bad);
        return 1;
    }
    printf("bench_xmalloc threads=%llu items=%llu minsize=%llu maxsize=%llu batch=%llu queue=%llu "
           "ops_per_s=%.0f cpu_s=%.6f sys_s=%.6f minflt=%ld wall_s=%.6f ",
           (unsigned long long)threads, (unsigned long long)made, (unsigned long long)minsize,
           (unsigned long long)maxsize, (unsigned long long)batch, (unsigned long long)qlimit,
           wall > 0 ? (double)made / wall : 0.0, cpu, sys, flt, wall);
    bench_print_identity();
    return 0;
}
