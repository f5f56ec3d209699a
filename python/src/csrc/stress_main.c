/* stress_main.c: hakmem-stress, the stress kernels and the trace replayer as a
 * program, for allocator comparisons and for replaying saved traces.
 *
 *   hakmem-stress KERNEL [key=value ...]
 *       KERNEL: random_mixed larson prodcons realloc_chains fragmentation aligned
 *       keys: threads ops duration min_size max_size working_set seed
 *             max_align generations fill=full|sparse corrupt_every
 *   hakmem-stress replay FILE [repeat=N] [fill=full|sparse]
 *
 * It calls the process's malloc family, so LD_PRELOAD chooses the allocator.
 * It prints one line of key=value pairs that ends in allocator=PATH, the file
 * that defines the malloc this process calls (found with dladdr), so that a
 * comparison can refuse a figure measured with the wrong library. When that
 * library is hakmem, the route counts of its statistics follow (non-zero when
 * HAKMEM_STATS=1 or HAKMEM_FREE_ROUTE_TRACE=1).
 *
 * Exit status: 0 clean; 1 a block was wrong or an allocation failed;
 * 2 bad arguments or a bad trace file.
 */
#define _GNU_SOURCE
#include "hakpy_stress.h"
#include "hakmem.h"
#include "bench_allocator.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    uint32_t kernel;
} kernels[] = {
    {"random_mixed", HAKPY_RANDOM_MIXED}, {"larson", HAKPY_LARSON},
    {"prodcons", HAKPY_PRODCONS},         {"realloc_chains", HAKPY_REALLOC},
    {"fragmentation", HAKPY_FRAGMENT},    {"aligned", HAKPY_ALIGNED},
};

static void usage(void)
{
    fputs("usage: hakmem-stress KERNEL [key=value ...]\n"
          "       hakmem-stress replay FILE [repeat=N] [fill=full|sparse]\n"
          "kernels: random_mixed larson prodcons realloc_chains fragmentation aligned\n"
          "keys: threads ops duration min_size max_size working_set seed max_align\n"
          "      generations fill corrupt_every\n",
          stderr);
    exit(2);
}

static _Noreturn void die(const char *what, const char *detail)
{
    fprintf(stderr, "hakmem-stress: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static uint64_t parse_u64(const char *key, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-') die("not a count", key);
    return x;
}

static uint32_t parse_u32(const char *key, const char *v)
{
    uint64_t x = parse_u64(key, v);
    if (x > UINT32_MAX) die("too large", key);
    return (uint32_t)x;
}

static uint32_t parse_fill(const char *v)
{
    if (strcmp(v, "full") == 0) return 1;
    if (strcmp(v, "sparse") == 0) return 0;
    die("fill must be full or sparse", v);
}

/* ---- trace files -------------------------------------------------------- */

static const struct hakpy_trace_op *trace_map(const char *path, uint64_t *count, uint32_t *slots,
                                              size_t *maplen, void **base)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) die("trace files are little-endian; this host is not", NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die(path, strerror(errno));
    if ((uint64_t)st.st_size < HAKPY_TRACE_HEADER) die(path, "too short for a trace");
    *maplen = (size_t)st.st_size;
    *base = mmap(NULL, *maplen, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (*base == MAP_FAILED) die(path, strerror(errno));
    const uint8_t *h = *base;
    uint32_t version;
    memcpy(&version, h + 8, 4);
    memcpy(slots, h + 12, 4);
    memcpy(count, h + 16, 8);
    if (memcmp(h, HAKPY_TRACE_MAGIC, 8) != 0) die(path, "not a hakmem trace (no HAKTRACE mark)");
    if (version != HAKPY_TRACE_VERSION) die(path, "unknown trace version");
    if (*count > (*maplen - HAKPY_TRACE_HEADER) / sizeof(struct hakpy_trace_op) ||
        *maplen != HAKPY_TRACE_HEADER + *count * sizeof(struct hakpy_trace_op))
        die(path, "length does not match the op count in its header");
    return (const struct hakpy_trace_op *)(h + HAKPY_TRACE_HEADER);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct hakpy_allocator process = {malloc, free, calloc, realloc, aligned_alloc};
    struct hakpy_stress_config c = {
        .threads = 1, .ops = 1000000, .min_size = 16, .max_size = 1024, .working_set = 1024,
        .seed = 42, .max_align = 4096, .generations = 4, .fill = 1,
    };
    struct hakpy_stress_result r;
    const char *kernel = argc >= 2 ? argv[1] : NULL;
    const char *trace = NULL;
    uint32_t repeat = 1;
    int first_key = 2;

    if (kernel == NULL || strcmp(kernel, "-h") == 0 || strcmp(kernel, "--help") == 0) usage();
    if (strcmp(kernel, "replay") == 0) {
        if (argc < 3) usage();
        trace = argv[2];
        first_key = 3;
    } else {
        for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
            if (strcmp(kernel, kernels[i].name) == 0) c.kernel = kernels[i].kernel;
        if (c.kernel == 0) die("unknown kernel", kernel);
        if (c.kernel == HAKPY_PRODCONS) c.threads = 2;
    }
    for (int i = first_key; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) die("arguments are key=value", argv[i]);
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (strcmp(k, "fill") == 0) c.fill = parse_fill(v);
        else if (trace != NULL && strcmp(k, "repeat") == 0) repeat = parse_u32(k, v);
        else if (trace != NULL) die("unknown key for replay", k);
        else if (strcmp(k, "threads") == 0) c.threads = parse_u32(k, v);
        else if (strcmp(k, "ops") == 0) c.ops = parse_u64(k, v);
        else if (strcmp(k, "duration") == 0) {
            char *end;
            c.duration = strtod(v, &end);
            if (end == v || *end != '\0') die("not a number of seconds", v);
            c.ops = 0;
        }
        else if (strcmp(k, "min_size") == 0) c.min_size = parse_u64(k, v);
        else if (strcmp(k, "max_size") == 0) c.max_size = parse_u64(k, v);
        else if (strcmp(k, "working_set") == 0) c.working_set = parse_u64(k, v);
        else if (strcmp(k, "seed") == 0) c.seed = parse_u64(k, v);
        else if (strcmp(k, "max_align") == 0) c.max_align = parse_u64(k, v);
        else if (strcmp(k, "generations") == 0) c.generations = parse_u32(k, v);
        else if (strcmp(k, "corrupt_every") == 0) c.corrupt_every = parse_u32(k, v);
        else die("unknown key", k);
    }

    /* hakmem's statistics, when hakmem is the allocator: routes are deltas. */
    int (*stats_get)(struct hak_stats *, size_t) =
        (int (*)(struct hak_stats *, size_t))bench_sym_in_allocator("hak_stats_get");
    struct hak_stats s0, s1;
    if (stats_get != NULL) stats_get(&s0, sizeof s0);

    int rc;
    if (trace != NULL) {
        uint64_t count;
        uint32_t slots;
        size_t maplen;
        void *base;
        const struct hakpy_trace_op *ops = trace_map(trace, &count, &slots, &maplen, &base);
        rc = hakpy_replay(&process, ops, count, slots, repeat, c.fill, &r);
        munmap(base, maplen);
        kernel = "replay";
    } else {
        rc = hakpy_stress_run(&process, &c, &r);
    }
    if (rc != 0) die(trace != NULL ? "bad trace" : "bad configuration", r.first_error);

    printf("hakmem-stress kernel=%s threads=%u ops=%llu allocs=%llu frees=%llu "
           "bytes_allocated=%llu errors=%llu alloc_failures=%llu seconds=%.6f "
           "cpu_seconds=%.6f ops_per_s=%.1f peak_rss_kb=%lld",
           kernel, trace != NULL ? 1u : c.threads, (unsigned long long)r.ops,
           (unsigned long long)r.allocs, (unsigned long long)r.frees,
           (unsigned long long)r.bytes_allocated, (unsigned long long)r.errors,
           (unsigned long long)r.alloc_failures, r.seconds, r.cpu_seconds,
           r.seconds > 0 ? (double)r.ops / r.seconds : 0.0, (long long)r.peak_rss_kb);
    if (stats_get != NULL && stats_get(&s1, sizeof s1) == 0) {
        printf(" stats_enabled=%u route_tiny_fast=%llu route_mid_fast=%llu route_slab_lookup=%llu "
               "route_remote=%llu route_large=%llu route_null=%llu",
               s1.stats_enabled, (unsigned long long)(s1.route_tiny_fast - s0.route_tiny_fast),
               (unsigned long long)(s1.route_mid_fast - s0.route_mid_fast),
               (unsigned long long)(s1.route_slab_lookup - s0.route_slab_lookup),
               (unsigned long long)(s1.route_remote - s0.route_remote),
               (unsigned long long)(s1.route_large - s0.route_large),
               (unsigned long long)(s1.route_null - s0.route_null));
    }
    /* The path last: it is the only value that may hold a space. */
    printf(" allocator_version=%s allocator=%s\n", bench_allocator_version(), bench_allocator_path());
    fflush(stdout);
    if (r.first_error[0] != '\0') fprintf(stderr, "hakmem-stress: first error: %s\n", r.first_error);
    return r.errors != 0 || r.alloc_failures != 0 ? 1 : 0;
}
