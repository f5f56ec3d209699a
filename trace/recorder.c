/* recorder.c: libhakmem_trace.so, preloaded into any program, records every
 * call of the malloc family (format.h) and passes it on to the allocator that
 * would have served it.
 *
 * Passing calls on. The recorder defines the standard names and calls
 * glibc's __libc_malloc, __libc_free, __libc_calloc, __libc_realloc,
 * __libc_memalign, __libc_valloc and __libc_pvalloc, bound like any other
 * symbol: to glibc, or to the allocator preloaded after the recorder when that
 * one defines them too (libhakmem.so does). No dlsym is needed for them, so a
 * malloc during start-up never recurses through the loader. Names the
 * recorder does not define (malloc_usable_size, malloc_trim, mallinfo2,
 * mallopt...) bind to that same allocator, so they pass through untouched.
 * hakmem's own API (hak_alloc, hak_dealloc...) is recorded when the program
 * calls it; those calls go to the next definition, found with
 * dlsym(RTLD_NEXT) at their first use.
 *
 * Nested calls. Every wrapper sets the thread's `busy` flag around the real
 * call and its own bookkeeping: a call that arrives while it is set (an
 * allocator whose realloc calls its own exported hak_realloc, or dlsym and
 * pthread functions that allocate inside the recorder) passes straight
 * through and is not recorded. The recorder itself never calls malloc: its
 * buffers and zlib's state come from mmap.
 *
 * Threads. Each thread appends records to a buffer of its own (64 KiB, mmap,
 * found through initial-exec TLS): no lock per call. The only shared write
 * per call is the seq counter (one atomic add; format.h says why it orders
 * frees and reuses correctly). A full buffer is compressed by the thread
 * itself (zlib, a small pool of compressors) and appended to the file under a
 * lock held only for the write. A thread's buffer is flushed when the thread
 * exits (a pthread key destructor) and reused by a later thread once the
 * kernel says the old one is gone (its late frees, after the destructor, go
 * to the buffer too).
 *
 * Processes. Each process writes its own file: the first process of a
 * recording creates HAKMEM_TRACE_FILE itself, every other one
 * HAKMEM_TRACE_FILE.<pid> (or .<pid>.<n> when an exec'd program finds its
 * pid's name taken). A fork child drops the parent's unflushed records (the
 * parent writes them) and opens its file at its first flush; an exec'd
 * program records too, through the LD_PRELOAD it inherits. Before an exec,
 * and at exit, _exit and fatal signals (SIGSEGV, SIGABRT, SIGTERM...: the
 * recorder's handler flushes, then the signal's default action runs),
 * everything buffered is written. The handlers are only installed where the
 * program left the default action, and sigaction()/signal() keep reporting
 * the default to the program, so a program that installs its own handler
 * gets exactly it (and re-arms the recorder's when it restores the default).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "format.h"

#define HKT_EXPORT __attribute__((visibility("default")))
#define HKT_LIKELY(x) __builtin_expect(!!(x), 1)
#define HKT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HKT_RECORDER_VERSION "1"

/* glibc's entry points (or the preloaded allocator's, which defines them too). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
extern pid_t __fork(void);
extern char **environ;

/* ---- state ------------------------------------------------------------------- */

#define BUF_BYTES (64u * 1024)  /* a full buffer is flushed */
#define BUF_SLACK 2048u         /* the largest record (an exec path is cut at 1 KiB) */
#define N_COMPRESSORS 8

enum { BUF_FREE, BUF_OWNED, BUF_RETIRED, BUF_RECLAIMING };

/* One thread's records. The owner appends at `pos` and publishes `committed`
 * after each whole record; [0, committed) is always a decodable chunk. Others
 * (exit, exec, signals) may write that prefix out under `lock` and then set
 * `sealed`: the owner starts a fresh chunk at its next record. */
struct tbuf {
    struct tbuf *next;           /* the global list; buffers are never unmapped */
    _Atomic int state;
    _Atomic int lock;
    _Atomic int sealed;
    _Atomic pid_t tid;
    uint32_t thread;             /* thread number in this process */
    _Atomic size_t committed;
    size_t pos;
    size_t base_len;             /* bytes of the chunk's base fields */
    uint64_t prev_seq, prev_time;
    uintptr_t prev_ptr;
    unsigned char data[BUF_BYTES + BUF_SLACK];
};

struct tstate {
    struct tbuf *buf;
    int busy;
    int failed;   /* no buffer could be had: pass through */
    int in_write; /* holds the file lock (a signal handler must not wait for it) */
};

static __thread struct tstate tls __attribute__((tls_model("initial-exec")));

struct compressor {
    _Atomic int lock;
    int ready;
    z_stream z;
    unsigned char *out;
    size_t out_cap;
};

static _Atomic int g_state;          /* 0 none, 1 starting, 2 recording, 3 disabled */
static _Atomic int g_closing;        /* finish() ran: nothing more is written */
static _Atomic int g_finishing;
static _Atomic int g_fatal;
static _Atomic uint64_t g_seq;
static _Atomic uint32_t g_threads;
static _Atomic uint64_t g_unrecorded;
static struct tbuf *_Atomic g_bufs;
static struct compressor g_comp[N_COMPRESSORS];
static _Atomic int g_file_lock;
static int g_fd = -1;
static dev_t g_dev;
static ino_t g_ino;
static pid_t g_pid;
static int g_forked;                 /* this process is a fork child (no exec) */
static int g_zlevel = 1;
static uint64_t g_mono_base;
static uint64_t g_real_base;
static char g_base[PATH_MAX];        /* HAKMEM_TRACE_FILE, absolute */
static char g_path[PATH_MAX + 32];   /* the file this process writes */
static char g_allocator[64];
static char g_cmdline[4096];
static char g_malloc_lib[PATH_MAX];
static size_t g_cmdline_len;
static pthread_key_t g_key;
static int g_key_ready;
static int g_quiet;

/* ---- small helpers (no malloc, no stdio) ----------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pid_t sys_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void spin_lock(_Atomic int *l)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
            if (++spins > 64)
                sched_yield();
        }
    }
}

/* A lock for signal handlers and exit: gives up after about a second, so a
 * thread stopped while holding it cannot hang the process's end. */
static int spin_lock_bounded(_Atomic int *l)
{
    for (unsigned i = 0; i < 200000; i++) {
        if (!atomic_exchange_explicit(l, 1, memory_order_acquire))
            return 1;
        if (i > 64)
            sched_yield();
    }
    return 0;
}

static void spin_unlock(_Atomic int *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

static void say(const char *a, const char *b)
{
    if (g_quiet)
        return;
    struct iovec v[4] = {{(void *)"hakmem-trace: ", 14}, {(void *)a, strlen(a)},
                         {(void *)b, b ? strlen(b) : 0}, {(void *)"\n", 1}};
    ssize_t r = writev(2, v, 4);
    (void)r;
}

static int write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[4];
    memcpy(v, iov, sizeof(*iov) * (size_t)n);
    int i = 0;
    while (i < n) {
        ssize_t w = writev(fd, v + i, n - i);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (i < n && (size_t)w >= v[i].iov_len) {
            w -= (ssize_t)v[i].iov_len;
            i++;
        }
        if (i < n) {
            v[i].iov_base = (char *)v[i].iov_base + w;
            v[i].iov_len -= (size_t)w;
        }
    }
    return 0;
}

static char *fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    *p = 0;
    return p;
}

/* The value of an environment variable, scanning environ (no getenv: it may
 * run before libc set things up) or /proc/self/environ when environ is not
 * set yet. */
static char g_envbuf[16384];
static const char *env_get(const char *name)
{
    size_t n = strlen(name);
    if (environ != NULL) {
        for (char **e = environ; *e; e++)
            if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                return *e + n + 1;
        return NULL;
    }
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t len = read(fd, g_envbuf, sizeof g_envbuf - 1);
    close(fd);
    if (len <= 0)
        return NULL;
    g_envbuf[len] = 0;
    for (char *p = g_envbuf; p < g_envbuf + len; p += strlen(p) + 1)
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
    return NULL;
}

static void *map_bytes(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* zlib's memory: from mmap, never from the allocator being recorded. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    size_t n = (size_t)items * size + 16;
    unsigned char *p = map_bytes(n);
    if (p == NULL)
        return Z_NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

static void z_free(voidpf opaque, voidpf address)
{
    (void)opaque;
    if (address == Z_NULL)
        return;
    unsigned char *p = (unsigned char *)address - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    munmap(p, n);
}

/* ---- the file ------------------------------------------------------------------ */

static unsigned char *put_tlv_u(unsigned char *p, unsigned key, uint64_t v)
{
    unsigned char tmp[10];
    unsigned char *e = hkt_put_varint(tmp, v);
    p = hkt_put_varint(p, key);
    p = hkt_put_varint(p, (uint64_t)(e - tmp));
    memcpy(p, tmp, (size_t)(e - tmp));
    return p + (e - tmp);
}

static unsigned char *put_tlv_b(unsigned char *p, unsigned key, const void *b, size_t n)
{
    p = hkt_put_varint(p, key);
    p = hkt_put_varint(p, n);
    memcpy(p, b, n);
    return p + n;
}

/* Keeps the trace's descriptor away from the numbers programs use themselves
 * (shells dup2 onto 3-9, and programs take the lowest free number). */
static int high_fd(int fd)
{
    struct rlimit rl;
    long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur : 1024;
    if (lim > 1024)
        lim = 1024;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, (int)(lim * 3 / 4));
    if (h < 0)
        return fd;
    close(fd);
    return h;
}

static int write_header(int fd)
{
    static unsigned char h[8192 + PATH_MAX * 2];
    unsigned char *p = h + HKT_MAGIC_LEN + 8;
    p = put_tlv_u(p, HKT_H_PID, (uint64_t)g_pid);
    p = put_tlv_u(p, HKT_H_PPID, (uint64_t)getppid());
    p = put_tlv_u(p, HKT_H_START_REALTIME_NS, g_real_base);
    p = put_tlv_u(p, HKT_H_START_MONO_NS, g_mono_base);
    p = put_tlv_b(p, HKT_H_CMDLINE, g_cmdline, g_cmdline_len);
    p = put_tlv_b(p, HKT_H_MALLOC_LIB, g_malloc_lib, strlen(g_malloc_lib));
    p = put_tlv_b(p, HKT_H_ALLOCATOR, g_allocator, strlen(g_allocator));
    p = put_tlv_u(p, HKT_H_FORKED, (uint64_t)g_forked);
    p = put_tlv_b(p, HKT_H_RECORDER, HKT_RECORDER_VERSION, strlen(HKT_RECORDER_VERSION));
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
    if (n > 0)
        p = put_tlv_b(p, HKT_H_EXE, exe, (size_t)n);
    memcpy(h, HKT_MAGIC, HKT_MAGIC_LEN);
    hkt_put_u32le(h + HKT_MAGIC_LEN, HKT_VERSION);
    hkt_put_u32le(h + HKT_MAGIC_LEN + 4, (uint32_t)(p - h - HKT_MAGIC_LEN - 8));
    struct iovec v = {h, (size_t)(p - h)};
    return write_all(fd, &v, 1);
}

/* Creates this process's file: the base name if `root` and it is free, else
 * base.<pid>, else base.<pid>.<n>. Called with the file lock held or before
 * any thread records. */
static int open_file(int root)
{
    char *end;
    for (int n = root ? -1 : 0; n < 1000; n++) {
        memcpy(g_path, g_base, strlen(g_base) + 1);
        if (n >= 0) {
            end = g_path + strlen(g_path);
            *end++ = '.';
            end = fmt_u64(end, (uint64_t)g_pid);
            if (n > 0) {
                *end++ = '.';
                fmt_u64(end, (uint64_t)n);
            }
        }
        int fd = open(g_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            fd = high_fd(fd);
            struct stat st;
            if (fstat(fd, &st) == 0) {
                g_dev = st.st_dev;
                g_ino = st.st_ino;
            }
            if (write_header(fd) != 0) {
                close(fd);
                say("cannot write ", g_path);
                return -1;
            }
            g_fd = fd;
            return 0;
        }
        if (errno != EEXIST) {
            say("cannot create ", g_path);
            return -1;
        }
    }
    say("no free file name for ", g_base);
    return -1;
}

/* The descriptor, if it is still ours: a program that closes every
 * descriptor (daemons, a child before exec) may have closed it, or put
 * another file under its number. Then the file is opened again. Called with
 * the file lock held. */
static int file_fd(void)
{
    if (g_fd < 0)
        return g_pid == 0 ? -1 : (open_file(0) == 0 ? g_fd : -1);
    struct stat st;
    if (fstat(g_fd, &st) == 0 && st.st_dev == g_dev && st.st_ino == g_ino)
        return g_fd;
    int fd = open(g_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fd = high_fd(fd);
    if (fstat(fd, &st) == 0) {
        g_dev = st.st_dev;
        g_ino = st.st_ino;
    }
    g_fd = fd;
    return fd;
}

/* Appends to the file under its lock. */
static void file_write(const struct iovec *v, int bounded)
{
    struct tstate *t = &tls;
    if (bounded && t->in_write)
        return; /* a signal arrived while this thread was writing */
    if (bounded ? !spin_lock_bounded(&g_file_lock) : (spin_lock(&g_file_lock), 0))
        return;
    t->in_write = 1;
    int fd = file_fd();
    if (fd >= 0)
        write_all(fd, v, 2);
    t->in_write = 0;
    spin_unlock(&g_file_lock);
}

static struct compressor *compressor_get(int bounded)
{
    for (unsigned round = 0;; round++) {
        for (int i = 0; i < N_COMPRESSORS; i++) {
            struct compressor *c = &g_comp[i];
            if (atomic_exchange_explicit(&c->lock, 1, memory_order_acquire))
                continue;
            if (!c->ready) {
                memset(&c->z, 0, sizeof c->z);
                c->z.zalloc = z_alloc;
                c->z.zfree = z_free;
                if (deflateInit2(&c->z, g_zlevel, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                    spin_unlock(&c->lock);
                    return NULL;
                }
                c->out_cap = deflateBound(&c->z, BUF_BYTES + BUF_SLACK) + 64;
                c->out = map_bytes(c->out_cap);
                if (c->out == NULL) {
                    deflateEnd(&c->z);
                    spin_unlock(&c->lock);
                    return NULL;
                }
                c->ready = 1;
            }
            return c;
        }
        if (bounded && round > 100000)
            return NULL;
        sched_yield();
    }
}

/* Compresses raw[0, n) as one chunk of `thread` and appends it to the file. */
static void write_chunk(uint32_t thread, const unsigned char *raw, size_t n, int bounded)
{
    int saved = errno;
    struct compressor *c = compressor_get(bounded);
    if (c == NULL)
        goto out;
    deflateReset(&c->z);
    c->z.next_in = (Bytef *)raw;
    c->z.avail_in = (uInt)n;
    c->z.next_out = c->out;
    c->z.avail_out = (uInt)c->out_cap;
    if (deflate(&c->z, Z_FINISH) != Z_STREAM_END) {
        spin_unlock(&c->lock);
        goto out;
    }
    size_t clen = c->out_cap - c->z.avail_out;
    unsigned char head[40], *p = head;
    *p++ = HKT_CHUNK_RECORDS;
    p = hkt_put_varint(p, thread);
    p = hkt_put_varint(p, n);
    p = hkt_put_varint(p, clen);
    hkt_put_u32le(p, (uint32_t)crc32(0, raw, (uInt)n));
    p += 4;
    struct iovec v[2] = {{head, (size_t)(p - head)}, {c->out, clen}};
    file_write(v, bounded);
    spin_unlock(&c->lock);
out:
    errno = saved;
}

/* ---- buffers --------------------------------------------------------------------- */

/* Starts a new chunk: its base fields are the owner's last seq and time. */
static void buf_reset(struct tbuf *b)
{
    unsigned char *p = hkt_put_varint(b->data, b->prev_seq);
    p = hkt_put_varint(p, b->prev_time);
    b->base_len = b->pos = (size_t)(p - b->data);
    b->prev_ptr = 0;
    atomic_store_explicit(&b->committed, b->pos, memory_order_release);
}

/* The owner writes its chunk and starts the next one. */
static void buf_flush_owner(struct tbuf *b)
{
    spin_lock(&b->lock);
    if (atomic_load_explicit(&b->sealed, memory_order_relaxed)) {
        atomic_store_explicit(&b->sealed, 0, memory_order_relaxed);
    } else if (b->pos > b->base_len && !atomic_load_explicit(&g_closing, memory_order_relaxed)) {
        write_chunk(b->thread, b->data, b->pos, 0);
    }
    buf_reset(b);
    spin_unlock(&b->lock);
}

/* Another thread writes out what b holds (exit, exec, a signal); `once`:
 * try its lock once only (a signal handler on b's own thread). */
static void buf_flush_foreign(struct tbuf *b, int bounded, int once)
{
    if (once ? atomic_exchange_explicit(&b->lock, 1, memory_order_acquire)
             : bounded ? !spin_lock_bounded(&b->lock) : (spin_lock(&b->lock), 0))
        return;
    if (!atomic_load_explicit(&b->sealed, memory_order_relaxed)) {
        size_t n = atomic_load_explicit(&b->committed, memory_order_acquire);
        if (n > b->base_len) {
            write_chunk(b->thread, b->data, n, bounded);
            atomic_store_explicit(&b->sealed, 1, memory_order_relaxed);
        }
    }
    spin_unlock(&b->lock);
}

static struct tbuf *buf_claim(void)
{
    int checked = 0;
    for (struct tbuf *b = atomic_load_explicit(&g_bufs, memory_order_acquire); b; b = b->next) {
        int st = atomic_load_explicit(&b->state, memory_order_relaxed);
        if (st == BUF_FREE) {
            if (atomic_compare_exchange_strong(&b->state, &st, BUF_OWNED))
                return b;
        } else if (st == BUF_RETIRED && checked < 8) {
            /* Its thread ran its destructors; once the kernel no longer knows
             * the thread, nothing can append to the buffer any more. */
            checked++;
            int saved = errno;
            int gone = syscall(SYS_tgkill, g_pid, atomic_load(&b->tid), 0) != 0 && errno == ESRCH;
            errno = saved;
            if (gone && atomic_compare_exchange_strong(&b->state, &st, BUF_RECLAIMING)) {
                spin_lock(&b->lock);
                if (!atomic_load_explicit(&b->sealed, memory_order_relaxed) &&
                    b->pos > b->base_len && !atomic_load(&g_closing))
                    write_chunk(b->thread, b->data, b->pos, 0);
                spin_unlock(&b->lock);
                atomic_store(&b->state, BUF_OWNED);
                return b;
            }
        }
    }
    struct tbuf *b = map_bytes(sizeof *b);
    if (b == NULL)
        return NULL;
    atomic_store(&b->state, BUF_OWNED);
    struct tbuf *head = atomic_load(&g_bufs);
    do
        b->next = head;
    while (!atomic_compare_exchange_weak(&g_bufs, &head, b));
    return b;
}

/* ---- records -------------------------------------------------------------------- */

static inline uint64_t next_seq(void)
{
    return atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);
}

static inline uint64_t rel_time(void)
{
    return now_ns() - g_mono_base;
}

/* Opens a record: op, seq and time differences. A sealed buffer (another
 * thread wrote it out) starts a fresh chunk first. */
static inline unsigned char *rec_open(struct tbuf *b, unsigned op, uint64_t seq, uint64_t t)
{
    if (HKT_UNLIKELY(atomic_load_explicit(&b->sealed, memory_order_relaxed))) {
        spin_lock(&b->lock);
        atomic_store_explicit(&b->sealed, 0, memory_order_relaxed);
        buf_reset(b);
        spin_unlock(&b->lock);
    }
    unsigned char *p = b->data + b->pos;
    *p++ = (unsigned char)op;
    p = hkt_put_varint(p, seq - b->prev_seq);
    p = hkt_put_varint(p, t - b->prev_time);
    b->prev_seq = seq;
    b->prev_time = t;
    return p;
}

static inline unsigned char *rec_ptr(struct tbuf *b, unsigned char *p, const void *ptr)
{
    uintptr_t v = (uintptr_t)ptr;
    p = hkt_put_varint(p, hkt_zigzag((int64_t)(v - b->prev_ptr)));
    b->prev_ptr = v;
    return p;
}

static inline void rec_close(struct tbuf *b, unsigned char *p)
{
    b->pos = (size_t)(p - b->data);
    atomic_store_explicit(&b->committed, b->pos, memory_order_release);
    if (HKT_UNLIKELY(b->pos >= BUF_BYTES))
        buf_flush_owner(b);
}

/* ---- start-up ------------------------------------------------------------------ */

static void read_cmdline(void)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, g_cmdline, sizeof g_cmdline);
    close(fd);
    g_cmdline_len = n > 0 ? (size_t)n : 0;
}

/* Stage one, safe anywhere (even inside the first malloc of the process):
 * only system calls. Opens the file; from here on calls are recorded. */
static void global_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&g_state, &expect, 1)) {
        while (atomic_load(&g_state) == 1)
            sched_yield();
        return;
    }
    int saved = errno;
    g_quiet = env_get("HAKMEM_TRACE_QUIET") != NULL;
    const char *path = env_get("HAKMEM_TRACE_FILE");
    const char *alloc = env_get("HAKMEM_TRACE_ALLOCATOR");
    const char *level = env_get("HAKMEM_TRACE_ZLEVEL");
    if (level != NULL && level[0] >= '0' && level[0] <= '9' && level[1] == 0)
        g_zlevel = level[0] - '0';
    if (alloc != NULL) {
        size_t n = strlen(alloc);
        if (n >= sizeof g_allocator)
            n = sizeof g_allocator - 1;
        memcpy(g_allocator, alloc, n);
    }
    if (path == NULL || path[0] == 0)
        path = "hakmem-trace";
    size_t plen = strlen(path);
    size_t off = 0;
    if (path[0] != '/') {
        if (getcwd(g_base, sizeof g_base - plen - 2) == NULL) {
            say("cannot tell the current directory for ", path);
            atomic_store(&g_state, 3);
            errno = saved;
            return;
        }
        off = strlen(g_base);
        g_base[off++] = '/';
    }
    if (off + plen >= sizeof g_base) {
        say("path too long: ", path);
        atomic_store(&g_state, 3);
        errno = saved;
        return;
    }
    memcpy(g_base + off, path, plen + 1);
    g_pid = getpid();
    g_mono_base = now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    g_real_base = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    read_cmdline();
    /* Which file serves the calls: named in the header (dladdr here, once:
     * a fork child must not take the loader's lock). */
    Dl_info info;
    if (dladdr((void *)&__libc_malloc, &info) != 0 && info.dli_fname != NULL &&
        strlen(info.dli_fname) < sizeof g_malloc_lib)
        memcpy(g_malloc_lib, info.dli_fname, strlen(info.dli_fname) + 1);
    atomic_store(&g_state, open_file(1) == 0 ? 2 : 3);
    errno = saved;
}

static void thread_exit(void *arg);

/* A thread's first recorded call: a buffer, its number, its first record. */
static struct tbuf *thread_init(struct tstate *t)
{
    if (atomic_load_explicit(&g_state, memory_order_acquire) != 2) {
        if (atomic_load(&g_state) == 0)
            global_init();
        if (atomic_load(&g_state) != 2)
            return NULL;
    }
    if (atomic_load(&g_closing))
        return NULL;
    struct tbuf *b = buf_claim();
    if (b == NULL) {
        t->failed = 1;
        return NULL;
    }
    b->thread = atomic_fetch_add(&g_threads, 1);
    atomic_store(&b->tid, sys_gettid());
    atomic_store(&b->sealed, 0);
    b->prev_seq = atomic_load(&g_seq);
    b->prev_time = rel_time();
    buf_reset(b);
    unsigned char *p = rec_open(b, HKT_EV_THREAD, b->prev_seq, b->prev_time);
    p = hkt_put_varint(p, (uint64_t)atomic_load(&b->tid));
    rec_close(b, p);
    t->buf = b;
    if (g_key_ready)
        pthread_setspecific(g_key, b); /* may calloc (keys >= 32): busy is set */
    return b;
}

/* Enters a wrapper: the thread's buffer with busy set, or NULL to pass the
 * call through unrecorded (nested call, recording off). */
static struct tbuf *enter_slow(struct tstate *t)
{
    if (t->busy)
        return NULL;
    if (t->failed || atomic_load_explicit(&g_closing, memory_order_relaxed)) {
        if (!atomic_load_explicit(&g_closing, memory_order_relaxed))
            atomic_fetch_add_explicit(&g_unrecorded, 1, memory_order_relaxed);
        return NULL;
    }
    t->busy = 1;
    struct tbuf *b = t->buf != NULL ? t->buf : thread_init(t);
    if (b == NULL) {
        t->busy = 0;
        if (atomic_load(&g_state) == 2 && !atomic_load(&g_closing))
            atomic_fetch_add_explicit(&g_unrecorded, 1, memory_order_relaxed);
    }
    return b;
}

static inline struct tbuf *enter(struct tstate *t)
{
    struct tbuf *b = t->buf;
    if (HKT_LIKELY(b != NULL && !t->busy)) {
        t->busy = 1;
        return b;
    }
    return enter_slow(t);
}

static inline void leave(struct tstate *t)
{
    t->busy = 0;
}

/* ---- the end: exit, _exit, exec, fatal signals --------------------------------------- */

static void write_end(int bounded)
{
    unsigned char body[64], head[16], *p = body;
    p = put_tlv_u(p, HKT_E_THREADS, atomic_load(&g_threads));
    p = put_tlv_u(p, HKT_E_UNRECORDED, atomic_load(&g_unrecorded));
    unsigned char *h = head;
    *h++ = HKT_CHUNK_END;
    h = hkt_put_varint(h, (uint64_t)(p - body));
    struct iovec v[2] = {{head, (size_t)(h - head)}, {body, (size_t)(p - body)}};
    file_write(v, bounded);
}

/* Writes out every buffer and an end chunk. `bounded`: in a signal handler
 * (locks are tried for a while only). The calling thread's own buffer is
 * written as its owner, unless the signal interrupted it inside the recorder. */
static void flush_all(int bounded)
{
    struct tstate *t = &tls;
    int was_busy = t->busy;
    t->busy = 1;
    for (struct tbuf *b = atomic_load(&g_bufs); b; b = b->next) {
        int st = atomic_load(&b->state);
        if (st != BUF_OWNED && st != BUF_RETIRED)
            continue;
        if (b == t->buf && !was_busy)
            buf_flush_owner(b);
        else
            buf_flush_foreign(b, bounded, b == t->buf);
    }
    write_end(bounded);
    t->busy = was_busy;
}

/* The process ends: everything is written once; later calls pass through. */
static void finish(int bounded)
{
    if (atomic_load(&g_state) != 2 || getpid() != g_pid)
        return; /* not recording, or a vfork child sharing its parent's memory */
    if (atomic_exchange(&g_finishing, 1))
        return;
    flush_all(bounded);
    atomic_store(&g_closing, 1);
}

static void thread_exit(void *arg)
{
    struct tbuf *b = arg;
    struct tstate *t = &tls;
    if (b == NULL || t->buf != b)
        return;
    int was_busy = t->busy;
    t->busy = 1;
    buf_flush_owner(b);
    /* The thread may still free blocks (other destructors, libc's own
     * clean-up): they go on into b, which buf_claim reuses only once the
     * thread is gone. */
    atomic_store(&b->state, BUF_RETIRED);
    t->busy = was_busy;
}

HKT_EXPORT void _exit(int status)
{
    finish(0);
    for (;;)
        syscall(SYS_exit_group, status);
}

HKT_EXPORT void _Exit(int status)
{
    _exit(status);
}

/* ---- fatal signals ---------------------------------------------------------------- */

static const int g_fatal_signals[] = {SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,  SIGABRT, SIGSYS,
                                      SIGTRAP, SIGXCPU, SIGXFSZ, SIGTERM, SIGINT,  SIGHUP,
                                      SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2};
static unsigned char g_watched[NSIG];
static struct sigaction g_prog_action[NSIG]; /* what the program set, while ours is in */
static _Atomic int g_sig_lock;

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (!atomic_exchange(&g_fatal, 1))
        finish(1);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    __sigaction(sig, &dfl, NULL);
    /* A fault returns to the faulting instruction and faults again, now with
     * the default action (and a core dump); a sent signal is sent again. */
    int synchronous = (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
                       sig == SIGTRAP || sig == SIGSYS) && si != NULL && si->si_code > 0;
    if (!synchronous)
        syscall(SYS_tgkill, getpid(), sys_gettid(), sig);
    errno = saved;
}

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fatal;
}

static int install_ours(int sig, const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (mask != NULL)
        sa.sa_mask = *mask;
    else
        sigemptyset(&sa.sa_mask);
    return __sigaction(sig, &sa, NULL);
}

HKT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig <= 0 || sig >= NSIG || !g_watched[sig])
        return __sigaction(sig, act, old);
    spin_lock(&g_sig_lock);
    struct sigaction cur;
    int rc = __sigaction(sig, NULL, &cur);
    if (rc == 0 && old != NULL)
        *old = is_ours(&cur) ? g_prog_action[sig] : cur;
    if (rc == 0 && act != NULL) {
        if (act->sa_handler == SIG_DFL && !atomic_load(&g_fatal)) {
            rc = install_ours(sig, &act->sa_mask);
            if (rc == 0)
                g_prog_action[sig] = *act;
        } else {
            rc = __sigaction(sig, act, NULL);
        }
    }
    spin_unlock(&g_sig_lock);
    return rc;
}

HKT_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART; /* glibc's signal(): BSD semantics */
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

static void install_signal_handlers(void)
{
    for (size_t i = 0; i < sizeof g_fatal_signals / sizeof g_fatal_signals[0]; i++) {
        int sig = g_fatal_signals[i];
        struct sigaction cur;
        if (__sigaction(sig, NULL, &cur) != 0)
            continue;
        g_watched[sig] = 1;
        if (cur.sa_handler == SIG_DFL && !(cur.sa_flags & SA_SIGINFO) &&
            install_ours(sig, &cur.sa_mask) == 0)
            g_prog_action[sig] = cur;
    }
}

/* ---- fork and exec ------------------------------------------------------------------ */

static void fork_child(void)
{
    /* One thread now, which may have forked while others held locks: every
     * lock starts free, the other threads' buffers are dropped (their
     * records are the parent's to write), and so are this thread's
     * unflushed ones. The file is opened at the first flush. */
    struct tstate *t = &tls;
    if (atomic_load(&g_state) != 2)
        return;
    g_pid = getpid();
    g_forked = 1;
    g_fd = -1;
    atomic_store(&g_file_lock, 0);
    atomic_store(&g_sig_lock, 0);
    for (int i = 0; i < N_COMPRESSORS; i++)
        atomic_store(&g_comp[i].lock, 0);
    for (struct tbuf *b = atomic_load(&g_bufs); b; b = b->next) {
        atomic_store(&b->lock, 0);
        atomic_store(&b->sealed, 0);
        if (b != t->buf)
            atomic_store(&b->state, BUF_FREE);
    }
    atomic_store(&g_seq, 0);
    atomic_store(&g_threads, 0);
    atomic_store(&g_unrecorded, 0);
    atomic_store(&g_closing, 0);
    atomic_store(&g_finishing, 0);
    g_mono_base = now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    g_real_base = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    struct tbuf *b = t->buf;
    if (b != NULL) {
        b->thread = atomic_fetch_add(&g_threads, 1);
        atomic_store(&b->tid, sys_gettid());
        atomic_store(&b->state, BUF_OWNED);
        b->prev_seq = 0;
        b->prev_time = 0;
        buf_reset(b);
        unsigned char *p = rec_open(b, HKT_EV_THREAD, 0, 0);
        p = hkt_put_varint(p, (uint64_t)atomic_load(&b->tid));
        rec_close(b, p);
    }
}

HKT_EXPORT pid_t fork(void)
{
    pid_t pid = __fork();
    if (pid > 0) {
        struct tstate *t = &tls;
        struct tbuf *b = enter(t);
        if (b != NULL) {
            unsigned char *p = rec_open(b, HKT_EV_FORK, b->prev_seq, rel_time());
            p = hkt_put_varint(p, (uint64_t)pid);
            rec_close(b, p);
            leave(t);
        }
    }
    return pid;
}

static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);

/* Before an exec: the exec is noted and everything written (if the exec
 * fails, recording goes on). Nothing in a vfork child: it shares the parent's
 * memory, and the parent writes its own records. */
static void before_exec(const char *path)
{
    if (atomic_load(&g_state) != 2 || getpid() != g_pid || atomic_load(&g_closing))
        return;
    struct tstate *t = &tls;
    struct tbuf *b = enter(t);
    if (b != NULL) {
        size_t n = path ? strlen(path) : 0;
        if (n > 1024)
            n = 1024;
        unsigned char *p = rec_open(b, HKT_EV_EXEC, b->prev_seq, rel_time());
        p = hkt_put_varint(p, n);
        if (n > 0)
            memcpy(p, path, n);
        rec_close(b, p + n);
        leave(t);
    }
    flush_all(0);
}

HKT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec(path);
    return (int)syscall(SYS_execve, path, argv, envp);
}

HKT_EXPORT int execv(const char *path, char *const argv[])
{
    before_exec(path);
    if (real_execv == NULL)
        return (int)syscall(SYS_execve, path, argv, environ);
    return real_execv(path, argv);
}

HKT_EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec(file);
    if (real_execvp == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real_execvp(file, argv);
}

HKT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec(file);
    if (real_execvpe == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real_execvpe(file, argv, envp);
}

HKT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec("(fexecve)");
    if (real_fexecve == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real_fexecve(fd, argv, envp);
}

/* execl, execlp, execle: the arguments into an array on the stack. */
#define HKT_VARARGS_TO_ARGV(first, last_is_envp)                                            \
    va_list ap;                                                                            \
    size_t argc = 1;                                                                       \
    va_start(ap, first);                                                                   \
    while (va_arg(ap, char *) != NULL)                                                     \
        argc++;                                                                            \
    va_end(ap);                                                                            \
    char *argv[argc + 1];                                                                  \
    char *const *envp = environ;                                                           \
    argv[0] = (char *)(first);                                                             \
    va_start(ap, first);                                                                   \
    for (size_t i = 1; i <= argc; i++)                                                     \
        argv[i] = i < argc ? va_arg(ap, char *) : NULL;                                    \
    if (last_is_envp) {                                                                    \
        (void)va_arg(ap, char *);                                                          \
        envp = va_arg(ap, char *const *);                                                  \
    }                                                                                      \
    va_end(ap);

HKT_EXPORT int execl(const char *path, const char *arg, ...)
{
    HKT_VARARGS_TO_ARGV(arg, 0)
    (void)envp;
    return execv(path, argv);
}

HKT_EXPORT int execlp(const char *file, const char *arg, ...)
{
    HKT_VARARGS_TO_ARGV(arg, 0)
    (void)envp;
    return execvp(file, argv);
}

HKT_EXPORT int execle(const char *path, const char *arg, ...)
{
    HKT_VARARGS_TO_ARGV(arg, 1)
    return execve(path, argv, envp);
}

/* ---- constructor and destructor ---------------------------------------------------- */

/* Stage two, in the constructor (a normal context, before main): what may
 * take libc's locks or allocate. Allocations made here pass through (busy). */
__attribute__((constructor)) static void hkt_init(void)
{
    struct tstate *t = &tls;
    global_init();
    if (atomic_load(&g_state) != 2)
        return;
    int was_busy = t->busy;
    t->busy = 1;
    real_execv = (int (*)(const char *, char *const[]))dlsym(RTLD_NEXT, "execv");
    real_execvp = (int (*)(const char *, char *const[]))dlsym(RTLD_NEXT, "execvp");
    real_execvpe =
        (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execvpe");
    real_fexecve = (int (*)(int, char *const[], char *const[]))dlsym(RTLD_NEXT, "fexecve");
    if (pthread_key_create(&g_key, thread_exit) == 0)
        g_key_ready = 1;
    pthread_atfork(NULL, NULL, fork_child);
    install_signal_handlers();
    t->busy = was_busy;
    if (t->buf != NULL && g_key_ready)
        pthread_setspecific(g_key, t->buf);
}

__attribute__((destructor)) static void hkt_fini(void)
{
    finish(0);
}

/* ---- the malloc family ------------------------------------------------------------ */

#define RECORD_PRODUCE(op, call, fields)                                                   \
    struct tstate *t = &tls;                                                               \
    struct tbuf *b = enter(t);                                                             \
    if (b == NULL)                                                                         \
        return call;                                                                       \
    void *r = call;                                                                        \
    unsigned char *p = rec_open(b, op, next_seq(), rel_time());                            \
    fields;                                                                                \
    p = rec_ptr(b, p, r);                                                                  \
    rec_close(b, p);                                                                       \
    leave(t);                                                                              \
    return r;

HKT_EXPORT void *malloc(size_t size)
{
    RECORD_PRODUCE(HKT_MALLOC, __libc_malloc(size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void *calloc(size_t n, size_t size)
{
    RECORD_PRODUCE(HKT_CALLOC, __libc_calloc(n, size),
                   (p = hkt_put_varint(p, n), p = hkt_put_varint(p, size)))
}

HKT_EXPORT void *valloc(size_t size)
{
    RECORD_PRODUCE(HKT_VALLOC, __libc_valloc(size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void *pvalloc(size_t size)
{
    RECORD_PRODUCE(HKT_PVALLOC, __libc_pvalloc(size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void *memalign(size_t align, size_t size)
{
    RECORD_PRODUCE(HKT_MEMALIGN, __libc_memalign(align, size),
                   (p = hkt_put_varint(p, align), p = hkt_put_varint(p, size)))
}

/* C11: the alignment must be a power of two (glibc 2.38 and hakmem say EINVAL;
 * glibc 2.36 rounded it up like memalign). */
static void *aligned_alloc_impl(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return __libc_memalign(align, size);
}

HKT_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    RECORD_PRODUCE(HKT_ALIGNED_ALLOC, aligned_alloc_impl(align, size),
                   (p = hkt_put_varint(p, align), p = hkt_put_varint(p, size)))
}

static int posix_memalign_impl(void **out, size_t align, size_t size, void **res)
{
    *res = NULL;
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *r = __libc_memalign(align, size);
    errno = saved; /* posix_memalign reports through its result, not errno */
    if (r == NULL)
        return ENOMEM;
    *out = *res = r;
    return 0;
}

HKT_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    struct tstate *t = &tls;
    void *r;
    struct tbuf *b = enter(t);
    if (b == NULL)
        return posix_memalign_impl(out, align, size, &r);
    int rc = posix_memalign_impl(out, align, size, &r);
    unsigned char *p = rec_open(b, HKT_POSIX_MEMALIGN, next_seq(), rel_time());
    p = hkt_put_varint(p, align);
    p = hkt_put_varint(p, size);
    p = hkt_put_varint(p, (uint64_t)rc);
    p = rec_ptr(b, p, r);
    rec_close(b, p);
    leave(t);
    return rc;
}

/* A release: the seq is taken before the allocator can hand the block out again. */
#define RECORD_RELEASE(op, ptr, call, fields)                                              \
    struct tstate *t = &tls;                                                               \
    if (ptr == NULL) {                                                                     \
        call;                                                                              \
        return;                                                                            \
    }                                                                                      \
    struct tbuf *b = enter(t);                                                             \
    if (b == NULL) {                                                                       \
        call;                                                                              \
        return;                                                                            \
    }                                                                                      \
    unsigned char *p = rec_open(b, op, next_seq(), rel_time());                            \
    p = rec_ptr(b, p, ptr);                                                                \
    fields;                                                                                \
    rec_close(b, p);                                                                       \
    call;                                                                                  \
    leave(t);

HKT_EXPORT void free(void *ptr)
{
    RECORD_RELEASE(HKT_FREE, ptr, __libc_free(ptr), (void)0)
}

HKT_EXPORT void cfree(void *ptr)
{
    free(ptr);
}

HKT_EXPORT void free_sized(void *ptr, size_t size)
{
    RECORD_RELEASE(HKT_FREE_SIZED, ptr, __libc_free(ptr), p = hkt_put_varint(p, size))
}

HKT_EXPORT void free_aligned_sized(void *ptr, size_t align, size_t size)
{
    RECORD_RELEASE(HKT_FREE_ALIGNED_SIZED, ptr, __libc_free(ptr),
                   (p = hkt_put_varint(p, align), p = hkt_put_varint(p, size)))
}

/* The realloc family: one seq before (the release) and one after (the new block). */
#define RECORD_REALLOC(op, ptr, call, fields)                                              \
    struct tstate *t = &tls;                                                               \
    struct tbuf *b = enter(t);                                                             \
    if (b == NULL)                                                                         \
        return call;                                                                       \
    uint64_t s1 = next_seq();                                                              \
    void *r = call;                                                                        \
    uint64_t s2 = next_seq();                                                              \
    unsigned char *p = rec_open(b, op, s1, rel_time());                                    \
    p = rec_ptr(b, p, ptr);                                                                \
    fields;                                                                                \
    p = hkt_put_varint(p, s2 - s1);                                                        \
    b->prev_seq = s2;                                                                      \
    p = rec_ptr(b, p, r);                                                                  \
    rec_close(b, p);                                                                       \
    leave(t);                                                                              \
    return r;

HKT_EXPORT void *realloc(void *ptr, size_t size)
{
    RECORD_REALLOC(HKT_REALLOC, ptr, __libc_realloc(ptr, size), p = hkt_put_varint(p, size))
}

static void *reallocarray_impl(void *ptr, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(ptr, total);
}

HKT_EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
    RECORD_REALLOC(HKT_REALLOCARRAY, ptr, reallocarray_impl(ptr, n, size),
                   (p = hkt_put_varint(p, n), p = hkt_put_varint(p, size)))
}

/* ---- hakmem's API, when the program calls it ------------------------------------- */

/* The next definition of a hak_* name (the hakmem library the program uses),
 * looked up at its first call; dlsym may allocate, and busy is set then. */
static void *next_sym(void *_Atomic *slot, const char *name)
{
    void *f = atomic_load_explicit(slot, memory_order_acquire);
    if (HKT_LIKELY(f != NULL))
        return f;
    struct tstate *t = &tls;
    int was_busy = t->busy;
    t->busy = 1;
    f = dlsym(RTLD_NEXT, name);
    t->busy = was_busy;
    if (f == NULL) {
        say("no hakmem library behind the recorder for ", name);
        abort();
    }
    atomic_store_explicit(slot, f, memory_order_release);
    return f;
}

typedef void *(*hkt_fn_s)(size_t);
typedef void *(*hkt_fn_ss)(size_t, size_t);
typedef void *(*hkt_fn_ps)(void *, size_t);
typedef void *(*hkt_fn_psss)(void *, size_t, size_t, size_t);
typedef void (*hkt_fn_free)(void *);
typedef void (*hkt_fn_free_s)(void *, size_t);
typedef void (*hkt_fn_free_ss)(void *, size_t, size_t);

#define HAK_NEXT(type, name)                                                               \
    static void *_Atomic next_##name;                                                      \
    static inline type name##_next(void) { return (type)next_sym(&next_##name, #name); }

HAK_NEXT(hkt_fn_s, hak_malloc)
HAK_NEXT(hkt_fn_ss, hak_calloc)
HAK_NEXT(hkt_fn_ps, hak_realloc)
HAK_NEXT(hkt_fn_free, hak_free)
HAK_NEXT(hkt_fn_ss, hak_aligned_alloc)
HAK_NEXT(hkt_fn_free_s, hak_free_sized)
HAK_NEXT(hkt_fn_ss, hak_alloc)
HAK_NEXT(hkt_fn_ss, hak_alloc_zeroed)
HAK_NEXT(hkt_fn_free_ss, hak_dealloc)
HAK_NEXT(hkt_fn_psss, hak_realloc_layout)

HKT_EXPORT void *hak_malloc(size_t size)
{
    void *(*f)(size_t) = hak_malloc_next();
    RECORD_PRODUCE(HKT_HAK_MALLOC, f(size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void *hak_calloc(size_t n, size_t size)
{
    void *(*f)(size_t, size_t) = hak_calloc_next();
    RECORD_PRODUCE(HKT_HAK_CALLOC, f(n, size),
                   (p = hkt_put_varint(p, n), p = hkt_put_varint(p, size)))
}

HKT_EXPORT void *hak_aligned_alloc(size_t align, size_t size)
{
    void *(*f)(size_t, size_t) = hak_aligned_alloc_next();
    RECORD_PRODUCE(HKT_HAK_ALIGNED_ALLOC, f(align, size),
                   (p = hkt_put_varint(p, align), p = hkt_put_varint(p, size)))
}

HKT_EXPORT void *hak_alloc(size_t size, size_t align)
{
    void *(*f)(size_t, size_t) = hak_alloc_next();
    RECORD_PRODUCE(HKT_HAK_ALLOC, f(size, align),
                   (p = hkt_put_varint(p, size), p = hkt_put_varint(p, align)))
}

HKT_EXPORT void *hak_alloc_zeroed(size_t size, size_t align)
{
    void *(*f)(size_t, size_t) = hak_alloc_zeroed_next();
    RECORD_PRODUCE(HKT_HAK_ALLOC_ZEROED, f(size, align),
                   (p = hkt_put_varint(p, size), p = hkt_put_varint(p, align)))
}

HKT_EXPORT void hak_free(void *ptr)
{
    void (*f)(void *) = hak_free_next();
    RECORD_RELEASE(HKT_HAK_FREE, ptr, f(ptr), (void)0)
}

HKT_EXPORT void hak_free_sized(void *ptr, size_t size)
{
    void (*f)(void *, size_t) = hak_free_sized_next();
    RECORD_RELEASE(HKT_HAK_FREE_SIZED, ptr, f(ptr, size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void hak_dealloc(void *ptr, size_t size, size_t align)
{
    void (*f)(void *, size_t, size_t) = hak_dealloc_next();
    RECORD_RELEASE(HKT_HAK_DEALLOC, ptr, f(ptr, size, align),
                   (p = hkt_put_varint(p, size), p = hkt_put_varint(p, align)))
}

HKT_EXPORT void *hak_realloc(void *ptr, size_t size)
{
    void *(*f)(void *, size_t) = hak_realloc_next();
    RECORD_REALLOC(HKT_HAK_REALLOC, ptr, f(ptr, size), p = hkt_put_varint(p, size))
}

HKT_EXPORT void *hak_realloc_layout(void *ptr, size_t old_size, size_t align, size_t size)
{
    void *(*f)(void *, size_t, size_t, size_t) = hak_realloc_layout_next();
    RECORD_REALLOC(HKT_HAK_REALLOC_LAYOUT, ptr, f(ptr, old_size, align, size),
                   (p = hkt_put_varint(p, old_size), p = hkt_put_varint(p, align),
                    p = hkt_put_varint(p, size)))
}
