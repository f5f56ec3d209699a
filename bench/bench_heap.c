/* bench_heap: first-class heaps (hak_heap_*) against hakmem's default heap
 * and against mimalloc's heaps.
 *
 *   bench_heap pair SIZE ITERS [ROUNDS]
 *   bench_heap mixed ITERS MAXSIZE THREADS [ROUNDS]
 *   bench_heap destroy BLOCKS SIZE [ROUNDS]
 *   bench_heap churn CYCLES BLOCKS [ROUNDS]
 *   bench_heap many HEAPS [ROUNDS]
 *   bench_heap --smoke
 *
 * hakmem must be the process allocator (LD_PRELOAD=libhakmem.so): the hak_*
 * calls are looked up in it with dlsym, so the program links no allocator
 * and its allocator= proves which library ran, as every benchmark here
 * does. mimalloc's heap calls come from libmimalloc.so.2 loaded with
 * dlopen(RTLD_LOCAL) when it is installed (Debian's libmimalloc2.0), so it
 * never becomes the process's malloc; without it its contenders are left
 * out. Contenders run interleaved, ROUNDS times (default 5), and each prints
 * its median with min and max.
 *
 * pair     ITERS times alloc(SIZE) and free of that block: the best case.
 *          default: hak_malloc + hak_free; heap: hak_heap_alloc + hak_free;
 *          heap_dealloc: hak_heap_alloc + hak_heap_dealloc; mi_default:
 *          mi_malloc + mi_free; mi_heap: mi_heap_malloc + mi_free.
 * mixed    random_mixed's pattern (bench_random_mixed.c) on THREADS threads,
 *          each over its own 8192 slots, sizes uniform in [16, MAXSIZE], all
 *          threads allocating into one shared heap (heap) or the default
 *          heap (default); ops per wall second over all threads.
 * destroy  a heap filled with BLOCKS blocks of SIZE bytes, then either every
 *          block freed one by one in allocation order (one_by_one, hak_free;
 *          mi_one_by_one, mi_free) or the heap destroyed (destroy,
 *          hak_heap_destroy; mi_destroy, mi_heap_destroy; mi_destroy_collect,
 *          that and mi_collect(true), which asks mimalloc to return the
 *          memory it keeps). Each run in a child process of its own; only
 *          the freeing is timed; rss_left_kb: resident memory after, against
 *          before the heap was made.
 * churn    CYCLES times: a heap made, BLOCKS blocks of 16..1024 bytes
 *          allocated, the heap destroyed; microseconds per cycle and the
 *          resident memory left after, against before the first cycle.
 * many     HEAPS heaps at once, each with a block, then all destroyed.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

/* ---- the calls, looked up at run time ------------------------------------ */

typedef struct hak_heap hak_heap_t;
static void *(*hak_malloc_)(size_t);
static void (*hak_free_)(void *);
static hak_heap_t *(*heap_new)(void);
static void *(*heap_alloc)(hak_heap_t *, size_t, size_t);
static void (*heap_dealloc)(hak_heap_t *, void *, size_t, size_t);
static void (*heap_destroy)(hak_heap_t *);

typedef struct mi_heap_s mi_heap_t;
static mi_heap_t *(*mi_heap_new_)(void);
static void *(*mi_heap_malloc_)(mi_heap_t *, size_t);
static void (*mi_heap_destroy_)(mi_heap_t *);
static void *(*mi_malloc_)(size_t);
static void (*mi_free_)(void *);
static void (*mi_collect_)(int);
static int mi_version_;

static void *need(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    if (f == NULL) {
        printf("bench_heap skipped: %s not found; run with LD_PRELOAD=libhakmem.so\n", name);
        exit(77);
    }
    return f;
}

static void load(void)
{
    *(void **)&hak_malloc_ = need("hak_malloc");
    *(void **)&hak_free_ = need("hak_free");
    *(void **)&heap_new = need("hak_heap_new");
    *(void **)&heap_alloc = need("hak_heap_alloc");
    *(void **)&heap_dealloc = need("hak_heap_dealloc");
    *(void **)&heap_destroy = need("hak_heap_destroy");
    void *mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (mi == NULL) return;
    *(void **)&mi_heap_new_ = dlsym(mi, "mi_heap_new");
    *(void **)&mi_heap_malloc_ = dlsym(mi, "mi_heap_malloc");
    *(void **)&mi_heap_destroy_ = dlsym(mi, "mi_heap_destroy");
    *(void **)&mi_malloc_ = dlsym(mi, "mi_malloc");
    *(void **)&mi_free_ = dlsym(mi, "mi_free");
    *(void **)&mi_collect_ = dlsym(mi, "mi_collect");
    int (*ver)(void);
    *(void **)&ver = dlsym(mi, "mi_version");
    if (!mi_heap_new_ || !mi_heap_malloc_ || !mi_heap_destroy_ || !mi_malloc_ || !mi_free_ ||
        !mi_collect_ || !ver)
        mi_heap_new_ = NULL;
    else
        mi_version_ = ver();
}

static int have_mi(void) { return mi_heap_new_ != NULL; }

static void die(const char *what)
{
    fprintf(stderr, "bench_heap: %s failed\n", what);
    exit(1);
}

/* Resident memory now, in kB (/proc/self/statm). */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- results: median, min, max of ROUNDS figures ------------------------ */

#define MAX_ROUNDS 64
struct series {
    const char *name;
    int n;
    double v[MAX_ROUNDS];
    long extra[MAX_ROUNDS]; /* a second figure (resident kB), median printed */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_series(const char *bench, const char *args, const struct series *s,
                         const char *unit, const char *extra_name)
{
    if (s->n == 0) return;
    double sorted[MAX_ROUNDS];
    memcpy(sorted, s->v, (size_t)s->n * sizeof *sorted);
    qsort(sorted, (size_t)s->n, sizeof *sorted, cmp_double);
    printf("bench_heap %s %s contender=%s rounds=%d %s=%.6g min=%.6g max=%.6g", bench, args,
           s->name, s->n, unit, median_of((double *)s->v, s->n), sorted[0], sorted[s->n - 1]);
    if (extra_name != NULL) {
        long e[MAX_ROUNDS];
        memcpy(e, s->extra, (size_t)s->n * sizeof *e);
        qsort(e, (size_t)s->n, sizeof *e, cmp_long);
        printf(" %s=%ld", extra_name, e[s->n / 2]);
    }
    printf("\n");
}

/* ---- pair ------------------------------------------------------------------ */

enum pair_kind { P_DEFAULT, P_HEAP, P_HEAP_DEALLOC, P_MI_DEFAULT, P_MI_HEAP, P_COUNT };
static const char *const pair_names[P_COUNT] = {"default", "heap", "heap_dealloc", "mi_default",
                                                "mi_heap"};

static double run_pair(enum pair_kind k, size_t size, uint64_t iters)
{
    hak_heap_t *h = NULL;
    mi_heap_t *mh = NULL;
    if (k == P_HEAP || k == P_HEAP_DEALLOC) h = heap_new();
    if (k == P_MI_HEAP) mh = mi_heap_new_();
    if ((k == P_HEAP || k == P_HEAP_DEALLOC) && h == NULL) die("hak_heap_new");
    double t0 = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t n = pass == 0 ? iters / 10 + 1000 : iters; /* warm-up, then timed */
        if (pass == 1) t0 = bench_cpu_s();
        switch (k) {
        case P_DEFAULT:
            for (uint64_t i = 0; i < n; i++) {
                void *p = hak_malloc_(size);
                bench_escape(p);
                hak_free_(p);
            }
            break;
        case P_HEAP:
            for (uint64_t i = 0; i < n; i++) {
                void *p = heap_alloc(h, size, 16);
                bench_escape(p);
                hak_free_(p);
            }
            break;
        case P_HEAP_DEALLOC:
            for (uint64_t i = 0; i < n; i++) {
                void *p = heap_alloc(h, size, 16);
                bench_escape(p);
                heap_dealloc(h, p, size, 16);
            }
            break;
        case P_MI_DEFAULT:
            for (uint64_t i = 0; i < n; i++) {
                void *p = mi_malloc_(size);
                bench_escape(p);
                mi_free_(p);
            }
            break;
        case P_MI_HEAP:
            for (uint64_t i = 0; i < n; i++) {
                void *p = mi_heap_malloc_(mh, size);
                bench_escape(p);
                mi_free_(p);
            }
            break;
        default:
            break;
        }
    }
    double cpu = bench_cpu_s() - t0;
    if (h) heap_destroy(h);
    if (mh) mi_heap_destroy_(mh);
    return cpu > 0 ? (double)iters / cpu : 0;
}

static void bench_pair(size_t size, uint64_t iters, int rounds)
{
    struct series s[P_COUNT] = {{0}};
    int kinds = have_mi() ? P_COUNT : P_MI_DEFAULT;
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < kinds; j++) {
            int k = (j + r) % kinds; /* the first one rotates */
            s[k].name = pair_names[k];
            s[k].v[s[k].n++] = run_pair((enum pair_kind)k, size, iters);
        }
    }
    char args[64];
    snprintf(args, sizeof args, "size=%zu iters=%llu", size, (unsigned long long)iters);
    for (int k = 0; k < kinds; k++) print_series("pair", args, &s[k], "pairs_per_cpu_s", NULL);
    printf("bench_heap pair %s heap_vs_default=%.3f heap_dealloc_vs_default=%.3f\n", args,
           median_of(s[P_HEAP].v, s[P_HEAP].n) / median_of(s[P_DEFAULT].v, s[P_DEFAULT].n),
           median_of(s[P_HEAP_DEALLOC].v, s[P_HEAP_DEALLOC].n) /
               median_of(s[P_DEFAULT].v, s[P_DEFAULT].n));
}

/* ---- mixed -------------------------------------------------------------------- */

#define WS 8192
struct mixed_arg {
    hak_heap_t *heap; /* NULL: the default heap */
    uint64_t iters, seed;
    size_t maxsize;
    pthread_barrier_t *start, *stop;
    uint64_t checks;
};

/* One step of random_mixed: free a full slot, else fill it. */
static void mixed_steps(struct mixed_arg *a, void **slot, uint64_t *rng, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = bench_rng_next(rng);
        uint32_t k = bench_rng_below((uint32_t)x, WS);
        if (slot[k] != NULL) {
            hak_free_(slot[k]);
            slot[k] = NULL;
        } else {
            size_t sz = 16 + bench_rng_below((uint32_t)(x >> 32), (uint32_t)(a->maxsize - 15));
            unsigned char *p = a->heap ? heap_alloc(a->heap, sz, 16) : hak_malloc_(sz);
            if (p == NULL) die("allocation");
            p[0] = (unsigned char)k;
            p[sz - 1] = (unsigned char)k;
            slot[k] = p;
        }
    }
}

static void *mixed_thread(void *arg)
{
    struct mixed_arg *a = arg;
    void **slot = calloc(WS, sizeof *slot);
    if (slot == NULL) die("calloc");
    uint64_t rng = a->seed;
    /* Warm-up (untimed): the working set's pages faulted in, the caches
     * filled, in whichever heap the run uses. */
    mixed_steps(a, slot, &rng, 4 * WS);
    pthread_barrier_wait(a->start);
    mixed_steps(a, slot, &rng, a->iters);
    pthread_barrier_wait(a->stop);
    for (uint32_t k = 0; k < WS; k++) {
        if (slot[k] != NULL) {
            a->checks += ((unsigned char *)slot[k])[0] == (unsigned char)k;
            hak_free_(slot[k]);
        }
    }
    free(slot);
    return NULL;
}

static double run_mixed(int heap, uint64_t iters, size_t maxsize, int threads)
{
    hak_heap_t *h = heap ? heap_new() : NULL;
    if (heap && h == NULL) die("hak_heap_new");
    pthread_t tid[64];
    struct mixed_arg a[64];
    pthread_barrier_t start, stop;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&stop, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        a[t] = (struct mixed_arg){h, iters, 0x1234567ull * (uint64_t)(t + 1), maxsize, &start, &stop, 0};
        if (pthread_create(&tid[t], NULL, mixed_thread, &a[t]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&start);
    double t0 = bench_wall_s();
    pthread_barrier_wait(&stop);
    double wall = bench_wall_s() - t0;
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&stop);
    if (h) heap_destroy(h);
    return wall > 0 ? (double)iters * threads / wall : 0;
}

static void bench_mixed(uint64_t iters, size_t maxsize, int threads, int rounds)
{
    struct series s[2] = {{"default", 0, {0}, {0}}, {"heap", 0, {0}, {0}}};
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < 2; j++) {
            int k = (j + r) % 2;
            s[k].v[s[k].n++] = run_mixed(k, iters, maxsize, threads);
        }
    char args[96];
    snprintf(args, sizeof args, "iters=%llu maxsize=%zu threads=%d", (unsigned long long)iters,
             maxsize, threads);
    for (int k = 0; k < 2; k++) print_series("mixed", args, &s[k], "ops_per_s", NULL);
    printf("bench_heap mixed %s heap_vs_default=%.3f\n", args,
           median_of(s[1].v, s[1].n) / median_of(s[0].v, s[0].n));
}

/* ---- destroy ------------------------------------------------------------------- */

enum destroy_kind { D_ONE_BY_ONE, D_DESTROY, D_MI_ONE_BY_ONE, D_MI_DESTROY, D_MI_DESTROY_COLLECT, D_COUNT };
static const char *const destroy_names[D_COUNT] = {"one_by_one", "destroy", "mi_one_by_one",
                                                   "mi_destroy", "mi_destroy_collect"};

/* Seconds to free BLOCKS blocks; *left: resident kB after, minus before.
 * Run in a child process of its own (run_destroy_forked), so that what one
 * contender keeps resident is not counted in the next one's before. */
static double run_destroy(enum destroy_kind k, void **blocks, size_t count, size_t size, long *left)
{
    long before = rss_kb();
    int mi = k >= D_MI_ONE_BY_ONE;
    hak_heap_t *h = mi ? NULL : heap_new();
    mi_heap_t *mh = mi ? mi_heap_new_() : NULL;
    if (h == NULL && mh == NULL) die("heap_new");
    for (size_t i = 0; i < count; i++) {
        char *p = mi ? mi_heap_malloc_(mh, size) : heap_alloc(h, size, 16);
        if (p == NULL) die("heap allocation");
        p[0] = 1; /* touched, as a program's blocks are */
        blocks[i] = p;
    }
    double t0 = bench_wall_s();
    switch (k) {
    case D_ONE_BY_ONE:
        for (size_t i = 0; i < count; i++) hak_free_(blocks[i]);
        heap_destroy(h);
        break;
    case D_DESTROY:
        heap_destroy(h);
        break;
    case D_MI_ONE_BY_ONE:
        for (size_t i = 0; i < count; i++) mi_free_(blocks[i]);
        mi_heap_destroy_(mh);
        break;
    case D_MI_DESTROY:
        mi_heap_destroy_(mh);
        break;
    case D_MI_DESTROY_COLLECT: /* and mimalloc asked to return what it keeps */
        mi_heap_destroy_(mh);
        mi_collect_(1);
        break;
    default:
        break;
    }
    double wall = bench_wall_s() - t0;
    *left = rss_kb() - before;
    return wall;
}

static double run_destroy_forked(enum destroy_kind k, void **blocks, size_t count, size_t size,
                                 long *left)
{
    int fd[2];
    if (pipe(fd) != 0) die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(fd[0]);
        double r[2];
        r[0] = run_destroy(k, blocks, count, size, left);
        r[1] = (double)*left;
        if (write(fd[1], r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    double r[2];
    ssize_t got = read(fd[0], r, sizeof r);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("destroy run");
    *left = (long)r[1];
    return r[0];
}

static void bench_destroy(size_t count, size_t size, int rounds)
{
    void **blocks = malloc(count * sizeof *blocks);
    if (blocks == NULL) die("malloc");
    memset(blocks, 0, count * sizeof *blocks); /* resident before the first round */
    struct series s[D_COUNT] = {{0}};
    int kinds = have_mi() ? D_COUNT : D_MI_ONE_BY_ONE;
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < kinds; j++) {
            int k = (j + r) % kinds;
            s[k].name = destroy_names[k];
            s[k].v[s[k].n] =
                run_destroy_forked((enum destroy_kind)k, blocks, count, size, &s[k].extra[s[k].n]);
            s[k].n++;
        }
    char args[64];
    snprintf(args, sizeof args, "blocks=%zu size=%zu", count, size);
    for (int k = 0; k < kinds; k++) print_series("destroy", args, &s[k], "seconds", "rss_left_kb");
    double d = median_of(s[D_DESTROY].v, s[D_DESTROY].n);
    printf("bench_heap destroy %s one_by_one_vs_destroy=%.2f", args,
           median_of(s[D_ONE_BY_ONE].v, s[D_ONE_BY_ONE].n) / d);
    if (have_mi())
        printf(" mi_destroy_vs_destroy=%.2f mi_destroy_collect_vs_destroy=%.2f",
               median_of(s[D_MI_DESTROY].v, s[D_MI_DESTROY].n) / d,
               median_of(s[D_MI_DESTROY_COLLECT].v, s[D_MI_DESTROY_COLLECT].n) / d);
    printf("\n");
    free(blocks);
}

/* ---- churn and many ------------------------------------------------------------ */

static void bench_churn(uint64_t cycles, size_t count, int rounds)
{
    struct series s = {"churn", 0, {0}, {0}};
    uint64_t rng = 42;
    long before = rss_kb();
    for (int r = 0; r < rounds; r++) {
        double t0 = bench_wall_s();
        for (uint64_t c = 0; c < cycles; c++) {
            hak_heap_t *h = heap_new();
            if (h == NULL) die("hak_heap_new");
            for (size_t i = 0; i < count; i++) {
                char *p = heap_alloc(h, bench_rng_range(&rng, 16, 1024), 16);
                if (p == NULL) die("hak_heap_alloc");
                p[0] = 1;
            }
            heap_destroy(h);
        }
        s.v[s.n] = (bench_wall_s() - t0) * 1e6 / (double)(cycles ? cycles : 1);
        s.extra[s.n++] = rss_kb() - before;
    }
    char args[64];
    snprintf(args, sizeof args, "cycles=%llu blocks=%zu", (unsigned long long)cycles, count);
    print_series("churn", args, &s, "us_per_cycle", "rss_left_kb");
}

static void bench_many(size_t heaps, int rounds)
{
    hak_heap_t **h = malloc(heaps * sizeof *h);
    if (h == NULL) die("malloc");
    struct series s = {"many", 0, {0}, {0}};
    long before = rss_kb();
    for (int r = 0; r < rounds; r++) {
        double t0 = bench_wall_s();
        for (size_t i = 0; i < heaps; i++) {
            h[i] = heap_new();
            if (h[i] == NULL) die("hak_heap_new");
            char *p = heap_alloc(h[i], 64, 16);
            if (p == NULL) die("hak_heap_alloc");
            p[0] = 1;
        }
        long peak = rss_kb() - before;
        for (size_t i = 0; i < heaps; i++) heap_destroy(h[i]);
        s.v[s.n] = (bench_wall_s() - t0) * 1e6 / (double)(heaps ? heaps : 1);
        s.extra[s.n++] = peak;
    }
    char args[64];
    snprintf(args, sizeof args, "heaps=%zu", heaps);
    print_series("many", args, &s, "us_per_heap", "rss_with_all_kb");
    printf("bench_heap many %s rss_left_kb=%ld\n", args, rss_kb() - before);
    free(h);
}

static int rounds_arg(int argc, char **argv, int at)
{
    if (argc <= at) return 5;
    uint64_t r = bench_parse_count("ROUNDS", argv[at]);
    if (r < 1 || r > MAX_ROUNDS) {
        fprintf(stderr, "bench_heap: ROUNDS must be 1..%d\n", MAX_ROUNDS);
        exit(2);
    }
    return (int)r;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_heap pair SIZE ITERS [ROUNDS]\n"
                    "       bench_heap mixed ITERS MAXSIZE THREADS [ROUNDS]\n"
                    "       bench_heap destroy BLOCKS SIZE [ROUNDS]\n"
                    "       bench_heap churn CYCLES BLOCKS [ROUNDS]\n"
                    "       bench_heap many HEAPS [ROUNDS]\n"
                    "       bench_heap --smoke\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    load();
    const char *mode = argv[1];
    if (strcmp(mode, "--smoke") == 0 && argc == 2) {
        bench_pair(64, 200000, 1);
        bench_mixed(100000, 1024, 2, 1);
        bench_destroy(20000, 64, 1);
        bench_churn(200, 16, 1);
        bench_many(300, 1);
    } else if (strcmp(mode, "pair") == 0 && argc >= 4 && argc <= 5) {
        bench_pair(bench_parse_count("SIZE", argv[2]), bench_parse_count("ITERS", argv[3]),
                   rounds_arg(argc, argv, 4));
    } else if (strcmp(mode, "mixed") == 0 && argc >= 5 && argc <= 6) {
        uint64_t threads = bench_parse_count("THREADS", argv[4]);
        size_t maxsize = bench_parse_count("MAXSIZE", argv[3]);
        if (threads < 1 || threads > 64 || maxsize < 16 || maxsize > ((uint64_t)1 << 31)) usage();
        bench_mixed(bench_parse_count("ITERS", argv[2]), maxsize, (int)threads,
                    rounds_arg(argc, argv, 5));
    } else if (strcmp(mode, "destroy") == 0 && argc >= 4 && argc <= 5) {
        uint64_t count = bench_parse_count("BLOCKS", argv[2]);
        if (count < 1) usage();
        bench_destroy(count, bench_parse_count("SIZE", argv[3]), rounds_arg(argc, argv, 4));
    } else if (strcmp(mode, "churn") == 0 && argc >= 4 && argc <= 5) {
        bench_churn(bench_parse_count("CYCLES", argv[2]), bench_parse_count("BLOCKS", argv[3]),
                    rounds_arg(argc, argv, 4));
    } else if (strcmp(mode, "many") == 0 && argc >= 3 && argc <= 4) {
        bench_many(bench_parse_count("HEAPS", argv[2]), rounds_arg(argc, argv, 3));
    } else {
        usage();
    }
    if (have_mi()) printf("bench_heap mimalloc=%d.%d.%d\n", mi_version_ / 100, mi_version_ / 10 % 10, mi_version_ % 10);
    bench_print_identity();
    return 0;
}
