/* bench_allocator.h: which allocator this process runs on, asked of the
 * process itself: the file that defines the malloc it calls, and that
 * allocator's own idea of its version. Shared by the benchmark programs
 * (bench_common.h), the stress driver (python/src/csrc/stress_main.c) and the
 * trace replayer (trace/replay.c), which all print allocator= and
 * allocator_version= so that a table names what really ran.
 * The includer defines _GNU_SOURCE before its first include (dladdr). */
#ifndef HAKMEM_BENCH_ALLOCATOR_H
#define HAKMEM_BENCH_ALLOCATOR_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Path of the object that defines the malloc this process resolves to.
 * dlsym(RTLD_DEFAULT) follows the same search order as the PLT (LD_PRELOAD
 * first), and unlike &malloc it never yields the executable's own PLT stub in
 * a non-PIE build. */
static inline const char *bench_allocator_path(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL ||
        info.dli_fname[0] == '\0')
        return "unknown";
    return info.dli_fname;
}

/* The loaded allocator's own idea of its version, asked through whichever
 * introspection call the object that defines malloc exports (hakmem, mimalloc,
 * jemalloc, gperftools, glibc). A path proves which file was loaded; the
 * version catches an old copy of the right file. Spaces become '_' so the
 * output stays one key=value per word. */
typedef const char *(*bench_str_fn)(void);
typedef int (*bench_int_fn)(void);
typedef int (*bench_mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef const char *(*bench_tcver_fn)(int *, int *, const char **);

/* The symbol `name`, but only if the object that defines malloc defines it. */
static inline void *bench_sym_in_allocator(const char *name)
{
    Dl_info mi, si;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    void *s = dlsym(RTLD_DEFAULT, name);
    if (m == NULL || s == NULL || dladdr(m, &mi) == 0 || dladdr(s, &si) == 0 ||
        mi.dli_fbase != si.dli_fbase)
        return NULL;
    return s;
}

static inline const char *bench_allocator_version(void)
{
    static char buf[64];
    const char *v = NULL;
    void *s;

    if ((s = bench_sym_in_allocator("hak_version")) != NULL) {
        v = ((bench_str_fn)s)();
    } else if ((s = bench_sym_in_allocator("mi_version")) != NULL) {
        int n = ((bench_int_fn)s)(); /* 209 means 2.0.9 */
        snprintf(buf, sizeof buf, "%d.%d.%d", n / 100, n / 10 % 10, n % 10);
        v = buf;
    } else if ((s = bench_sym_in_allocator("mallctl")) != NULL) {
        const char *jv = NULL;
        size_t len = sizeof jv;
        if (((bench_mallctl_fn)s)("version", &jv, &len, NULL, 0) == 0)
            v = jv;
    } else if ((s = bench_sym_in_allocator("tc_version")) != NULL) {
        int major, minor;
        const char *patch;
        v = ((bench_tcver_fn)s)(&major, &minor, &patch);
    } else if ((s = bench_sym_in_allocator("gnu_get_libc_version")) != NULL) {
        snprintf(buf, sizeof buf, "glibc-%s", ((bench_str_fn)s)());
        v = buf;
    }
    if (v == NULL || v[0] == '\0')
        return "unknown";
    if (v != buf) {
        snprintf(buf, sizeof buf, "%s", v);
        v = buf;
    }
    for (char *c = buf; *c != '\0'; c++)
        if (*c == ' ' || *c == '\t' || *c == '=')
            *c = '_';
    return buf;
}

#endif
