/* cdef of include/hakmem.h: the hak_* ABI as hakmem.lib exposes it.
 *
 * cffi compiles hakmem._native against the real header, so a declaration
 * here that no longer matches it (a changed prototype, a struct field moved
 * or retyped) stops the build instead of corrupting memory at run time.
 * Calls go through the function table of the instance the package is bound
 * to (hakmem_capi.h with HAKMEM_CAPI_NAMES), not through a link to a library.
 */
#define HAKMEM_VERSION_MAJOR ...
#define HAKMEM_VERSION_MINOR ...
#define HAKMEM_VERSION_PATCH ...
#define HAKMEM_ABI_VERSION ...
#define HAK_STATS_VERSION ...

const char *hak_version(void);
int hak_abi_version(void);

void *hak_malloc(size_t size);
void hak_free(void *ptr);
void *hak_calloc(size_t n, size_t size);
void *hak_realloc(void *ptr, size_t size);
void *hak_aligned_alloc(size_t align, size_t size);
size_t hak_usable_size(const void *ptr);
void hak_free_sized(void *ptr, size_t size);

void *hak_alloc(size_t size, size_t align);
void *hak_alloc_zeroed(size_t size, size_t align);
void hak_dealloc(void *ptr, size_t size, size_t align);
void *hak_realloc_layout(void *ptr, size_t old_size, size_t align, size_t new_size);

int hak_owns(const void *ptr);
int hak_free_if_owned(void *ptr);
size_t hak_collect(void);

struct hak_stats {
    size_t size;
    uint32_t version;
    uint32_t stats_enabled;
    uint64_t bytes_in_use;
    uint64_t bytes_cached;
    uint64_t bytes_committed;
    uint64_t bytes_committed_peak;
    uint64_t bytes_mapped;
    uint64_t superslabs;
    uint64_t spans;
    uint64_t large_blocks;
    uint64_t large_bytes;
    uint64_t tiny_mallocs, tiny_frees;
    uint64_t mid_mallocs, mid_frees;
    uint64_t large_mallocs, large_frees;
    uint64_t route_tiny_fast;
    uint64_t route_mid_fast;
    uint64_t route_slab_lookup;
    uint64_t route_remote;
    uint64_t route_large;
    uint64_t route_null;
    uint64_t refills, flushes;
    uint64_t os_maps, os_unmaps, os_purges;
    uint64_t bytes_reserved;
};

int hak_stats_get(struct hak_stats *out, size_t size);
void hak_stats_print(int fd);

typedef struct hak_stats hak_stats_t;
typedef struct hak_heap hak_heap_t;
hak_heap_t *hak_heap_new(void);
void *hak_heap_alloc(hak_heap_t *h, size_t size, size_t align);
void *hak_heap_alloc_zeroed(hak_heap_t *h, size_t size, size_t align);
void *hak_heap_realloc(hak_heap_t *h, void *ptr, size_t old_size, size_t align, size_t new_size);
void hak_heap_dealloc(hak_heap_t *h, void *ptr, size_t size, size_t align);
void hak_heap_collect(hak_heap_t *h);
int hak_heap_stats(hak_heap_t *h, hak_stats_t *out, size_t size);
void hak_heap_destroy(hak_heap_t *h);
