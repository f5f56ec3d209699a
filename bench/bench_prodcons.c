/* bench_prodcons: one thread allocates, another frees.
 *
 *   bench_prodcons ITEMS [MINSIZE MAXSIZE [DEPTH]]
 *   bench_prodcons --smoke
 *
 * The producer mallocs ITEMS blocks (size uniform in [MINSIZE, MAXSIZE],
 * default [16, 1024]), writes their first and last bytes, and passes them
 * through a single-producer/single-consumer ring of DEPTH slots (default 1024)
 * to the consumer, which reads the first byte and frees the block. Every free
 * is therefore a cross-thread free: the case where freed blocks must find their
 * way back to the allocating thread, or memory grows without bound. At most
 * DEPTH blocks are live at once, so the peak RSS it reports (VmHWM) should stay
 * small; a large figure means remote frees are not being recycled.
 *
 * Output, one line (ops_per_s counts items, i.e. malloc+remote-free pairs):
 *   bench_prodcons items= minsize= maxsize= depth= cpus= ops_per_s= cpu_s=
 *     wall_s= peak_rss_kb= allocator_version= allocator=
 * cpus= names the two CPUs the producer and consumer are pinned to ("none"
 * when the process may use only one).
 */
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* Spins before yielding: on a 2-core machine the other side of the ring may
 * not be running at all, and spinning through its whole time slice would
 * measure the scheduler rather than the allocator. */
#define SPINS_BEFORE_YIELD 64

struct ring {
    /* head and tail live on separate cache lines so that the two threads do
     * not bounce one line on every item; the slots bounce anyway, once per
     * 8 items. */
    alignas(64) _Atomic uint64_t head; /* next slot to fill; producer writes */
    alignas(64) _Atomic uint64_t tail; /* next slot to drain; consumer writes */
    alignas(64) uint64_t mask;
    void **slot;
};

struct job {
    struct ring *ring;
    uint64_t items, minsize, maxsize, seed;
    uint64_t check; /* consumer's checksum, read after join */
};

static volatile uint64_t sink;

static void backoff(unsigned *spins)
{
    if (++*spins >= SPINS_BEFORE_YIELD) {
        *spins = 0;
        sched_yield();
    }
}

static void *producer(void *arg)
{
    struct job *job = arg;
    struct ring *ring = job->ring;
    const uint32_t nsize = (uint32_t)(job->maxsize - job->minsize + 1);
    uint64_t rng = job->seed;
    uint64_t head = 0;

    for (uint64_t i = 0; i < job->items; i++) {
        size_t size = job->minsize + bench_rng_below((uint32_t)bench_rng_next(&rng), nsize);
        char *p = malloc(size);
        if (p == NULL) {
            fprintf(stderr, "bench_prodcons: malloc(%zu) failed\n", size);
            exit(1);
        }
        p[0] = (char)i;
        p[size - 1] = (char)size;

        unsigned spins = 0;
        while (head - atomic_load_explicit(&ring->tail, memory_order_acquire) > ring->mask)
            backoff(&spins);
        ring->slot[head & ring->mask] = p;
        atomic_store_explicit(&ring->head, ++head, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct job *job = arg;
    struct ring *ring = job->ring;
    uint64_t tail = 0, check = 0;

    while (tail < job->items) {
        unsigned spins = 0;
        while (atomic_load_explicit(&ring->head, memory_order_acquire) == tail)
            backoff(&spins);
        char *p = ring->slot[tail & ring->mask];
        check += (unsigned char)p[0];
        free(p);
        atomic_store_explicit(&ring->tail, ++tail, memory_order_release);
    }
    job->check = check;
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t items, minsize = 16, maxsize = 1024, depth = 1024;

    if (argc == 2 && strcmp(argv[1], "--smoke") == 0) {
        items = 200000;
    } else if (argc == 2 || argc == 4 || argc == 5) {
        items = bench_parse_count("ITEMS", argv[1]);
        if (argc >= 4) {
            minsize = bench_parse_count("MINSIZE", argv[2]);
            maxsize = bench_parse_count("MAXSIZE", argv[3]);
        }
        if (argc == 5)
            depth = bench_parse_count("DEPTH", argv[4]);
    } else {
        fprintf(stderr, "usage: bench_prodcons ITEMS [MINSIZE MAXSIZE [DEPTH]]\n"
                        "       bench_prodcons --smoke\n");
        return 2;
    }
    if (minsize == 0 || minsize > maxsize || maxsize - minsize >= UINT32_MAX ||
        depth == 0 || (depth & (depth - 1)) != 0) {
        fprintf(stderr, "bench_prodcons: need 0 < MINSIZE <= MAXSIZE and DEPTH a power of two\n");
        return 2;
    }

    struct ring *ring = aligned_alloc(64, sizeof *ring);
    void **slots = calloc(depth, sizeof *slots);
    if (ring == NULL || slots == NULL) {
        perror("bench_prodcons");
        return 1;
    }
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->mask = depth - 1;
    ring->slot = slots;
    struct job job = {ring, items, minsize, maxsize, 42, 0};

    /* Left to the scheduler, the two threads sometimes share one core and
     * take turns filling and draining the whole ring: then no free is ever
     * concurrent with a malloc, and glibc, for one, runs 10x faster than when
     * they overlap. Pinning them to two different CPUs measures the case that
     * matters, the same way every run. */
    pthread_attr_t attr_prod, attr_cons;
    pthread_attr_init(&attr_prod);
    pthread_attr_init(&attr_cons);
    int cpu_prod = -1, cpu_cons = -1;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        for (int c = 0; c < CPU_SETSIZE && cpu_cons < 0; c++) {
            if (!CPU_ISSET(c, &allowed))
                continue;
            if (cpu_prod < 0)
                cpu_prod = c;
            else
                cpu_cons = c;
        }
    }
    if (cpu_cons >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu_prod, &one);
        pthread_attr_setaffinity_np(&attr_prod, sizeof one, &one);
        CPU_ZERO(&one);
        CPU_SET(cpu_cons, &one);
        pthread_attr_setaffinity_np(&attr_cons, sizeof one, &one);
    } else {
        cpu_prod = -1; /* one CPU only: nothing to pin apart */
    }

    pthread_t prod, cons;
    double cpu0 = bench_cpu_s();
    double t0 = bench_wall_s();
    if (pthread_create(&cons, &attr_cons, consumer, &job) != 0 ||
        pthread_create(&prod, &attr_prod, producer, &job) != 0) {
        fprintf(stderr, "bench_prodcons: pthread_create failed\n");
        return 1;
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double wall = bench_wall_s() - t0;
    double cpu = bench_cpu_s() - cpu0;
    sink = job.check;

    free(slots);
    free(ring);
    pthread_attr_destroy(&attr_prod);
    pthread_attr_destroy(&attr_cons);
    char pin[32] = "none";
    if (cpu_prod >= 0)
        snprintf(pin, sizeof pin, "%d,%d", cpu_prod, cpu_cons);
    printf("bench_prodcons items=%llu minsize=%llu maxsize=%llu depth=%llu cpus=%s "
           "ops_per_s=%.0f cpu_s=%.6f wall_s=%.6f peak_rss_kb=%ld allocator_version=%s "
           "allocator=%s\n",
           (unsigned long long)items, (unsigned long long)minsize,
           (unsigned long long)maxsize, (unsigned long long)depth, pin,
           wall > 0 ? (double)items / wall : 0.0, cpu, wall,
           bench_peak_rss_kb(), bench_allocator_version(), bench_allocator_path());
    return 0;
}
