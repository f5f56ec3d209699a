/* cdef of src/csrc/hakpy_stress.h (the kernels) and of the glue in build.py.
 * cffi checks every struct here against the C header when it compiles. */
enum hakpy_kernel {
    HAKPY_RANDOM_MIXED = 1,
    HAKPY_LARSON = 2,
    HAKPY_PRODCONS = 3,
    HAKPY_REALLOC = 4,
    HAKPY_FRAGMENT = 5,
    HAKPY_ALIGNED = 6,
};

struct hakpy_stress_config {
    uint32_t kernel;
    uint32_t threads;
    uint64_t ops;
    double duration;
    uint64_t min_size;
    uint64_t max_size;
    uint64_t working_set;
    uint64_t seed;
    uint64_t max_align;
    uint32_t generations;
    uint32_t fill;
    uint32_t corrupt_every;
    uint32_t reset_peak_rss;
    uint32_t stop;
};

struct hakpy_stress_result {
    uint64_t ops;
    uint64_t allocs;
    uint64_t frees;
    uint64_t bytes_allocated;
    uint64_t errors;
    uint64_t alloc_failures;
    double seconds;
    double cpu_seconds;
    int64_t peak_rss_kb;
    char first_error[...];
};

enum hakpy_op_kind {
    HAKPY_OP_ALLOC = 1,
    HAKPY_OP_FREE = 2,
    HAKPY_OP_REALLOC = 3,
    HAKPY_OP_ALIGNED = 4,
    HAKPY_OP_CALLOC = 5,
};

struct hakpy_trace_op {
    uint32_t kind;
    uint32_t slot;
    uint64_t size;
    uint64_t align;
};

#define HAKPY_TRACE_VERSION ...
#define HAKPY_TRACE_HEADER ...

void hakpy_stress_stop(struct hakpy_stress_config *c);

int hakpy_trace_check(const struct hakpy_trace_op *ops, uint64_t n, uint32_t nslots, char *err,
                      size_t errlen);

/* Glue (build.py): binds the cffi module to hakmem._C_API, and runs the
 * kernels with the bound hakmem as the allocator. */
int hakpy_bind(void);
const char *hakpy_bind_error(void);
int hakpy_stress_hakmem(const struct hakpy_stress_config *c, struct hakpy_stress_result *r);
int hakpy_replay_hakmem(const struct hakpy_trace_op *ops, uint64_t n, uint32_t nslots,
                        uint32_t repeat, uint32_t fill, struct hakpy_stress_result *r);
/* First-class heaps (hakmem.heap): a kernel run with every allocation in
 * heap h; the live blocks of h, their addresses into out (up to cap), as
 * hak_heap_visit sees them: returns how many there are (no callback into
 * Python while the heap is locked). */
int hakpy_stress_hakmem_heap(const struct hakpy_stress_config *c, struct hakpy_stress_result *r,
                             hak_heap_t *h);
size_t hakpy_heap_addresses(hak_heap_t *h, uintptr_t *out, size_t cap);
