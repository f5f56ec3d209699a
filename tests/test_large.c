/* test_large.c: the large tier keeps freed memory resident and reuses it.
 *
 * Freed large blocks stay in the tier's region as resident free ranges:
 * a later request is cut from the front of one (split), adjacent free
 * ranges merge (coalesce), realloc grows a block into the free pages behind
 * it and gives a shrunk tail back, all without page faults. What is kept is
 * bounded (HAKMEM_LARGE_CACHE), goes back after HAKMEM_LARGE_IDLE_MS without
 * use, and at hak_collect(). Faults are counted with getrusage (ru_minflt):
 * touching a page that was given back and mapped again costs one each, so
 * "no faults" means "resident memory reused".
 *
 * The budget and idle cases run in a worker (this program re-executed with
 * the option set), since options are read once at start.
 */
#include "testutil.h"

#include <hakmem.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MIB ((size_t)1 << 20)
#define PAGE 4096
/* A large block's span: its size plus the header, rounded to pages. */
#define SPAN(n) (((n) + 64 + PAGE - 1) / PAGE * PAGE)
/* Page faults that a few stray first touches (stdio, the test's own pages)
 * may add; reusing fresh memory instead would cost hundreds. */
#define FEW_FAULTS 32

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void touch(void *p, size_t n)
{
    for (size_t i = 0; i < n; i += PAGE) ((volatile char *)p)[i] = 1;
}

static struct hak_stats stats(void)
{
    struct hak_stats s;
    hak_stats_get(&s, sizeof s);
    return s;
}

static void split_reuses_resident(void)
{
    hak_collect();
    char *a = malloc(4 * MIB);
    EXPECT_NOT_NULL(a);
    touch(a, 4 * MIB);
    free(a);
    long f0 = minflt();
    char *b = malloc(1 * MIB);
    char *c = malloc(2 * MIB);
    touch(b, 1 * MIB);
    touch(c, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT_PTR_EQ(b, a); /* the front of the freed range */
    EXPECT((uintptr_t)c >= (uintptr_t)a + SPAN(MIB) && (uintptr_t)c + 2 * MIB <= (uintptr_t)a + 4 * MIB,
           "c=%p is not in the rest of a=%p's range", (void *)c, (void *)a);
    EXPECT(faults < FEW_FAULTS, "%ld page faults reusing a freed 4 MiB block", faults);
    free(b);
    free(c);
}

static void coalesce_neighbours(void)
{
    hak_collect();
    char *a = malloc(MIB), *b = malloc(MIB), *guard = malloc(MIB);
    EXPECT(a && b && guard, "malloc failed");
    if (!(a && b && guard)) return;
    touch(a, MIB);
    touch(b, MIB);
    EXPECT((uintptr_t)b == (uintptr_t)a + SPAN(MIB), "a=%p b=%p not adjacent", (void *)a, (void *)b);
    free(b); /* freed in either order, they must make one range */
    free(a);
    long f0 = minflt();
    char *d = malloc(2 * MIB);
    touch(d, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT_PTR_EQ(d, a);
    EXPECT(faults < FEW_FAULTS, "%ld page faults reusing two merged free blocks", faults);
    free(d);
    free(guard);
}

static void realloc_in_place(void)
{
    hak_collect();
    char *a = malloc(MIB), *b = malloc(3 * MIB), *guard = malloc(MIB);
    EXPECT(a && b && guard, "malloc failed");
    if (!(a && b && guard)) return;
    touch(b, 3 * MIB);
    fill_seq(a, 0, MIB, 7);
    free(b);
    long f0 = minflt();
    char *g = realloc(a, 3 * MIB);
    EXPECT_PTR_EQ(g, a); /* grown into the free block behind it */
    if (g == NULL) return;
    EXPECT(check_seq(g, 0, MIB, 7) == (size_t)-1, "data lost growing in place");
    touch(g + MIB, 2 * MIB);
    long faults = minflt() - f0;
    EXPECT(faults < FEW_FAULTS, "%ld page faults growing into resident pages", faults);
    EXPECT(hak_usable_size(g) >= 3 * MIB, "usable %zu", hak_usable_size(g));

    char *s = realloc(g, 600 << 10);
    EXPECT_PTR_EQ(s, a); /* shrunk in place */
    if (s == NULL) return;
    EXPECT(check_seq(s, 0, 600 << 10, 7) == (size_t)-1, "data lost shrinking in place");
    EXPECT(hak_usable_size(s) < MIB, "usable %zu after shrinking to 600 KiB", hak_usable_size(s));
    char *t = malloc(MIB); /* from the tail the shrink gave back */
    EXPECT((uintptr_t)t > (uintptr_t)s && (uintptr_t)t < (uintptr_t)guard,
           "t=%p not between the shrunk block %p and the guard %p", (void *)t, (void *)s,
           (void *)guard);
    free(t);
    free(s);
    free(guard);
}

/* A fresh range reads as zero; a reused one is cleared for calloc, up to
 * its usable size (not only the request: a program may use the rest). */
static void calloc_on_reused(void)
{
    char *a = malloc(2 * MIB);
    EXPECT_NOT_NULL(a);
    if (!a) return;
    memset(a, 0xa5, 2 * MIB);
    free(a);
    const size_t n = 2 * MIB - 4096 + 1; /* the usable size runs to the page end */
    unsigned char *z = calloc(1, n);
    EXPECT_NOT_NULL(z);
    if (!z) return;
    size_t usable = malloc_usable_size(z);
    EXPECT(usable > n, "usable %zu for a request of %zu", usable, n);
    /* Read past the request through a pointer the compiler cannot trace to
     * calloc: it would take the request as the object's size (UBSan's
     * object-size check), whereas malloc_usable_size's bytes are usable. */
    const unsigned char *all = z;
    __asm__("" : "+r"(all));
    size_t bad = 0;
    for (size_t i = 0; i < usable; i++) bad += all[i] != 0;
    EXPECT_EQ(bad, 0);
    free(z);
}

static void collect_gives_back(void)
{
    hak_collect();
    struct hak_stats s0 = stats();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(2 * MIB);
        if (v[i]) touch(v[i], 2 * MIB);
    }
    struct hak_stats s1 = stats();
    EXPECT(s1.bytes_committed >= s0.bytes_committed + 16 * MIB, "committed %llu -> %llu",
           (unsigned long long)s0.bytes_committed, (unsigned long long)s1.bytes_committed);
    EXPECT(s1.large_blocks == s0.large_blocks + 8, "large_blocks %llu -> %llu",
           (unsigned long long)s0.large_blocks, (unsigned long long)s1.large_blocks);
    for (int i = 0; i < 8; i++) free(v[i]);
    struct hak_stats s2 = stats();
    /* Kept (within the default 64 MiB budget), still counted as committed. */
    EXPECT(s2.bytes_committed >= s0.bytes_committed + 16 * MIB, "committed %llu after the frees",
           (unsigned long long)s2.bytes_committed);
    EXPECT_EQ(s2.large_blocks, s0.large_blocks);
    size_t rss_kept = tu_rss_bytes();
    size_t released = hak_collect();
    size_t rss_after = tu_rss_bytes();
    struct hak_stats s3 = stats();
    EXPECT(released >= 16 * MIB, "hak_collect released %zu bytes", released);
    EXPECT(rss_after + 15 * MIB <= rss_kept, "RSS %zu MiB -> %zu MiB after hak_collect",
           rss_kept >> 20, rss_after >> 20);
    EXPECT(s3.bytes_committed <= s0.bytes_committed + MIB, "committed %llu -> %llu after collect",
           (unsigned long long)s0.bytes_committed, (unsigned long long)s3.bytes_committed);
}

/* Memory that the program neither frees nor uses stays its own. */
static void foreign_and_double_free_still_caught(void)
{
    char *a = malloc(MIB);
    EXPECT(hak_owns(a) == 1, "hak_owns(large block)");
    free(a);
    EXPECT(hak_owns(a) == 0, "hak_owns(freed large block) = 1");
    char *b = malloc(MIB); /* the same range again: a live block once more */
    EXPECT(hak_owns(b) == 1, "hak_owns(reused large block)");
    EXPECT(hak_owns(b + PAGE) == 0, "hak_owns(interior of a large block)");
    free(b);
}

/* ---- workers, run with an option set ------------------------------------ */

/* HAKMEM_LARGE_CACHE=8M: 12 MiB freed, at most 8 MiB of it kept. */
static int worker_budget(void)
{
    hak_collect();
    size_t before = tu_rss_bytes();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(3 * MIB / 2); /* under the 2 MiB limit of region blocks */
        if (v[i]) touch(v[i], 3 * MIB / 2);
    }
    for (int i = 0; i < 8; i++) free(v[i]);
    size_t after = tu_rss_bytes();
    printf("budget: RSS %zu KiB over the start after freeing 12 MiB\n", (after - before) >> 10);
    return after <= before + 9 * MIB ? 0 : 1;
}

/* HAKMEM_LARGE_IDLE_MS=100: freed memory unused for longer goes back at the
 * next large call. */
static int worker_idle(void)
{
    hak_collect();
    char *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = malloc(2 * MIB);
        if (v[i]) touch(v[i], 2 * MIB);
    }
    for (int i = 0; i < 8; i++) free(v[i]);
    size_t kept = tu_rss_bytes();
    struct hak_stats s0 = stats();
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    free(malloc(MIB)); /* the next large call */
    size_t after = tu_rss_bytes();
    struct hak_stats s1 = stats();
    printf("idle: RSS %zu MiB -> %zu MiB, committed %llu -> %llu, purges %llu -> %llu\n",
           kept >> 20, after >> 20, (unsigned long long)s0.bytes_committed,
           (unsigned long long)s1.bytes_committed, (unsigned long long)s0.os_purges,
           (unsigned long long)s1.os_purges);
    return after + 14 * MIB <= kept && s1.bytes_committed + 14 * MIB <= s0.bytes_committed ? 0 : 1;
}

static int run_worker(const char *mode, const char *var, const char *value)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv(var, value, 1);
        execl("/proc/self/exe", "test_large", mode, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void budget_bounds_kept_memory(void)
{
    int rc = run_worker("budget", "HAKMEM_LARGE_CACHE", "8M");
    EXPECT(rc == 0, "worker exit %d", rc);
}

static void idle_memory_goes_back(void)
{
    int rc = run_worker("idle", "HAKMEM_LARGE_IDLE_MS", "100");
    EXPECT(rc == 0, "worker exit %d", rc);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "budget") == 0) return worker_budget();
    if (argc == 2 && strcmp(argv[1], "idle") == 0) return worker_idle();
    setvbuf(stdout, NULL, _IONBF, 0);
    TU_RUN(split_reuses_resident);
    TU_RUN(coalesce_neighbours);
    TU_RUN(realloc_in_place);
    TU_RUN(calloc_on_reused);
    TU_RUN(collect_gives_back);
    TU_RUN(foreign_and_double_free_still_caught);
    TU_RUN(budget_bounds_kept_memory);
    TU_RUN(idle_memory_goes_back);
    return tu_finish("test_large");
}
