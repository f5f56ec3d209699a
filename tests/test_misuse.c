/* test_misuse.c: deliberate misuse must stop the process with a clear message.
 *
 * Each case runs in a fork()ed child whose stderr goes into a pipe. The
 * parent checks that the child died of SIGABRT and that what it printed
 * contains the expected text. The cases are those the release build
 * promises: each row of the README's "Bad input" table, in the release and
 * the debug build (the Makefile builds this file against both).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "testutil.h"

#define CHILD_TIMEOUT_S 10

/* ---- the misuses (each runs in the child; returning means not caught) ---- */

static void double_free_tiny(void)
{
    char *p = malloc(32);
    memset(p, 1, 32);
    void *again = tu_launder(p);
    free(p);
    free(again);
}

static void free_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    free(tu_launder(buf));
}

static void free_mmap_pointer(void)
{
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(99);
    free(tu_launder(m));
}

static void free_interior_pointer(void)
{
    char *p = malloc(64);
    memset(p, 1, 64);
    free(tu_launder(p + 8)); /* not 16-aligned: no block starts there */
}

static void realloc_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    void *q = realloc(tu_launder(buf), 128);
    (void)tu_launder(q);
}

static void hak_free_double_free(void)
{
    char *p = hak_malloc(32);
    memset(p, 1, 32);
    void *again = tu_launder(p);
    hak_free(p);
    hak_free(again);
}

static void hak_free_stack_address(void)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    hak_free(tu_launder(buf));
}

static void double_free_after_other_frees(void)
{
    char *a = malloc(64), *b = malloc(64), *c = malloc(64);
    memset(a, 1, 64);
    free(a);
    free(b);
    free(c);
    free(tu_launder(a)); /* no longer the last one freed */
}

/* n blocks of 64 bytes allocated and freed in order, then the first freed
 * again: where it is by then depends on n (the cap is 256). */
static void double_free_first_of(int n)
{
    static void *v[2000];
    for (int i = 0; i < n; i++) v[i] = malloc(64);
    void *a = v[0];
    for (int i = 0; i < n; i++) free(v[i]);
    free(tu_launder(a));
}

/* The block has left the thread's stack for its slab's free bits when it
 * is freed again. */
static void double_free_after_flush(void) { double_free_first_of(2000); }

/* The block is deep in the thread's stack: 300 frees are past the cap (256)
 * but within the stack (512), so the second free finds it there. */
static void double_free_deep_in_cache(void) { double_free_first_of(300); }

/* The block's slab emptied (every block back, as when a thread exits) and
 * its free list was dropped for address-order reuse: the block is found
 * free by its place past the slab's carving point. */
static void *malloc_free_448(void *arg)
{
    void **out = arg;
    *out = malloc(400);
    memset(*out, 1, 400);
    free(*out);
    return NULL;
}

static void double_free_after_slab_emptied(void)
{
    void *p = NULL;
    pthread_t t;
    if (pthread_create(&t, NULL, malloc_free_448, &p) != 0) _exit(99);
    pthread_join(t, NULL);
    free(tu_launder(p));
}

/* 16-byte aligned, then many frees and mallocs of the class: refused at the
 * free itself (the cases below show it), never handed out again. */
static void free_interior_aligned(void)
{
    enum { N = 2000 };
    static void *v[N];
    char *p = malloc(64);
    memset(p, 1, 64);
    free(tu_launder(p + 16));
    for (int i = 0; i < N; i++) v[i] = malloc(64);
    for (int i = 0; i < N; i++) free(v[i]);
}

/* A 16-aligned pointer into a live block, freed with nothing after it: the
 * free itself must refuse it (the child exits 0 if it returns). One case
 * per kind of span: Tiny, Mid in a one-unit span, Mid in a longer span
 * (whose blocks straddle units), at several offsets. */
static void free_interior_at(size_t n, size_t off)
{
    char *p = malloc(n);
    memset(p, 1, n);
    free(tu_launder(p + off));
}
static void free_interior_tiny_16(void) { free_interior_at(64, 16); }
static void free_interior_tiny_mid(void) { free_interior_at(1024, 512); }
static void free_interior_mid_unit(void) { free_interior_at(4096, 2048); }
static void free_interior_mid_span(void) { free_interior_at(20000, 10000 - 10000 % 16); }
static void free_interior_mid_span_unit(void) { free_interior_at(100000, 65536); }
static void hak_free_interior(void)
{
    char *p = hak_alloc(256, 16);
    hak_free(tu_launder(p + 128));
}

/* The tail of a 64 KiB unit of 48-byte blocks (1365 fit; 16 bytes are left
 * at offset 65520): a multiple of the class size, yet no block. */
static void free_unit_tail(void)
{
    char *p = malloc(48);
    uintptr_t unit = (uintptr_t)p & ~(uintptr_t)0xffff;
    free(tu_launder((char *)(unit + 65520)));
}

/* The same misuses on a first-class heap's blocks, through each route. */
static void heap_dealloc_interior(void)
{
    hak_heap_t *h = hak_heap_new();
    char *p = hak_heap_alloc(h, 64, 16);
    hak_heap_dealloc(h, tu_launder(p + 32), 64, 16);
}
static void heap_free_interior(void)
{
    hak_heap_t *h = hak_heap_new();
    char *p = hak_heap_alloc(h, 4096, 16);
    free(tu_launder(p + 1024));
}
static void heap_dealloc_interior_mid_span(void)
{
    hak_heap_t *h = hak_heap_new();
    char *p = hak_heap_alloc(h, 20000, 16);
    hak_heap_dealloc(h, tu_launder(p + 4096), 20000, 16);
}

/* A pointer from glibc's own malloc, as a library loaded with RTLD_DEEPBIND
 * could hand over. */
static void free_glibc_pointer(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    if (libc_malloc == NULL || libc_malloc == malloc) _exit(77);
    void *p = libc_malloc(64);
    free(p);
}

/* One byte past a block, into the free block after it: the byte lands on
 * the free block's mark (lib/block.h: bytes 0..3), which the next malloc of
 * the class checks on the block it takes: "free list corrupted". Never a
 * block handed out twice (exit 3). */
static void overflow_one_byte(void)
{
    for (int tries = 0; tries < 100; tries++) {
        char *a = malloc(64), *b = malloc(64);
        size_t usable = malloc_usable_size(a);
        /* b must follow a directly (allocator headers allowed in between). */
        if (b <= a || (size_t)(b - a) > usable + 16) continue;
        free(b);
        char *past = tu_launder(a); /* hide the overflow from the compiler's bounds check */
        past[usable] = 'x';
        void *x = malloc(64);
        void *y = malloc(64);
        (void)tu_launder(x);
        (void)tu_launder(y);
        if (x != b || y == x || y == a) _exit(3);
        return;
    }
    _exit(77);
}

static void write_after_free(void)
{
    char *p = malloc(64);
    free(p);
    memset(tu_launder(p), 0, 64);
    void *q = malloc(64);
    (void)tu_launder(q);
}

static void realloc_freed(void)
{
    char *p = malloc(64);
    free(p);
    void *q = realloc(tu_launder(p), 128);
    (void)tu_launder(q);
}

/* realloc of a 16-aligned pointer into a live block: both the inline path
 * (the size still fits) and the moving one. */
static void realloc_interior_aligned_fits(void)
{
    char *p = malloc(64);
    memset(p, 1, 64);
    void *q = realloc(tu_launder(p + 16), 40);
    (void)tu_launder(q);
}

static void realloc_interior_aligned_moves(void)
{
    char *p = malloc(64);
    memset(p, 1, 64);
    void *q = realloc(tu_launder(p + 16), 4000);
    (void)tu_launder(q);
}

static void usable_size_freed(void)
{
    char *p = malloc(64);
    free(p);
    size_t n = malloc_usable_size(tu_launder(p));
    (void)tu_launder(&n);
}

static void hak_usable_size_freed(void)
{
    char *p = hak_malloc(64);
    hak_free(p);
    size_t n = hak_usable_size(tu_launder(p));
    (void)tu_launder(&n);
}

static void double_free_large(void)
{
    char *p = malloc(1 << 20);
    memset(p, 1, 4096);
    free(p);
    free(tu_launder(p));
}

/* Two large blocks carved one after the other: an overflow past the first's
 * usable end lands on the second's header, which free and realloc check
 * before they trust it. Fresh large memory is carved in address order, so
 * the second follows the first (checked: the case fails if it does not). */
static char *large_overflow_into_next(void)
{
    hak_collect();
    char *a = malloc(1 << 20), *b = malloc(1 << 20);
    if (a == NULL || b == NULL || b < a + malloc_usable_size(a) ||
        b > a + malloc_usable_size(a) + 4096) {
        fprintf(stderr, "large blocks not adjacent: %p %p\n", (void *)a, (void *)b);
        _exit(3);
    }
    memset(a + malloc_usable_size(a), 0x41, (size_t)(b - (a + malloc_usable_size(a))));
    return tu_launder(b);
}

static void large_header_overwritten_free(void) { free(large_overflow_into_next()); }

/* A writer who reads the header in front of a large block (an overflow from
 * the block before can) and rewrites only its length, keeping every other
 * word, the check word included: free must refuse it, or it would give back
 * a megabyte it does not own. The header is the 5 words before the block
 * (lib/large.c), the length the third; in the debug build the header has
 * two more words after them, and the word changed is then the alignment,
 * also checked. */
static void large_header_forged_length(void)
{
    char *b = tu_launder(malloc(1 << 20));
    uint64_t *hdr = (uint64_t *)(void *)(b - 40);
    hdr[2] += 1 << 20;
    free(b);
}

static void large_header_overwritten_realloc(void)
{
    (void)tu_launder(realloc(large_overflow_into_next(), 2 << 20));
}

/* ---- writes past the request and before the block ------------------------------------------
 *
 * The release build keeps no request size, so a write inside a block's
 * usable size goes unnoticed there; the debug build fills the padding past
 * the request with a keyed canary (lib/block.h) and checks it at free and
 * realloc, and checks the neighbours' ends. 40 bytes are served by the
 * 48-byte class, 3000 by the 3072-byte one: 8 and 72 bytes of padding. */

/* Two blocks of n bytes, b right after a (stride apart): fresh blocks are
 * carved in address order. */
/* The stride of malloc(64)'s blocks: 64, or 80 in the debug build, which
 * serves a byte more than asked (the next class). */
#define STRIDE_64 ((size_t)(TEST_DEBUG_LIB ? 80 : 64))

static void adjacent(size_t n, size_t stride, char **a, char **b)
{
    for (int tries = 0; tries < 100; tries++) {
        *a = malloc(n);
        *b = malloc(n);
        if (*b == *a + stride) return;
    }
    _exit(77);
}

static void past_request_free(size_t n)
{
    char *p = malloc(n);
    memset(p, 1, n);
    ((char *)tu_launder(p))[n] = '\0'; /* a string's terminator one byte too far */
    free(p);
}

static void past_request_tiny(void) { past_request_free(40); }
static void past_request_mid(void) { past_request_free(3000); }
static void past_request_large(void) { past_request_free(1 << 20); }

static void past_request_realloc(void)
{
    char *p = malloc(40);
    memset(p, 1, 40);
    ((char *)tu_launder(p))[40] = 'x';
    (void)tu_launder(realloc(p, 44)); /* fits in place: still checked */
}

static void past_request_heap(void)
{
    hak_heap_t *h = hak_heap_new();
    char *p = hak_heap_alloc(h, 40, 16);
    memset(p, 1, 40);
    ((char *)tu_launder(p))[40] = '\0';
    hak_heap_dealloc(h, p, 40, 16);
}

/* A request that fills its class: in the release build the next byte is the
 * next block's; the debug build serves a byte more, so it is padding. */
static void exact_fit_into_free_next(void)
{
    char *a, *b;
    adjacent(64, STRIDE_64, &a, &b);
    free(b);
    ((char *)tu_launder(a))[64] = '\0';
    free(a);
}

/* A program that asked for the usable size (which drops the debug build's
 * padding canary) frees a block beside its free neighbour: with `overflow`,
 * after writing one byte past the block onto the neighbour's first byte
 * (the mark). The debug build checks a free neighbour's mark at the free;
 * the release build reads nothing there (its next malloc of the class would
 * stop, as above). */
static void free_beside_free_next_after(int overflow)
{
    char *a, *b;
    adjacent(64, STRIDE_64, &a, &b);
    (void)malloc_usable_size(a);
    free(b);
    if (overflow) ((char *)tu_launder(a))[b - a] = 'x';
    free(a);
}

static void overflow_past_usable_then_free(void) { free_beside_free_next_after(1); }

/* The control: the debug build's check must find the mark intact. */
static void free_beside_free_next(void) { free_beside_free_next_after(0); }

/* Through the padding into a live neighbour's first bytes. */
static void overflow_into_live_next(void)
{
    char *a, *b;
    adjacent(40, 48, &a, &b);
    memset(b, 2, 40);
    memset(tu_launder(a), 'A', 48 + 4);
    free(a);
}

/* A request that fills its class, one byte into a live neighbour: in the
 * release build there is no byte between the two blocks to check; the debug
 * build serves a byte more, so the write lands on the padding's canary. */
static void exact_fit_into_live_next(void)
{
    char *a, *b;
    adjacent(64, STRIDE_64, &a, &b);
    memset(b, 2, 64);
    ((char *)tu_launder(a))[64] = '\0';
    free(a);
    free(b);
}

static void underflow_live_prev(void)
{
    char *a, *b;
    adjacent(40, 48, &a, &b);
    ((char *)tu_launder(b))[-1] = '\0';
    free(b);
}

static void underflow_free_prev(void)
{
    char *a, *b;
    adjacent(64, STRIDE_64, &a, &b);
    free(a);
    ((char *)tu_launder(b))[-1] = '\0';
    free(b);
}

/* The byte before a large block is its header's (lib/large.c). */
static void underflow_large(void)
{
    char *p = malloc(1 << 20);
    ((char *)tu_launder(p))[-1] = '\0';
    free(p);
}

/* Past the link and mark a free block's bytes are unused: a write there
 * after free reaches nothing hakmem reads, except in the debug build. */
static void write_after_free_end(void)
{
    char *p = malloc(64);
    size_t end = malloc_usable_size(p) - 1; /* 63; 79 in the debug build (a byte more) */
    free(p);
    ((char *)tu_launder(p))[end] = '\0';
    for (int i = 0; i < 4; i++) (void)tu_launder(malloc(64));
}

/* ---- correct programs the debug build's checks must let through ------------------------ */

/* malloc_usable_size's bytes are the program's (glibc's contract). */
static void fill_usable_size(void)
{
    char *p = malloc(40);
    size_t n = malloc_usable_size(p);
    memset(tu_launder(p), 1, n);
    free(p);
    char *q = hak_malloc(3000);
    size_t m = hak_usable_size(q);
    memset(tu_launder(q), 1, m);
    hak_free(q);
    char *r = malloc(1 << 20);
    size_t k = malloc_usable_size(r);
    memset(tu_launder(r), 1, k);
    free(r);
}

/* realloc in place, larger: the new request's bytes, then free. */
static void realloc_grow_in_place_fill(void)
{
    char *p = malloc(40);
    memset(p, 1, 40);
    char *q = realloc(p, 47);
    memset(tu_launder(q), 2, 47);
    char *r = realloc(q, 33);
    memset(tu_launder(r), 3, 33);
    char *big = malloc(1 << 20);
    char *big2 = realloc(big, (1 << 20) + 100);
    memset(tu_launder(big2), 4, (1 << 20) + 100);
    free(big2);
    free(r);
}

/* A large calloc reads 0 up to its usable size (test_large's contract). */
static void calloc_large_zero_to_usable(void)
{
    char *p = malloc(3 << 20);
    memset(p, 1, 3 << 20);
    free(p);
    unsigned char *q = calloc(1, (3 << 20) - 100);
    size_t n = malloc_usable_size(q);
    /* Laundered: the sanitizers' object-size check knows only the request. */
    const unsigned char *u = tu_launder(q);
    for (size_t i = 0; i < n; i++)
        if (u[i] != 0) _exit(5);
    free(q);
}

/* ---- running one case -------------------------------------------------------------------- */

#ifndef TEST_DEBUG_LIB
#define TEST_DEBUG_LIB 0
#endif

/* expect: the text stderr must contain after a SIGABRT (after a SIGSEGV
 * with the SEGV prefix); NULL: the child must exit normally (not detected,
 * or not a misuse). One per build, and one for the release build with
 * HAKMEM_GUARD_SAMPLE=1 (every allocation up to 16 KiB guarded; run so by
 * tests/test_guard.sh), where a case's blocks are guarded ones. */
#define SEGV "\x01"
#define GUARD_AS_RELEASE ((const char *)1)
struct misuse {
    const char *name;
    void (*fn)(void);
    const char *expect_release, *expect_debug, *expect_guard;
};

static int guard_mode(void)
{
    const char *g = getenv("HAKMEM_GUARD_SAMPLE");
    return !TEST_DEBUG_LIB && g != NULL && atoi(g) == 1;
}

static const struct misuse cases[] = {
    {"double-free-tiny", double_free_tiny,
     "double free", "double free", "double free (guarded allocation)"},
    {"free-stack-address", free_stack_address,
     "invalid pointer", "invalid pointer", GUARD_AS_RELEASE},
    {"free-mmap-pointer", free_mmap_pointer,
     "invalid pointer", "invalid pointer", GUARD_AS_RELEASE},
    {"free-interior-pointer-malloc64+8", free_interior_pointer,
     "invalid pointer", "invalid pointer", "invalid pointer (guarded pool)"},
    {"realloc-stack-address", realloc_stack_address,
     "invalid pointer", "invalid pointer", GUARD_AS_RELEASE},
    {"hak_free-stack-address", hak_free_stack_address,
     "hak_free(): invalid pointer", "hak_free(): invalid pointer", GUARD_AS_RELEASE},
    {"hak_free-double-free", hak_free_double_free,
     "hak_free(): double free", "hak_free(): double free", "double free (guarded allocation)"},
    {"double-free-after-other-frees", double_free_after_other_frees,
     "double free", "double free", "double free (guarded allocation)"},
    {"double-free-after-flush", double_free_after_flush,
     "double free", "double free", "double free (guarded allocation)"},
    {"double-free-deep-in-cache", double_free_deep_in_cache,
     "double free", "double free", "double free (guarded allocation)"},
    {"double-free-after-slab-emptied", double_free_after_slab_emptied,
     "double free", "double free", "double free (guarded allocation)"},
    {"double-free-large", double_free_large,
     "invalid pointer", "invalid pointer", GUARD_AS_RELEASE},
    {"free-interior-aligned-malloc64+16", free_interior_aligned,
     "invalid pointer", "invalid pointer", "invalid pointer (guarded pool)"},
    {"free-glibc-pointer", free_glibc_pointer,
     "invalid pointer", "invalid pointer", GUARD_AS_RELEASE},
    {"overflow-one-byte-into-free-block", overflow_one_byte,
     "free list corrupted", "free list corrupted", GUARD_AS_RELEASE},
    {"write-after-free", write_after_free,
     "free list corrupted", "free list corrupted", SEGV "guarded allocation: use after free"},
    {"realloc-freed-pointer", realloc_freed,
     "already freed", "already freed", "double free (guarded allocation)"},
    {"realloc-interior-aligned-fits", realloc_interior_aligned_fits,
     "realloc(): invalid pointer", "realloc(): invalid pointer", "invalid pointer (guarded pool)"},
    {"realloc-interior-aligned-moves", realloc_interior_aligned_moves,
     "realloc(): invalid pointer", "realloc(): invalid pointer", "invalid pointer (guarded pool)"},
    {"malloc_usable_size-freed", usable_size_freed,
     "malloc_usable_size(): block already freed", "malloc_usable_size(): block already freed",
     "double free (guarded allocation)"},
    {"hak_usable_size-freed", hak_usable_size_freed,
     "hak_usable_size(): block already freed", "hak_usable_size(): block already freed",
     "double free (guarded allocation)"},
    {"large-header-overwritten-free", large_header_overwritten_free,
     "large block header overwritten", "large block header overwritten", GUARD_AS_RELEASE},
    {"free-interior-at-call-malloc64+16", free_interior_tiny_16,
     "free(): invalid pointer", "free(): invalid pointer", "invalid pointer (guarded pool)"},
    {"free-interior-at-call-malloc1024+512", free_interior_tiny_mid,
     "free(): invalid pointer", "free(): invalid pointer", "invalid pointer (guarded pool)"},
    {"free-interior-at-call-malloc4096+2048", free_interior_mid_unit,
     "free(): invalid pointer", "free(): invalid pointer", "invalid pointer (guarded pool)"},
    {"free-interior-at-call-malloc20000+9984", free_interior_mid_span,
     "free(): invalid pointer", "free(): invalid pointer", GUARD_AS_RELEASE},
    {"free-interior-at-call-malloc100000+64K", free_interior_mid_span_unit,
     "free(): invalid pointer", "free(): invalid pointer", GUARD_AS_RELEASE},
    {"hak_free-interior-at-call", hak_free_interior,
     "hak_free(): invalid pointer", "hak_free(): invalid pointer", "invalid pointer (guarded pool)"},
    {"free-unit-tail-class48", free_unit_tail,
     "free(): invalid pointer", "free(): invalid pointer", "invalid pointer (guarded pool)"},
    {"hak_heap_dealloc-interior", heap_dealloc_interior,
     "hak_heap_dealloc(): invalid pointer", "hak_heap_dealloc(): invalid pointer", GUARD_AS_RELEASE},
    {"free-heap-block-interior", heap_free_interior,
     "free(): invalid pointer", "free(): invalid pointer", GUARD_AS_RELEASE},
    {"hak_heap_dealloc-interior-mid-span", heap_dealloc_interior_mid_span,
     "hak_heap_dealloc(): invalid pointer", "hak_heap_dealloc(): invalid pointer", GUARD_AS_RELEASE},
    {"large-header-forged-length", large_header_forged_length,
     "free(): large block header overwritten", "free(): large block header overwritten",
     GUARD_AS_RELEASE},
    {"large-header-overwritten-realloc", large_header_overwritten_realloc,
     "large block header overwritten", "large block header overwritten", GUARD_AS_RELEASE},
    /* The debug build's checks past the request and before the block. */
    {"past-request-one-byte-tiny", past_request_tiny,
     NULL, "free(): write past the requested size", "overflow past the requested size (guarded allocation)"},
    {"past-request-one-byte-mid", past_request_mid,
     NULL, "free(): write past the requested size", "overflow past the requested size (guarded allocation)"},
    {"past-request-one-byte-large", past_request_large,
     NULL, "free(): write past the requested size", GUARD_AS_RELEASE},
    {"past-request-then-realloc", past_request_realloc,
     NULL, "realloc(): write past the requested size", "overflow past the requested size (guarded allocation)"},
    {"past-request-heap-block", past_request_heap, NULL,
     "hak_heap_dealloc(): write past the requested size", GUARD_AS_RELEASE},
    {"exact-fit-overflow-into-free-next", exact_fit_into_free_next, NULL,
     "free(): write past the requested size", GUARD_AS_RELEASE},
    {"overflow-past-usable-into-free-next-then-free", overflow_past_usable_then_free, NULL,
     "free(): overflow into the next block (its free mark overwritten)", GUARD_AS_RELEASE},
    {"free-beside-free-next", free_beside_free_next, NULL, NULL, GUARD_AS_RELEASE},
    {"overflow-through-padding-into-live-next", overflow_into_live_next, NULL,
     "free(): write past the requested size", GUARD_AS_RELEASE},
    {"exact-fit-overflow-into-live-next", exact_fit_into_live_next, NULL,
     "free(): write past the requested size", GUARD_AS_RELEASE},
    {"underflow-into-live-prev", underflow_live_prev,
     NULL, "free(): write before the block", GUARD_AS_RELEASE},
    {"underflow-into-free-prev", underflow_free_prev,
     NULL, "free(): write before the block", GUARD_AS_RELEASE},
    {"underflow-large", underflow_large,
     NULL, "free(): large block header overwritten", GUARD_AS_RELEASE},
    {"write-after-free-at-block-end", write_after_free_end, NULL,
     "malloc(): free block's end overwritten", SEGV "guarded allocation: use after free"},
    /* Correct programs: never stopped. */
    {"ok-fill-usable-size", fill_usable_size, NULL, NULL, GUARD_AS_RELEASE},
    {"ok-realloc-grow-in-place-fill", realloc_grow_in_place_fill, NULL, NULL, GUARD_AS_RELEASE},
    {"ok-calloc-large-zero-to-usable", calloc_large_zero_to_usable, NULL, NULL, GUARD_AS_RELEASE},
};

static void case_fn(const void *c) { ((const struct misuse *)c)->fn(); }

static void run_case(const struct misuse *c)
{
    char out[4096];
    int status = tu_child(case_fn, c, CHILD_TIMEOUT_S, out, sizeof out);
    if (status == -1) {
        EXPECT(0, "%s: could not start its child: %s", c->name, strerror(errno));
        return;
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("skip %-34s could not set the case up here\n", c->name);
        return;
    }
    const char *expect = TEST_DEBUG_LIB ? c->expect_debug : c->expect_release;
    int want_sig = SIGABRT;
    if (guard_mode() && c->expect_guard != GUARD_AS_RELEASE) expect = c->expect_guard;
    if (expect != NULL && expect[0] == SEGV[0]) {
        want_sig = SIGSEGV;
        expect++;
    }
    if (expect == NULL) {
        tu_state()->current = c->name;
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "expected a normal exit (this build does not stop it); status 0x%x, stderr \"%s\"",
               status, out);
        tu_state()->current = "-";
        printf("%s %-34s status 0x%x (exits normally, as this build promises); stderr: %s\n",
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok  " : "FAIL", c->name, status,
               out);
        fflush(stdout);
        return;
    }
    int died_abrt = WIFSIGNALED(status) && WTERMSIG(status) == want_sig;
    int has_text = strstr(out, expect) != NULL;
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    tu_state()->current = c->name;
    EXPECT(died_abrt, "expected death by signal %d, the child %s%s; its stderr: \"%s\"", want_sig,
           how,
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? " (misuse not detected)" : "", out);
    EXPECT(has_text, "stderr does not contain \"%s\": \"%s\"", expect, out);
    tu_state()->current = "-";
    printf("%s %-34s %s; stderr: %s\n", died_abrt && has_text ? "ok  " : "FAIL", c->name, how, out);
    fflush(stdout);
}

/* ---- forged links: a writer who has read the source ----------------------
 *
 * A use after free writes an address of its choosing (a buffer here) into
 * a freed block, with every constant a reader of the source could use. The
 * forgeries follow lib/block.h's layout (mark at bytes 0..3, link at 4..11):
 *   raw        the raw address over the first word (where a freed object's
 *              first field is), which wipes the mark;
 *   old-mark   the old public free mark (0xd1f5e3a7) at bytes 0..3 and the
 *              raw address as the link;
 *   start-key  the mark and the link as the key's value before start-up
 *              (lib/block.c) would make them: passes only if the key stayed
 *              public;
 *   link-only  the raw address where the link lies, the mark left intact.
 * The target is marked the same way. The next mallocs of that size must
 * never return the target. The first three leave a mark that is not the
 * key's, which the pop sees: "free list corrupted". No link of a
 * default-heap free block is read (a thread keeps its free blocks'
 * addresses in its stacks), so link-only changes nothing and the mallocs go
 * on. A large block keeps nothing in band, so its mallocs go on. Exit
 * status 3: the target was handed out.
 * The flushed cases forge a block that hak_collect has given back to its
 * slab (a live neighbour keeps the slab from emptying), where it is a bit,
 * not a list entry: its link is never read, so a forged link alone changes
 * nothing, and the mallocs, enough to take every free block of the class
 * back, go on; a wrong mark is seen by the refill that takes the block. */
static _Alignas(64) unsigned char forge_target[8192];

enum forge { FORGE_RAW, FORGE_OLD_MARK, FORGE_START_KEY, FORGE_LINK_ONLY };

static void forge_and_allocate(size_t n, enum forge how, int flushed)
{
    void *keep = malloc(n);
    unsigned char *p = malloc(n);
    if (p == NULL || keep == NULL) _exit(99);
    memset(p, 1, n);
    free(p);
    if (flushed) (void)hak_collect();
    unsigned char *freed = tu_launder(p);
    uintptr_t t = (uintptr_t)forge_target;
    const uint64_t start_key = 0x8000000000000001ull; /* lib/block.c's value before start-up */
    const uint32_t mark = how == FORGE_START_KEY ? (uint32_t)start_key : 0xd1f5e3a7u;
    for (size_t off = 0; off + 16 <= sizeof forge_target; off += 16)
        memcpy(forge_target + off, &mark, 4);
    uint64_t link = t;
    if (how == FORGE_START_KEY) link = t ^ start_key ^ (uintptr_t)freed;
    switch (how) {
    case FORGE_RAW:
        memcpy(freed, &link, 8);
        break;
    case FORGE_OLD_MARK:
    case FORGE_START_KEY:
        memcpy(freed, &mark, 4);
        memcpy(freed + 4, &link, 8);
        break;
    case FORGE_LINK_ONLY:
        memcpy(freed + 4, &link, 8);
        break;
    }
    for (int i = 0; i < (flushed ? 4096 : 64); i++) {
        unsigned char *q = malloc(n);
        if (q >= forge_target && q < forge_target + sizeof forge_target) _exit(3);
        (void)tu_launder(q);
    }
    _exit(0);
}

struct forge_args {
    size_t n;
    enum forge how;
    int flushed;
};

static void forge_fn(const void *a)
{
    const struct forge_args *f = a;
    forge_and_allocate(f->n, f->how, f->flushed);
}

static void forge_case(const char *name, size_t n, enum forge how, int flushed, int must_abort)
{
    char out[1024];
    struct forge_args args = {n, how, flushed};
    int status = tu_child(forge_fn, &args, CHILD_TIMEOUT_S, out, sizeof out);
    if (status == -1) {
        EXPECT(0, "%s: could not start its child: %s", name, strerror(errno));
        return;
    }
    long failures_before = atomic_load(&tu_state()->failures);
    tu_state()->current = name;
    EXPECT(!(WIFEXITED(status) && WEXITSTATUS(status) == 3), "the forged address was handed out");
    if (guard_mode() && n <= 16384) {
        /* The freed block is a guarded one: the forging write faults. */
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV &&
                   strstr(out, "guarded allocation: use after free"),
               "expected a SIGSEGV report of a use after free; status 0x%x, stderr \"%s\"", status,
               out);
    } else if (must_abort) {
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, "free list corrupted"),
               "expected an abort with \"free list corrupted\"; status 0x%x, stderr \"%s\"", status, out);
    } else {
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "expected the mallocs to go on; status 0x%x, stderr \"%s\"", status, out);
    }
    tu_state()->current = "-";
    printf("%-4s %-34s status 0x%x; stderr: %s\n",
           atomic_load(&tu_state()->failures) == failures_before ? "ok" : "FAIL", name, status,
           out[0] ? out : "(none)");
}

static void forged_links(void)
{
    static const struct {
        const char *name;
        size_t n;
        int must_abort;
    } sizes[] = {{"tiny", 64, 1}, {"mid", 4096, 1}, {"large", 1 << 20, 0}};
    static const char *const how_name[] = {"raw", "old-mark", "start-key", "link-only"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int how = FORGE_RAW; how <= FORGE_LINK_ONLY; how++) {
            char name[64];
            snprintf(name, sizeof name, "forged-link-%s-%s", sizes[i].name, how_name[how]);
            forge_case(name, sizes[i].n, (enum forge)how, 0,
                       sizes[i].must_abort && how != FORGE_LINK_ONLY);
            if (!sizes[i].must_abort) continue; /* large: nothing to flush */
            snprintf(name, sizeof name, "forged-link-flushed-%s-%s", sizes[i].name, how_name[how]);
            forge_case(name, sizes[i].n, (enum forge)how, 1, how != FORGE_LINK_ONLY);
        }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "forged-links") == 0) {
        forged_links();
        return tu_finish("test_misuse");
    }
    if (argc < 2) forged_links();
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], cases[i].name) == 0;
        if (!wanted) continue;
        run_case(&cases[i]);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "test_misuse: no case named so\n");
        return 99;
    }
    return tu_finish("test_misuse");
}
