/* test_trace.c: the recorder under threads and fork, read back and replayed.
 *
 * Run without arguments (make check sets HKT_RECORDER, HKT_REPLAY and
 * HAKMEM_LIB), it runs itself as `test_trace work` with the recorder
 * preloaded, once passing calls to glibc and once to libhakmem.so, then checks
 * with hakmem-replay:
 *   - each worker thread's calls, per function, are exactly what the worker
 *     counted (workers call nothing else that allocates; they are found by
 *     their kernel thread id, which the trace records);
 *   - the fork child has a file of its own, whose counts match the child's
 *     and whose frees of its parent's blocks are unknown releases;
 *   - cross-thread frees are seen, and the trace names the allocator that
 *     served the calls;
 *   - the trace replays under glibc and under hakmem with no verification
 *     error, no failed allocation and no unknown release;
 *   - a copy cut in the middle still reads (truncated) and replays; a copy
 *     with a damaged byte is refused with exit status 2.
 * Exit: 0 pass, 1 fail, 77 skip (no recorder built), 99 setup error.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NWORKERS 4
#define OPS 20000
#define SLOTS 512

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_REALLOCARRAY, C_FREE, C_FREE_SIZED, C_POSIX_MEMALIGN,
       C_ALIGNED_ALLOC, C_MEMALIGN, C_VALLOC, C_PVALLOC, C_N };
static const char *const names[C_N] = {"malloc", "calloc", "realloc", "reallocarray", "free",
                                       "free_sized", "posix_memalign", "aligned_alloc",
                                       "memalign", "valloc", "pvalloc"};

static int failures;

static void check(int ok, const char *fmt, ...)
{
    if (ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    failures++;
}

/* ---- the recorded program ------------------------------------------------------ */

struct worker {
    pthread_t id;
    int index;
    pid_t tid;
    uint64_t counts[C_N];
    uint64_t seed;
};

static struct worker workers[NWORKERS];
static void (*free_sized_fn)(void *, size_t);

/* Blocks handed to the next worker, which frees them. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static void *queue[NWORKERS][64];
static int queue_n[NWORKERS];

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rnd(s);
    if (r % 64 == 0)
        return 64 * 1024 + r % (512 * 1024); /* some large ones */
    return 1 + (r >> 8) % (r % 4 == 0 ? 4096 : 256);
}

static void drain(struct worker *w)
{
    pthread_mutex_lock(&q_lock);
    int n = queue_n[w->index];
    void *mine[64];
    memcpy(mine, queue[w->index], sizeof(void *) * (size_t)n);
    queue_n[w->index] = 0;
    pthread_mutex_unlock(&q_lock);
    for (int i = 0; i < n; i++) {
        free(mine[i]);
        w->counts[C_FREE]++;
    }
}

static void *work(void *arg)
{
    struct worker *w = arg;
    w->tid = (pid_t)syscall(SYS_gettid);
    void *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    uint64_t *s = &w->seed;
    for (int op = 0; op < OPS; op++) {
        int i = (int)(rnd(s) % SLOTS);
        uint64_t r = rnd(s) % 100;
        if (slot[i] != NULL) {
            if (r < 15) {
                size_t n = pick_size(s);
                void *q;
                if (r < 12) {
                    q = realloc(slot[i], n);
                    w->counts[C_REALLOC]++;
                } else {
                    q = reallocarray(slot[i], 1, n);
                    w->counts[C_REALLOCARRAY]++;
                }
                if (q != NULL) {
                    slot[i] = q;
                    size[i] = n;
                    memset(q, 0x5a, n < 64 ? n : 64);
                }
            } else if (r < 25) {
                /* To the next worker, which frees it. */
                int to = (w->index + 1) % NWORKERS;
                pthread_mutex_lock(&q_lock);
                int ok = queue_n[to] < 64;
                if (ok)
                    queue[to][queue_n[to]++] = slot[i];
                pthread_mutex_unlock(&q_lock);
                if (!ok) {
                    free(slot[i]);
                    w->counts[C_FREE]++;
                }
                slot[i] = NULL;
            } else if (r < 30 && free_sized_fn != NULL) {
                free_sized_fn(slot[i], size[i]);
                w->counts[C_FREE_SIZED]++;
                slot[i] = NULL;
            } else {
                free(slot[i]);
                w->counts[C_FREE]++;
                slot[i] = NULL;
            }
        } else {
            size_t n = pick_size(s);
            void *p = NULL;
            if (r < 60) {
                p = malloc(n);
                w->counts[C_MALLOC]++;
            } else if (r < 75) {
                p = calloc(1 + r % 4, n);
                n *= 1 + r % 4;
                w->counts[C_CALLOC]++;
            } else if (r < 82) {
                if (posix_memalign(&p, (size_t)1 << (4 + r % 8), n) != 0)
                    p = NULL;
                w->counts[C_POSIX_MEMALIGN]++;
            } else if (r < 89) {
                p = aligned_alloc(64, n);
                w->counts[C_ALIGNED_ALLOC]++;
            } else if (r < 94) {
                p = memalign(256, n);
                w->counts[C_MEMALIGN]++;
            } else if (r < 97) {
                p = valloc(n);
                w->counts[C_VALLOC]++;
            } else {
                p = pvalloc(n);
                w->counts[C_PVALLOC]++;
            }
            if (p != NULL) {
                memset(p, 0xa5, n < 64 ? n : 64);
                /* passes through to the allocator behind the recorder */
                if (malloc_usable_size(p) < n)
                    abort();
            }
            slot[i] = p;
            size[i] = n;
        }
        if (op % 256 == 0)
            drain(w);
    }
    for (int i = 0; i < SLOTS; i++)
        if (slot[i] != NULL) {
            free(slot[i]);
            w->counts[C_FREE]++;
        }
    return NULL;
}

static void print_counts(const char *who, pid_t tid, const uint64_t *c)
{
    /* write(), not stdio: the child must not allocate beyond its counted calls */
    char line[512];
    int n = snprintf(line, sizeof line, "%s tid=%d", who, (int)tid);
    for (int k = 0; k < C_N; k++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s=%" PRIu64, names[k], c[k]);
    line[n++] = '\n';
    if (write(1, line, (size_t)n) != n)
        abort();
}

static int run_work(void)
{
    free_sized_fn = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    for (int i = 0; i < NWORKERS; i++) {
        workers[i].index = i;
        workers[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        if (pthread_create(&workers[i].id, NULL, work, &workers[i]) != 0)
            return 99;
    }
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(workers[i].id, NULL);
    /* What is left in the queues is freed by main (uncounted: main's counts
     * are not checked, it also allocates for stdio and threads). */
    for (int i = 0; i < NWORKERS; i++)
        for (int k = 0; k < queue_n[i]; k++)
            free(queue[i][k]);
    for (int i = 0; i < NWORKERS; i++)
        print_counts("worker", workers[i].tid, workers[i].counts);
    /* The fork child frees 10 of the parent's blocks (unknown to its own
     * trace) and makes 100 blocks of its own. */
    void *kept[10];
    for (int i = 0; i < 10; i++)
        kept[i] = malloc(100 + (size_t)i);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t c[C_N] = {0};
        for (int i = 0; i < 10; i++) {
            free(kept[i]);
            c[C_FREE]++;
        }
        void *mine[100];
        for (int i = 0; i < 100; i++) {
            mine[i] = malloc(32 + (size_t)i);
            c[C_MALLOC]++;
        }
        for (int i = 0; i < 100; i++) {
            mine[i] = realloc(mine[i], 1000);
            c[C_REALLOC]++;
        }
        for (int i = 0; i < 100; i++) {
            free(mine[i]);
            c[C_FREE]++;
        }
        print_counts("child", (pid_t)syscall(SYS_gettid), c);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    for (int i = 0; i < 10; i++)
        free(kept[i]);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- the driver ------------------------------------------------------------------------ */

static char dir[] = "/tmp/hakmem-test-trace.XXXXXX";

/* Runs argv with extra environment, stdout to out; returns the exit status. */
static int run(char *const argv[], const char *preload, const char *trace_file, const char *out)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(99);
        if (preload)
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        if (trace_file)
            setenv("HAKMEM_TRACE_FILE", trace_file, 1);
        execv(argv[0], argv);
        _exit(99);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 22); /* the test's outputs are small; never freed */
    size_t n = fread(buf, 1, (1 << 22) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The number after "key": in s (JSON) or key= (a key=value line); -1 if absent. */
static long long field(const char *s, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(s, pat);
    if (p == NULL) {
        snprintf(pat, sizeof pat, " %s=", key);
        p = strstr(s, pat);
    }
    return p ? atoll(p + strlen(pat)) : -1;
}

/* The JSON object of thread `tid` in an info output. */
static const char *thread_entry(const char *info, long tid)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"tid\": %ld,", tid);
    return strstr(info, pat);
}

static int count_in(const char *entry, const char *fn)
{
    /* entry: {... "calls_by_function": {...}} up to the closing braces */
    const char *end = strstr(entry, "}}");
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", fn);
    const char *p = strstr(entry, pat);
    return p && p < end ? atoi(p + strlen(pat)) : 0;
}

static void check_counts(const char *info, const char *prog_out, const char *who, int want)
{
    int found = 0;
    for (const char *line = strstr(prog_out, who); line; line = strstr(line + 1, who)) {
        long tid = atol(strstr(line, "tid=") + 4);
        const char *e = thread_entry(info, tid);
        check(e != NULL, "%s %ld: no thread with that tid in the trace", who, tid);
        found++;
        if (e == NULL)
            continue;
        for (int k = 0; k < C_N; k++) {
            char pat[64];
            snprintf(pat, sizeof pat, " %s=", names[k]);
            long want_k = atol(strstr(line, pat) + strlen(pat));
            int got = count_in(e, names[k]);
            check(got == want_k, "%s %ld: %s: trace %d, program %ld", who, tid, names[k], got,
                  want_k);
        }
    }
    check(found == want, "%d %s lines in the program's output, want %d", found, who, want);
}

static uint64_t get_varint(const unsigned char **p)
{
    uint64_t v = 0;
    for (unsigned sh = 0;; sh += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return v;
    }
}

/* Offset and length of the compressed data of the middle records chunk of a
 * trace (its chunks are walked: header, then tag, thread, raw and compressed
 * lengths, checksum, data). */
static int middle_chunk(const unsigned char *buf, size_t len, size_t *off, size_t *clen)
{
    size_t starts[4096], lens[4096], n = 0;
    const unsigned char *p = buf + 16 + (buf[12] | buf[13] << 8 | buf[14] << 16);
    while (p < buf + len && n < 4096) {
        if (*p == 'E') {
            p++;
            p += get_varint(&p);
            continue;
        }
        if (*p++ != 'C')
            return 0;
        get_varint(&p);
        get_varint(&p);
        uint64_t c = get_varint(&p);
        p += 4;
        starts[n] = (size_t)(p - buf);
        lens[n++] = c;
        p += c;
    }
    if (n == 0)
        return 0;
    *off = starts[n / 2];
    *clen = lens[n / 2];
    return 1;
}

static void replay_ok(const char *replayer, const char *trace, const char *lib, const char *what)
{
    char out[512];
    snprintf(out, sizeof out, "%s/replay.out", dir);
    char *argv[] = {(char *)replayer, "replay", (char *)trace, NULL};
    int rc = run(argv, lib, NULL, out);
    char *r = slurp(out);
    check(rc == 0, "replay of %s under %s: exit %d", what, lib ? lib : "glibc", rc);
    check(r && field(r, "errors") == 0 && field(r, "alloc_failures") == 0 &&
              field(r, "skipped_unknown") == 0 && field(r, "calls") > NWORKERS * OPS / 2,
          "replay of %s under %s: %s", what, lib ? lib : "glibc", r ? r : "(no output)");
    if (lib != NULL)
        check(r && strstr(r, "libhakmem") != NULL, "the replay did not run under %s", lib);
}

static void record_and_check(const char *self, const char *recorder, const char *replayer,
                             const char *hakmem, int with_hakmem)
{
    char trace[512], prog_out[512], info_out[512], preload[2048], child[600];
    const char *mode = with_hakmem ? "hakmem" : "glibc";
    snprintf(trace, sizeof trace, "%s/%s.trace", dir, mode);
    snprintf(prog_out, sizeof prog_out, "%s/%s.out", dir, mode);
    snprintf(info_out, sizeof info_out, "%s/%s.info", dir, mode);
    snprintf(preload, sizeof preload, "%s%s%s", recorder, with_hakmem ? " " : "",
             with_hakmem ? hakmem : "");
    char *argv[] = {(char *)self, "work", NULL};
    int rc = run(argv, preload, trace, prog_out);
    check(rc == 0, "[%s] the recorded program exited with %d", mode, rc);
    char *p = slurp(prog_out);
    char *prog = p;
    char *iargv[] = {(char *)replayer, "info", trace, NULL};
    rc = run(iargv, NULL, NULL, info_out);
    check(rc == 0, "[%s] hakmem-replay info exited with %d", mode, rc);
    char *info = slurp(info_out);
    if (prog == NULL || info == NULL) {
        check(0, "[%s] no output", mode);
        return;
    }
    check(strstr(info, "\"complete\": true") != NULL, "[%s] trace not complete", mode);
    check(strstr(info, with_hakmem ? "libhakmem" : "libc.so") != NULL,
          "[%s] the trace names another malloc library", mode);
    check(field(info, "unknown_releases") == 0, "[%s] unknown releases in the parent", mode);
    check(field(info, "cross_thread_releases") > 100, "[%s] cross-thread frees: %lld", mode,
          field(info, "cross_thread_releases"));
    check(strstr(info, "\"type\": \"fork\"") != NULL, "[%s] no fork event", mode);
    check_counts(info, prog, "worker", NWORKERS);
    /* The child's own file. */
    const char *cl = strstr(prog, "child tid=");
    check(cl != NULL, "[%s] the child printed nothing", mode);
    if (cl != NULL) {
        snprintf(child, sizeof child, "%s.%ld", trace, atol(cl + 10));
        snprintf(info_out, sizeof info_out, "%s/%s.child.info", dir, mode);
        char *cargv[] = {(char *)replayer, "info", child, NULL};
        rc = run(cargv, NULL, NULL, info_out);
        check(rc == 0, "[%s] info of the child's trace %s: exit %d", mode, child, rc);
        char *ci = slurp(info_out);
        if (ci != NULL) {
            check(strstr(ci, "\"forked\": true") != NULL, "[%s] child trace not marked forked",
                  mode);
            check(field(ci, "unknown_releases") == 10, "[%s] child unknown releases %lld, want 10",
                  mode, field(ci, "unknown_releases"));
            check_counts(ci, prog, "child", 1);
        }
    }
    replay_ok(replayer, trace, NULL, mode);
    replay_ok(replayer, trace, hakmem, mode);

    /* A copy cut in its middle reads up to its last whole record. */
    char cut[600];
    snprintf(cut, sizeof cut, "%s.cut", trace);
    struct stat stt;
    if (stat(trace, &stt) == 0) {
        FILE *in = fopen(trace, "rb"), *out = fopen(cut, "wb");
        char *buf = malloc((size_t)stt.st_size);
        size_t off = 0, clen = 0;
        if (in && out && buf && fread(buf, 1, (size_t)stt.st_size, in) == (size_t)stt.st_size &&
            middle_chunk((unsigned char *)buf, (size_t)stt.st_size, &off, &clen) && clen > 8) {
            fwrite(buf, 1, off + clen / 2, out);
            fclose(out);
            out = NULL;
            char *targv[] = {(char *)replayer, "info", cut, NULL};
            rc = run(targv, NULL, NULL, info_out);
            char *ti = slurp(info_out);
            check(rc == 0 && ti && strstr(ti, "\"truncated\": true") &&
                      field(ti, "calls") > 1000 && field(ti, "calls") < field(info, "calls"),
                  "[%s] the cut copy: exit %d, %s", mode, rc, ti ? ti : "");
            char *rargv[] = {(char *)replayer, "replay", cut, NULL};
            rc = run(rargv, NULL, NULL, info_out);
            ti = slurp(info_out);
            check(rc == 0 && ti && field(ti, "errors") == 0 && strstr(ti, "truncated=1"),
                  "[%s] replay of the cut copy: exit %d, %s", mode, rc, ti ? ti : "");
            /* A damaged byte inside a chunk's data. */
            buf[off + clen / 2] ^= 0x55;
            out = fopen(cut, "wb");
            fwrite(buf, 1, (size_t)stt.st_size, out);
            fclose(out);
            out = NULL;
            rc = run(targv, NULL, NULL, info_out);
            check(rc == 2, "[%s] a damaged copy: exit %d, want 2", mode, rc);
        }
        else
            check(0, "[%s] cannot copy the trace, or it has no chunk", mode);
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        free(buf);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "work") == 0)
        return run_work();
    const char *recorder = getenv("HKT_RECORDER"), *replayer = getenv("HKT_REPLAY");
    const char *hakmem = getenv("HAKMEM_LIB");
    if (recorder == NULL || replayer == NULL || hakmem == NULL) {
        puts("SKIP: set HKT_RECORDER, HKT_REPLAY and HAKMEM_LIB");
        return 77;
    }
    if (access(recorder, R_OK) != 0 || access(replayer, X_OK) != 0 || access(hakmem, R_OK) != 0) {
        printf("ERROR: %s, %s or %s missing\n", recorder, replayer, hakmem);
        return 99;
    }
    if (mkdtemp(dir) == NULL)
        return 99;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 99;
    self[n] = 0;
    record_and_check(self, recorder, replayer, hakmem, 0);
    record_and_check(self, recorder, replayer, hakmem, 1);
    if (failures == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 99;
        puts("PASS: test_trace");
        return 0;
    }
    printf("%d failures (files kept in %s)\n", failures, dir);
    return 1;
}
