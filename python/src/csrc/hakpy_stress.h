/* hakpy_stress.h: the stress kernels and trace replayer of hakmem.stress.
 *
 * stress.c is compiled once and linked twice: into the Python package's cffi
 * module (hakmem._native), where the allocator is the hakmem instance the
 * package is bound to, and into the hakmem-stress program, where it is the
 * process's malloc (whatever LD_PRELOAD put there). src/bindings/stress.h is
 * the cffi declaration of this header; keep the two in step (cffi checks the
 * struct layouts when it compiles the module).
 */
#ifndef HAKPY_STRESS_H
#define HAKPY_STRESS_H

#include <stddef.h>
#include <stdint.h>

/* The allocator under test. Every call a kernel makes goes through this, so
 * all contenders pay the same indirect call. */
struct hakpy_allocator {
    void *(*malloc)(size_t size);
    void (*free)(void *ptr);
    void *(*calloc)(size_t n, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void *(*aligned_alloc)(size_t align, size_t size);
};

enum hakpy_kernel {
    HAKPY_RANDOM_MIXED = 1, /* slots per thread; each op frees a full slot or fills an empty one */
    HAKPY_LARSON = 2,       /* one shared slot table, swapped by short-lived threads */
    HAKPY_PRODCONS = 3,     /* pairs: one thread allocates, the other frees */
    HAKPY_REALLOC = 4,      /* realloc growth chains, with some shrinks */
    HAKPY_FRAGMENT = 5,     /* fill, free every other block, allocate larger ones */
    HAKPY_ALIGNED = 6,      /* random_mixed with aligned_alloc at random alignments */
};

struct hakpy_stress_config {
    uint32_t kernel;        /* enum hakpy_kernel */
    uint32_t threads;       /* 1..1024; prodcons: an even number */
    uint64_t ops;           /* allocator calls over all threads; 0: run for duration */
    double duration;        /* seconds, when ops is 0 */
    uint64_t min_size;      /* sizes are uniform in [min_size, max_size] */
    uint64_t max_size;
    uint64_t working_set;   /* live blocks per thread (prodcons: queue depth) */
    uint64_t seed;
    uint64_t max_align;     /* aligned: alignments 16..max_align, powers of two */
    uint32_t generations;   /* larson: threads each worker goes through */
    uint32_t fill;          /* 1: write and check every byte; 0: sparse (one per 4 KiB) */
    uint32_t corrupt_every; /* testing the checker: damage every Nth block before its check */
    uint32_t reset_peak_rss; /* reset the process's VmHWM first (in-process runs) */
    uint32_t stop;          /* 0; hakpy_stress_stop() sets it from another thread */
};

#define HAKPY_ERROR_LEN 200

struct hakpy_stress_result {
    uint64_t ops;            /* allocator calls made */
    uint64_t allocs;
    uint64_t frees;
    uint64_t bytes_allocated;
    uint64_t errors;         /* blocks whose contents (or alignment) were wrong */
    uint64_t alloc_failures; /* NULL returns */
    double seconds;          /* wall time from the start gate to the last join */
    double cpu_seconds;      /* user + system time of the process meanwhile */
    int64_t peak_rss_kb;     /* VmHWM after the run; -1 if unreadable */
    char first_error[HAKPY_ERROR_LEN];
};

/* Runs one kernel. 0, or -1 for a bad configuration (the reason in
 * r->first_error). Verification errors are counted, never fatal. */
int hakpy_stress_run(const struct hakpy_allocator *a, const struct hakpy_stress_config *c,
                     struct hakpy_stress_result *r);

/* Asks a running hakpy_stress_run(c) to end early (Ctrl-C in Python): every
 * thread sees it within 64 of its ops. Safe from any thread. */
void hakpy_stress_stop(struct hakpy_stress_config *c);

/* ---- traces ------------------------------------------------------------
 * A trace is an array of ops over numbered slots. The file format (little-
 * endian, what hakmem.stress.Trace.save writes and hakmem-stress reads):
 *   "HAKTRACE"  u32 version (1)  u32 slots  u64 count  then count ops.
 */
enum hakpy_op_kind {
    HAKPY_OP_ALLOC = 1,   /* slot = malloc(size) */
    HAKPY_OP_FREE = 2,    /* free(slot) */
    HAKPY_OP_REALLOC = 3, /* slot = realloc(slot, size) */
    HAKPY_OP_ALIGNED = 4, /* slot = aligned_alloc(align, size) */
    HAKPY_OP_CALLOC = 5,  /* slot = calloc(1, size), checked to be zero */
};

struct hakpy_trace_op {
    uint32_t kind;
    uint32_t slot;
    uint64_t size;
    uint64_t align;
};

#define HAKPY_TRACE_MAGIC "HAKTRACE"
#define HAKPY_TRACE_VERSION 1
#define HAKPY_TRACE_HEADER 24

/* 0 if every op names a slot below nslots, allocates only empty slots and
 * frees or resizes only full ones; else -1 with the first problem in err. */
int hakpy_trace_check(const struct hakpy_trace_op *ops, uint64_t n, uint32_t nslots, char *err,
                      size_t errlen);

/* Checks, then replays the trace `repeat` times; blocks a pass leaves live
 * are checked and freed at its end. 0, or -1 for a bad trace. */
int hakpy_replay(const struct hakpy_allocator *a, const struct hakpy_trace_op *ops, uint64_t n,
                 uint32_t nslots, uint32_t repeat, uint32_t fill, struct hakpy_stress_result *r);

#endif
