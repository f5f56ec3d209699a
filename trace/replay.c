/* replay.c: hakmem-replay, the reader of the trace format (format.h).
 *
 *   hakmem-replay info [--json] FILE       what the trace holds (trace-info)
 *   hakmem-replay replay [--fill sparse|full] FILE
 *                                          replays it under this process's malloc
 *
 * Reading. The file's chunks are indexed without inflating them; each
 * recorded thread's chunks are then read in order and merged by seq (a heap
 * of one cursor per thread, a chunk inflated only when its cursor reaches
 * it), so only the chunks in use are in memory. A realloc takes part twice:
 * its release at its first seq, its new block at its second (format.h). In
 * that order a table from pointer to block rebuilds which earlier result each
 * pointer argument is; a pointer the table does not know (a block from before
 * the recording, from a parent process, or not from malloc at all) is an
 * unknown release: counted, and left out of the replay.
 *
 * Replaying. Every recorded thread becomes a replay thread with its calls in
 * order, on numbered slots (a slot is reused only by the thread that freed
 * it, so reuse needs no synchronisation). A call on a block that another
 * thread produced waits until that thread has produced it (each slot counts
 * its versions; the call knows which version it needs): since it waits only
 * for calls with a smaller seq, the call with the smallest seq not yet
 * replayed can always run, and the replay never deadlocks. Threads start in
 * the order they first called, after the threads whose last call came before
 * that have ended, so thread lifetimes overlap as recorded. Every block is
 * stamped when it is produced (its first and last 8 bytes and 8 bytes in each
 * 4 KiB, or every byte with --fill full) and checked before it is resized or
 * freed; a wrong byte, a misaligned block or a calloc block that is not zero
 * counts as an error. The replay runs as fast as it can: the program's own
 * work between calls is not replayed. The replayer's own memory comes from
 * mmap, never from the malloc under test.
 *
 * Exit status: 0, 1 (verification errors or failed allocations in a replay),
 * 2 (usage, or a file that is not a readable trace: the message says why).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench_allocator.h" /* bench/: which allocator runs */
#include "format.h"

static const char *g_file = "";

static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hakmem-replay: %s: ", g_file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---- memory of our own (mmap: the malloc under test serves only the replay) --- */

static void *xmap(size_t n)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "hakmem-replay: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static void xunmap(void *p, size_t n)
{
    if (p != NULL)
        munmap(p, n ? n : 1);
}

/* A growable array in its own mapping. */
struct vec {
    unsigned char *p;
    size_t len, cap; /* in bytes */
};

static void *vec_push(struct vec *v, size_t n)
{
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4096;
        while (cap < v->len + n)
            cap *= 2;
        void *q = v->p == NULL ? xmap(cap) : mremap(v->p, v->cap, cap, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) {
            fprintf(stderr, "hakmem-replay: out of memory (%zu bytes)\n", cap);
            exit(2);
        }
        v->p = q;
        v->cap = cap;
    }
    void *r = v->p + v->len;
    v->len += n;
    return r;
}

/* ---- the file -------------------------------------------------------------------- */

struct chunk {
    size_t off;       /* of the compressed bytes */
    size_t comp_len;  /* what the file holds of them */
    uint32_t raw_len;
    uint32_t crc;
    uint32_t thread;
    int cut;          /* the file ends inside this chunk */
};

struct header {
    uint64_t pid, ppid, start_realtime_ns, forked;
    const unsigned char *cmdline, *malloc_lib, *allocator, *exe, *recorder;
    size_t cmdline_len, malloc_lib_len, allocator_len, exe_len, recorder_len;
};

struct trace {
    const unsigned char *data;
    size_t len;
    struct header h;
    struct vec chunks; /* struct chunk */
    uint32_t nthreads; /* 1 + the largest thread number */
    int truncated;     /* the file ends inside a chunk, or inside a record */
    int complete;      /* an end chunk is the last thing in the file */
    int ends;          /* end chunks seen */
    uint64_t end_threads, end_unrecorded;
};

static void parse_tlv(const unsigned char *p, const unsigned char *end,
                      void (*f)(void *, uint64_t, const unsigned char *, size_t), void *arg)
{
    while (p < end) {
        uint64_t key, len;
        if (!hkt_get_varint(&p, end, &key) || !hkt_get_varint(&p, end, &len) ||
            len > (uint64_t)(end - p))
            fail("corrupt header (a field runs past its end)");
        f(arg, key, p, (size_t)len);
        p += len;
    }
}

static uint64_t tlv_u(const unsigned char *v, size_t n)
{
    uint64_t x = 0;
    const unsigned char *p = v;
    if (!hkt_get_varint(&p, v + n, &x))
        fail("corrupt header (a number)");
    return x;
}

static void header_field(void *arg, uint64_t key, const unsigned char *v, size_t n)
{
    struct header *h = arg;
    switch (key) {
    case HKT_H_PID: h->pid = tlv_u(v, n); break;
    case HKT_H_PPID: h->ppid = tlv_u(v, n); break;
    case HKT_H_START_REALTIME_NS: h->start_realtime_ns = tlv_u(v, n); break;
    case HKT_H_FORKED: h->forked = tlv_u(v, n); break;
    case HKT_H_CMDLINE: h->cmdline = v; h->cmdline_len = n; break;
    case HKT_H_MALLOC_LIB: h->malloc_lib = v; h->malloc_lib_len = n; break;
    case HKT_H_ALLOCATOR: h->allocator = v; h->allocator_len = n; break;
    case HKT_H_EXE: h->exe = v; h->exe_len = n; break;
    case HKT_H_RECORDER: h->recorder = v; h->recorder_len = n; break;
    default: break; /* a later version's field */
    }
}

static void end_field(void *arg, uint64_t key, const unsigned char *v, size_t n)
{
    struct trace *t = arg;
    if (key == HKT_E_THREADS)
        t->end_threads = tlv_u(v, n);
    else if (key == HKT_E_UNRECORDED)
        t->end_unrecorded = tlv_u(v, n);
}

static void trace_open(struct trace *t, const char *path)
{
    memset(t, 0, sizeof *t);
    g_file = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        fail("not a regular file");
    t->len = (size_t)st.st_size;
    if (t->len > 0) {
        void *m = mmap(NULL, t->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            fail("cannot map: %s", strerror(errno));
        t->data = m;
    }
    close(fd);
    if (t->len < HKT_MAGIC_LEN + 8 || memcmp(t->data, HKT_MAGIC, HKT_MAGIC_LEN) != 0) {
        if (t->len >= 8 && memcmp(t->data, "HAKTRACE", 8) == 0)
            fail("a hand-written hakmem.stress.Trace file, not a recording "
                 "(python -m hakmem replay converts it)");
        fail("not a hakmem trace (no trace mark at its start)");
    }
    uint32_t version = hkt_get_u32le(t->data + HKT_MAGIC_LEN);
    uint32_t hlen = hkt_get_u32le(t->data + HKT_MAGIC_LEN + 4);
    if (version != HKT_VERSION)
        fail("trace format version %u; this hakmem-replay reads version %u", version,
             HKT_VERSION);
    const unsigned char *p = t->data + HKT_MAGIC_LEN + 8, *end = t->data + t->len;
    if (hlen > (size_t)(end - p))
        fail("truncated inside its header");
    parse_tlv(p, p + hlen, header_field, &t->h);
    p += hlen;
    /* The chunk index. */
    while (p < end) {
        const unsigned char *start = p;
        unsigned tag = *p++;
        if (tag == HKT_CHUNK_END) {
            uint64_t len;
            if (!hkt_get_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
                t->truncated = 1;
                break;
            }
            parse_tlv(p, p + len, end_field, t);
            p += len;
            t->ends++;
            t->complete = p == end;
            continue;
        }
        if (tag != HKT_CHUNK_RECORDS)
            fail("corrupt: unknown chunk type 0x%02x at offset %zu", tag,
                 (size_t)(start - t->data));
        t->complete = 0;
        uint64_t thread, raw_len, comp_len;
        if (!hkt_get_varint(&p, end, &thread) || !hkt_get_varint(&p, end, &raw_len) ||
            !hkt_get_varint(&p, end, &comp_len) || (size_t)(end - p) < 4) {
            t->truncated = 1; /* the file ends inside a chunk's head */
            break;
        }
        if (raw_len > HKT_MAX_RAW || thread > (1u << 24))
            fail("corrupt: chunk at offset %zu claims %" PRIu64 " bytes of thread %" PRIu64,
                 (size_t)(start - t->data), raw_len, thread);
        struct chunk *c = vec_push(&t->chunks, sizeof *c);
        c->crc = hkt_get_u32le(p);
        p += 4;
        c->off = (size_t)(p - t->data);
        c->raw_len = (uint32_t)raw_len;
        c->thread = (uint32_t)thread;
        if (comp_len > (uint64_t)(end - p)) {
            c->comp_len = (size_t)(end - p);
            c->cut = 1;
            t->truncated = 1;
            p = end;
        } else {
            c->comp_len = (size_t)comp_len;
            p += comp_len;
        }
        if (thread + 1 > t->nthreads)
            t->nthreads = (uint32_t)thread + 1;
    }
}

/* ---- records ----------------------------------------------------------------------- */

struct call {
    unsigned op;
    uint32_t thread;
    uint64_t seq, seq2, time;
    uint64_t size, nmemb, align, old_size, ret, num; /* num: tid or pid of an event */
    uintptr_t ptr, res;
    const unsigned char *bytes;
    size_t nbytes;
};

/* One recorded thread's chunks, read in order. */
struct cursor {
    uint32_t thread;
    uint32_t *chunks; /* indices into the trace's chunks */
    size_t nchunks, next_chunk;
    unsigned char *raw;
    size_t raw_cap, raw_len, pos;
    int raw_cut;      /* this chunk's data ends early: stop at its last whole record */
    uint64_t prev_seq, prev_time;
    uintptr_t prev_ptr;
    int opened;       /* a chunk is inflated and `cur` holds its next record */
    int phase;        /* 2: cur is a realloc whose new block comes next */
    uint64_t key;     /* heap order: cur's seq, or the next chunk's base seq */
    struct call cur;
};

static struct trace *g_t;

/* Inflates chunk c into the cursor. A chunk the file cut short yields what
 * its whole records hold. */
static void cursor_inflate(struct cursor *k, const struct chunk *c)
{
    if (k->raw_cap < c->raw_len + 16) {
        xunmap(k->raw, k->raw_cap);
        k->raw_cap = c->raw_len + 16;
        k->raw = xmap(k->raw_cap);
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        fail("zlib: inflateInit failed");
    z.next_in = (Bytef *)(g_t->data + c->off);
    z.avail_in = (uInt)c->comp_len;
    z.next_out = k->raw;
    z.avail_out = (uInt)c->raw_len;
    int rc = inflate(&z, Z_FINISH);
    size_t got = c->raw_len - z.avail_out;
    inflateEnd(&z);
    if (c->cut) {
        if (rc != Z_BUF_ERROR && rc != Z_STREAM_END && rc != Z_OK)
            fail("corrupt: the last chunk (offset %zu) does not inflate", c->off);
        k->raw_cut = 1;
    } else {
        if (rc != Z_STREAM_END || got != c->raw_len)
            fail("corrupt: chunk at offset %zu does not inflate to its %u bytes", c->off,
                 c->raw_len);
        if ((uint32_t)crc32(0, k->raw, (uInt)got) != c->crc)
            fail("corrupt: chunk at offset %zu fails its checksum", c->off);
        k->raw_cut = 0;
    }
    k->raw_len = got;
    const unsigned char *p = k->raw, *end = k->raw + got;
    if (!hkt_get_varint(&p, end, &k->prev_seq) || !hkt_get_varint(&p, end, &k->prev_time)) {
        if (!k->raw_cut)
            fail("corrupt: chunk at offset %zu has no base", c->off);
        k->raw_len = 0; /* nothing whole in it */
        p = k->raw;
    }
    k->pos = (size_t)(p - k->raw);
    k->prev_ptr = 0;
}

/* Decodes the cursor's next record into cur; 0 at the end of the chunk. */
static int cursor_decode(struct cursor *k)
{
    const unsigned char *p = k->raw + k->pos, *end = k->raw + k->raw_len;
    if (p >= end)
        return 0;
    struct call *c = &k->cur;
    memset(c, 0, sizeof *c);
    c->thread = k->thread;
    unsigned op = *p++;
    uint64_t dseq, dtime;
    uintptr_t prev_ptr = k->prev_ptr;
    if (op == 0 || op > HKT_OP_LAST || hkt_op_names[op] == NULL)
        goto bad;
    c->op = op;
    if (!hkt_get_varint(&p, end, &dseq) || !hkt_get_varint(&p, end, &dtime))
        goto short_;
    c->seq = k->prev_seq + dseq;
    c->time = k->prev_time + dtime;
    for (unsigned i = 0; i < sizeof hkt_op_fields[0] && hkt_op_fields[op][i] != HKT_F_END; i++) {
        uint64_t v;
        if (!hkt_get_varint(&p, end, &v))
            goto short_;
        switch (hkt_op_fields[op][i]) {
        case HKT_F_SIZE: c->size = v; break;
        case HKT_F_NMEMB: c->nmemb = v; break;
        case HKT_F_ALIGN: c->align = v; break;
        case HKT_F_OLD: c->old_size = v; break;
        case HKT_F_PTR: prev_ptr += (uintptr_t)hkt_unzigzag(v); c->ptr = prev_ptr; break;
        case HKT_F_RES: prev_ptr += (uintptr_t)hkt_unzigzag(v); c->res = prev_ptr; break;
        case HKT_F_DSEQ2: c->seq2 = c->seq + v; break;
        case HKT_F_RET: c->ret = v; break;
        case HKT_F_TID: case HKT_F_PID: c->num = v; break;
        case HKT_F_BYTES:
            if (v > (uint64_t)(end - p))
                goto short_;
            c->bytes = p;
            c->nbytes = (size_t)v;
            p += v;
            break;
        }
    }
    if (!hkt_op_is_realloc(op))
        c->seq2 = c->seq;
    k->prev_seq = c->seq2;
    k->prev_time = c->time;
    k->prev_ptr = prev_ptr;
    k->pos = (size_t)(p - k->raw);
    return 1;
short_:
    if (k->raw_cut) {
        g_t->truncated = 1;
        k->raw_len = k->pos; /* the record the crash cut: the chunk ends before it */
        return 0;
    }
bad:
    fail("corrupt: bad record (op %u) in thread %u", op, k->thread);
}

/* ---- the merge ----------------------------------------------------------------------- */

struct merge {
    struct cursor *cursors;
    struct cursor **heap;
    size_t n;
    uint32_t *chunk_idx;
};

static int before(const struct cursor *a, const struct cursor *b)
{
    return a->key < b->key || (a->key == b->key && a->thread < b->thread);
}

static void heap_down(struct merge *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < m->n && before(m->heap[l], m->heap[s]))
            s = l;
        if (r < m->n && before(m->heap[r], m->heap[s]))
            s = r;
        if (s == i)
            return;
        struct cursor *x = m->heap[i];
        m->heap[i] = m->heap[s];
        m->heap[s] = x;
        i = s;
    }
}

static void heap_up(struct merge *m, size_t i)
{
    while (i > 0 && before(m->heap[i], m->heap[(i - 1) / 2])) {
        struct cursor *x = m->heap[i];
        m->heap[i] = m->heap[(i - 1) / 2];
        m->heap[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

/* The base seq of a chunk, without inflating it all: the first bytes of the
 * stream give it. Used as the cursor's key until the chunk is opened: it is
 * at most the seq of the chunk's first record. */
static uint64_t chunk_base_seq(const struct chunk *c)
{
    unsigned char buf[32];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        fail("zlib: inflateInit failed");
    z.next_in = (Bytef *)(g_t->data + c->off);
    z.avail_in = (uInt)c->comp_len;
    z.next_out = buf;
    z.avail_out = sizeof buf;
    inflate(&z, Z_SYNC_FLUSH);
    size_t got = sizeof buf - z.avail_out;
    inflateEnd(&z);
    const unsigned char *p = buf;
    uint64_t v = 0;
    hkt_get_varint(&p, buf + got, &v);
    return v;
}

static void merge_init(struct merge *m, struct trace *t)
{
    g_t = t;
    size_t nchunks = t->chunks.len / sizeof(struct chunk);
    const struct chunk *ch = (const struct chunk *)t->chunks.p;
    m->cursors = xmap(sizeof(struct cursor) * (t->nthreads + 1));
    m->heap = xmap(sizeof(struct cursor *) * (t->nthreads + 1));
    m->chunk_idx = xmap(sizeof(uint32_t) * (nchunks + 1));
    size_t *count = xmap(sizeof(size_t) * (t->nthreads + 1));
    for (size_t i = 0; i < nchunks; i++)
        count[ch[i].thread]++;
    size_t off = 0;
    for (uint32_t th = 0; th < t->nthreads; th++) {
        m->cursors[th].thread = th;
        m->cursors[th].chunks = m->chunk_idx + off;
        off += count[th];
    }
    for (size_t i = 0; i < nchunks; i++) {
        struct cursor *k = &m->cursors[ch[i].thread];
        k->chunks[k->nchunks++] = (uint32_t)i;
    }
    xunmap(count, sizeof(size_t) * (t->nthreads + 1));
    m->n = 0;
    for (uint32_t th = 0; th < t->nthreads; th++) {
        struct cursor *k = &m->cursors[th];
        if (k->nchunks == 0)
            continue;
        k->key = chunk_base_seq(&ch[k->chunks[0]]);
        m->heap[m->n++] = k;
        heap_up(m, m->n - 1);
    }
}

/* The next call in seq order, with its phase: 0 a whole call, 1 a realloc's
 * release, 2 its new block. 0 when the trace is done. */
static int merge_next(struct merge *m, struct call **out, int *phase)
{
    const struct chunk *ch = (const struct chunk *)g_t->chunks.p;
    while (m->n > 0) {
        struct cursor *k = m->heap[0];
        if (k->opened && k->phase == 2) {
            k->phase = 0;
            *out = &k->cur;
            *phase = 2;
            k->opened = 2; /* cur consumed: decode on the next call */
            return 1;
        }
        if (k->opened == 2) {
            k->opened = 1;
            if (cursor_decode(k)) {
                k->key = k->cur.seq;
                heap_down(m, 0);
                continue;
            }
            k->opened = 0;
        }
        if (!k->opened) {
            if (k->next_chunk >= k->nchunks) {
                m->heap[0] = m->heap[--m->n];
                heap_down(m, 0);
                xunmap(k->raw, k->raw_cap);
                k->raw = NULL;
                k->raw_cap = 0;
                continue;
            }
            const struct chunk *c = &ch[k->chunks[k->next_chunk++]];
            cursor_inflate(k, c);
            k->opened = 1;
            if (!cursor_decode(k)) {
                k->opened = 0;
                if (k->next_chunk < k->nchunks)
                    k->key = chunk_base_seq(&ch[k->chunks[k->next_chunk]]);
                heap_down(m, 0);
                continue;
            }
            k->key = k->cur.seq;
            heap_down(m, 0);
            continue;
        }
        /* cur is the smallest: hand it out. */
        *out = &k->cur;
        if (hkt_op_is_realloc(k->cur.op)) {
            *phase = 1;
            k->phase = 2;
            k->key = k->cur.seq2;
            heap_down(m, 0);
        } else {
            *phase = 0;
            k->opened = 2;
        }
        return 1;
    }
    return 0;
}

/* ---- the pointer table --------------------------------------------------------------- */

struct blk {
    uintptr_t key;   /* 0: empty, 1: deleted */
    uint64_t id;     /* seq that produced it */
    uint64_t size;
    uint32_t slot, ver, thread, pad;
};

struct table {
    struct blk *b;
    size_t cap, live, used;
};

static inline size_t hash_ptr(uintptr_t p, size_t cap)
{
    return (size_t)(((uint64_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
}

static void table_grow(struct table *t)
{
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < 4 * (t->live + 1))
        cap *= 2;
    struct blk *old = t->b;
    size_t oldcap = t->cap;
    t->b = xmap(cap * sizeof *t->b);
    t->cap = cap;
    t->used = t->live;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key > 1) {
            size_t h = hash_ptr(old[i].key, cap);
            while (t->b[h].key != 0)
                h = (h + 1) & (cap - 1);
            t->b[h] = old[i];
        }
    }
    xunmap(old, oldcap * sizeof *old);
}

static struct blk *table_find(struct table *t, uintptr_t p)
{
    if (t->cap == 0 || p <= 1)
        return NULL;
    size_t h = hash_ptr(p, t->cap);
    while (t->b[h].key != 0) {
        if (t->b[h].key == p)
            return &t->b[h];
        h = (h + 1) & (t->cap - 1);
    }
    return NULL;
}

static struct blk *table_insert(struct table *t, uintptr_t p)
{
    if (2 * (t->used + 1) > t->cap)
        table_grow(t);
    size_t h = hash_ptr(p, t->cap);
    while (t->b[h].key > 1)
        h = (h + 1) & (t->cap - 1);
    if (t->b[h].key == 0)
        t->used++;
    t->live++;
    t->b[h].key = p;
    return &t->b[h];
}

static void table_remove(struct table *t, struct blk *b)
{
    b->key = 1;
    t->live--;
}

/* ---- the simulation: blocks, slots, statistics ---------------------------------------- */

#define NBUCKETS 48
#define MAX_POINTS 1024

struct thread_info {
    uint64_t calls, first_seq, last_seq, tid;
    uint64_t by_op[HKT_OP_CALL_LAST + 1];
    struct vec ops;     /* struct rop (replay) */
    struct vec free_slots; /* uint32_t: slots this thread freed, reused last-in first-out */
    struct blk held;       /* a realloc's old block between its two phases */
    int have_held;
    uint32_t held_wait;
};

struct stats {
    uint64_t calls[HKT_OP_LAST + 1];
    uint64_t size_hist[NBUCKETS], life_hist[NBUCKETS];
    uint64_t growth[8]; /* realloc new/old: see growth_names */
    uint64_t realloc_inplace, realloc_moved, realloc_from_null, realloc_to_zero;
    uint64_t produced, released, cross_thread, unknown, failed, replaced, bytes_requested;
    uint64_t live_bytes, live_blocks, peak_bytes, peak_blocks, peak_seq, peak_time;
    uint64_t last_time, last_seq;
    uint64_t points, point_every;
    uint64_t pt_time[MAX_POINTS], pt_bytes[MAX_POINTS], pt_blocks[MAX_POINTS];
};

static const char *const growth_names[8] = {"<=0.5x", "0.5-1x", "1x", "1-1.25x",
                                            "1.25-1.5x", "1.5-2x", "2-4x", ">4x"};

static unsigned bucket(uint64_t v)
{
    /* 0: 0; k: (2^(k-1), 2^k] */
    if (v == 0)
        return 0;
    unsigned b = v == 1 ? 1 : 65 - (unsigned)__builtin_clzll(v - 1);
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

/* Replay ops: 16 bytes. */
struct rop {
    uint32_t slot;
    uint32_t wait;  /* the slot version to wait for (0: produced by this thread) */
    uint64_t a;     /* size (48 bits) | op (8 bits) | log2 alignment (8 bits) */
};

#define ROP_SIZE(a) ((a) & ((1ull << 48) - 1))
#define ROP_OP(a) ((unsigned)((a) >> 48) & 0xff)
#define ROP_ALIGN(a) ((unsigned)((a) >> 56))

struct sim {
    struct trace *t;
    struct table tab;
    struct stats *st;
    struct thread_info *th;
    uint32_t nthreads;
    uint32_t nslots;
    struct vec slot_ver; /* uint32_t per slot */
    int build;           /* make replay ops */
    uint64_t forks, execs, thread_events;
    struct vec events;   /* text of fork/exec events, for info */
};

static unsigned log2_up(uint64_t a)
{
    unsigned l = 0;
    while (l < 63 && (1ull << l) < a)
        l++;
    return l;
}

static void emit(struct sim *s, uint32_t thread, unsigned op, uint32_t slot, uint32_t wait,
                 uint64_t size, uint64_t align, uint64_t seq)
{
    struct thread_info *ti = &s->th[thread];
    if (ti->ops.len == 0)
        ti->first_seq = seq;
    ti->last_seq = seq;
    if (!s->build)
        return;
    struct rop *r = vec_push(&ti->ops, sizeof *r);
    r->slot = slot;
    r->wait = wait;
    if (size >= 1ull << 48)
        size = (1ull << 48) - 1;
    r->a = size | (uint64_t)op << 48 | (uint64_t)log2_up(align) << 56;
}

static uint32_t slot_take(struct sim *s, uint32_t thread)
{
    struct vec *f = &s->th[thread].free_slots;
    if (f->len) {
        f->len -= sizeof(uint32_t);
        return *(uint32_t *)(f->p + f->len);
    }
    vec_push(&s->slot_ver, sizeof(uint32_t));
    return s->nslots++;
}

static void slot_give(struct sim *s, uint32_t thread, uint32_t slot)
{
    *(uint32_t *)vec_push(&s->th[thread].free_slots, sizeof(uint32_t)) = slot;
}

static void point(struct sim *s, uint64_t time)
{
    struct stats *st = s->st;
    if (st->point_every == 0)
        st->point_every = 1;
    if ((st->produced + st->released) % st->point_every != 0)
        return;
    if (st->points == MAX_POINTS) {
        for (uint64_t i = 0; i < MAX_POINTS / 2; i++) {
            st->pt_time[i] = st->pt_time[2 * i];
            st->pt_bytes[i] = st->pt_bytes[2 * i];
            st->pt_blocks[i] = st->pt_blocks[2 * i];
        }
        st->points = MAX_POINTS / 2;
        st->point_every *= 2;
    }
    st->pt_time[st->points] = time;
    st->pt_bytes[st->points] = st->live_bytes;
    st->pt_blocks[st->points] = st->live_blocks;
    st->points++;
}

static void produce(struct sim *s, const struct call *c, uint64_t size, uint32_t slot,
                    uint64_t seq)
{
    struct stats *st = s->st;
    struct blk *old = table_find(&s->tab, c->res);
    if (old != NULL) {
        /* A block the table thinks live came back from malloc: its release was
         * not recorded (a path around the recorder). It is forgotten. */
        st->replaced++;
        st->live_bytes -= old->size;
        st->live_blocks--;
        table_remove(&s->tab, old);
    }
    uint32_t *ver = (uint32_t *)s->slot_ver.p + slot;
    (*ver)++;
    struct blk *b = table_insert(&s->tab, c->res);
    b->id = seq;
    b->size = size;
    b->slot = slot;
    b->ver = *ver;
    b->thread = c->thread;
    st->produced++;
    st->bytes_requested += size;
    st->size_hist[bucket(size)]++;
    st->live_bytes += size;
    st->live_blocks++;
    if (st->live_bytes > st->peak_bytes) {
        st->peak_bytes = st->live_bytes;
        st->peak_seq = seq;
        st->peak_time = c->time;
    }
    if (st->live_blocks > st->peak_blocks)
        st->peak_blocks = st->live_blocks;
    point(s, c->time);
}

/* A release of b by call c: statistics; returns the wait version. */
static uint32_t release(struct sim *s, const struct call *c, struct blk *b)
{
    struct stats *st = s->st;
    st->released++;
    st->life_hist[bucket(c->seq - b->id)]++;
    uint32_t wait = 0;
    if (b->thread != c->thread) {
        st->cross_thread++;
        wait = b->ver;
    }
    st->live_bytes -= b->size;
    st->live_blocks--;
    point(s, c->time);
    return wait;
}

static uint64_t call_size(const struct call *c)
{
    uint64_t n;
    switch (c->op) {
    case HKT_CALLOC: case HKT_HAK_CALLOC: case HKT_REALLOCARRAY:
        if (__builtin_mul_overflow(c->nmemb, c->size, &n))
            return UINT64_MAX;
        return n;
    default:
        return c->size;
    }
}

static void event_text(struct sim *s, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(vec_push(&s->events, (size_t)n + 1), buf, (size_t)n + 1);
}

static void sim_call(struct sim *s, const struct call *c, int phase)
{
    struct stats *st = s->st;
    struct thread_info *ti = &s->th[c->thread];
    if (c->time > st->last_time)
        st->last_time = c->time;
    if (c->op > HKT_OP_CALL_LAST) {
        if (c->op == HKT_EV_THREAD) {
            ti->tid = c->num;
            s->thread_events++;
        } else if (c->op == HKT_EV_FORK) {
            s->forks++;
            event_text(s, "{\"type\": \"fork\", \"seq\": %" PRIu64 ", \"thread\": %u, \"pid\": %" PRIu64 "}",
                       c->seq, c->thread, c->num);
        } else if (c->op == HKT_EV_EXEC) {
            s->execs++;
            char path[1100];
            size_t o = 0;
            for (size_t i = 0; i < c->nbytes && o + 8 < sizeof path; i++) {
                unsigned ch = c->bytes[i];
                if (ch == '"' || ch == '\\')
                    o += (size_t)snprintf(path + o, sizeof path - o, "\\%c", ch);
                else if (ch < 0x20 || ch >= 0x7f)
                    o += (size_t)snprintf(path + o, sizeof path - o, "\\u%04x", ch);
                else
                    path[o++] = (char)ch;
            }
            path[o] = 0;
            event_text(s, "{\"type\": \"exec\", \"seq\": %" PRIu64 ", \"thread\": %u, \"path\": \"%s\"}",
                       c->seq, c->thread, path);
        }
        return;
    }
    if (phase != 2) {
        st->calls[c->op]++;
        ti->calls++;
        ti->by_op[c->op]++;
        if (c->seq2 > st->last_seq)
            st->last_seq = c->seq2;
    }
    unsigned op = c->op;
    if (hkt_op_is_realloc(op)) {
        /* Phase 1 releases the old block (kept aside: a failed realloc keeps
         * it), phase 2 produces the new one. */
        uint64_t size = call_size(c);
        if (phase == 1) {
            ti->have_held = 0;
            if (c->ptr == 0) {
                st->realloc_from_null++;
                return;
            }
            struct blk *b = table_find(&s->tab, c->ptr);
            if (b == NULL) {
                st->unknown++;
                return;
            }
            ti->held = *b;
            ti->have_held = 1;
            table_remove(&s->tab, b);
            /* Not counted as released yet: that depends on the result. */
            ti->held_wait = b->thread != c->thread ? b->ver : 0;
            return;
        }
        if (c->res == 0 && size != 0) {
            /* Failed: the old block lives on. */
            st->failed++;
            if (ti->have_held) {
                struct blk *b = table_insert(&s->tab, ti->held.key);
                *b = ti->held;
            }
            return;
        }
        if (ti->have_held) {
            struct blk hb = ti->held;
            uint32_t held_wait = ti->held_wait;
            st->released++;
            st->life_hist[bucket(c->seq - hb.id)]++;
            if (hb.thread != c->thread)
                st->cross_thread++;
            st->live_bytes -= hb.size;
            st->live_blocks--;
            if (c->res == 0) {
                /* realloc(p, 0): a free */
                st->realloc_to_zero++;
                emit(s, c->thread, HKT_FREE, hb.slot, held_wait, 0, 0, c->seq);
                slot_give(s, c->thread, hb.slot);
                point(s, c->time);
                return;
            }
            if (c->res == hb.key)
                st->realloc_inplace++;
            else
                st->realloc_moved++;
            uint64_t o = hb.size;
            unsigned g = size * 2 <= o ? 0 : size < o ? 1 : size == o ? 2
                       : size * 4 <= o * 5 ? 3 : size * 2 <= o * 3 ? 4
                       : size <= o * 2 ? 5 : size <= o * 4 ? 6 : 7;
            st->growth[g]++;
            emit(s, c->thread, op, hb.slot, held_wait, size,
                 op == HKT_HAK_REALLOC_LAYOUT ? c->align : 0, c->seq);
            produce(s, c, size, hb.slot, c->seq2);
            return;
        }
        if (c->res == 0)
            return; /* realloc(NULL or unknown, 0) */
        uint32_t slot = slot_take(s, c->thread);
        emit(s, c->thread, op, slot, 0, size, op == HKT_HAK_REALLOC_LAYOUT ? c->align : 0,
             c->seq);
        produce(s, c, size, slot, c->seq2);
        return;
    }
    if (hkt_op_has(op, HKT_F_PTR)) {
        struct blk *b = table_find(&s->tab, c->ptr);
        if (b == NULL) {
            st->unknown++;
            return;
        }
        uint32_t wait = release(s, c, b);
        emit(s, c->thread, op, b->slot, wait, b->size, c->align, c->seq);
        slot_give(s, c->thread, b->slot);
        table_remove(&s->tab, b);
        return;
    }
    /* A producing call. */
    uint64_t size = call_size(c);
    if (c->res == 0) {
        st->failed++;
        return;
    }
    uint64_t align = op == HKT_VALLOC || op == HKT_PVALLOC ? 4096 : c->align;
    uint32_t slot = slot_take(s, c->thread);
    emit(s, c->thread, op, slot, 0, size, align, c->seq);
    produce(s, c, size, slot, c->seq);
}

static void simulate(struct sim *s, struct trace *t, int build)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->build = build;
    s->st = xmap(sizeof *s->st);
    s->nthreads = t->nthreads;
    s->th = xmap(sizeof(struct thread_info) * (t->nthreads + 1));
    struct merge m;
    merge_init(&m, t);
    struct call *c;
    int phase;
    while (merge_next(&m, &c, &phase))
        sim_call(s, c, phase);
}

/* ---- info ------------------------------------------------------------------------ */

static void json_str(FILE *f, const unsigned char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned ch = s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc((int)ch, f);
    }
    fputc('"', f);
}

static void json_argv(FILE *f, const unsigned char *s, size_t n)
{
    fputc('[', f);
    size_t i = 0;
    int first = 1;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != 0)
            j++;
        if (!first)
            fputs(", ", f);
        json_str(f, s + i, j - i);
        first = 0;
        i = j + 1;
    }
    fputc(']', f);
}

static void json_hist(FILE *f, const uint64_t *h)
{
    /* [upper bound, count] pairs of the non-empty buckets */
    fputc('[', f);
    int first = 1;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        if (!h[b])
            continue;
        uint64_t hi = b == 0 ? 0 : b >= 64 ? UINT64_MAX : 1ull << (b - 1);
        fprintf(f, "%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", hi, h[b]);
        first = 0;
    }
    fputc(']', f);
}

static int cmd_info(const char *path)
{
    struct trace t;
    trace_open(&t, path);
    struct sim s;
    simulate(&s, &t, 0);
    struct stats *st = s.st;
    FILE *f = stdout;
    uint64_t calls = 0;
    for (unsigned op = 1; op <= HKT_OP_CALL_LAST; op++)
        calls += st->calls[op];
    fprintf(f, "{\n \"format_version\": %u,\n \"file_bytes\": %zu,\n", HKT_VERSION, t.len);
    fprintf(f, " \"pid\": %" PRIu64 ", \"ppid\": %" PRIu64 ", \"forked\": %s,\n", t.h.pid,
            t.h.ppid, t.h.forked ? "true" : "false");
    fprintf(f, " \"start_realtime_ns\": %" PRIu64 ",\n \"argv\": ", t.h.start_realtime_ns);
    json_argv(f, t.h.cmdline, t.h.cmdline_len);
    fputs(",\n \"exe\": ", f);
    json_str(f, t.h.exe, t.h.exe_len);
    fputs(",\n \"malloc_library\": ", f);
    json_str(f, t.h.malloc_lib, t.h.malloc_lib_len);
    fputs(",\n \"allocator\": ", f);
    json_str(f, t.h.allocator, t.h.allocator_len);
    fputs(",\n \"recorder\": ", f);
    json_str(f, t.h.recorder, t.h.recorder_len);
    fprintf(f, ",\n \"complete\": %s, \"truncated\": %s, \"unrecorded_calls\": %" PRIu64 ",\n",
            t.complete ? "true" : "false", t.truncated ? "true" : "false", t.end_unrecorded);
    fprintf(f, " \"chunks\": %zu,\n \"calls\": %" PRIu64 ",\n \"calls_by_function\": {",
            t.chunks.len / sizeof(struct chunk), calls);
    int first = 1;
    for (unsigned op = 1; op <= HKT_OP_CALL_LAST; op++) {
        if (!st->calls[op])
            continue;
        fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ", hkt_op_names[op], st->calls[op]);
        first = 0;
    }
    fprintf(f, "},\n \"blocks_produced\": %" PRIu64 ", \"blocks_released\": %" PRIu64
               ", \"bytes_requested\": %" PRIu64 ",\n",
            st->produced, st->released, st->bytes_requested);
    fprintf(f, " \"unknown_releases\": %" PRIu64 ", \"failed_calls\": %" PRIu64
               ", \"unrecorded_releases\": %" PRIu64 ",\n",
            st->unknown, st->failed, st->replaced);
    fprintf(f, " \"live_at_end_blocks\": %" PRIu64 ", \"live_at_end_bytes\": %" PRIu64 ",\n",
            st->live_blocks, st->live_bytes);
    fprintf(f, " \"peak_live_bytes\": %" PRIu64 ", \"peak_live_blocks\": %" PRIu64
               ", \"peak_seq\": %" PRIu64 ", \"peak_time_ns\": %" PRIu64 ",\n",
            st->peak_bytes, st->peak_blocks, st->peak_seq, st->peak_time);
    fprintf(f, " \"last_seq\": %" PRIu64 ",\n", st->last_seq);
    fprintf(f, " \"duration_ns\": %" PRIu64 ",\n \"cross_thread_releases\": %" PRIu64 ",\n",
            st->last_time, st->cross_thread);
    fputs(" \"size_histogram\": ", f);
    json_hist(f, st->size_hist);
    fputs(",\n \"lifetime_histogram_calls\": ", f);
    json_hist(f, st->life_hist);
    fprintf(f, ",\n \"realloc\": {\"in_place\": %" PRIu64 ", \"moved\": %" PRIu64
               ", \"from_null\": %" PRIu64 ", \"to_zero\": %" PRIu64 ", \"growth\": {",
            st->realloc_inplace, st->realloc_moved, st->realloc_from_null,
            st->realloc_to_zero);
    for (int g = 0; g < 8; g++)
        fprintf(f, "%s\"%s\": %" PRIu64, g ? ", " : "", growth_names[g], st->growth[g]);
    fputs("}},\n \"threads\": [", f);
    first = 1;
    for (uint32_t th = 0; th < s.nthreads; th++) {
        fprintf(f, "%s\n  {\"thread\": %u, \"tid\": %" PRIu64 ", \"calls\": %" PRIu64
                   ", \"calls_by_function\": {",
                first ? "" : ",", th, s.th[th].tid, s.th[th].calls);
        int f2 = 1;
        for (unsigned op = 1; op <= HKT_OP_CALL_LAST; op++) {
            if (!s.th[th].by_op[op])
                continue;
            fprintf(f, "%s\"%s\": %" PRIu64, f2 ? "" : ", ", hkt_op_names[op], s.th[th].by_op[op]);
            f2 = 0;
        }
        fputs("}}", f);
        first = 0;
    }
    fputs("],\n \"events\": [", f);
    first = 1;
    for (size_t i = 0; i < s.events.len;) {
        size_t n = strlen((const char *)s.events.p + i);
        if (!first)
            fputs(", ", f);
        fputs((const char *)s.events.p + i, f);
        first = 0;
        i += n + 1;
    }
    fputs("],\n \"timeline\": {\"time_ns\": [", f);
    for (uint64_t i = 0; i < st->points; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", st->pt_time[i]);
    fputs("], \"live_bytes\": [", f);
    for (uint64_t i = 0; i < st->points; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", st->pt_bytes[i]);
    fputs("], \"live_blocks\": [", f);
    for (uint64_t i = 0; i < st->points; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", st->pt_blocks[i]);
    fputs("]}\n}\n", f);
    return 0;
}

/* ---- replay ------------------------------------------------------------------------- */

struct slot {
    unsigned char *ptr;
    uint64_t size;
    _Atomic uint32_t ver;
    uint32_t pad[3];
};

struct rthread {
    pthread_t id;
    uint32_t index;
    const struct rop *ops;
    size_t nops;
    uint64_t first_seq, last_seq;
    uint64_t errors, failures, waits;
    int started, joined;
};

static struct slot *g_slots;
static int g_full;
static _Atomic int g_first_error_taken;
static char g_first_error[256];

/* What the process's allocator offers beyond the standard names: hakmem's API
 * and free_sized, when the object that defines malloc defines them. */
static void *(*p_hak_malloc)(size_t), *(*p_hak_calloc)(size_t, size_t),
    *(*p_hak_realloc)(void *, size_t), *(*p_hak_aligned_alloc)(size_t, size_t),
    *(*p_hak_alloc)(size_t, size_t), *(*p_hak_alloc_zeroed)(size_t, size_t),
    *(*p_hak_realloc_layout)(void *, size_t, size_t, size_t);
static void (*p_hak_free)(void *), (*p_hak_free_sized)(void *, size_t),
    (*p_hak_dealloc)(void *, size_t, size_t), (*p_free_sized)(void *, size_t),
    (*p_free_aligned_sized)(void *, size_t, size_t);


static void resolve_extras(void)
{
#define R(var, name) *(void **)&var = bench_sym_in_allocator(name)
    R(p_hak_malloc, "hak_malloc");
    R(p_hak_calloc, "hak_calloc");
    R(p_hak_realloc, "hak_realloc");
    R(p_hak_aligned_alloc, "hak_aligned_alloc");
    R(p_hak_alloc, "hak_alloc");
    R(p_hak_alloc_zeroed, "hak_alloc_zeroed");
    R(p_hak_realloc_layout, "hak_realloc_layout");
    R(p_hak_free, "hak_free");
    R(p_hak_free_sized, "hak_free_sized");
    R(p_hak_dealloc, "hak_dealloc");
    R(p_free_sized, "free_sized");
    R(p_free_aligned_sized, "free_aligned_sized");
#undef R
}

static void first_error(const char *fmt, ...)
{
    if (atomic_exchange(&g_first_error_taken, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_first_error, sizeof g_first_error, fmt, ap);
    va_end(ap);
}

static inline uint64_t tag_of(uint32_t slot, uint32_t ver)
{
    return ((uint64_t)slot << 32 | ver) * 0x9E3779B97F4A7C15ull | 1;
}

/* The stamp positions: every 8-byte word (full), or the first, one per 4 KiB
 * and the last (sparse). f(offset) for each, in order. */
#define FOR_STAMPS(n, off, body)                                                          \
    do {                                                                                  \
        if ((n) >= 8) {                                                                   \
            uint64_t step_ = g_full ? 8 : 4096;                                           \
            for (uint64_t off = 0; off + 8 <= (n); off += step_) {                        \
                body;                                                                     \
            }                                                                             \
            uint64_t last_ = ((n) - 8) / step_ * step_;                                   \
            if ((n) - 8 >= last_ + 8) { /* the end, where it overlaps no other stamp */   \
                uint64_t off = (n) - 8;                                                   \
                body;                                                                     \
            }                                                                             \
        }                                                                                 \
    } while (0)

static void stamp(unsigned char *p, uint64_t n, uint64_t tag)
{
    if (n < 8) {
        memcpy(p, &tag, n);
        return;
    }
    FOR_STAMPS(n, off, {
        uint64_t v = tag ^ off;
        memcpy(p + off, &v, 8);
    });
}

/* Checks the stamps of a block of n bytes that lie within [0, keep). */
static int check(const unsigned char *p, uint64_t n, uint64_t keep, uint64_t tag)
{
    if (n < 8) {
        uint64_t k = keep < n ? keep : n;
        return memcmp(p, &tag, k) == 0;
    }
    int ok = 1;
    FOR_STAMPS(n, off, {
        if (off + 8 <= keep) {
            uint64_t v;
            memcpy(&v, p + off, 8);
            if (v != (tag ^ off))
                ok = 0;
        }
    });
    return ok;
}

static int check_zero(const unsigned char *p, uint64_t n)
{
    if (n < 8) {
        for (uint64_t i = 0; i < n; i++)
            if (p[i])
                return 0;
        return 1;
    }
    int ok = 1;
    FOR_STAMPS(n, off, {
        uint64_t v;
        memcpy(&v, p + off, 8);
        if (v != 0)
            ok = 0;
    });
    return ok;
}

static void wait_version(struct rthread *rt, struct slot *s, uint32_t v)
{
    if (atomic_load_explicit(&s->ver, memory_order_acquire) >= v)
        return;
    rt->waits++;
    unsigned spins = 0;
    while (atomic_load_explicit(&s->ver, memory_order_acquire) < v) {
        if (++spins < 64)
            __asm__ __volatile__("" ::: "memory");
        else
            sched_yield();
    }
}

static int is_zeroing(unsigned op)
{
    return op == HKT_CALLOC || op == HKT_HAK_CALLOC || op == HKT_HAK_ALLOC_ZEROED;
}

static void *do_produce(unsigned op, uint64_t size, uint64_t align)
{
    void *p = NULL;
    switch (op) {
    case HKT_MALLOC: return malloc(size);
    case HKT_CALLOC: return calloc(1, size);
    case HKT_MEMALIGN: return memalign(align, size);
    case HKT_ALIGNED_ALLOC: return aligned_alloc(align, size);
    case HKT_POSIX_MEMALIGN: return posix_memalign(&p, align, size) == 0 ? p : NULL;
    case HKT_VALLOC: return valloc(size);
    case HKT_PVALLOC: return pvalloc(size);
    case HKT_HAK_MALLOC: return p_hak_malloc ? p_hak_malloc(size) : malloc(size);
    case HKT_HAK_CALLOC: return p_hak_calloc ? p_hak_calloc(1, size) : calloc(1, size);
    case HKT_HAK_ALIGNED_ALLOC:
        return p_hak_aligned_alloc ? p_hak_aligned_alloc(align, size) : aligned_alloc(align, size);
    case HKT_HAK_ALLOC:
    case HKT_HAK_ALLOC_ZEROED:
        if (op == HKT_HAK_ALLOC && p_hak_alloc)
            return p_hak_alloc(size, align);
        if (op == HKT_HAK_ALLOC_ZEROED && p_hak_alloc_zeroed)
            return p_hak_alloc_zeroed(size, align);
        if (align <= 16)
            return op == HKT_HAK_ALLOC ? malloc(size) : calloc(1, size);
        if (posix_memalign(&p, align, size) != 0)
            return NULL;
        if (op == HKT_HAK_ALLOC_ZEROED)
            memset(p, 0, size);
        return p;
    default:
        return NULL;
    }
}

static void do_release(unsigned op, void *p, uint64_t size, uint64_t align)
{
    switch (op) {
    case HKT_FREE_SIZED:
        if (p_free_sized) {
            p_free_sized(p, size);
            return;
        }
        break;
    case HKT_FREE_ALIGNED_SIZED:
        if (p_free_aligned_sized) {
            p_free_aligned_sized(p, align, size);
            return;
        }
        break;
    case HKT_HAK_FREE:
        if (p_hak_free) {
            p_hak_free(p);
            return;
        }
        break;
    case HKT_HAK_FREE_SIZED:
        if (p_hak_free_sized) {
            p_hak_free_sized(p, size);
            return;
        }
        break;
    case HKT_HAK_DEALLOC:
        if (p_hak_dealloc) {
            p_hak_dealloc(p, size, align);
            return;
        }
        break;
    default:
        break;
    }
    free(p);
}

static void *do_realloc(unsigned op, void *p, uint64_t old, uint64_t size, uint64_t align)
{
    switch (op) {
    case HKT_HAK_REALLOC:
        return p_hak_realloc ? p_hak_realloc(p, size) : realloc(p, size);
    case HKT_HAK_REALLOC_LAYOUT:
        if (p_hak_realloc_layout)
            return p == NULL ? (p_hak_alloc ? p_hak_alloc(size, align) : NULL)
                             : p_hak_realloc_layout(p, old, align, size);
        if (align <= 16)
            return realloc(p, size);
        {
            void *q = NULL;
            if (posix_memalign(&q, align, size) != 0)
                return NULL;
            if (p != NULL) {
                memcpy(q, p, old < size ? old : size);
                free(p);
            }
            return q;
        }
    default:
        return realloc(p, size);
    }
}

static void *replay_thread(void *arg)
{
    struct rthread *rt = arg;
    for (size_t i = 0; i < rt->nops; i++) {
        const struct rop *r = &rt->ops[i];
        struct slot *s = &g_slots[r->slot];
        if (r->wait)
            wait_version(rt, s, r->wait);
        unsigned op = ROP_OP(r->a);
        uint64_t size = ROP_SIZE(r->a);
        uint64_t align = 1ull << ROP_ALIGN(r->a);
        uint32_t ver = atomic_load_explicit(&s->ver, memory_order_relaxed);
        if (hkt_op_is_realloc(op)) {
            unsigned char *old = s->ptr;
            uint64_t oldn = s->size;
            if (old != NULL && !check(old, oldn, oldn, tag_of(r->slot, ver))) {
                rt->errors++;
                first_error("block %u (%" PRIu64 " bytes) damaged before realloc", r->slot, oldn);
            }
            unsigned char *q = do_realloc(op, old, oldn, size, align);
            if (q == NULL && size != 0) {
                rt->failures++;
                continue; /* the old block stays */
            }
            if (q != NULL && old != NULL &&
                !check(q, oldn, oldn < size ? oldn : size, tag_of(r->slot, ver))) {
                rt->errors++;
                first_error("block %u lost its contents in realloc to %" PRIu64 " bytes", r->slot,
                            size);
            }
            if (op == HKT_HAK_REALLOC_LAYOUT && align > 16 && ((uintptr_t)q & (align - 1))) {
                rt->errors++;
                first_error("hak_realloc_layout result %p not %" PRIu64 "-aligned", (void *)q, align);
            }
            s->ptr = q;
            s->size = size;
            if (q != NULL)
                stamp(q, size, tag_of(r->slot, ver + 1));
            atomic_store_explicit(&s->ver, ver + 1, memory_order_release);
        } else if (hkt_op_has(op, HKT_F_PTR)) {
            unsigned char *p = s->ptr;
            if (p != NULL && !check(p, s->size, s->size, tag_of(r->slot, ver))) {
                rt->errors++;
                first_error("block %u (%" PRIu64 " bytes) damaged before its free", r->slot, s->size);
            }
            if (p != NULL)
                do_release(op, p, s->size, align);
            s->ptr = NULL;
        } else {
            unsigned char *p = do_produce(op, size, align);
            if (p == NULL && size != 0)
                rt->failures++;
            if (p != NULL) {
                if (align > 1 && ((uintptr_t)p & (align - 1)) != 0) {
                    rt->errors++;
                    first_error("%s(%" PRIu64 ") gave %p, not %" PRIu64 "-aligned", hkt_op_names[op],
                                size, (void *)p, align);
                }
                if (is_zeroing(op) && !check_zero(p, size)) {
                    rt->errors++;
                    first_error("%s(%" PRIu64 ") gave a block that is not zero", hkt_op_names[op],
                                size);
                }
                stamp(p, size, tag_of(r->slot, ver + 1));
            }
            s->ptr = p;
            s->size = size;
            atomic_store_explicit(&s->ver, ver + 1, memory_order_release);
        }
    }
    return NULL;
}

static long status_kb(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strstr(buf, field);
    return p ? atol(p + strlen(field) + 1) : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}


static const char *allocator_version(void)
{
    static char buf[64];
    void *s;
    if ((s = bench_sym_in_allocator("hak_version")) != NULL)
        return ((const char *(*)(void))s)();
    if ((s = bench_sym_in_allocator("mi_version")) != NULL) {
        int n = ((int (*)(void))s)();
        snprintf(buf, sizeof buf, "%d.%d.%d", n / 100, n / 10 % 10, n % 10);
        return buf;
    }
    if ((s = bench_sym_in_allocator("mallctl")) != NULL) {
        const char *v = NULL;
        size_t len = sizeof v;
        if (((int (*)(const char *, void *, size_t *, void *, size_t))s)("version", &v, &len,
                                                                        NULL, 0) == 0 && v) {
            snprintf(buf, sizeof buf, "%.*s", (int)strcspn(v, "-"), v);
            return buf;
        }
    }
    if ((s = bench_sym_in_allocator("tc_version")) != NULL) {
        int major = 0, minor = 0;
        const char *patch = "";
        ((const char *(*)(int *, int *, const char **))s)(&major, &minor, &patch);
        snprintf(buf, sizeof buf, "%d.%d%s", major, minor, patch ? patch : "");
        return buf;
    }
    if ((s = bench_sym_in_allocator("gnu_get_libc_version")) != NULL)
        return ((const char *(*)(void))s)();
    return "unknown";
}

static int by_first(const void *a, const void *b)
{
    const struct rthread *x = *(struct rthread *const *)a, *y = *(struct rthread *const *)b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static int by_last(const void *a, const void *b)
{
    const struct rthread *x = *(struct rthread *const *)a, *y = *(struct rthread *const *)b;
    return x->last_seq < y->last_seq ? -1 : x->last_seq > y->last_seq;
}

static int cmd_replay(const char *path)
{
    struct trace t;
    trace_open(&t, path);
    struct sim s;
    simulate(&s, &t, 1);
    /* What only the simulation needed goes before the replay is measured. */
    xunmap(s.tab.b, s.tab.cap * sizeof *s.tab.b);
    for (uint32_t i = 0; i < s.nthreads; i++)
        xunmap(s.th[i].free_slots.p, s.th[i].free_slots.cap);
    xunmap(s.slot_ver.p, s.slot_ver.cap);
    resolve_extras();
    size_t slots_bytes = sizeof(struct slot) * ((size_t)s.nslots + 1);
    g_slots = xmap(slots_bytes);
    memset(g_slots, 0, slots_bytes); /* resident before the base RSS is read */
    uint32_t nth = 0;
    for (uint32_t i = 0; i < s.nthreads; i++)
        nth += s.th[i].ops.len > 0;
    struct rthread *rts = xmap(sizeof *rts * (nth + 1));
    struct rthread **order = xmap(sizeof *order * (nth + 1));
    struct rthread **ends = xmap(sizeof *ends * (nth + 1));
    uint64_t calls = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < s.nthreads; i++) {
        if (s.th[i].ops.len == 0)
            continue;
        struct rthread *rt = &rts[k];
        rt->index = i;
        rt->ops = (const struct rop *)s.th[i].ops.p;
        rt->nops = s.th[i].ops.len / sizeof(struct rop);
        rt->first_seq = s.th[i].first_seq;
        rt->last_seq = s.th[i].last_seq;
        calls += rt->nops;
        order[k] = ends[k] = rt;
        k++;
    }
    qsort(order, nth, sizeof *order, by_first);
    qsort(ends, nth, sizeof *ends, by_last);
    /* The replay's memory is measured from here: the peak is reset (VmHWM
     * back to the current RSS), and the RSS now is the replayer's own. */
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    int hwm_reset = fd >= 0 && write(fd, "5", 1) == 1;
    if (fd >= 0)
        close(fd);
    long base_rss = status_kb("VmRSS:");
    double c0 = cpu_s(), t0 = now_s();
    uint32_t joined = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (uint32_t i = 0; i < nth; i++) {
        struct rthread *rt = order[i];
        /* Threads whose last call came before this one's first have ended. */
        while (joined < nth && ends[joined]->last_seq < rt->first_seq) {
            if (ends[joined]->started && !ends[joined]->joined) {
                pthread_join(ends[joined]->id, NULL);
                ends[joined]->joined = 1;
            }
            joined++;
        }
        if (pthread_create(&rt->id, &attr, replay_thread, rt) != 0) {
            fprintf(stderr, "hakmem-replay: cannot start thread %u\n", rt->index);
            exit(2);
        }
        rt->started = 1;
    }
    for (uint32_t i = 0; i < nth; i++)
        if (!order[i]->joined) {
            pthread_join(order[i]->id, NULL);
            order[i]->joined = 1;
        }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    long peak = status_kb("VmHWM:");
    /* Blocks the program never freed: checked (not timed), left allocated. */
    uint64_t errors = 0, failures = 0, waits = 0;
    for (uint32_t i = 0; i < nth; i++) {
        errors += rts[i].errors;
        failures += rts[i].failures;
        waits += rts[i].waits;
    }
    for (uint32_t i = 0; i < s.nslots; i++) {
        struct slot *sl = &g_slots[i];
        if (sl->ptr != NULL && !check(sl->ptr, sl->size, sl->size, tag_of(i, sl->ver))) {
            errors++;
            first_error("block %u (%" PRIu64 " bytes, never freed) damaged at the end", i,
                        sl->size);
        }
    }
    if (g_first_error[0])
        fprintf(stderr, "hakmem-replay: first error: %s\n", g_first_error);
    printf("hakmem-replay calls=%" PRIu64 " threads=%u seconds=%.6f cpu_seconds=%.6f"
           " peak_rss_kb=%ld base_rss_kb=%ld hwm_reset=%d peak_live_bytes=%" PRIu64
           " peak_live_blocks=%" PRIu64 " errors=%" PRIu64 " alloc_failures=%" PRIu64
           " skipped_unknown=%" PRIu64 " skipped_failed=%" PRIu64 " waits=%" PRIu64
           " slots=%u truncated=%d fill=%s allocator_version=%s allocator=%s\n",
           calls, nth, secs, cpu, peak, base_rss, hwm_reset, s.st->peak_bytes,
           s.st->peak_blocks, errors, failures, s.st->unknown, s.st->failed, waits, s.nslots,
           t.truncated, g_full ? "full" : "sparse", allocator_version(), bench_allocator_path());
    fflush(stdout);
    return errors || failures ? 1 : 0;
}

static _Noreturn void usage(void)
{
    fputs("usage: hakmem-replay info FILE\n"
          "       hakmem-replay replay [--fill sparse|full] FILE\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *cmd = argv[1];
    int i = 2;
    for (; i < argc - 1; i++) {
        if (strcmp(argv[i], "--fill") == 0 && i + 1 < argc - 1) {
            const char *v = argv[++i];
            if (strcmp(v, "full") == 0)
                g_full = 1;
            else if (strcmp(v, "sparse") != 0)
                usage();
        } else if (strcmp(argv[i], "--json") == 0) {
            /* info is always JSON */
        } else {
            usage();
        }
    }
    if (i != argc - 1)
        usage();
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argv[i]);
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(argv[i]);
    usage();
}
