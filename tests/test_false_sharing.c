/* test_false_sharing.c: threads' small blocks never share a cache line.
 *
 * Two threads writing their own blocks on one 64-byte line take the line
 * away from each other on every write: the program slows down several times
 * though it shares nothing (bench/bench_cache.c measures it). hakmem avoids
 * both ways it can happen:
 *
 *   scratch  (passive) the main thread mallocs one block per worker back to
 *            back, on shared lines, and keeps allocating next to them; each
 *            new worker frees its block, then mallocs. The freed block must
 *            not come back to the worker: it goes back to the main thread's
 *            span, and the worker gets blocks from a span of its own.
 *   thrash   (active) workers start together and malloc at once: two threads
 *            must not carve neighbouring blocks of one span.
 *
 * Each case checks every worker's first blocks against every other thread's
 * (the main thread's included) by address, for several small sizes whose
 * blocks do not fill whole lines.
 */
#include "testutil.h"

#include <hakmem.h>
#include <pthread.h>
#include <stdbool.h>

#define LINE 64
#define WORKERS 3 /* with the main thread, within the 4 span groups of a 1-CPU machine */
#define FIRST 8 /* blocks each worker checks */

struct worker {
    pthread_t tid;
    size_t size;
    char *given;
    uintptr_t first[FIRST];
    char *keep[FIRST];
};

static pthread_barrier_t start, done;

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&start);
    free(w->given);
    for (int i = 0; i < FIRST; i++) {
        w->keep[i] = malloc(w->size);
        memset(w->keep[i], i, w->size); /* as the program would: a write */
        w->first[i] = (uintptr_t)w->keep[i];
    }
    /* Everyone's blocks stay live until all have been looked at. */
    pthread_barrier_wait(&done);
    for (int i = 0; i < FIRST; i++) free(w->keep[i]);
    return NULL;
}

static bool same_line(uintptr_t a, size_t na, uintptr_t b, size_t nb)
{
    return a / LINE <= (b + nb - 1) / LINE && b / LINE <= (a + na - 1) / LINE;
}

/* Runs WORKERS workers on blocks of `size`; scratch: with blocks given by
 * the main thread. Returns how many worker blocks share a line with a block
 * of another thread. */
static int run(size_t size, bool scratch)
{
    struct worker w[WORKERS];
    char *mine[FIRST];
    memset(w, 0, sizeof w);
    pthread_barrier_init(&start, NULL, WORKERS + 1);
    pthread_barrier_init(&done, NULL, WORKERS + 1);
    for (int t = 0; t < WORKERS; t++) {
        w[t].size = size;
        if (scratch) w[t].given = malloc(size);
    }
    /* The main thread's own live blocks, right after the given ones. */
    for (int i = 0; i < FIRST; i++) mine[i] = malloc(size);
    for (int t = 0; t < WORKERS; t++) {
        int rc = pthread_create(&w[t].tid, NULL, worker_run, &w[t]);
        EXPECT(rc == 0, "pthread_create: %d", rc);
        if (rc != 0) exit(99);
    }
    pthread_barrier_wait(&start);
    pthread_barrier_wait(&done);

    int shared = 0;
    for (int t = 0; t < WORKERS; t++) {
        for (int i = 0; i < FIRST; i++) {
            uintptr_t a = w[t].first[i];
            bool hit = false;
            for (int u = 0; u < WORKERS && !hit; u++)
                for (int j = 0; j < FIRST && !hit && u != t; j++)
                    hit = same_line(a, size, w[u].first[j], size);
            for (int j = 0; j < FIRST && !hit; j++)
                hit = same_line(a, size, (uintptr_t)mine[j], size);
            if (hit) shared++;
        }
    }
    for (int t = 0; t < WORKERS; t++) pthread_join(w[t].tid, NULL);
    for (int i = 0; i < FIRST; i++) free(mine[i]);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    return shared;
}

static const size_t sizes[] = {8, 16, 24, 40, 48, 80, 100, 112, 200};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void scratch(void)
{
    for (size_t k = 0; k < NSIZES; k++) {
        int shared = run(sizes[k], true);
        EXPECT(shared == 0, "%zu-byte blocks: %d of %d worker blocks share a line with "
               "another thread's", sizes[k], shared, WORKERS * FIRST);
    }
}

static void thrash(void)
{
    for (size_t k = 0; k < NSIZES; k++) {
        int shared = run(sizes[k], false);
        EXPECT(shared == 0, "%zu-byte blocks: %d of %d worker blocks share a line with "
               "another thread's", sizes[k], shared, WORKERS * FIRST);
    }
}

int main(void)
{
    TU_RUN(scratch);
    TU_RUN(thrash);
    return tu_finish("test_false_sharing");
}
