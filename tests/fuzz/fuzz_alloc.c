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
 * First-class heaps ride on the same bytes, so that every input found before
 * them still means what it meant: op bytes 252..255 (which were ops 0..3)
 * make the same allocation in heap slot % 3 + 1 (hak_heap_alloc, _zeroed);
 * the slot byte's top two bits, which the slot number ignores, pick heap
 * variants of ops that had no use for them: a sized free (op 8) or layout
 * realloc (op 6) of a heap block goes through hak_heap_dealloc /
 * hak_heap_realloc, and a collect (op 10) also destroys heap (bits - 1),
 * blocks and all. Stats (op 11) also check every heap's visit count and
 * hak_heap_stats against the model.
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
    int heap;     /* 0: the default heap; else heaps[heap] */
};

static struct slot slots[SLOTS];
#define HEAPS 4 /* heaps[1..3] */
static hak_heap_t *heaps[HEAPS];
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
    if (s->heap && s->layout) hak_heap_dealloc(heaps[s->heap], s->p, s->size, s->align);
    else if (s->layout) hak_dealloc(s->p, s->size, s->align);
    else hak_free(s->p);
    s->p = NULL;
}

static hak_heap_t *heap_for(int k)
{
    if (heaps[k] == NULL && (heaps[k] = hak_heap_new()) == NULL) {
        fprintf(stderr, "fuzz_alloc: hak_heap_new failed\n");
        abort();
    }
    return heaps[k];
}

static int count_block(void *block, size_t usable, void *arg)
{
    size_t *n = arg;
    n[0]++;
    if (usable < hak_usable_size(block)) n[1]++; /* visit and usable size disagree */
    return 0;
}

/* Every heap's live blocks are the model's, no more, no fewer. */
static void check_heaps(void)
{
    for (int k = 1; k < HEAPS; k++) {
        if (heaps[k] == NULL) continue;
        size_t want = 0, seen[2] = {0, 0};
        for (int i = 0; i < SLOTS; i++) want += slots[i].p != NULL && slots[i].heap == k;
        if (hak_heap_visit(heaps[k], count_block, seen) != 0 || seen[0] != want || seen[1] != 0) {
            fprintf(stderr, "fuzz_alloc: heap %d: visit saw %zu blocks (%zu bad), the model has %zu\n",
                    k, seen[0], seen[1], want);
            abort();
        }
        struct hak_stats st;
        if (hak_heap_stats(heaps[k], &st, sizeof st) != 0 || (want == 0) != (st.bytes_in_use == 0)) {
            fprintf(stderr, "fuzz_alloc: heap %d: stats say %llu bytes in use for %zu blocks\n", k,
                    (unsigned long long)st.bytes_in_use, want);
            abort();
        }
    }
}

/* Destroys heap k with its blocks (they leave the model unfreed). */
static void destroy_heap(int k)
{
    if (heaps[k] == NULL) return;
    check_heaps();
    hak_heap_destroy(heaps[k]);
    heaps[k] = NULL;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].heap == k) {
            slots[i].p = NULL;
            slots[i].heap = 0;
        }
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
        unsigned opb = rd8(&r), op = opb % 12;
        unsigned sb = rd8(&r);
        struct slot *s = &slots[sb % SLOTS];
        int heap = opb >= 252 ? (int)(sb % SLOTS) % 3 + 1 : 0; /* ops 0..3 into a heap */
        unsigned variant = sb >> 6;                              /* bits the slot ignores */
        size_t n, a;
        switch (op) {
        case 0: /* malloc */
        case 1: /* calloc */
            release(s);
            n = rd_size(&r);
            errno = 0;
            if (heap)
                s->p = op == 0 ? hak_heap_alloc(heap_for(heap), n, 16)
                               : hak_heap_alloc_zeroed(heap_for(heap), n, 16);
            else
                s->p = op == 0 ? hak_malloc(n) : hak_calloc(1, n);
            s->heap = s->p != NULL ? heap : 0;
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
            if (heap)
                s->p = op == 2 ? hak_heap_alloc(heap_for(heap), n, a)
                               : hak_heap_alloc_zeroed(heap_for(heap), n, a);
            else
                s->p = op == 2 ? hak_alloc(n, a) : hak_alloc_zeroed(n, a);
            s->heap = s->p != NULL ? heap : 0;
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
            s->heap = 0;
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
            } else if (s->heap && variant) {
                q = hak_heap_realloc(heaps[s->heap], s->p, s->size, s->align ? s->align : 16, n);
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
            if (s->heap && variant) hak_heap_dealloc(heaps[s->heap], s->p, s->size, s->align ? s->align : 16);
            else if (s->layout) hak_dealloc(s->p, s->size, s->align);
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
            s->heap = 0;
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
        case 10: /* collect, with blocks live; maybe a heap destroyed */
            hak_collect();
            if (variant) destroy_heap((int)variant);
            break;
        case 11: { /* stats and ownership queries never disturb anything */
            struct hak_stats st;
            if (hak_stats_get(&st, sizeof st) != 0) fail("hak_stats_get failed", s, 0);
            uintptr_t junk = (uintptr_t)rd8(&r) << (rd8(&r) % 48);
            (void)hak_owns((void *)junk);
            if (s->p && !hak_owns(s->p)) fail("hak_owns denies a live block", s, 0);
            check_heaps();
            break;
        }
        }
    }
    check_heaps();
    /* Half the inputs free everything, half leave it to destroy. */
    if (size % 2 == 0)
        for (int i = 0; i < SLOTS; i++) release(&slots[i]);
    for (int k = 1; k < HEAPS; k++) destroy_heap(k);
    for (int i = 0; i < SLOTS; i++) release(&slots[i]);
    return 0;
}
