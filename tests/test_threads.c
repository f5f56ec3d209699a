/* test_threads.c: the allocator under threads.
 *
 *   stress    T threads (default 4) allocate random sizes (1..4096 B, and
 *             some up to 300 KiB), fill each block with a pattern from its
 *             address and size, check it before freeing; about a third of
 *             the blocks are handed to another thread and freed there.
 *   prodcons  one thread mallocs 2M blocks of 64..512 B, another frees
 *             them: memory must stay bounded (freed blocks find their way
 *             back).
 *   fork      the main thread forks 20 times while 3 threads allocate and
 *             free; each child frees blocks the parent's threads made, runs
 *             its own workload with a thread of its own, and exits 0. A child
 *             that hangs 10 s (a lock held across fork) or fails, fails.
 *   churn     10,000 short-lived threads in waves of 8, each leaving half of
 *             its blocks for the main thread to free: the memory cached by
 *             exited threads must be reclaimed (RSS bounded).
 *   dtor      2,000 threads in waves of 8 whose own key destructor, run
 *             after hakmem's has retired the thread's cache, allocates,
 *             frees what an earlier thread's destructor left, and leaves a
 *             block for the next: a dying thread's calls must work, and its
 *             blocks must reach the others intact.
 *
 * Usage: test_threads [--size=PCT] [SECTION...]
 *            every section (or those named), default size (a few s); PCT
 *            scales the work (default 100; the sanitizer builds run 25)
 *        test_threads soak SECONDS [THREADS]
 *            the long run (`make soak`): THREADS threads (default 16) run
 *            stress's loop without a break, handing blocks to each other, for
 *            SECONDS; meanwhile the main thread runs cycles of prodcons, fork
 *            and churn at a quarter of their size, so that forks and short
 *            thread lives happen under load. Each cycle checks the resident
 *            memory: never more than 64 MiB above what it was after the first
 *            cycle (no slow growth), and within 32 MiB of the start once the
 *            load has stopped and hak_collect() has run. Any pattern
 *            mismatch, lost block or failed check fails the run.
 *
 * test_threads_api is this test built against libhakmem_api, the dlopen-safe
 * build, through the hak_* API (tests/real/hak_prefixed.h maps the standard
 * names): its thread caches are not in TLS but in a pool, reused once their
 * threads have exited, so churn also checks that the pool stays small.
 *
 * Built against the hak_* API with -fsanitize=thread by tests/real/test_sanitizers.sh: there
 * resident memory is ThreadSanitizer's, so it is not checked, and a forked
 * child starts no thread (ThreadSanitizer does not support that).
 * Exit status: 0 pass, 1 fail, 99 usage (automake).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hakmem.h>

#include "testutil.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
#ifndef TEST_API_LIB
#define TEST_API_LIB 0
#endif

static int g_threads = 4; /* stress threads */
static int g_pct = 100;   /* size of each section, in percent */
/* Resident memory is the allocator's to keep bounded, except under
 * ThreadSanitizer, whose shadow memory and thread records dominate it. */
static const int g_check_rss = !UNDER_TSAN;
/* Other threads allocate meanwhile (the soak's load): the process's
 * bytes in use are theirs to move too. */
static int g_load_running;

/* n scaled by g_pct, at least lo. */
static long scaled(long n, long lo)
{
    long v = n * g_pct / 100;
    return v < lo ? lo : v;
}

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return tu_mix64(r->s);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ======================================================================
 * stress: random sizes, pattern checks, cross-thread frees via inboxes
 * ==================================================================== */

#define STRESS_SLOTS 1024
#define INBOX_CAP 512
#define STRESS_BIG_MAX (300 * 1024)

struct item {
    void *p;
    size_t n;
};

struct inbox {
    pthread_mutex_t lock;
    int count;
    struct item items[INBOX_CAP];
};

/* Threads that hand blocks to each other: stress's, and soak's load. */
struct stress_group {
    int n;               /* threads */
    struct inbox *inbox; /* one per thread */
    atomic_int stop;     /* set: threads finish at their next check */
};

struct stress_arg {
    struct stress_group *g;
    int id;
    long ops;             /* at most this many; LONG_MAX: until stop */
    long done;            /* operations done, when the thread has ended */
    atomic_long progress; /* operations done so far, updated every 1024 */
    long cross_frees;     /* blocks this thread freed for another */
    long handed;          /* blocks this thread handed to another */
    int bad;              /* pattern mismatches seen */
};

static size_t stress_size(struct rng *r)
{
    uint64_t x = rng_next(r);
    if (x % 64 == 0) return 4097 + (size_t)((x >> 8) % (STRESS_BIG_MAX - 4096)); /* mid/large */
    return 1 + (size_t)((x >> 8) % 4096);
}

static void stress_check_free(struct stress_arg *a, void *p, size_t n, const char *how)
{
    if (!check_pattern(p, n)) {
        if (a->bad++ == 0)
            EXPECT(0, "thread %d: %s block %p of %zu bytes lost its pattern", a->id, how, p, n);
    }
    free(p);
}

static void stress_drain_inbox(struct stress_arg *a)
{
    struct item got[INBOX_CAP];
    struct inbox *in = &a->g->inbox[a->id];
    pthread_mutex_lock(&in->lock);
    int n = in->count;
    memcpy(got, in->items, (size_t)n * sizeof got[0]);
    in->count = 0;
    pthread_mutex_unlock(&in->lock);
    for (int i = 0; i < n; i++) stress_check_free(a, got[i].p, got[i].n, "handed-over");
    a->cross_frees += n;
}

/* 1 if the block went into thread to's inbox. */
static int stress_hand_over(struct stress_group *g, int to, void *p, size_t n)
{
    struct inbox *in = &g->inbox[to];
    int ok = 0;
    pthread_mutex_lock(&in->lock);
    if (in->count < INBOX_CAP) {
        in->items[in->count++] = (struct item){p, n};
        ok = 1;
    }
    pthread_mutex_unlock(&in->lock);
    return ok;
}

static void *stress_thread(void *arg)
{
    struct stress_arg *a = arg;
    struct rng r = {(uint64_t)a->id * 7919 + 1};
    struct item slot[STRESS_SLOTS];
    memset(slot, 0, sizeof slot);
    int nt = a->g->n;
    long op;
    for (op = 0; op < a->ops; op++) {
        if ((op & 1023) == 0) {
            atomic_store_explicit(&a->progress, op, memory_order_relaxed);
            if (atomic_load_explicit(&a->g->stop, memory_order_relaxed)) break;
        }
        if ((op & 15) == 0) stress_drain_inbox(a);
        uint64_t x = rng_next(&r);
        struct item *s = &slot[x % STRESS_SLOTS];
        if (s->p != NULL) {
            if (!check_pattern(s->p, s->n)) {
                if (a->bad++ == 0)
                    EXPECT(0, "thread %d: live block %p of %zu bytes lost its pattern", a->id, s->p,
                           s->n);
            }
            int to = nt > 1 ? (a->id + 1 + (int)((x >> 32) % (uint64_t)(nt - 1))) % nt : a->id;
            if (to != a->id && (x >> 16) % 3 == 0 && stress_hand_over(a->g, to, s->p, s->n))
                a->handed++;
            else
                stress_check_free(a, s->p, s->n, "own");
            s->p = NULL;
        } else {
            size_t n = stress_size(&r);
            void *p = malloc(n);
            if (p == NULL) {
                EXPECT(p != NULL, "thread %d: malloc(%zu) failed", a->id, n);
                break;
            }
            EXPECT_LOOP(a->bad, ((uintptr_t)tu_launder(p) & 15) == 0, "malloc(%zu) = %p unaligned", n,
                        p);
            fill_pattern(p, n);
            *s = (struct item){p, n};
        }
    }
    a->done = op;
    for (int i = 0; i < STRESS_SLOTS; i++)
        if (slot[i].p) stress_check_free(a, slot[i].p, slot[i].n, "own");
    stress_drain_inbox(a);
    return NULL;
}

/* A running group of stress threads. */
struct stress_run {
    struct stress_group g;
    struct stress_arg *args;
    pthread_t *tid;
};

/* Starts t threads of stress_thread, ops each (LONG_MAX: until stop is
 * set). NULL (after a failed check) if the test's own bookkeeping cannot be
 * allocated or a thread cannot start. */
static struct stress_run *stress_start(int t, long ops)
{
    struct stress_run *r = calloc(1, sizeof *r);
    if (r) {
        r->args = calloc((size_t)t, sizeof *r->args);
        r->tid = calloc((size_t)t, sizeof *r->tid);
        r->g.inbox = calloc((size_t)t, sizeof *r->g.inbox);
    }
    if (!r || !r->args || !r->tid || !r->g.inbox) {
        EXPECT(0, "calloc for the test's own bookkeeping failed");
        return NULL;
    }
    r->g.n = t;
    atomic_store(&r->g.stop, 0);
    for (int i = 0; i < t; i++) {
        pthread_mutex_init(&r->g.inbox[i].lock, NULL);
        r->args[i] = (struct stress_arg){.g = &r->g, .id = i, .ops = ops};
        atomic_init(&r->args[i].progress, 0);
    }
    for (int i = 0; i < t; i++) {
        int err = pthread_create(&r->tid[i], NULL, stress_thread, &r->args[i]);
        if (err != 0) {
            EXPECT(err == 0, "pthread_create: %s", strerror(err));
            atomic_store(&r->g.stop, 1);
            for (int k = 0; k < i; k++) pthread_join(r->tid[k], NULL);
            return NULL; /* the blocks in the inboxes stay: the test has failed */
        }
    }
    return r;
}

/* Joins the threads of run r (after setting stop, if stop), frees what is
 * left in their inboxes, checks the counts, frees r. Returns the operations
 * done. */
static long stress_finish(struct stress_run *r, const char *what, int stop)
{
    int t = r->g.n;
    if (stop) atomic_store(&r->g.stop, 1);
    for (int i = 0; i < t; i++) pthread_join(r->tid[i], NULL);
    /* Blocks that arrived after their receiver's last look: freed here. */
    long handed = 0, cross = 0, bad = 0, ops = 0;
    for (int i = 0; i < t; i++) {
        struct stress_arg main_arg = {.g = &r->g, .id = i};
        stress_drain_inbox(&main_arg);
        cross += r->args[i].cross_frees + main_arg.cross_frees;
        handed += r->args[i].handed;
        bad += r->args[i].bad + main_arg.bad;
        ops += r->args[i].done;
    }
    printf("     %s: %d threads, %ld ops: %ld blocks handed over, %ld freed by another thread\n", what, t,
           ops, handed, cross);
    EXPECT(bad == 0, "%s: %ld blocks lost their pattern", what, bad);
    EXPECT(handed == cross, "%s: %ld blocks handed over but %ld freed", what, handed, cross);
    if (t > 1 && ops >= 100000)
        EXPECT(cross > ops / 1000, "%s: only %ld cross-thread frees in %ld ops: the test did not do its job",
               what, cross, ops);
    for (int i = 0; i < t; i++) pthread_mutex_destroy(&r->g.inbox[i].lock);
    free(r->g.inbox);
    free(r->tid);
    free(r->args);
    free(r);
    return ops;
}

static void stress(void)
{
    long ops = scaled(200000, 1000);
    struct stress_run *r = stress_start(g_threads, ops);
    if (r == NULL) return;
    /* Each thread stops on its own after ops operations. */
    long done = stress_finish(r, "stress", 0);
    EXPECT_EQ(done, ops * g_threads);
}

/* ======================================================================
 * prodcons: one thread allocates, another frees; memory stays bounded
 * ==================================================================== */

#define PC_RING 4096
#define PC_CHECKED 64 /* bytes of each block filled and checked */

static void *pc_ring[PC_RING];
static _Atomic size_t pc_head, pc_tail;
static long pc_total;
static size_t pc_rss_base, pc_rss_max;

static void *pc_producer(void *arg)
{
    (void)arg;
    struct rng r = {42};
    size_t head = 0;
    for (long i = 0; i < pc_total; i++) {
        size_t n = 64 + (size_t)(rng_next(&r) % 449);
        void *p = malloc(n);
        if (!p) {
            EXPECT(p != NULL, "producer: malloc(%zu) failed after %ld blocks", n, i);
            abort();
        }
        fill_pattern(p, PC_CHECKED);
        while (head - atomic_load_explicit(&pc_tail, memory_order_acquire) == PC_RING) sched_yield();
        pc_ring[head % PC_RING] = p;
        atomic_store_explicit(&pc_head, ++head, memory_order_release);
        if ((i & 0xffff) == 0) {
            size_t rss = tu_rss_bytes();
            if (rss > pc_rss_max) pc_rss_max = rss;
        }
    }
    return NULL;
}

static void *pc_consumer(void *arg)
{
    long *bad = arg;
    size_t tail = 0;
    for (long i = 0; i < pc_total; i++) {
        while (atomic_load_explicit(&pc_head, memory_order_acquire) == tail) sched_yield();
        void *p = pc_ring[tail % PC_RING];
        atomic_store_explicit(&pc_tail, ++tail, memory_order_release);
        if (!check_pattern(p, PC_CHECKED) && (*bad)++ == 0)
            EXPECT(0, "consumer: block %p lost its pattern", p);
        free(p);
    }
    return NULL;
}

static void prodcons(void)
{
    pc_total = scaled(2000000, 10000);
    atomic_store(&pc_head, 0);
    atomic_store(&pc_tail, 0);
    pc_rss_base = pc_rss_max = tu_rss_bytes();
    struct hak_stats s0, s1;
    EXPECT_EQ(hak_stats_get(&s0, sizeof s0), 0);
    long bad = 0;
    pthread_t p, c;
    EXPECT_EQ(pthread_create(&c, NULL, pc_consumer, &bad), 0);
    EXPECT_EQ(pthread_create(&p, NULL, pc_producer, NULL), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    /* Both threads are gone, so no class lock is held: every block the
     * consumer freed is back on its span, none left in a class's inbox
     * (central.c), where it would still count as in use. */
    EXPECT_EQ(hak_stats_get(&s1, sizeof s1), 0);
    EXPECT(g_load_running || s1.bytes_in_use <= s0.bytes_in_use + 4096,
           "%llu bytes still in use after both threads ended (%llu before)",
           (unsigned long long)s1.bytes_in_use, (unsigned long long)s0.bytes_in_use);
    size_t end = tu_rss_bytes();
    if (end > pc_rss_max) pc_rss_max = end;
    double mib = 1.0 / (1 << 20);
    printf("     %ld blocks: RSS %.1f MiB at start, %.1f MiB at most, %.1f MiB at the end\n", pc_total,
           (double)pc_rss_base * mib, (double)pc_rss_max * mib, (double)end * mib);
    EXPECT(bad == 0, "%ld blocks lost their pattern", bad);
    if (!g_check_rss) return;
    EXPECT(pc_rss_max < pc_rss_base + TU_MIB(64),
           "RSS grew by %.1f MiB (limit 64 MiB) while one thread freed what another allocated",
           (double)(pc_rss_max - pc_rss_base) * mib);
    EXPECT(end < pc_rss_base + TU_MIB(64), "RSS at the end is %.1f MiB above the start",
           (double)(end - pc_rss_base) * mib);
}

/* ======================================================================
 * fork: children of a process whose threads are busy in the allocator
 * ==================================================================== */

#define FORK_SLOTS 256
#define FORK_CHILDREN 20
#define FORK_TIMEOUT_S 10

static _Atomic(void *) fork_slot[FORK_SLOTS];
static atomic_int fork_stop;

/* Blocks in slot i are always this size (16 B .. 64 KiB, some 300 KiB). */
static size_t fork_slot_size(int i) { return i % 17 == 0 ? 300 * 1024 : (size_t)16 << (i % 13); }

static void *fork_worker(void *arg)
{
    long *bad = arg;
    struct rng r = {(uint64_t)(uintptr_t)arg};
    void *local[32] = {0};
    while (!atomic_load_explicit(&fork_stop, memory_order_relaxed)) {
        uint64_t x = rng_next(&r);
        int i = (int)(x % FORK_SLOTS);
        size_t n = fork_slot_size(i);
        void *p = malloc(n);
        if (!p) continue;
        fill_pattern(p, n);
        void *old = atomic_exchange(&fork_slot[i], p);
        if (old) {
            if (!check_pattern(old, n) && (*bad)++ == 0)
                EXPECT(0, "fork worker: block %p lost its pattern", old);
            free(old);
        }
        /* plus thread-local churn of small blocks and realloc */
        int k = (int)((x >> 20) % 32);
        local[k] = realloc(local[k], 1 + (size_t)((x >> 30) % 2000));
    }
    for (int k = 0; k < 32; k++) free(local[k]);
    return NULL;
}

static void child_fail(const char *msg)
{
    ssize_t w = write(2, msg, strlen(msg));
    (void)w;
    _exit(1);
}

static void *fork_child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)(i * 37 % 3000);
        void *p = malloc(n);
        if (!p) return (void *)1;
        fill_pattern(p, n);
        if (!check_pattern(p, n)) return (void *)1;
        free(p);
    }
    return NULL;
}

static void fork_child(void)
{
    /* Free what the parent's threads left: their owners do not exist here. */
    for (int i = 0; i < FORK_SLOTS; i++) {
        void *p = atomic_exchange(&fork_slot[i], NULL);
        if (!p) continue;
        if (!check_pattern(p, fork_slot_size(i))) child_fail("child: inherited block lost its pattern\n");
        free(p);
    }
    static const size_t sizes[] = {16, 48, 100, 512, 1024, 2000, 8000, 20000, 300000, 2 << 20};
    enum { NS = sizeof sizes / sizeof sizes[0], KEEP = 64 };
    void *keep[KEEP] = {0};
    size_t keep_n[KEEP] = {0};
    for (int i = 0; i < 3000; i++) {
        int k = i % KEEP;
        if (keep[k]) {
            if (!check_pattern(keep[k], keep_n[k])) child_fail("child: block lost its pattern\n");
            free(keep[k]);
        }
        size_t n = sizes[(i * 7) % NS];
        if (n >= 300000 && i % 64) n = 3000; /* few big ones */
        keep[k] = malloc(n);
        if (!keep[k]) child_fail("child: malloc failed\n");
        keep_n[k] = n;
        fill_pattern(keep[k], n);
    }
    /* A thread of its own (not under ThreadSanitizer, which does not
     * support threads in the child of a process with threads). */
    void *res = UNDER_TSAN ? fork_child_thread(NULL) : (void *)1;
    if (!UNDER_TSAN) {
        pthread_t t;
        if (pthread_create(&t, NULL, fork_child_thread, NULL) != 0) child_fail("child: pthread_create\n");
        pthread_join(t, &res);
    }
    if (res != NULL) child_fail("child: its thread failed\n");
    for (int k = 0; k < KEEP; k++) {
        if (!check_pattern(keep[k], keep_n[k])) child_fail("child: block lost its pattern\n");
        free(keep[k]);
    }
    _exit(0);
}

static void fork_while_threads_allocate(void)
{
    enum { W = 3 };
    pthread_t w[W];
    long bad[W] = {0};
    atomic_store(&fork_stop, 0);
    for (int i = 0; i < W; i++) EXPECT_EQ(pthread_create(&w[i], NULL, fork_worker, &bad[i]), 0);
    sleep_us(20000); /* let them get going */
    struct rng r = {99};
    int children = (int)scaled(FORK_CHILDREN, 2), hung = 0, failed = 0;
    for (int c = 0; c < children; c++) {
        sleep_us((long)(rng_next(&r) % 5000));
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            EXPECT(pid >= 0, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) fork_child();
        int status = 0;
        double deadline = tu_now() + FORK_TIMEOUT_S;
        pid_t got;
        while ((got = waitpid(pid, &status, WNOHANG)) == 0 && tu_now() < deadline) sleep_us(1000);
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            hung++;
            EXPECT(0, "child %d (pid %d) still running after %d s: deadlocked after fork", c, (int)pid,
                   FORK_TIMEOUT_S);
            continue;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
            if (WIFSIGNALED(status))
                EXPECT(0, "child %d died of signal %d (%s)", c, WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
            else
                EXPECT(0, "child %d exited with status %d", c, WEXITSTATUS(status));
        }
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < W; i++) pthread_join(w[i], NULL);
    for (int i = 0; i < FORK_SLOTS; i++) {
        void *p = atomic_exchange(&fork_slot[i], NULL);
        if (p) {
            EXPECT(check_pattern(p, fork_slot_size(i)), "slot %d block lost its pattern", i);
            free(p);
        }
    }
    printf("     %d children: %d hung, %d failed\n", children, hung, failed);
    EXPECT(bad[0] + bad[1] + bad[2] == 0, "worker blocks lost their pattern");
}

/* ======================================================================
 * churn: many short-lived threads; what they cache must come back
 * ==================================================================== */

#define CHURN_BLOCKS 100
#define CHURN_WAVE 8

struct churn_arg {
    int id;
    int bad;
    int nleft;
    void *left[CHURN_BLOCKS]; /* blocks for the main thread to free */
    size_t left_n[CHURN_BLOCKS];
};

static size_t churn_size(struct rng *r)
{
    uint64_t x = rng_next(r);
    switch (x % 20) {
    case 0: return 64 * 1024 + (size_t)((x >> 8) % (236 * 1024)); /* mid, up to 300 KiB */
    case 1: case 2: case 3: case 4: return 1025 + (size_t)((x >> 8) % (63 * 1024));
    default: return 1 + (size_t)((x >> 8) % 1024);
    }
}

/* Small blocks are filled whole; big ones get a pattern in their first 256
 * bytes and a write to every page (so that they count in RSS). */
static void churn_fill(void *p, size_t n)
{
    if (n <= 2048) {
        fill_pattern(p, n);
        return;
    }
    for (size_t i = 4096; i < n; i += 4096) ((volatile char *)p)[i] = 1;
    fill_pattern(p, 256);
}

static int churn_check(const void *p, size_t n) { return check_pattern(p, n <= 2048 ? n : 256); }

static void *churn_thread(void *arg)
{
    struct churn_arg *a = arg;
    struct rng r = {(uint64_t)a->id * 31337 + 7};
    void *p[CHURN_BLOCKS];
    size_t n[CHURN_BLOCKS];
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        n[i] = churn_size(&r);
        p[i] = malloc(n[i]);
        if (!p[i]) {
            a->bad++;
            continue;
        }
        churn_fill(p[i], n[i]);
    }
    /* Every third thread frees everything; the others leave half behind. */
    int leave = a->id % 3 != 0;
    a->nleft = 0;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        if (!p[i]) continue;
        if (!churn_check(p[i], n[i])) a->bad++;
        if (leave && (i & 1)) {
            a->left[a->nleft] = p[i];
            a->left_n[a->nleft++] = n[i];
        } else {
            free(p[i]);
        }
    }
    return NULL;
}

#if TEST_API_LIB
static void *stats_only_thread(void *arg)
{
    hak_stats_t s;
    hak_stats_get(&s, sizeof s);
    return arg;
}
#endif

static void churn_short_lived_threads(void)
{
    int total = (int)scaled(10000, CHURN_WAVE);
    static struct churn_arg args[CHURN_WAVE];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    size_t base = tu_rss_bytes(), max = base;
    hak_stats_t s0;
    hak_stats_get(&s0, sizeof s0);
    long bad = 0, create_failed = 0;
    int done = 0;
    for (; done < total; done += CHURN_WAVE) {
        pthread_t t[CHURN_WAVE];
        int started[CHURN_WAVE] = {0};
        for (int i = 0; i < CHURN_WAVE; i++) {
            args[i].id = done + i;
            args[i].bad = 0;
            args[i].nleft = 0;
            started[i] = pthread_create(&t[i], &attr, churn_thread, &args[i]) == 0;
            create_failed += !started[i];
        }
        for (int i = 0; i < CHURN_WAVE; i++) {
            if (!started[i]) continue;
            pthread_join(t[i], NULL);
            bad += args[i].bad;
            /* The main thread frees what the (now exited) thread left. */
            for (int k = 0; k < args[i].nleft; k++) {
                if (!churn_check(args[i].left[k], args[i].left_n[k])) bad++;
                free(args[i].left[k]);
            }
        }
        if ((done / CHURN_WAVE) % 8 == 0) {
            size_t rss = tu_rss_bytes();
            if (rss > max) max = rss;
            if (g_check_rss && rss > base + TU_MIB(400)) { /* failed already; spare the machine */
                done += CHURN_WAVE;
                break;
            }
        }
    }
    pthread_attr_destroy(&attr);
    size_t end = tu_rss_bytes();
    if (end > max) max = end;
    double mib = 1.0 / (1 << 20);
    printf("     %d threads: RSS %.1f MiB at start, %.1f MiB at most, %.1f MiB at the end\n", done,
           (double)base * mib, (double)max * mib, (double)end * mib);
    EXPECT(create_failed == 0, "%ld pthread_create calls failed", create_failed);
    EXPECT(bad == 0, "%ld blocks NULL or lost their pattern", bad);
    if (g_check_rss)
        EXPECT(max < base + TU_MIB(100),
               "RSS grew by %.1f MiB (limit 100 MiB) over %d short-lived threads",
               (double)(max - base) * mib, done);
#if TEST_API_LIB
    /* The caches of exited threads are reused, and so are their stacks
     * (70 KiB each, tcache.c): the pools hold about as many as there were
     * threads at once (8 here, and those still exiting when the next wave
     * starts), counted as mapped. One of each per thread ever would be
     * 10,000 of them, over 700 MiB. */
    hak_stats_t s1;
    hak_stats_get(&s1, sizeof s1);
    printf("     bytes_mapped grew by %lld\n", (long long)(s1.bytes_mapped - s0.bytes_mapped));
    EXPECT(s1.bytes_mapped <= s0.bytes_mapped + 2 * 1048576,
           "bytes_mapped grew by %llu over %d short-lived threads: thread caches not reused",
           (unsigned long long)(s1.bytes_mapped - s0.bytes_mapped), done);
    /* Threads whose only call reads the statistics: each attaches a cache
     * (4 KiB) that no allocation ever sets up, and it must come back too. */
    for (int w = 0; w < 500; w++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, stats_only_thread, NULL);
        for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    }
    hak_stats_t s2;
    hak_stats_get(&s2, sizeof s2);
    printf("     4000 threads that only read the stats: bytes_mapped grew by %lld\n",
           (long long)(s2.bytes_mapped - s1.bytes_mapped));
    EXPECT(s2.bytes_mapped <= s1.bytes_mapped + 1048576,
           "bytes_mapped grew by %llu over 4000 threads that only called hak_stats_get",
           (unsigned long long)(s2.bytes_mapped - s1.bytes_mapped));
#endif
}

/* ======================================================================
 * soak: all of it at once, for a given time
 * ==================================================================== */

static void soak(double seconds, int load_threads)
{
    double t0 = tu_now(), end = t0 + seconds, mib = 1.0 / (1 << 20);
    size_t rss_start = tu_rss_bytes(), rss_first = 0, rss_max = 0;
    struct stress_run *load = stress_start(load_threads, LONG_MAX);
    if (load == NULL) return;
    /* The load's memory grows until its threads' slots are about half full
     * (a few thousand operations each); the cycles start after that. */
    for (int i = 0; i < load_threads; i++)
        while (atomic_load_explicit(&load->args[i].progress, memory_order_relaxed) < 8 * STRESS_SLOTS &&
               !atomic_load(&load->g.stop))
            sleep_us(1000);
    printf("soak: %d load threads, %.0f s; RSS %.1f MiB at the start, %.1f MiB with the load running\n",
           load_threads, seconds, (double)rss_start * mib, (double)tu_rss_bytes() * mib);
    g_pct = 25;
    g_load_running = 1;
    long failures_before = tu_failures();
    int cycle = 0;
    do {
        printf("soak cycle %d (%.0f s)\n", ++cycle, tu_now() - t0);
        tu_run("prodcons", prodcons);
        tu_run("fork", fork_while_threads_allocate);
        tu_run("churn", churn_short_lived_threads);
        size_t rss = tu_rss_bytes();
        if (cycle == 1) rss_first = rss;
        if (rss > rss_max) rss_max = rss;
        printf("     RSS %.1f MiB now, %.1f MiB after cycle 1, %.1f MiB at most\n", (double)rss * mib,
               (double)rss_first * mib, (double)rss_max * mib);
        if (g_check_rss && rss > rss_first + TU_MIB(64)) {
            EXPECT(0, "RSS %.1f MiB after cycle %d, %.1f MiB after cycle 1: memory grows over time",
                   (double)rss * mib, cycle, (double)rss_first * mib);
            break;
        }
    } while (tu_now() < end && tu_failures() == failures_before);
    stress_finish(load, "soak load", 1);
    /* Every block is free and every thread but this one gone: after
     * hak_collect() the memory must be back near where it started. */
    hak_collect();
    size_t rss_end = tu_rss_bytes();
    printf("soak: %d cycles in %.0f s; RSS %.1f MiB at the start, %.1f MiB at most between cycles, "
           "%.1f MiB at the end (after hak_collect)\n",
           cycle, tu_now() - t0, (double)rss_start * mib, (double)rss_max * mib, (double)rss_end * mib);
    if (g_check_rss)
        EXPECT(rss_end < rss_start + TU_MIB(32),
               "RSS %.1f MiB after the soak and hak_collect(), %.1f MiB at the start",
               (double)rss_end * mib, (double)rss_start * mib);
}

/* ====================================================================== */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_threads: timed out (a thread hung?)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

struct section {
    const char *name;
    void (*fn)(void);
};

/* ======================================================================
 * dtor: hakmem called from a thread's key destructors, after its own
 * ====================================================================== */

#define DTOR_BLOCKS 16
static pthread_key_t dtor_key;
static _Atomic long dtor_bad, dtor_runs;
/* The blocks the last destructor left, for the next to check and free. */
static void *dtor_left[DTOR_BLOCKS];
static size_t dtor_left_n[DTOR_BLOCKS];
static pthread_mutex_t dtor_lock = PTHREAD_MUTEX_INITIALIZER;

static void dtor_run(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    void *mine[DTOR_BLOCKS];
    size_t n[DTOR_BLOCKS];
    for (int i = 0; i < DTOR_BLOCKS; i++) {
        n[i] = 16 + (size_t)((id * 7 + (uintptr_t)i * 131) % 3000);
        mine[i] = malloc(n[i]);
        if (mine[i] == NULL) {
            atomic_fetch_add(&dtor_bad, 1);
            continue;
        }
        fill_pattern(mine[i], n[i]);
    }
    pthread_mutex_lock(&dtor_lock);
    for (int i = 0; i < DTOR_BLOCKS; i++) {
        if (dtor_left[i] != NULL) {
            if (!check_pattern(dtor_left[i], dtor_left_n[i])) atomic_fetch_add(&dtor_bad, 1);
            free(dtor_left[i]);
        }
        dtor_left[i] = mine[i];
        dtor_left_n[i] = n[i];
    }
    pthread_mutex_unlock(&dtor_lock);
    atomic_fetch_add(&dtor_runs, 1);
}

static void *dtor_thread(void *arg)
{
    /* Something of the thread's own in the cache first, so that hakmem's
     * destructor has a live cache to retire. */
    void *p = malloc(100);
    free(p);
    pthread_setspecific(dtor_key, arg);
    return NULL;
}

static void dtor_after_retire(void)
{
    /* Created after hakmem's key (made when the library started), so its
     * destructor runs after hakmem's in each round. */
    if (pthread_key_create(&dtor_key, dtor_run) != 0) {
        EXPECT(0, "pthread_key_create failed");
        return;
    }
    int total = ((int)scaled(2000, 8) + 7) / 8 * 8; /* whole waves */
    int started = 0;
    for (int done = 0; done < total; done += 8) {
        pthread_t t[8];
        int ok[8];
        for (int i = 0; i < 8; i++) {
            ok[i] = pthread_create(&t[i], NULL, dtor_thread, (void *)(uintptr_t)(done + i + 1)) == 0;
            started += ok[i];
        }
        for (int i = 0; i < 8; i++)
            if (ok[i]) pthread_join(t[i], NULL);
    }
    for (int i = 0; i < DTOR_BLOCKS; i++) {
        if (dtor_left[i] == NULL) continue;
        if (!check_pattern(dtor_left[i], dtor_left_n[i])) atomic_fetch_add(&dtor_bad, 1);
        free(dtor_left[i]);
        dtor_left[i] = NULL;
    }
    pthread_key_delete(dtor_key);
    printf("     %d threads, %ld destructors ran\n", started, (long)atomic_load(&dtor_runs));
    EXPECT_EQ(started, total);
    EXPECT_EQ(atomic_load(&dtor_runs), started);
    EXPECT_EQ(atomic_load(&dtor_bad), 0);
}

static const struct section sections[] = {
    {"stress", stress},
    {"prodcons", prodcons},
    {"fork", fork_while_threads_allocate},
    {"churn", churn_short_lived_threads},
    {"dtor", dtor_after_retire},
};
#define NSECTIONS (int)(sizeof sections / sizeof sections[0])

static int usage(void)
{
    fprintf(stderr, "usage: test_threads [--size=PCT] [stress|prodcons|fork|churn|dtor]...\n"
                    "       test_threads soak SECONDS [THREADS]\n");
    return 99;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_alarm);
    if (argc >= 2 && strcmp(argv[1], "soak") == 0) {
        if (argc < 3 || argc > 4) return usage();
        double seconds = atof(argv[2]);
        int load = argc == 4 ? atoi(argv[3]) : 16;
        if (seconds <= 0 || load < 2) return usage();
        alarm((unsigned)seconds + 600);
        soak(seconds, load);
        return tu_finish("test_threads soak");
    }
    int first = 1;
    if (argc >= 2 && strncmp(argv[1], "--size=", 7) == 0) {
        g_pct = atoi(argv[1] + 7);
        if (g_pct < 1 || g_pct > 10000) return usage();
        first = 2;
    }
    alarm(300);
    int ran = 0;
    for (int a = first; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < NSECTIONS; i++) {
            if (strcmp(argv[a], sections[i].name) == 0) {
                tu_run(sections[i].name, sections[i].fn);
                found = ran = 1;
            }
        }
        if (!found) return usage();
    }
    if (!ran)
        for (int i = 0; i < NSECTIONS; i++) tu_run(sections[i].name, sections[i].fn);
    return tu_finish("test_threads");
}
