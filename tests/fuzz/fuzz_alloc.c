/* fuzz_alloc.c: libFuzzer target over every allocation entry point.
 *
 * The input is read as a program: each step is one byte of opcode, one byte
 * of slot (64 slots) and, where needed, two or three bytes of size and one of
 * alignment. A shadow model remembers each live block's size, alignment and
 * the seed of the bytes written into it; before every free and realloc the
 * block's bytes are checked against the model, and every result is checked
 * against the API's contract (alignment, usable size, zeroed memory, content
 * kept across realloc, NULL only with ENOMEM). Any difference aborts, which
 * libFuzzer reports as a crash with its input.
 *
 * Built two ways (Makefile.am): with clang's -fsanitize=fuzzer (`make fuzz`),
 * and with tests/fuzz/replay.c as a plain program that `make check` runs over
 * the seed corpus and every crash input ever found (tests/fuzz/regress/).
 * It uses the hak_* API, so neither build replaces the process allocator.
 */
#include <errno.h>
#include <hakmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 64

struct slot {
    unsigned char *p;
    size_t size;  /* bytes the model knows the content of */
    size_t align; /* 0: malloc family (16), else the layout's alignment */
    uint64_t seed;
    int layout;   /* allocated through hak_alloc*: free with hak_dealloc */
};

static struct slot slots[SLOTS];
static uint64_t next_seed = 1;

static void fail(const char *what, const struct slot *s, size_t at)
{
    fprintf(stderr, "fuzz_alloc: %s (block %p, size %zu, align %zu, offset %zu)\n", what,
            (void *)s->p, s->size, s->align, at);
    abort();
}

static unsigned char byte_at(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + i * 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

/* Writing every byte of a multi-MiB block on every step would make the
 * fuzzer slow; the first and last 4 KiB and one byte per page are enough to
 * see a block that overlaps another or lost its content. next_sample gives
 * the sampled offsets of an n-byte block in order (n when done). */
static size_t next_sample(size_t i, size_t n)
{
    i++;
    if (i < 4096 || i + 4096 >= n) return i < n ? i : n;
    size_t page = (i - 123 + 4095) & ~(size_t)4095; /* next offset 123 mod 4096 */
    size_t j = page + 123;
    if (j < i) j += 4096;
    return j + 4096 < n ? j : (n > 4096 ? n - 4096 : n);
}

#define FOR_SAMPLES(i, n) for (size_t i = 0; i < (n); i = next_sample(i, (n)))

static void fill(struct slot *s)
{
    s->seed = next_seed++;
    FOR_SAMPLES(i, s->size) s->p[i] = byte_at(s->seed, i);
}

/* Checks the bytes fill() wrote into a block of s->size bytes, below upto. */
static void check(const struct slot *s, size_t upto)
{
    FOR_SAMPLES(i, s->size) {
        if (i >= upto) break;
        if (s->p[i] != byte_at(s->seed, i)) fail("content changed", s, i);
    }
}

static void check_zero(const struct slot *s)
{
    FOR_SAMPLES(i, s->size) if (s->p[i] != 0) fail("zeroed allocation not zero", s, i);
}

static void check_new(const struct slot *s, size_t request)
{
    size_t a = s->align > 16 ? s->align : 16;
    if (((uintptr_t)s->p & (a - 1)) != 0) fail("misaligned block", s, 0);
    if (hak_usable_size(s->p) < request) fail("usable size below the request", s, 0);
    if (!hak_owns(s->p)) fail("hak_owns denies a live block", s, 0);
}

static void release(struct slot *s)
{
    if (s->p == NULL) return;
    check(s, s->size);
    if (s->layout) hak_dealloc(s->p, s->size, s->align);
    else hak_free(s->p);
    s->p = NULL;
}

struct reader {
    const uint8_t *d;
    size_t n, at;
};

static unsigned rd8(struct reader *r) { return r->at < r->n ? r->d[r->at++] : 0; }

/* Mostly small sizes, sometimes mid, rarely large (up to 1 MiB). */
static size_t rd_size(struct reader *r)
{
    unsigned kind = rd8(r);
    unsigned lo = rd8(r), hi = rd8(r);
    size_t v = (size_t)lo | (size_t)hi << 8;
    if (kind < 160) return v % 1100;
    if (kind < 240) return v * 4 % (300u << 10);
    return ((size_t)rd8(r) << 16 | v) % (1u << 20);
}

static size_t rd_align(struct reader *r) { return (size_t)1 << (rd8(r) % 22); } /* up to 2 MiB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size, 0};
    while (r.at < r.n) {
        unsigned op = rd8(&r) % 12;
        struct slot *s = &slots[rd8(&r) % SLOTS];
        size_t n, a;
        switch (op) {
        case 0: /* malloc */
        case 1: /* calloc */
            release(s);
            n = rd_size(&r);
            errno = 0;
            s->p = op == 0 ? hak_malloc(n) : hak_calloc(1, n);
            if (s->p == NULL) {
                if (errno != ENOMEM) fail("NULL without ENOMEM", s, 0);
                break;
            }
            s->size = n;
            s->align = 0;
            s->layout = 0;
            check_new(s, n);
            if (op == 1) check_zero(s);
            fill(s);
            break;
        case 2: /* hak_alloc / hak_alloc_zeroed with an alignment */
        case 3:
            release(s);
            n = rd_size(&r);
            a = rd_align(&r);
            s->p = op == 2 ? hak_alloc(n, a) : hak_alloc_zeroed(n, a);
            if (s->p == NULL) break;
            s->size = n;
            s->align = a;
            s->layout = 1;
            check_new(s, n);
            if (op == 3) check_zero(s);
            fill(s);
            break;
        case 4: /* hak_aligned_alloc */
            release(s);
            n = rd_size(&r);
            a = rd_align(&r);
            s->p = hak_aligned_alloc(a, n);
            if (s->p == NULL) break;
            s->size = n;
            s->align = a;
            s->layout = 0;
            check_new(s, n);
            fill(s);
            break;
        case 5: /* realloc: content kept up to the smaller size */
        case 6: { /* hak_realloc_layout keeps the alignment */
            if (s->p == NULL) break;
            n = rd_size(&r);
            if (op == 6 && n == 0) n = 1;
            check(s, s->size);
            unsigned char *q;
            errno = 0;
            if (op == 5 && !s->layout) {
                if (n == 0) { /* glibc's behaviour: frees and returns NULL */
                    q = hak_realloc(s->p, 0);
                    if (q != NULL) fail("realloc(p, 0) returned a block", s, 0);
                    s->p = NULL;
                    break;
                }
                q = hak_realloc(s->p, n);
                if (q != NULL) s->align = 0; /* realloc promises 16-byte alignment only */
            } else {
                q = hak_realloc_layout(s->p, s->size, s->align ? s->align : 16, n);
            }
            if (q == NULL) {
                if (errno != ENOMEM) fail("realloc NULL without ENOMEM", s, 0);
                check(s, s->size); /* the old block is intact */
                break;
            }
            size_t keep = n < s->size ? n : s->size;
            s->p = q;
            check(s, keep); /* what fill() wrote, up to the smaller size */
            s->size = n;
            check_new(s, n);
            fill(s);
            break;
        }
        case 7: /* free */
            release(s);
            break;
        case 8: /* sized free */
            if (s->p == NULL) break;
            check(s, s->size);
            if (s->layout) hak_dealloc(s->p, s->size, s->align);
            else hak_free_sized(s->p, s->size);
            s->p = NULL;
            break;
        case 9: { /* calloc with a product that may overflow */
            release(s);
            size_t x = (size_t)rd8(&r) << (rd8(&r) % 64);
            size_t y = (size_t)rd8(&r) << (rd8(&r) % 64);
            size_t prod;
            errno = 0;
            s->p = hak_calloc(x, y);
            if (__builtin_mul_overflow(x, y, &prod)) {
                if (s->p != NULL || errno != ENOMEM) fail("calloc overflow not refused", s, 0);
                break;
            }
            if (s->p == NULL) break;
            s->size = prod < 4096 ? prod : 4096; /* model only what we check */
            s->align = 0;
            s->layout = 0;
            check_zero(s);
            fill(s);
            break;
        }
        case 10: /* collect, with blocks live */
            hak_collect();
            break;
        case 11: { /* stats and ownership queries never disturb anything */
            struct hak_stats st;
            if (hak_stats_get(&st, sizeof st) != 0) fail("hak_stats_get failed", s, 0);
            uintptr_t junk = (uintptr_t)rd8(&r) << (rd8(&r) % 48);
            (void)hak_owns((void *)junk);
            if (s->p && !hak_owns(s->p)) fail("hak_owns denies a live block", s, 0);
            break;
        }
        }
    }
    for (int i = 0; i < SLOTS; i++) release(&slots[i]);
    return 0;
}
