/* format.h: the hakmem allocation trace format (version 1), shared by the
 * recorder (recorder.c, libhakmem_trace.so) and the replayer (replay.c,
 * hakmem-replay). The Python reader (python/src/hakmem/trace.py) follows the
 * same description; README.md, "Recording and replaying", documents it.
 *
 *   file    := magic[8] version:u32le header_len:u32le header chunk*
 *   header  := (key:varint len:varint bytes[len])*      TLV, unknown keys skipped
 *   chunk   := 'C' thread:varint raw_len:varint comp_len:varint crc32(raw):u32le
 *              zlib-stream[comp_len]                    one thread's records
 *            | 'E' len:varint TLV[len]                  end of a complete recording
 *   raw     := base_seq:varint base_time:varint record*
 *   record  := op:u8 dseq:varint dtime:varint field*    (fields: see hkt_op_fields)
 *
 * Every call takes a number from one process-wide counter ("seq"): calls that
 * produce a block take it after the allocator returned, calls that release one
 * take it before they call the allocator, and a realloc takes one before (its
 * release part) and one after (its new block: dseq2). So in seq order a
 * pointer is always released before the allocator can hand it out again, and a
 * block is produced before any other thread can see it: the reader rebuilds
 * which earlier result each pointer argument is, and the id of a block is the
 * seq that produced it. dseq and dtime are differences from the previous
 * record of the same chunk (the bases for the first one), pointers are zigzag
 * differences from the previous pointer of the chunk (0 at its start): small
 * numbers, one or two bytes each before zlib. Each chunk is one complete zlib
 * stream, so a chunk cut short by a crash still inflates up to its last whole
 * record.
 */
#ifndef HAKMEM_TRACE_FORMAT_H
#define HAKMEM_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define HKT_MAGIC "\x89HAKTRC\n"
#define HKT_MAGIC_LEN 8
#define HKT_VERSION 1u

/* Largest raw chunk a reader accepts: the recorder flushes at 64 KiB. */
#define HKT_MAX_RAW (1u << 22)

enum hkt_chunk_tag { HKT_CHUNK_RECORDS = 'C', HKT_CHUNK_END = 'E' };

/* Header keys (varint values unless said otherwise). */
enum hkt_header_key {
    HKT_H_PID = 1,
    HKT_H_PPID = 2,
    HKT_H_START_REALTIME_NS = 3, /* wall clock at start (display only) */
    HKT_H_START_MONO_NS = 4,     /* CLOCK_MONOTONIC at start: times are relative to it */
    HKT_H_CMDLINE = 5,           /* bytes: argv, NUL-separated */
    HKT_H_MALLOC_LIB = 6,        /* bytes: the file whose __libc_malloc the recorder calls */
    HKT_H_ALLOCATOR = 7,         /* bytes: what `record --allocator` asked for */
    HKT_H_FORKED = 8,            /* 1: a fork child (no exec): blocks of its parent are unknown */
    HKT_H_RECORDER = 9,          /* bytes: recorder version */
    HKT_H_EXE = 10,              /* bytes: /proc/self/exe */
};

/* End chunk keys. */
enum hkt_end_key {
    HKT_E_RECORDS = 1,   /* records written */
    HKT_E_THREADS = 2,   /* threads that recorded */
    HKT_E_UNRECORDED = 3, /* calls passed through without a record (see recorder.c) */
};

/* Record ops. The standard names first, then hakmem's API, then events. */
enum hkt_op {
    HKT_MALLOC = 1,          /* size -> res */
    HKT_CALLOC = 2,          /* nmemb size -> res */
    HKT_REALLOC = 3,         /* ptr size dseq2 -> res */
    HKT_REALLOCARRAY = 4,    /* ptr nmemb size dseq2 -> res */
    HKT_FREE = 5,            /* ptr */
    HKT_FREE_SIZED = 6,      /* ptr size */
    HKT_FREE_ALIGNED_SIZED = 7, /* ptr align size */
    HKT_POSIX_MEMALIGN = 8,  /* align size ret -> res */
    HKT_ALIGNED_ALLOC = 9,   /* align size -> res */
    HKT_MEMALIGN = 10,       /* align size -> res */
    HKT_VALLOC = 11,         /* size -> res */
    HKT_PVALLOC = 12,        /* size -> res */
    HKT_HAK_MALLOC = 13,     /* size -> res */
    HKT_HAK_CALLOC = 14,     /* nmemb size -> res */
    HKT_HAK_REALLOC = 15,    /* ptr size dseq2 -> res */
    HKT_HAK_FREE = 16,       /* ptr */
    HKT_HAK_ALIGNED_ALLOC = 17, /* align size -> res */
    HKT_HAK_FREE_SIZED = 18, /* ptr size */
    HKT_HAK_ALLOC = 19,      /* size align -> res */
    HKT_HAK_ALLOC_ZEROED = 20, /* size align -> res */
    HKT_HAK_DEALLOC = 21,    /* ptr size align */
    HKT_HAK_REALLOC_LAYOUT = 22, /* ptr old_size align size dseq2 -> res */
    HKT_OP_CALL_LAST = 22,
    /* Events: dseq is 0 (they take no seq). */
    HKT_EV_THREAD = 32,      /* tid: the first record of a thread */
    HKT_EV_FORK = 33,        /* child pid (0 in the child's own file is never written) */
    HKT_EV_EXEC = 34,        /* len bytes: the path about to be executed */
    HKT_OP_LAST = 34,
};

/* Field kinds, in record order after dseq and dtime. */
enum hkt_field {
    HKT_F_END = 0,
    HKT_F_SIZE,   /* varint */
    HKT_F_NMEMB,  /* varint */
    HKT_F_ALIGN,  /* varint */
    HKT_F_OLD,    /* varint: old size (hak_realloc_layout) */
    HKT_F_PTR,    /* zigzag pointer difference: the pointer argument */
    HKT_F_RES,    /* zigzag pointer difference: the result */
    HKT_F_DSEQ2,  /* varint: second seq minus first (realloc family) */
    HKT_F_RET,    /* varint: return code (posix_memalign) */
    HKT_F_TID,    /* varint */
    HKT_F_PID,    /* varint */
    HKT_F_BYTES,  /* varint length, then bytes */
};

/* The fields of each op, in order (HKT_F_END ends the list). */
static const unsigned char hkt_op_fields[HKT_OP_LAST + 1][6] = {
    [HKT_MALLOC] = {HKT_F_SIZE, HKT_F_RES},
    [HKT_CALLOC] = {HKT_F_NMEMB, HKT_F_SIZE, HKT_F_RES},
    [HKT_REALLOC] = {HKT_F_PTR, HKT_F_SIZE, HKT_F_DSEQ2, HKT_F_RES},
    [HKT_REALLOCARRAY] = {HKT_F_PTR, HKT_F_NMEMB, HKT_F_SIZE, HKT_F_DSEQ2, HKT_F_RES},
    [HKT_FREE] = {HKT_F_PTR},
    [HKT_FREE_SIZED] = {HKT_F_PTR, HKT_F_SIZE},
    [HKT_FREE_ALIGNED_SIZED] = {HKT_F_PTR, HKT_F_ALIGN, HKT_F_SIZE},
    [HKT_POSIX_MEMALIGN] = {HKT_F_ALIGN, HKT_F_SIZE, HKT_F_RET, HKT_F_RES},
    [HKT_ALIGNED_ALLOC] = {HKT_F_ALIGN, HKT_F_SIZE, HKT_F_RES},
    [HKT_MEMALIGN] = {HKT_F_ALIGN, HKT_F_SIZE, HKT_F_RES},
    [HKT_VALLOC] = {HKT_F_SIZE, HKT_F_RES},
    [HKT_PVALLOC] = {HKT_F_SIZE, HKT_F_RES},
    [HKT_HAK_MALLOC] = {HKT_F_SIZE, HKT_F_RES},
    [HKT_HAK_CALLOC] = {HKT_F_NMEMB, HKT_F_SIZE, HKT_F_RES},
    [HKT_HAK_REALLOC] = {HKT_F_PTR, HKT_F_SIZE, HKT_F_DSEQ2, HKT_F_RES},
    [HKT_HAK_FREE] = {HKT_F_PTR},
    [HKT_HAK_ALIGNED_ALLOC] = {HKT_F_ALIGN, HKT_F_SIZE, HKT_F_RES},
    [HKT_HAK_FREE_SIZED] = {HKT_F_PTR, HKT_F_SIZE},
    [HKT_HAK_ALLOC] = {HKT_F_SIZE, HKT_F_ALIGN, HKT_F_RES},
    [HKT_HAK_ALLOC_ZEROED] = {HKT_F_SIZE, HKT_F_ALIGN, HKT_F_RES},
    [HKT_HAK_DEALLOC] = {HKT_F_PTR, HKT_F_SIZE, HKT_F_ALIGN},
    [HKT_HAK_REALLOC_LAYOUT] = {HKT_F_PTR, HKT_F_OLD, HKT_F_ALIGN, HKT_F_SIZE, HKT_F_DSEQ2,
                                HKT_F_RES},
    [HKT_EV_THREAD] = {HKT_F_TID},
    [HKT_EV_FORK] = {HKT_F_PID},
    [HKT_EV_EXEC] = {HKT_F_BYTES},
};

static const char *const hkt_op_names[HKT_OP_LAST + 1] = {
    [HKT_MALLOC] = "malloc", [HKT_CALLOC] = "calloc", [HKT_REALLOC] = "realloc",
    [HKT_REALLOCARRAY] = "reallocarray", [HKT_FREE] = "free", [HKT_FREE_SIZED] = "free_sized",
    [HKT_FREE_ALIGNED_SIZED] = "free_aligned_sized", [HKT_POSIX_MEMALIGN] = "posix_memalign",
    [HKT_ALIGNED_ALLOC] = "aligned_alloc", [HKT_MEMALIGN] = "memalign", [HKT_VALLOC] = "valloc",
    [HKT_PVALLOC] = "pvalloc", [HKT_HAK_MALLOC] = "hak_malloc", [HKT_HAK_CALLOC] = "hak_calloc",
    [HKT_HAK_REALLOC] = "hak_realloc", [HKT_HAK_FREE] = "hak_free",
    [HKT_HAK_ALIGNED_ALLOC] = "hak_aligned_alloc", [HKT_HAK_FREE_SIZED] = "hak_free_sized",
    [HKT_HAK_ALLOC] = "hak_alloc", [HKT_HAK_ALLOC_ZEROED] = "hak_alloc_zeroed",
    [HKT_HAK_DEALLOC] = "hak_dealloc", [HKT_HAK_REALLOC_LAYOUT] = "hak_realloc_layout",
    [HKT_EV_THREAD] = "thread", [HKT_EV_FORK] = "fork", [HKT_EV_EXEC] = "exec",
};

/* What a call does to blocks: it produces one when it has a result, it
 * releases one when it has a pointer argument (a realloc does both). */
static inline int hkt_op_has(unsigned op, unsigned field)
{
    if (op > HKT_OP_LAST)
        return 0;
    for (unsigned i = 0; i < sizeof hkt_op_fields[0] && hkt_op_fields[op][i] != HKT_F_END; i++)
        if (hkt_op_fields[op][i] == field)
            return 1;
    return 0;
}

static inline int hkt_op_is_realloc(unsigned op)
{
    return hkt_op_has(op, HKT_F_DSEQ2);
}

/* ---- varints (LEB128, little-endian groups of 7 bits) ---------------------- */

static inline unsigned char *hkt_put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static inline uint64_t hkt_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t hkt_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Reads a varint from [*p, end); returns 0 when it runs past end or past 64 bits. */
static inline int hkt_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    const unsigned char *q = *p;
    while (q < end) {
        unsigned char b = *q++;
        if (shift == 63 && b > 1)
            return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *out = v;
            return 1;
        }
        shift += 7;
        if (shift > 63)
            return 0;
    }
    return 0;
}

static inline void hkt_put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t hkt_get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
