/* os.c: the platform layer (os.h): mmap and friends with counters for the
 * stats, facts about the machine, and (debug builds) fault injection. */
#define _GNU_SOURCE
#include "os.h"
#include "counters.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if HAK_DEBUG
static _Atomic uint64_t map_calls, purge_calls;
static uint64_t fault_map_nth, fault_map_every, fault_purge_every;

void _hak_os_set_faults(uint64_t map_nth, uint64_t map_every, uint64_t purge_every)
{
    fault_map_nth = map_nth;
    fault_map_every = map_every;
    fault_purge_every = purge_every;
}

/* True if this mapping call is to fail. */
static bool fault_map(void)
{
    uint64_t n = atomic_fetch_add_explicit(&map_calls, 1, memory_order_relaxed) + 1;
    return (fault_map_nth != 0 && n == fault_map_nth) ||
           (fault_map_every != 0 && n % fault_map_every == 0);
}

static bool fault_purge(void)
{
    uint64_t n = atomic_fetch_add_explicit(&purge_calls, 1, memory_order_relaxed) + 1;
    return fault_purge_every != 0 && n % fault_purge_every == 0;
}
#else
void _hak_os_set_faults(uint64_t map_nth, uint64_t map_every, uint64_t purge_every)
{
    (void)map_nth;
    (void)map_every;
    (void)purge_every;
}
static inline bool fault_map(void) { return false; }
static inline bool fault_purge(void) { return false; }
#endif

/* ---- memory ---------------------------------------------------------------- */

/* errno is the program's: a failed call leaves it as it was (the caller sets
 * ENOMEM where the failure reaches the program). */
static void *map(size_t size, int prot, int flags)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    _hak_stat_add(&_hak_g_stats.os_maps, 1);
    return p;
}

void *_hak_os_map(size_t size) { return map(size, PROT_READ | PROT_WRITE, 0); }
void *_hak_os_reserve(size_t size) { return map(size, PROT_READ | PROT_WRITE, MAP_NORESERVE); }
void *_hak_os_reserve_none(size_t size) { return map(size, PROT_NONE, MAP_NORESERVE); }

bool _hak_os_commit(void *p, size_t size)
{
    int saved = errno;
    if (fault_map()) return false;
    bool ok = mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
    errno = saved;
    return ok;
}

void _hak_os_unmap(void *p, size_t size)
{
    int saved = errno;
    if (munmap(p, size) == 0) _hak_stat_add(&_hak_g_stats.os_unmaps, 1);
    errno = saved;
}

void _hak_os_advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    int saved = errno;
    (void)madvise(p, size, MADV_HUGEPAGE);
    errno = saved;
#else
    (void)p;
    (void)size;
#endif
}

bool _hak_os_purge(void *p, size_t size)
{
    int saved = errno;
    if (fault_purge()) return false;
    bool ok = madvise(p, size, MADV_DONTNEED) == 0;
    if (ok) _hak_stat_add(&_hak_g_stats.os_purges, 1);
    errno = saved;
    return ok;
}

bool _hak_os_protect(void *p, size_t size, bool rw)
{
    int saved = errno;
    bool ok = mprotect(p, size, rw ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
    errno = saved;
    return ok;
}

void *_hak_os_remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    if (fault_map()) return NULL;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return q == MAP_FAILED ? NULL : q;
}

/* ---- the machine ----------------------------------------------------------- */

size_t _hak_os_page_size(void)
{
    /* Racing first calls store the same value. */
    static size_t page;
    if (HAK_UNLIKELY(page == 0)) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

uint64_t _hak_os_as_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    return (uint64_t)rl.rlim_cur;
}

unsigned _hak_os_cpu_count(void)
{
    /* A system call, no allocation: safe while malloc initialises. */
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) != 0) return 1;
    int n = CPU_COUNT(&cpus);
    return n > 0 ? (unsigned)n : 1;
}

uint64_t _hak_os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool _hak_os_random(void *buf, size_t n)
{
    int saved = errno;
    unsigned char *out = buf;
    size_t got = 0;
    /* getrandom(2) by number: no libc wrapper that might differ by version. */
    while (got < n) {
        long r = syscall(SYS_getrandom, out + got, n - got, 0x0001 /* GRND_NONBLOCK */);
        if (r <= 0) break;
        got += (size_t)r;
    }
    errno = saved;
    if (got == n) return true;
    /* The 16 bytes the kernel gave the process at exec, stirred with what
     * differs between runs (ASLR'd addresses, the clock). */
    const unsigned char *aux = (const unsigned char *)getauxval(AT_RANDOM);
    uint64_t x = (uint64_t)(uintptr_t)&got ^ ((uint64_t)(uintptr_t)buf << 17) ^ _hak_os_now_ms();
    for (size_t i = got; i < n; i++) {
        x ^= aux != NULL ? aux[i % 16] : 0;
        x *= 0x9E3779B97F4A7C15ull;
        x ^= x >> 29;
        out[i] = (unsigned char)(x >> 32);
    }
    return false;
}

long _hak_os_pid(void) { return (long)getpid(); }

long _hak_os_tid(void) { return (long)syscall(SYS_gettid); }

bool _hak_os_thread_gone(long tid)
{
    int saved = errno;
    /* Signal 0 only checks that the thread exists. */
    bool gone = syscall(SYS_tgkill, (long)getpid(), tid, 0) != 0 && errno == ESRCH;
    errno = saved;
    return gone;
}

static void (*segv_fn)(void *addr);
static struct sigaction segv_before;

static void segv_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    int saved = errno;
    segv_fn(info->si_addr);
    sigaction(SIGSEGV, &segv_before, NULL);
    errno = saved;
}

void _hak_os_on_segv(void (*fn)(void *addr))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    segv_fn = fn;
    sigaction(SIGSEGV, &sa, &segv_before);
}

const char *_hak_os_program_name(void)
{
    /* glibc's copy of argv[0]'s last part: set before main, never freed. */
    return program_invocation_short_name ? program_invocation_short_name : "?";
}

int _hak_os_open_append(const char *path)
{
    int saved = errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    errno = saved;
    return fd;
}

void _hak_os_close(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

size_t _hak_os_read_file(const char *path, char *buf, size_t cap)
{
    if (cap == 0) return 0;
    int saved = errno;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (len < cap - 1) {
            ssize_t r = read(fd, buf + len, cap - 1 - len);
            if (r <= 0) break;
            len += (size_t)r;
        }
        close(fd);
    }
    buf[len] = '\0';
    errno = saved;
    return len;
}
