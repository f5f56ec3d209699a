/* bench_common.h: what every hakmem benchmark shares.
 *
 * Each benchmark prints one line of key=value pairs and ends it with
 * allocator=<path>, the file that actually defines the malloc this process
 * calls. The harness (run.sh) refuses a figure whose allocator= does not
 * match the contender it meant to measure: earlier figures of the original
 * hakmem came from a stale binary, and this is the cheap proof against that.
 *
 * Header-only (static functions) so that each benchmark stays one
 * translation unit and the build needs no extra library.
 */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_allocator.h"

/* ---- random numbers ----------------------------------------------------- */

/* splitmix64: a few instructions, no libc state and no locks, so the RNG adds
 * almost nothing to the per-call instruction count callgrind.sh reports. */
static inline uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) from 32 random bits, by multiply-shift: no division on
 * the hot loop. n must fit in 32 bits (callers check their arguments). */
static inline uint32_t bench_rng_below(uint32_t bits, uint32_t n)
{
    return (uint32_t)(((uint64_t)bits * n) >> 32);
}

/* ---- clocks --------------------------------------------------------------- */

static inline double bench_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* User+system time of the whole process (all threads). On a shared 2-core
 * machine this is steadier than wall time for single-threaded loops. */
static inline double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The kernel's part of bench_cpu_s, and the minor page faults so far: what
 * an allocator that maps, faults and purges pays. */
static inline double bench_sys_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static inline long bench_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* ---- identity and memory ---------------------------------------------------- */


/* VmHWM (peak resident set) in kB from /proc/self/status; -1 if unreadable. */
static long bench_peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Parses a non-negative count such as 20000000, 20e6 or 20M; exits on junk so
 * a typo in the harness never silently measures a zero-length loop. */
static uint64_t bench_parse_count(const char *what, const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != NULL && (*end == 'k' || *end == 'K'))
        v *= 1e3, end++;
    else if (end != NULL && (*end == 'm' || *end == 'M'))
        v *= 1e6, end++;
    else if (end != NULL && (*end == 'g' || *end == 'G'))
        v *= 1e9, end++;
    if (end == s || end == NULL || *end != '\0' || !(v >= 0) || v > 1e18) {
        fprintf(stderr, "bad %s: '%s'\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

/* Parses a positive duration in seconds such as 2, 0.5 or 1.5e-1. */
static inline double bench_parse_seconds(const char *what, const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || end == NULL || *end != '\0' || !(v > 0) || v > 1e6) {
        fprintf(stderr, "bad %s: '%s' (seconds > 0)\n", what, s);
        exit(2);
    }
    return v;
}

/* The end of every benchmark's output line: peak RSS and the allocator's
 * identity, in the form run.sh and the smoke test parse. */
static inline void bench_print_identity(void)
{
    printf("peak_rss_kb=%ld allocator_version=%s allocator=%s\n", bench_peak_rss_kb(),
           bench_allocator_version(), bench_allocator_path());
}

/* Uniform in [lo, hi] (hi - lo < 2^32) from one 64-bit draw. */
static inline uint64_t bench_rng_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
    return lo + bench_rng_below((uint32_t)bench_rng_next(state), (uint32_t)(hi - lo + 1));
}

/* Makes a block escape so the compiler cannot delete its malloc and free,
 * without adding an instruction. */
static inline void bench_escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

#endif /* HAKMEM_BENCH_COMMON_H */
