/* test_api.c: the contract of the public API (include/hakmem.h) and of the
 * standard malloc family as hakmem provides it.
 *
 * Linked with libhakmem (release) as tests/test_api and with libhakmem_debug
 * as tests/test_api_dbg; the malloc, free, ... called here are hakmem's.
 * Each case is one function, run by name; the exit status is 0 when every
 * check held, 1 otherwise. Tiers as the library defines them: tiny up to
 * 1024 bytes, mid up to 256 KiB, large above.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hakmem.h"
#include "testutil.h"

/* C23 / glibc 2.43 names; older headers do not declare them. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

#define TINY_MAX ((size_t)1024)
#define MID_MAX ((size_t)256 * 1024)
#define MAX_ALIGN_TESTED ((size_t)1 << 20)

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Touches every page of a block and its last usable byte. */
static void touch_block(void *p, size_t n)
{
    volatile unsigned char *b = (volatile unsigned char *)tu_launder(p);
    for (size_t i = 0; i < n; i += 4096) b[i] = (unsigned char)i;
    if (n) b[n - 1] = 0x5a;
}

/* ---- identity --------------------------------------------------------------- */

static void version_and_abi(void)
{
    const char *v = hak_version();
    EXPECT_NOT_NULL(v);
    if (v) EXPECT_STREQ(v, HAKMEM_VERSION_STRING);
    EXPECT_EQ(hak_abi_version(), HAKMEM_ABI_VERSION);
}

/* ---- alignment ------------------------------------------------------------------ */

#define SMALL_N 8193
static void *small_blocks[SMALL_N];

static void alignment_malloc_every_size_to_8192(void)
{
    for (int api = 0; api < 2; api++) {
        const char *name = api ? "hak_malloc" : "malloc";
        int f_null = 0, f_align = 0, f_usable = 0, f_content = 0;
        for (size_t n = 0; n < SMALL_N; n++) {
            void *p = api ? hak_malloc(tu_opaque(n)) : malloc(tu_opaque(n));
            small_blocks[n] = p;
            EXPECT_LOOP(f_null, p != NULL, "%s(%zu) returned NULL", name, n);
            if (p == NULL) continue;
            EXPECT_LOOP(f_align, (tu_launder_addr(p) & 15) == 0, "%s(%zu) = %p is not 16-aligned",
                        name, n, p);
            size_t u = api ? hak_usable_size(p) : malloc_usable_size(p);
            EXPECT_LOOP(f_usable, u >= n, "%s(%zu): usable size %zu", name, n, u);
            fill_pattern(p, n);
        }
        /* All live at once: a block overlapping another shows as a broken pattern. */
        for (size_t n = 0; n < SMALL_N; n++) {
            if (small_blocks[n] == NULL) continue;
            EXPECT_LOOP(f_content, check_pattern(small_blocks[n], n),
                        "%s(%zu) block %p was overwritten while live", name, n, small_blocks[n]);
            if (api)
                hak_free(small_blocks[n]);
            else
                free(small_blocks[n]);
            small_blocks[n] = NULL;
        }
    }
}

/* Sizes from 8 KiB to 64 MiB around each power of two, and between them. */
static void alignment_sample_to_64mib(void)
{
    for (size_t pw = (size_t)1 << 13; pw <= ((size_t)64 << 20); pw <<= 1) {
        size_t sizes[] = {pw - 1, pw, pw + 1, pw + pw / 2 + 7};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            if (n > ((size_t)64 << 20)) continue;
            void *p = malloc(tu_opaque(n));
            EXPECT(p != NULL, "malloc(%zu)", n);
            if (!p) continue;
            EXPECT_ALIGNED(p, 16);
            EXPECT_GE(malloc_usable_size(p), n);
            touch_block(p, malloc_usable_size(p));
            free(p);
            void *q = hak_malloc(tu_opaque(n));
            EXPECT(q != NULL, "hak_malloc(%zu)", n);
            if (!q) continue;
            EXPECT_ALIGNED(q, 16);
            EXPECT_GE(hak_usable_size(q), n);
            touch_block(q, hak_usable_size(q));
            hak_free(q);
        }
    }
}

/* ---- usable size ------------------------------------------------------------------ */

static void usable_size_at_least_request(void)
{
    EXPECT_EQ(malloc_usable_size(NULL), 0);
    EXPECT_EQ(hak_usable_size(NULL), 0);
    size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 1024, 1025, 4096, 65535, 100000,
                      MID_MAX - 1, MID_MAX, MID_MAX + 1, 1000000, (size_t)16 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(tu_opaque(n));
        EXPECT(p != NULL, "malloc(%zu)", n);
        if (!p) continue;
        size_t u = malloc_usable_size(p);
        EXPECT(u >= n, "malloc(%zu): malloc_usable_size %zu", n, u);
        EXPECT(hak_usable_size(p) == u, "malloc(%zu): hak_usable_size %zu != malloc_usable_size %zu",
               n, hak_usable_size(p), u);
        /* The whole usable size may be written (malloc_usable_size(3)). */
        fill_pattern(p, u);
        EXPECT(check_pattern(p, u), "malloc(%zu): usable bytes did not hold", n);
        free(p);
    }
}

/* ---- realloc across tiers ----------------------------------------------------- */

static void realloc_walk(const char *name, void *(*re)(void *, size_t), void (*fr)(void *))
{
    /* tiny -> mid -> large and back down, crossing each boundary by one byte. */
    static const size_t steps[] = {
        16, 100, TINY_MAX - 1, TINY_MAX, TINY_MAX + 1, 4096, 70000, MID_MAX - 1, MID_MAX,
        MID_MAX + 1, 1 << 20, 8 << 20, 1 << 20, MID_MAX + 1, MID_MAX, 100000, TINY_MAX + 1,
        TINY_MAX, 700, 16, 1, 3000, MID_MAX + 4096, 200, (4 << 20) + 3, 33};
    uint64_t seed = 0x1234;
    size_t old = steps[0];
    unsigned char *p = re(NULL, old);
    EXPECT(p != NULL, "%s(NULL, %zu)", name, old);
    if (!p) return;
    fill_seq(p, 0, old, seed);
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        unsigned char *q = re(p, tu_opaque(n));
        EXPECT(q != NULL, "%s(%p, %zu -> %zu)", name, (void *)p, old, n);
        if (!q) {
            fr(p);
            return;
        }
        EXPECT(((uintptr_t)tu_launder(q) & 15) == 0, "%s to %zu: %p not 16-aligned", name, n, (void *)q);
        size_t keep = min_sz(old, n);
        size_t bad = check_seq(q, 0, keep, seed);
        EXPECT(bad == SIZE_MAX, "%s %zu -> %zu: byte %zu of the kept %zu changed", name, old, n, bad,
               keep);
        /* Refill the whole block so the next step checks all of it. */
        seed++;
        fill_seq(q, 0, n, seed);
        p = q;
        old = n;
    }
    fr(p);
}

static void realloc_keeps_content_across_tiers(void) { realloc_walk("realloc", realloc, free); }

/* A vector grown and shrunk a few bytes at a time inside the Tiny tier, as
 * CPython's lists and strings are (realloc's inline move between classes):
 * the content survives every step, and a block that grows past its class
 * takes at least a quarter more, so that the next small steps stay. */
static void realloc_tiny_steps(void)
{
    size_t n = 8;
    unsigned char *p = realloc(NULL, n);
    EXPECT(p != NULL, "realloc(NULL, 8)");
    if (!p) return;
    fill_seq(p, 0, n, 77);
    for (int pass = 0; pass < 2; pass++) {
        size_t target = pass == 0 ? TINY_MAX : 1, step = pass == 0 ? 8 : 24;
        while (pass == 0 ? n < target : n > target) {
            size_t m = pass == 0 ? n + step : (n > step ? n - step : 1);
            size_t usable = malloc_usable_size(p);
            unsigned char *q = realloc(p, tu_opaque(m));
            EXPECT(q != NULL, "realloc %zu -> %zu", n, m);
            if (!q) {
                free(p);
                return;
            }
            size_t bad = check_seq(q, 0, min_sz(n, m), 77);
            EXPECT(bad == SIZE_MAX, "realloc %zu -> %zu: byte %zu changed", n, m, bad);
            if (m > usable && m <= TINY_MAX)
                EXPECT(malloc_usable_size(q) >= usable + usable / 4,
                       "realloc %zu -> %zu past a class of %zu: usable %zu, expected >= %zu", n, m,
                       usable, malloc_usable_size(q), usable + usable / 4);
            fill_seq(q, 0, m, 77);
            p = q;
            n = m;
        }
    }
    free(p);
}

static void hak_realloc_keeps_content_across_tiers(void)
{
    realloc_walk("hak_realloc", hak_realloc, hak_free);
}

static void realloc_null_is_malloc(void)
{
    size_t sizes[] = {0, 1, 100, 5000, MID_MAX + 1, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = realloc(NULL, tu_opaque(n));
        EXPECT(p != NULL, "realloc(NULL, %zu) returned NULL", n);
        if (!p) continue;
        EXPECT_ALIGNED(p, 16);
        EXPECT_GE(malloc_usable_size(p), n);
        EXPECT(hak_owns(p), "realloc(NULL, %zu) = %p not owned", n, p);
        fill_pattern(p, n);
        EXPECT(check_pattern(p, n), "realloc(NULL, %zu) content", n);
        free(p);
        void *q = hak_realloc(NULL, tu_opaque(n));
        EXPECT(q != NULL, "hak_realloc(NULL, %zu) returned NULL", n);
        if (q) {
            EXPECT_ALIGNED(q, 16);
            fill_pattern(q, n);
            hak_free(q);
        }
    }
}

/* glibc: realloc(p, 0) frees p and returns NULL. */
static void realloc_zero_frees(void)
{
    size_t sizes[] = {1, 64, 2000, 100000, MID_MAX + 1, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        struct hak_stats a, b;
        void *p = malloc(n);
        EXPECT(p != NULL, "malloc(%zu)", n);
        if (!p) continue;
        memset(tu_launder(p), 1, n);
        EXPECT_EQ(hak_stats_get(&a, sizeof a), 0);
        void *was = tu_launder(p);
        void *r = realloc(p, tu_opaque(0));
        EXPECT(r == NULL, "realloc(malloc(%zu), 0) = %p, expected NULL", n, r);
        EXPECT_EQ(hak_stats_get(&b, sizeof b), 0);
        /* Freed: its bytes are no longer in use. */
        EXPECT(b.bytes_in_use + n <= a.bytes_in_use,
               "realloc(malloc(%zu), 0): bytes_in_use %llu -> %llu, expected a drop of >= %zu", n,
               (unsigned long long)a.bytes_in_use, (unsigned long long)b.bytes_in_use, n);
        if (n > MID_MAX) EXPECT(!hak_owns(was), "large block %p still owned after realloc(p, 0)", was);
        if (r) free(r);
    }
    void *q = hak_malloc(300);
    EXPECT(hak_realloc(q, tu_opaque(0)) == NULL, "hak_realloc(p, 0) must return NULL");
}

/* ---- calloc ------------------------------------------------------------------------ */

static void *calloc_blocks[512];

static void calloc_zeroes(void)
{
    /* Dirty a block, free it, calloc the same size: the memory that comes back
     * (most likely the same) must read as zero. */
    size_t sizes[] = {1,     16,         24,        100,           1000,      1024,   1025,
                      5000,  65536,      200000,    MID_MAX,       MID_MAX + 1, 1 << 20,
                      8 << 20, (size_t)64 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 3; round++) {
            unsigned char *d = malloc(tu_opaque(n));
            EXPECT(d != NULL, "malloc(%zu)", n);
            if (!d) break;
            memset(tu_launder(d), 0xa5, malloc_usable_size(d));
            free(d);
            unsigned char *z = round == 2 ? hak_calloc(1, tu_opaque(n)) : calloc(tu_opaque(n), 1);
            EXPECT(z != NULL, "calloc(%zu)", n);
            if (!z) break;
            EXPECT_ALIGNED(z, 16);
            EXPECT(tu_all_zero(z, n), "calloc(%zu) after freeing a dirty block of that size: not zero "
                   "(round %d, %s the dirty block)", n, round, z == d ? "same as" : "not");
            memset(tu_launder(z), 0xa5, n); /* dirty again for the next round */
            if (round == 2)
                hak_free(z);
            else
                free(z);
        }
    }
    /* Many blocks of one tiny class, dirty and freed, then calloc'ed as n*m. */
    for (int k = 0; k < 512; k++) {
        calloc_blocks[k] = malloc(48);
        if (calloc_blocks[k]) memset(tu_launder(calloc_blocks[k]), 0xff, 48);
    }
    for (int k = 0; k < 512; k++) free(calloc_blocks[k]);
    int f = 0;
    for (int k = 0; k < 512; k++) {
        calloc_blocks[k] = calloc(tu_opaque(3), 16);
        EXPECT_LOOP(f, calloc_blocks[k] != NULL && tu_all_zero(calloc_blocks[k], 48),
                    "calloc(3, 16) #%d is NULL or not zero", k);
    }
    for (int k = 0; k < 512; k++) free(calloc_blocks[k]);
    /* A large calloc reaching the large-mapping cache after a dirty free. */
    size_t big = (size_t)24 << 20;
    unsigned char *d = malloc(big);
    if (d) memset(tu_launder(d), 0x77, big);
    free(d);
    unsigned char *z = calloc(tu_opaque(big / 8), 8);
    EXPECT(z != NULL && tu_all_zero(z, big), "calloc(%zu) after a dirty free of that size", big);
    free(z);
}

/* ---- overflow --------------------------------------------------------------- */

#define EXPECT_ENOMEM(expr)                                                                   \
    do {                                                                                      \
        errno = 0;                                                                            \
        void *r_ = (expr);                                                                    \
        int e_ = errno;                                                                       \
        EXPECT(r_ == NULL && e_ == ENOMEM, "%s returned %p with errno %d (%s), expected NULL " \
               "and ENOMEM", #expr, r_, e_, strerror(e_));                                    \
        if (r_) free(r_);                                                                     \
    } while (0)

static void overflow_gives_null_enomem(void)
{
    size_t max = tu_opaque(SIZE_MAX);
    size_t half = tu_opaque(SIZE_MAX / 2);
    size_t big32 = tu_opaque((size_t)1 << 32);
    size_t pmax1 = tu_opaque((size_t)PTRDIFF_MAX + 1);
    EXPECT_ENOMEM(calloc(half, 3));
    EXPECT_ENOMEM(calloc(big32, big32)); /* the product wraps to 0 */
    EXPECT_ENOMEM(calloc(max, max));
    EXPECT_ENOMEM(hak_calloc(half, 3));
    EXPECT_ENOMEM(hak_calloc(big32, big32));
    EXPECT_ENOMEM(reallocarray(NULL, half, 3));
    EXPECT_ENOMEM(reallocarray(NULL, big32, big32));
    EXPECT_ENOMEM(malloc(max));
    EXPECT_ENOMEM(malloc(max - 4095));   /* rounding to a page wraps */
    EXPECT_ENOMEM(malloc(max - 65535));  /* rounding to 64 KiB wraps */
    EXPECT_ENOMEM(malloc(pmax1));
    EXPECT_ENOMEM(hak_malloc(max));
    EXPECT_ENOMEM(hak_malloc(pmax1));
    EXPECT_ENOMEM(pvalloc(max));
    EXPECT_ENOMEM(pvalloc(max - 4095));
    EXPECT_ENOMEM(valloc(max));
    EXPECT_ENOMEM(aligned_alloc(4096, max - 100));
    EXPECT_ENOMEM(aligned_alloc(64, max));
    EXPECT_ENOMEM(memalign(1 << 20, max - (1 << 19)));
    EXPECT_ENOMEM(hak_aligned_alloc(64, max));
    EXPECT_ENOMEM(hak_alloc(max, 64));
    EXPECT_ENOMEM(hak_alloc(max - 100, 4096));
    EXPECT_ENOMEM(hak_alloc(pmax1, 16));
    EXPECT_ENOMEM(hak_alloc_zeroed(max, 16));

    void *m = NULL;
    int rc = posix_memalign(&m, 4096, max - 100);
    EXPECT(rc == ENOMEM, "posix_memalign(4096, SIZE_MAX-100) returned %d, expected ENOMEM", rc);
    if (rc == 0) free(m);

    /* A failed resize leaves the block as it was. */
    const size_t n = 200;
    unsigned char *p = malloc(n);
    EXPECT_NOT_NULL(p);
    if (!p) return;
    fill_seq(p, 0, n, 7);
    /* (laundered: the compiler takes p as freed by any realloc) */
    EXPECT_ENOMEM(realloc(tu_launder(p), max));
    EXPECT_ENOMEM(realloc(tu_launder(p), pmax1));
    EXPECT_ENOMEM(hak_realloc(tu_launder(p), max));
    EXPECT_ENOMEM(reallocarray(tu_launder(p), half, 3));
    EXPECT(check_seq(p, 0, n, 7) == SIZE_MAX, "block changed by a failed realloc");
    free(p);

    unsigned char *a = hak_alloc(n, 256);
    EXPECT_NOT_NULL(a);
    if (!a) return;
    fill_seq(a, 0, n, 8);
    EXPECT_ENOMEM(hak_realloc_layout(a, n, 256, max));
    EXPECT(check_seq(a, 0, n, 8) == SIZE_MAX, "block changed by a failed hak_realloc_layout");
    hak_dealloc(a, n, 256);
}

/* ---- posix_memalign errors ---------------------------------------------------------------- */

static void posix_memalign_einval(void)
{
    /* Not a power of two, or not a multiple of sizeof(void *) (POSIX). */
    size_t bad[] = {0, 1, 2, 3, 4, 24, 48, 100, 4097, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i] == 4 && sizeof(void *) == 4) continue;
        void *sentinel = (void *)(uintptr_t)0xdeadbeef;
        void *p = sentinel;
        int rc = posix_memalign(&p, tu_opaque(bad[i]), 64);
        EXPECT(rc == EINVAL, "posix_memalign(align %zu) returned %d, expected EINVAL", bad[i], rc);
        EXPECT(p == sentinel, "posix_memalign(align %zu) changed the out pointer to %p", bad[i], p);
    }
    for (size_t a = sizeof(void *); a <= MAX_ALIGN_TESTED; a <<= 1) {
        void *p = NULL;
        int rc = posix_memalign(&p, tu_opaque(a), 1);
        EXPECT(rc == 0 && p != NULL, "posix_memalign(align %zu, 1) returned %d", a, rc);
        if (rc == 0) {
            EXPECT_ALIGNED(p, a);
            free(p);
        }
    }
    /* aligned_alloc: a non-power-of-two alignment is EINVAL (hakmem.h). */
    errno = 0;
    void *q = hak_aligned_alloc(tu_opaque(24), 64);
    EXPECT(q == NULL && errno == EINVAL, "hak_aligned_alloc(24, 64) = %p errno %d", q, errno);
    if (q) hak_free(q);
    errno = 0;
    q = aligned_alloc(tu_opaque(3), 64);
    EXPECT(q == NULL && errno == EINVAL, "aligned_alloc(3, 64) = %p errno %d", q, errno);
    if (q) free(q);
}

/* ---- malloc(0) ----------------------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void malloc_zero_unique(void)
{
    void *a = malloc(tu_opaque(0)), *b = malloc(tu_opaque(0));
    EXPECT(a != NULL && b != NULL, "malloc(0) = %p, %p", a, b);
    EXPECT(a != b, "two malloc(0) calls returned the same pointer %p", a);
    EXPECT_ALIGNED(a, 16);
    EXPECT(hak_owns(a), "malloc(0) = %p not owned", a);
    free(a);
    free(b);
    static void *many[200];
    for (int i = 0; i < 200; i++) many[i] = (i & 1) ? hak_malloc(tu_opaque(0)) : malloc(tu_opaque(0));
    qsort(many, 200, sizeof many[0], cmp_ptr);
    int nulls = 0, dups = 0;
    for (int i = 0; i < 200; i++) {
        nulls += many[i] == NULL;
        dups += i > 0 && many[i] != NULL && many[i] == many[i - 1];
    }
    EXPECT(nulls == 0 && dups == 0, "200 live malloc(0): %d NULL, %d duplicates", nulls, dups);
    for (int i = 0; i < 200; i++) free(many[i]);
}

/* ---- aligned allocation ------------------------------------------------------------------------ */

enum { AL_POSIX, AL_ALIGNED_ALLOC, AL_MEMALIGN, AL_HAK_ALLOC, AL_HAK_ZEROED, AL_HAK_ALIGNED, AL_N };
static const char *const al_name[AL_N] = {"posix_memalign", "aligned_alloc", "memalign",
                                          "hak_alloc", "hak_alloc_zeroed", "hak_aligned_alloc"};

struct al_block {
    void *p;
    size_t size, align;
    int api;
};

static void *al_alloc(int api, size_t align, size_t size)
{
    void *p = NULL;
    switch (api) {
    case AL_POSIX:
        if (posix_memalign(&p, align, size) != 0) p = NULL;
        return p;
    case AL_ALIGNED_ALLOC: return aligned_alloc(align, size);
    case AL_MEMALIGN: return memalign(align, size);
    case AL_HAK_ALLOC: return hak_alloc(size, align);
    case AL_HAK_ZEROED: return hak_alloc_zeroed(size, align);
    default: return hak_aligned_alloc(align, size);
    }
}

static void al_free(const struct al_block *b)
{
    switch (b->api) {
    case AL_ALIGNED_ALLOC: free_aligned_sized(b->p, b->align, b->size); break;
    case AL_HAK_ALLOC:
    case AL_HAK_ZEROED: hak_dealloc(b->p, b->size, b->align); break;
    case AL_HAK_ALIGNED: hak_free(b->p); break;
    default: free(b->p); break;
    }
}

static struct al_block al_live[AL_N * 8];

static void aligned_every_power_of_two(void)
{
    /* posix_memalign(&p, 256, 256) once returned a 128-aligned block in mimalloc. */
    void *p256 = NULL;
    EXPECT_EQ(posix_memalign(&p256, 256, 256), 0);
    EXPECT_ALIGNED(p256, 256);
    free(p256);

    int f_null = 0, f_align = 0, f_usable = 0, f_zero = 0, f_content = 0;
    for (size_t a = 1; a <= MAX_ALIGN_TESTED; a <<= 1) {
        size_t sizes[] = {1, max_sz(a / 2, 1), a - (a > 1), a, a + 1, 2 * a + a / 2 + 16};
        int nlive = 0;
        for (int api = 0; api < AL_N; api++) {
            if (api == AL_POSIX && a < sizeof(void *)) continue; /* EINVAL, tested above */
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                size_t n = sizes[s];
                void *p = al_alloc(api, tu_opaque(a), tu_opaque(n));
                EXPECT_LOOP(f_null, p != NULL, "%s(align %zu, size %zu) returned NULL", al_name[api],
                            a, n);
                if (!p) continue;
                size_t want = max_sz(a, 16);
                EXPECT_LOOP(f_align, (tu_launder_addr(p) & (want - 1)) == 0,
                            "%s(align %zu, size %zu) = %p is not %zu-aligned", al_name[api], a, n, p,
                            want);
                EXPECT_LOOP(f_usable, hak_usable_size(p) >= n,
                            "%s(align %zu, size %zu): usable size %zu", al_name[api], a, n,
                            hak_usable_size(p));
                if (api == AL_HAK_ZEROED)
                    EXPECT_LOOP(f_zero, tu_all_zero(p, n), "hak_alloc_zeroed(%zu, %zu) not zero", n,
                                a);
                fill_pattern(p, n);
                al_live[nlive++] = (struct al_block){p, n, a, api};
            }
        }
        for (int i = 0; i < nlive; i++) {
            const struct al_block *b = &al_live[i];
            EXPECT_LOOP(f_content, check_pattern(b->p, b->size),
                        "%s(align %zu, size %zu) = %p overwritten while live", al_name[b->api],
                        b->align, b->size, b->p);
            al_free(b);
        }
    }
}

static void valloc_pvalloc_page_aligned(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sizes[] = {1, 100, page - 1, page, page + 1, 70000, MID_MAX + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *v = valloc(tu_opaque(n));
        EXPECT(v != NULL, "valloc(%zu)", n);
        if (v) {
            EXPECT_ALIGNED(v, page);
            EXPECT_GE(malloc_usable_size(v), n);
            fill_pattern(v, n);
            EXPECT(check_pattern(v, n), "valloc(%zu) content", n);
            free(v);
        }
        void *pv = pvalloc(tu_opaque(n));
        EXPECT(pv != NULL, "pvalloc(%zu)", n);
        if (pv) {
            size_t rounded = (n + page - 1) / page * page;
            EXPECT_ALIGNED(pv, page);
            EXPECT(malloc_usable_size(pv) >= rounded, "pvalloc(%zu): usable %zu < %zu", n,
                   malloc_usable_size(pv), rounded);
            fill_pattern(pv, rounded);
            EXPECT(check_pattern(pv, rounded), "pvalloc(%zu) content", n);
            free(pv);
        }
    }
}

static void realloc_layout_keeps_alignment(void)
{
    static const size_t aligns[] = {16, 64, 256, 4096, 65536, 1 << 20};
    static const size_t steps[] = {100, 2000, 300000, 2 << 20, 5000, 50, 1024, 1025, 0, 700};
    for (size_t ai = 0; ai < sizeof aligns / sizeof aligns[0]; ai++) {
        size_t a = aligns[ai];
        size_t old = 24;
        unsigned char *p = hak_alloc(old, a);
        EXPECT(p != NULL, "hak_alloc(%zu, %zu)", old, a);
        if (!p) continue;
        uint64_t seed = 100 + ai;
        fill_seq(p, 0, old, seed);
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            size_t n = steps[i];
            unsigned char *q = hak_realloc_layout(p, old, tu_opaque(a), tu_opaque(n));
            EXPECT(q != NULL, "hak_realloc_layout(%zu -> %zu, align %zu) returned NULL", old, n, a);
            if (!q) break;
            EXPECT(((uintptr_t)tu_launder(q) & (a - 1)) == 0,
                   "hak_realloc_layout(%zu -> %zu, align %zu) = %p lost the alignment", old, n, a,
                   (void *)q);
            if (n == 0) n = 1; /* new_size 0 is treated as 1 */
            EXPECT_GE(hak_usable_size(q), n);
            size_t keep = min_sz(old, n);
            size_t bad = check_seq(q, 0, keep, seed);
            EXPECT(bad == SIZE_MAX, "hak_realloc_layout(%zu -> %zu, align %zu): byte %zu changed",
                   old, n, a, bad);
            seed += 1000;
            fill_seq(q, 0, n, seed);
            p = q;
            old = n;
        }
        hak_dealloc(p, old, a);
    }
}

/* ---- free --------------------------------------------------------------------------------------- */

static void free_null_does_nothing(void)
{
    errno = 4321;
    free(NULL);
    free_sized(NULL, 0);
    free_sized(NULL, 100);
    free_aligned_sized(NULL, 64, 100);
    hak_free(NULL);
    hak_free_sized(NULL, 16);
    hak_dealloc(NULL, 16, 16);
    EXPECT_EQ(errno, 4321);
    /* Still working afterwards. */
    void *p = malloc(10);
    EXPECT_NOT_NULL(p);
    free(p);
}

static void free_keeps_errno(void)
{
    size_t sizes[] = {24, 1000, 5000, 200000, MID_MAX + 1, 3 << 20, 40 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int how = 0; how < 4; how++) {
            void *p = how == 3 ? hak_alloc(n, 64) : malloc(n);
            EXPECT_NOT_NULL(p);
            if (!p) continue;
            memset(tu_launder(p), 3, n);
            errno = 1234;
            switch (how) {
            case 0: free(p); break;
            case 1: hak_free(p); break;
            case 2: free_sized(p, n); break;
            default: hak_dealloc(p, n, 64); break;
            }
            static const char *const how_name[] = {"free", "hak_free", "free_sized", "hak_dealloc"};
            EXPECT(errno == 1234, "%s of a %zu-byte block changed errno to %d", how_name[how], n, errno);
        }
    }
    /* Freeing many at once makes the thread cache flush: errno still kept. */
    static void *many[4096];
    for (int i = 0; i < 4096; i++) many[i] = malloc(32 + (size_t)(i % 7) * 16);
    errno = 1234;
    for (int i = 0; i < 4096; i++) free(many[i]);
    EXPECT(errno == 1234, "freeing 4096 blocks changed errno to %d", errno);
    errno = 1234;
    free(NULL);
    EXPECT(errno == 1234, "free(NULL) changed errno to %d", errno);
}

static void free_sized_variants(void)
{
    size_t sizes[] = {1, 48, 1024, 1025, 70000, MID_MAX + 1, 2 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        EXPECT_NOT_NULL(p);
        if (p) free_sized(p, n);
        p = malloc(n);
        EXPECT_NOT_NULL(p);
        if (p) hak_free_sized(p, malloc_usable_size(p)); /* any size up to the usable size */
        p = aligned_alloc(4096, n);
        EXPECT_NOT_NULL(p);
        if (p) {
            EXPECT_ALIGNED(p, 4096);
            free_aligned_sized(p, 4096, n);
        }
    }
    /* The memory is reusable afterwards. */
    void *q = malloc(48);
    EXPECT_NOT_NULL(q);
    free(q);
}

/* ---- ownership ------------------------------------------------------------------------------------- */

static char static_array[4096];

static void owns_only_live_hakmem_blocks(void)
{
    /* TU_FILLS(MID_MAX): the largest class's block in either build. */
    size_t sizes[] = {16, 1000, 5000, TU_FILLS(MID_MAX), MID_MAX + 1, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = malloc(n);
        EXPECT_NOT_NULL(p);
        if (!p) continue;
        EXPECT(hak_owns(p) == 1, "hak_owns(malloc(%zu)) = %d", n, hak_owns(p));
        /* The header's contract: an interior address answers 1 in the slab
         * tiers and 0 for a large block (only its start is registered). */
        int want = n <= TU_FILLS(MID_MAX) ? 1 : 0;
        EXPECT(hak_owns(p + n / 2) == want, "hak_owns(interior of malloc(%zu)) = %d, want %d", n,
               hak_owns(p + n / 2), want);
        free(p);
    }
    /* A large block is a mapping of its own: once freed it is not a block. */
    char *big = malloc(4 << 20);
    EXPECT_NOT_NULL(big);
    void *was = tu_launder(big); /* the address, kept past the free */
    free(big);
    EXPECT(hak_owns(was) == 0, "hak_owns(freed large block %p) = 1", was);

    char stack_var[64];
    EXPECT_EQ(hak_owns(NULL), 0);
    EXPECT(hak_owns(tu_launder(stack_var)) == 0, "hak_owns(stack address)");
    EXPECT(hak_owns(static_array) == 0, "hak_owns(static array)");
    EXPECT(hak_owns(static_array + 100) == 0, "hak_owns(static array + 100)");
    EXPECT(hak_owns((void *)hak_owns) == 0, "hak_owns(a function's address)");
    EXPECT(hak_owns((void *)1) == 0, "hak_owns((void *)1)");
    EXPECT(hak_owns((void *)16) == 0, "hak_owns((void *)16)");
    EXPECT(hak_owns((void *)UINTPTR_MAX) == 0, "hak_owns((void *)UINTPTR_MAX)");
    EXPECT(hak_owns((void *)(UINTPTR_MAX & ~(uintptr_t)0xffff)) == 0, "hak_owns(top 64 KiB)");
    EXPECT(hak_owns((void *)(uintptr_t)0xffff800000000000ull) == 0, "hak_owns(kernel half)");
    EXPECT(hak_owns((void *)(uintptr_t)0x00007ffffffff000ull) == 0, "hak_owns(top of user space)");
    size_t len = 1 << 20;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(m != MAP_FAILED, "mmap");
    if (m != MAP_FAILED) {
        EXPECT(hak_owns(m) == 0, "hak_owns(mmap'ed %p)", (void *)m);
        EXPECT(hak_owns(m + 4096) == 0, "hak_owns(mmap'ed + 4096)");
        EXPECT(hak_owns(m + 65536) == 0, "hak_owns(mmap'ed + 64 KiB)");
        munmap(m, len);
    }
    /* Blocks above the large region's cap (64 MiB by default) or aligned
     * above a page are mappings of their own ("direct"). While none is live,
     * a pointer outside the region is refused without a registry lookup;
     * while one is, the lookup answers. Both ways, for blocks and for a
     * foreign mapping. */
    char *f = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(f != MAP_FAILED, "mmap");
    if (f != MAP_FAILED) EXPECT(hak_owns(f) == 0, "hak_owns(mmap'ed %p), no direct block live", (void *)f);
    void *direct[2] = {malloc((size_t)80 << 20), aligned_alloc((size_t)2 << 20, (size_t)3 << 20)};
    for (int i = 0; i < 2; i++) {
        EXPECT_NOT_NULL(direct[i]);
        if (direct[i]) EXPECT(hak_owns(direct[i]) == 1, "hak_owns(direct block %d) = 0", i);
    }
    if (f != MAP_FAILED) {
        EXPECT(hak_owns(f) == 0, "hak_owns(mmap'ed %p), direct blocks live", (void *)f);
        EXPECT(hak_free_if_owned(f) == 0, "hak_free_if_owned(mmap'ed %p) freed it", (void *)f);
    }
    for (int i = 0; i < 2; i++) {
        void *gone = tu_launder(direct[i]);
        EXPECT(hak_free_if_owned(direct[i]) == 1, "hak_free_if_owned(direct block %d) = 0", i);
        EXPECT(hak_owns(gone) == 0, "hak_owns(freed direct block %d) = 1", i);
    }
    if (f != MAP_FAILED) {
        EXPECT(hak_free_if_owned(f) == 0, "hak_free_if_owned(mmap'ed %p) freed it", (void *)f);
        munmap(f, len);
    }
    /* Any value is safe to ask about: garbage near live blocks and anywhere. */
    char *live = malloc(100);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x = tu_mix64(x + (uint64_t)i);
        uintptr_t v = (i & 1) ? (uintptr_t)x : (uintptr_t)live + (uintptr_t)((x & 0xffffff) - 0x800000);
        (void)hak_owns((void *)v);
    }
    EXPECT(hak_owns(live) == 1, "live block owned after the garbage queries");
    free(live);
}

/* hak_free_if_owned frees exactly what hak_owns claims, and leaves the rest. */
static void free_if_owned_frees_only_hakmem_blocks(void)
{
    size_t sizes[] = {1, 64, 1000, 5000, TU_FILLS(MID_MAX), MID_MAX + 1, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        struct hak_stats a, b;
        char *p = malloc(n);
        EXPECT_NOT_NULL(p);
        if (!p) continue;
        memset(tu_launder(p), 1, n);
        EXPECT_EQ(hak_stats_get(&a, sizeof a), 0);
        void *was = tu_launder(p);
        EXPECT(hak_free_if_owned(p) == 1, "hak_free_if_owned(malloc(%zu)) did not free it", n);
        EXPECT_EQ(hak_stats_get(&b, sizeof b), 0);
        EXPECT(b.bytes_in_use + n <= a.bytes_in_use,
               "hak_free_if_owned(malloc(%zu)): bytes_in_use %llu -> %llu, expected a drop of >= %zu", n,
               (unsigned long long)a.bytes_in_use, (unsigned long long)b.bytes_in_use, n);
        if (n > MID_MAX) EXPECT(!hak_owns(was), "large block %p still owned after hak_free_if_owned", was);
    }
    void *h = hak_alloc(200, 64);
    EXPECT_NOT_NULL(h);
    if (h) EXPECT(hak_free_if_owned(h) == 1, "hak_free_if_owned(hak_alloc(200, 64))");

    /* Not hakmem's: 0, and the memory is left as it was. */
    char stack_var[64];
    memset(stack_var, 7, sizeof stack_var);
    EXPECT_EQ(hak_free_if_owned(NULL), 0);
    EXPECT(hak_free_if_owned(tu_launder(stack_var)) == 0, "hak_free_if_owned(stack address)");
    EXPECT(stack_var[0] == 7 && stack_var[8] == 7 && stack_var[63] == 7, "a stack array was written");
    EXPECT(hak_free_if_owned(static_array) == 0, "hak_free_if_owned(static array)");
    EXPECT(hak_free_if_owned((void *)(uintptr_t)0xffff800000000000ull) == 0, "hak_free_if_owned(kernel half)");
    size_t len = 1 << 20;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(m != MAP_FAILED, "mmap");
    if (m != MAP_FAILED) {
        memset(m, 9, 4096);
        EXPECT(hak_free_if_owned(m) == 0, "hak_free_if_owned(mmap'ed %p)", (void *)m);
        EXPECT(hak_free_if_owned(m + 16) == 0, "hak_free_if_owned(mmap'ed + 16)");
        EXPECT(m[0] == 9 && m[8] == 9 && m[16] == 9 && m[24] == 9, "an mmap'ed page was written");
        munmap(m, len);
    }
}

/* ---- statistics -------------------------------------------------------------------------------------- */

static void *stat_blocks[1104];

static void stats_get(void)
{
    struct hak_stats s;
    errno = 0;
    EXPECT_EQ(hak_stats_get(NULL, sizeof s), -1);
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(hak_stats_get(&s, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(hak_stats_get(&s, offsetof(struct hak_stats, version) + 3), -1);
    EXPECT_EQ(errno, EINVAL);

    /* Only the first two fields asked for: nothing past them is written. */
    const size_t two = offsetof(struct hak_stats, version) + sizeof s.version;
    memset(&s, 0xab, sizeof s);
    EXPECT_EQ(hak_stats_get(&s, two), 0);
    EXPECT_EQ(s.version, HAK_STATS_VERSION);
    EXPECT(s.size <= sizeof s && s.size >= two, "size %zu after asking for %zu bytes", s.size, two);
    const unsigned char *raw = (const unsigned char *)&s;
    int beyond = 0;
    for (size_t i = two; i < sizeof s; i++) beyond += raw[i] != 0xab;
    EXPECT(beyond == 0, "hak_stats_get(&s, %zu) wrote %d bytes past the size given", two, beyond);

    /* A caller with a larger (newer) struct: the library fills what it knows. */
    static unsigned char bigger[sizeof(struct hak_stats) + 64];
    memset(bigger, 0xcd, sizeof bigger);
    EXPECT_EQ(hak_stats_get((struct hak_stats *)(void *)bigger, sizeof bigger), 0);
    struct hak_stats bs;
    memcpy(&bs, bigger, sizeof bs);
    EXPECT_EQ(bs.size, sizeof(struct hak_stats));
    EXPECT_EQ(bs.version, HAK_STATS_VERSION);
    int tail = 0;
    for (size_t i = sizeof(struct hak_stats); i < sizeof bigger; i++) tail += bigger[i] != 0xcd;
    EXPECT(tail == 0, "hak_stats_get wrote %d bytes past its own struct", tail);

    struct hak_stats a, b, c;
    EXPECT_EQ(hak_stats_get(&a, sizeof a), 0);
    EXPECT_EQ(a.size, sizeof a);
    EXPECT_EQ(a.version, HAK_STATS_VERSION);
    const char *env = getenv("HAKMEM_STATS"), *env2 = getenv("HAKMEM_FREE_ROUTE_TRACE");
    int want_enabled = (env && strcmp(env, "1") == 0) || (env2 && strcmp(env2, "1") == 0);
    EXPECT_EQ(a.stats_enabled, (uint32_t)want_enabled);

    /* N bytes in 1000 tiny, 100 mid and 4 large live blocks. */
    size_t total = 0;
    int k = 0;
    for (int i = 0; i < 1000; i++, k++) total += 100, stat_blocks[k] = malloc(100);
    for (int i = 0; i < 100; i++, k++) total += 10000, stat_blocks[k] = malloc(10000);
    for (int i = 0; i < 4; i++, k++) total += 1 << 20, stat_blocks[k] = malloc(1 << 20);
    for (int i = 0; i < k; i++) EXPECT_NOT_NULL(stat_blocks[i]);
    EXPECT_EQ(hak_stats_get(&b, sizeof b), 0);
    EXPECT(b.bytes_in_use >= a.bytes_in_use + total,
           "bytes_in_use %llu -> %llu after allocating %zu bytes", (unsigned long long)a.bytes_in_use,
           (unsigned long long)b.bytes_in_use, total);
    EXPECT(b.large_blocks >= a.large_blocks + 4, "large_blocks %llu -> %llu after 4 large mallocs",
           (unsigned long long)a.large_blocks, (unsigned long long)b.large_blocks);
    EXPECT(b.large_bytes >= a.large_bytes + (4u << 20), "large_bytes %llu -> %llu",
           (unsigned long long)a.large_bytes, (unsigned long long)b.large_bytes);
    EXPECT(b.bytes_committed >= b.bytes_in_use, "committed %llu < in use %llu",
           (unsigned long long)b.bytes_committed, (unsigned long long)b.bytes_in_use);
    EXPECT(b.bytes_committed_peak >= b.bytes_committed, "committed peak %llu < committed %llu",
           (unsigned long long)b.bytes_committed_peak, (unsigned long long)b.bytes_committed);
    /* Committed memory lies in reserved space (spans, the large region) or
     * in mappings of its own (direct large blocks). */
    EXPECT(b.bytes_reserved + b.bytes_mapped >= b.bytes_committed,
           "reserved %llu + mapped %llu < committed %llu", (unsigned long long)b.bytes_reserved,
           (unsigned long long)b.bytes_mapped, (unsigned long long)b.bytes_committed);
    EXPECT(b.bytes_reserved >= ((uint64_t)16 << 20), "bytes_reserved %llu: the arena is not counted",
           (unsigned long long)b.bytes_reserved);
    EXPECT(b.bytes_mapped < b.bytes_reserved, "bytes_mapped %llu counts the reservations (reserved %llu)",
           (unsigned long long)b.bytes_mapped, (unsigned long long)b.bytes_reserved);
    EXPECT(b.version == HAK_STATS_VERSION && b.size == sizeof b, "version %u size %zu",
           (unsigned)b.version, b.size);
    for (int i = 0; i < k; i++) free(stat_blocks[i]);
    EXPECT_EQ(hak_stats_get(&c, sizeof c), 0);
    EXPECT(c.bytes_in_use <= a.bytes_in_use + total / 10,
           "bytes_in_use %llu -> %llu -> %llu: did not fall back after freeing %zu bytes",
           (unsigned long long)a.bytes_in_use, (unsigned long long)b.bytes_in_use,
           (unsigned long long)c.bytes_in_use, total);
    EXPECT(c.large_blocks + 4 <= b.large_blocks, "large_blocks %llu -> %llu after 4 large frees",
           (unsigned long long)b.large_blocks, (unsigned long long)c.large_blocks);

    /* The printed report goes to the fd given. */
    FILE *t = tmpfile();
    EXPECT_NOT_NULL(t);
    if (t) {
        hak_stats_print(fileno(t));
        off_t len = lseek(fileno(t), 0, SEEK_END);
        EXPECT(len > 0, "hak_stats_print wrote %lld bytes", (long long)len);
        fclose(t);
    }
}

/* ---- maintenance ------------------------------------------------------------------------------------- */

static void *keep_blocks[64];

static void collect_then_allocate(void)
{
    /* Live blocks of every tier must survive hak_collect. */
    for (int i = 0; i < 64; i++) {
        size_t n = (i % 3 == 0) ? 40 : (i % 3 == 1) ? 20000 : (size_t)MID_MAX + 1 + (size_t)i * 4096;
        keep_blocks[i] = malloc(n);
        if (keep_blocks[i]) fill_pattern(keep_blocks[i], n);
    }
    /* Plenty of freed memory for it to release. */
    static void *junk[2048];
    for (int i = 0; i < 2048; i++) junk[i] = malloc(16 + (size_t)(i % 64) * 512);
    for (int i = 0; i < 2048; i++) free(junk[i]);
    void *l = malloc(32 << 20);
    free(l);
    size_t released = hak_collect();
    printf("     hak_collect released %zu bytes\n", released);
    (void)hak_collect(); /* twice in a row is fine */
    for (int i = 0; i < 64; i++) {
        size_t n = (i % 3 == 0) ? 40 : (i % 3 == 1) ? 20000 : (size_t)MID_MAX + 1 + (size_t)i * 4096;
        EXPECT(keep_blocks[i] && check_pattern(keep_blocks[i], n),
               "live block %d (%zu bytes) damaged by hak_collect", i, n);
    }
    int f_null = 0;
    for (int i = 0; i < 2048; i++) {
        junk[i] = malloc(16 + (size_t)(i % 64) * 512);
        EXPECT_LOOP(f_null, junk[i] != NULL, "malloc after hak_collect");
        if (junk[i]) fill_pattern(junk[i], 16 + (size_t)(i % 64) * 512);
    }
    for (int i = 0; i < 2048; i++) {
        if (junk[i]) EXPECT(check_pattern(junk[i], 16 + (size_t)(i % 64) * 512), "block %d", i);
        free(junk[i]);
    }
    for (int i = 0; i < 64; i++) free(keep_blocks[i]);
    l = malloc(32 << 20);
    EXPECT_NOT_NULL(l);
    if (l) touch_block(l, 32 << 20);
    free(l);
}

/* A cached large mapping up to 3 times the request is reused whole, so that
 * a buffer growing again by realloc (CPython's json encoder, every document)
 * stays within pages that are resident already: no tail unmapped only to be
 * faulted back in. */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* A large block freed and asked for again smaller, then grown back: the
 * freed pages stay resident and the block grows in place over them, so the
 * regrowth neither moves nor faults (the large tier splits a free range and
 * keeps the rest; it used to cut a cached mapping down and fault it back). */
static void large_regrow_reuses_resident_pages(void)
{
    const size_t big = 600 << 10, small = 290 << 10;
    hak_collect(); /* an empty large cache */
    char *p = malloc(big);
    EXPECT_NOT_NULL(p);
    if (p == NULL) return;
    memset(p, 1, big);
    free(p);
    char *q = malloc(small);
    EXPECT_NOT_NULL(q);
    if (q == NULL) return;
    long before = minor_faults();
    char *r = realloc(q, big);
    EXPECT_NOT_NULL(r);
    if (r == NULL) {
        free(q);
        return;
    }
    memset(r, 2, big);
    long faults = minor_faults() - before;
    EXPECT(r == q, "grew by moving");
    EXPECT(faults < 16, "%ld page faults to grow over resident pages", faults);
    free(r);
}

static void mallinfo2_and_malloc_trim(void)
{
    static void *live[300];
    for (int i = 0; i < 300; i++) live[i] = malloc(1000);
    struct mallinfo2 mi = mallinfo2();
    EXPECT(mi.uordblks > 0, "mallinfo2().uordblks is 0 with 300 KB in live blocks");
    EXPECT(mi.uordblks >= 300 * 1000, "mallinfo2().uordblks = %zu with 300000 bytes live",
           mi.uordblks);
    for (int i = 0; i < 300; i++) fill_pattern(live[i], 1000);
    for (int i = 0; i < 150; i++) free(live[i]);
    int r = malloc_trim(0);
    EXPECT(r == 0 || r == 1, "malloc_trim(0) returned %d", r);
    for (int i = 150; i < 300; i++)
        EXPECT(check_pattern(live[i], 1000), "live block %d damaged by malloc_trim", i);
    for (int i = 0; i < 150; i++) {
        live[i] = malloc(1000);
        EXPECT_NOT_NULL(live[i]);
    }
    for (int i = 0; i < 300; i++) free(live[i]);

    /* malloc_stats prints to stderr; it must write something and not crash. */
    fflush(stderr);
    int saved = dup(2);
    FILE *t = tmpfile();
    if (saved >= 0 && t) {
        dup2(fileno(t), 2);
        malloc_stats();
        fflush(stderr);
        dup2(saved, 2);
        off_t len = lseek(fileno(t), 0, SEEK_END);
        EXPECT(len > 0, "malloc_stats() printed nothing");
    }
    if (t) fclose(t);
    if (saved >= 0) close(saved);
}

static void reallocarray_works(void)
{
    int *a = reallocarray(NULL, 10, sizeof(int));
    EXPECT_NOT_NULL(a);
    if (!a) return;
    for (int i = 0; i < 10; i++) a[i] = i * 7;
    int *b = reallocarray(a, 100000, sizeof(int));
    EXPECT_NOT_NULL(b);
    if (!b) {
        free(a);
        return;
    }
    int ok = 1;
    for (int i = 0; i < 10; i++) ok &= b[i] == i * 7;
    EXPECT(ok, "reallocarray lost the content");
    free(b);
}

int main(void)
{
    printf("test_api: hakmem %s (ABI %d)\n", hak_version(), hak_abi_version());
    TU_RUN(version_and_abi);
    TU_RUN(alignment_malloc_every_size_to_8192);
    TU_RUN(alignment_sample_to_64mib);
    TU_RUN(usable_size_at_least_request);
    TU_RUN(realloc_keeps_content_across_tiers);
    TU_RUN(hak_realloc_keeps_content_across_tiers);
    TU_RUN(realloc_null_is_malloc);
    TU_RUN(realloc_zero_frees);
    TU_RUN(calloc_zeroes);
    TU_RUN(overflow_gives_null_enomem);
    TU_RUN(posix_memalign_einval);
    TU_RUN(malloc_zero_unique);
    TU_RUN(aligned_every_power_of_two);
    TU_RUN(valloc_pvalloc_page_aligned);
    TU_RUN(realloc_layout_keeps_alignment);
    TU_RUN(realloc_tiny_steps);
    TU_RUN(free_null_does_nothing);
    TU_RUN(free_keeps_errno);
    TU_RUN(free_sized_variants);
    TU_RUN(owns_only_live_hakmem_blocks);
    TU_RUN(free_if_owned_frees_only_hakmem_blocks);
    TU_RUN(stats_get);
    TU_RUN(collect_then_allocate);
    TU_RUN(large_regrow_reuses_resident_pages);
    TU_RUN(mallinfo2_and_malloc_trim);
    TU_RUN(reallocarray_works);
    return tu_finish("test_api");
}
